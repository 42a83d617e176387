package controlplane

import (
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"

	konnectv1alpha1 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha1"
	konnectv1alpha2 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha2"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/controller/controllertest"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/konnect"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/konnect/konnecttest"
)

// TestInUseFinalizer: the auth configuration carries the in-use finalizer while a control
// plane names it (a terminating one too, until Konnect is cleaned up), and loses it when none
// does; other finalizers are kept.
func TestInUseFinalizer(t *testing.T) {
	cfg := validConfig(namespace, authName)
	cfg.Finalizers = []string{"example.com/someone-elses"}
	f := newFixture(t, fixtureOptions{
		planes:  []*konnectv1alpha2.KonnectGatewayControlPlane{origin(objName, cpName)},
		configs: []*konnectv1alpha1.KonnectAPIAuthConfiguration{cfg},
	})
	key := cache.ObjectName{Namespace: namespace, Name: authName}
	syncInUse := func() []string {
		t.Helper()
		if _, err := f.ctrl.reconcileInUse(f.ctx, key); err != nil {
			t.Fatal(err)
		}
		return f.refreshConfig(namespace, authName).Finalizers
	}

	if got := syncInUse(); !slices.Equal(got, []string{"example.com/someone-elses", konnectv1alpha2.APIAuthInUseFinalizer}) {
		t.Fatalf("finalizers = %v, want the in-use one added", got)
	}
	f.Client.ClearActions()
	syncInUse()
	if w := f.apiWrites(); len(w) != 0 {
		t.Fatalf("writes when nothing changed: %v", w)
	}

	// Terminating, with Konnect still to clean up: still in use.
	f.sync(objName)
	f.markDeleted(objName)
	f.api.Fail(konnecttest.OpDeleteControlPlane, konnecttest.Transient("deleting control plane"))
	f.sync(objName)
	if got := syncInUse(); !slices.Contains(got, konnectv1alpha2.APIAuthInUseFinalizer) {
		t.Fatalf("finalizers = %v: released while the control plane still needs the token", got)
	}
	// Deleted from Konnect, finalizer gone, object gone: released.
	f.sync(objName)
	if err := f.Client.KonnectV1alpha2().KonnectGatewayControlPlanes(namespace).Delete(f.ctx, objName, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	f.refresh(objName)
	if got := syncInUse(); !slices.Equal(got, []string{"example.com/someone-elses"}) {
		t.Fatalf("finalizers = %v, want only the other one", got)
	}
}

// TestInUseFinalizerNeedsAGrantAcrossNamespaces: a control plane may not pin an auth
// configuration in a namespace that has not granted it.
func TestInUseFinalizerNeedsAGrantAcrossNamespaces(t *testing.T) {
	f := newFixture(t, fixtureOptions{
		planes:  []*konnectv1alpha2.KonnectGatewayControlPlane{withAuthNamespace(origin(objName, cpName), "other")},
		configs: []*konnectv1alpha1.KonnectAPIAuthConfiguration{validConfig("other", authName)},
	})
	if _, err := f.ctrl.reconcileInUse(f.ctx, cache.ObjectName{Namespace: "other", Name: authName}); err != nil {
		t.Fatal(err)
	}
	if got := f.refreshConfig("other", authName).Finalizers; len(got) != 0 {
		t.Fatalf("finalizers = %v without a grant", got)
	}
}

// TestNoTokenInLogs drives every path through the workqueue with logging at -v=5, the
// contextual logger and klog's global one, and checks the token appears in no log line,
// event or status.
func TestNoTokenInLogs(t *testing.T) {
	ctx, logs := controllertest.CaptureLogs(t, 5)

	foreign := origin("foreign", "taken")
	f := newFixture(t, fixtureOptions{ctx: ctx,
		planes:  []*konnectv1alpha2.KonnectGatewayControlPlane{origin(objName, cpName), foreign, mirror("mirror", "00000000-0000-4000-8000-999999999999")},
		configs: []*konnectv1alpha1.KonnectAPIAuthConfiguration{validConfig(namespace, authName)},
	})
	f.api.Seed(serverURL, konnect.ControlPlaneSpec{Name: "taken"})
	process := func(name string) {
		f.ctrl.loop.Add(cache.ObjectName{Namespace: namespace, Name: name})
		f.ctrl.loop.ProcessNextWorkItem(ctx)
		f.refresh(name)
	}
	f.api.Fail(konnecttest.OpCreateControlPlane, konnecttest.Transient("creating control plane"))
	for _, name := range []string{objName, objName, "foreign", "mirror"} {
		process(name)
	}
	f.api.Fail(konnecttest.OpGetControlPlane, &konnect.APIError{Op: "getting control plane", Kind: konnect.ErrorUnauthorized, StatusCode: 401, Message: "Konnect answered 401"})
	process(objName)
	process(objName)
	f.markDeleted(objName)
	f.api.Fail(konnecttest.OpDeleteControlPlane, konnecttest.Transient("deleting control plane"))
	process(objName)
	process(objName)
	_, _ = f.ctrl.reconcileInUse(ctx, cache.ObjectName{Namespace: namespace, Name: authName})
	f.Clock.Step(time.Second)

	contextual := logs.Contextual()
	if !strings.Contains(contextual, "Finished syncing") || !strings.Contains(contextual, "Created control plane in Konnect") {
		t.Fatalf("the -v=5 log lacks the detail this test relies on:\n%s", contextual)
	}
	if strings.Contains(contextual, token) || strings.Contains(logs.Global(), token) {
		t.Fatal("the token is in the log")
	}
	if ev := strings.Join(f.Events(), "\n"); ev == "" || strings.Contains(ev, token) {
		t.Fatalf("events: %q", ev)
	}
	list, err := f.Client.KonnectV1alpha2().KonnectGatewayControlPlanes(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, cp := range list.Items {
		for _, c := range cp.Status.Conditions {
			if strings.Contains(c.Message, token) {
				t.Fatalf("condition %s of %s holds the token", c.Type, cp.Name)
			}
		}
	}
}
