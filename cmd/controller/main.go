// Command konnect-auth-controller keeps Kong Konnect in line with what the cluster declares: it
// validates KonnectAPIAuthConfigurations' tokens, creates or mirrors KonnectGatewayControlPlanes,
// and registers KonnectExtensions' data-plane certificates, and reports each in its status.
//
// main.go runs the steps; wiring.go builds the clients, the Konnect side, the controller.Context
// and the reconcilers; crds.go checks what the API server serves; options.go has the flags,
// leaderelection.go the Lease, servers.go the probe and metrics endpoints.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"sync/atomic"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/klog/v2"

	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/controller/loop"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/metrics"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/version"
)

// defaultGCPercent is the garbage collector's GOGC unless the environment sets one: the heap
// may grow to 1.5 times what is live instead of Go's twice. The controller's memory is mostly
// its informer caches, live for good, and the collector's extra work is small beside the
// apiserver's (docs/performance.md, "Memory (issue 19)").
const defaultGCPercent = 50

func main() {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(defaultGCPercent)
	}
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

// run wires the controller and runs it until ctx ends: clients and the Konnect side
// (wiring.go), the reconcilers' loops, the probe and metrics servers (servers.go), the informers,
// and the loops' workers, under the Lease when --leader-elect is set (leaderelection.go).
func run(ctx context.Context, opts options) error {
	klog.FromContext(ctx).Info("Starting konnect-auth-controller", "version", version.Version, "namespace", opts.namespace,
		"workers", opts.workers, "revalidateInterval", opts.revalidateInterval)
	m := metrics.New(version.Version)
	var wake atomic.Pointer[func([]types.NamespacedName)]
	c, err := newContext(ctx, opts, m, &wake)
	if err != nil {
		return fmt.Errorf("building the clients: %w", err)
	}
	connect, err := checkCRDs(c.KubeClient, opts) // crds.go
	if err != nil {
		return err
	}
	loops, err := newReconcilers(c, m, connect, &wake)
	if err != nil {
		return err
	}

	var watchdog *leaderelection.HealthzAdaptor
	if opts.leaderElect {
		// A leader that has not renewed for this long past the lease is reported unhealthy, so
		// the kubelet restarts it rather than leaving a wedged leader in place.
		watchdog = leaderelection.NewLeaderHealthzAdaptor(20 * time.Second)
	}
	stopServers, err := startServers(ctx, opts, m, loop.AllSynced(loops), watchdog)
	if err != nil {
		return err
	}
	defer stopServers()

	// Informers start at once, also on a standby replica, so that it takes over with warm
	// caches; only the leader runs workers. They stop with run, whatever ends it (SIGTERM or a
	// lost Lease): Shutdown waits for them.
	informerCtx, stopInformers := context.WithCancel(ctx)
	c.Start(informerCtx.Done())
	defer c.Shutdown()
	defer stopInformers()

	work := func(ctx context.Context) error { return loop.RunAll(ctx, loops, opts.workers) }
	if !opts.leaderElect {
		return work(ctx)
	}
	return runWithLeaderElection(ctx, opts, c.KubeClient, work, watchdog)
}
