package apiauth

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/klog/v2/ktesting"

	konnectv1alpha1 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha1"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/controller"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/controller/loop"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/konnect"
)

// countingChecker counts checks, i.e. syncs that got as far as asking about the token.
type countingChecker struct {
	next  controller.TokenChecker
	count atomic.Int64
}

func (c *countingChecker) Check(token, serverURL string, asker types.NamespacedName) konnect.Result {
	c.count.Add(1)
	return c.next.Check(token, serverURL, asker)
}

// TestShutdownTakesNoNewWork: 2,000 configurations are queued; while the workers are in the
// middle of status writes the run context ends (SIGTERM, or the Lease lost). At most --workers
// syncs start after that (none, in fact), no sync writes a status it had not begun to write,
// and Run returns once the writes in flight end.
func TestShutdownTakesNoNewWork(t *testing.T) {
	const (
		configs = 2000
		workers = 4
		// Writes before the test holds them, so that the shutdown lands mid-backlog.
		freeWrites = 100
	)
	_, ctx := ktesting.NewTestContext(t)
	informerCtx, stopInformers := context.WithCancel(ctx)
	defer stopInformers()
	var objs []*konnectv1alpha1.KonnectAPIAuthConfiguration
	for i := range configs {
		objs = append(objs, inlineConfig(fmt.Sprintf("cfg-%04d", i), tokenValid))
	}
	checker := &countingChecker{}
	f := newFixture(t, informerCtx, fixtureOptions{configs: objs, informers: true,
		checker: func(f *fixture) controller.TokenChecker { checker.next = syncChecker{f.konnect}; return checker }})

	// The fake clientset runs reactors under one lock, so writes go one at a time, a
	// millisecond each: when the run ends, one worker is inside a write and the others may be
	// waiting for the lock with theirs.
	var writes atomic.Int64
	reached := make(chan struct{})
	f.Client.PrependReactor("patch", "konnectapiauthconfigurations", func(clienttesting.Action) (bool, runtime.Object, error) {
		if writes.Add(1) == freeWrites {
			close(reached)
		}
		time.Sleep(time.Millisecond)
		return false, nil, nil
	})

	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- loop.RunAll(runCtx, f.ctrl.Loops(), workers) }()
	select {
	case <-reached:
	case <-time.After(30 * time.Second):
		t.Fatalf("the workers did not reach %d writes", freeWrites)
	}
	stop()
	writesAtStop, checksAtStop := writes.Load(), checker.count.Load()
	queued := f.ctrl.loop.Len()

	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	t.Logf("at the stop: %d writes started, %d checks, %d configurations still queued", writesAtStop, checksAtStop, queued)
	if queued < configs/2 {
		t.Fatalf("only %d configurations were still queued at the stop: the test did not stop mid-backlog", queued)
	}
	if n := checker.count.Load() - checksAtStop; n > workers {
		t.Errorf("%d syncs started after the run context ended, want at most %d (--workers)", n, workers)
	}
	// Writes that had begun (waiting for the fake's lock) may still land; no sync begins one
	// after the stop.
	if n := writes.Load() - writesAtStop; n > workers-1 {
		t.Errorf("%d status writes after the run context ended, want at most the %d already on their way", n, workers-1)
	}
}
