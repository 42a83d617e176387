package indexes

import (
	"maps"
	"strings"
	"unique"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	configurationv1alpha1 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/configuration/v1alpha1"
	konnectv1alpha1 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha1"
	konnectv1alpha2 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha2"
)

// lastAppliedAnnotation is where `kubectl apply` keeps the whole applied object, token included.
const lastAppliedAnnotation = "kubectl.kubernetes.io/last-applied-configuration"

// ownAnnotationPrefix starts every annotation the reconcilers read on this project's kinds
// (the extensions' certificate registration, skip-cleanup); no other annotation is read.
const ownAnnotationPrefix = "konnect.konghq.com/"

// The informer transforms drop, before an object enters a cache, what no reconciler reads,
// and share one copy of the strings that thousands of objects repeat (a namespace, a server
// URL, an organization, a condition's reason and message). At a hundred thousand objects
// the caches are most of the controller's memory. None of them changes what a reconciler
// sees: what they drop is never read, and every cached object is written back only through
// patches that name the fields they change, except the certificate Secrets (kept whole).

// TrimForCache is the transform of this project's kinds (auth configurations, control planes,
// extensions, KongReferenceGrants): managed fields, labels, owner references and annotations
// other than konnect.konghq.com/ ones go (kubectl's last-applied annotation, which for an
// inline token is a second copy of it, among them). Other objects keep all but their managed
// fields and that annotation.
func TrimForCache(obj any) (any, error) {
	accessor, ok := obj.(metav1.Object)
	if !ok {
		return obj, nil
	}
	trimMeta(accessor)
	switch o := obj.(type) {
	case *konnectv1alpha1.KonnectAPIAuthConfiguration:
		trimOwn(accessor)
		intern(&o.Spec.Token, &o.Spec.ServerURL, &o.Status.OrganizationID, &o.Status.ServerURL)
		internConditions(o.Status.Conditions)
	case *konnectv1alpha2.KonnectGatewayControlPlane:
		trimOwn(accessor)
		intern(&o.Status.ServerURL, &o.Status.OrgID, &o.Status.ClusterType)
		internConditions(o.Status.Conditions)
	case *konnectv1alpha2.KonnectExtension:
		trimOwn(accessor)
		internConditions(o.Status.Conditions)
	case *configurationv1alpha1.KongReferenceGrant:
		trimOwn(accessor)
	}
	return obj, nil
}

// trimMeta drops what no object's reader needs: managed fields and kubectl's last-applied
// annotation (not a copy in place: the informer may share the map). It interns the namespace
// and the finalizers.
func trimMeta(obj metav1.Object) {
	obj.SetManagedFields(nil)
	if annotations := obj.GetAnnotations(); annotations[lastAppliedAnnotation] != "" {
		trimmed := maps.Clone(annotations)
		delete(trimmed, lastAppliedAnnotation)
		obj.SetAnnotations(trimmed)
	}
	namespace := obj.GetNamespace()
	intern(&namespace)
	obj.SetNamespace(namespace)
	finalizers := obj.GetFinalizers()
	for i := range finalizers {
		intern(&finalizers[i])
	}
}

// trimOwn drops from one of this project's objects the labels, owner references and
// annotations no reconciler reads.
func trimOwn(obj metav1.Object) {
	obj.SetLabels(nil)
	obj.SetOwnerReferences(nil)
	var kept map[string]string
	for k, v := range obj.GetAnnotations() {
		if strings.HasPrefix(k, ownAnnotationPrefix) {
			if kept == nil {
				kept = map[string]string{}
			}
			kept[k] = v
		}
	}
	obj.SetAnnotations(kept)
}

// intern replaces each string with the one copy shared by every equal string interned since
// the last garbage collection (unique.Make): equal strings decoded from thousands of objects
// then share one allocation.
func intern(ss ...*string) {
	for _, s := range ss {
		if *s != "" {
			*s = unique.Make(*s).Value()
		}
	}
}

func internConditions(conditions []metav1.Condition) {
	for i := range conditions {
		c := &conditions[i]
		intern(&c.Type, (*string)(&c.Status), &c.Reason, &c.Message)
	}
}
