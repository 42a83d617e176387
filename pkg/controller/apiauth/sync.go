package apiauth

import (
	"context"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	konnectv1alpha1 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha1"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/controller/loop"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/controller/objpatch"
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

// reconcile brings one configuration's status in line with what Konnect says about its token.
// Its Result says when to look at the configuration again (0: when an event or the
// TokenChecker's wake-up brings it back).
func (c *Controller) reconcile(ctx context.Context, key cache.ObjectName) (loop.Result, error) {
	logger := klog.FromContext(ctx)

	cfg, err := c.configs.KonnectAPIAuthConfigurations(key.Namespace).Get(key.Name)
	if apierrors.IsNotFound(err) {
		logger.V(4).Info("Configuration is gone")
		return loop.Result{}, nil
	}
	if err != nil {
		return loop.Result{}, err
	}

	// The one place the server URL is normalised: status reports it, Konnect is asked at it
	// and the TokenChecker keys on it.
	serverURL, urlErr := serverurl.Normalize(cfg.Spec.ServerURL)
	old := meta.FindStatusCondition(cfg.Status.Conditions, konnectv1alpha1.ConditionAPIAuthValid)
	want, checked := c.evaluate(ctx, cfg, serverURL, urlErr, old)
	after := c.nextLook(checked)
	if want == nil {
		logger.V(4).Info("Keeping the verdict", "verdict", checked.Verdict.String(), "after", after)
	}

	status := *cfg.Status.DeepCopy()
	if want != nil {
		status.ServerURL = serverURL
		status.OrganizationID = want.orgID
		objpatch.SetCondition(&status.Conditions, metav1.Condition{
			Type:    konnectv1alpha1.ConditionAPIAuthValid,
			Status:  want.status,
			Reason:  want.reason,
			Message: want.message,
		}, cfg.Generation, c.clock.Now())
	}
	// ResolvedRefs, on cross-namespace references only (grants.go), also while the verdict is
	// kept: whether the reference is permitted does not wait on Konnect.
	c.setResolvedRefs(&status.Conditions, cfg)

	wrote, err := c.status.StatusIfChanged(ctx, cfg, cfg.Status, status, func() map[string]any {
		// An explicit null clears a field that omitempty would otherwise leave in place.
		return map[string]any{
			"organizationID": objpatch.NullIfEmpty(status.OrganizationID),
			"serverURL":      objpatch.NullIfEmpty(status.ServerURL),
			"conditions":     status.Conditions,
		}
	})
	if err != nil {
		if ctx.Err() != nil {
			return loop.Result{}, err
		}
		if res, err := objpatch.WriteFailed(ctx, err); err == nil {
			return res, nil
		}
		return loop.Result{}, fmt.Errorf("writing status of %s: %w", klog.KObj(cfg), err)
	}
	if !wrote {
		logger.V(4).Info("Status is up to date")
		return loop.Result{After: after}, nil
	}
	if want != nil && (old == nil || old.Status != want.status || old.Reason != want.reason) {
		logger.V(2).Info("Verdict changed", "status", want.status, "reason", want.reason)
	}
	c.events.Transitions(cfg, cfg.Status.Conditions, status.Conditions)
	return loop.Result{After: after}, nil
}

// evaluate decides the configuration's verdict. It returns nil when the current condition must
// stay as it is: a check of the token is pending, or Konnect could not be asked and the True
// verdict already there is about the very same spec. checked is what the TokenChecker said, or
// nil when the configuration was settled without asking it.
func (c *Controller) evaluate(ctx context.Context, cfg *konnectv1alpha1.KonnectAPIAuthConfiguration,
	serverURL string, urlErr error, old *metav1.Condition) (want *verdict, checked *konnect.Result) {
	logger := klog.FromContext(ctx)
	if urlErr != nil {
		return &verdict{status: metav1.ConditionFalse, reason: ReasonInvalidServerURL, message: "spec." + urlErr.Error()}, nil
	}
	source, problem := c.tokens.Resolve(ctx, cfg)
	if problem != nil {
		logger.V(4).Info("Token could not be resolved", "reason", problem.Reason)
		return &verdict{status: metav1.ConditionFalse, reason: problem.Reason, message: problem.Message}, nil
	}

	result := c.checker.Check(source.Token, serverURL, types.NamespacedName{Namespace: cfg.Namespace, Name: cfg.Name})
	// The hash is worked out only when the line is logged: every reconcile passes here.
	if v4 := logger.V(4); v4.Enabled() {
		v4.Info("Token checked", "verdict", result.Verdict.String(), "statusCode", result.StatusCode,
			"tokenHash", konnect.Hashed(source.Token, serverURL)[:16])
	}

	switch result.Verdict {
	case konnect.VerdictValid:
		msg := "Token is valid"
		if source.Secret != "" {
			msg = fmt.Sprintf("Token from Secret %s is valid", source.Secret)
		}
		return &verdict{status: metav1.ConditionTrue, reason: konnectv1alpha1.ReasonValid, message: msg, orgID: result.OrganizationID}, &result
	case konnect.VerdictInvalid:
		return &verdict{status: metav1.ConditionFalse, reason: konnectv1alpha1.ReasonInvalid, message: result.Message}, &result
	case konnect.VerdictForbidden:
		return &verdict{status: metav1.ConditionFalse, reason: konnectv1alpha1.ReasonForbidden, message: result.Message}, &result
	case konnect.VerdictInvalidResponse:
		return &verdict{status: metav1.ConditionFalse, reason: konnectv1alpha1.ReasonInvalidResponse, message: result.Message}, &result
	case konnect.VerdictPending:
		return nil, &result
	}

	// Konnect could not be asked. That says nothing about the token, so a True verdict on the
	// same generation stands, or on a configuration being deleted (the deletion bumps the
	// generation, not the token); otherwise the verdict is Unknown until Konnect answers.
	if old != nil && old.Status == metav1.ConditionTrue && (old.ObservedGeneration == cfg.Generation || cfg.DeletionTimestamp != nil) {
		logger.V(2).Info("Konnect is unavailable; keeping the True verdict", "statusCode", result.StatusCode, "nextCheck", result.NextCheck)
		return nil, &result
	}
	return &verdict{status: metav1.ConditionUnknown, reason: konnectv1alpha1.ReasonKonnectUnavailable,
		message: "Konnect could not be asked: " + result.Message}, &result
}

// nextLook is when a configuration is looked at again, from what the TokenChecker said about
// its token: the one place a requeue is decided (besides a lost write race).
//
//   - pending: not on a timer; the checker wakes it when the check ends;
//   - Unavailable: when the checker would ask Konnect again (its per-token backoff, honouring
//     Retry-After), not sooner: an earlier look would only be answered from memory;
//   - a verdict, or a problem found without asking Konnect (a missing Secret, a malformed
//     token): at the next re-validation, with jitter. A change to the configuration or its
//     Secret brings it back sooner.
func (c *Controller) nextLook(checked *konnect.Result) time.Duration {
	switch {
	case checked != nil && checked.Verdict == konnect.VerdictPending:
		return 0
	case checked != nil && checked.Verdict == konnect.VerdictUnavailable:
		return max(checked.NextCheck, minUnavailableLook)
	}
	return wait.Jitter(c.revalidateInterval, revalidateJitter)
}

// minUnavailableLook keeps a checker that reports no wait from turning into a hot loop.
const minUnavailableLook = 100 * time.Millisecond
