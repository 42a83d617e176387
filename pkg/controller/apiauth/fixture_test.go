package apiauth

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	kubeinformers "k8s.io/client-go/informers"
	k8sfake "k8s.io/client-go/kubernetes/fake"
	metadatafake "k8s.io/client-go/metadata/fake"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	testingclock "k8s.io/utils/clock/testing"

	konnectv1alpha1 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha1"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/controller"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/controller/loop"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/generated/clientset/versioned/fake"
	informers "github.com/konnect-auth-controller/konnect-auth-controller/pkg/generated/informers/externalversions"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/konnect"
)

// Tokens used by the tests; none of them may ever show up in a log line or a status.
const (
	tokenValid     = "kpat_VALIDvalidVALIDvalid0123456789abcdef"
	tokenValid2    = "spat_SECONDsecondSECONDsecond0123456789ab"
	tokenRevoked   = "kpat_REVOKEDrevokedREVOKED0123456789abcdef"
	tokenForbidden = "kpat_FORBIDDENforbidden0123456789abcdefgh"
	tokenEmptyOrg  = "kpat_NOORGnoorgNOORG0123456789abcdefghijkl"
	tokenDown      = "kpat_DOWNdownDOWNdown0123456789abcdefghijk"
	tokenBadPrefix = "xpat_BADPREFIXbadprefix0123456789abcdefgh"

	orgID     = "5ca26716-02f7-4430-9117-1d1a7a2695e7"
	namespace = "kong"
)

var allTokens = []string{tokenValid, tokenValid2, tokenRevoked, tokenForbidden, tokenEmptyOrg, tokenDown, tokenBadPrefix}

// fakeKonnect is an in-memory Konnect: each token gets a scripted Result; unknown tokens
// are refused as by a 401. It counts calls per token.
type fakeKonnect struct {
	mu      sync.Mutex
	results map[string]konnect.Result
	calls   map[string]int
	// block, when set, holds every call until it is closed, so concurrent callers overlap.
	block chan struct{}
}

func newFakeKonnect() *fakeKonnect {
	return &fakeKonnect{
		results: map[string]konnect.Result{
			tokenValid:     {Verdict: konnect.VerdictValid, OrganizationID: orgID, StatusCode: 200},
			tokenValid2:    {Verdict: konnect.VerdictValid, OrganizationID: orgID, StatusCode: 200},
			tokenForbidden: {Verdict: konnect.VerdictForbidden, StatusCode: 403, Message: "Konnect refused the token (403 Forbidden): insufficient permissions"},
			tokenEmptyOrg:  {Verdict: konnect.VerdictInvalidResponse, StatusCode: 200, Message: "Konnect answered 200 without an organization id"},
			tokenDown:      {Verdict: konnect.VerdictUnavailable, StatusCode: 503, Message: "Konnect answered 503 Service Unavailable"},
		},
		calls: map[string]int{},
	}
}

func (f *fakeKonnect) Validate(ctx context.Context, token, serverURL string) konnect.Result {
	f.mu.Lock()
	f.calls[token]++
	block := f.block
	r, ok := f.results[token]
	f.mu.Unlock()
	if block != nil {
		<-block
	}
	if !ok {
		return konnect.Result{Verdict: konnect.VerdictInvalid, StatusCode: 401, Message: "Konnect refused the token (401 Unauthorized): Invalid credentials"}
	}
	return r
}

func (f *fakeKonnect) set(token string, r konnect.Result) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.results[token] = r
}

func (f *fakeKonnect) callsFor(token string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[token]
}

// syncChecker answers every check at once from a Validator, as a konnect.Checker does once it
// knows the answer, so that tests of sync's decisions need no background calls. An Unavailable
// answer says to look again after Konnect's Retry-After, or a second.
type syncChecker struct{ v konnect.Validator }

func (s syncChecker) Check(token, serverURL string, _ types.NamespacedName) konnect.Result {
	r := s.v.Validate(context.Background(), token, serverURL)
	if r.Verdict == konnect.VerdictUnavailable {
		r.NextCheck = max(r.RetryAfter, time.Second)
	}
	return r
}

// realChecker puts a konnect.Checker, as in production, on the fixture's clock in front of the
// fake Konnect, waking the controller.
func realChecker(ctx context.Context) func(f *fixture) controller.TokenChecker {
	return func(f *fixture) controller.TokenChecker {
		return konnect.NewChecker(ctx, f.konnect, konnect.CheckerOptions{TTL: time.Hour, Clock: f.clock,
			Done: func(askers []types.NamespacedName) { f.ctrl.Wake(askers) }})
	}
}

// fixture is a controller wired to fake clientsets, preloaded listers, a fake clock and a
// fake Konnect.
type fixture struct {
	t       testing.TB
	clock   *testingclock.FakeClock
	client  *fake.Clientset
	kube    *k8sfake.Clientset
	konnect *fakeKonnect
	ctrl    *Controller

	configFactory informers.SharedInformerFactory
	secretFactory kubeinformers.SharedInformerFactory
}

type fixtureOptions struct {
	configs []*konnectv1alpha1.KonnectAPIAuthConfiguration
	// secrets are labelled Secrets, visible to the controller's informer.
	secrets []*corev1.Secret
	// unlabelled are Secrets without the credential label: only their metadata can be found.
	unlabelled []*corev1.Secret
	// checker, when set, replaces the default syncChecker in front of the fake Konnect.
	checker func(f *fixture) controller.TokenChecker
	// informers: start the informers on the fake clientsets instead of preloading listers.
	informers bool
}

func newFixture(t testing.TB, ctx context.Context, o fixtureOptions) *fixture {
	t.Helper()
	f := &fixture{t: t, clock: testingclock.NewFakeClock(time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC)), konnect: newFakeKonnect()}

	var configObjs, kubeObjs, metaObjs []runtime.Object
	for _, c := range o.configs {
		configObjs = append(configObjs, c)
	}
	for _, s := range o.secrets {
		kubeObjs = append(kubeObjs, s)
		metaObjs = append(metaObjs, secretMetadata(s))
	}
	for _, s := range o.unlabelled {
		kubeObjs = append(kubeObjs, s)
		metaObjs = append(metaObjs, secretMetadata(s))
	}
	f.client = fake.NewSimpleClientset(configObjs...)
	f.kube = k8sfake.NewSimpleClientset(kubeObjs...)
	metaScheme := metadatafake.NewTestScheme()
	if err := metav1.AddMetaToScheme(metaScheme); err != nil {
		t.Fatal(err)
	}
	metaClient := metadatafake.NewSimpleMetadataClient(metaScheme, metaObjs...)

	f.configFactory = informers.NewSharedInformerFactory(f.client, 0)
	f.secretFactory = kubeinformers.NewSharedInformerFactoryWithOptions(f.kube, 0,
		kubeinformers.WithTweakListOptions(func(lo *metav1.ListOptions) {
			lo.LabelSelector = konnectv1alpha1.SecretCredentialLabel + "=" + konnectv1alpha1.SecretCredentialLabelValue
		}))
	var checker controller.TokenChecker = syncChecker{f.konnect}
	if o.checker != nil {
		checker = o.checker(f)
	}
	cc := &controller.Context{
		RootContext: ctx, KubeClient: f.kube, CRDClient: f.client, MetadataClient: metaClient,
		TokenChecker: checker, RevalidateInterval: time.Hour, Clock: f.clock,
		CRDInformers: f.configFactory, CredentialSecrets: f.secretFactory,
		Recorder: func(string) record.EventRecorder { return record.NewFakeRecorder(100) },
	}
	if err := cc.Complete(); err != nil {
		t.Fatal(err)
	}
	ctrl, err := New(cc)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	f.ctrl = ctrl
	for _, l := range ctrl.Loops() {
		t.Cleanup(l.ShutDown)
	}
	if o.informers {
		f.configFactory.Start(ctx.Done())
		f.secretFactory.Start(ctx.Done())
		t.Cleanup(f.configFactory.Shutdown)
		t.Cleanup(f.secretFactory.Shutdown)
		if !cache.WaitForCacheSync(ctx.Done(), loop.AllSynced(ctrl.Loops())) {
			t.Fatal("caches did not sync")
		}
		return f
	}
	for _, c := range o.configs {
		mustAdd(t, f.configFactory.Konnect().V1alpha1().KonnectAPIAuthConfigurations().Informer().GetIndexer(), c)
	}
	for _, s := range o.secrets {
		mustAdd(t, f.secretFactory.Core().V1().Secrets().Informer().GetIndexer(), s)
	}
	return f
}

// sync reconciles one configuration and returns when it asks to be looked at again.
func (c *Controller) sync(ctx context.Context, key cache.ObjectName) (time.Duration, error) {
	res, err := c.reconcile(ctx, key)
	return res.After, err
}

func mustAdd(t testing.TB, indexer cache.Indexer, obj any) {
	t.Helper()
	if err := indexer.Add(obj); err != nil {
		t.Fatal(err)
	}
}

func secretMetadata(s *corev1.Secret) *metav1.PartialObjectMetadata {
	return &metav1.PartialObjectMetadata{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: *s.ObjectMeta.DeepCopy(),
	}
}

// get returns the configuration as the fake apiserver holds it now.
func (f *fixture) get(name string) *konnectv1alpha1.KonnectAPIAuthConfiguration {
	f.t.Helper()
	cfg, err := f.client.KonnectV1alpha1().KonnectAPIAuthConfigurations(namespace).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		f.t.Fatalf("get %s: %v", name, err)
	}
	return cfg
}

// refresh copies the stored object into the lister, as the informer would after a write.
func (f *fixture) refresh(name string) *konnectv1alpha1.KonnectAPIAuthConfiguration {
	f.t.Helper()
	cfg := f.get(name)
	if err := f.configFactory.Konnect().V1alpha1().KonnectAPIAuthConfigurations().Informer().GetIndexer().Update(cfg); err != nil {
		f.t.Fatal(err)
	}
	return cfg
}

// statusPatches counts the status writes the controller made.
func (f *fixture) statusPatches() int {
	n := 0
	for _, a := range f.client.Actions() {
		if a.GetVerb() == "patch" && a.GetSubresource() == "status" {
			n++
		}
	}
	return n
}

// objects built for the tests

func inlineConfig(name, token string) *konnectv1alpha1.KonnectAPIAuthConfiguration {
	return &konnectv1alpha1.KonnectAPIAuthConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace, Generation: 1, ResourceVersion: "1"},
		Spec: konnectv1alpha1.KonnectAPIAuthConfigurationSpec{
			Type: konnectv1alpha1.KonnectAPIAuthTypeToken, Token: token, ServerURL: "us.api.konghq.com",
		},
	}
}

func secretConfig(name, secretName string) *konnectv1alpha1.KonnectAPIAuthConfiguration {
	return &konnectv1alpha1.KonnectAPIAuthConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace, Generation: 1, ResourceVersion: "1"},
		Spec: konnectv1alpha1.KonnectAPIAuthConfigurationSpec{
			Type: konnectv1alpha1.KonnectAPIAuthTypeSecretRef, SecretRef: &konnectv1alpha1.SecretReference{Name: secretName}, ServerURL: "us.api.konghq.com",
		},
	}
}

func tokenSecret(name string, data map[string][]byte) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace, ResourceVersion: "1", Labels: map[string]string{
			konnectv1alpha1.SecretCredentialLabel: konnectv1alpha1.SecretCredentialLabelValue,
			"konghq.com/secret":                   "true",
		}},
		Data: data,
	}
}

func withCondition(cfg *konnectv1alpha1.KonnectAPIAuthConfiguration, status metav1.ConditionStatus, reason string, generation int64) *konnectv1alpha1.KonnectAPIAuthConfiguration {
	cfg.Status.OrganizationID = ""
	if status == metav1.ConditionTrue {
		cfg.Status.OrganizationID = orgID
	}
	cfg.Status.ServerURL = "https://us.api.konghq.com"
	meta.SetStatusCondition(&cfg.Status.Conditions, metav1.Condition{
		Type: konnectv1alpha1.ConditionAPIAuthValid, Status: status, Reason: reason, Message: "earlier verdict",
		ObservedGeneration: generation, LastTransitionTime: metav1.NewTime(time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)),
	})
	return cfg
}

// assertNoToken fails if any test token appears in s.
func assertNoToken(t testing.TB, what, s string) {
	t.Helper()
	for _, token := range allTokens {
		if strings.Contains(s, token) {
			t.Errorf("%s contains the token %s...: %q", what, token[:5], s)
		}
	}
}

// conditionOf returns the APIAuthValid condition of a configuration, or nil.
func conditionOf(cfg *konnectv1alpha1.KonnectAPIAuthConfiguration) *metav1.Condition {
	return meta.FindStatusCondition(cfg.Status.Conditions, konnectv1alpha1.ConditionAPIAuthValid)
}
