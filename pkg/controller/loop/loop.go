// Package loop is the one work loop every reconciler runs in: a typed, rate-limited work queue
// of object keys, the wait for the informer caches, the workers, and Run with its shutdown. A
// reconciler gives it one function, Reconcile(ctx, key) (Result, error), and says nothing else
// about queues.
//
// A key's way: an informer event handler calls Add; a worker takes the key, calls Reconcile,
// and Result says when the key comes back (After), or that a Konnect call failed transiently
// (Transient); an error backs the key off. The shape is sample-controller's (Run, runWorker,
// processNextWorkItem) with two backoffs kept apart:
//   - the queue's limiter paces retries after errors of our own or of the apiserver;
//   - a second per-key backoff paces retries after transient Konnect failures, and honours the
//     Retry-After Konnect sent.
package loop

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"

	"golang.org/x/time/rate"

	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/konnect"
)

// Result is what one Reconcile asks of the loop.
type Result struct {
	// After: look at the key again then; 0 means only when an event brings it back.
	After time.Duration
	// Transient: a Konnect call failed in a way that says nothing definitive. The key comes
	// back after the larger of its Konnect backoff (1s doubling to 5min) and the Retry-After
	// Konnect sent, instead of After. A Result without it resets that backoff.
	Transient error
}

// ReconcileFunc brings the object named by key in line. An error (our own or the apiserver's)
// backs the key off on the queue's limiter.
type ReconcileFunc func(ctx context.Context, key cache.ObjectName) (Result, error)

// Options tune one Loop.
type Options struct {
	// Clock drives the queue's delays; tests pass a fake one. Default: the real clock.
	Clock clock.WithTicker
	// MetricsProvider, if set, receives the queue's metrics under the loop's name.
	MetricsProvider workqueue.MetricsProvider
	// MaxWorkers caps the workers Run starts, whatever it is asked for: a loop whose every
	// item is one small patch needs few. 0: no cap.
	MaxWorkers int
	// QPS and Burst bound how fast failing keys come back in aggregate (the queue limiter's
	// overall bucket). Defaults: 50/s, burst 500.
	QPS   rate.Limit
	Burst int
	// MaxKonnectBackoff caps the per-key backoff after transient Konnect failures (default and
	// at most 5min). A reconciler whose objects re-sync every period caps it at that period, so
	// that once Konnect answers again everything waiting — a deletion that holds a namespace —
	// goes ahead within one period.
	MaxKonnectBackoff time.Duration
	// LogKey names the key in the log lines of a Reconcile ("konnectExtension", …), which the
	// loop adds to the logger it passes on. Default: "key".
	LogKey string
}

// The queue's limiter. Per key, retries after an error wait from 1s, doubling, up to 5min, so an
// apiserver that is down is not hammered. The overall bucket bounds how fast failing keys come
// back together when ten thousand fail at once (a lost apiserver): 50/s, burst 500, unless the
// loop's Options say less.
const (
	baseDelay    = time.Second
	maxDelay     = 5 * time.Minute
	defaultQPS   = rate.Limit(50)
	defaultBurst = 500
)

// Loop runs one reconciler's queue. It embeds the queue so that event handlers (and tests) can
// Add keys and look at its length.
type Loop struct {
	workqueue.TypedRateLimitingInterface[cache.ObjectName]

	name      string
	reconcile ReconcileFunc
	logKey    string
	// konnectBackoff paces retries after transient Konnect failures, per key: apart from the
	// queue's limiter, because a Konnect outage is not our error and has its own Retry-After.
	konnectBackoff workqueue.TypedRateLimiter[cache.ObjectName]
	maxWorkers     int
	clock          clock.Clock

	mu     sync.Mutex
	synced []cache.InformerSynced

	// backlogMu guards what was added before the workers started (startup.go).
	backlogMu sync.Mutex
	started   bool
	backlog   []cache.ObjectName
	inBacklog map[cache.ObjectName]struct{}
	feedAhead int
	// backlogDepth is the queue's depth metric: the backlog counts in it.
	backlogDepth workqueue.GaugeMetric
}

// New builds a loop named name (its queue's name in the metrics).
func New(name string, reconcile ReconcileFunc, opts Options) *Loop {
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	if opts.QPS == 0 {
		opts.QPS, opts.Burst = defaultQPS, defaultBurst
	}
	if opts.LogKey == "" {
		opts.LogKey = "key"
	}
	konnectMax := maxDelay
	if opts.MaxKonnectBackoff > 0 {
		konnectMax = min(opts.MaxKonnectBackoff, maxDelay)
	}
	limiter := workqueue.NewTypedMaxOfRateLimiter(
		workqueue.NewTypedItemExponentialFailureRateLimiter[cache.ObjectName](baseDelay, maxDelay),
		&workqueue.TypedBucketRateLimiter[cache.ObjectName]{Limiter: rate.NewLimiter(opts.QPS, opts.Burst)},
	)
	var depth workqueue.GaugeMetric = noDepth{}
	if opts.MetricsProvider != nil {
		depth = opts.MetricsProvider.NewDepthMetric(name)
	}
	return &Loop{
		backlogDepth: depth,
		TypedRateLimitingInterface: workqueue.NewTypedRateLimitingQueueWithConfig(limiter,
			workqueue.TypedRateLimitingQueueConfig[cache.ObjectName]{Name: name, Clock: opts.Clock, MetricsProvider: opts.MetricsProvider}),
		name:           name,
		reconcile:      reconcile,
		logKey:         opts.LogKey,
		konnectBackoff: workqueue.NewTypedItemExponentialFailureRateLimiter[cache.ObjectName](baseDelay, konnectMax),
		maxWorkers:     opts.MaxWorkers,
		clock:          opts.Clock,
		inBacklog:      map[cache.ObjectName]struct{}{},
		feedAhead:      minFeedAhead,
	}
}

// Name is the loop's name.
func (l *Loop) Name() string { return l.name }

// Enqueue adds the key of an object, or of the object a deletion tombstone holds.
func (l *Loop) Enqueue(obj any) {
	if key, ok := KeyOf(obj); ok {
		l.Add(key)
	}
}

// Watch registers handler on informer and makes Run wait for the handler to have seen the
// informer's initial list.
func (l *Loop) Watch(ctx context.Context, informer cache.SharedIndexInformer, handler cache.ResourceEventHandler) error {
	logger := klog.FromContext(ctx)
	reg, err := informer.AddEventHandlerWithOptions(handler, cache.HandlerOptions{Logger: &logger})
	if err != nil {
		return fmt.Errorf("%s: adding an event handler: %w", l.name, err)
	}
	l.WaitFor(reg.HasSynced)
	return nil
}

// WaitFor makes Run wait for more caches before it starts workers.
func (l *Loop) WaitFor(synced ...cache.InformerSynced) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.synced = append(l.synced, synced...)
}

// HasSynced reports whether every cache the loop waits for is filled (the readiness probe).
func (l *Loop) HasSynced() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, synced := range l.synced {
		if !synced() {
			return false
		}
	}
	return true
}

// Run waits for the caches, starts workers and blocks until ctx ends. Then no worker takes
// another key and nothing more is written (after a lost Lease another replica is leading):
// keys still queued are dropped for the next leader, and Run returns once the workers have let
// go of what they held.
func (l *Loop) Run(ctx context.Context, workers int) error {
	defer utilruntime.HandleCrashWithContext(ctx)
	logger := klog.FromContext(ctx).WithValues("loop", l.name)
	ctx = klog.NewContext(ctx, logger)
	if l.maxWorkers > 0 {
		workers = min(workers, l.maxWorkers)
	}

	logger.Info("Starting workers", "workers", workers)
	defer logger.Info("Stopped workers")

	l.mu.Lock()
	synced := l.synced
	l.mu.Unlock()
	l.setFeedAhead(workers)
	if !cache.WaitForNamedCacheSyncWithContext(ctx, synced...) {
		l.ShutDown()
		return errors.New(l.name + ": caches did not sync before the loop was stopped")
	}

	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for l.ProcessNextWorkItem(ctx) {
			}
		})
	}
	<-ctx.Done()
	logger.Info("Shutting down: taking no more work")
	// Wakes the workers blocked in Get; what is still queued is left to the next leader.
	l.ShutDown()
	wg.Wait()
	return nil
}

// ProcessNextWorkItem reconciles one key and schedules its next look; it returns false once the
// queue is shut down. It stops once ctx has ended, also for a key it already took: client-go's
// queue hands out queued keys until it is shut down, and a replica that lost its Lease must not
// write beside the new leader.
func (l *Loop) ProcessNextWorkItem(ctx context.Context) bool {
	key, quit := l.Get()
	if quit {
		return false
	}
	defer l.Done(key)
	if ctx.Err() != nil {
		return false
	}
	// Every line Reconcile logs names the object.
	logger := klog.FromContext(ctx).WithValues(l.logKey, klog.KRef(key.Namespace, key.Name))
	start := l.clock.Now()
	logger.V(4).Info("Started syncing")
	res, err := l.reconcile(klog.NewContext(ctx, logger), key)
	logger.V(4).Info("Finished syncing", "duration", l.clock.Since(start))
	l.schedule(ctx, key, res, err)
	return true
}

// schedule is the one place a key's next look is decided.
func (l *Loop) schedule(ctx context.Context, key cache.ObjectName, res Result, err error) {
	switch {
	case err != nil && ctx.Err() != nil:
		// Cut short by the shutdown; the next leader looks at it.
	case err != nil:
		utilruntime.HandleErrorWithContext(ctx, err, "Reconciling failed", "loop", l.name, l.logKey, klog.KRef(key.Namespace, key.Name))
		l.AddRateLimited(key)
	case res.Transient != nil:
		l.Forget(key)
		after := max(l.konnectBackoff.When(key), konnect.RetryAfterOf(res.Transient))
		klog.FromContext(ctx).V(2).Info("Konnect call failed transiently; retrying later",
			l.logKey, klog.KRef(key.Namespace, key.Name), "err", res.Transient.Error(), "after", after)
		l.AddAfter(key, after)
	default:
		l.Forget(key)
		l.konnectBackoff.Forget(key)
		if res.After > 0 {
			l.AddAfter(key, res.After)
		}
	}
}

// KeyOf returns the key of an object, or of the object a deletion tombstone holds.
func KeyOf(obj any) (cache.ObjectName, bool) {
	if tombstone, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tombstone.Obj
	}
	o, ok := obj.(interface {
		GetNamespace() string
		GetName() string
	})
	if !ok {
		return cache.ObjectName{}, false
	}
	return cache.ObjectName{Namespace: o.GetNamespace(), Name: o.GetName()}, true
}

// RunAll runs every loop until ctx ends and returns once all have stopped. The first to fail
// stops the others: a process with one loop down must restart, not linger.
func RunAll(ctx context.Context, loops []*Loop, workers int) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, len(loops))
	for _, l := range loops {
		go func() {
			err := l.Run(ctx, workers)
			if err != nil {
				cancel()
			}
			errs <- err
		}()
	}
	var first error
	for range loops {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// AllSynced reports whether every loop's caches are filled.
func AllSynced(loops []*Loop) func() bool {
	return func() bool {
		for _, l := range loops {
			if !l.HasSynced() {
				return false
			}
		}
		return true
	}
}
