package credentials

import (
	"fmt"

	"k8s.io/client-go/tools/cache"

	konnectv1alpha1 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha1"
)

// What a KongReferenceGrant names for a KonnectAPIAuthConfiguration to read a Secret in the
// grant's namespace, and for other objects to reference a KonnectAPIAuthConfiguration.
const (
	AuthConfigGroup = konnectv1alpha1.GroupName
	AuthConfigKind  = "KonnectAPIAuthConfiguration"
	SecretGroup     = "core"
	SecretKind      = "Secret"
)

// SecretRefPermission is what the grants say about a configuration's cross-namespace Secret
// reference.
type SecretRefPermission struct {
	// Permitted: a grant permits it; Grant is that grant's "namespace/name".
	Permitted bool
	Grant     string
	// Message explains the decision for the conditions; it never holds a token.
	Message string
}

// SecretRefOf returns the Secret a configuration takes its token from, if it takes it from
// one, and whether that Secret is in another namespace than the configuration.
func SecretRefOf(cfg *konnectv1alpha1.KonnectAPIAuthConfiguration) (secret cache.ObjectName, crossNamespace, ok bool) {
	if cfg.Spec.Type != konnectv1alpha1.KonnectAPIAuthTypeSecretRef || cfg.Spec.SecretRef == nil || cfg.Spec.SecretRef.Name == "" {
		return cache.ObjectName{}, false, false
	}
	ns := cfg.Spec.SecretRef.Namespace
	if ns == "" {
		ns = cfg.Namespace
	}
	return cache.ObjectName{Namespace: ns, Name: cfg.Spec.SecretRef.Name}, ns != cfg.Namespace, true
}

// CheckSecretRef decides whether cfg, whose Secret is in another namespace, may read it.
func (r *Resolver) CheckSecretRef(cfg *konnectv1alpha1.KonnectAPIAuthConfiguration) SecretRefPermission {
	secret, _, _ := SecretRefOf(cfg)
	if r.Grants.Lister == nil {
		return SecretRefPermission{Message: fmt.Sprintf(
			"spec.secretRef names Secret %s in another namespace, and this controller watches only namespace %q (--namespace), "+
				"so it cannot read Secrets elsewhere: put the Secret in namespace %q", secret, cfg.Namespace, cfg.Namespace)}
	}
	from := RefFrom{Group: AuthConfigGroup, Kind: AuthConfigKind, Namespace: cfg.Namespace}
	to := RefTo{Group: SecretGroup, Kind: SecretKind, Namespace: secret.Namespace, Name: secret.Name}
	if grant, ok := r.Grants.Permits(from, to); ok {
		name := secret.Namespace + "/" + grant
		return SecretRefPermission{Permitted: true, Grant: name,
			Message: fmt.Sprintf("KongReferenceGrant %s permits the reference to Secret %s", name, secret)}
	}
	return SecretRefPermission{Message: fmt.Sprintf(
		"spec.secretRef names Secret %s in another namespace, and no KongReferenceGrant in namespace %q permits it: "+
			"create one there with from {group: %s, kind: %s, namespace: %s} and to {group: %s, kind: %s, name: %s}",
		secret, secret.Namespace, from.Group, from.Kind, from.Namespace, to.Group, to.Kind, to.Name)}
}
