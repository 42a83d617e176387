// Command bench measures how fast the built konnect-auth-controller converges N
// KonnectAPIAuthConfigurations against a real kube-apiserver and etcd and a fake Konnect, how
// close that comes to the apiserver's own write ceiling on the same machine in the same run,
// which limit bound it, and what it costs: Konnect calls, the controller's peak RSS and CPU
// seconds, the status writes and Konnect calls in an idle window after convergence, the
// latency of one more configuration, and a restart.
//
// It is `make bench`. For each N (-n) it:
//
//  0. QUIET: prints the 1-minute load average and, while it is at or above -max-load, waits
//     up to -quiet-wait for it to fall. A size that starts with the load still above
//     -max-load is run again once afterwards (-rerun-loaded) and both runs are reported;
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
//     long it takes until every configuration's APIAuthValid condition is True, and decides
//     from the same run's figures which limit bound it (client-side QPS, Konnect, the
//     controller's CPU, the apiserver);
//  5. COST: the fake's call counter during convergence, VmHWM and utime+stime of the
//     controller from /proc, then an idle window (-idle) in which status writes
//     (resourceVersion changes seen by the watch) and Konnect calls are counted;
//  6. LATENCY: with the N configurations True, creates -latency-count more one at a time,
//     each waiting until the watch sees it True before the next, and reports p50/p99/max of
//     create → True;
//  7. RESTART: stops the controller (SIGTERM, waits) and starts it again, and counts status
//     writes and Konnect calls until nothing happened for -restart-quiet (at most
//     -restart-timeout).
//
// Then, for each N of -connect (default 1,000; a comma-separated list), on a fresh control
// plane: N KonnectGatewayControlPlanes on -connect-tokens auth configurations and one
// KonnectExtension each, timed until every control plane is Programmed and every extension
// Ready, with the Konnect calls of each kind counted from the fake's request log and set
// against the Konnect budget (the required calls ÷ --konnect-qps); then the calls of one idle
// --konnect-sync-period; then -connect-changes description changes made while re-sync reads
// arrive, each timed until the fake receives its PATCH (connect.go):
//
//	BENCH connect controlplanes=N extensions=N tokens=T converge_s=… cp_creates=… cert_registrations=… token_checks=… list_pages=… cp_gets=… cert_lists=… cp_updates=… deletions=… other_calls=… konnect_calls=… konnect_calls_per_s=… required_calls=… budget_s=… budget_ratio=… idle_s=… idle_konnect_writes=… idle_konnect_reads=… idle_reads_per_min=… change_n=… change_p50_ms=… change_p99_ms=… change_timeouts=… rss_mib=… cpu_s=… bound=… load=…
//
// It prints a table, and per N one line
//
//	BENCH objects=N tokens=T converge_s=… configs_per_s=… ceiling_writes_per_s=… ratio=… konnect_calls=… rss_mib=… cpu_s=… idle_writes=… idle_konnect_calls=… latency_p50_ms=… latency_p99_ms=… restart_writes=… restart_konnect_calls=… bound=… load=…
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
	convergeTimeout  time.Duration // 0: scaled with N (convergeTimeoutFor)
	controllerArgs   []string
	keep             bool

	maxLoad     float64       // the 1-minute load average a size should start below (0: no check)
	quietWait   time.Duration // how long to wait for it
	rerunLoaded bool          // run a size again once if it started with the load above maxLoad

	latencyCount   int           // configurations created one at a time after the idle window
	latencyTimeout time.Duration // how long one may take to become True

	// connect are the numbers of control planes (and as many extensions) of the connect
	// phase, one run each, on connectTokens auth configurations (connect.go); none skips it.
	connect       []int
	connectTokens int
	// connectChanges spec changes are timed during a re-sync, each for at most
	// connectChangeTimeout.
	connectChanges       int
	connectChangeTimeout time.Duration

	restart        bool
	restartQuiet   time.Duration // no write and no call for this long: the restarted controller is quiet
	restartTimeout time.Duration // 0: scaled with N (restartTimeoutFor)
}

// convergeTimeoutFor is -converge-timeout, or when it is 0 a timeout that grows with N: 15
// minutes, or 20 ms per configuration (50 configurations/s) when that is longer (33 minutes at
// 100,000).
func (c config) convergeTimeoutFor(n int) time.Duration {
	if c.convergeTimeout > 0 {
		return c.convergeTimeout
	}
	return max(15*time.Minute, time.Duration(n)*20*time.Millisecond)
}

// restartTimeoutFor is -restart-timeout, or when it is 0 two minutes plus 5 ms per
// configuration (the restarted controller lists all of them again).
func (c config) restartTimeoutFor(n int) time.Duration {
	if c.restartTimeout > 0 {
		return c.restartTimeout
	}
	return 2*time.Minute + time.Duration(n)*5*time.Millisecond
}

func main() {
	var (
		cfg      config
		sizes    string
		writers  string
		ctrlArgs string
		connect  string
	)
	flag.StringVar(&sizes, "n", "1000,5000,10000", "Comma-separated numbers of configurations, one run each; 0 runs none (only -connect).")
	flag.IntVar(&cfg.tokens, "tokens", 100, "Distinct tokens shared by the configurations.")
	flag.IntVar(&cfg.unrelatedSecrets, "unrelated-secrets", 10000, "Secrets without the credential label, which the controller must not list or cache.")
	flag.DurationVar(&cfg.idle, "idle", 60*time.Second, "Idle window after convergence in which status writes and Konnect calls are counted.")
	flag.DurationVar(&cfg.ceilingDuration, "ceiling-duration", 10*time.Second, "How long the ceiling writer patches statuses.")
	flag.StringVar(&writers, "ceiling-writers", "4,16", "Concurrent goroutines of the ceiling writer; a comma-separated list measures each in turn and takes the highest rate as the ceiling (16 matches the controller's default --workers).")
	flag.IntVar(&cfg.ceilingObjects, "ceiling-objects", 1000, "Configurations the ceiling writer patches, round robin.")
	flag.IntVar(&cfg.setupWorkers, "setup-workers", 32, "Concurrent creators when filling the cluster.")
	flag.DurationVar(&cfg.convergeTimeout, "converge-timeout", 0, "Give up on a convergence after this long (the run is reported as incomplete). 0: 15m, or 20ms per configuration when longer.")
	flag.StringVar(&ctrlArgs, "controller-args", "", "Extra flags for the controller, space-separated (e.g. \"--workers=32 --kube-api-qps=500\").")
	flag.BoolVar(&cfg.keep, "keep", false, "Keep the work folder (controller logs) instead of removing it.")
	flag.Float64Var(&cfg.maxLoad, "max-load", 1.0, "Start each size only once the 1-minute load average is below this (waiting up to -quiet-wait). 0: do not check.")
	flag.DurationVar(&cfg.quietWait, "quiet-wait", 5*time.Minute, "How long to wait, before each size, for the load average to fall below -max-load.")
	flag.BoolVar(&cfg.rerunLoaded, "rerun-loaded", true, "Run a size once more if it started with the load average above -max-load; both runs are reported.")
	flag.IntVar(&cfg.latencyCount, "latency-count", 100, "After the idle window, create this many configurations one at a time and report create → True latency. 0: skip.")
	flag.DurationVar(&cfg.latencyTimeout, "latency-timeout", 30*time.Second, "How long one latency configuration may take to become True.")
	flag.BoolVar(&cfg.restart, "restart", true, "After the latency phase, stop the controller and start it again, and count status writes and Konnect calls until it is quiet.")
	flag.DurationVar(&cfg.restartQuiet, "restart-quiet", 10*time.Second, "The restarted controller is quiet once it is ready and has made no status write and no Konnect call for this long.")
	flag.DurationVar(&cfg.restartTimeout, "restart-timeout", 0, "Give up waiting for the restarted controller to be quiet after this long. 0: 2m plus 5ms per configuration.")
	flag.StringVar(&connect, "connect", "1000", "After the sizes, converge this many KonnectGatewayControlPlanes and as many KonnectExtensions (one each) and count the Konnect calls; a comma-separated list runs each. 0: skip.")
	flag.IntVar(&cfg.connectTokens, "connect-tokens", 10, "Auth configurations (distinct tokens) the -connect control planes share.")
	flag.IntVar(&cfg.connectChanges, "connect-changes", 20, "After the connect phase's idle period, change this many control planes' descriptions while re-sync reads arrive and time each until Konnect receives its PATCH. 0: skip.")
	flag.DurationVar(&cfg.connectChangeTimeout, "connect-change-timeout", 5*time.Minute, "How long one spec change may take to reach Konnect.")
	flag.Parse()

	for _, s := range strings.Split(sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err == nil && n == 0 && sizes == "0" {
			break // -n 0: only the connect phase
		}
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
	for _, s := range strings.Split(connect, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 0 || (n > 0 && n < 20) {
			fmt.Fprintf(os.Stderr, "bench: -connect: %q is not a number of control planes (0, or at least 20)\n", s)
			os.Exit(2)
		}
		if n > 0 {
			cfg.connect = append(cfg.connect, n)
		}
	}
	if cfg.connectTokens < 1 || cfg.connectChanges < 0 || cfg.connectChangeTimeout <= 0 {
		fmt.Fprintln(os.Stderr, "bench: -connect-tokens must be at least 1, -connect-changes must not be negative, -connect-change-timeout must be positive")
		os.Exit(2)
	}
	if cfg.tokens < 1 || cfg.setupWorkers < 1 {
		fmt.Fprintln(os.Stderr, "bench: -tokens and -setup-workers must be at least 1")
		os.Exit(2)
	}
	if cfg.latencyCount < 0 || cfg.latencyTimeout <= 0 || cfg.restartQuiet <= 0 || cfg.maxLoad < 0 || cfg.quietWait < 0 {
		fmt.Fprintln(os.Stderr, "bench: -latency-count, -max-load and -quiet-wait must not be negative, -latency-timeout and -restart-quiet must be positive")
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
	lim := controllerLimits(bin, cfg.controllerArgs)
	fmt.Printf("controller limits: %s\n", lim)

	var results []result
	for _, n := range cfg.sizes {
		for attempt := 1; attempt <= 2; attempt++ {
			fmt.Printf("\n== N=%d tokens=%d unrelated-secrets=%d", n, cfg.tokens, cfg.unrelatedSecrets)
			if attempt > 1 {
				fmt.Print(" (rerun: the first run started with the load average above -max-load)")
			}
			fmt.Println()
			load, err := waitQuiet(ctx, cfg.maxLoad, cfg.quietWait)
			if err != nil {
				return err
			}
			r, err := runOne(ctx, cfg, lim, n)
			if err != nil {
				return fmt.Errorf("N=%d: %w", n, err)
			}
			r.attempt, r.load1 = attempt, load
			results = append(results, r)
			fmt.Println(r.benchLine())
			if !r.loaded(cfg.maxLoad) || !cfg.rerunLoaded {
				break
			}
		}
	}
	var connects []connectResult
	for _, n := range cfg.connect {
		fmt.Printf("\n== connect: %d control planes and %d extensions on %d tokens\n", n, n, cfg.connectTokens)
		load, err := waitQuiet(ctx, cfg.maxLoad, cfg.quietWait)
		if err != nil {
			return err
		}
		r, err := runConnect(ctx, cfg, lim, n, cfg.connectTokens)
		if err != nil {
			return fmt.Errorf("connect %d: %w", n, err)
		}
		r.load1 = load
		connects = append(connects, r)
		fmt.Println(r.benchLine())
	}
	if len(results) > 0 {
		fmt.Println()
		printTable(os.Stdout, results)
		fmt.Println()
		printPhases(os.Stdout, results)
		fmt.Println()
		printFlatness(os.Stdout, results)
	}
	fmt.Println()
	for _, r := range results {
		fmt.Println(r.benchLine())
	}
	for _, r := range connects {
		fmt.Println(r.benchLine())
	}
	return nil
}
