package controlplane

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
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	testingclock "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"

	configurationv1alpha1 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/configuration/v1alpha1"
	konnectv1alpha1 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha1"
	konnectv1alpha2 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha2"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/controller"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/controller/loop"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/generated/clientset/versioned/fake"
	informers "github.com/konnect-auth-controller/konnect-auth-controller/pkg/generated/informers/externalversions"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/konnect/konnecttest"
)

const (
	token     = "kpat_CONTROLPLANEtoken0123456789abcdefghij"
	orgID     = "5ca26716-02f7-4430-9117-1d1a7a2695e7"
	namespace = "kong"
	serverURL = "https://us.api.konghq.com"
	authName  = "konnect-api-auth"
)

type fixture struct {
	t      *testing.T
	ctx    context.Context
	clock  *testingclock.FakeClock
	client *fake.Clientset
	kube   *k8sfake.Clientset
	api    *konnecttest.API
	ctrl   *Controller
	// context is what the controller was built from.
	context  *controller.Context
	recorder *record.FakeRecorder
	factory  informers.SharedInformerFactory
	// scheduled is the control planes' queue, as the loop sees it: it records what the loop
	// schedules.
	scheduled *scheduleRecorder
}

// scheduleRecorder records how the loop schedules the next look at a key.
type scheduleRecorder struct {
	workqueue.TypedRateLimitingInterface[cache.ObjectName]

	mu          sync.Mutex
	after       time.Duration
	rateLimited bool
}

func (q *scheduleRecorder) AddAfter(key cache.ObjectName, d time.Duration) {
	q.mu.Lock()
	q.after = d
	q.mu.Unlock()
	q.TypedRateLimitingInterface.AddAfter(key, d)
}

func (q *scheduleRecorder) AddRateLimited(key cache.ObjectName) {
	q.mu.Lock()
	q.rateLimited = true
	q.mu.Unlock()
	q.TypedRateLimitingInterface.AddRateLimited(key)
}

// take returns what was recorded since the last take, and forgets it.
func (q *scheduleRecorder) take() (after time.Duration, rateLimited bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	after, rateLimited = q.after, q.rateLimited
	q.after, q.rateLimited = 0, false
	return after, rateLimited
}

type fixtureOptions struct {
	planes  []*konnectv1alpha2.KonnectGatewayControlPlane
	configs []*konnectv1alpha1.KonnectAPIAuthConfiguration
	grants  []*configurationv1alpha1.KongReferenceGrant
	// noGrants builds the reconciler as with --namespace: no grant informer.
	noGrants bool
}

func newFixture(t *testing.T, ctx context.Context, o fixtureOptions) *fixture {
	t.Helper()
	f := &fixture{t: t, ctx: ctx, clock: testingclock.NewFakeClock(time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC)), api: konnecttest.New()}
	var objs []runtime.Object
	for _, p := range o.planes {
		objs = append(objs, p)
	}
	for _, c := range o.configs {
		objs = append(objs, c)
	}
	for _, g := range o.grants {
		objs = append(objs, g)
	}
	f.client = fake.NewSimpleClientset(objs...)
	f.kube = k8sfake.NewSimpleClientset()
	f.factory = informers.NewSharedInformerFactory(f.client, 0)
	f.recorder = record.NewFakeRecorder(100)
	cc := &controller.Context{
		RootContext:       ctx,
		KubeClient:        f.kube,
		CRDClient:         f.client,
		KonnectAPI:        f.api,
		KonnectSyncPeriod: time.Minute,
		Clock:             f.clock,
		CRDInformers:      f.factory,
		CredentialSecrets: kubeinformers.NewSharedInformerFactory(f.kube, 0),
		Recorder:          func(string) record.EventRecorder { return f.recorder },
	}
	if o.noGrants {
		// As with --namespace: no grant informer.
		cc.Namespace = namespace
	}
	if err := cc.Complete(); err != nil {
		t.Fatal(err)
	}
	grantInformer := cc.GrantInformer()
	ctrl, err := New(cc)
	if err != nil {
		t.Fatal(err)
	}
	f.ctrl, f.context = ctrl, cc
	for _, l := range ctrl.Loops() {
		t.Cleanup(l.ShutDown)
	}
	f.scheduled = &scheduleRecorder{TypedRateLimitingInterface: ctrl.loop.TypedRateLimitingInterface}
	ctrl.loop.TypedRateLimitingInterface = f.scheduled
	for _, p := range o.planes {
		mustAdd(t, f.factory.Konnect().V1alpha2().KonnectGatewayControlPlanes().Informer().GetIndexer(), p)
	}
	for _, c := range o.configs {
		mustAdd(t, f.factory.Konnect().V1alpha1().KonnectAPIAuthConfigurations().Informer().GetIndexer(), c)
	}
	for _, g := range o.grants {
		mustAdd(t, grantInformer.Informer().GetIndexer(), g)
	}
	return f
}

func mustUpdate(t *testing.T, indexer cache.Indexer, obj any) {
	t.Helper()
	if err := indexer.Update(obj); err != nil {
		t.Fatal(err)
	}
}

func mustAdd(t *testing.T, indexer cache.Indexer, obj any) {
	t.Helper()
	if err := indexer.Add(obj); err != nil {
		t.Fatal(err)
	}
}

// sync runs one reconcile of the control plane and copies what the fake apiserver then holds
// into the lister, as the informer would. It returns what the reconcile asked of the loop.
func (f *fixture) sync(name string) loop.Result {
	f.t.Helper()
	res, err := f.ctrl.reconcile(f.ctx, cache.ObjectName{Namespace: namespace, Name: name})
	if err != nil {
		f.t.Fatalf("sync %s: %v", name, err)
	}
	f.refresh(name)
	return res
}

// process runs one sync of the control plane through the loop, which applies its Konnect
// backoff and Retry-After, and copies what the fake apiserver then holds into the lister. It
// returns the delay the loop scheduled the next look after (0: none).
func (f *fixture) process(name string) time.Duration {
	f.t.Helper()
	f.scheduled.take()
	f.ctrl.loop.Add(cache.ObjectName{Namespace: namespace, Name: name})
	if !f.ctrl.loop.ProcessNextWorkItem(f.ctx) {
		f.t.Fatalf("sync %s: the loop is shut down", name)
	}
	after, failed := f.scheduled.take()
	if failed {
		f.t.Fatalf("sync %s failed (see the log)", name)
	}
	f.refresh(name)
	return after
}

// refresh copies the stored control plane into the lister (or removes it when it is gone).
func (f *fixture) refresh(name string) {
	f.t.Helper()
	indexer := f.factory.Konnect().V1alpha2().KonnectGatewayControlPlanes().Informer().GetIndexer()
	cp, err := f.client.KonnectV1alpha2().KonnectGatewayControlPlanes(namespace).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		if obj, ok, _ := indexer.GetByKey(namespace + "/" + name); ok {
			_ = indexer.Delete(obj)
		}
		return
	}
	if err := indexer.Update(cp); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) refreshConfig(ns, name string) *konnectv1alpha1.KonnectAPIAuthConfiguration {
	f.t.Helper()
	cfg, err := f.client.KonnectV1alpha1().KonnectAPIAuthConfigurations(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	if err := f.factory.Konnect().V1alpha1().KonnectAPIAuthConfigurations().Informer().GetIndexer().Update(cfg); err != nil {
		f.t.Fatal(err)
	}
	return cfg
}

func (f *fixture) get(name string) *konnectv1alpha2.KonnectGatewayControlPlane {
	f.t.Helper()
	cp, err := f.client.KonnectV1alpha2().KonnectGatewayControlPlanes(namespace).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		f.t.Fatalf("get %s: %v", name, err)
	}
	return cp
}

func (f *fixture) condition(name, typ string) *metav1.Condition {
	f.t.Helper()
	return meta.FindStatusCondition(f.get(name).Status.Conditions, typ)
}

// expectCondition fails unless the stored control plane's condition has that status and reason
// and, if contains is set, a message containing it.
func (f *fixture) expectCondition(name, typ string, status metav1.ConditionStatus, reason, contains string) {
	f.t.Helper()
	cond := f.condition(name, typ)
	if cond == nil {
		f.t.Fatalf("%s has no %s condition; conditions: %+v", name, typ, f.get(name).Status.Conditions)
	}
	if cond.Status != status || cond.Reason != reason || !strings.Contains(cond.Message, contains) {
		f.t.Fatalf("%s condition = %s/%s %q, want %s/%s containing %q", typ, cond.Status, cond.Reason, cond.Message, status, reason, contains)
	}
	if cond.ObservedGeneration != f.get(name).Generation {
		f.t.Fatalf("%s observedGeneration = %d, want %d", typ, cond.ObservedGeneration, f.get(name).Generation)
	}
}

// updateSpec changes a stored control plane's spec and bumps its generation, as the apiserver does.
func (f *fixture) updateSpec(name string, change func(*konnectv1alpha2.KonnectGatewayControlPlane)) {
	f.t.Helper()
	cp := f.get(name).DeepCopy()
	change(cp)
	cp.Generation++
	if _, err := f.client.KonnectV1alpha2().KonnectGatewayControlPlanes(namespace).Update(context.Background(), cp, metav1.UpdateOptions{}); err != nil {
		f.t.Fatal(err)
	}
	f.refresh(name)
}

// markDeleted sets the deletion timestamp, as the apiserver does for an object with finalizers.
func (f *fixture) markDeleted(name string) {
	f.t.Helper()
	cp := f.get(name).DeepCopy()
	cp.DeletionTimestamp = ptr.To(metav1.NewTime(f.clock.Now()))
	if _, err := f.client.KonnectV1alpha2().KonnectGatewayControlPlanes(namespace).Update(context.Background(), cp, metav1.UpdateOptions{}); err != nil {
		f.t.Fatal(err)
	}
	f.refresh(name)
}

func (f *fixture) events() []string {
	var out []string
	for {
		select {
		case e := <-f.recorder.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

// objects built for the tests

func validConfig(ns, name string) *konnectv1alpha1.KonnectAPIAuthConfiguration {
	cfg := &konnectv1alpha1.KonnectAPIAuthConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Generation: 1, ResourceVersion: "1"},
		Spec: konnectv1alpha1.KonnectAPIAuthConfigurationSpec{
			Type: konnectv1alpha1.KonnectAPIAuthTypeToken, Token: token, ServerURL: "us.api.konghq.com",
		},
		Status: konnectv1alpha1.KonnectAPIAuthConfigurationStatus{OrganizationID: orgID, ServerURL: serverURL},
	}
	meta.SetStatusCondition(&cfg.Status.Conditions, metav1.Condition{Type: konnectv1alpha1.ConditionAPIAuthValid,
		Status: metav1.ConditionTrue, Reason: konnectv1alpha1.ReasonValid, Message: "Token is valid", ObservedGeneration: 1})
	return cfg
}

func invalidConfig(ns, name string) *konnectv1alpha1.KonnectAPIAuthConfiguration {
	cfg := validConfig(ns, name)
	cfg.Status.OrganizationID = ""
	meta.SetStatusCondition(&cfg.Status.Conditions, metav1.Condition{Type: konnectv1alpha1.ConditionAPIAuthValid,
		Status: metav1.ConditionFalse, Reason: konnectv1alpha1.ReasonInvalid, Message: "Konnect refused the token (401 Unauthorized): Invalid credentials", ObservedGeneration: 1})
	return cfg
}

func origin(name, cpName string) *konnectv1alpha2.KonnectGatewayControlPlane {
	return &konnectv1alpha2.KonnectGatewayControlPlane{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace, Generation: 1, ResourceVersion: "1", UID: types.UID("uid-" + name)},
		Spec: konnectv1alpha2.KonnectGatewayControlPlaneSpec{
			Source:                    ptr.To(konnectv1alpha2.EntitySourceOrigin),
			CreateControlPlaneRequest: &konnectv1alpha2.CreateControlPlaneRequest{Name: ptr.To(cpName)},
			KonnectConfiguration: konnectv1alpha2.KonnectConfiguration{
				APIAuthConfigurationRef: konnectv1alpha2.KonnectAPIAuthConfigurationRef{Name: authName},
			},
		},
	}
}

func mirror(name, id string) *konnectv1alpha2.KonnectGatewayControlPlane {
	return &konnectv1alpha2.KonnectGatewayControlPlane{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace, Generation: 1, ResourceVersion: "1", UID: types.UID("uid-" + name)},
		Spec: konnectv1alpha2.KonnectGatewayControlPlaneSpec{
			Source: ptr.To(konnectv1alpha2.EntitySourceMirror),
			Mirror: &konnectv1alpha2.MirrorSpec{Konnect: konnectv1alpha2.MirrorKonnect{ID: konnectv1alpha2.KonnectIDType(id)}},
			KonnectConfiguration: konnectv1alpha2.KonnectConfiguration{
				APIAuthConfigurationRef: konnectv1alpha2.KonnectAPIAuthConfigurationRef{Name: authName},
			},
		},
	}
}

var _ = corev1.EventTypeNormal

// apiWrites returns the apiserver actions that write (the fixture's own reads are not counted).
func (f *fixture) apiWrites() []string {
	var out []string
	for _, a := range f.client.Actions() {
		if v := a.GetVerb(); v != "get" && v != "list" && v != "watch" {
			out = append(out, v+" "+a.GetResource().Resource+"/"+a.GetSubresource())
		}
	}
	return out
}
