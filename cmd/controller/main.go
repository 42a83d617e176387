// Command konnect-auth-controller validates KonnectAPIAuthConfigurations against Kong Konnect
// and reports the verdict in their status.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/uuid"
	kubeinformers "k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/klog/v2"

	"golang.org/x/time/rate"

	konnectv1alpha1 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha1"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/controller"
	clientset "github.com/konnect-auth-controller/konnect-auth-controller/pkg/generated/clientset/versioned"
	informers "github.com/konnect-auth-controller/konnect-auth-controller/pkg/generated/informers/externalversions"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/konnect"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/konnect/sdkclient"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/metrics"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/version"
)

// options are the command-line flags.
type options struct {
	kubeconfig         string
	namespace          string
	workers            int
	kubeAPIQPS         float64
	kubeAPIBurst       int
	konnectQPS         float64
	konnectBurst       int
	konnectTimeout     time.Duration
	revalidateInterval time.Duration
	showVersion        bool

	leaderElect          bool
	leaderElectNamespace string
	leaderElectID        string
	leaseDuration        time.Duration
	renewDeadline        time.Duration
	retryPeriod          time.Duration

	healthProbeAddr string
	metricsAddr     string
}

func (o *options) addFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "Path to a kubeconfig file. Empty: the in-cluster configuration.")
	fs.StringVar(&o.namespace, "namespace", "", "Watch KonnectAPIAuthConfigurations and Secrets in this namespace only. Empty: all namespaces.")
	// Syncs spend most of their time waiting on the apiserver or Konnect, not the CPU.
	fs.IntVar(&o.workers, "workers", 16, "Number of configurations synced concurrently.")
	// client-go's 5 QPS would take half an hour to write ten thousand statuses.
	fs.Float64Var(&o.kubeAPIQPS, "kube-api-qps", 300, "Sustained queries per second to the Kubernetes API.")
	fs.IntVar(&o.kubeAPIBurst, "kube-api-burst", 600, "Burst of queries to the Kubernetes API.")
	fs.Float64Var(&o.konnectQPS, "konnect-qps", 20, "Sustained calls per second to Konnect, across all configurations.")
	fs.IntVar(&o.konnectBurst, "konnect-burst", 40, "Burst of calls to Konnect.")
	fs.DurationVar(&o.konnectTimeout, "konnect-timeout", 10*time.Second, "Timeout of one call to Konnect.")
	fs.DurationVar(&o.revalidateInterval, "revalidate-interval", time.Hour, "How often every token is checked with Konnect again (with up to 10% jitter).")
	fs.BoolVar(&o.showVersion, "version", false, "Print the version and exit.")

	fs.BoolVar(&o.leaderElect, "leader-elect", false, "Elect a leader with a Lease so that only one replica syncs at a time.")
	fs.StringVar(&o.leaderElectNamespace, "leader-elect-namespace", "", "Namespace of the Lease. Empty: $POD_NAMESPACE, else the namespace of the in-cluster service account, else default.")
	fs.StringVar(&o.leaderElectID, "leader-elect-id", "konnect-auth-controller", "Name of the Lease.")
	fs.DurationVar(&o.leaseDuration, "leader-elect-lease-duration", 15*time.Second, "How long a standby waits before taking over a Lease that is not renewed.")
	fs.DurationVar(&o.renewDeadline, "leader-elect-renew-deadline", 10*time.Second, "How long the leader keeps trying to renew before it gives up leading.")
	fs.DurationVar(&o.retryPeriod, "leader-elect-retry-period", 2*time.Second, "How often candidates try to acquire or renew the Lease.")

	fs.StringVar(&o.healthProbeAddr, "health-probe-bind-address", ":8081", "Address serving /healthz and /readyz. \"0\" disables it.")
	fs.StringVar(&o.metricsAddr, "metrics-bind-address", ":8080", "Address serving Prometheus metrics at /metrics. \"0\" disables it.")
}

func (o *options) validate() error {
	var errs []error
	if o.workers < 1 {
		errs = append(errs, fmt.Errorf("--workers must be at least 1, got %d", o.workers))
	}
	if o.kubeAPIQPS <= 0 || o.kubeAPIBurst < 1 {
		errs = append(errs, errors.New("--kube-api-qps must be positive and --kube-api-burst at least 1"))
	}
	if o.konnectQPS <= 0 || o.konnectBurst < 1 {
		errs = append(errs, errors.New("--konnect-qps must be positive and --konnect-burst at least 1"))
	}
	if o.konnectTimeout <= 0 {
		errs = append(errs, errors.New("--konnect-timeout must be positive"))
	}
	if o.revalidateInterval < time.Second {
		errs = append(errs, errors.New("--revalidate-interval must be at least 1s"))
	}
	if o.leaderElect && (o.leaseDuration <= o.renewDeadline || o.renewDeadline <= o.retryPeriod || o.retryPeriod <= 0) {
		errs = append(errs, errors.New("leader election needs --leader-elect-lease-duration > --leader-elect-renew-deadline > --leader-elect-retry-period > 0"))
	}
	return errors.Join(errs...)
}

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

// maxVerbosity is the highest -v honoured. From -v=6 up client-go logs requests, and from
// -v=8 the bodies of API responses, which hold inline tokens and Secret data. The
// controller's own logs stop at V(5), so nothing useful is lost.
const maxVerbosity = 5

// capVerbosity lowers -v to maxVerbosity and refuses -vmodule, which could raise client-go's
// files past it, so that no -v a user can pass prints a token.
func capVerbosity() {
	if vmodule := flag.Lookup("vmodule"); vmodule != nil && vmodule.Value.String() != "" {
		fmt.Fprintln(os.Stderr, "konnect-auth-controller: --vmodule is not supported: it could make client-go log API bodies, which hold tokens; use -v (at most 5)")
		os.Exit(2)
	}
	v := flag.Lookup("v")
	if level, err := strconv.Atoi(v.Value.String()); err == nil && level > maxVerbosity {
		_ = v.Value.Set(strconv.Itoa(maxVerbosity))
		klog.Background().Info("Lowered -v: levels above 5 make client-go print API bodies, which hold tokens", "requested", level, "using", maxVerbosity)
	}
}

func run(ctx context.Context, opts options) error {
	logger := klog.FromContext(ctx)
	logger.Info("Starting konnect-auth-controller", "version", version.Version, "namespace", opts.namespace,
		"workers", opts.workers, "revalidateInterval", opts.revalidateInterval)

	restConfig, err := clientcmd.BuildConfigFromFlags("", opts.kubeconfig)
	if err != nil {
		return fmt.Errorf("loading the Kubernetes client configuration: %w", err)
	}
	restConfig.QPS = float32(opts.kubeAPIQPS)
	restConfig.Burst = opts.kubeAPIBurst
	restConfig.UserAgent = "konnect-auth-controller/" + version.Version
	// Protobuf for built-in types (Secrets, Events): less CPU and memory at scale.
	kubeConfig := rest.CopyConfig(restConfig)
	kubeConfig.ContentType = "application/vnd.kubernetes.protobuf"

	kubeClient, err := kubernetes.NewForConfig(kubeConfig)
	if err != nil {
		return err
	}
	konnectClient, err := clientset.NewForConfig(restConfig)
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
	cachingValidator := konnect.NewCachingValidator(
		m.InstrumentValidator(sdkclient.New(sdkclient.Options{Timeout: opts.konnectTimeout, UserAgent: "konnect-auth-controller/" + version.Version})),
		konnect.CacheOptions{
			// A verdict is cached no longer than the re-validation interval, so each
			// re-validation really asks Konnect again.
			TTL:     opts.revalidateInterval,
			Limiter: rate.NewLimiter(rate.Limit(opts.konnectQPS), opts.konnectBurst),
			// Workers whose configuration shares a token with a slow call wait for it at
			// most this long, then move on to other configurations (no head-of-line blocking
			// when Konnect hangs).
			JoinWait: time.Second,
		})
	m.RegisterCache(cachingValidator.Stats)

	configFactory := informers.NewSharedInformerFactoryWithOptions(konnectClient, 0,
		informers.WithNamespace(opts.namespace), informers.WithTransform(controller.TrimForCache))
	// Only Secrets labelled as Konnect credentials are listed, watched and cached: neither
	// memory nor reach extends to the cluster's other Secrets.
	secretSelector := labels.Set{konnectv1alpha1.SecretCredentialLabel: konnectv1alpha1.SecretCredentialLabelValue}.AsSelector().String()
	secretFactory := kubeinformers.NewSharedInformerFactoryWithOptions(kubeClient, 0,
		kubeinformers.WithNamespace(opts.namespace),
		kubeinformers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = secretSelector }),
		kubeinformers.WithTransform(controller.TrimForCache))

	ctrl, err := controller.NewController(ctx,
		controller.Clients{Kube: kubeClient, Konnect: konnectClient, Metadata: metadataClient},
		configFactory.Konnect().V1alpha1().KonnectAPIAuthConfigurations(),
		secretFactory.Core().V1().Secrets(),
		grantInformer(opts, configFactory), // grants.go
		cachingValidator,
		controller.Options{RevalidateInterval: opts.revalidateInterval, MetricsProvider: m.WorkqueueProvider()})
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
	stopServers, err := startServers(ctx, opts, m, ctrl, watchdog)
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
	defer stopInformers()

	if !opts.leaderElect {
		return ctrl.Run(ctx, opts.workers)
	}
	return runWithLeaderElection(ctx, opts, kubeClient, ctrl, watchdog)
}

// runWithLeaderElection runs the controller's workers only while this replica holds the
// Lease. On SIGTERM the workers drain first and the Lease is released after, so a successor
// never overlaps with syncs still in flight; losing the Lease is an error (exit 1) so the
// replica restarts clean rather than lingering.
func runWithLeaderElection(ctx context.Context, opts options, kubeClient kubernetes.Interface, ctrl *controller.Controller, watchdog *leaderelection.HealthzAdaptor) error {
	logger := klog.FromContext(ctx)
	identity, err := os.Hostname()
	if err != nil {
		return err
	}
	identity += "_" + string(uuid.NewUUID())
	namespace := opts.leaderElectNamespace
	if namespace == "" {
		namespace = podNamespace()
	}
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: namespace, Name: opts.leaderElectID},
		Client:     kubeClient.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: identity},
	}

	// The elector gets its own context: it is cancelled once the workers have drained (or
	// at once on a standby), which is what makes ReleaseOnCancel release the Lease.
	electorCtx, stopElector := context.WithCancel(context.WithoutCancel(ctx))
	defer stopElector()
	var (
		runErr      error
		led         atomic.Bool
		lost        bool
		workersDone = make(chan struct{})
	)
	elector, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock:            lock,
		Name:            opts.leaderElectID,
		LeaseDuration:   opts.leaseDuration,
		RenewDeadline:   opts.renewDeadline,
		RetryPeriod:     opts.retryPeriod,
		ReleaseOnCancel: true,
		WatchDog:        watchdog,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(leading context.Context) {
				led.Store(true)
				defer close(workersDone)
				logger.Info("Started leading", "lease", klog.KRef(namespace, opts.leaderElectID), "identity", identity)
				// Workers stop when the process is told to stop or the Lease is lost.
				workCtx, stopWork := context.WithCancel(ctx)
				defer stopWork()
				go func() {
					select {
					case <-leading.Done():
					case <-workCtx.Done():
					}
					stopWork()
				}()
				runErr = ctrl.Run(workCtx, opts.workers)
				stopElector()
			},
			OnStoppedLeading: func() {
				if ctx.Err() == nil {
					lost = true
				}
			},
		},
	})
	if err != nil {
		return err
	}
	if watchdog != nil {
		watchdog.SetLeaderElection(elector)
	}
	go func() {
		<-ctx.Done()
		if !elector.IsLeader() {
			stopElector()
		}
	}()
	elector.Run(electorCtx)
	if led.Load() {
		// The workers drain (within the controller's shutdown grace) before the process ends,
		// also when the Lease was lost.
		<-workersDone
	}
	if lost {
		return errors.New("lost the leader Lease; exiting so that a fresh start rejoins the election")
	}
	switch {
	case !led.Load():
		logger.Info("Stopped without having led")
	case elector.IsLeader():
		logger.Info("Stopped; the Lease could not be released and will expire")
	default:
		logger.Info("Stopped; the Lease is released")
	}
	return runErr
}

// podNamespace is the namespace the controller runs in: $POD_NAMESPACE (from the downward
// API), else the in-cluster service account's, else "default".
func podNamespace() string {
	if ns := os.Getenv("POD_NAMESPACE"); ns != "" {
		return ns
	}
	if b, err := os.ReadFile("/var/run/secrets/kubernetes.io/serviceaccount/namespace"); err == nil && len(b) > 0 {
		return strings.TrimSpace(string(b))
	}
	return "default"
}

// startServers listens on the probe and metrics addresses (failing at once if one is taken)
// and serves them until the returned function is called.
func startServers(ctx context.Context, opts options, m *metrics.Metrics, ctrl *controller.Controller, watchdog *leaderelection.HealthzAdaptor) (stop func(), err error) {
	var servers []*http.Server
	stop = func() {
		shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		for _, s := range servers {
			_ = s.Shutdown(shutdownCtx)
		}
	}
	serve := func(addr string, handler http.Handler) error {
		if addr == "0" || addr == "" {
			return nil
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("listening on %s: %w", addr, err)
		}
		s := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
		servers = append(servers, s)
		klog.FromContext(ctx).Info("Serving", "address", ln.Addr().String())
		go func() { _ = s.Serve(ln) }()
		return nil
	}

	probes := http.NewServeMux()
	probes.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		if watchdog != nil {
			if err := watchdog.Check(r); err != nil {
				http.Error(w, "leader election: "+err.Error(), http.StatusInternalServerError)
				return
			}
		}
		fmt.Fprintln(w, "ok")
	})
	probes.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		if !ctrl.HasSynced() {
			http.Error(w, "informer caches are not synced yet", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	metricsMux := http.NewServeMux()
	metricsMux.Handle("/metrics", m.Handler())

	if err := serve(opts.healthProbeAddr, probes); err != nil {
		stop()
		return nil, err
	}
	if err := serve(opts.metricsAddr, metricsMux); err != nil {
		stop()
		return nil, err
	}
	return stop, nil
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
