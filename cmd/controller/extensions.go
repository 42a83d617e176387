package main

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	kubeinformers "k8s.io/client-go/informers"

	konnectv1alpha1 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha1"
	konnectv1alpha2 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha2"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/controller/extension"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/controller/shared"
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
// cached) and the one CA Secret in the controller's namespace.
func newExtensionReconciler(ctx context.Context, opts options, d connectDeps) (*extensionReconciler, error) {
	certSelector := labels.Set{konnectv1alpha2.DataPlaneCertificateLabel: "true"}.AsSelector().String()
	certFactory := kubeinformers.NewSharedInformerFactoryWithOptions(d.kube, 0,
		kubeinformers.WithNamespace(opts.namespace),
		kubeinformers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = certSelector }),
		kubeinformers.WithTransform(shared.TrimForCache))
	caFactory := kubeinformers.NewSharedInformerFactoryWithOptions(d.kube, 0,
		kubeinformers.WithNamespace(opts.clusterCASecretNamespace),
		kubeinformers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("metadata.name", opts.clusterCASecret).String()
		}))

	ctrl, err := extension.NewController(ctx,
		extension.Clients{Kube: d.kube, Konnect: d.crd, Metadata: d.metadata},
		extension.Informers{
			Extensions:    d.factory.Konnect().V1alpha2().KonnectExtensions(),
			ControlPlanes: d.factory.Konnect().V1alpha2().KonnectGatewayControlPlanes(),
			AuthConfigs:   d.factory.Konnect().V1alpha1().KonnectAPIAuthConfigurations(),
			CertSecrets:   certFactory.Core().V1().Secrets(),
			CASecrets:     caFactory.Core().V1().Secrets(),
		},
		d.api,
		extension.Options{
			SyncPeriod:      opts.konnectSyncPeriod,
			CASecret:        types.NamespacedName{Namespace: opts.clusterCASecretNamespace, Name: opts.clusterCASecret},
			Tokens:          sharedTokens{d.tokens},
			MetricsProvider: d.metrics,
		})
	if err != nil {
		return nil, fmt.Errorf("building the KonnectExtension reconciler: %w", err)
	}
	return &extensionReconciler{Controller: ctrl, factories: []kubeinformers.SharedInformerFactory{certFactory, caFactory}}, nil
}

// sharedTokens resolves auth configurations' tokens for the extension reconciler exactly as the
// auth configurations' reconciler does (inline, or from a labelled Secret, across namespaces
// only with a KongReferenceGrant).
type sharedTokens struct{ *shared.TokenResolver }

// ResolveToken implements extension.TokenResolver.
func (t sharedTokens) ResolveToken(ctx context.Context, cfg *konnectv1alpha1.KonnectAPIAuthConfiguration) (string, *extension.TokenProblem) {
	src, problem := t.Resolve(ctx, cfg)
	if problem != nil {
		return "", &extension.TokenProblem{Reason: problem.Reason, Message: problem.Message}
	}
	return src.Token, nil
}
