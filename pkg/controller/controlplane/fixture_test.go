package controlplane

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2/ktesting"
	"k8s.io/utils/ptr"

	configurationv1alpha1 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/configuration/v1alpha1"
	konnectv1alpha1 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha1"
	konnectv1alpha2 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha2"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/controller/controllertest"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/controller/loop"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/konnect/konnecttest"
)

const (
	token     = controllertest.TokenValid
	orgID     = controllertest.OrgID
	namespace = controllertest.Namespace
	serverURL = controllertest.ServerURL
	authName  = "konnect-api-auth"
)

type fixture struct {
	*controllertest.Fakes
	ctx  context.Context
	api  *konnecttest.API
	ctrl *Controller
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
	// ctx is what the fixture runs in: by default a context logging to the test.
	ctx     context.Context
	planes  []*konnectv1alpha2.KonnectGatewayControlPlane
	configs []*konnectv1alpha1.KonnectAPIAuthConfiguration
	grants  []*configurationv1alpha1.KongReferenceGrant
	// noGrants builds the reconciler as with --namespace: no grant informer.
	noGrants bool
}

// standardOptions hold the Origin control plane objName and the valid auth configuration it
// names.
func standardOptions() fixtureOptions {
	return fixtureOptions{
		planes:  []*konnectv1alpha2.KonnectGatewayControlPlane{origin(objName, cpName)},
		configs: []*konnectv1alpha1.KonnectAPIAuthConfiguration{validConfig(namespace, authName)},
	}
}

func newFixture(t *testing.T, o fixtureOptions) *fixture {
	t.Helper()
	ctx := o.ctx
	if ctx == nil {
		_, ctx = ktesting.NewTestContext(t)
	}
	objs := slices.Concat(controllertest.Objects(o.planes), controllertest.Objects(o.configs), controllertest.Objects(o.grants))
	f := &fixture{Fakes: controllertest.NewFakes(t, ctx, objs...), ctx: ctx, api: konnecttest.New()}
	f.Context.KonnectAPI = f.api
	f.Context.KonnectSyncPeriod = time.Minute
	if o.noGrants {
		// As with --namespace: no grant informer.
		f.Context.Namespace = namespace
	}
	f.ctrl = controllertest.Build(f.Fakes, New)
	f.scheduled = &scheduleRecorder{TypedRateLimitingInterface: f.ctrl.loop.TypedRateLimitingInterface}
	f.ctrl.loop.TypedRateLimitingInterface = f.scheduled
	f.Preload(objs...)
	return f
}

func mustUpdate(t testing.TB, indexer cache.Indexer, obj any) {
	t.Helper()
	if err := indexer.Update(obj); err != nil {
		t.Fatal(err)
	}
}

// sync runs one reconcile of the control plane and copies what the fake apiserver then holds
// into the lister, as the informer would. It returns what the reconcile asked of the loop.
func (f *fixture) sync(name string) loop.Result {
	f.T.Helper()
	res, err := f.ctrl.reconcile(f.ctx, cache.ObjectName{Namespace: namespace, Name: name})
	if err != nil {
		f.T.Fatalf("sync %s: %v", name, err)
	}
	f.refresh(name)
	return res
}

// process runs one sync of the control plane through the loop, which applies its Konnect
// backoff and Retry-After, and copies what the fake apiserver then holds into the lister. It
// returns the delay the loop scheduled the next look after (0: none).
func (f *fixture) process(name string) time.Duration {
	f.T.Helper()
	f.scheduled.take()
	f.ctrl.loop.Add(cache.ObjectName{Namespace: namespace, Name: name})
	if !f.ctrl.loop.ProcessNextWorkItem(f.ctx) {
		f.T.Fatalf("sync %s: the loop is shut down", name)
	}
	after, failed := f.scheduled.take()
	if failed {
		f.T.Fatalf("sync %s failed (see the log)", name)
	}
	f.refresh(name)
	return after
}

// refresh copies the stored control plane into the lister (or removes it when it is gone).
func (f *fixture) refresh(name string) {
	f.T.Helper()
	indexer := f.Context.CRDInformers.Konnect().V1alpha2().KonnectGatewayControlPlanes().Informer().GetIndexer()
	cp, err := f.Client.KonnectV1alpha2().KonnectGatewayControlPlanes(namespace).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		if obj, ok, _ := indexer.GetByKey(namespace + "/" + name); ok {
			_ = indexer.Delete(obj)
		}
		return
	}
	if err := indexer.Update(cp); err != nil {
		f.T.Fatal(err)
	}
}

func (f *fixture) refreshConfig(ns, name string) *konnectv1alpha1.KonnectAPIAuthConfiguration {
	f.T.Helper()
	cfg := controllertest.Get(f.T, f.Client.KonnectV1alpha1().KonnectAPIAuthConfigurations(ns).Get, name)
	mustUpdate(f.T, f.Context.CRDInformers.Konnect().V1alpha1().KonnectAPIAuthConfigurations().Informer().GetIndexer(), cfg)
	return cfg
}

func (f *fixture) get(name string) *konnectv1alpha2.KonnectGatewayControlPlane {
	f.T.Helper()
	return controllertest.Get(f.T, f.Client.KonnectV1alpha2().KonnectGatewayControlPlanes(namespace).Get, name)
}

func (f *fixture) condition(name, typ string) *metav1.Condition {
	f.T.Helper()
	return meta.FindStatusCondition(f.get(name).Status.Conditions, typ)
}

// expectCondition fails unless the stored control plane's condition has that status and reason
// and, if contains is set, a message containing it.
func (f *fixture) expectCondition(name, typ string, status metav1.ConditionStatus, reason, contains string) {
	f.T.Helper()
	cond := f.condition(name, typ)
	if cond == nil {
		f.T.Fatalf("%s has no %s condition; conditions: %+v", name, typ, f.get(name).Status.Conditions)
	}
	if cond.Status != status || cond.Reason != reason || !strings.Contains(cond.Message, contains) {
		f.T.Fatalf("%s condition = %s/%s %q, want %s/%s containing %q", typ, cond.Status, cond.Reason, cond.Message, status, reason, contains)
	}
	if cond.ObservedGeneration != f.get(name).Generation {
		f.T.Fatalf("%s observedGeneration = %d, want %d", typ, cond.ObservedGeneration, f.get(name).Generation)
	}
}

// expectProgrammed fails unless the stored control plane is Programmed.
func (f *fixture) expectProgrammed(name string) {
	f.T.Helper()
	f.expectCondition(name, konnectv1alpha2.ConditionProgrammed, metav1.ConditionTrue, konnectv1alpha2.ReasonProgrammed, "")
}

// updateSpec changes a stored control plane's spec and bumps its generation, as the apiserver does.
func (f *fixture) updateSpec(name string, change func(*konnectv1alpha2.KonnectGatewayControlPlane)) {
	f.T.Helper()
	cp := f.get(name).DeepCopy()
	change(cp)
	cp.Generation++
	if _, err := f.Client.KonnectV1alpha2().KonnectGatewayControlPlanes(namespace).Update(context.Background(), cp, metav1.UpdateOptions{}); err != nil {
		f.T.Fatal(err)
	}
	f.refresh(name)
}

// setDescription changes a stored control plane's description.
func (f *fixture) setDescription(name string, description *string) {
	f.T.Helper()
	f.updateSpec(name, func(cp *konnectv1alpha2.KonnectGatewayControlPlane) {
		cp.Spec.CreateControlPlaneRequest.Description = description
	})
}

// markDeleted sets the deletion timestamp, as the apiserver does for an object with finalizers.
func (f *fixture) markDeleted(name string) {
	f.T.Helper()
	cp := f.get(name).DeepCopy()
	cp.DeletionTimestamp = ptr.To(metav1.NewTime(f.Clock.Now()))
	if _, err := f.Client.KonnectV1alpha2().KonnectGatewayControlPlanes(namespace).Update(context.Background(), cp, metav1.UpdateOptions{}); err != nil {
		f.T.Fatal(err)
	}
	f.refresh(name)
}

// objects built for the tests

func validConfig(ns, name string) *konnectv1alpha1.KonnectAPIAuthConfiguration {
	return controllertest.ValidConfig(ns, name, token)
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

// apiWrites returns the apiserver actions that write (the fixture's own reads are not counted).
func (f *fixture) apiWrites() []string {
	var out []string
	for _, a := range f.Client.Actions() {
		if v := a.GetVerb(); v != "get" && v != "list" && v != "watch" {
			out = append(out, v+" "+a.GetResource().Resource+"/"+a.GetSubresource())
		}
	}
	return out
}
