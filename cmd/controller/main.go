// Command konnect-auth-controller validates KonnectAPIAuthConfigurations against Kong Konnect
// and reports the verdict in their status.
//
// main.go wires clients, informers and the controller and runs them; options.go has the flags,
// leaderelection.go the Lease, servers.go the probe and metrics endpoints.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	kubeinformers "k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/klog/v2"

	"golang.org/x/time/rate"

	konnectv1alpha1 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha1"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/controller/apiauth"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/controller/shared"
	clientset "github.com/konnect-auth-controller/konnect-auth-controller/pkg/generated/clientset/versioned"
	informers "github.com/konnect-auth-controller/konnect-auth-controller/pkg/generated/informers/externalversions"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/konnect"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/konnect/sdkclient"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/metrics"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/version"
)

func main() {
	var opts options
	klog.InitFlags(flag.CommandLine)
	opts.addFlags(flag.CommandLine)
	flag.Parse()
	capVerbosity()
	if opts.showVersion {
		fmt.Println(version.Version)
		return
	}
	// The Konnect SDK prints whole requests, bearer token included, when this is set.
	if v := os.Getenv("KONNECT_SDK_HTTP_DUMP_REQUEST"); v != "" && v != "false" && v != "0" {
		fmt.Fprintln(os.Stderr, "konnect-auth-controller: refusing to start with KONNECT_SDK_HTTP_DUMP_REQUEST set: the Konnect SDK would print tokens")
		os.Exit(2)
	}
	if err := opts.validate(); err != nil {
		fmt.Fprintln(os.Stderr, "konnect-auth-controller:", err)
		os.Exit(2)
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	ctx = klog.NewContext(ctx, klog.Background())

	if err := run(ctx, opts); err != nil {
		klog.FromContext(ctx).Error(err, "Controller failed")
		klog.Flush()
		os.Exit(1)
	}
	klog.Flush()
}

func run(ctx context.Context, opts options) error {
	logger := klog.FromContext(ctx)
	logger.Info("Starting konnect-auth-controller", "version", version.Version, "namespace", opts.namespace,
		"workers", opts.workers, "revalidateInterval", opts.revalidateInterval)

	restConfig, err := clientcmd.BuildConfigFromFlags("", opts.kubeconfig)
	if err != nil {
		return fmt.Errorf("loading the Kubernetes client configuration: %w", err)
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

	kubeClient, err := kubernetes.NewForConfig(kubeConfig)
	if err != nil {
		return err
	}
	crdClient, err := clientset.NewForConfig(restConfig)
	if err != nil {
		return err
	}
	metadataClient, err := metadata.NewForConfig(restConfig)
	if err != nil {
		return err
	}
	if err := checkCRDInstalled(kubeClient); err != nil {
		return err
	}
	if err := checkGrantCRDInstalled(kubeClient, opts); err != nil { // grants.go
		return err
	}

	m := metrics.New(version.Version)
	// One limiter for every call to Konnect, token checks and control planes alike, so that
	// --konnect-qps caps the process, not each reconciler.
	konnectLimiter := rate.NewLimiter(rate.Limit(opts.konnectQPS), opts.konnectBurst)
	konnectClient := sdkclient.New(sdkclient.Options{Timeout: opts.konnectTimeout, UserAgent: "konnect-auth-controller/" + version.Version})
	// ctrl is assigned below; the checker wakes it only once it runs.
	var ctrl *apiauth.Controller
	checker := konnect.NewChecker(ctx,
		m.InstrumentValidator(konnectClient),
		konnect.CheckerOptions{
			// A verdict is reused no longer than the re-validation interval, so each
			// re-validation really asks Konnect again.
			TTL:     opts.revalidateInterval,
			Limiter: konnectLimiter,
			Done:    func(askers []types.NamespacedName) { ctrl.Wake(askers) },
		})
	m.RegisterCache(checker.Stats)

	configFactory := informers.NewSharedInformerFactoryWithOptions(crdClient, 0,
		informers.WithNamespace(opts.namespace), informers.WithTransform(shared.TrimForCache))
	// Only Secrets labelled as Konnect credentials are listed, watched and cached: neither
	// memory nor reach extends to the cluster's other Secrets.
	secretSelector := labels.Set{konnectv1alpha1.SecretCredentialLabel: konnectv1alpha1.SecretCredentialLabelValue}.AsSelector().String()
	secretFactory := kubeinformers.NewSharedInformerFactoryWithOptions(kubeClient, 0,
		kubeinformers.WithNamespace(opts.namespace),
		kubeinformers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = secretSelector }),
		kubeinformers.WithTransform(shared.TrimForCache))

	// One provider for every reconciler's queue: its metrics are registered once.
	workqueueMetrics := m.WorkqueueProvider()
	ctrl, err = apiauth.NewController(ctx,
		apiauth.Clients{Kube: kubeClient, Konnect: crdClient, Metadata: metadataClient},
		configFactory.Konnect().V1alpha1().KonnectAPIAuthConfigurations(),
		secretFactory.Core().V1().Secrets(),
		grantInformer(opts, configFactory), // grants.go
		checker,
		apiauth.Options{RevalidateInterval: opts.revalidateInterval, MetricsProvider: workqueueMetrics})
	if err != nil {
		return err
	}
	m.RegisterConfigurations(ctrl.Lister())

	var watchdog *leaderelection.HealthzAdaptor
	if opts.leaderElect {
		// A leader that has not renewed for this long past the lease is reported unhealthy,
		// so the kubelet restarts it rather than leaving a wedged leader in place.
		watchdog = leaderelection.NewLeaderHealthzAdaptor(20 * time.Second)
	}
	// The control-plane and extension reconcilers (controlplanes.go, extensions.go) join the
	// auth configurations' here; all run under the one Lease. Their Konnect calls wait on the
	// same limiter as the token checks, and they resolve tokens as the auth configurations'
	// reconciler does.
	reconcilers := []reconciler{ctrl}
	tokens := &shared.TokenResolver{
		Secrets:        secretFactory.Core().V1().Secrets().Lister(),
		SecretMetadata: metadataClient.Resource(corev1.SchemeGroupVersion.WithResource("secrets")),
	}
	grants := grantInformer(opts, configFactory) // grants.go
	if grants != nil {
		tokens.Grants.Lister = grants.Lister()
	}
	deps := connectDeps{
		kube: kubeClient, crd: crdClient, metadata: metadataClient,
		factory: configFactory, secrets: secretFactory, grants: grants, tokens: tokens,
		api:     konnect.WithLimiter(m.InstrumentControlPlaneAPI(konnectClient), konnectLimiter),
		metrics: workqueueMetrics,
	}
	cps, extensions, err := newConnectReconcilers(ctx, opts, deps) // controlplanes.go, extensions.go
	if err != nil {
		return err
	}
	if cps != nil {
		reconcilers = append(reconcilers, cps, extensions)
	}

	stopServers, err := startServers(ctx, opts, m, allSynced(reconcilers), watchdog)
	if err != nil {
		return err
	}
	defer stopServers()

	// Informers start at once, also on a standby replica, so that it takes over with warm
	// caches; only the leader runs workers.
	// The informers stop with run, whatever ends it (SIGTERM or a lost Lease): the factories'
	// Shutdown waits for them.
	informerCtx, stopInformers := context.WithCancel(ctx)
	configFactory.Start(informerCtx.Done())
	secretFactory.Start(informerCtx.Done())
	defer configFactory.Shutdown()
	defer secretFactory.Shutdown()
	if extensions != nil {
		extensions.start(informerCtx.Done())
		defer extensions.shutdown()
	}
	defer stopInformers()

	run := func(ctx context.Context) error { return runAll(ctx, reconcilers, opts.workers) }
	if !opts.leaderElect {
		return run(ctx)
	}
	return runWithLeaderElection(ctx, opts, kubeClient, run, watchdog)
}

// reconciler is one of the controller's reconcilers (auth configurations, control planes,
// extensions): each has its own queue and workers.
type reconciler interface {
	Run(ctx context.Context, workers int) error
	HasSynced() bool
}

// runAll runs every reconciler until ctx ends, and returns once all have stopped. The first to
// fail stops the others: a process with one reconciler down must restart, not linger.
func runAll(ctx context.Context, reconcilers []reconciler, workers int) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, len(reconcilers))
	for _, r := range reconcilers {
		go func() {
			err := r.Run(ctx, workers)
			if err != nil {
				cancel()
			}
			errs <- err
		}()
	}
	var first error
	for range reconcilers {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// allSynced reports whether every reconciler's caches are filled (the readiness probe).
func allSynced(reconcilers []reconciler) func() bool {
	return func() bool {
		for _, r := range reconcilers {
			if !r.HasSynced() {
				return false
			}
		}
		return true
	}
}

// checkCRDInstalled fails with a clear message when the API server does not serve
// KonnectAPIAuthConfigurations, instead of letting the informers retry forever.
func checkCRDInstalled(kubeClient kubernetes.Interface) error {
	gv := konnectv1alpha1.SchemeGroupVersion.String()
	resources, err := kubeClient.Discovery().ServerResourcesForGroupVersion(gv)
	if apierrors.IsNotFound(err) {
		return fmt.Errorf("the API server does not serve %s: install the KonnectAPIAuthConfiguration CRD first (kubectl apply -f manifests/crd/)", gv)
	}
	if err != nil {
		return fmt.Errorf("asking the API server for %s: %w", gv, err)
	}
	for _, r := range resources.APIResources {
		if r.Name == "konnectapiauthconfigurations" {
			return nil
		}
	}
	return fmt.Errorf("the API server serves %s but not konnectapiauthconfigurations: install the CRD from manifests/crd/", gv)
}
