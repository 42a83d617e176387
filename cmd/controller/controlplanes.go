package main

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	kubeinformers "k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/klog/v2"

	"golang.org/x/time/rate"

	konnectv1alpha2 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha2"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/controller/controlplane"
	clientset "github.com/konnect-auth-controller/konnect-auth-controller/pkg/generated/clientset/versioned"
	informers "github.com/konnect-auth-controller/konnect-auth-controller/pkg/generated/informers/externalversions"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/konnect"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/metrics"
)

// controlPlaneDeps is what the control-plane reconciler shares with the rest of the process:
// the clients, the informer factories (so that auth configurations, Secrets and grants are
// cached once), the Konnect client and the one Konnect rate limiter.
type controlPlaneDeps struct {
	kube     kubernetes.Interface
	crd      clientset.Interface
	metadata metadata.Interface
	factory  informers.SharedInformerFactory
	secrets  kubeinformers.SharedInformerFactory
	api      konnect.ControlPlaneAPI
	limiter  *rate.Limiter
	metrics  *metrics.Metrics
}

// newControlPlanes builds the KonnectGatewayControlPlane reconciler, or returns nil (and says
// so) when the API server does not serve KonnectGatewayControlPlanes: a cluster with only the
// KonnectAPIAuthConfiguration CRD keeps validating tokens.
func newControlPlanes(ctx context.Context, opts options, d controlPlaneDeps) (*controlplane.Controller, error) {
	logger := klog.FromContext(ctx)
	served, err := controlPlanesServed(d.kube)
	if err != nil {
		return nil, err
	}
	if !served {
		logger.Info("The API server does not serve konnectgatewaycontrolplanes." + konnectv1alpha2.GroupName + "/" + konnectv1alpha2.SchemeGroupVersion.Version +
			": control planes are not reconciled; install the CRD from manifests/crd/ and restart to reconcile them")
		return nil, nil
	}
	return controlplane.NewController(klog.NewContext(ctx, logger.WithName("controlplane")),
		controlplane.Clients{Kube: d.kube, Konnect: d.crd, Metadata: d.metadata},
		d.factory.Konnect().V1alpha2().KonnectGatewayControlPlanes(),
		d.factory.Konnect().V1alpha1().KonnectAPIAuthConfigurations(),
		d.secrets.Core().V1().Secrets(),
		grantInformer(opts, d.factory), // grants.go
		konnect.WithLimiter(d.api, d.limiter),
		controlplane.Options{SyncPeriod: opts.konnectSyncPeriod, MetricsProvider: d.metrics.WorkqueueProvider()})
}

func controlPlanesServed(kubeClient kubernetes.Interface) (bool, error) {
	gv := konnectv1alpha2.SchemeGroupVersion.String()
	resources, err := kubeClient.Discovery().ServerResourcesForGroupVersion(gv)
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("asking the API server for %s: %w", gv, err)
	}
	for _, r := range resources.APIResources {
		if r.Name == "konnectgatewaycontrolplanes" {
			return true, nil
		}
	}
	return false, nil
}
