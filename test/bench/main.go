// Command bench measures how fast the built konnect-auth-controller converges N
// KonnectAPIAuthConfigurations against a real kube-apiserver and etcd and a fake Konnect, how
// close that comes to the apiserver's own write ceiling on the same machine in the same run,
// and what it costs: Konnect calls, the controller's peak RSS and CPU seconds, and the status
// writes and Konnect calls in an idle window after convergence.
//
// It is `make bench`. For each N (-n) it:
//
//  1. starts a fresh control plane (etcd + kube-apiserver, CRDs installed) and a fake Konnect
//     in this process that accepts -tokens distinct tokens;
//  2. creates, with no controller running, N configurations (half with an inline token, half
//     with spec.secretRef naming a labelled Secret of their own), and -unrelated-secrets
//     Secrets without the credential label, concurrently with an unthrottled client;
//  3. CEILING: in a separate namespace, a plain client-go writer with no client-side limit
//     (-ceiling-writers goroutines) merge-patches the status subresource of pre-created
//     configurations with a status of the controller's shape (resourceVersion precondition,
//     organizationID, serverURL, one APIAuthValid condition) for -ceiling-duration: the
//     apiserver's status-write ceiling on this machine right now. Those objects are then
//     deleted so that the controller never sees them;
//  4. CONVERGENCE: starts the controller binary and times, with a watch (an informer), how
//     long it takes until every configuration's APIAuthValid condition is True;
//  5. COST: the fake's call counter during convergence, VmHWM and utime+stime of the
//     controller from /proc, then an idle window (-idle) in which status writes
//     (resourceVersion changes seen by the watch) and Konnect calls are counted.
//
// It prints a table, and per N one line
//
//	BENCH objects=N tokens=T converge_s=… configs_per_s=… ceiling_writes_per_s=… ratio=… konnect_calls=… rss_mib=… cpu_s=… idle_writes=… idle_konnect_calls=…
//
// It reports; it asserts nothing. Ctrl-C stops everything it started and removes its folders.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/konnect-auth-controller/konnect-auth-controller/test/e2e/framework"
)

type config struct {
	sizes            []int
	tokens           int
	unrelatedSecrets int
	idle             time.Duration
	ceilingDuration  time.Duration
	ceilingWriters   []int
	ceilingObjects   int
	setupWorkers     int
	convergeTimeout  time.Duration
	controllerArgs   []string
	keep             bool
}

func main() {
	var (
		cfg      config
		sizes    string
		writers  string
		ctrlArgs string
	)
	flag.StringVar(&sizes, "n", "1000,5000,10000", "Comma-separated numbers of configurations, one run each.")
	flag.IntVar(&cfg.tokens, "tokens", 100, "Distinct tokens shared by the configurations.")
	flag.IntVar(&cfg.unrelatedSecrets, "unrelated-secrets", 10000, "Secrets without the credential label, which the controller must not list or cache.")
	flag.DurationVar(&cfg.idle, "idle", 60*time.Second, "Idle window after convergence in which status writes and Konnect calls are counted.")
	flag.DurationVar(&cfg.ceilingDuration, "ceiling-duration", 10*time.Second, "How long the ceiling writer patches statuses.")
	flag.StringVar(&writers, "ceiling-writers", "4,16", "Concurrent goroutines of the ceiling writer; a comma-separated list measures each in turn and takes the highest rate as the ceiling (16 matches the controller's default --workers).")
	flag.IntVar(&cfg.ceilingObjects, "ceiling-objects", 1000, "Configurations the ceiling writer patches, round robin.")
	flag.IntVar(&cfg.setupWorkers, "setup-workers", 32, "Concurrent creators when filling the cluster.")
	flag.DurationVar(&cfg.convergeTimeout, "converge-timeout", 15*time.Minute, "Give up on a convergence after this long (the run is reported as incomplete).")
	flag.StringVar(&ctrlArgs, "controller-args", "", "Extra flags for the controller, space-separated (e.g. \"--workers=32 --kube-api-qps=500\").")
	flag.BoolVar(&cfg.keep, "keep", false, "Keep the work folder (controller logs) instead of removing it.")
	flag.Parse()

	for _, s := range strings.Split(sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 2 {
			fmt.Fprintf(os.Stderr, "bench: -n: %q is not a number of configurations (at least 2)\n", s)
			os.Exit(2)
		}
		cfg.sizes = append(cfg.sizes, n)
	}
	for _, s := range strings.Split(writers, ",") {
		w, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || w < 1 {
			fmt.Fprintf(os.Stderr, "bench: -ceiling-writers: %q is not a number of writers (at least 1)\n", s)
			os.Exit(2)
		}
		if w > cfg.ceilingObjects {
			fmt.Fprintln(os.Stderr, "bench: -ceiling-objects must be at least -ceiling-writers")
			os.Exit(2)
		}
		cfg.ceilingWriters = append(cfg.ceilingWriters, w)
	}
	if cfg.tokens < 1 || cfg.setupWorkers < 1 {
		fmt.Fprintln(os.Stderr, "bench: -tokens and -setup-workers must be at least 1")
		os.Exit(2)
	}
	cfg.controllerArgs = strings.Fields(ctrlArgs)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, cfg)
	stop()
	framework.CleanupBinary()
	if err != nil {
		if errors.Is(err, context.Canceled) {
			fmt.Fprintln(os.Stderr, "bench: interrupted; everything it started was stopped and removed")
			os.Exit(130)
		}
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, cfg config) error {
	m := describeMachine()
	fmt.Printf("machine: %s\n", m)
	bin, err := framework.ControllerBinary()
	if err != nil {
		return err
	}
	fmt.Printf("controller: %s %s\n", bin, strings.Join(cfg.controllerArgs, " "))

	var results []result
	for _, n := range cfg.sizes {
		fmt.Printf("\n== N=%d tokens=%d unrelated-secrets=%d (load average %s)\n", n, cfg.tokens, cfg.unrelatedSecrets, loadAverage())
		r, err := runOne(ctx, cfg, n)
		if err != nil {
			return fmt.Errorf("N=%d: %w", n, err)
		}
		results = append(results, r)
		fmt.Println(r.benchLine())
	}
	fmt.Println()
	printTable(os.Stdout, results)
	fmt.Println()
	for _, r := range results {
		fmt.Println(r.benchLine())
	}
	return nil
}
