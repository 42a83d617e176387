package controlplane

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	konnectv1alpha2 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha2"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/controller/loop"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/controller/objpatch"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/konnect"
)

// outcome is what one sync decided about Programmed (and Mirrored).
type outcome struct {
	// keep: a transient failure; the Programmed condition stays as it is if it was True.
	keep    bool
	status  metav1.ConditionStatus
	reason  string
	message string
	// transientErr is the failure behind keep, for the loop's Konnect backoff.
	transientErr error
}

// reconcile brings one control plane in line with Konnect.
func (c *Controller) reconcile(ctx context.Context, key cache.ObjectName) (loop.Result, error) {
	logger := klog.FromContext(ctx)

	cp, err := c.planes.KonnectGatewayControlPlanes(key.Namespace).Get(key.Name)
	if apierrors.IsNotFound(err) {
		logger.V(4).Info("Control plane is gone")
		c.listings.unwatch(key)
		return loop.Result{}, nil
	}
	if err != nil {
		return loop.Result{}, err
	}
	if cp.DeletionTimestamp != nil {
		c.listings.unwatch(key)
		return c.syncDeletion(ctx, cp)
	}

	status := *cp.Status.DeepCopy()
	res := c.resolveAuth(ctx, cp, &status.Conditions)
	var out outcome
	if res.unconfirmed {
		out = transient(errCredentialsUnconfirmed)
	} else if !res.ok {
		out = outcome{status: metav1.ConditionFalse, reason: konnectv1alpha2.ReasonConditionWithStatusFalseExists,
			message: falseConditionsMessage(status.Conditions)}
	} else if org, known := c.tokenOrganization(res); !known && !isMirror(cp) {
		out = transient(errOrganizationUnconfirmed)
	} else if moved := organizationMoved(cp, res.cfg, org); moved != "" && !isMirror(cp) {
		// Never create in an organization other than the one that holds ours.
		out = outcome{status: metav1.ConditionFalse, reason: ReasonOrganizationChanged, message: moved}
	} else {
		status.OrgID = res.cfg.Status.OrganizationID
		if org != "" {
			status.OrgID = org // what Konnect said of the token in hand
		}
		status.ServerURL = res.auth.ServerURL
		if isMirror(cp) {
			out = c.syncMirror(ctx, cp, res.auth, &status)
			// A mirror owns nothing in Konnect: a cleanup finalizer (Kong's, or from when it
			// was something else) has no purpose on it.
			if hasCleanupFinalizer(cp) {
				if cp, err = c.setCleanupFinalizer(ctx, cp, false); err != nil {
					return c.writeFailed(ctx, cp, err)
				}
			}
		} else {
			// The finalizer comes before anything exists in Konnect, so that nothing is ever
			// created there that a deletion could miss.
			if !hasCleanupFinalizer(cp) {
				if cp, err = c.setCleanupFinalizer(ctx, cp, true); err != nil {
					return c.writeFailed(ctx, cp, err)
				}
			}
			out = c.syncOrigin(ctx, cp, res.auth, &status)
		}
	}

	old := meta.FindStatusCondition(cp.Status.Conditions, konnectv1alpha2.ConditionProgrammed)
	switch {
	case out.keep && old != nil && old.Status == metav1.ConditionTrue:
		logger.V(2).Info("Konnect is unavailable; keeping Programmed True", "err", out.transientErr)
	case out.keep:
		c.setCondition(&status.Conditions, cp, konnectv1alpha2.ConditionProgrammed, metav1.ConditionUnknown,
			konnectv1alpha2.ReasonKonnectAPIOpFailed, out.message)
	default:
		c.setCondition(&status.Conditions, cp, konnectv1alpha2.ConditionProgrammed, out.status, out.reason, out.message)
	}

	// In line with Konnect: the account's re-sync looks at it from now on, and queues it only
	// when a listing shows it drifted or gone. A group's members are not in the listing: it
	// reads them itself as often as the listings are taken, its read counted in their share of
	// --konnect-qps. Anything not in line is looked at every sync period. After a transient
	// failure the loop retries with its Konnect backoff (Retry-After honoured).
	next := loop.Result{After: wait.Jitter(c.syncPeriod, syncJitter), Transient: out.transientErr}
	switch inLine := !out.keep && out.status == metav1.ConditionTrue; {
	case inLine && !isGroup(cp):
		c.watch(key, res.auth)
		next = loop.Result{}
	case inLine:
		next.After = wait.Jitter(c.listings.resyncGroup(key), syncJitter)
	default:
		c.listings.unwatch(key)
	}
	return c.finish(ctx, cp, status, next)
}

// finish writes the status if it changed, records the events of its transitions, and returns
// next.
func (c *Controller) finish(ctx context.Context, cp *konnectv1alpha2.KonnectGatewayControlPlane,
	status konnectv1alpha2.KonnectGatewayControlPlaneStatus, next loop.Result) (loop.Result, error) {
	wrote, err := c.planeWriter.StatusIfChanged(ctx, cp, cp.Status, status, func() map[string]any { return statusFields(status) })
	if err != nil {
		return c.writeFailed(ctx, cp, err)
	}
	if !wrote {
		klog.FromContext(ctx).V(4).Info("Status is up to date", "after", next.After)
		return next, nil
	}
	c.events.Transitions(cp, cp.Status.Conditions, status.Conditions)
	return next, nil
}

// writeFailed turns a failed write into the next step: NotFound and Conflict mean the
// informer brings news, and are not counted as failures.
func (c *Controller) writeFailed(ctx context.Context, cp *konnectv1alpha2.KonnectGatewayControlPlane, err error) (loop.Result, error) {
	res, err := objpatch.WriteFailed(ctx, err)
	if err != nil {
		return res, fmt.Errorf("writing %s: %w", klog.KObj(cp), err)
	}
	return res, nil
}

func isMirror(cp *konnectv1alpha2.KonnectGatewayControlPlane) bool {
	return cp.Spec.Source != nil && *cp.Spec.Source == konnectv1alpha2.EntitySourceMirror
}

// syncOrigin creates, re-creates or updates the control plane in Konnect as the spec says.
func (c *Controller) syncOrigin(ctx context.Context, cp *konnectv1alpha2.KonnectGatewayControlPlane, auth konnect.Auth,
	status *konnectv1alpha2.KonnectGatewayControlPlaneStatus) outcome {
	logger := klog.FromContext(ctx)
	if cp.Spec.CreateControlPlaneRequest == nil || cp.Spec.CreateControlPlaneRequest.Name == nil {
		// Admission refuses this; an object stored under an older schema.
		return outcome{status: metav1.ConditionFalse, reason: konnectv1alpha2.ReasonFailedToCreate,
			message: "spec.createControlPlaneRequest.name must be set for an Origin control plane"}
	}
	want := desiredSpec(cp)

	status.ID = c.konnectID(cp)
	var current *konnect.ControlPlane
	if status.ID != "" {
		got, err := c.current(ctx, auth, status.ID)
		switch {
		case err == nil:
			current = got
		case konnect.IsNotFound(err):
			logger.V(2).Info("Control plane is gone from Konnect; creating it again", "id", status.ID)
			c.created.Delete(cp.UID)
			status.ID, status.ClusterType, status.Endpoints = "", "", nil
		case konnect.IsTransient(err):
			return transient(err)
		default:
			return outcome{status: metav1.ConditionFalse, reason: konnectv1alpha2.ReasonKonnectAPIOpFailed, message: err.Error()}
		}
	}

	if current == nil {
		created, out := c.create(ctx, cp, auth, want)
		if created == nil {
			return out
		}
		c.created.Store(cp.UID, created.ID)
		current = created
	}

	if !matches(current, want) {
		updated, err := c.api.UpdateControlPlane(ctx, auth, current.ID, want)
		switch {
		case err == nil:
			logger.V(2).Info("Updated control plane in Konnect", "id", current.ID)
			c.listings.record(auth, current.ID, updated)
			current = updated
		case konnect.IsTransient(err):
			return transient(err)
		case konnect.IsNotFound(err):
			// Deleted between the GET and the PATCH: the next sync re-creates it.
			status.ID = ""
			return transient(err)
		default:
			setFromKonnect(status, current)
			return outcome{status: metav1.ConditionFalse, reason: konnectv1alpha2.ReasonFailedToUpdate,
				message: fmt.Sprintf("Konnect refused the update of control plane %s: %v", current.ID, err)}
		}
	}
	setFromKonnect(status, current)
	if isGroup(cp) {
		if out := c.syncMembers(ctx, cp, auth, status); out != nil {
			return *out
		}
	}
	return outcome{status: metav1.ConditionTrue, reason: konnectv1alpha2.ReasonProgrammed, message: konnectv1alpha2.MessageProgrammed}
}

// syncMirror looks the mirrored control plane up by id; it never writes to Konnect.
func (c *Controller) syncMirror(ctx context.Context, cp *konnectv1alpha2.KonnectGatewayControlPlane, auth konnect.Auth,
	status *konnectv1alpha2.KonnectGatewayControlPlaneStatus) outcome {
	id := ""
	if cp.Spec.Mirror != nil {
		id = string(cp.Spec.Mirror.Konnect.ID)
	}
	setMirrored := func(s metav1.ConditionStatus, reason, message string) {
		c.setCondition(&status.Conditions, cp, konnectv1alpha2.ConditionMirrored, s, reason, message)
	}
	if id == "" {
		msg := "spec.mirror.konnect.id must name the control plane to mirror"
		setMirrored(metav1.ConditionFalse, konnectv1alpha2.ReasonRefInvalid, msg)
		return outcome{status: metav1.ConditionFalse, reason: konnectv1alpha2.ReasonKonnectAPIOpFailed, message: msg}
	}
	look := ctx
	if cp.Status.ID == id {
		look = konnect.Resync(ctx) // a re-sync's look at a mirror already found
	}
	got, err := c.api.GetControlPlane(look, auth, id)
	switch {
	case err == nil:
		setFromKonnect(status, got)
		setMirrored(metav1.ConditionTrue, konnectv1alpha2.ReasonMirrored, konnectv1alpha2.MessageMirrored)
		return outcome{status: metav1.ConditionTrue, reason: konnectv1alpha2.ReasonProgrammed, message: konnectv1alpha2.MessageProgrammed}
	case konnect.IsTransient(err):
		return transient(err)
	case konnect.IsNotFound(err):
		msg := fmt.Sprintf("no control plane with id %s in Konnect", id)
		status.ID, status.ClusterType, status.Endpoints = "", "", nil
		setMirrored(metav1.ConditionFalse, konnectv1alpha2.ReasonKonnectAPIOpFailed, msg)
		return outcome{status: metav1.ConditionFalse, reason: konnectv1alpha2.ReasonKonnectAPIOpFailed, message: msg}
	default:
		setMirrored(metav1.ConditionFalse, konnectv1alpha2.ReasonKonnectAPIOpFailed, err.Error())
		return outcome{status: metav1.ConditionFalse, reason: konnectv1alpha2.ReasonKonnectAPIOpFailed, message: err.Error()}
	}
}

func transient(err error) outcome {
	return outcome{keep: true, transientErr: err, message: "Konnect could not be asked; retrying: " + err.Error()}
}

// falseConditionsMessage names the False conditions that keep the control plane from Konnect.
func falseConditionsMessage(conds []metav1.Condition) string {
	for _, typ := range []string{konnectv1alpha2.ConditionAPIAuthResolvedRef, konnectv1alpha2.ConditionAPIAuthValid} {
		if cond := meta.FindStatusCondition(conds, typ); cond != nil && cond.Status != metav1.ConditionTrue {
			return fmt.Sprintf("%s is %s: %s", typ, cond.Status, cond.Message)
		}
	}
	return "the credentials could not be resolved"
}

// setCondition sets a condition of cp, decided now for its generation.
func (c *Controller) setCondition(conds *[]metav1.Condition, cp *konnectv1alpha2.KonnectGatewayControlPlane,
	typ string, status metav1.ConditionStatus, reason, message string) {
	objpatch.SetCondition(conds, metav1.Condition{Type: typ, Status: status, Reason: reason, Message: message}, cp.Generation, c.clock.Now())
}

// statusFields are the status fields the reconciler owns, for a merge patch: an empty one is
// null, which removes it.
func statusFields(status konnectv1alpha2.KonnectGatewayControlPlaneStatus) map[string]any {
	return map[string]any{
		"id":               objpatch.NullIfEmpty(status.ID),
		"serverURL":        objpatch.NullIfEmpty(status.ServerURL),
		"organizationID":   objpatch.NullIfEmpty(status.OrgID),
		"clusterType":      objpatch.NullIfEmpty(status.ClusterType),
		"konnectEndpoints": objpatch.NullIfNil(status.Endpoints),
		"conditions":       status.Conditions,
	}
}

// setCleanupFinalizer adds or removes the cleanup finalizer, keeping every other writer's. It
// returns the patched object, whose resourceVersion the status write that follows builds on
// (cp itself when there was nothing to change).
func (c *Controller) setCleanupFinalizer(ctx context.Context, cp *konnectv1alpha2.KonnectGatewayControlPlane, present bool) (*konnectv1alpha2.KonnectGatewayControlPlane, error) {
	updated, changed, err := c.planeWriter.SetFinalizer(ctx, cp, konnectv1alpha2.KonnectCleanupFinalizer, present)
	if err != nil || !changed {
		return cp, err
	}
	return updated, nil
}
