package objpatch

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestSetCondition(t *testing.T) {
	first := time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC)
	later := first.Add(time.Hour)
	var conditions []metav1.Condition
	cond := metav1.Condition{Type: "Ready", Status: metav1.ConditionFalse, Reason: "NotYet", Message: "wait"}

	if !SetCondition(&conditions, cond, 1, first) {
		t.Fatal("adding a condition reported no change")
	}
	if got := conditions[0]; got.ObservedGeneration != 1 || !got.LastTransitionTime.Time.Equal(first) {
		t.Fatalf("condition = %+v, want generation 1 at %v", got, first)
	}
	if SetCondition(&conditions, cond, 1, later) {
		t.Error("setting the same condition again reported a change")
	}
	if !SetCondition(&conditions, cond, 2, later) {
		t.Error("a new generation reported no change")
	}
	if got := conditions[0]; got.ObservedGeneration != 2 || !got.LastTransitionTime.Time.Equal(first) {
		t.Errorf("condition = %+v: the transition time moved without a status flip", got)
	}
	cond.Status = metav1.ConditionTrue
	if !SetCondition(&conditions, cond, 2, later) {
		t.Error("a status flip reported no change")
	}
	if got := conditions[0]; !got.LastTransitionTime.Time.Equal(later) || len(conditions) != 1 {
		t.Errorf("conditions = %+v, want one, flipped at %v", conditions, later)
	}
}
