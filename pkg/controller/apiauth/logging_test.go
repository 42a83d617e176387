package apiauth

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	konnectv1alpha1 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha1"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/controller/controllertest"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/konnect"
)

// TestNoTokenInLogs runs every verdict, transient failures, revalidation and the shared-token
// path with logging at -v=10, both the contextual logger and klog's global one, and checks
// that no token appears anywhere in what was logged.
func TestNoTokenInLogs(t *testing.T) {
	ctx, logs := controllertest.CaptureLogs(t, 10)
	var events []string

	run := func(f *fixture, names ...string) {
		for _, name := range names {
			f.process(ctx, name)
		}
		events = append(events, f.Events()...)
	}

	for _, tc := range verdictCases() {
		f := newFixture(t, ctx, fixtureOptions{configs: []*konnectv1alpha1.KonnectAPIAuthConfiguration{tc.config}, secrets: tc.secrets, unlabelled: tc.unlabelled})
		run(f, tc.config.Name)
	}

	// Transient failures over a True verdict, then revalidation after a revocation.
	cfg := withCondition(inlineConfig("kept", tokenValid), metav1.ConditionTrue, konnectv1alpha1.ReasonValid, 1)
	f := newFixture(t, ctx, fixtureOptions{configs: []*konnectv1alpha1.KonnectAPIAuthConfiguration{cfg}})
	f.konnect.set(tokenValid, konnect.Result{Verdict: konnect.VerdictUnavailable, StatusCode: 429, RetryAfter: time.Second, Message: "Konnect answered 429 Too Many Requests"})
	run(f, "kept")
	f.konnect.set(tokenValid, konnect.Result{Verdict: konnect.VerdictInvalid, StatusCode: 401, Message: "Konnect refused the token (401 Unauthorized): Invalid credentials"})
	f.Clock.Step(2 * time.Hour)
	run(f, "kept")

	// The production Checker in front: pending, then woken and answered from memory.
	shared := []*konnectv1alpha1.KonnectAPIAuthConfiguration{inlineConfig("s1", tokenValid2), inlineConfig("s2", tokenValid2)}
	f = newFixture(t, ctx, fixtureOptions{configs: shared, checker: realChecker(ctx)})
	run(f, "s1", "s2")
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		if cond := conditionOf(f.get("s2")); cond != nil && cond.Status == metav1.ConditionTrue {
			if cond := conditionOf(f.get("s1")); cond != nil && cond.Status == metav1.ConditionTrue {
				break
			}
		}
		if f.ctrl.loop.Len() > 0 {
			f.ctrl.loop.ProcessNextWorkItem(ctx)
		}
		time.Sleep(time.Millisecond)
	}
	contextual := logs.Contextual()
	if !strings.Contains(contextual, "Finished syncing") || !strings.Contains(contextual, "Token checked") {
		t.Fatalf("the -v=10 log lacks the per-sync detail this test relies on:\n%s", contextual)
	}
	if len(events) == 0 {
		t.Fatal("no events were recorded")
	}
	assertNoToken(t, "the contextual log at -v=10", contextual)
	assertNoToken(t, "klog's global log at -v=10", logs.Global())
	assertNoToken(t, "events", strings.Join(events, "\n"))
}

// TestEventsOnlyWhenTheVerdictChanges: an Event when a verdict turns False or recovers, none per
// sync and none for a first True verdict.
func TestEventsOnlyWhenTheVerdictChanges(t *testing.T) {
	ctx, f, key := newConfigFixture(t, inlineConfig("konnect-api-auth", tokenValid))
	syncRefresh := func() {
		t.Helper()
		f.mustSync(ctx, key)
		f.refresh(key.Name)
	}
	syncRefresh()
	syncRefresh()
	syncRefresh()
	f.konnect.set(tokenValid, konnect.Result{Verdict: konnect.VerdictInvalid, StatusCode: 401, Message: "Konnect refused the token (401 Unauthorized): Invalid credentials"})
	syncRefresh()
	syncRefresh()
	f.konnect.set(tokenValid, konnect.Result{Verdict: konnect.VerdictUnavailable, StatusCode: 503, Message: "Konnect answered 503"})
	f.Clock.Step(time.Hour)
	syncRefresh()
	f.konnect.set(tokenValid, konnect.Result{Verdict: konnect.VerdictValid, OrganizationID: orgID, StatusCode: 200})
	syncRefresh()
	syncRefresh()

	// The first True verdict is in the status and makes no Event; turning False does, and so
	// does turning True again; Unknown (Konnect unavailable) makes none.
	got := f.Events()
	want := []string{"Warning Invalid Konnect refused the token (401 Unauthorized): Invalid credentials", "Normal Valid Token is valid"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("events = %q, want %q", got, want)
	}
}
