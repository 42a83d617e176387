package indexes

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// lastAppliedAnnotation is where `kubectl apply` keeps the whole applied object, token included.
const lastAppliedAnnotation = "kubectl.kubernetes.io/last-applied-configuration"

// TrimForCache is an informer transform that drops what the controllers never read before an
// object enters the cache: managed fields, and kubectl's last-applied annotation, which for an
// inline token or a Secret's stringData is a second copy of the token. At ten thousand
// objects this is most of the cache's memory.
func TrimForCache(obj any) (any, error) {
	if accessor, ok := obj.(metav1.Object); ok {
		accessor.SetManagedFields(nil)
		if annotations := accessor.GetAnnotations(); annotations[lastAppliedAnnotation] != "" {
			trimmed := make(map[string]string, len(annotations)-1)
			for k, v := range annotations {
				if k != lastAppliedAnnotation {
					trimmed[k] = v
				}
			}
			accessor.SetAnnotations(trimmed)
		}
	}
	return obj, nil
}
