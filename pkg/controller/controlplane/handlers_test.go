package controlplane

import (
	"context"
	"slices"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2/ktesting"

	configurationv1alpha1 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/configuration/v1alpha1"
	konnectv1alpha1 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha1"
	konnectv1alpha2 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha2"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/controller/loop"
)

// drain waits until l holds want keys (in any order) and takes them; it fails on other keys.
func drain(t *testing.T, l *loop.Loop, want ...cache.ObjectName) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), time.Millisecond, 5*time.Second, true, func(context.Context) (bool, error) {
		return l.Len() >= len(want), nil
	})
	if err != nil {
		t.Fatalf("%s holds %d keys, want %v", l.Name(), l.Len(), want)
	}
	// Let a stray event arrive before counting.
	time.Sleep(50 * time.Millisecond)
	var got []cache.ObjectName
	for l.Len() > 0 {
		key, _ := l.Get()
		l.Done(key)
		got = append(got, key)
	}
	if len(got) != len(want) {
		t.Fatalf("%s held %v, want %v", l.Name(), got, want)
	}
	for _, w := range want {
		if !slices.Contains(got, w) {
			t.Fatalf("%s held %v, want %v", l.Name(), got, want)
		}
	}
}

// startedFixture is a fixture with nothing in its caches whose informers run, as in the
// process: they bring every object, and their events queue keys.
func startedFixture(t *testing.T) (context.Context, *fixture) {
	t.Helper()
	_, ctx := ktesting.NewTestContext(t)
	ctx, cancel := context.WithCancel(ctx)
	f := newFixture(t, fixtureOptions{ctx: ctx})
	f.StartInformers(ctx, f.ctrl.Loops())
	t.Cleanup(cancel) // before the informers' own clean-up, which waits for ctx to end
	return ctx, f
}

// TestEventHandlers: which informer events queue which keys, in both loops.
func TestEventHandlers(t *testing.T) {
	team := withAuthNamespace(origin("team-cp", "team-cp"), namespace)
	team.Namespace = "team"
	// Nothing in the caches before the informers start: they bring every object.
	ctx, f := startedFixture(t)
	if _, err := f.Client.KonnectV1alpha1().KonnectAPIAuthConfigurations(namespace).Create(ctx, validConfig(namespace, authName), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, cp := range []*konnectv1alpha2.KonnectGatewayControlPlane{origin(objName, cpName), team} {
		if _, err := f.Client.KonnectV1alpha2().KonnectGatewayControlPlanes(cp.Namespace).Create(ctx, cp, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	plane := cache.ObjectName{Namespace: namespace, Name: objName}
	teamPlane := cache.ObjectName{Namespace: "team", Name: "team-cp"}
	auth := cache.ObjectName{Namespace: namespace, Name: authName}

	// Created: every control plane; the auth configuration.
	drain(t, f.ctrl.loop, plane, teamPlane)
	drain(t, f.ctrl.inUse, auth)

	// A status write: the control plane, not its auth configuration.
	cp := f.get(objName).DeepCopy()
	cp.Status.ID = "some-id"
	cp.ResourceVersion = "2" // the fake clientset leaves resource versions to the test
	if _, err := f.Client.KonnectV1alpha2().KonnectGatewayControlPlanes(namespace).UpdateStatus(ctx, cp, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	drain(t, f.ctrl.loop, plane)
	drain(t, f.ctrl.inUse)

	// A change of the auth configuration: the control planes that name it (the one in another
	// namespace too: its refusal may read differently now), and itself.
	cfg, err := f.Client.KonnectV1alpha1().KonnectAPIAuthConfigurations(namespace).Get(ctx, authName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Labels = map[string]string{"changed": "yes"}
	cfg.ResourceVersion = "2"
	if _, err := f.Client.KonnectV1alpha1().KonnectAPIAuthConfigurations(namespace).Update(ctx, cfg, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	drain(t, f.ctrl.loop, plane, teamPlane)
	drain(t, f.ctrl.inUse, auth)

	// A grant that lets team's control planes use it: the one in team, and the configuration.
	grant := &configurationv1alpha1.KongReferenceGrant{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "team"},
		Spec: configurationv1alpha1.KongReferenceGrantSpec{
			From: []configurationv1alpha1.ReferenceGrantFrom{{Group: konnectv1alpha2.GroupName, Kind: planeKind, Namespace: "team"}},
			To:   []configurationv1alpha1.ReferenceGrantTo{{Group: konnectv1alpha1.GroupName, Kind: "KonnectAPIAuthConfiguration"}},
		},
	}
	if _, err := f.Client.ConfigurationV1alpha1().KongReferenceGrants(namespace).Create(ctx, grant, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	drain(t, f.ctrl.loop, teamPlane)
	drain(t, f.ctrl.inUse, auth)

	// A deleted control plane: nothing to sync, its auth configuration to decide.
	if err := f.Client.KonnectV1alpha2().KonnectGatewayControlPlanes(namespace).Delete(ctx, objName, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	drain(t, f.ctrl.inUse, auth)
	drain(t, f.ctrl.loop)
}

// TestInUseCandidates: an auth configuration no control plane or extension names, and that
// does not carry the in-use finalizer, is never queued for it (there is nothing to decide, and
// at a hundred thousand of them the queue would hold them all); one carrying the finalizer is.
func TestInUseCandidates(t *testing.T) {
	ctx, f := startedFixture(t)
	configs := f.Client.KonnectV1alpha1().KonnectAPIAuthConfigurations(namespace)
	unused := validConfig(namespace, "unused")
	if _, err := configs.Create(ctx, unused, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	leftover := validConfig(namespace, "leftover")
	leftover.Finalizers = []string{konnectv1alpha2.APIAuthInUseFinalizer}
	if _, err := configs.Create(ctx, leftover, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	drain(t, f.ctrl.inUse, cache.ObjectName{Namespace: namespace, Name: "leftover"})

	// A status write of the unused one: still nothing.
	unused.Status.OrganizationID = "org"
	unused.ResourceVersion = "2"
	if _, err := configs.UpdateStatus(ctx, unused, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	drain(t, f.ctrl.inUse)
}

// TestDeletedExtensionQueuesItsConfiguration: an extension deleted once its certificate is
// removed (its last state has no finalizer left) queues the auth configuration its registration
// recorded: the configuration may be free now (soak seeds 7 and 23: one held for ever).
func TestDeletedExtensionQueuesItsConfiguration(t *testing.T) {
	ctx, f := startedFixture(t)
	exts := f.Client.KonnectV1alpha2().KonnectExtensions(namespace)
	ext := &konnectv1alpha2.KonnectExtension{ObjectMeta: metav1.ObjectMeta{Name: "e", Namespace: namespace,
		Annotations: map[string]string{konnectv1alpha2.DataPlaneCertificateAnnotation: "cp/c/f", konnectv1alpha2.DataPlaneCertificateAuthAnnotation: namespace + "/" + authName}}}
	if _, err := exts.Create(ctx, ext, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	cfg := cache.ObjectName{Namespace: namespace, Name: authName}
	drain(t, f.ctrl.inUse, cfg)
	if err := exts.Delete(ctx, "e", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	drain(t, f.ctrl.inUse, cfg)
}
