package controller

import (
	"context"
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	konnectv1alpha1 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha1"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/konnect"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/serverurl"
)

// ReasonInvalidServerURL is reported for a spec.serverURL that today's admission rules would
// refuse. Admission keeps such objects out; it can only be met on objects stored under an
// older or foreign CRD (Kong's operator admits api.us.konghq.com, for one).
const ReasonInvalidServerURL = "InvalidServerURL"

// verdict is the APIAuthValid condition sync wants, and the organization that goes with it.
type verdict struct {
	status  metav1.ConditionStatus
	reason  string
	message string
	orgID   string
}

// sync brings one configuration's status in line with what Konnect says about its token and
// says when to look at it again.
func (c *Controller) sync(ctx context.Context, key cache.ObjectName) (requeue, error) {
	logger := klog.FromContext(ctx).WithValues("konnectAPIAuthConfiguration", klog.KRef(key.Namespace, key.Name))
	ctx = klog.NewContext(ctx, logger)
	start := c.clock.Now()
	logger.V(4).Info("Started syncing")
	defer func() { logger.V(4).Info("Finished syncing", "duration", c.clock.Since(start)) }()

	cfg, err := c.configs.KonnectAPIAuthConfigurations(key.Namespace).Get(key.Name)
	if apierrors.IsNotFound(err) {
		logger.V(4).Info("Configuration is gone")
		return requeue{}, nil
	}
	if err != nil {
		return requeue{}, err
	}

	want, next, keep := c.evaluate(ctx, cfg)
	status := *cfg.Status.DeepCopy()
	var old *metav1.Condition
	if cond := conditionOf(cfg); cond != nil {
		old = cond.DeepCopy()
	}
	if !keep {
		status.ServerURL = ""
		if normalized, err := serverurl.Normalize(cfg.Spec.ServerURL); err == nil {
			status.ServerURL = normalized
		}
		status.OrganizationID = want.orgID
		meta.SetStatusCondition(&status.Conditions, metav1.Condition{
			Type:               konnectv1alpha1.ConditionAPIAuthValid,
			Status:             want.status,
			Reason:             want.reason,
			Message:            want.message,
			ObservedGeneration: cfg.Generation,
			LastTransitionTime: metav1.NewTime(c.clock.Now()),
		})
	}
	// ResolvedRefs, on cross-namespace references only (grants.go).
	c.setResolvedRefs(&status.Conditions, cfg)

	if equality.Semantic.DeepEqual(cfg.Status, status) {
		logger.V(4).Info("Status is up to date", "reason", want.reason)
		return next, nil
	}
	if err := c.writeStatus(ctx, cfg, status); err != nil {
		switch {
		case apierrors.IsNotFound(err):
			logger.V(4).Info("Configuration was deleted while syncing")
			return requeue{}, nil
		case apierrors.IsConflict(err):
			// Someone else wrote first; the informer is bringing the newer object. Not a
			// failure, so it does not count towards this configuration's backoff.
			logger.V(4).Info("Status write lost a race; syncing again")
			return requeue{after: conflictRetryDelay}, nil
		}
		return requeue{}, fmt.Errorf("writing status of %s: %w", klog.KObj(cfg), err)
	}

	if cur := meta.FindStatusCondition(status.Conditions, konnectv1alpha1.ConditionAPIAuthValid); cur != nil &&
		(old == nil || old.Status != cur.Status || old.Reason != cur.Reason) {
		logger.V(2).Info("Verdict changed", "status", cur.Status, "reason", cur.Reason)
		eventType := corev1.EventTypeWarning
		if cur.Status == metav1.ConditionTrue {
			eventType = corev1.EventTypeNormal
		}
		c.recorder.Event(cfg, eventType, cur.Reason, cur.Message)
	}
	return next, nil
}

// evaluate decides the configuration's verdict. keep is true when the current condition
// must stay as it is: Konnect could not be asked, and the True verdict already there is
// about the very same spec.
func (c *Controller) evaluate(ctx context.Context, cfg *konnectv1alpha1.KonnectAPIAuthConfiguration) (want verdict, next requeue, keep bool) {
	logger := klog.FromContext(ctx)

	normalized, err := serverurl.Normalize(cfg.Spec.ServerURL)
	if err != nil {
		return verdict{status: metav1.ConditionFalse, reason: ReasonInvalidServerURL, message: "spec." + err.Error()},
			c.revalidateAfter(), false
	}

	source, problem := c.resolveToken(ctx, cfg)
	if problem != nil {
		logger.V(4).Info("Token could not be resolved", "reason", problem.reason)
		// A malformed token or a missing Secret is not retried on a timer of its own: a
		// change to the configuration or the Secret re-queues it.
		return verdict{status: metav1.ConditionFalse, reason: problem.reason, message: problem.message},
			c.revalidateAfter(), false
	}

	result := c.validator.Validate(ctx, source.token, normalized)
	logger.V(4).Info("Konnect answered", "verdict", result.Verdict.String(), "statusCode", result.StatusCode,
		"tokenHash", konnect.Hashed(source.token, normalized)[:16])

	switch result.Verdict {
	case konnect.VerdictValid:
		msg := "Token is valid"
		if source.secret != "" {
			msg = fmt.Sprintf("Token from Secret %s is valid", source.secret)
		}
		return verdict{status: metav1.ConditionTrue, reason: konnectv1alpha1.ReasonValid, message: msg, orgID: result.OrganizationID},
			c.revalidateAfter(), false
	case konnect.VerdictInvalid:
		return verdict{status: metav1.ConditionFalse, reason: konnectv1alpha1.ReasonInvalid, message: result.Message}, c.revalidateAfter(), false
	case konnect.VerdictForbidden:
		return verdict{status: metav1.ConditionFalse, reason: konnectv1alpha1.ReasonForbidden, message: result.Message}, c.revalidateAfter(), false
	case konnect.VerdictInvalidResponse:
		return verdict{status: metav1.ConditionFalse, reason: konnectv1alpha1.ReasonInvalidResponse, message: result.Message}, c.revalidateAfter(), false
	case konnect.VerdictPending:
		// Another worker is asking Konnect about this very token and it is taking long:
		// leave the status alone and look again soon, rather than hold this worker too.
		logger.V(4).Info("A check of this token is in flight; looking again later", "after", result.RetryAfter)
		return verdict{}, requeue{after: result.RetryAfter}, true
	}

	// Konnect could not be asked. That says nothing about the token, so a True verdict on
	// the same generation stands; otherwise the verdict is Unknown until Konnect answers.
	next = requeue{retry: true, after: result.RetryAfter}
	if cond := conditionOf(cfg); cond != nil && cond.Status == metav1.ConditionTrue && cond.ObservedGeneration == cfg.Generation {
		logger.V(2).Info("Konnect is unavailable; keeping the True verdict", "statusCode", result.StatusCode)
		return verdict{}, next, true
	}
	return verdict{status: metav1.ConditionUnknown, reason: konnectv1alpha1.ReasonKonnectUnavailable,
		message: "Konnect could not be asked: " + result.Message}, next, false
}

// writeStatus merge-patches the status subresource. The resourceVersion precondition makes
// a write based on a stale cache fail with a Conflict instead of undoing a newer one; an
// explicit null clears a field that omitempty would otherwise leave in place.
func (c *Controller) writeStatus(ctx context.Context, cfg *konnectv1alpha1.KonnectAPIAuthConfiguration, status konnectv1alpha1.KonnectAPIAuthConfigurationStatus) error {
	patch, err := json.Marshal(map[string]any{
		"metadata": map[string]any{"resourceVersion": cfg.ResourceVersion},
		"status": map[string]any{
			"organizationID": nullIfEmpty(status.OrganizationID),
			"serverURL":      nullIfEmpty(status.ServerURL),
			"conditions":     status.Conditions,
		},
	})
	if err != nil {
		return err
	}
	_, err = c.client.KonnectV1alpha1().KonnectAPIAuthConfigurations(cfg.Namespace).
		Patch(ctx, cfg.Name, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: Name}, "status")
	return err
}

func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}
