package controlplane

import (
	"context"
	"slices"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"

	configurationv1alpha1 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/configuration/v1alpha1"
	konnectv1alpha1 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha1"
	konnectv1alpha2 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha2"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/controller/controllertest"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/konnect"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/konnect/konnecttest"
)

// TestLostCreateThenRename: a create reached Konnect but its answer was lost, and the user then
// renamed the control plane: the next sync finds our own by its k8s-uid label and adopts it
// (renaming it in Konnect) instead of creating a second one with the same k8s-uid.
func TestLostCreateThenRename(t *testing.T) {
	f := newFixture(t, standardOptions())
	id := f.api.Seed(serverURL, konnect.ControlPlaneSpec{Name: "the-name-before", Labels: map[string]string{labelUID: "uid-" + objName}})
	f.sync(objName)
	f.expectProgrammed(objName)
	if n := f.api.Count(konnecttest.OpCreateControlPlane); n != 0 {
		t.Fatalf("%d creates: a second control plane with our k8s-uid was made", n)
	}
	cps := f.api.ControlPlanes(serverURL)
	if len(cps) != 1 || cps[0].ID != id || cps[0].Name != cpName || f.get(objName).Status.ID != id {
		t.Fatalf("Konnect holds %+v, status.id %q; want only %s, renamed %q", cps, f.get(objName).Status.ID, id, cpName)
	}
}

// TestOrganizationChanged: once the auth configuration's token belongs to another organization,
// nothing is created there (Programmed False, OrganizationChanged); deleting the object then
// waits rather than orphaning the control plane, until the skip-cleanup annotation releases it
// with a Warning Event.
func TestOrganizationChanged(t *testing.T) {
	f := newFixture(t, standardOptions())
	f.sync(objName)
	f.expectProgrammed(objName)
	first := f.get(objName).Status.ID

	cfg := f.refreshConfig(namespace, authName).DeepCopy()
	cfg.Status.OrganizationID = "another-organization"
	if _, err := f.Client.KonnectV1alpha1().KonnectAPIAuthConfigurations(namespace).UpdateStatus(context.Background(), cfg, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	f.refreshConfig(namespace, authName)
	f.api.Remove(serverURL, first) // even gone from the first organization's view, nothing is made in the other
	f.sync(objName)
	f.expectCondition(objName, konnectv1alpha2.ConditionProgrammed, metav1.ConditionFalse, ReasonOrganizationChanged, "another-organization")
	if n := f.api.Count(konnecttest.OpCreateControlPlane); n != 1 {
		t.Fatalf("%d creates, want only the first one", n)
	}
	if got := f.get(objName).Status.OrgID; got == "another-organization" {
		t.Error("status.organizationID follows the token into the other organization")
	}

	f.markDeleted(objName)
	f.sync(objName)
	if !hasCleanupFinalizer(f.get(objName)) {
		t.Fatal("released while its control plane is in an organization its token cannot reach")
	}
	f.expectCondition(objName, konnectv1alpha2.ConditionProgrammed, metav1.ConditionFalse, ReasonDeletionWaiting, konnectv1alpha2.SkipCleanupAnnotation)
	if n := f.api.Count(konnecttest.OpDeleteControlPlane); n != 0 {
		t.Fatalf("%d DELETEs with a token of another organization", n)
	}

	cp := f.get(objName).DeepCopy()
	cp.Annotations = map[string]string{konnectv1alpha2.SkipCleanupAnnotation: "true"}
	if _, err := f.Client.KonnectV1alpha2().KonnectGatewayControlPlanes(namespace).Update(context.Background(), cp, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	f.refresh(objName)
	f.Events() // what came before
	f.sync(objName)
	if cp, err := f.Client.KonnectV1alpha2().KonnectGatewayControlPlanes(namespace).Get(context.Background(), objName, metav1.GetOptions{}); err == nil && hasCleanupFinalizer(cp) {
		t.Fatal("the skip-cleanup annotation did not release the object")
	}
	if ev := f.Events(); !slices.ContainsFunc(ev, func(e string) bool { return strings.HasPrefix(e, "Warning CleanupSkipped") }) {
		t.Errorf("events %q, want a Warning CleanupSkipped", ev)
	}
}

// TestDeletionWithoutIDWaitsForCredentials: a control plane with the cleanup finalizer (added just
// before a create) and no recorded id, whose credentials then broke, is not released: a create
// whose answer was lost may have made one, and only working credentials can look.
func TestDeletionWithoutIDWaitsForCredentials(t *testing.T) {
	o := standardOptions()
	o.configs = o.configs[:0]
	o.configs = append(o.configs, invalidConfig(namespace, authName))
	o.planes[0].Finalizers = []string{konnectv1alpha2.KonnectCleanupFinalizer}
	o.planes[0].DeletionTimestamp = ptr.To(metav1.Now())
	f := newFixture(t, o)
	f.sync(objName)
	if !hasCleanupFinalizer(f.get(objName)) {
		t.Fatal("released with broken credentials: a control plane whose create answer was lost would be orphaned")
	}
	f.expectCondition(objName, konnectv1alpha2.ConditionProgrammed, metav1.ConditionFalse, konnectv1alpha2.ReasonConditionWithStatusFalseExists,
		"may have created")
	f.expectCondition(objName, konnectv1alpha2.ConditionProgrammed, metav1.ConditionFalse, konnectv1alpha2.ReasonConditionWithStatusFalseExists,
		konnectv1alpha2.SkipCleanupAnnotation)
}

// newGrantedFixture holds a Programmed control plane whose auth configuration is in namespace
// "other", permitted by a KongReferenceGrant there.
func newGrantedFixture(t *testing.T) *fixture {
	f := newFixture(t, fixtureOptions{
		planes:  []*konnectv1alpha2.KonnectGatewayControlPlane{withAuthNamespace(origin(objName, cpName), "other")},
		configs: []*konnectv1alpha1.KonnectAPIAuthConfiguration{validConfig("other", authName)},
		grants: []*configurationv1alpha1.KongReferenceGrant{controllertest.ReferenceGrant("other", "cp-auth",
			configurationv1alpha1.ReferenceGrantFrom{Group: konnectv1alpha2.GroupName, Kind: planeKind, Namespace: namespace},
			configurationv1alpha1.ReferenceGrantTo{Group: konnectv1alpha1.GroupName, Kind: "KonnectAPIAuthConfiguration"})},
	})
	f.sync(objName)
	f.expectProgrammed(objName)
	return f
}

// revokeGrants removes every KongReferenceGrant from the cache, as their deletion does.
func (f *fixture) revokeGrants() {
	f.T.Helper()
	indexer := f.Context.GrantInformer().Informer().GetIndexer()
	for _, g := range indexer.List() {
		if err := indexer.Delete(g); err != nil {
			f.T.Fatal(err)
		}
	}
}

// TestGrantRevokedDuringDeletion: a control plane created through a KongReferenceGrant whose
// grant is revoked and that is then deleted still deletes its control plane in Konnect with the
// configuration the grant permitted, which stays in use until then: revocation stops new use,
// not the clean-up that is owed.
func TestGrantRevokedDuringDeletion(t *testing.T) {
	f := newGrantedFixture(t)
	inUse := func() bool {
		t.Helper()
		if _, err := f.ctrl.reconcileInUse(f.ctx, cache.ObjectName{Namespace: "other", Name: authName}); err != nil {
			t.Fatal(err)
		}
		return slices.Contains(f.refreshConfig("other", authName).Finalizers, konnectv1alpha2.APIAuthInUseFinalizer)
	}
	if !inUse() {
		t.Fatal("the permitted configuration is not held in use")
	}

	f.revokeGrants()
	f.markDeleted(objName)
	if !inUse() {
		t.Fatal("the configuration was released when the grant was revoked, with the DELETE still owed")
	}
	f.sync(objName)
	if n := len(f.api.ControlPlanes(serverURL)); n != 0 {
		t.Fatalf("%d control planes left in Konnect after the deletion", n)
	}
	if cp, err := f.Client.KonnectV1alpha2().KonnectGatewayControlPlanes(namespace).Get(f.ctx, objName, metav1.GetOptions{}); err == nil && hasCleanupFinalizer(cp) {
		t.Fatal("the control plane object is still held")
	}
}

// orgChecker answers every token check as Konnect would for a token of org, or pending.
type orgChecker struct{ org string }

func (o orgChecker) Check(_, _ string, _ types.NamespacedName) konnect.Result {
	if o.org == "" {
		return konnect.Result{Verdict: konnect.VerdictPending}
	}
	return konnect.Result{Verdict: konnect.VerdictValid, OrganizationID: o.org}
}

// TestRotatedTokenOfAnotherOrganization: the auth configuration's status still names the first
// organization (its re-validation has not run yet) when its token is rotated to one of another
// organization. The control plane's reconciler acts on what Konnect says of the token in hand:
// while that is unconfirmed it writes nothing; once confirmed it refuses (OrganizationChanged),
// and even a GET answered 404 with the new token re-creates nothing.
func TestRotatedTokenOfAnotherOrganization(t *testing.T) {
	f := newFixture(t, standardOptions())
	f.sync(objName)
	f.expectProgrammed(objName)
	first := f.get(objName).Status

	f.ctrl.checker = orgChecker{}     // the new token: not confirmed yet
	f.api.Remove(serverURL, first.ID) // with the new token Konnect no longer shows it
	res := f.sync(objName)
	if res.Transient == nil {
		t.Error("a sync with an unconfirmed token was not retried as transient")
	}
	if n := f.api.Count(konnecttest.OpCreateControlPlane); n != 1 {
		t.Fatalf("%d creates, want only the first: it created with a token whose organization was not confirmed", n)
	}
	if got := f.get(objName).Status; got.ID != first.ID || got.OrgID != first.OrgID {
		t.Fatalf("status %s/%s, want the control plane's record %s/%s kept", got.OrgID, got.ID, first.OrgID, first.ID)
	}

	f.ctrl.checker = orgChecker{org: "another-organization"}
	f.sync(objName)
	f.expectCondition(objName, konnectv1alpha2.ConditionProgrammed, metav1.ConditionFalse, ReasonOrganizationChanged, "another-organization")
	if n := f.api.Count(konnecttest.OpCreateControlPlane); n != 1 {
		t.Fatalf("%d creates, want only the first", n)
	}
}
