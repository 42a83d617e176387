package objpatch

import (
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/record"
)

// Reasons that say "not there yet" rather than "something is wrong": a condition that turns
// False for one of them is progress (a control plane not Programmed yet while it is being
// created), and is not announced unless it was True before.
const (
	reasonPending      = "Pending"
	reasonProvisioning = "Provisioning"
)

// Events records a kind's Events under the one rule for all kinds: an Event only on a
// transition a person should hear about, never per sync, and never for what merely starts up.
//
//   - Warning when a condition turns False (or changes its False reason), unless it only waits
//     (Pending, Provisioning) and was not True before; and when True turns Unknown;
//   - Normal when a condition turns True after being False or Unknown — not after the CRD's
//     initial Unknown/Pending, and not the first time it is decided: a first True is in the
//     status already.
//
// Ten thousand objects created together therefore write no Event when all goes well; client-go's
// recorder queues at most 1,000 and drops the rest at random, which would lose the ones that
// matter.
type Events struct {
	record.EventRecorder
	// announced are the condition types whose transitions are recorded; empty: all of them.
	announced []string
}

// NewEvents records through rec the transitions of the announced condition types (all when
// none are named).
func NewEvents(rec record.EventRecorder, announced ...string) Events {
	return Events{EventRecorder: rec, announced: announced}
}

// Transitions records the Events that going from the conditions before to those after calls
// for.
func (e Events) Transitions(obj runtime.Object, before, after []metav1.Condition) {
	for _, cur := range after {
		if len(e.announced) > 0 && !slices.Contains(e.announced, cur.Type) {
			continue
		}
		eventType, ok := Announce(meta.FindStatusCondition(before, cur.Type), &cur)
		if !ok {
			continue
		}
		message := cur.Message
		if message == "" {
			// Kong's wording of some True conditions is empty (Programmed, Mirrored).
			message = cur.Reason
		}
		if len(e.announced) != 1 {
			message = cur.Type + ": " + message
		}
		e.Event(obj, eventType, cur.Reason, message)
	}
}

// Announce says whether the change of a condition from old (nil: never decided) to cur is
// worth an Event, and of which type.
func Announce(old, cur *metav1.Condition) (eventType string, ok bool) {
	if cur == nil || (old != nil && old.Status == cur.Status && old.Reason == cur.Reason) {
		return "", false
	}
	wasTrue := old != nil && old.Status == metav1.ConditionTrue
	switch cur.Status {
	case metav1.ConditionFalse:
		if wasTrue || (cur.Reason != reasonPending && cur.Reason != reasonProvisioning) {
			return corev1.EventTypeWarning, true
		}
	case metav1.ConditionUnknown:
		if wasTrue {
			return corev1.EventTypeWarning, true
		}
	case metav1.ConditionTrue:
		initial := old == nil || (old.Status == metav1.ConditionUnknown && old.Reason == reasonPending)
		if !wasTrue && !initial {
			return corev1.EventTypeNormal, true
		}
	}
	return "", false
}
