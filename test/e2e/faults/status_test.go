package faults_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	konnectv1alpha1 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha1"
	"github.com/konnect-auth-controller/konnect-auth-controller/test/controlplane"
	"github.com/konnect-auth-controller/konnect-auth-controller/test/e2e/framework"
)

// TestStatusRewrittenByOthers: someone else's write of a configuration's status (an old
// controller, a script, `kubectl patch --subresource=status`) is put right at once, and the
// controller's own status writes, when the watch brings them back, cost no second reconcile.
// The configuration's reconciles are counted from the controller's -v=4 log: the rewrite is
// one event, so it is one reconcile (the one that puts it right); without telling its own
// write apart, the controller would reconcile its correction once more, and every one of ten
// thousand configurations once more after a start.
func TestStatusRewrittenByOthers(t *testing.T) {
	ns := controlplane.NewNamespace(t, cp)
	ctrl := startController(t, ns, "-v=4")
	const name = "rewritten"
	createAll(t, nil, []*konnectv1alpha1.KonnectAPIAuthConfiguration{inlineConfig(ns, name, env.NewToken(t))})
	framework.WaitForCondition(t, client, ns, name, metav1.ConditionTrue, konnectv1alpha1.ReasonValid, ctrl.Log)

	// A reconcile's first line: the configuration loop's, not the in-use finalizer loop's.
	started := fmt.Sprintf(`"Started syncing" loop=%q konnectAPIAuthConfiguration=%q`, "konnect-auth-controller", ns+"/"+name)
	reconciles := func() int { return strings.Count(ctrl.Log(), started) }
	before := waitQuiet(t, reconciles)
	if before == 0 {
		t.Fatalf("no line %s in the controller's log:\n%s", started, framework.Tail(ctrl.Log(), 30))
	}

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

	if got := waitQuiet(t, reconciles) - before; got != 1 {
		t.Errorf("%d reconciles after the status was rewritten once, want 1 (the correction's own write came back as work):\n%s",
			got, framework.Grep(ctrl.Log(), ns+"/"+name))
	}
	assertRunning(t, ctrl)
}

// waitQuiet waits until count has not changed for two seconds (a reconcile follows its event
// within milliseconds on a quiet controller) and returns it.
func waitQuiet(t *testing.T, count func() int) int {
	t.Helper()
	const quiet = 2 * time.Second
	last, since := count(), time.Now()
	err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, time.Minute, false, func(context.Context) (bool, error) {
		if n := count(); n != last {
			last, since = n, time.Now()
		}
		return time.Since(since) >= quiet, nil
	})
	if err != nil {
		t.Fatalf("the count never settled (last %d)", last)
	}
	return last
}
