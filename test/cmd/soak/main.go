// Command soak is `make soak`: a chaos soak of the built konnect-auth-controller with an oracle
// (issue 18). It runs the controller (two replicas under --leader-elect by default) against a
// real etcd, kube-apiserver and kube-controller-manager and a fake Konnect with two
// organizations, drives a seeded random workload with Konnect faults, out-of-band changes in
// Konnect and SIGKILLs of the leader for SOAK_DURATION, heals, lets the controller settle, and
// checks what must then hold (test/soak). It ends with one line:
//
//	SOAK seed=… duration_s=… ops=… faults=… kills=… konnect_control_planes=… certificates=… leaked=0 duplicates=0 stuck=0 false_flips=0 token_leaks=0 max_rss_mib=… missing=0 settle_s=…
//
// and exits 1 when any check failed (each violation is listed before, with the history of the
// objects involved), 2 when the harness itself failed.
//
// Environment (all optional):
//
//	SOAK_SEED            seed of every random choice (default: from the clock; printed at start)
//	SOAK_DURATION        how long the chaos lasts (default 15m)
//	SOAK_REPLICAS        controller replicas (default 2)
//	SOAK_SYNC_PERIOD     the controller's --konnect-sync-period (default 5s)
//	SOAK_REVALIDATE      the controller's --revalidate-interval (default 30s)
//	SOAK_SETTLE          at most this long after the chaos for the state to converge (default 6m)
//	SOAK_RATE            workload operations per second (default 1)
//	SOAK_KILL_EVERY      mean time between SIGKILLs of the leader, 0 for none (default 2m)
//	SOAK_FLIP_WINDOW     a change this long before a True→False explains it (default 90s)
//	SOAK_V               the controller's -v (default 4)
//	SOAK_CONTROLLER_ARGS more controller flags, space-separated
//	SOAK_INJECT          violations to inject after settling, to prove the oracle catches them:
//	                     comma-separated among leak, duplicate, double-create, orphan-certificate,
//	                     missing, stuck, false-flip, token-leak, or "all"
//	SOAK_KEEP            keep the work folder (logs) even when the run passes
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/konnect-auth-controller/konnect-auth-controller/test/e2e/framework"
	"github.com/konnect-auth-controller/konnect-auth-controller/test/soak"
)

func main() {
	cfg, err := configFromEnv()
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	sum, err := soak.Run(ctx, cfg, os.Stdout)
	stop()
	framework.CleanupBinary()
	if err != nil {
		fmt.Fprintf(os.Stderr, "soak: the harness failed (seed %d): %v\n", cfg.Seed, err)
		os.Exit(2)
	}
	fmt.Println(sum.Line())
	if sum.Violations > 0 {
		os.Exit(1)
	}
}

func configFromEnv() (soak.Config, error) {
	cfg := soak.Config{
		Seed: uint64(time.Now().UnixNano()), Duration: 15 * time.Minute, Replicas: 2, SyncPeriod: 5 * time.Second,
		Revalidate: 30 * time.Second, Settle: 6 * time.Minute, Rate: 1, KillEvery: 2 * time.Minute,
		FlipWindow: 90 * time.Second, Verbosity: 4,
	}
	var errs []string
	get := func(name string, parse func(string) error) {
		if v := strings.TrimSpace(os.Getenv(name)); v != "" {
			if err := parse(v); err != nil {
				errs = append(errs, fmt.Sprintf("%s=%q: %v", name, v, err))
			}
		}
	}
	dur := func(d *time.Duration) func(string) error {
		return func(v string) (err error) { *d, err = time.ParseDuration(v); return err }
	}
	get("SOAK_SEED", func(v string) (err error) { cfg.Seed, err = strconv.ParseUint(v, 10, 64); return err })
	get("SOAK_DURATION", dur(&cfg.Duration))
	get("SOAK_REPLICAS", func(v string) (err error) { cfg.Replicas, err = strconv.Atoi(v); return err })
	get("SOAK_SYNC_PERIOD", dur(&cfg.SyncPeriod))
	get("SOAK_REVALIDATE", dur(&cfg.Revalidate))
	get("SOAK_SETTLE", dur(&cfg.Settle))
	get("SOAK_RATE", func(v string) (err error) { cfg.Rate, err = strconv.ParseFloat(v, 64); return err })
	get("SOAK_KILL_EVERY", dur(&cfg.KillEvery))
	get("SOAK_FLIP_WINDOW", dur(&cfg.FlipWindow))
	get("SOAK_V", func(v string) (err error) { cfg.Verbosity, err = strconv.Atoi(v); return err })
	get("SOAK_CONTROLLER_ARGS", func(v string) error { cfg.ExtraArgs = strings.Fields(v); return nil })
	get("SOAK_KEEP", func(v string) (err error) { cfg.Keep, err = strconv.ParseBool(v); return err })
	get("SOAK_INJECT", func(v string) error {
		for _, name := range strings.Split(v, ",") {
			name = strings.TrimSpace(name)
			switch {
			case name == "all":
				cfg.Inject = append(cfg.Inject, soak.Injections...)
			case slices.Contains(soak.Injections, name):
				cfg.Inject = append(cfg.Inject, name)
			case name != "":
				return fmt.Errorf("unknown violation %q (want some of %s, or all)", name, strings.Join(soak.Injections, ", "))
			}
		}
		return nil
	})
	switch {
	case cfg.Duration <= 0, cfg.SyncPeriod <= 0, cfg.Revalidate <= 0, cfg.Settle < 0, cfg.FlipWindow <= 0:
		errs = append(errs, "durations must be positive")
	case cfg.Replicas < 1:
		errs = append(errs, "SOAK_REPLICAS must be at least 1")
	case cfg.Rate <= 0:
		errs = append(errs, "SOAK_RATE must be positive")
	}
	if len(errs) > 0 {
		return cfg, fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return cfg, nil
}
