package credentials

import (
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/labels"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"

	configurationv1alpha1 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/configuration/v1alpha1"
	configurationlisters "github.com/konnect-auth-controller/konnect-auth-controller/pkg/generated/listers/configuration/v1alpha1"
)

// RefFrom is the referring side of a cross-namespace reference: objects of a group and kind
// in a namespace.
type RefFrom struct {
	Group     string
	Kind      string
	Namespace string
}

// RefTo is the referenced object: its group, kind, namespace (where the grants that permit
// the reference must live) and name.
type RefTo struct {
	Group     string
	Kind      string
	Namespace string
	Name      string
}

// ReferenceGrants decides cross-namespace references from the KongReferenceGrants in the
// referenced object's namespace (Kong's operator 2.3 semantics).
type ReferenceGrants struct {
	// Lister reads the grants. Nil means grants are not watched (a controller confined to one
	// namespace): then nothing is permitted.
	Lister configurationlisters.KongReferenceGrantLister
}

// Permits reports whether a KongReferenceGrant in to.Namespace permits the reference from
// from to to, and returns that grant's name. When several do, the first by name is returned,
// so that messages built from it do not change from sync to sync. A grant that is being
// deleted permits nothing: its deletion is a revocation.
func (g ReferenceGrants) Permits(from RefFrom, to RefTo) (grantName string, ok bool) {
	if g.Lister == nil {
		return "", false
	}
	grants, err := g.Lister.KongReferenceGrants(to.Namespace).List(labels.Everything())
	if err != nil {
		// The lister reads memory; it fails only on a broken cache. Permit nothing.
		utilruntime.HandleError(fmt.Errorf("listing KongReferenceGrants in namespace %q: %w", to.Namespace, err))
		return "", false
	}
	slices.SortFunc(grants, func(a, b *configurationv1alpha1.KongReferenceGrant) int {
		return strings.Compare(a.Name, b.Name)
	})
	for _, grant := range grants {
		if grantPermits(grant, from, to) {
			return grant.Name, true
		}
	}
	return "", false
}

// grantPermits reports whether grant, which lives in the referenced object's namespace,
// permits the reference from from to to.
func grantPermits(grant *configurationv1alpha1.KongReferenceGrant, from RefFrom, to RefTo) bool {
	if grant.DeletionTimestamp != nil {
		return false
	}
	return slices.ContainsFunc(grant.Spec.From, func(f configurationv1alpha1.ReferenceGrantFrom) bool {
		return string(f.Group) == from.Group && string(f.Kind) == from.Kind && string(f.Namespace) == from.Namespace
	}) && slices.ContainsFunc(grant.Spec.To, func(t configurationv1alpha1.ReferenceGrantTo) bool {
		return string(t.Group) == to.Group && string(t.Kind) == to.Kind && (t.Name == nil || string(*t.Name) == to.Name)
	})
}
