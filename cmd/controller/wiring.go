package main

import (
	"context"
	"sync/atomic"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"

	"golang.org/x/time/rate"

	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/controller"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/controller/apiauth"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/controller/controlplane"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/controller/extension"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/controller/loop"
	clientset "github.com/konnect-auth-controller/konnect-auth-controller/pkg/generated/clientset/versioned"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/konnect"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/konnect/sdkclient"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/metrics"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/version"
)

// newContext builds the clients, the Konnect side and the controller.Context every reconciler is
// built from. wake is where the token checker reports finished checks; it is set once the auth
// configurations' reconciler exists.
func newContext(ctx context.Context, opts options, m *metrics.Metrics, wake *atomic.Pointer[func([]types.NamespacedName)]) (*controller.Context, error) {
	restConfig, err := clientcmd.BuildConfigFromFlags("", opts.kubeconfig)
	if err != nil {
		return nil, err
	}
	restConfig.QPS, restConfig.Burst = float32(opts.kubeAPIQPS), opts.kubeAPIBurst
	if opts.kubeAPIQPS == 0 {
		// client-go reads a negative QPS as "no client-side rate limiter" (zero would mean 5).
		restConfig.QPS = -1
	}
	restConfig.UserAgent = "konnect-auth-controller/" + version.Version
	// Protobuf for built-in types (Secrets, Events): less CPU and memory at scale.
	kubeConfig := rest.CopyConfig(restConfig)
	kubeConfig.ContentType = "application/vnd.kubernetes.protobuf"
	c := &controller.Context{
		RootContext:           ctx,
		Namespace:             opts.namespace,
		RevalidateInterval:    opts.revalidateInterval,
		KonnectSyncPeriod:     opts.konnectSyncPeriod,
		CertificateSyncPeriod: opts.konnectCertificateSyncPeriod,
		KonnectQPS:            opts.konnectQPS,
		CASecret:              types.NamespacedName{Namespace: opts.clusterCASecretNamespace, Name: opts.clusterCASecret},
		// One provider for every loop's queue: its metrics are registered once.
		WorkqueueMetrics: m.WorkqueueProvider(),
	}
	if c.KubeClient, err = kubernetes.NewForConfig(kubeConfig); err != nil {
		return nil, err
	}
	if c.CRDClient, err = clientset.NewForConfig(restConfig); err != nil {
		return nil, err
	}
	if c.MetadataClient, err = metadata.NewForConfig(restConfig); err != nil {
		return nil, err
	}

	// One limiter for every call to Konnect, token checks and control planes alike, so that
	// --konnect-qps caps the process, not each reconciler.
	limiter := rate.NewLimiter(rate.Limit(opts.konnectQPS), opts.konnectBurst)
	client := sdkclient.New(sdkclient.Options{Timeout: opts.konnectTimeout, UserAgent: "konnect-auth-controller/" + version.Version})
	checker := konnect.NewChecker(ctx, m.InstrumentValidator(client), konnect.CheckerOptions{
		// A verdict is reused no longer than the re-validation interval, so each re-validation
		// really asks Konnect again.
		TTL:     opts.revalidateInterval,
		Limiter: limiter,
		Done: func(askers []types.NamespacedName) {
			if f := wake.Load(); f != nil {
				(*f)(askers)
			}
		},
	})
	m.RegisterCache(checker.Stats)
	c.TokenChecker = checker
	// Re-syncs give way to user-driven calls, and hold back after a 429.
	logger := klog.FromContext(ctx)
	c.KonnectAPI = konnect.WithLimiter(m.InstrumentControlPlaneAPI(client), limiter, func(d time.Duration) {
		m.ResyncsSlowed()
		logger.Info("Konnect answered 429 Too Many Requests: re-syncs hold back; user-driven calls go on", "for", d)
	})
	if err := c.Complete(); err != nil {
		return nil, err
	}
	// Every reconciler's Events pass through the metrics, which count certificate renewals.
	recorder := c.Recorder
	c.Recorder = func(component string) record.EventRecorder { return m.CountEvents(recorder(component)) }
	return c, nil
}

// newReconcilers builds the reconcilers and returns their loops: auth configurations always,
// control planes and extensions when the API server serves them (connect).
func newReconcilers(c *controller.Context, m *metrics.Metrics, connect bool, wake *atomic.Pointer[func([]types.NamespacedName)]) ([]*loop.Loop, error) {
	auth, err := apiauth.New(withLogger(c, "apiauth"))
	if err != nil {
		return nil, err
	}
	wakeAuth := auth.Wake
	wake.Store(&wakeAuth)
	m.RegisterConfigurations(auth.Lister())
	loops := auth.Loops()
	if !connect {
		m.RegisterObjects(metrics.Objects{AuthConfigurations: auth.Lister()})
		klog.FromContext(c.RootContext).Info("The API server does not serve konnectgatewaycontrolplanes and konnectextensions: " +
			"control planes and extensions are not reconciled; install their CRDs from manifests/crd/ and restart to reconcile them")
		return loops, nil
	}
	planes, err := controlplane.New(withLogger(c, "controlplane"))
	if err != nil {
		return nil, err
	}
	extensions, err := extension.New(withLogger(c, "extension"))
	if err != nil {
		return nil, err
	}
	// The informers the reconcilers registered, read again at every scrape.
	m.RegisterObjects(metrics.Objects{
		AuthConfigurations: auth.Lister(),
		ControlPlanes:      c.CRDInformers.Konnect().V1alpha2().KonnectGatewayControlPlanes().Lister(),
		Extensions:         c.CRDInformers.Konnect().V1alpha2().KonnectExtensions().Lister(),
		CertificateSecrets: c.CertificateSecrets.Core().V1().Secrets().Lister(),
	})
	return append(append(loops, planes.Loops()...), extensions.Loops()...), nil
}

// withLogger is c with its root logger named for one reconciler.
func withLogger(c *controller.Context, name string) *controller.Context {
	named := *c
	named.RootContext = klog.NewContext(c.RootContext, klog.FromContext(c.RootContext).WithName(name))
	return &named
}
