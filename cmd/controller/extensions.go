package main

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	kubeinformers "k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"

	konnectv1alpha1 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha1"
	konnectv1alpha2 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha2"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/controller"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/controller/extension"
	clientset "github.com/konnect-auth-controller/konnect-auth-controller/pkg/generated/clientset/versioned"
	informers "github.com/konnect-auth-controller/konnect-auth-controller/pkg/generated/informers/externalversions"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/konnect"
)

// extensionReconciler is the KonnectExtension reconciler and the informer factories only it
// uses (certificate Secrets, the CA Secret); start starts them, shutdown waits for them.
type extensionReconciler struct {
	*extension.Controller
	factories []kubeinformers.SharedInformerFactory
}

func (e *extensionReconciler) start(stop <-chan struct{}) {
	for _, f := range e.factories {
		f.Start(stop)
	}
}

func (e *extensionReconciler) shutdown() {
	for _, f := range e.factories {
		f.Shutdown()
	}
}

// newExtensionReconciler builds the KonnectExtension reconciler on the shared factory of our
// API group, plus two Secret informers of its own: Secrets labelled
// konghq.com/konnect-dp-cert=true (generated and Manual certificates; no other Secret is
// cached) and the one CA Secret in the controller's namespace. It returns nil when api is nil
// (no Konnect control-plane client in this build).
func newExtensionReconciler(ctx context.Context, opts options, kubeClient kubernetes.Interface, konnectClient clientset.Interface,
	metadataClient metadata.Interface, configFactory informers.SharedInformerFactory, tokens extension.TokenResolver,
	api konnect.ControlPlaneAPI, workqueueMetrics workqueue.MetricsProvider) (*extensionReconciler, error) {
	if api == nil {
		klog.FromContext(ctx).Info("KonnectExtension reconciler not started: this build has no Konnect control-plane client")
		return nil, nil
	}
	certSelector := labels.Set{konnectv1alpha2.DataPlaneCertificateLabel: "true"}.AsSelector().String()
	certFactory := kubeinformers.NewSharedInformerFactoryWithOptions(kubeClient, 0,
		kubeinformers.WithNamespace(opts.namespace),
		kubeinformers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = certSelector }),
		kubeinformers.WithTransform(controller.TrimForCache))
	caFactory := kubeinformers.NewSharedInformerFactoryWithOptions(kubeClient, 0,
		kubeinformers.WithNamespace(opts.clusterCASecretNamespace),
		kubeinformers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("metadata.name", opts.clusterCASecret).String()
		}))

	ctrl, err := extension.NewController(ctx,
		extension.Clients{Kube: kubeClient, Konnect: konnectClient, Metadata: metadataClient},
		extension.Informers{
			Extensions:    configFactory.Konnect().V1alpha2().KonnectExtensions(),
			ControlPlanes: configFactory.Konnect().V1alpha2().KonnectGatewayControlPlanes(),
			AuthConfigs:   configFactory.Konnect().V1alpha1().KonnectAPIAuthConfigurations(),
			CertSecrets:   certFactory.Core().V1().Secrets(),
			CASecrets:     caFactory.Core().V1().Secrets(),
		},
		api,
		extension.Options{
			SyncPeriod:      opts.konnectSyncPeriod,
			CASecret:        types.NamespacedName{Namespace: opts.clusterCASecretNamespace, Name: opts.clusterCASecret},
			Tokens:          tokens,
			MetricsProvider: workqueueMetrics,
		})
	if err != nil {
		return nil, fmt.Errorf("building the KonnectExtension reconciler: %w", err)
	}
	return &extensionReconciler{Controller: ctrl, factories: []kubeinformers.SharedInformerFactory{certFactory, caFactory}}, nil
}

// inlineTokens is a stopgap until shared.TokenResolver lands on main: it serves auth
// configurations with an inline token only (the apiauth reconciler has checked its form before
// it reports APIAuthValid True, which the extension reconciler requires first), and says
// plainly that Secret-held tokens are not supported yet.
type inlineTokens struct{}

func (inlineTokens) ResolveToken(_ context.Context, cfg *konnectv1alpha1.KonnectAPIAuthConfiguration) (string, *extension.TokenProblem) {
	if cfg.Spec.Type == konnectv1alpha1.KonnectAPIAuthTypeToken && cfg.Spec.Token != "" {
		return cfg.Spec.Token, nil
	}
	return "", &extension.TokenProblem{Reason: "Unsupported",
		Message: "tokens from Secrets are not yet used by the KonnectExtension reconciler"}
}
