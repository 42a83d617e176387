package loop

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

func keys(n int, prefix string) []cache.ObjectName {
	out := make([]cache.ObjectName, n)
	for i := range out {
		out[i] = cache.ObjectName{Namespace: "ns", Name: fmt.Sprintf("%s-%05d", prefix, i)}
	}
	return out
}

// addAll adds every key of ks, as an informer's first list does.
func addAll(l *Loop, ks []cache.ObjectName) {
	for _, k := range ks {
		l.Add(k)
	}
}

// drain takes every key the loop hands out, marks it done and returns them in order, checking
// after each Get that client-go's queue itself never held more than limit keys.
func drain(t *testing.T, l *Loop, limit int) []cache.ObjectName {
	t.Helper()
	var got []cache.ObjectName
	for l.Len() > 0 {
		key, quit := l.Get()
		if quit {
			t.Fatal("the queue shut down")
		}
		if n := l.TypedRateLimitingInterface.Len(); n > limit {
			t.Fatalf("client-go's queue holds %d keys, want at most %d", n, limit)
		}
		got = append(got, key)
		l.Done(key)
	}
	return got
}

// TestStartupBacklog: the keys added before the workers start (the caches' initial lists,
// each object's key once or more) come out once each, in the order they were first added,
// while client-go's queue never holds more than the feed: its maps are not sized for them.
func TestStartupBacklog(t *testing.T) {
	l := New("test", nil, Options{})
	defer l.ShutDown()
	initial := keys(10000, "cfg")
	addAll(l, initial)
	// A second informer's initial list names the same objects again (the Secrets' users).
	addAll(l, initial[:5000])
	if n := l.Len(); n != len(initial) {
		t.Fatalf("Len() = %d before the workers started, want %d (the backlog counts)", n, len(initial))
	}
	if n := l.TypedRateLimitingInterface.Len(); n != 0 {
		t.Fatalf("client-go's queue holds %d keys before the workers started, want 0", n)
	}

	got := drain(t, l, minFeedAhead)
	if !slices.Equal(got, initial) {
		t.Fatalf("got %d keys (first %v), want the %d added, once each and in order", len(got), got[:min(3, len(got))], len(initial))
	}
	if l.backlog != nil || len(l.inBacklog) != 0 {
		t.Errorf("the backlog was not released: %d keys in its slice, %d in its set", len(l.backlog), len(l.inBacklog))
	}

	// Once the workers run, a key goes into the queue at once.
	l.Add(initial[0])
	if n := l.TypedRateLimitingInterface.Len(); n != 1 {
		t.Errorf("client-go's queue holds %d keys after an Add once the workers ran, want 1", n)
	}
}

// TestStartupBacklogChangeGoesFirst: an object changed while its key still waits in the
// backlog (an edit during the start) is reconciled before the rest of the backlog, and only
// once.
func TestStartupBacklogChangeGoesFirst(t *testing.T) {
	l := New("test", nil, Options{})
	defer l.ShutDown()
	initial := keys(1000, "cfg")
	addAll(l, initial)
	first, _ := l.Get() // the workers have started
	l.Done(first)
	edited := initial[900]
	l.Add(edited)

	got := drain(t, l, minFeedAhead+1)
	if i := slices.Index(got, edited); i < 0 || i > minFeedAhead {
		t.Errorf("the edited key came out at position %d of %d, want within the first %d (ahead of the backlog)", i, len(got), minFeedAhead+1)
	}
	seen := map[cache.ObjectName]int{first: 1}
	for _, k := range got {
		seen[k]++
	}
	for _, k := range initial {
		if seen[k] != 1 {
			t.Errorf("%v came out %d times, want once", k, seen[k])
		}
	}
}

// TestStartupBacklogFeedsRunningWorkers: Run's workers take every key of a backlog larger
// than the feed, and reconcile each once.
func TestStartupBacklogFeedsRunningWorkers(t *testing.T) {
	initial := keys(2000, "cfg")
	l, done := recordingLoop(len(initial))
	addAll(l, initial)
	runWorkers(t, l, 8)
	expectEachOnce(t, done, initial)
}

// recordingLoop is a loop whose reconcile reports each key it is given on done, which has room
// for n.
func recordingLoop(n int) (*Loop, <-chan cache.ObjectName) {
	done := make(chan cache.ObjectName, n)
	return New("test", func(_ context.Context, key cache.ObjectName) (Result, error) {
		done <- key
		return Result{}, nil
	}, Options{}), done
}

// runWorkers runs the loop's workers until the test ends.
func runWorkers(t *testing.T, l *Loop, workers int) {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() { _ = l.Run(ctx, workers) }()
}

// expectEachOnce fails unless the keys reported on done are want's, each once.
func expectEachOnce(t *testing.T, done <-chan cache.ObjectName, want []cache.ObjectName) {
	t.Helper()
	seen := map[cache.ObjectName]bool{}
	for range want {
		var k cache.ObjectName
		select {
		case k = <-done:
		case <-time.After(30 * time.Second):
			t.Fatalf("the workers stopped after %d of %d keys", len(seen), len(want))
		}
		if seen[k] {
			t.Fatalf("%v reconciled twice", k)
		}
		seen[k] = true
	}
	for _, k := range want {
		if !seen[k] {
			t.Errorf("%v never reconciled", k)
		}
	}
}

// depthProvider is a workqueue.MetricsProvider that keeps the depth gauge, the one metric the
// backlog shares with the queue.
type depthProvider struct {
	workqueue.MetricsProvider
	depth *gauge
}

type gauge struct{ n atomic.Int64 }

func (g *gauge) Inc() { g.n.Add(1) }
func (g *gauge) Dec() { g.n.Add(-1) }

func (p depthProvider) NewDepthMetric(string) workqueue.GaugeMetric { return p.depth }

// TestStartupBacklogDepthMetric: workqueue_depth counts the keys waiting in the backlog, so
// that a dashboard shows the start's backlog as it did when every key went into the queue.
func TestStartupBacklogDepthMetric(t *testing.T) {
	depth := &gauge{}
	l := New("test", nil, Options{MetricsProvider: depthProvider{MetricsProvider: noMetrics{}, depth: depth}})
	defer l.ShutDown()
	initial := keys(1000, "cfg")
	addAll(l, append(initial, initial[:10]...))
	if n := depth.n.Load(); n != int64(len(initial)) {
		t.Fatalf("depth %d with %d keys in the backlog, want %d", n, len(initial), len(initial))
	}
	key, _ := l.Get()
	l.Done(key)
	l.Add(initial[500]) // leaves the backlog for the queue
	if n, want := depth.n.Load(), int64(l.Len()); n != want {
		t.Errorf("depth %d, want %d (Len: queue and backlog)", n, want)
	}
	drain(t, l, minFeedAhead+1)
	if n := depth.n.Load(); n != 0 {
		t.Errorf("depth %d once every key was taken, want 0", n)
	}
}

// noMetrics provides client-go's metrics that the test does not look at.
type noMetrics struct{}

func (noMetrics) NewDepthMetric(string) workqueue.GaugeMetric  { return noDepth{} }
func (noMetrics) NewAddsMetric(string) workqueue.CounterMetric { return counter{} }
func (noMetrics) NewLatencyMetric(string) workqueue.HistogramMetric {
	return histogram{}
}
func (noMetrics) NewWorkDurationMetric(string) workqueue.HistogramMetric { return histogram{} }
func (noMetrics) NewUnfinishedWorkSecondsMetric(string) workqueue.SettableGaugeMetric {
	return settable{}
}
func (noMetrics) NewLongestRunningProcessorSecondsMetric(string) workqueue.SettableGaugeMetric {
	return settable{}
}
func (noMetrics) NewRetriesMetric(string) workqueue.CounterMetric { return counter{} }

type counter struct{}

func (counter) Inc() {}

type histogram struct{}

func (histogram) Observe(float64) {}

type settable struct{}

func (settable) Set(float64) {}

// TestBatchThroughTheBacklog: keys that come back together once the workers run (the
// configurations a finished Konnect check wakes) enter client-go's queue a few at a time, in
// order and once each, and the backlog is released again; one of them added on its own
// meanwhile goes first.
func TestBatchThroughTheBacklog(t *testing.T) {
	l := New("test", nil, Options{})
	defer l.ShutDown()
	// The workers' phase: a first key taken and done.
	l.Add(cache.ObjectName{Namespace: "ns", Name: "first"})
	key, _ := l.Get()
	l.Done(key)

	woken := keys(10000, "cfg")
	l.AddBatch(woken)
	l.AddBatch(woken[1000:1100]) // a second check's askers, still waiting in the backlog
	if n := l.Len(); n != len(woken) {
		t.Fatalf("Len() = %d after the batches, want %d", n, len(woken))
	}
	if n := l.TypedRateLimitingInterface.Len(); n != minFeedAhead {
		t.Fatalf("client-go's queue holds %d keys after the batches, want %d (the feed)", n, minFeedAhead)
	}
	edited := woken[5000]
	l.Add(edited)

	got := drain(t, l, minFeedAhead+1)
	want := slices.Concat(woken[:minFeedAhead], []cache.ObjectName{edited}, woken[minFeedAhead:5000], woken[5001:])
	if !slices.Equal(got, want) {
		t.Fatalf("got %d keys (the %dth %v), want the %d woken once each, in order, the edited one after the first feed",
			len(got), minFeedAhead+1, got[min(minFeedAhead, len(got)-1)], len(want))
	}
	if l.backlog != nil || len(l.inBacklog) != 0 {
		t.Errorf("the backlog was not released: %d keys in its slice, %d in its set", len(l.backlog), len(l.inBacklog))
	}
}

// TestBatchWakesAWaitingWorker: a worker that waits on an empty queue takes a batch's keys.
func TestBatchWakesAWaitingWorker(t *testing.T) {
	woken := keys(500, "cfg")
	l, done := recordingLoop(len(woken))
	runWorkers(t, l, 2)
	// Both workers wait in Get once the (empty) caches are synced.
	time.Sleep(100 * time.Millisecond)
	l.AddBatch(woken)
	expectEachOnce(t, done, woken)
}
