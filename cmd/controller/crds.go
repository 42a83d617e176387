package main

import (
	"fmt"
	"slices"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/kubernetes"

	configurationv1alpha1 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/configuration/v1alpha1"
	konnectv1alpha1 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha1"
	konnectv1alpha2 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha2"
)

// checkCRDs fails with a clear message when the API server does not serve what the controller
// cannot run without, instead of letting the informers retry forever: KonnectAPIAuthConfigurations
// and, unless confined to one namespace, KongReferenceGrants (from this project's CRD or Kong's).
// It reports whether control planes and extensions are served too: a cluster with only the
// KonnectAPIAuthConfiguration CRD keeps validating tokens.
func checkCRDs(kubeClient kubernetes.Interface, opts options) (connect bool, err error) {
	gv := konnectv1alpha1.SchemeGroupVersion.String()
	served, err := servedResources(kubeClient, gv)
	if err != nil {
		return false, err
	}
	if served == nil {
		return false, fmt.Errorf("the API server does not serve %s: install the KonnectAPIAuthConfiguration CRD first (kubectl apply -f manifests/crd/)", gv)
	}
	if !slices.Contains(served, "konnectapiauthconfigurations") {
		return false, fmt.Errorf("the API server serves %s but not konnectapiauthconfigurations: install the CRD from manifests/crd/", gv)
	}
	if opts.namespace == "" {
		gv := configurationv1alpha1.SchemeGroupVersion.String()
		served, err := servedResources(kubeClient, gv)
		if err != nil {
			return false, err
		}
		if !slices.Contains(served, "kongreferencegrants") {
			return false, fmt.Errorf("the API server does not serve kongreferencegrants.%s: install the KongReferenceGrant CRD "+
				"(kubectl apply -f manifests/crd/, or Kong's operator's CRDs)", configurationv1alpha1.GroupName)
		}
	}
	served, err = servedResources(kubeClient, konnectv1alpha2.SchemeGroupVersion.String())
	if err != nil {
		return false, err
	}
	return slices.Contains(served, "konnectgatewaycontrolplanes") && slices.Contains(served, "konnectextensions"), nil
}

// servedResources lists the resources the API server serves in a group version; nil when it
// serves none.
func servedResources(kubeClient kubernetes.Interface, gv string) ([]string, error) {
	resources, err := kubeClient.Discovery().ServerResourcesForGroupVersion(gv)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("asking the API server for %s: %w", gv, err)
	}
	names := []string{}
	for _, r := range resources.APIResources {
		names = append(names, r.Name)
	}
	return names, nil
}
