package objpatch

import (
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Echoes tells a writer's own status writes apart when the informer brings them back (metadata
// writes are not remembered: a finalizer's echo may be what a reconcile waits for). Every write is
// guarded by the resourceVersion it was decided on (base), and the apiserver answers with the
// resourceVersion it made (result), so an update event from base to result is exactly that
// write and nothing else: the reconcile that made it already knew everything in it. Anyone
// else's change, a spec edit in between or someone rewriting the status, arrives under other
// resource versions and is not an echo.
//
// A loop whose reconciles never wait for their own write to come back (they return when to
// look again) skips these updates instead of re-reconciling every object it has just written:
// after a start with 10,000 objects that is 10,000 reconciles that find nothing to do.
//
// It remembers one write per object, until its echo arrives or a later write replaces it.
type Echoes struct {
	mu     sync.Mutex
	writes map[types.UID]echo
}

type echo struct{ base, result string }

// NewEchoes returns an empty Echoes.
func NewEchoes() *Echoes { return &Echoes{writes: map[types.UID]echo{}} }

// record remembers that the object uid went from resourceVersion base to result by our write.
func (e *Echoes) record(uid types.UID, base, result string) {
	if uid == "" || base == "" || result == "" {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.writes[uid] = echo{base: base, result: result}
}

// Own reports whether the update old → cur is one of our writes coming back, and forgets it.
// A remembered write that an update has gone past (its result is the update's old version) is
// forgotten too: its own event was not delivered (a relist replaced it) and never will be.
func (e *Echoes) Own(old, cur metav1.Object) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	w, ok := e.writes[cur.GetUID()]
	if !ok {
		return false
	}
	own := w.base == old.GetResourceVersion() && w.result == cur.GetResourceVersion()
	if own || w.result == old.GetResourceVersion() {
		delete(e.writes, cur.GetUID())
	}
	return own
}

// Forget drops what is remembered about obj (it was deleted).
func (e *Echoes) Forget(obj metav1.Object) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.writes, obj.GetUID())
}

// Len is the number of writes whose echo has not arrived yet.
func (e *Echoes) Len() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.writes)
}
