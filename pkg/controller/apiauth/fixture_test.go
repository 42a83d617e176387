package apiauth

import (
	"context"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2/ktesting"

	konnectv1alpha1 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha1"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/controller"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/controller/controllertest"
)

const (
	tokenValid     = controllertest.TokenValid
	tokenValid2    = controllertest.TokenValid2
	tokenRevoked   = controllertest.TokenRevoked
	tokenForbidden = controllertest.TokenForbidden
	tokenEmptyOrg  = controllertest.TokenEmptyOrg
	tokenDown      = controllertest.TokenDown
	tokenBadPrefix = controllertest.TokenBadPrefix

	orgID     = controllertest.OrgID
	namespace = controllertest.Namespace
)

// fixture is a controller wired to fake clientsets, preloaded listers, a fake clock and a
// fake Konnect.
type fixture struct {
	*controllertest.Fakes
	konnect *fakeKonnect
	ctrl    *Controller
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
	objs := slices.Concat(controllertest.Objects(o.configs), controllertest.Objects(o.secrets, o.unlabelled))
	f := &fixture{Fakes: controllertest.NewFakes(t, ctx, objs...), konnect: newFakeKonnect()}
	f.Context.RevalidateInterval = time.Hour
	f.Context.TokenChecker = syncChecker{f.konnect}
	if o.checker != nil {
		f.Context.TokenChecker = o.checker(f)
	}
	f.ctrl = controllertest.Build(f.Fakes, New)
	if o.informers {
		f.StartInformers(ctx, f.ctrl.Loops())
	} else {
		f.Preload(objs...)
	}
	return f
}

// sync reconciles one configuration and returns when it asks to be looked at again.
func (c *Controller) sync(ctx context.Context, key cache.ObjectName) (time.Duration, error) {
	res, err := c.reconcile(ctx, key)
	return res.After, err
}

// newConfigFixture is a fixture holding cfg alone, with a context logging to the test; it
// returns cfg's key too.
func newConfigFixture(t *testing.T, cfg *konnectv1alpha1.KonnectAPIAuthConfiguration) (context.Context, *fixture, cache.ObjectName) {
	t.Helper()
	_, ctx := ktesting.NewTestContext(t)
	return ctx, newFixture(t, ctx, fixtureOptions{configs: []*konnectv1alpha1.KonnectAPIAuthConfiguration{cfg}}), cache.MetaObjectToName(cfg)
}

// mustSync syncs key, failing the test on an error, and returns when it asks to be looked at
// again.
func (f *fixture) mustSync(ctx context.Context, key cache.ObjectName) time.Duration {
	f.T.Helper()
	next, err := f.ctrl.sync(ctx, key)
	if err != nil {
		f.T.Fatalf("sync %s: %v", key, err)
	}
	return next
}

// process has the loop take the configuration's key and reconcile it, as a worker does.
func (f *fixture) process(ctx context.Context, name string) {
	f.T.Helper()
	f.ctrl.loop.Add(cache.ObjectName{Namespace: namespace, Name: name})
	f.ctrl.loop.ProcessNextWorkItem(ctx)
}

// get returns the configuration as the fake apiserver holds it now.
func (f *fixture) get(name string) *konnectv1alpha1.KonnectAPIAuthConfiguration {
	f.T.Helper()
	return controllertest.Get(f.T, f.Client.KonnectV1alpha1().KonnectAPIAuthConfigurations(namespace).Get, name)
}

// refresh copies the stored object into the lister, as the informer would after a write.
func (f *fixture) refresh(name string) *konnectv1alpha1.KonnectAPIAuthConfiguration {
	f.T.Helper()
	cfg := f.get(name)
	if err := f.Context.CRDInformers.Konnect().V1alpha1().KonnectAPIAuthConfigurations().Informer().GetIndexer().Update(cfg); err != nil {
		f.T.Fatal(err)
	}
	return cfg
}

// statusPatches counts the status writes the controller made.
func (f *fixture) statusPatches() int {
	n := 0
	for _, a := range f.Client.Actions() {
		if a.GetVerb() == "patch" && a.GetSubresource() == "status" {
			n++
		}
	}
	return n
}

// objects built for the tests

var (
	inlineConfig  = controllertest.InlineConfig
	secretConfig  = controllertest.SecretConfig
	tokenSecret   = controllertest.TokenSecret
	assertNoToken = controllertest.AssertNoToken
)

func withCondition(cfg *konnectv1alpha1.KonnectAPIAuthConfiguration, status metav1.ConditionStatus, reason string, generation int64) *konnectv1alpha1.KonnectAPIAuthConfiguration {
	cfg.Status.OrganizationID = ""
	if status == metav1.ConditionTrue {
		cfg.Status.OrganizationID = orgID
	}
	cfg.Status.ServerURL = controllertest.ServerURL
	meta.SetStatusCondition(&cfg.Status.Conditions, metav1.Condition{
		Type: konnectv1alpha1.ConditionAPIAuthValid, Status: status, Reason: reason, Message: "earlier verdict",
		ObservedGeneration: generation, LastTransitionTime: metav1.NewTime(time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)),
	})
	return cfg
}

// conditionOf returns the APIAuthValid condition of a configuration, or nil.
func conditionOf(cfg *konnectv1alpha1.KonnectAPIAuthConfiguration) *metav1.Condition {
	return meta.FindStatusCondition(cfg.Status.Conditions, konnectv1alpha1.ConditionAPIAuthValid)
}
