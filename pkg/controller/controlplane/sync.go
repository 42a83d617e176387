package controlplane

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	konnectv1alpha2 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha2"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/konnect"
)

// outcome is what one sync decided about Programmed (and Mirrored), and when to look again.
type outcome struct {
	// keep: a transient failure; the Programmed condition stays as it is if it was True.
	keep    bool
	status  metav1.ConditionStatus
	reason  string
	message string
	// transientErr is the failure behind keep, for the backoff.
	transientErr error
}

// sync brings one control plane in line with Konnect. It returns when to look again.
func (c *Controller) sync(ctx context.Context, key cache.ObjectName) (time.Duration, error) {
	logger := klog.FromContext(ctx).WithValues("konnectGatewayControlPlane", klog.KRef(key.Namespace, key.Name))
	ctx = klog.NewContext(ctx, logger)
	start := c.clock.Now()
	logger.V(4).Info("Started syncing")
	defer func() { logger.V(4).Info("Finished syncing", "duration", c.clock.Since(start)) }()

	cp, err := c.planes.KonnectGatewayControlPlanes(key.Namespace).Get(key.Name)
	if apierrors.IsNotFound(err) {
		logger.V(4).Info("Control plane is gone")
		c.konnectBackoff.Forget(key)
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	if cp.DeletionTimestamp != nil {
		return c.syncDeletion(ctx, cp)
	}

	status := *cp.Status.DeepCopy()
	res := c.resolveAuth(ctx, cp, &status.Conditions)
	var out outcome
	if !res.ok {
		out = outcome{status: metav1.ConditionFalse, reason: konnectv1alpha2.ReasonConditionWithStatusFalseExists,
			message: falseConditionsMessage(status.Conditions)}
	} else {
		status.OrgID = res.cfg.Status.OrganizationID
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
		setCondition(&status.Conditions, konnectv1alpha2.ConditionProgrammed, metav1.ConditionUnknown,
			konnectv1alpha2.ReasonKonnectAPIOpFailed, out.message, cp.Generation, c.clock.Now())
	default:
		setCondition(&status.Conditions, konnectv1alpha2.ConditionProgrammed, out.status, out.reason, out.message, cp.Generation, c.clock.Now())
	}

	after := wait.Jitter(c.syncPeriod, syncJitter)
	if out.keep {
		after = max(c.konnectBackoff.When(key), konnect.RetryAfterOf(out.transientErr))
		logger.V(4).Info("Konnect call failed transiently; retrying", "after", after, "err", out.transientErr)
	} else {
		c.konnectBackoff.Forget(key)
	}
	return c.finish(ctx, cp, status, after)
}

// finish writes the status if it changed, records the events of its transitions, and returns
// after.
func (c *Controller) finish(ctx context.Context, cp *konnectv1alpha2.KonnectGatewayControlPlane,
	status konnectv1alpha2.KonnectGatewayControlPlaneStatus, after time.Duration) (time.Duration, error) {
	logger := klog.FromContext(ctx)
	if equality.Semantic.DeepEqual(cp.Status, status) {
		logger.V(4).Info("Status is up to date", "after", after)
		return after, nil
	}
	if ctx.Err() != nil {
		return 0, ctx.Err()
	}
	if err := c.writeStatus(ctx, cp, status); err != nil {
		return c.writeFailed(ctx, cp, err)
	}
	c.recordTransitions(cp, cp.Status.Conditions, status.Conditions)
	return after, nil
}

// writeFailed turns a failed write into the next step: NotFound and Conflict mean the
// informer brings news, and are not counted as failures.
func (c *Controller) writeFailed(ctx context.Context, cp *konnectv1alpha2.KonnectGatewayControlPlane, err error) (time.Duration, error) {
	logger := klog.FromContext(ctx)
	switch {
	case apierrors.IsNotFound(err):
		logger.V(4).Info("Control plane was deleted while syncing")
		return 0, nil
	case apierrors.IsConflict(err):
		logger.V(4).Info("Write lost a race; syncing again")
		return conflictRetryDelay, nil
	}
	return 0, fmt.Errorf("writing %s: %w", klog.KObj(cp), err)
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
		got, err := c.api.GetControlPlane(ctx, auth, status.ID)
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
	return outcome{status: metav1.ConditionTrue, reason: konnectv1alpha2.ReasonProgrammed,
		message: fmt.Sprintf("Control plane %s is programmed in Konnect", current.ID)}
}

// nameTaken is the outcome of a create refused because another control plane has the name.
func nameTaken(name string) outcome {
	return outcome{status: metav1.ConditionFalse, reason: konnectv1alpha2.ReasonFailedToCreate,
		message: fmt.Sprintf("a control plane named %q already exists in Konnect and was not created by this object: "+
			"choose another spec.createControlPlaneRequest.name, or mirror it (spec.source: Mirror)", name)}
}

// refusedForName reports whether the last create of this generation was refused because the
// name was taken.
func refusedForName(cp *konnectv1alpha2.KonnectGatewayControlPlane) bool {
	cond := meta.FindStatusCondition(cp.Status.Conditions, konnectv1alpha2.ConditionProgrammed)
	return cond != nil && cond.Status == metav1.ConditionFalse && cond.Reason == konnectv1alpha2.ReasonFailedToCreate &&
		cond.ObservedGeneration == cp.Generation && strings.Contains(cond.Message, "already exists in Konnect")
}

// konnectID is the id of cp's control plane in Konnect: the one this process created or
// adopted for it, until the informer's copy of cp records it in status.id; else status.id.
func (c *Controller) konnectID(cp *konnectv1alpha2.KonnectGatewayControlPlane) string {
	v, ok := c.created.Load(cp.UID)
	if !ok {
		return cp.Status.ID
	}
	id := v.(string)
	if id == cp.Status.ID {
		c.created.Delete(cp.UID) // the status says it now
	}
	return id
}

// create creates the control plane, or adopts the one this object created before (a 409 on
// a name that our own k8s-uid label carries: the answer to an earlier create was lost).
func (c *Controller) create(ctx context.Context, cp *konnectv1alpha2.KonnectGatewayControlPlane, auth konnect.Auth,
	want konnect.ControlPlaneSpec) (*konnect.ControlPlane, outcome) {
	logger := klog.FromContext(ctx)
	if refusedForName(cp) {
		// The last create of this generation found the name taken: look (a read) before
		// sending the same POST again every sync period.
		taken, err := c.api.ListControlPlanes(ctx, auth, konnect.ControlPlaneFilter{Name: want.Name})
		switch {
		case konnect.IsTransient(err):
			return nil, transient(err)
		case err == nil && len(taken) > 0 && taken[0].Labels[labelUID] != string(cp.UID):
			return nil, nameTaken(want.Name)
		}
	}
	created, err := c.api.CreateControlPlane(ctx, auth, want)
	switch {
	case err == nil:
		logger.V(2).Info("Created control plane in Konnect", "id", created.ID, "name", want.Name)
		return created, outcome{}
	case konnect.IsTransient(err):
		return nil, transient(err)
	case konnect.IsConflict(err):
		own, err := c.api.ListControlPlanes(ctx, auth, konnect.ControlPlaneFilter{Labels: map[string]string{labelUID: string(cp.UID)}})
		if err != nil {
			if konnect.IsTransient(err) {
				return nil, transient(err)
			}
			return nil, outcome{status: metav1.ConditionFalse, reason: konnectv1alpha2.ReasonKonnectAPIOpFailed, message: err.Error()}
		}
		for i := range own {
			if own[i].Labels[labelUID] == string(cp.UID) {
				logger.V(2).Info("Adopted the control plane this object created before", "id", own[i].ID)
				return &own[i], outcome{}
			}
		}
		return nil, nameTaken(want.Name)
	default:
		return nil, outcome{status: metav1.ConditionFalse, reason: konnectv1alpha2.ReasonFailedToCreate,
			message: fmt.Sprintf("Konnect refused to create control plane %q: %v", want.Name, err)}
	}
}

// syncMirror looks the mirrored control plane up by id; it never writes to Konnect.
func (c *Controller) syncMirror(ctx context.Context, cp *konnectv1alpha2.KonnectGatewayControlPlane, auth konnect.Auth,
	status *konnectv1alpha2.KonnectGatewayControlPlaneStatus) outcome {
	id := ""
	if cp.Spec.Mirror != nil {
		id = string(cp.Spec.Mirror.Konnect.ID)
	}
	setMirrored := func(s metav1.ConditionStatus, reason, message string) {
		setCondition(&status.Conditions, konnectv1alpha2.ConditionMirrored, s, reason, message, cp.Generation, c.clock.Now())
	}
	if id == "" {
		msg := "spec.mirror.konnect.id must name the control plane to mirror"
		setMirrored(metav1.ConditionFalse, konnectv1alpha2.ReasonRefInvalid, msg)
		return outcome{status: metav1.ConditionFalse, reason: konnectv1alpha2.ReasonKonnectAPIOpFailed, message: msg}
	}
	got, err := c.api.GetControlPlane(ctx, auth, id)
	switch {
	case err == nil:
		setFromKonnect(status, got)
		setMirrored(metav1.ConditionTrue, konnectv1alpha2.ReasonMirrored, fmt.Sprintf("Control plane %s is mirrored from Konnect", id))
		return outcome{status: metav1.ConditionTrue, reason: konnectv1alpha2.ReasonProgrammed,
			message: fmt.Sprintf("Control plane %s is programmed in Konnect", id)}
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

// setFromKonnect copies what Konnect says about a control plane into the status.
func setFromKonnect(status *konnectv1alpha2.KonnectGatewayControlPlaneStatus, cp *konnect.ControlPlane) {
	status.ID = cp.ID
	status.ClusterType = cp.ClusterType
	status.Endpoints = nil
	if cp.ControlPlaneEndpoint != "" || cp.TelemetryEndpoint != "" {
		status.Endpoints = &konnectv1alpha2.KonnectEndpoints{ControlPlaneEndpoint: cp.ControlPlaneEndpoint, TelemetryEndpoint: cp.TelemetryEndpoint}
	}
}

// desiredSpec is the control plane the spec asks for, with the ownership labels.
func desiredSpec(cp *konnectv1alpha2.KonnectGatewayControlPlane) konnect.ControlPlaneSpec {
	req := cp.Spec.CreateControlPlaneRequest
	spec := konnect.ControlPlaneSpec{Name: *req.Name, CloudGateway: req.CloudGateway, Labels: ownershipLabels(cp)}
	if req.Description != nil {
		spec.Description = *req.Description
	}
	if req.ClusterType != nil {
		spec.ClusterType = string(*req.ClusterType)
	}
	if req.AuthType != nil {
		spec.AuthType = string(*req.AuthType)
	}
	for _, u := range req.ProxyUrls {
		spec.ProxyURLs = append(spec.ProxyURLs, konnect.ProxyURL{Host: u.Host, Port: u.Port, Protocol: u.Protocol})
	}
	return spec
}

// matches reports whether Konnect's control plane has what an update would send: name,
// description, auth_type (when the spec sets one; else Konnect's default stands), proxy_urls
// and labels.
//
// An empty description or proxy_urls in the spec matches anything: Konnect's PATCH (the SDK's
// UpdateControlPlaneRequest) omits empty fields, so it cannot clear them, and comparing them
// would send the same PATCH on every sync.
func matches(cur *konnect.ControlPlane, want konnect.ControlPlaneSpec) bool {
	return cur.Name == want.Name &&
		(want.Description == "" || cur.Description == want.Description) &&
		(want.AuthType == "" || cur.AuthType == want.AuthType) &&
		(len(want.ProxyURLs) == 0 || slices.Equal(cur.ProxyURLs, want.ProxyURLs)) &&
		maps.Equal(nonNil(cur.Labels), nonNil(want.Labels))
}

func nonNil(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

// syncDeletion deletes an Origin's control plane from Konnect, then releases the object. A
// Konnect that is down, or credentials that no longer work, delay the deletion; they never
// let the finalizer go with the control plane still in Konnect.
func (c *Controller) syncDeletion(ctx context.Context, cp *konnectv1alpha2.KonnectGatewayControlPlane) (time.Duration, error) {
	logger := klog.FromContext(ctx)
	key := cache.MetaObjectToName(cp)
	if !hasCleanupFinalizer(cp) {
		return 0, nil
	}
	if isMirror(cp) {
		return c.releaseCleanup(ctx, cp)
	}
	id := c.konnectID(cp)

	status := *cp.Status.DeepCopy()
	res := c.resolveAuth(ctx, cp, &status.Conditions)
	if !res.ok {
		if id == "" {
			// Nothing is created in Konnect without working credentials.
			return c.releaseCleanup(ctx, cp)
		}
		setCondition(&status.Conditions, konnectv1alpha2.ConditionProgrammed, metav1.ConditionFalse,
			konnectv1alpha2.ReasonConditionWithStatusFalseExists,
			fmt.Sprintf("control plane %s cannot be deleted from Konnect until the credentials work: %s", id, falseConditionsMessage(status.Conditions)),
			cp.Generation, c.clock.Now())
		return c.finish(ctx, cp, status, wait.Jitter(c.syncPeriod, syncJitter))
	}
	if id == "" {
		// No id recorded: a create whose answer or status write was lost may still have made
		// one. Our k8s-uid label finds it.
		own, err := c.api.ListControlPlanes(ctx, res.auth, konnect.ControlPlaneFilter{Labels: map[string]string{labelUID: string(cp.UID)}})
		if err != nil {
			return c.deletionFailed(ctx, cp, status, err)
		}
		for i := range own {
			if own[i].Labels[labelUID] == string(cp.UID) {
				id = own[i].ID
			}
		}
		if id == "" {
			return c.releaseCleanup(ctx, cp)
		}
	}

	err := c.api.DeleteControlPlane(ctx, res.auth, id)
	if err != nil && !konnect.IsNotFound(err) {
		return c.deletionFailed(ctx, cp, status, err)
	}
	logger.V(2).Info("Deleted control plane from Konnect", "id", id, "alreadyGone", err != nil)
	c.konnectBackoff.Forget(key)
	c.created.Delete(cp.UID)
	return c.releaseCleanup(ctx, cp)
}

// releaseCleanup removes the cleanup finalizer: nothing of cp is left in Konnect.
func (c *Controller) releaseCleanup(ctx context.Context, cp *konnectv1alpha2.KonnectGatewayControlPlane) (time.Duration, error) {
	if _, err := c.setCleanupFinalizer(ctx, cp, false); err != nil {
		return c.writeFailed(ctx, cp, err)
	}
	return 0, nil
}

// deletionFailed keeps the finalizer after a failed Konnect call of a deletion: a transient
// failure is retried with backoff (Retry-After honoured); a definitive one is reported in
// Programmed and retried at the sync period.
func (c *Controller) deletionFailed(ctx context.Context, cp *konnectv1alpha2.KonnectGatewayControlPlane,
	status konnectv1alpha2.KonnectGatewayControlPlaneStatus, err error) (time.Duration, error) {
	key := cache.MetaObjectToName(cp)
	if konnect.IsTransient(err) {
		after := max(c.konnectBackoff.When(key), konnect.RetryAfterOf(err))
		klog.FromContext(ctx).V(2).Info("Deleting control plane from Konnect failed transiently; keeping the finalizer", "after", after, "err", err)
		return after, nil
	}
	c.konnectBackoff.Forget(key)
	setCondition(&status.Conditions, konnectv1alpha2.ConditionProgrammed, metav1.ConditionFalse, konnectv1alpha2.ReasonKonnectAPIOpFailed,
		fmt.Sprintf("deleting control plane %s from Konnect failed; the object is kept until it succeeds: %v", cp.Status.ID, err),
		cp.Generation, c.clock.Now())
	return c.finish(ctx, cp, status, wait.Jitter(c.syncPeriod, syncJitter))
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

// setCondition sets a condition with meta.SetStatusCondition semantics: LastTransitionTime
// moves only when the status flips.
func setCondition(conds *[]metav1.Condition, typ string, status metav1.ConditionStatus, reason, message string, generation int64, now time.Time) {
	meta.SetStatusCondition(conds, metav1.Condition{Type: typ, Status: status, Reason: reason, Message: message,
		ObservedGeneration: generation, LastTransitionTime: metav1.NewTime(now)})
}

// recordTransitions records a Warning when a condition turns False (or changes its False
// reason) and a Normal event when it turns True again after being False or Unknown; a first
// True gets none, so a mass create writes no events.
func (c *Controller) recordTransitions(cp *konnectv1alpha2.KonnectGatewayControlPlane, before, after []metav1.Condition) {
	for _, cond := range after {
		old := meta.FindStatusCondition(before, cond.Type)
		if old != nil && old.Status == cond.Status && old.Reason == cond.Reason {
			continue
		}
		switch {
		case cond.Status == metav1.ConditionFalse:
			c.recorder.Event(cp, corev1.EventTypeWarning, cond.Reason, cond.Type+": "+cond.Message)
		case cond.Status == metav1.ConditionTrue && old != nil && old.Status != metav1.ConditionTrue && old.Reason != konnectv1alpha2.ReasonPending:
			c.recorder.Event(cp, corev1.EventTypeNormal, cond.Reason, cond.Type+": "+cond.Message)
		}
	}
}

// writeStatus merge-patches the status subresource with a resourceVersion precondition, so a
// write based on a stale cache fails with a Conflict instead of undoing a newer one.
func (c *Controller) writeStatus(ctx context.Context, cp *konnectv1alpha2.KonnectGatewayControlPlane, status konnectv1alpha2.KonnectGatewayControlPlaneStatus) error {
	var endpoints any
	if status.Endpoints != nil {
		endpoints = status.Endpoints
	}
	patch, err := json.Marshal(map[string]any{
		"metadata": map[string]any{"resourceVersion": cp.ResourceVersion},
		"status": map[string]any{
			"id":               nullIfEmpty(status.ID),
			"serverURL":        nullIfEmpty(status.ServerURL),
			"organizationID":   nullIfEmpty(status.OrgID),
			"clusterType":      nullIfEmpty(status.ClusterType),
			"konnectEndpoints": endpoints,
			"conditions":       status.Conditions,
		},
	})
	if err != nil {
		return err
	}
	_, err = c.client.KonnectV1alpha2().KonnectGatewayControlPlanes(cp.Namespace).
		Patch(ctx, cp.Name, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: Name}, "status")
	return err
}

// setCleanupFinalizer adds or removes the cleanup finalizer with a metadata-only merge patch
// whose resourceVersion precondition keeps every other writer's finalizers. It returns the
// patched object, whose resourceVersion the status write that follows builds on.
func (c *Controller) setCleanupFinalizer(ctx context.Context, cp *konnectv1alpha2.KonnectGatewayControlPlane, add bool) (*konnectv1alpha2.KonnectGatewayControlPlane, error) {
	finalizers := slices.DeleteFunc(slices.Clone(cp.Finalizers), func(f string) bool { return f == konnectv1alpha2.KonnectCleanupFinalizer })
	if add {
		finalizers = append(finalizers, konnectv1alpha2.KonnectCleanupFinalizer)
	}
	var value any = finalizers
	if len(finalizers) == 0 {
		value = nil
	}
	patch, err := json.Marshal(map[string]any{
		"metadata": map[string]any{"resourceVersion": cp.ResourceVersion, "finalizers": value},
	})
	if err != nil {
		return cp, err
	}
	updated, err := c.client.KonnectV1alpha2().KonnectGatewayControlPlanes(cp.Namespace).
		Patch(ctx, cp.Name, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: Name})
	if err != nil {
		return cp, err
	}
	klog.FromContext(ctx).V(2).Info("Set the cleanup finalizer", "present", add)
	return updated, nil
}

func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}
