package controlplane

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/klog/v2"

	konnectv1alpha2 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha2"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/controller/loop"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/konnect"
)

// syncDeletion deletes an Origin's control plane from Konnect, then releases the object. A
// Konnect that is down, or credentials that no longer work, delay the deletion; they never
// let the finalizer go with the control plane still in Konnect.
func (c *Controller) syncDeletion(ctx context.Context, cp *konnectv1alpha2.KonnectGatewayControlPlane) (loop.Result, error) {
	logger := klog.FromContext(ctx)
	if !hasCleanupFinalizer(cp) {
		return loop.Result{}, nil
	}
	if isMirror(cp) {
		return c.releaseCleanup(ctx, cp)
	}
	if cp.Annotations[konnectv1alpha2.SkipCleanupAnnotation] == "true" {
		logger.Info("Released without deleting the control plane from Konnect, as the annotation asks", "id", cp.Status.ID)
		c.events.Eventf(cp, corev1.EventTypeWarning, "CleanupSkipped",
			"Released without deleting control plane %q from Konnect (annotation %s): delete it there by hand if it is not wanted",
			cp.Status.ID, konnectv1alpha2.SkipCleanupAnnotation)
		return c.releaseCleanup(ctx, cp)
	}
	id := c.konnectID(cp)

	status := *cp.Status.DeepCopy()
	res := c.resolveAuth(ctx, cp, &status.Conditions)
	waiting := func(reason, why string) (loop.Result, error) {
		c.setCondition(&status.Conditions, cp, konnectv1alpha2.ConditionProgrammed, metav1.ConditionFalse, reason,
			why+"; to release this object without deleting its control plane in Konnect, annotate it "+konnectv1alpha2.SkipCleanupAnnotation+"=true")
		return c.finish(ctx, cp, status, loop.Result{After: wait.Jitter(c.syncPeriod, syncJitter)})
	}
	if res.unconfirmed {
		return loop.Result{Transient: errCredentialsUnconfirmed}, nil
	}
	if !res.ok {
		// The finalizer was added only once the credentials worked, just before a create: one
		// may have reached Konnect even with no id recorded (its answer lost, or a crash), so
		// the deletion waits for credentials to look.
		what := "control plane " + id
		if id == "" {
			what = "a control plane this object may have created"
		}
		return waiting(konnectv1alpha2.ReasonConditionWithStatusFalseExists, fmt.Sprintf("%s cannot be deleted from Konnect until the credentials work: %s", what, falseConditionsMessage(status.Conditions)))
	}
	org, known := c.tokenOrganization(res)
	if !known {
		return loop.Result{Transient: errOrganizationUnconfirmed}, nil
	}
	if moved := organizationMoved(cp, res.cfg, org); moved != "" {
		return waiting(ReasonDeletionWaiting, moved)
	}
	if id == "" {
		// No id recorded: a create whose answer or status write was lost may still have made
		// one. Our k8s-uid label finds it.
		own, err := c.ownInKonnect(ctx, cp, res.auth)
		if err != nil {
			return c.deletionFailed(ctx, cp, status, err)
		}
		if own != nil {
			id = own.ID
		}
		if id == "" {
			return c.releaseCleanup(ctx, cp)
		}
	}

	// Konnect deletes no group that has members; they stay in Konnect.
	if isGroup(cp) {
		if err := c.emptyGroup(ctx, res.auth, id); konnect.IsTransient(err) || konnect.KindOf(err) == konnect.ErrorUnauthorized {
			return c.deletionFailed(ctx, cp, status, err)
		}
	}
	err := c.api.DeleteControlPlane(ctx, res.auth, id)
	if konnect.IsConflict(err) {
		// A member of a group: its groups drop it now that it is being deleted (the members
		// index re-queued them), and re-queue it when they have.
		return waiting(ReasonDeletionWaiting, c.stillMember(cp, id, err))
	}
	if err != nil && !konnect.IsNotFound(err) {
		return c.deletionFailed(ctx, cp, status, err)
	}
	c.listings.record(res.auth, id, nil)
	c.uncertain.Delete(cp.UID)
	logger.V(2).Info("Deleted control plane from Konnect", "id", id, "alreadyGone", err != nil)
	c.created.Delete(cp.UID)
	return c.releaseCleanup(ctx, cp)
}

// releaseCleanup removes the cleanup finalizer: nothing of cp is left in Konnect.
func (c *Controller) releaseCleanup(ctx context.Context, cp *konnectv1alpha2.KonnectGatewayControlPlane) (loop.Result, error) {
	if _, err := c.setCleanupFinalizer(ctx, cp, false); err != nil {
		return c.writeFailed(ctx, cp, err)
	}
	return loop.Result{}, nil
}

// deletionFailed keeps the finalizer after a failed Konnect call of a deletion: a transient
// failure is retried with the loop's Konnect backoff (Retry-After honoured); a definitive one
// is reported in Programmed and retried at the sync period.
func (c *Controller) deletionFailed(ctx context.Context, cp *konnectv1alpha2.KonnectGatewayControlPlane,
	status konnectv1alpha2.KonnectGatewayControlPlaneStatus, err error) (loop.Result, error) {
	if konnect.IsTransient(err) {
		klog.FromContext(ctx).V(2).Info("Deleting control plane from Konnect failed transiently; keeping the finalizer", "err", err)
		return loop.Result{Transient: err}, nil
	}
	c.setCondition(&status.Conditions, cp, konnectv1alpha2.ConditionProgrammed, metav1.ConditionFalse, konnectv1alpha2.ReasonKonnectAPIOpFailed,
		fmt.Sprintf("deleting control plane %s from Konnect failed; the object is kept until it succeeds: %v; to release this object without deleting its control plane in Konnect, annotate it %s=true",
			cp.Status.ID, err, konnectv1alpha2.SkipCleanupAnnotation))
	return c.finish(ctx, cp, status, loop.Result{After: wait.Jitter(c.syncPeriod, syncJitter)})
}

// ReasonDeletionWaiting: the object is being deleted and waits for what it made in Konnect to be
// deleted; the message says why it cannot be yet and what the user can do (Programmed False).
const ReasonDeletionWaiting = "DeletionWaiting"
