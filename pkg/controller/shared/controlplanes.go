package shared

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

// OnChange returns event handlers that call enqueue with the object when it is added or
// deleted, and with both versions when an update changed it: a relist after a broken watch
// delivers unchanged objects again, and those need no work.
func OnChange(enqueue func(objs ...any)) cache.ResourceEventHandlerFuncs {
	return cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) { enqueue(obj) },
		UpdateFunc: func(old, cur any) {
			if o, c, ok := metaPair(old, cur); !ok || o != c {
				enqueue(old, cur)
			}
		},
		DeleteFunc: func(obj any) { enqueue(obj) },
	}
}

// metaPair returns the resource versions of two versions of an object.
func metaPair(old, cur any) (string, string, bool) {
	o, ok1 := old.(interface{ GetResourceVersion() string })
	c, ok2 := cur.(interface{ GetResourceVersion() string })
	if !ok1 || !ok2 {
		return "", "", false
	}
	return o.GetResourceVersion(), c.GetResourceVersion(), true
}
