package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"time"

	"k8s.io/klog/v2"
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
	konnectSyncPeriod  time.Duration
	// konnectCertificateSyncPeriod: how often registered certificates are listed again.
	konnectCertificateSyncPeriod time.Duration
	showVersion                  bool

	leaderElect          bool
	leaderElectNamespace string
	leaderElectID        string
	leaseDuration        time.Duration
	renewDeadline        time.Duration
	retryPeriod          time.Duration

	healthProbeAddr string
	metricsAddr     string

	// clusterCASecret and clusterCASecretNamespace locate the CA that signs extensions' certificates.
	clusterCASecret          string
	clusterCASecretNamespace string
}

func (o *options) addFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "Path to a kubeconfig file. Empty: the in-cluster configuration.")
	fs.StringVar(&o.namespace, "namespace", "", "Watch KonnectAPIAuthConfigurations and Secrets in this namespace only. Empty: all namespaces.")
	// Syncs spend most of their time waiting on the apiserver or Konnect, not the CPU.
	fs.IntVar(&o.workers, "workers", 16, "Number of configurations synced concurrently.")
	// No client-side limit by default: API Priority and Fairness on the apiserver (on by
	// default since Kubernetes 1.29) is what protects it from a busy client, and queues this
	// controller's requests fairly beside everyone else's. docs/performance.md has the figures.
	fs.Float64Var(&o.kubeAPIQPS, "kube-api-qps", 0, "Sustained queries per second to the Kubernetes API. 0: no client-side limit (the apiserver's API Priority and Fairness paces the controller).")
	fs.IntVar(&o.kubeAPIBurst, "kube-api-burst", 600, "Burst of queries to the Kubernetes API, when --kube-api-qps is set.")
	fs.Float64Var(&o.konnectQPS, "konnect-qps", 20, "Sustained calls per second to Konnect, across all configurations.")
	// The burst sizes a cold start: a cluster with up to 100 distinct tokens has them all
	// checked at once; the sustained rate is what keeps a stampede of distinct tokens in check.
	fs.IntVar(&o.konnectBurst, "konnect-burst", 100, "Burst of calls to Konnect.")
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
	fs.DurationVar(&o.konnectSyncPeriod, "konnect-sync-period", time.Minute, "How often control planes are compared with Konnect again (with up to 10% jitter): one listing of up to 100 control planes a page per account; lengthened as needed so that these listings use at most 2.5% of --konnect-qps.")
	fs.DurationVar(&o.konnectCertificateSyncPeriod, "konnect-certificate-sync-period", 10*time.Minute, "How often each extension's registered data-plane certificate is looked for in Konnect again, unless a change brings it sooner; lengthened as needed so that these reads use at most 2.5% of --konnect-qps.")
	fs.StringVar(&o.clusterCASecret, "cluster-ca-secret", "konnect-auth-controller-ca", "Name of the kubernetes.io/tls Secret holding the CA that signs KonnectExtensions' client certificates; created on first need.")
	fs.StringVar(&o.clusterCASecretNamespace, "cluster-ca-secret-namespace", "", "Namespace of --cluster-ca-secret. Empty: the controller's namespace ($POD_NAMESPACE, else the service account's, else default).")
	fs.StringVar(&o.metricsAddr, "metrics-bind-address", ":8080", "Address serving Prometheus metrics at /metrics. \"0\" disables it.")
}

func (o *options) validate() error {
	var errs []error
	if o.workers < 1 {
		errs = append(errs, fmt.Errorf("--workers must be at least 1, got %d", o.workers))
	}
	if o.kubeAPIQPS < 0 || o.kubeAPIBurst < 1 {
		errs = append(errs, errors.New("--kube-api-qps must be 0 (no client-side limit) or positive, and --kube-api-burst at least 1"))
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
	if o.konnectSyncPeriod < time.Second || o.konnectCertificateSyncPeriod < time.Second {
		errs = append(errs, errors.New("--konnect-sync-period and --konnect-certificate-sync-period must be at least 1s"))
	}
	if o.leaderElect && (o.leaseDuration <= o.renewDeadline || o.renewDeadline <= o.retryPeriod || o.retryPeriod <= 0) {
		errs = append(errs, errors.New("leader election needs --leader-elect-lease-duration > --leader-elect-renew-deadline > --leader-elect-retry-period > 0"))
	}
	if o.clusterCASecret == "" {
		errs = append(errs, errors.New("--cluster-ca-secret must name a Secret"))
	}
	if o.clusterCASecretNamespace == "" {
		o.clusterCASecretNamespace = podNamespace()
	}
	return errors.Join(errs...)
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
