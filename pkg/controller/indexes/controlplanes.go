package indexes

import (
	"fmt"
	"slices"
	"strings"

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

// ExtensionAuthRefIndex indexes KonnectExtensions that hold a certificate registration by the
// "namespace/name" of the KonnectAPIAuthConfiguration their status recorded: the credentials
// their clean-up in Konnect needs, which the configuration's in-use finalizer keeps.
const ExtensionAuthRefIndex = "extension.authRef"

// ExtensionAuthRef returns the auth configuration whose token an extension's clean-up needs: the
// one its status recorded, while it carries the cleanup finalizer and a registration.
func ExtensionAuthRef(ext *konnectv1alpha2.KonnectExtension) (cache.ObjectName, bool) {
	if ext.Annotations[konnectv1alpha2.DataPlaneCertificateAnnotation] == "" || !slices.Contains(ext.Finalizers, konnectv1alpha2.KonnectCleanupFinalizer) {
		return cache.ObjectName{}, false
	}
	return RecordedAuthRef(ext)
}

// RecordedAuthRef returns the auth configuration an extension's registration was made with,
// whether or not it still holds it (ExtensionAuthRef): what a handler queues when the extension
// changes or goes — its last state, once deleted, has no finalizer left.
func RecordedAuthRef(ext *konnectv1alpha2.KonnectExtension) (cache.ObjectName, bool) {
	// The configuration that registered it, as its annotation records (metadata: it survives
	// a status wiped or cleared when the control plane went); else the one status records.
	if ns, name, ok := strings.Cut(ext.Annotations[konnectv1alpha2.DataPlaneCertificateAuthAnnotation], "/"); ok && ns != "" && name != "" {
		return cache.ObjectName{Namespace: ns, Name: name}, true
	}
	k := ext.Status.Konnect
	if k == nil || k.AuthRef == nil || k.AuthRef.Name == "" {
		return cache.ObjectName{}, false
	}
	ns := ext.Namespace
	if k.AuthRef.Namespace != nil && *k.AuthRef.Namespace != "" {
		ns = *k.AuthRef.Namespace
	}
	return cache.ObjectName{Namespace: ns, Name: k.AuthRef.Name}, true
}

// AddExtensionAuthRefIndex adds ExtensionAuthRefIndex to an extension informer, once.
func AddExtensionAuthRefIndex(informer cache.SharedIndexInformer) error {
	if _, ok := informer.GetIndexer().GetIndexers()[ExtensionAuthRefIndex]; ok {
		return nil
	}
	err := informer.AddIndexers(cache.Indexers{ExtensionAuthRefIndex: func(obj any) ([]string, error) {
		if ext, ok := obj.(*konnectv1alpha2.KonnectExtension); ok {
			if ref, ok := ExtensionAuthRef(ext); ok {
				return []string{ref.String()}, nil
			}
		}
		return nil, nil
	}})
	if err != nil {
		return fmt.Errorf("adding the extensions' auth reference index: %w", err)
	}
	return nil
}
