package extension

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	konnectv1alpha2 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha2"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/konnect"
)

// TestGroupWithUnsetMembersServes: a control plane group whose members are not all set in
// Konnect (Programmed False, FailedToSetControlPlaneGroupMembers) exists and serves: its data
// planes keep its endpoints and their certificate is registered.
func TestGroupWithUnsetMembersServes(t *testing.T) {
	f := newFixture(t, fixtureOptions{
		extensions: []*konnectv1alpha2.KonnectExtension{automaticExtension(extName)},
		controlPlane: func(id string) *konnectv1alpha2.KonnectGatewayControlPlane {
			cp := programmedControlPlane(id)
			cp.Status.ClusterType = konnect.ClusterTypeControlPlaneGroup
			return withProgrammed(cp, metav1.Condition{Status: metav1.ConditionFalse, ObservedGeneration: 1,
				Reason:  konnectv1alpha2.ReasonFailedToSetControlPlaneGroupMembers,
				Message: "KonnectGatewayControlPlane kong/member not found: 0 of 1 members set"})
		},
	})
	f.sync(extName)
	f.wantCondition(extName, konnectv1alpha2.ConditionControlPlaneRefValid, metav1.ConditionTrue, konnectv1alpha2.ReasonValid, "")
	f.wantCondition(extName, konnectv1alpha2.ConditionReady, metav1.ConditionTrue, konnectv1alpha2.ReasonReady, "")
	if k := f.get(extName).Status.Konnect; k == nil || k.ControlPlaneID != f.cpID || k.ClusterType != konnectv1alpha2.ExtensionClusterTypeControlPlaneGroup {
		t.Fatalf("status.konnect = %+v, want the group %s", k, f.cpID)
	}
	if n := len(f.api.Certificates(f.cpID)); n != 1 {
		t.Fatalf("%d certificates registered with the group, want 1", n)
	}
}
