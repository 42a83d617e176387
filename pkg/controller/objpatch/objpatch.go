// Package objpatch is the one home of how the reconcilers write objects: a merge patch of the
// status subresource or of metadata (finalizers, annotations), always guarded by the
// resourceVersion the decision was made on, so that a write based on a stale cache fails with a
// Conflict instead of undoing a newer one; "write only if something changed"; conditions; and
// the one rule for when a condition's change is worth an Event (events.go).
package objpatch

import (
	"context"
	"encoding/json"
	"slices"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"

	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/controller/loop"
)

// ConflictRetryDelay is how long to wait before looking again after a write that lost a race
// with another writer: the informer brings the newer object meanwhile.
const ConflictRetryDelay = 250 * time.Millisecond

// Patcher is what every typed client (generated, client-go's, the metadata client) offers for
// one kind in one namespace.
type Patcher[T any] interface {
	Patch(ctx context.Context, name string, pt types.PatchType, data []byte, opts metav1.PatchOptions, subresources ...string) (T, error)
}

// Writer writes one kind's objects as one field manager.
type Writer[T any] struct {
	// Client returns the kind's client in a namespace.
	Client func(namespace string) Patcher[T]
	// FieldManager names the writer in managedFields.
	FieldManager string
}

// NewWriter is a Writer through a typed client's per-namespace constructor, e.g.
// NewWriter[*v1alpha1.KonnectAPIAuthConfiguration](name, crdClient.KonnectV1alpha1().KonnectAPIAuthConfigurations).
func NewWriter[T any, P Patcher[T]](fieldManager string, client func(namespace string) P) Writer[T] {
	return Writer[T]{FieldManager: fieldManager, Client: func(ns string) Patcher[T] { return client(ns) }}
}

// Status merge-patches the status subresource of obj with status, a map of the status fields
// this writer owns (nil values clear a field: omitempty would leave it in place).
func (w Writer[T]) Status(ctx context.Context, obj metav1.Object, status map[string]any) error {
	_, err := w.patch(ctx, obj, map[string]any{"status": status}, "status")
	return err
}

// StatusIfChanged writes status (built by fields) only when want differs from have; it reports
// whether it wrote.
func (w Writer[T]) StatusIfChanged(ctx context.Context, obj metav1.Object, have, want any, fields func() map[string]any) (bool, error) {
	if equality.Semantic.DeepEqual(have, want) {
		return false, nil
	}
	if ctx.Err() != nil {
		// The run ended (SIGTERM or a lost Lease): another replica may be leading now.
		return false, ctx.Err()
	}
	return true, w.Status(ctx, obj, fields())
}

// Metadata merge-patches obj's metadata with fields (finalizers, annotations) and returns the
// object as the apiserver now holds it.
func (w Writer[T]) Metadata(ctx context.Context, obj metav1.Object, fields map[string]any) (T, error) {
	return w.patch(ctx, obj, map[string]any{"metadata": fields})
}

// SetFinalizer adds finalizer to obj or removes it, keeping every other writer's. It returns
// the patched object and true, or obj's zero T and false when there was nothing to change (or
// when obj is being deleted: it cannot take a new finalizer).
func (w Writer[T]) SetFinalizer(ctx context.Context, obj metav1.Object, finalizer string, present bool) (T, bool, error) {
	var zero T
	has := slices.Contains(obj.GetFinalizers(), finalizer)
	if has == present || (present && obj.GetDeletionTimestamp() != nil) {
		return zero, false, nil
	}
	finalizers := slices.DeleteFunc(slices.Clone(obj.GetFinalizers()), func(f string) bool { return f == finalizer })
	if present {
		finalizers = append(finalizers, finalizer)
	}
	var value any = finalizers
	if len(finalizers) == 0 {
		value = nil // null: removes the field
	}
	updated, err := w.Metadata(ctx, obj, map[string]any{"finalizers": value})
	if err != nil {
		return zero, false, err
	}
	klog.FromContext(ctx).V(2).Info("Set a finalizer", "finalizer", finalizer, "present", present)
	return updated, true, nil
}

func (w Writer[T]) patch(ctx context.Context, obj metav1.Object, patch map[string]any, subresources ...string) (T, error) {
	metadata, _ := patch["metadata"].(map[string]any)
	if metadata == nil {
		metadata = map[string]any{}
		patch["metadata"] = metadata
	}
	metadata["resourceVersion"] = obj.GetResourceVersion()
	data, err := json.Marshal(patch)
	if err != nil {
		var zero T
		return zero, err
	}
	return w.Client(obj.GetNamespace()).Patch(ctx, obj.GetName(), types.MergePatchType, data,
		metav1.PatchOptions{FieldManager: w.FieldManager}, subresources...)
}

// WriteFailed turns a failed write into the loop's next step: NotFound (the object is gone)
// and Conflict (another writer was first; the informer brings the newer object) are not
// failures and do not count towards the key's backoff; anything else is.
func WriteFailed(ctx context.Context, err error) (loop.Result, error) {
	logger := klog.FromContext(ctx)
	switch {
	case apierrors.IsNotFound(err):
		logger.V(4).Info("The object was deleted while reconciling")
		return loop.Result{}, nil
	case apierrors.IsConflict(err):
		logger.V(4).Info("A write lost a race; looking again")
		return loop.Result{After: ConflictRetryDelay}, nil
	}
	return loop.Result{}, err
}

// NullIfEmpty is s, or JSON null (which a merge patch reads as "remove") when s is empty.
func NullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// NullIfNil is p, or JSON null when p is nil (a typed nil pointer would marshal as null too,
// but only once boxed the right way; this says it).
func NullIfNil[T any](p *T) any {
	if p == nil {
		return nil
	}
	return p
}

// SetCondition sets cond in conditions, stamped with the generation it was decided for and,
// should its status flip, now as its transition time (meta.SetStatusCondition semantics). It
// reports whether anything changed.
func SetCondition(conditions *[]metav1.Condition, cond metav1.Condition, generation int64, now time.Time) (changed bool) {
	cond.ObservedGeneration = generation
	cond.LastTransitionTime = metav1.NewTime(now)
	return meta.SetStatusCondition(conditions, cond)
}
