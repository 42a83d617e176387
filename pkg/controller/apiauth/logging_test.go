package apiauth

import (
	"bytes"
	"context"
	"flag"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/controller/objpatch"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"
	"k8s.io/klog/v2/ktesting"

	konnectv1alpha1 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha1"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/konnect"
)

// syncedBuffer is a bytes.Buffer safe for klog's writer goroutine.
type syncedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestNoTokenInLogs runs every verdict, transient failures, revalidation and the shared-token
// path with logging at -v=10, both the contextual logger and klog's global one, and checks
// that no token appears anywhere in what was logged.
func TestNoTokenInLogs(t *testing.T) {
	// klog's global logger, for anything that does not log contextually.
	var global syncedBuffer
	flags := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(flags)
	for name, value := range map[string]string{"v": "10", "logtostderr": "false", "alsologtostderr": "false"} {
		if err := flags.Set(name, value); err != nil {
			t.Fatal(err)
		}
	}
	klog.SetOutput(&global)
	defer func() {
		klog.SetOutput(nil)
		_ = flags.Set("v", "0")
		_ = flags.Set("logtostderr", "true")
	}()

	logger := ktesting.NewLogger(t, ktesting.NewConfig(ktesting.Verbosity(10), ktesting.BufferLogs(true)))
	ctx := klog.NewContext(context.Background(), logger)
	var events []string

	run := func(f *fixture, names ...string) {
		recorder := record.NewFakeRecorder(100)
		f.ctrl.events = objpatch.NewEvents(recorder, konnectv1alpha1.ConditionAPIAuthValid)
		for _, name := range names {
			key := cache.ObjectName{Namespace: namespace, Name: name}
			f.ctrl.loop.Add(key)
			f.ctrl.loop.ProcessNextWorkItem(ctx)
		}
		close(recorder.Events)
		for e := range recorder.Events {
			events = append(events, e)
		}
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
	f.clock.Step(2 * time.Hour)
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
	klog.Flush()

	contextual := logger.GetSink().(ktesting.Underlier).GetBuffer().String()
	if !strings.Contains(contextual, "Finished syncing") || !strings.Contains(contextual, "Token checked") {
		t.Fatalf("the -v=10 log lacks the per-sync detail this test relies on:\n%s", contextual)
	}
	if len(events) == 0 {
		t.Fatal("no events were recorded")
	}
	assertNoToken(t, "the contextual log at -v=10", contextual)
	assertNoToken(t, "klog's global log at -v=10", global.String())
	assertNoToken(t, "events", strings.Join(events, "\n"))
}

// TestEventsOnlyWhenTheVerdictChanges: an Event when a verdict turns False or recovers, none per
// sync and none for a first True verdict.
func TestEventsOnlyWhenTheVerdictChanges(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	cfg := inlineConfig("konnect-api-auth", tokenValid)
	f := newFixture(t, ctx, fixtureOptions{configs: []*konnectv1alpha1.KonnectAPIAuthConfiguration{cfg}})
	recorder := record.NewFakeRecorder(100)
	f.ctrl.events = objpatch.NewEvents(recorder, konnectv1alpha1.ConditionAPIAuthValid)
	key := cache.MetaObjectToName(cfg)

	syncRefresh := func() {
		t.Helper()
		if _, err := f.ctrl.sync(ctx, key); err != nil {
			t.Fatal(err)
		}
		f.refresh(cfg.Name)
	}
	syncRefresh()
	syncRefresh()
	syncRefresh()
	f.konnect.set(tokenValid, konnect.Result{Verdict: konnect.VerdictInvalid, StatusCode: 401, Message: "Konnect refused the token (401 Unauthorized): Invalid credentials"})
	syncRefresh()
	syncRefresh()
	f.konnect.set(tokenValid, konnect.Result{Verdict: konnect.VerdictUnavailable, StatusCode: 503, Message: "Konnect answered 503"})
	f.clock.Step(time.Hour)
	syncRefresh()
	f.konnect.set(tokenValid, konnect.Result{Verdict: konnect.VerdictValid, OrganizationID: orgID, StatusCode: 200})
	syncRefresh()
	syncRefresh()
	close(recorder.Events)

	var got []string
	for e := range recorder.Events {
		got = append(got, e)
	}
	// The first True verdict is in the status and makes no Event; turning False does, and so
	// does turning True again; Unknown (Konnect unavailable) makes none.
	want := []string{"Warning Invalid Konnect refused the token (401 Unauthorized): Invalid credentials", "Normal Valid Token is valid"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("events = %q, want %q", got, want)
	}
}
