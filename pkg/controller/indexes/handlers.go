// Package indexes holds what the reconcilers share about informers: the indexes more than one of
// them reads (by auth reference), the event handlers' common shape (tombstones unwrapped,
// unchanged updates skipped), and the transform that keeps the caches small.
package indexes

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
)

// OnChange returns event handlers that call enqueue with the object when it is added or deleted
// (a deletion's tombstone unwrapped), and with both versions when an update changed it: what
// the old version referred to may need work too. A relist after a broken watch delivers
// unchanged objects again; those need none.
func OnChange(enqueue func(objs ...any)) cache.ResourceEventHandlerFuncs {
	return OnChangeIf(enqueue, nil)
}

// OnChangeIf is OnChange where matters, if set, decides which updates need work instead of the
// resource version (those that changed a reference or the deletion, say, and not a status
// write; a relist changes neither).
func OnChangeIf(enqueue func(objs ...any), matters func(old, cur metav1.Object) bool) cache.ResourceEventHandlerFuncs {
	return cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) { enqueue(obj) },
		UpdateFunc: func(old, cur any) {
			o, ok1 := old.(metav1.Object)
			c, ok2 := cur.(metav1.Object)
			if !ok1 || !ok2 {
				enqueue(old, cur)
				return
			}
			if matters == nil && o.GetResourceVersion() == c.GetResourceVersion() || matters != nil && !matters(o, c) {
				return
			}
			enqueue(old, cur)
		},
		DeleteFunc: func(obj any) { enqueue(Untombstone(obj)) },
	}
}

// Each adapts a function of one object to OnChange: it is called once per version.
func Each(f func(obj metav1.Object)) func(objs ...any) {
	return func(objs ...any) {
		for _, obj := range objs {
			if o, ok := Untombstone(obj).(metav1.Object); ok {
				f(o)
			}
		}
	}
}

// Untombstone returns the last known state a deletion tombstone holds, or obj.
func Untombstone(obj any) any {
	if tombstone, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		return tombstone.Obj
	}
	return obj
}
