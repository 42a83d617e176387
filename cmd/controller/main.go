// Command konnect-auth-controller validates KonnectAPIAuthConfigurations against Kong Konnect
// and reports the verdict in their status.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	kubeinformers "k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"

	"golang.org/x/time/rate"

	konnectv1alpha1 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha1"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/controller"
	clientset "github.com/konnect-auth-controller/konnect-auth-controller/pkg/generated/clientset/versioned"
	informers "github.com/konnect-auth-controller/konnect-auth-controller/pkg/generated/informers/externalversions"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/konnect"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/konnect/sdkclient"
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
	var level klog.Level
	if err := level.Set(v.Value.String()); err == nil && level > maxVerbosity {
		_ = v.Value.Set(fmt.Sprint(maxVerbosity))
		klog.Background().Info("Lowered -v: levels above 5 make client-go print API bodies, which hold tokens", "requested", int(level), "using", maxVerbosity)
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

	validator := konnect.NewCachingValidator(
		sdkclient.New(sdkclient.Options{Timeout: opts.konnectTimeout, UserAgent: "konnect-auth-controller/" + version.Version}),
		konnect.CacheOptions{
			// A verdict is cached no longer than the re-validation interval, so each
			// re-validation really asks Konnect again.
			TTL:     opts.revalidateInterval,
			Limiter: rate.NewLimiter(rate.Limit(opts.konnectQPS), opts.konnectBurst),
		})

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
		validator,
		controller.Options{RevalidateInterval: opts.revalidateInterval})
	if err != nil {
		return err
	}

	configFactory.Start(ctx.Done())
	secretFactory.Start(ctx.Done())
	defer configFactory.Shutdown()
	defer secretFactory.Shutdown()

	return ctrl.Run(ctx, opts.workers)
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
