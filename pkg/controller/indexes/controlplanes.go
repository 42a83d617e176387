package indexes

import (
	"fmt"

	"k8s.io/client-go/tools/cache"

	konnectv1alpha2 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha2"
)

// ControlPlaneAuthRefIndex indexes KonnectGatewayControlPlanes by the "namespace/name" of the
// KonnectAPIAuthConfiguration they name, so that a change to one re-queues exactly the control
// planes (and, through them, the extensions) that use it. Both reconcilers read it from the one
// shared control-plane informer.
const ControlPlaneAuthRefIndex = "authRef"

// ControlPlaneAuthRef returns the auth configuration a control plane names (in its own
// namespace unless authRef.namespace says otherwise), if it names one.
func ControlPlaneAuthRef(cp *konnectv1alpha2.KonnectGatewayControlPlane) (cache.ObjectName, bool) {
	ref := cp.Spec.KonnectConfiguration.APIAuthConfigurationRef
	if ref.Name == "" {
		return cache.ObjectName{}, false
	}
	ns := cp.Namespace
	if ref.Namespace != nil && *ref.Namespace != "" {
		ns = *ref.Namespace
	}
	return cache.ObjectName{Namespace: ns, Name: ref.Name}, true
}

// AddControlPlaneAuthRefIndex adds ControlPlaneAuthRefIndex to a control-plane informer, once:
// the second reconciler to ask finds it there.
func AddControlPlaneAuthRefIndex(informer cache.SharedIndexInformer) error {
	if _, ok := informer.GetIndexer().GetIndexers()[ControlPlaneAuthRefIndex]; ok {
		return nil
	}
	err := informer.AddIndexers(cache.Indexers{ControlPlaneAuthRefIndex: func(obj any) ([]string, error) {
		if cp, ok := obj.(*konnectv1alpha2.KonnectGatewayControlPlane); ok {
			if ref, ok := ControlPlaneAuthRef(cp); ok {
				return []string{ref.String()}, nil
			}
		}
		return nil, nil
	}})
	if err != nil {
		return fmt.Errorf("adding the control planes' auth reference index: %w", err)
	}
	return nil
}
