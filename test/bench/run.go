package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	clientset "github.com/konnect-auth-controller/konnect-auth-controller/pkg/generated/clientset/versioned"
	"github.com/konnect-auth-controller/konnect-auth-controller/test/controlplane"
	"github.com/konnect-auth-controller/konnect-auth-controller/test/e2e/framework"
	"github.com/konnect-auth-controller/konnect-auth-controller/test/fakekonnect"
)

const (
	// benchNamespace holds the configurations the controller converges.
	benchNamespace = "bench"
	// ceilingNamespace holds the configurations the ceiling writer patches; they are deleted
	// before the controller starts.
	ceilingNamespace = "bench-ceiling"
)

// result is what one run at one N measured.
type result struct {
	n, tokens int

	setup          time.Duration // filling the cluster
	ceilingWPS     float64       // status writes/s of the plain writer (the best of -ceiling-writers)
	ceilingWriters int           // the number of writers that reached it
	ceilingBusy    float64       // CPUs busy (machine-wide) while it was measured
	// ceilingCPUPerWrite is the CPU seconds kube-apiserver, etcd and the writer spent per
	// write in that round; convergeCPUPerConfig is kube-apiserver, etcd and the controller
	// per configuration during convergence. Unlike wall-clock rates they hardly depend on
	// what else runs on the machine.
	ceilingCPUPerWrite, convergeCPUPerConfig float64

	apiserverCPU, etcdCPU float64 // their CPU seconds during convergence
	convergeBusy          float64 // CPUs busy (machine-wide) during convergence

	complete   bool          // every configuration became True before the timeout
	converge   time.Duration // controller start → every configuration True
	firstTrue  time.Duration // controller start → first configuration True
	steadyRate float64       // configurations/s between 10% and 90% True
	calls      int64         // Konnect calls during convergence
	writes     int64         // status writes seen during convergence
	rssMiB     float64       // the controller's VmHWM over convergence and idle window
	cpuS       float64       // the controller's utime+stime at convergence
	idleWrites int64
	idleCalls  int64
	idleCPUS   float64 // CPU seconds the controller spent in the idle window
	events     int64   // Events in the namespace when convergence ended
	idleEvents int64   // Events created during the idle window
	idle       time.Duration

	loadBefore, loadAfter string

	attempt int     // 1, or 2 for the rerun of a size that started loaded
	load1   float64 // the 1-minute load average the run started with

	ctrlConvergeCPU float64 // the controller's CPU seconds during convergence
	hwmAtConverge   float64 // its peak RSS when convergence ended
	benchRSSMiB     float64 // this process's peak RSS after the idle window
	benchCPU        float64 // this process's CPU seconds during convergence
	bound           string  // what bound the convergence (decideBound)
	boundWhy        string  // the "bound: …" line

	latency latencyResult
	restart restartResult
}

func (r result) configsPerS() float64 {
	if !r.complete || r.converge <= 0 {
		return 0
	}
	return float64(r.n) / r.converge.Seconds()
}

func (r result) ratio() float64 {
	if r.ceilingWPS <= 0 {
		return 0
	}
	return r.configsPerS() / r.ceilingWPS
}

// benchLine is the machine-readable line, in the exact format.
func (r result) benchLine() string {
	converge := fmt.Sprintf("%.2f", r.converge.Seconds())
	if !r.complete {
		converge = "incomplete"
	}
	p50, p99 := "-", "-"
	if r.latency.count > 0 {
		p50, p99 = fmt.Sprintf("%.0f", ms(r.latency.percentile(50))), fmt.Sprintf("%.0f", ms(r.latency.percentile(99)))
	}
	rw, rc := "-", "-"
	if r.restart.ran {
		rw, rc = fmt.Sprint(r.restart.writes), fmt.Sprint(r.restart.calls)
	}
	return fmt.Sprintf("BENCH objects=%d tokens=%d converge_s=%s configs_per_s=%.1f ceiling_writes_per_s=%.1f ratio=%.2f konnect_calls=%d rss_mib=%.1f cpu_s=%.2f idle_writes=%d idle_konnect_calls=%d latency_p50_ms=%s latency_p99_ms=%s restart_writes=%s restart_konnect_calls=%s bound=%s load=%.2f",
		r.n, r.tokens, converge, r.configsPerS(), r.ceilingWPS, r.ratio(), r.calls, r.rssMiB, r.cpuS, r.idleWrites, r.idleCalls,
		p50, p99, rw, rc, r.bound, r.load1)
}

// runOne measures one N on a control plane of its own.
func runOne(ctx context.Context, cfg config, lim limits, n int) (res result, err error) {
	res = result{n: n, tokens: cfg.tokens, idle: cfg.idle, loadBefore: loadAverage()}

	step := stepper()
	b, err := newBed(ctx, "konnect-bench-", cfg.tokens, 1, cfg.keep)
	if err != nil {
		return res, err
	}
	defer b.close(&err)
	work, cp, fake, tokens, kube, client := b.work, b.cp, b.fake, b.tokens, b.kube, b.client
	apiserverPid, etcdPid := controlPlanePids(cp.Dir())
	step(fmt.Sprintf("control plane up in %s (kube-apiserver pid %d, etcd pid %d)", cp.Dir(), apiserverPid, etcdPid))

	for _, ns := range []string{benchNamespace, ceilingNamespace} {
		if _, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			return res, fmt.Errorf("creating namespace %s: %w", ns, err)
		}
	}

	start := time.Now()
	ceilingObjs, err := populate(ctx, kube, client, cfg, n, tokens)
	if err != nil {
		return res, err
	}
	res.setup = time.Since(start)
	// An apiserver creates a CRD's storage and watch cache on the first request for it, and
	// answers the first watch-list 429 Retry-After: 1s until that cache is ready. In a cluster
	// that has been running that is long done; here nothing has touched KongReferenceGrants
	// yet, and the controller's first start would pay that second. Touch them now, as any
	// cluster where grants are in use already has.
	if _, err := client.ConfigurationV1alpha1().KongReferenceGrants("").List(ctx, metav1.ListOptions{Limit: 1}); err != nil {
		return res, fmt.Errorf("listing KongReferenceGrants: %w", err)
	}
	step(fmt.Sprintf("created %d configurations, %d labelled Secrets, %d unrelated Secrets, %d ceiling objects in %.1fs",
		n, n/2, cfg.unrelatedSecrets, len(ceilingObjs), res.setup.Seconds()))

	for _, writers := range cfg.ceilingWriters {
		before := sampleCPU(os.Getpid(), apiserverPid, etcdPid)
		wps, total, err := measureCeiling(ctx, client, ceilingObjs, writers, cfg.ceilingDuration)
		if err != nil {
			return res, fmt.Errorf("ceiling: %w", err)
		}
		after := sampleCPU(os.Getpid(), apiserverPid, etcdPid)
		// The CPU figures include the one-second warm-up.
		step(fmt.Sprintf("ceiling: %.1f status writes/s (%d writers, %v); CPU s: kube-apiserver %.1f, etcd %.1f, writer %.1f; %.2f of %d CPUs busy",
			wps, writers, cfg.ceilingDuration, after.apiserver-before.apiserver, after.etcd-before.etcd,
			after.controller-before.controller, busyCores(before, after), runtime.NumCPU()))
		if wps > res.ceilingWPS {
			res.ceilingWPS, res.ceilingWriters = wps, writers
			res.ceilingBusy = busyCores(before, after)
			if total > 0 {
				res.ceilingCPUPerWrite = (after.apiserver - before.apiserver + after.etcd - before.etcd + after.controller - before.controller) / float64(total)
			}
		}
	}
	if err := deleteCeilingObjects(ctx, client); err != nil {
		return res, err
	}
	step("ceiling objects deleted")

	w, err := startWatcher(ctx, client, benchNamespace, n)
	if err != nil {
		return res, err
	}
	defer w.stop()
	step(fmt.Sprintf("watching %d configurations, none True", n))

	// startController starts a controller with the run's flags and fresh loopback ports for
	// its endpoints, and says where it serves /readyz.
	starts := 0
	startController := func() (*framework.Controller, string, error) {
		args, err := controllerArgs(cfg.controllerArgs)
		if err != nil {
			return nil, "", err
		}
		starts++
		log := fmt.Sprintf("controller-%d.log", n)
		if starts > 1 {
			log = fmt.Sprintf("controller-%d-start%d.log", n, starts)
		}
		c, err := framework.StartController(framework.ControllerOptions{
			Kubeconfig: cp.KubeconfigPath(),
			Env:        fake.Env(),
			Args:       args,
			LogPath:    filepath.Join(work, log),
		})
		return c, probeAddress(args), err
	}
	fake.ResetCounts()
	writes0 := w.writes.Load()
	t0 := time.Now()
	ctrl, _, err := startController()
	if err != nil {
		return res, err
	}
	// ctrl is replaced by the restart phase: this stops whichever runs last.
	defer func() {
		if stopErr := ctrl.Stop(30 * time.Second); stopErr != nil && err == nil && ctx.Err() == nil {
			err = fmt.Errorf("controller: %w\n%s", stopErr, framework.Tail(ctrl.Log(), 20))
		}
	}()
	pid := ctrl.Pid()
	cpu0 := sampleCPU(pid, apiserverPid, etcdPid)

	convergeTimeout := cfg.convergeTimeoutFor(n)
	timeout := time.NewTimer(convergeTimeout)
	defer timeout.Stop()
	select {
	case <-w.allTrue:
		res.complete = true
	case <-timeout.C:
		fmt.Printf("  !! not converged after %v: %d of %d True\n", convergeTimeout, w.validCount(), n)
	case <-ctrl.Done():
		return res, fmt.Errorf("the controller exited during convergence (code %d):\n%s", ctrl.ExitCode(), framework.Tail(ctrl.Log(), 30))
	case <-ctx.Done():
		return res, ctx.Err()
	}
	convergedAt := time.Now()
	res.calls = fake.Calls()
	cpu1 := sampleCPU(pid, apiserverPid, etcdPid)
	res.events = countEvents(ctx, kube, benchNamespace)
	stats, err := readProc(pid)
	if err != nil {
		return res, err
	}
	res.apiserverCPU, res.etcdCPU, res.convergeBusy = cpu1.apiserver-cpu0.apiserver, cpu1.etcd-cpu0.etcd, busyCores(cpu0, cpu1)
	res.ctrlConvergeCPU, res.benchCPU = cpu1.controller-cpu0.controller, cpu1.bench-cpu0.bench
	res.convergeCPUPerConfig = (res.apiserverCPU + res.etcdCPU + res.ctrlConvergeCPU) / float64(n)
	if res.complete {
		res.converge = w.allTrueAt.Sub(t0)
	} else {
		res.converge = convergedAt.Sub(t0)
	}
	if ft := w.firstTrueAt(); !ft.IsZero() {
		res.firstTrue = ft.Sub(t0)
	}
	res.cpuS = stats.cpuSeconds
	res.hwmAtConverge = stats.hwmMiB()
	res.writes = w.writes.Load() - writes0
	step(fmt.Sprintf("converged: %d/%d True in %.2fs (first True after %.2fs), %d Konnect calls, %d status writes, %.2f CPU s, peak RSS %.1f MiB",
		w.validCount(), n, res.converge.Seconds(), res.firstTrue.Seconds(), res.calls, res.writes, stats.cpuSeconds, stats.hwmMiB()))
	res.steadyRate = w.steadyRate()
	step(fmt.Sprintf("True over time: %s (%.1f configurations/s from 10%% to 90%%)", w.progress(t0), res.steadyRate))
	step(fmt.Sprintf("during convergence: CPU s kube-apiserver %.1f, etcd %.1f, controller %.1f, bench %.1f; %.2f of %d CPUs busy; %d Events recorded",
		res.apiserverCPU, res.etcdCPU, res.ctrlConvergeCPU, res.benchCPU, res.convergeBusy, runtime.NumCPU(), res.events))
	var bf boundFigures
	res.bound, bf = decideBound(res, lim)
	res.boundWhy = boundLine(res.bound, bf)
	fmt.Println("  " + res.boundWhy)
	fmt.Println("  " + res.costLine())

	// The idle window starts right away: a write or a call that convergence left behind
	// counts as idle traffic.
	idleWrites0, idleCalls0, idleCPU0 := w.writes.Load(), fake.Calls(), stats.cpuSeconds
	if cfg.idle > 0 {
		select {
		case <-time.After(cfg.idle):
		case <-ctrl.Done():
			return res, fmt.Errorf("the controller exited during the idle window (code %d):\n%s", ctrl.ExitCode(), framework.Tail(ctrl.Log(), 30))
		case <-ctx.Done():
			return res, ctx.Err()
		}
	}
	res.idleWrites = w.writes.Load() - idleWrites0
	res.idleEvents = countEvents(ctx, kube, benchNamespace) - res.events
	res.idleCalls = fake.Calls() - idleCalls0
	stats, err = readProc(pid)
	if err != nil {
		return res, err
	}
	res.idleCPUS = stats.cpuSeconds - idleCPU0
	res.rssMiB = stats.hwmMiB()
	res.loadAfter = loadAverage()
	step(fmt.Sprintf("idle %v: %d status writes, %d Konnect calls, %d Events, %.2f CPU s; peak RSS %.1f MiB; %d True→not True transitions seen",
		cfg.idle, res.idleWrites, res.idleCalls, res.idleEvents, res.idleCPUS, res.rssMiB, w.falls.Load()))
	if self, err := readProc(os.Getpid()); err == nil {
		res.benchRSSMiB = self.hwmMiB()
		step(fmt.Sprintf("this benchmark's own peak RSS so far (its watch of %d configurations, the fake Konnect, the fill): %.1f MiB", n, res.benchRSSMiB))
	}

	if !res.complete {
		step("latency and restart skipped: the configurations did not converge")
		return res, nil
	}
	if cfg.latencyCount > 0 {
		res.latency, err = measureLatency(ctx, kube, client, w, tokens, cfg.latencyCount, cfg.latencyTimeout, ctrl.Done())
		if err != nil {
			select {
			case <-ctrl.Done():
				err = fmt.Errorf("%w (code %d):\n%s", err, ctrl.ExitCode(), framework.Tail(ctrl.Log(), 30))
			default:
			}
			return res, err
		}
		step(fmt.Sprintf("latency beside %d True configurations: %s", n, res.latency))
	}
	if cfg.restart {
		restartTimeout := cfg.restartTimeoutFor(n + cfg.latencyCount)
		next, rr, err := measureRestart(ctx, ctrl, startController, w, fake, tokens, cfg.restartQuiet, restartTimeout)
		if next != nil {
			ctrl = next
		}
		rr.expectCall = min(cfg.tokens, max((n+1)/2, cfg.latencyCount))
		res.restart = rr
		if err != nil {
			return res, err
		}
		step(fmt.Sprintf("restart (%d configurations): %s", n+cfg.latencyCount, rr))
	}
	return res, nil
}

// costLine is the per-configuration cost of the convergence, to compare sizes: flat from
// 1,000 to 100,000 means the controller scales linearly.
func (r result) costLine() string {
	return fmt.Sprintf("cost: controller CPU %.3f ms/config, kube-apiserver+etcd+controller CPU %.3f ms/config, converge %.2f s per 1000 configs, controller peak RSS so far %.1f MiB",
		1000*r.ctrlConvergeCPU/float64(r.n), 1000*r.convergeCPUPerConfig, r.convergeSPer1000(), r.hwmAtConverge)
}

// convergeSPer1000 is the converge time per 1,000 configurations.
func (r result) convergeSPer1000() float64 {
	return r.converge.Seconds() * 1000 / float64(r.n)
}

// controllerArgs are the controller's flags for a run: the probe and metrics endpoints on
// free loopback ports when the binary has those flags, then the user's.
func controllerArgs(extra []string) ([]string, error) {
	bin, err := framework.ControllerBinary()
	if err != nil {
		return nil, err
	}
	// -h prints the flags and exits (2 with the standard flag package): only the text counts.
	help, _ := exec.Command(bin, "-h").CombinedOutput()
	var args []string
	for _, f := range []string{"metrics-bind-address", "health-probe-bind-address"} {
		if !strings.Contains(string(help), f) || hasFlag(extra, f) {
			continue
		}
		port, err := framework.FreePort()
		if err != nil {
			return nil, err
		}
		args = append(args, fmt.Sprintf("--%s=127.0.0.1:%d", f, port))
	}
	return append(args, extra...), nil
}

func hasFlag(args []string, name string) bool {
	for _, a := range args {
		a = strings.TrimLeft(a, "-")
		if a == name || strings.HasPrefix(a, name+"=") {
			return true
		}
	}
	return false
}

// bed is what one measurement runs on, made afresh for it: a work folder, a control plane of
// its own with the CRDs and clients of it, and a fake Konnect (its files in the work folder)
// that accepts tokens, the i-th for the organization orgFor(i*orgStride).
type bed struct {
	work   string
	cp     *controlplane.ControlPlane
	kube   kubernetes.Interface
	client clientset.Interface
	fake   *fakekonnect.Server
	tokens []string
	keep   bool
}

// newBed makes a bed with tokenCount tokens; if it fails, it leaves nothing behind (but the
// work folder, with keep).
func newBed(ctx context.Context, prefix string, tokenCount, orgStride int, keep bool) (_ *bed, err error) {
	b := &bed{keep: keep}
	defer func() {
		if err != nil {
			b.close(&err)
		}
	}()
	if b.work, err = os.MkdirTemp("", prefix); err != nil {
		return nil, err
	}
	if b.cp, err = controlplane.StartWithCRDs(ctx, controlplane.Options{}); err != nil {
		return nil, err
	}
	// Unthrottled clients: the setup and the ceiling writer must not be held back here.
	restConfig := b.cp.RESTConfig()
	restConfig.QPS = -1
	restConfig.UserAgent = "konnect-bench"
	kubeConfig := rest.CopyConfig(restConfig)
	kubeConfig.ContentType = "application/vnd.kubernetes.protobuf"
	if b.kube, err = kubernetes.NewForConfig(kubeConfig); err != nil {
		return nil, err
	}
	if b.client, err = clientset.NewForConfig(restConfig); err != nil {
		return nil, err
	}
	if b.fake, err = fakekonnect.Start(fakekonnect.Options{Dir: b.work}); err != nil {
		return nil, err
	}
	b.tokens = makeTokens(tokenCount)
	for i, t := range b.tokens {
		b.fake.AddToken(t, orgFor(i*orgStride))
	}
	return b, nil
}

// close stops the fake Konnect and the control plane and removes the work folder, unless keep
// (then it says where it is). An error stopping the control plane goes to *err, unless that
// already holds one.
func (b *bed) close(err *error) {
	if b.fake != nil {
		b.fake.Close()
	}
	if b.cp != nil {
		if stopErr := b.cp.Stop(); stopErr != nil && *err == nil {
			*err = stopErr
		}
	}
	switch {
	case b.work == "":
	case b.keep:
		fmt.Printf("work folder kept: %s\n", b.work)
	default:
		_ = os.RemoveAll(b.work)
	}
}

// stepper returns a function that prints a progress line with the time since the last one.
func stepper() func(string) {
	last := time.Now()
	return func(msg string) {
		now := time.Now()
		fmt.Printf("  [%6.1fs] %s\n", now.Sub(last).Seconds(), msg)
		last = now
	}
}

// countEvents returns how many Events the namespace holds (-1 if it cannot tell), from one
// list call of a single item.
func countEvents(ctx context.Context, kube kubernetes.Interface, namespace string) int64 {
	list, err := kube.CoreV1().Events(namespace).List(ctx, metav1.ListOptions{Limit: 1})
	if err != nil {
		return -1
	}
	n := int64(len(list.Items))
	if list.RemainingItemCount != nil {
		n += *list.RemainingItemCount
	}
	return n
}

// cpuEfficiency is the CPU a plain status write costs divided by the CPU a configuration
// costs when the controller converges it: 1 means the controller adds nothing to the
// apiserver's own cost of a status write, 0.5 that a configuration costs twice a write.
func (r result) cpuEfficiency() float64 {
	if r.convergeCPUPerConfig <= 0 {
		return 0
	}
	return r.ceilingCPUPerWrite / r.convergeCPUPerConfig
}
