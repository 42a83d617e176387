package faults_test

import (
	"encoding/json"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	konnectv1alpha1 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha1"
	"github.com/konnect-auth-controller/konnect-auth-controller/test/controlplane"
	"github.com/konnect-auth-controller/konnect-auth-controller/test/e2e/framework"
)

// TestStatusRewrittenByOthers: someone else's write of a configuration's status (an old
// controller, a script, `kubectl patch --subresource=status`) is put right at once, without
// waiting for the next re-validation (an hour by default).
func TestStatusRewrittenByOthers(t *testing.T) {
	ns := controlplane.NewNamespace(t, cp)
	ctrl := startController(t, ns)
	const name = "rewritten"
	createAll(t, nil, []*konnectv1alpha1.KonnectAPIAuthConfiguration{inlineConfig(ns, name, env.NewToken(t))})
	framework.WaitForCondition(t, client, ns, name, metav1.ConditionTrue, konnectv1alpha1.ReasonValid, ctrl.Log)
	calls := env.Konnect.Calls()

	rewrite, err := json.Marshal(map[string]any{"status": map[string]any{
		"organizationID": "someone-else",
		"conditions": []metav1.Condition{{
			Type: konnectv1alpha1.ConditionAPIAuthValid, Status: metav1.ConditionFalse, Reason: "Rewritten",
			Message: "written by someone else", LastTransitionTime: metav1.Now(),
		}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	framework.KubectlOutput(t, cp, "patch", "konnectapiauthconfiguration", name, "-n", ns,
		"--subresource=status", "--type=merge", "-p", string(rewrite))
	cfg := framework.WaitForCondition(t, client, ns, name, metav1.ConditionTrue, konnectv1alpha1.ReasonValid, ctrl.Log)
	if cfg.Status.OrganizationID != orgID {
		t.Errorf("organizationID = %q after the rewrite was put right, want %q", cfg.Status.OrganizationID, orgID)
	}
	// The verdict came from memory: a status write says nothing new about the token.
	if n := env.Konnect.Calls() - calls; n != 0 {
		t.Errorf("%d Konnect calls to put the status right, want 0", n)
	}
	assertRunning(t, ctrl)
}
