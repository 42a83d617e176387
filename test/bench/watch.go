package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"

	konnectv1alpha1 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha1"
	clientset "github.com/konnect-auth-controller/konnect-auth-controller/pkg/generated/clientset/versioned"
	informers "github.com/konnect-auth-controller/konnect-auth-controller/pkg/generated/informers/externalversions"
	"github.com/konnect-auth-controller/konnect-auth-controller/test/e2e/framework"
)

// watcher follows the benchmark's configurations with an informer (a list, then a watch):
// which are True, when the first and the last became True, how many writes they received
// (resourceVersion changes) and how many True verdicts were lost.
type watcher struct {
	n      int
	cancel context.CancelFunc
	done   chan struct{}

	writes atomic.Int64 // updates that changed the resourceVersion
	falls  atomic.Int64 // True → anything else

	mu        sync.Mutex
	valid     map[string]bool
	nValid    int
	firstTrue time.Time
	allTrueAt time.Time
	// quantiles[i] is when (i+1)×10% of the configurations were True.
	quantiles [10]time.Time
	allTrue   chan struct{} // closed when all n are True
	// waiting[name] receives when the watch first sees name True (expectTrue).
	waiting map[string]chan time.Time
}

// startWatcher starts the informer and waits until it has listed exactly n configurations,
// none of them True yet.
//
// The informer keeps only what the watcher reads (name, resourceVersion, status): at 100,000
// configurations the managed fields and specs would cost the benchmark's own process a few
// hundred MiB on the machine it measures.
func startWatcher(ctx context.Context, client clientset.Interface, namespace string, n int) (*watcher, error) {
	wctx, cancel := context.WithCancel(ctx)
	w := &watcher{n: n, cancel: cancel, done: make(chan struct{}), valid: make(map[string]bool, n), allTrue: make(chan struct{}),
		waiting: map[string]chan time.Time{}}
	factory := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithNamespace(namespace),
		informers.WithTransform(func(obj any) (any, error) {
			if cfg, ok := obj.(*konnectv1alpha1.KonnectAPIAuthConfiguration); ok {
				cfg.ManagedFields, cfg.Annotations, cfg.Labels = nil, nil, nil
				cfg.Spec = konnectv1alpha1.KonnectAPIAuthConfigurationSpec{}
			}
			return obj, nil
		}))
	inf := factory.Konnect().V1alpha1().KonnectAPIAuthConfigurations().Informer()
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) { w.observe(obj.(*konnectv1alpha1.KonnectAPIAuthConfiguration)) },
		UpdateFunc: func(old, cur any) {
			if old.(metav1.Object).GetResourceVersion() != cur.(metav1.Object).GetResourceVersion() {
				w.writes.Add(1)
			}
			w.observe(cur.(*konnectv1alpha1.KonnectAPIAuthConfiguration))
		},
	}); err != nil {
		cancel()
		return nil, err
	}
	go func() {
		defer close(w.done)
		factory.Start(wctx.Done())
		<-wctx.Done()
		factory.Shutdown()
	}()
	if !cache.WaitForCacheSync(wctx.Done(), inf.HasSynced) {
		w.stop()
		return nil, fmt.Errorf("the watch did not sync: %w", context.Cause(ctx))
	}
	if got := len(inf.GetStore().ListKeys()); got != n {
		w.stop()
		return nil, fmt.Errorf("the watch lists %d configurations, want %d", got, n)
	}
	if v := w.validCount(); v != 0 {
		w.stop()
		return nil, fmt.Errorf("%d configurations are True before the controller started", v)
	}
	return w, nil
}

func (w *watcher) stop() {
	w.cancel()
	<-w.done
}

func (w *watcher) observe(cfg *konnectv1alpha1.KonnectAPIAuthConfiguration) {
	cond := framework.APIAuthValid(cfg)
	isTrue := cond != nil && cond.Status == metav1.ConditionTrue
	now := time.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	was := w.valid[cfg.Name]
	w.valid[cfg.Name] = isTrue
	switch {
	case isTrue && !was:
		w.nValid++
		if w.firstTrue.IsZero() {
			w.firstTrue = now
		}
		// Configurations created after convergence (the latency phase) count past n.
		if q := w.nValid*10/w.n - 1; q >= 0 && q < len(w.quantiles) && w.quantiles[q].IsZero() {
			w.quantiles[q] = now
		}
		if ch, ok := w.waiting[cfg.Name]; ok {
			ch <- now // buffered, one send
			delete(w.waiting, cfg.Name)
		}
		if w.nValid == w.n && w.allTrueAt.IsZero() {
			w.allTrueAt = now
			close(w.allTrue)
		}
	case was && !isTrue:
		w.nValid--
		w.falls.Add(1)
	}
}

// expectTrue returns a channel that receives the moment the watch first sees configuration
// name True. Call it before creating name; forget drops the wish.
func (w *watcher) expectTrue(name string) <-chan time.Time {
	ch := make(chan time.Time, 1)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.waiting[name] = ch
	return ch
}

func (w *watcher) forget(name string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.waiting, name)
}

func (w *watcher) validCount() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.nValid
}

func (w *watcher) firstTrueAt() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.firstTrue
}

// progress says when 10%, 20%, … 100% of the configurations were True, in seconds after t0.
func (w *watcher) progress(t0 time.Time) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var parts []string
	for i, at := range w.quantiles {
		if at.IsZero() {
			continue
		}
		parts = append(parts, fmt.Sprintf("%d%%:%.1fs", (i+1)*10, at.Sub(t0).Seconds()))
	}
	return strings.Join(parts, " ")
}

// steadyRate is the configurations per second between 10% and 90% True: the rate once the
// controller is up and before the tail, or 0 if unknown.
func (w *watcher) steadyRate() float64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	from, to := w.quantiles[0], w.quantiles[8]
	if from.IsZero() || to.IsZero() || !to.After(from) {
		return 0
	}
	return 0.8 * float64(w.n) / to.Sub(from).Seconds()
}
