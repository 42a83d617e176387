package controlplane

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	coreinformers "k8s.io/client-go/informers/core/v1"

	konnectv1alpha1 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha1"
	konnectv1alpha2 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha2"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/controller/shared"
	configurationinformers "github.com/konnect-auth-controller/konnect-auth-controller/pkg/generated/informers/externalversions/configuration/v1alpha1"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/konnect"
)

// authResolver answers the two questions about a control plane's credentials that do not
// depend on Konnect: may it use the auth configuration it names (KongReferenceGrants), and
// what is that configuration's token (shared.TokenResolver, as the auth configurations'
// reconciler resolves it).
type authResolver struct {
	// grantsWatched is false with --namespace: then no cross-namespace reference is permitted.
	grantsWatched bool
	grants        shared.ReferenceGrants
	tokens        *shared.TokenResolver
}

func newAuthResolver(clients Clients, secretInformer coreinformers.SecretInformer, grantInformer configurationinformers.KongReferenceGrantInformer) authResolver {
	var grants shared.ReferenceGrants
	if grantInformer != nil {
		grants.Lister = grantInformer.Lister()
	}
	tokens := &shared.TokenResolver{Secrets: secretInformer.Lister(), Grants: grants}
	if clients.Metadata != nil {
		tokens.SecretMetadata = clients.Metadata.Resource(corev1.SchemeGroupVersion.WithResource("secrets"))
	}
	return authResolver{grantsWatched: grantInformer != nil, grants: grants, tokens: tokens}
}

// permits reports whether a grant in cfgNamespace lets control planes in cpNamespace use the
// auth configuration cfgName, and names the grant.
func (a authResolver) permits(cpNamespace, cfgNamespace, cfgName string) (string, bool) {
	return a.grants.Permits(
		shared.RefFrom{Group: konnectv1alpha2.GroupName, Kind: planeKind, Namespace: cpNamespace},
		shared.RefTo{Group: shared.AuthConfigGroup, Kind: shared.AuthConfigKind, Namespace: cfgNamespace, Name: cfgName})
}

// token resolves a configuration's token; on failure, problem says why (never the token).
func (a authResolver) token(ctx context.Context, cfg *konnectv1alpha1.KonnectAPIAuthConfiguration) (token, problem string) {
	src, p := a.tokens.Resolve(ctx, cfg)
	if p != nil {
		return "", p.Message
	}
	return src.Token, ""
}

// resolved is what sync learned about a control plane's credentials before asking Konnect.
type resolved struct {
	cfg  *konnectv1alpha1.KonnectAPIAuthConfiguration
	auth konnect.Auth
	// ok: both conditions below are True and auth is usable.
	ok bool
}

// resolveAuth sets the APIAuthResolvedRef and APIAuthValid conditions of a control plane from
// its authRef, and returns the credentials when both are True.
func (c *Controller) resolveAuth(ctx context.Context, cp *konnectv1alpha2.KonnectGatewayControlPlane, conds *[]metav1.Condition) resolved {
	set := func(typ string, status metav1.ConditionStatus, reason, message string) {
		setCondition(conds, typ, status, reason, message, cp.Generation, c.clock.Now())
	}
	ref, ok := shared.ControlPlaneAuthRef(cp)
	if !ok {
		set(konnectv1alpha2.ConditionAPIAuthResolvedRef, metav1.ConditionFalse, konnectv1alpha2.ReasonRefInvalid,
			"spec.konnect.authRef.name must name a KonnectAPIAuthConfiguration")
		meta.RemoveStatusCondition(conds, konnectv1alpha2.ConditionAPIAuthValid)
		return resolved{}
	}
	if ref.Namespace != cp.Namespace {
		if !c.auth.grantsWatched {
			set(konnectv1alpha2.ConditionAPIAuthResolvedRef, metav1.ConditionFalse, konnectv1alpha2.ReasonRefNotPermitted,
				fmt.Sprintf("spec.konnect.authRef names KonnectAPIAuthConfiguration %s in another namespace, and this controller watches only namespace %q (--namespace): "+
					"put the KonnectAPIAuthConfiguration in namespace %q", ref, cp.Namespace, cp.Namespace))
			meta.RemoveStatusCondition(conds, konnectv1alpha2.ConditionAPIAuthValid)
			return resolved{}
		}
		if _, ok := c.auth.permits(cp.Namespace, ref.Namespace, ref.Name); !ok {
			set(konnectv1alpha2.ConditionAPIAuthResolvedRef, metav1.ConditionFalse, konnectv1alpha2.ReasonRefNotPermitted,
				fmt.Sprintf("spec.konnect.authRef names KonnectAPIAuthConfiguration %s in another namespace, and no KongReferenceGrant in namespace %q permits it: "+
					"create one there with from {group: %s, kind: %s, namespace: %s} and to {group: %s, kind: KonnectAPIAuthConfiguration, name: %s}",
					ref, ref.Namespace, konnectv1alpha2.GroupName, planeKind, cp.Namespace, konnectv1alpha1.GroupName, ref.Name))
			meta.RemoveStatusCondition(conds, konnectv1alpha2.ConditionAPIAuthValid)
			return resolved{}
		}
	}
	cfg, err := c.configs.KonnectAPIAuthConfigurations(ref.Namespace).Get(ref.Name)
	if apierrors.IsNotFound(err) || (err == nil && cfg.DeletionTimestamp != nil && !isInUseBy(cfg)) {
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
		fmt.Sprintf("KonnectAPIAuthConfiguration %s is resolved", ref))

	invalid := func(message string) resolved {
		set(konnectv1alpha2.ConditionAPIAuthValid, metav1.ConditionFalse, konnectv1alpha2.ReasonInvalid, message)
		return resolved{cfg: cfg}
	}
	valid := meta.FindStatusCondition(cfg.Status.Conditions, konnectv1alpha1.ConditionAPIAuthValid)
	switch {
	case valid == nil:
		return invalid(fmt.Sprintf("KonnectAPIAuthConfiguration %s has not been validated yet", ref))
	case valid.Status != metav1.ConditionTrue || valid.Reason != konnectv1alpha1.ReasonValid:
		return invalid(fmt.Sprintf("KonnectAPIAuthConfiguration %s is not valid (%s): %s", ref, valid.Reason, valid.Message))
	case cfg.Status.ServerURL == "":
		return invalid(fmt.Sprintf("KonnectAPIAuthConfiguration %s has no status.serverURL yet", ref))
	}
	token, problem := c.auth.token(ctx, cfg)
	if problem != "" {
		return invalid(fmt.Sprintf("the token of KonnectAPIAuthConfiguration %s cannot be used: %s", ref, problem))
	}
	set(konnectv1alpha2.ConditionAPIAuthValid, metav1.ConditionTrue, konnectv1alpha2.ReasonValid,
		fmt.Sprintf("KonnectAPIAuthConfiguration %s is valid", ref))
	return resolved{cfg: cfg, auth: konnect.Auth{Token: token, ServerURL: cfg.Status.ServerURL}, ok: true}
}

// isInUseBy reports whether a terminating auth configuration is still held by the in-use
// finalizer: then it stays usable, so that control planes being deleted can still be deleted
// in Konnect with its token.
func isInUseBy(cfg *konnectv1alpha1.KonnectAPIAuthConfiguration) bool {
	for _, f := range cfg.Finalizers {
		if f == konnectv1alpha2.APIAuthInUseFinalizer {
			return true
		}
	}
	return false
}
