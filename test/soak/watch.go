package soak

// The watcher: informers on the three kinds with conditions record every condition that turns
// from True to False, and classify it at once, while the world that explains it is still
// there. A sampler looks at every object's chain of dependencies once a second and remembers
// when each was last broken (a token revoked, a grant revoked, a Secret or a configuration
// deleted, a name taken, a mirrored control plane gone...). A flip is legitimate when the
// object is being deleted, or its chain is broken now or was within the window before (the
// controller may learn of a break late: a revoked token at the next re-validation); it is
// false otherwise — a transient fault, a restart or a failover turned it, also when something
// on the chain changed without breaking it (a token rotated to another valid one: only
// Konnect's availability stood between the object and its verdict).

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"

	konnectv1alpha1 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha1"
	konnectv1alpha2 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha2"
	informers "github.com/konnect-auth-controller/konnect-auth-controller/pkg/generated/informers/externalversions"
)

// flip is a condition that turned from True to False.
type flip struct {
	At                    time.Time
	Kind                  string
	Namespace, Name, UID  string
	Type, Reason, Message string
	// Legit and Why are the classification: why it is legitimate, or what was going on when
	// it was not (the faults and kills around it).
	Legit bool
	Why   string
	// Keys are the journal keys of the object's chain.
	Keys []string
}

// watcher records and classifies flips.
type watcher struct {
	window   time.Duration
	j        *journal
	viewFunc func(context.Context) (*View, error)

	pending chan flip
	// poke asks the sampler to look now (after a change), not only once a second.
	poke chan struct{}

	mu            sync.Mutex
	flips         []flip
	trueToUnknown int
	transitions   int
	// lastBroken is when the sampler last saw each object's chain broken, by UID, and why.
	lastBroken map[string]brokenAt
}

// brokenAt is when an object's chain was last seen broken, and why.
type brokenAt struct {
	At  time.Time
	Why string
}

func newWatcher(j *journal, window time.Duration, viewFunc func(context.Context) (*View, error)) *watcher {
	return &watcher{window: window, j: j, viewFunc: viewFunc, pending: make(chan flip, 10000), poke: make(chan struct{}, 1), lastBroken: map[string]brokenAt{}}
}

// start runs the informers and the classifier until ctx ends, and waits for the caches.
func (w *watcher) start(ctx context.Context, factory informers.SharedInformerFactory) error {
	handler := func(kind string) cache.ResourceEventHandlerFuncs {
		return cache.ResourceEventHandlerFuncs{UpdateFunc: func(oldObj, newObj any) {
			o, ok1 := oldObj.(metav1.Object)
			n, ok2 := newObj.(metav1.Object)
			if !ok1 || !ok2 || o.GetUID() != n.GetUID() {
				return
			}
			w.compare(kind, n, conditionsOf(oldObj), conditionsOf(newObj))
		}}
	}
	k := factory.Konnect()
	for kind, inf := range map[string]cache.SharedIndexInformer{
		"KonnectAPIAuthConfiguration": k.V1alpha1().KonnectAPIAuthConfigurations().Informer(),
		"KonnectGatewayControlPlane":  k.V1alpha2().KonnectGatewayControlPlanes().Informer(),
		"KonnectExtension":            k.V1alpha2().KonnectExtensions().Informer(),
	} {
		if _, err := inf.AddEventHandler(handler(kind)); err != nil {
			return err
		}
	}
	factory.Start(ctx.Done())
	for typ, ok := range factory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return fmt.Errorf("watcher: the %v cache did not sync", typ)
		}
	}
	go w.classifyLoop(ctx)
	go w.sampleLoop(ctx)
	return nil
}

// sampleLoop records, once a second until ctx ends, which objects' chains are broken.
func (w *watcher) sampleLoop(ctx context.Context) {
	for {
		if v, err := w.viewFunc(ctx); err == nil {
			w.sample(v, time.Now())
		}
		select {
		case <-ctx.Done():
			return
		case <-w.poke:
		case <-time.After(time.Second):
		}
	}
}

// changed tells the sampler that something changed: it looks again at once.
func (w *watcher) changed() {
	select {
	case w.poke <- struct{}{}:
	default:
	}
}

// sample records the objects of v whose chain is broken at now.
func (w *watcher) sample(v *View, now time.Time) {
	broken := map[string]string{}
	for _, cfg := range v.Configs {
		if c := v.config(cfg.Namespace, cfg.Name); !c.OK {
			broken[string(cfg.UID)] = c.Why
		}
	}
	for _, p := range v.Planes {
		if c := v.plane(p); !c.OK {
			broken[string(p.UID)] = c.Why
		}
	}
	for _, e := range v.Exts {
		if c, _ := v.ext(e); !c.OK {
			broken[string(e.UID)] = c.Why
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for uid, why := range broken {
		w.lastBroken[uid] = brokenAt{At: now, Why: why}
	}
}

// brokenSince returns when uid's chain was last seen broken, if it was.
func (w *watcher) brokenSince(uid string) (brokenAt, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	b, ok := w.lastBroken[uid]
	return b, ok
}

func conditionsOf(obj any) []metav1.Condition {
	switch o := obj.(type) {
	case *konnectv1alpha1.KonnectAPIAuthConfiguration:
		return o.Status.Conditions
	case *konnectv1alpha2.KonnectGatewayControlPlane:
		return o.Status.Conditions
	case *konnectv1alpha2.KonnectExtension:
		return o.Status.Conditions
	}
	return nil
}

// compare records the transitions between two versions' conditions and queues the flips.
func (w *watcher) compare(kind string, obj metav1.Object, old, cur []metav1.Condition) {
	now := time.Now()
	for _, c := range cur {
		was := conditionStatus(old, c.Type)
		if was == c.Status || was == "" {
			continue
		}
		w.mu.Lock()
		w.transitions++
		if was == metav1.ConditionTrue && c.Status == metav1.ConditionUnknown {
			w.trueToUnknown++
		}
		w.mu.Unlock()
		if was == metav1.ConditionTrue && c.Status == metav1.ConditionUnknown {
			// Not a violation (the checks are about False), but worth seeing in the history.
			w.j.add(kindFlip, []string{keyUID(string(obj.GetUID())), kindKey(kind, obj.GetNamespace(), obj.GetName())},
				"%s %s/%s %s True→Unknown (%s: %.120q)", kind, obj.GetNamespace(), obj.GetName(), c.Type, c.Reason, c.Message)
		}
		if was != metav1.ConditionTrue || c.Status != metav1.ConditionFalse {
			continue
		}
		f := flip{At: now, Kind: kind, Namespace: obj.GetNamespace(), Name: obj.GetName(), UID: string(obj.GetUID()),
			Type: c.Type, Reason: c.Reason, Message: c.Message}
		if obj.GetDeletionTimestamp() != nil {
			f.Legit, f.Why = true, "the object is being deleted"
			w.record(f)
			continue
		}
		select {
		case w.pending <- f:
		default:
			f.Legit, f.Why = true, "not classified: the classifier's queue was full"
			w.record(f)
		}
	}
}

// classifyLoop classifies queued flips in batches, one View per batch.
func (w *watcher) classifyLoop(ctx context.Context) {
	for {
		var batch []flip
		select {
		case <-ctx.Done():
			return
		case f := <-w.pending:
			batch = append(batch, f)
		}
	drain:
		for {
			select {
			case f := <-w.pending:
				batch = append(batch, f)
			default:
				break drain
			}
		}
		v, err := w.viewFunc(ctx)
		for _, f := range batch {
			if err != nil {
				f.Legit, f.Why = true, "not classified: "+err.Error()
			} else {
				classifyFlip(v, w.j, w.brokenSince, &f, w.window)
			}
			w.record(f)
		}
	}
}

// drain classifies what is still queued (before the oracle runs).
func (w *watcher) drain(ctx context.Context) {
	deadline := time.Now().Add(30 * time.Second)
	for len(w.pending) > 0 && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond) // the batch in progress
}

func (w *watcher) record(f flip) {
	w.mu.Lock()
	w.flips = append(w.flips, f)
	w.mu.Unlock()
	verdict := "legitimate"
	if !f.Legit {
		verdict = "FALSE"
	}
	w.j.add(kindFlip, []string{keyUID(f.UID), kindKey(f.Kind, f.Namespace, f.Name)},
		"%s %s/%s %s True→False (%s: %.120q) — %s: %s", f.Kind, f.Namespace, f.Name, f.Type, f.Reason, f.Message, verdict, f.Why)
}

// Flips returns the flips classified so far.
func (w *watcher) Flips() []flip {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]flip(nil), w.flips...)
}

func (w *watcher) stats() (transitions, trueToUnknown int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.transitions, w.trueToUnknown
}

func kindKey(kind, ns, name string) string { return kind + "/" + ns + "/" + name }

// classifyFlip decides whether a flip is legitimate, from the View at the time, when the
// object's chain was last seen broken, and (to say what happened) the journal.
func classifyFlip(v *View, j *journal, brokenSince func(uid string) (brokenAt, bool), f *flip, window time.Duration) {
	var c chain
	switch f.Kind {
	case "KonnectAPIAuthConfiguration":
		cfg := v.Configs[nsName(f.Namespace, f.Name)]
		if cfg == nil || string(cfg.UID) != f.UID || cfg.DeletionTimestamp != nil {
			f.Legit, f.Why = true, "the object is gone or being deleted"
			return
		}
		c = v.config(f.Namespace, f.Name)
	case "KonnectGatewayControlPlane":
		p := v.Planes[nsName(f.Namespace, f.Name)]
		if p == nil || string(p.UID) != f.UID || p.DeletionTimestamp != nil {
			f.Legit, f.Why = true, "the object is gone or being deleted"
			return
		}
		c = v.plane(p)
	case "KonnectExtension":
		e := v.Exts[nsName(f.Namespace, f.Name)]
		if e == nil || string(e.UID) != f.UID || e.DeletionTimestamp != nil {
			f.Legit, f.Why = true, "the object is gone or being deleted"
			return
		}
		c, _ = v.ext(e)
	default:
		f.Legit, f.Why = true, "unknown kind"
		return
	}
	f.Keys = c.Keys
	if ns := v.Namespaces[f.Namespace]; ns == nil || ns.DeletionTimestamp != nil {
		f.Legit, f.Why = true, "its namespace is being deleted"
		return
	}
	if !c.OK {
		f.Legit, f.Why = true, "its chain is broken: "+c.Why
		return
	}
	if b, ok := brokenSince(f.UID); ok && !b.At.Before(f.At.Add(-window)) {
		f.Legit, f.Why = true, fmt.Sprintf("its chain was broken %.1fs before: %s", f.At.Sub(b.At).Seconds(), b.Why)
		return
	}
	changed := "nothing on its chain changed"
	if e, ok := j.lastCause(c.Keys, f.At.Add(-window)); ok {
		changed = fmt.Sprintf("its chain changed without breaking %.1fs before (%s)", f.At.Sub(e.At).Seconds(), e.Text)
	}
	var around []string
	for _, e := range j.between(f.At.Add(-window), f.At, kindFault, kindKill) {
		around = append(around, fmt.Sprintf("%.1fs before: %s", f.At.Sub(e.At).Seconds(), e.Text))
	}
	f.Why = fmt.Sprintf("its chain is healthy and was not seen broken in the %v before; %s; faults and kills then: [%s]",
		window, changed, strings.Join(around, "; "))
}
