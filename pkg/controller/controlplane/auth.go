package controlplane

import (
	"context"
	"errors"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	konnectv1alpha1 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha1"
	konnectv1alpha2 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha2"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/controller/credentials"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/controller/indexes"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/konnect"
)

// resolved is what sync learned about a control plane's credentials before asking Konnect.
type resolved struct {
	cfg  *konnectv1alpha1.KonnectAPIAuthConfiguration
	auth konnect.Auth
	// ok: both conditions below are True and auth is usable.
	ok bool
	// unconfirmed: the configuration's verdict is Unknown (Konnect could not be asked about
	// its token) while this control plane's APIAuthValid is True: nothing known changed, so
	// nothing is decided until Konnect answers.
	unconfirmed bool
}

// errCredentialsUnconfirmed: the auth configuration's token could not be validated yet (a
// rotation or a re-validation during a Konnect outage).
var errCredentialsUnconfirmed = errors.New("waiting for Konnect to validate the token of the auth configuration")

// resolveAuth sets the APIAuthResolvedRef and APIAuthValid conditions of a control plane from
// its authRef, and returns the credentials when both are True.
func (c *Controller) resolveAuth(ctx context.Context, cp *konnectv1alpha2.KonnectGatewayControlPlane, conds *[]metav1.Condition) resolved {
	set := func(typ string, status metav1.ConditionStatus, reason, message string) {
		c.setCondition(conds, cp, typ, status, reason, message)
	}
	ref, ok := indexes.ControlPlaneAuthRef(cp)
	if !ok {
		set(konnectv1alpha2.ConditionAPIAuthResolvedRef, metav1.ConditionFalse, konnectv1alpha2.ReasonRefInvalid,
			"spec.konnect.authRef.name must name a KonnectAPIAuthConfiguration")
		meta.RemoveStatusCondition(conds, konnectv1alpha2.ConditionAPIAuthValid)
		return resolved{}
	}
	// A deletion owed in Konnect goes ahead after the grant that permitted the reference is
	// revoked (cleaningUp): the revocation stops new use only.
	cleaningUp := cp.DeletionTimestamp != nil && hasCleanupFinalizer(cp)
	if ref.Namespace != cp.Namespace && !cleaningUp {
		if c.creds.Namespaced() {
			set(konnectv1alpha2.ConditionAPIAuthResolvedRef, metav1.ConditionFalse, konnectv1alpha2.ReasonRefNotPermitted,
				fmt.Sprintf("spec.konnect.authRef names KonnectAPIAuthConfiguration %s in another namespace, and this controller watches only namespace %q (--namespace): "+
					"put the KonnectAPIAuthConfiguration in namespace %q", ref, cp.Namespace, cp.Namespace))
			meta.RemoveStatusCondition(conds, konnectv1alpha2.ConditionAPIAuthValid)
			return resolved{}
		}
		if _, ok := c.creds.PermitsAuthRef(konnectv1alpha2.GroupName, planeKind, cp.Namespace, ref); !ok {
			set(konnectv1alpha2.ConditionAPIAuthResolvedRef, metav1.ConditionFalse, konnectv1alpha2.ReasonRefNotPermitted,
				fmt.Sprintf("spec.konnect.authRef names KonnectAPIAuthConfiguration %s in another namespace, and no KongReferenceGrant in namespace %q permits it: "+
					"create one there with from {group: %s, kind: %s, namespace: %s} and to {group: %s, kind: KonnectAPIAuthConfiguration, name: %s}",
					ref, ref.Namespace, konnectv1alpha2.GroupName, planeKind, cp.Namespace, konnectv1alpha1.GroupName, ref.Name))
			meta.RemoveStatusCondition(conds, konnectv1alpha2.ConditionAPIAuthValid)
			return resolved{}
		}
	}
	cfg, err := c.configs.KonnectAPIAuthConfigurations(ref.Namespace).Get(ref.Name)
	if apierrors.IsNotFound(err) || (err == nil && cfg.DeletionTimestamp != nil && !credentials.HeldForCleanup(cfg)) {
		set(konnectv1alpha2.ConditionAPIAuthResolvedRef, metav1.ConditionFalse, konnectv1alpha2.ReasonRefNotFound,
			fmt.Sprintf("KonnectAPIAuthConfiguration %s not found", ref))
		meta.RemoveStatusCondition(conds, konnectv1alpha2.ConditionAPIAuthValid)
		return resolved{}
	}
	if err != nil {
		// The lister reads memory; it fails only on a broken cache.
		set(konnectv1alpha2.ConditionAPIAuthResolvedRef, metav1.ConditionFalse, konnectv1alpha2.ReasonRefNotFound,
			fmt.Sprintf("KonnectAPIAuthConfiguration %s could not be read: %v", ref, err))
		return resolved{}
	}
	set(konnectv1alpha2.ConditionAPIAuthResolvedRef, metav1.ConditionTrue, konnectv1alpha2.ReasonResolvedRef,
		fmt.Sprintf(konnectv1alpha2.MessageAPIAuthResolvedRef, ref))

	invalid := func(message string) resolved {
		set(konnectv1alpha2.ConditionAPIAuthValid, metav1.ConditionFalse, konnectv1alpha2.ReasonInvalid, message)
		return resolved{cfg: cfg}
	}
	valid := meta.FindStatusCondition(cfg.Status.Conditions, konnectv1alpha1.ConditionAPIAuthValid)
	resolve := c.creds.Resolve
	if cleaningUp {
		resolve = c.creds.ResolveForCleanup
	}
	switch {
	case valid == nil:
		return invalid(fmt.Sprintf("KonnectAPIAuthConfiguration %s has not been validated yet", ref))
	case cleaningUp && valid.Reason == konnectv1alpha1.ReasonRefNotPermitted:
		// The grant to the configuration's Secret was revoked: that stops new use, not the
		// deletion owed, which goes ahead with the Secret the configuration still holds.
	case valid.Status == metav1.ConditionUnknown && meta.IsStatusConditionTrue(*conds, konnectv1alpha2.ConditionAPIAuthValid):
		return resolved{cfg: cfg, unconfirmed: true}
	case valid.Status != metav1.ConditionTrue || valid.Reason != konnectv1alpha1.ReasonValid:
		return invalid(fmt.Sprintf("KonnectAPIAuthConfiguration %s is not valid (%s): %s", ref, valid.Reason, valid.Message))
	}
	if cfg.Status.ServerURL == "" {
		return invalid(fmt.Sprintf("KonnectAPIAuthConfiguration %s has no status.serverURL yet", ref))
	}
	src, problem := resolve(ctx, cfg)
	if problem != nil {
		return invalid(fmt.Sprintf("the token of KonnectAPIAuthConfiguration %s cannot be used: %s", ref, problem.Message))
	}
	set(konnectv1alpha2.ConditionAPIAuthValid, metav1.ConditionTrue, konnectv1alpha2.ReasonValid,
		fmt.Sprintf(konnectv1alpha2.MessageAPIAuthValid, ref))
	return resolved{cfg: cfg, auth: konnect.Auth{Token: src.Token, ServerURL: cfg.Status.ServerURL}, ok: true}
}
