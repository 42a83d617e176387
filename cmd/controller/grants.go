package main

import (
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/kubernetes"

	configurationv1alpha1 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/configuration/v1alpha1"
	informers "github.com/konnect-auth-controller/konnect-auth-controller/pkg/generated/informers/externalversions"
	configurationinformers "github.com/konnect-auth-controller/konnect-auth-controller/pkg/generated/informers/externalversions/configuration/v1alpha1"
)

// grantInformer returns the KongReferenceGrant informer, or nil with --namespace: a controller
// confined to one namespace can read no Secret elsewhere, so it refuses every cross-namespace
// reference and needs no access to grants.
func grantInformer(opts options, factory informers.SharedInformerFactory) configurationinformers.KongReferenceGrantInformer {
	if opts.namespace != "" {
		return nil
	}
	return factory.Configuration().V1alpha1().KongReferenceGrants()
}

// checkGrantCRDInstalled fails with a clear message when the controller watches every namespace
// and the API server does not serve KongReferenceGrants (from this project's CRD or Kong's),
// instead of waiting forever for an informer that cannot list.
func checkGrantCRDInstalled(kubeClient kubernetes.Interface, opts options) error {
	if opts.namespace != "" {
		return nil
	}
	gv := configurationv1alpha1.SchemeGroupVersion.String()
	resources, err := kubeClient.Discovery().ServerResourcesForGroupVersion(gv)
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("asking the API server for %s: %w", gv, err)
	}
	if err == nil {
		for _, r := range resources.APIResources {
			if r.Name == "kongreferencegrants" {
				return nil
			}
		}
	}
	return fmt.Errorf("the API server does not serve kongreferencegrants.%s: install the KongReferenceGrant CRD "+
		"(kubectl apply -f manifests/crd/, or Kong's operator's CRDs)", configurationv1alpha1.GroupName)
}
