package main

import (
	"fmt"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// limits are the controller's own limits for a run: its defaults (from its -h text) with the
// -controller-args applied.
type limits struct {
	kubeQPS      float64 // 0: no client-side limit
	kubeBurst    int
	konnectQPS   float64
	konnectBurst int
	workers      int
	// konnectSyncPeriod is --konnect-sync-period: how often the controller compares what it
	// manages with Konnect again.
	konnectSyncPeriod time.Duration
}

func (l limits) String() string {
	kube := "none (--kube-api-qps=0)"
	if l.kubeQPS > 0 {
		kube = fmt.Sprintf("--kube-api-qps=%g --kube-api-burst=%d", l.kubeQPS, l.kubeBurst)
	}
	return fmt.Sprintf("Kubernetes API %s; Konnect --konnect-qps=%g --konnect-burst=%d --konnect-sync-period=%v; --workers=%d", kube, l.konnectQPS, l.konnectBurst, l.konnectSyncPeriod, l.workers)
}

// controllerLimits reads the defaults from the binary's -h (the standard flag package prints
// "(default X)" for every non-zero default, nothing for zero) and applies args over them.
func controllerLimits(bin string, args []string) limits {
	help, _ := exec.Command(bin, "-h").CombinedOutput()
	get := func(name string) string {
		if v, ok := flagValue(args, name); ok {
			return v
		}
		return helpDefault(string(help), name)
	}
	atof := func(s string) float64 { v, _ := strconv.ParseFloat(s, 64); return v }
	atoi := func(s string) int { v, _ := strconv.Atoi(s); return v }
	period, _ := time.ParseDuration(get("konnect-sync-period"))
	return limits{
		konnectSyncPeriod: period,
		kubeQPS:           atof(get("kube-api-qps")),
		kubeBurst:         atoi(get("kube-api-burst")),
		konnectQPS:        atof(get("konnect-qps")),
		konnectBurst:      atoi(get("konnect-burst")),
		workers:           atoi(get("workers")),
	}
}

// flagValue finds --name=v, -name=v, or --name v / -name v in args (the last one wins, as
// with the flag package).
func flagValue(args []string, name string) (string, bool) {
	var (
		v     string
		found bool
	)
	for i := 0; i < len(args); i++ {
		a := strings.TrimLeft(args[i], "-")
		if a == args[i] {
			continue // not a flag
		}
		switch {
		case strings.HasPrefix(a, name+"="):
			v, found = strings.TrimPrefix(a, name+"="), true
		case a == name && i+1 < len(args):
			v, found = args[i+1], true
			i++
		}
	}
	return v, found
}

// helpDefault is the "(default X)" the flag package prints under "  -name type", or "0".
func helpDefault(help, name string) string {
	lines := strings.Split(help, "\n")
	for i, line := range lines {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != "-"+name {
			continue
		}
		for _, next := range lines[i+1:] {
			if strings.HasPrefix(next, "  -") {
				break // the next flag
			}
			if _, after, ok := strings.Cut(next, "(default "); ok {
				return strings.TrimSuffix(strings.TrimSpace(after), ")")
			}
		}
		return "0"
	}
	return "0"
}

// Bounds, as the BENCH line names them.
const (
	boundClientQPS     = "client-qps"     // the controller's --kube-api-qps token bucket
	boundKonnect       = "konnect"        // the controller's --konnect-qps limiter
	boundControllerCPU = "controller-cpu" // the controller's own CPU
	boundAPIServer     = "apiserver"      // kube-apiserver + etcd (the ceiling, or the machine's CPUs spent in them)
	boundOtherLoad     = "other-load"     // the machine's CPUs, mostly spent by processes outside the run
	boundBench         = "bench"          // the machine's CPUs, mostly spent by this benchmark (watch, fake Konnect)
	boundNone          = "none"           // no limit was near saturation: latency or start-up
	boundUnknown       = "unknown"        // the run did not converge
)

// Thresholds of decideBound: how close to a limit a run must come to be bound by it.
const (
	nearQPS        = 0.85 // status writes/s ÷ --kube-api-qps
	nearKonnect    = 0.7  // the Konnect limiter's minimum time ÷ converge time
	nearBusy       = 0.85 // CPUs busy ÷ nproc
	nearOneCPU     = 0.85 // controller CPU s ÷ converge s
	nearCeiling    = 0.85 // ratio
	konnectDefault = 20   // the controller's default --konnect-qps, should -h not tell
)

// boundFigures are the measurements decideBound weighs, all from the convergence of one run.
type boundFigures struct {
	convergeS    float64
	writesPerS   float64 // status writes seen by the watch ÷ converge s
	steadyRate   float64
	kubeQPS      float64
	calls        int64
	konnectQPS   float64
	konnectBurst int
	konnectMinS  float64 // the least time the Konnect limiter needs for calls
	ctrlCPUs     float64 // controller CPU s ÷ converge s
	apiCPUs      float64 // kube-apiserver + etcd CPU s ÷ converge s
	benchCPUs    float64 // this process (watch, fake Konnect) CPU s ÷ converge s
	otherCPUs    float64 // busy CPUs not accounted for by the above
	busy         float64
	nproc        int
	ratio        float64
	ceilingWPS   float64
	configsPerS  float64
}

func (r result) boundFigures(lim limits) boundFigures {
	f := boundFigures{
		convergeS: r.converge.Seconds(), steadyRate: r.steadyRate, kubeQPS: lim.kubeQPS,
		calls: r.calls, konnectQPS: lim.konnectQPS, konnectBurst: lim.konnectBurst,
		busy: r.convergeBusy, nproc: runtime.NumCPU(), ratio: r.ratio(), ceilingWPS: r.ceilingWPS, configsPerS: r.configsPerS(),
	}
	if f.konnectQPS <= 0 {
		f.konnectQPS = konnectDefault
	}
	f.konnectMinS = float64(max(0, f.calls-int64(f.konnectBurst))) / f.konnectQPS
	if f.convergeS > 0 {
		f.writesPerS = float64(r.writes) / f.convergeS
		f.ctrlCPUs = r.ctrlConvergeCPU / f.convergeS
		f.apiCPUs = (r.apiserverCPU + r.etcdCPU) / f.convergeS
		f.benchCPUs = r.benchCPU / f.convergeS
		f.otherCPUs = max(0, f.busy-f.ctrlCPUs-f.apiCPUs-f.benchCPUs)
	}
	return f
}

// decideBound names the limit that bound a convergence, first match wins:
//
//  1. client-qps: --kube-api-qps is set and status writes/s reached 85 % of it (one status
//     write is one request; the LISTs at start are a handful);
//  2. konnect: the Konnect limiter alone needs 70 % of the converge time for the calls made
//     ((calls − burst) ÷ --konnect-qps);
//  3. the machine's CPUs are 85 % busy: whoever used most of them — the controller
//     (controller-cpu), kube-apiserver + etcd (apiserver), this benchmark (bench) or other
//     processes (other-load);
//  4. controller-cpu: the controller used 85 % of one CPU;
//  5. apiserver: configs/s reached 85 % of the same run's status-write ceiling;
//  6. none: nothing above came near its limit (latency of the round trips, or start-up).
func decideBound(r result, lim limits) (bound string, f boundFigures) {
	f = r.boundFigures(lim)
	if !r.complete || f.convergeS <= 0 {
		return boundUnknown, f
	}
	switch {
	case f.kubeQPS > 0 && f.writesPerS >= nearQPS*f.kubeQPS:
		return boundClientQPS, f
	case f.konnectMinS >= nearKonnect*f.convergeS:
		return boundKonnect, f
	case f.busy >= nearBusy*float64(f.nproc):
		top, name := f.apiCPUs, boundAPIServer
		for _, c := range []struct {
			cpus float64
			name string
		}{{f.ctrlCPUs, boundControllerCPU}, {f.benchCPUs, boundBench}, {f.otherCPUs, boundOtherLoad}} {
			if c.cpus > top {
				top, name = c.cpus, c.name
			}
		}
		return name, f
	case f.ctrlCPUs >= nearOneCPU:
		return boundControllerCPU, f
	case f.ratio >= nearCeiling:
		return boundAPIServer, f
	}
	return boundNone, f
}

// boundLine is the "bound: …" line: the decision and every figure behind it.
func boundLine(bound string, f boundFigures) string {
	kube := "not set (--kube-api-qps=0)"
	if f.kubeQPS > 0 {
		kube = fmt.Sprintf("%g, status writes %.1f/s = %.2f of it", f.kubeQPS, f.writesPerS, f.writesPerS/f.kubeQPS)
	} else {
		kube += fmt.Sprintf(", status writes %.1f/s", f.writesPerS)
	}
	return fmt.Sprintf("bound: %s — client QPS %s; Konnect %d calls at %g/s burst %d need ≥ %.1fs = %.2f of %.2fs converge; "+
		"controller %.2f CPU; machine %.2f/%d CPUs busy (kube-apiserver+etcd %.2f, controller %.2f, bench %.2f, other %.2f); "+
		"ratio %.2f (%.1f configs/s, ceiling %.1f writes/s, steady %.1f configs/s)",
		bound, kube, f.calls, f.konnectQPS, f.konnectBurst, f.konnectMinS, safeDiv(f.konnectMinS, f.convergeS), f.convergeS,
		f.ctrlCPUs, f.busy, f.nproc, f.apiCPUs, f.ctrlCPUs, f.benchCPUs, f.otherCPUs,
		f.ratio, f.configsPerS, f.ceilingWPS, f.steadyRate)
}

func safeDiv(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}
