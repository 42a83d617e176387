package main

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	kubeinformers "k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"

	konnectv1alpha2 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha2"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/controller/controlplane"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/controller/shared"
	clientset "github.com/konnect-auth-controller/konnect-auth-controller/pkg/generated/clientset/versioned"
	informers "github.com/konnect-auth-controller/konnect-auth-controller/pkg/generated/informers/externalversions"
	configurationinformers "github.com/konnect-auth-controller/konnect-auth-controller/pkg/generated/informers/externalversions/configuration/v1alpha1"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/konnect"
)

// connectDeps is what the control-plane and extension reconcilers share with the rest of the
// process: the clients, the informer factories (so that auth configurations, Secrets and
// grants are cached once), the token resolver, and the Konnect client behind the one limiter.
type connectDeps struct {
	kube     kubernetes.Interface
	crd      clientset.Interface
	metadata metadata.Interface
	factory  informers.SharedInformerFactory
	secrets  kubeinformers.SharedInformerFactory
	grants   configurationinformers.KongReferenceGrantInformer // nil with --namespace
	tokens   *shared.TokenResolver
	api      konnect.ControlPlaneAPI
	metrics  workqueue.MetricsProvider
}

// newConnectReconcilers builds the KonnectGatewayControlPlane and KonnectExtension
// reconcilers, or returns nils (and says so) when the API server does not serve them: a
// cluster with only the KonnectAPIAuthConfiguration CRD keeps validating tokens.
func newConnectReconcilers(ctx context.Context, opts options, d connectDeps) (*controlplane.Controller, *extensionReconciler, error) {
	logger := klog.FromContext(ctx)
	served, err := v1alpha2Served(d.kube)
	if err != nil {
		return nil, nil, err
	}
	if !served {
		logger.Info("The API server does not serve konnectgatewaycontrolplanes and konnectextensions." + konnectv1alpha2.GroupName + "/" + konnectv1alpha2.SchemeGroupVersion.Version +
			": control planes and extensions are not reconciled; install their CRDs from manifests/crd/ and restart to reconcile them")
		return nil, nil, nil
	}
	cps, err := controlplane.NewController(klog.NewContext(ctx, logger.WithName("controlplane")),
		controlplane.Clients{Kube: d.kube, Konnect: d.crd, Metadata: d.metadata},
		d.factory.Konnect().V1alpha2().KonnectGatewayControlPlanes(),
		d.factory.Konnect().V1alpha1().KonnectAPIAuthConfigurations(),
		d.secrets.Core().V1().Secrets(),
		d.grants,
		d.api,
		controlplane.Options{SyncPeriod: opts.konnectSyncPeriod, MetricsProvider: d.metrics})
	if err != nil {
		return nil, nil, err
	}
	extensions, err := newExtensionReconciler(klog.NewContext(ctx, logger.WithName("extension")), opts, d)
	if err != nil {
		return nil, nil, err
	}
	return cps, extensions, nil
}

// v1alpha2Served reports whether the API server serves both KonnectGatewayControlPlanes and
// KonnectExtensions.
func v1alpha2Served(kubeClient kubernetes.Interface) (bool, error) {
	gv := konnectv1alpha2.SchemeGroupVersion.String()
	resources, err := kubeClient.Discovery().ServerResourcesForGroupVersion(gv)
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("asking the API server for %s: %w", gv, err)
	}
	found := 0
	for _, r := range resources.APIResources {
		if r.Name == "konnectgatewaycontrolplanes" || r.Name == "konnectextensions" {
			found++
		}
	}
	return found == 2, nil
}
