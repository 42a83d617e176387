package shared

import (
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// SetCondition sets cond in conditions, stamped with the generation it was decided for and,
// should its status flip, now as its transition time (meta.SetStatusCondition semantics). It
// reports whether anything changed.
func SetCondition(conditions *[]metav1.Condition, cond metav1.Condition, generation int64, now time.Time) (changed bool) {
	cond.ObservedGeneration = generation
	cond.LastTransitionTime = metav1.NewTime(now)
	return meta.SetStatusCondition(conditions, cond)
}
