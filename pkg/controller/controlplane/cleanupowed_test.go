package controlplane

import (
	"slices"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"

	konnectv1alpha1 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha1"
	konnectv1alpha2 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha2"
)

// TestLiveControlPlaneKeepsItsConfigurationAfterRevocation: a control plane that made something
// in Konnect through a KongReferenceGrant keeps its auth configuration in use after the grant
// is revoked, while it lives: otherwise the configuration could be deleted, and the control
// plane's later deletion would have no token to delete its control plane in Konnect with.
func TestLiveControlPlaneKeepsItsConfigurationAfterRevocation(t *testing.T) {
	f := newGrantedFixture(t)
	f.revokeGrants()
	if _, err := f.ctrl.reconcileInUse(f.ctx, cache.ObjectName{Namespace: "other", Name: authName}); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(f.refreshConfig("other", authName).Finalizers, konnectv1alpha2.APIAuthInUseFinalizer) {
		t.Fatal("the configuration was released when the grant was revoked, with a control plane in Konnect still to delete")
	}
	// New use stops: the live control plane is refused the reference.
	f.sync(objName)
	f.expectCondition(objName, konnectv1alpha2.ConditionAPIAuthResolvedRef, metav1.ConditionFalse, konnectv1alpha2.ReasonRefNotPermitted, "")
}

// TestDeletionAfterTheSecretGrantIsRevoked: the auth configuration lost the grant to its Secret
// (RefNotPermitted: the Secret's namespace was deleted, say) while its control plane lived; the
// configuration still holds the Secret, and the control plane's deletion still deletes its
// control plane in Konnect with it.
func TestDeletionAfterTheSecretGrantIsRevoked(t *testing.T) {
	o := standardOptions()
	o.configs[0].Finalizers = []string{konnectv1alpha2.APIAuthInUseFinalizer}
	f := newFixture(t, o)
	f.sync(objName)
	f.expectProgrammed(objName)
	f.SetConfigVerdict(namespace, authName, metav1.ConditionFalse, konnectv1alpha1.ReasonRefNotPermitted)
	f.markDeleted(objName)
	f.sync(objName)
	if n := len(f.api.ControlPlanes(serverURL)); n != 0 {
		t.Fatalf("%d control planes left in Konnect: the deletion waited for a grant that is gone for good", n)
	}
	if hasCleanupFinalizer(f.get(objName)) {
		t.Fatal("the control plane object is still held")
	}
}

// TestUnconfirmedCredentialsKeepProgrammed: an auth configuration whose verdict turned Unknown
// (its token rotated, or re-validated, while Konnect could not be asked) says nothing new about
// the token: the control plane stays Programmed, and is looked at again with backoff.
func TestUnconfirmedCredentialsKeepProgrammed(t *testing.T) {
	f := newFixture(t, standardOptions())
	f.sync(objName)
	f.expectProgrammed(objName)
	f.SetConfigVerdict(namespace, authName, metav1.ConditionUnknown, konnectv1alpha1.ReasonKonnectUnavailable)
	res := f.sync(objName)
	f.expectProgrammed(objName)
	f.expectCondition(objName, konnectv1alpha2.ConditionAPIAuthValid, metav1.ConditionTrue, konnectv1alpha2.ReasonValid, "")
	if res.Transient == nil {
		t.Error("not retried with backoff")
	}
	// A control plane that was never valid is told why it waits.
	g := newFixture(t, standardOptions())
	g.SetConfigVerdict(namespace, authName, metav1.ConditionUnknown, konnectv1alpha1.ReasonKonnectUnavailable)
	g.sync(objName)
	g.expectCondition(objName, konnectv1alpha2.ConditionAPIAuthValid, metav1.ConditionFalse, konnectv1alpha2.ReasonInvalid, konnectv1alpha1.ReasonKonnectUnavailable)
}
