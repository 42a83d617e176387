package soak

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	informers "github.com/konnect-auth-controller/konnect-auth-controller/pkg/generated/informers/externalversions"
	"github.com/konnect-auth-controller/konnect-auth-controller/test/controlplane"
	"github.com/konnect-auth-controller/konnect-auth-controller/test/e2e/framework"
)

// Config says how to run the soak.
type Config struct {
	// Seed drives every random choice of the workload, the faults, the out-of-band changes
	// and the kills.
	Seed uint64
	// Duration is how long the chaos lasts.
	Duration time.Duration
	// Replicas is the number of controller replicas (under --leader-elect).
	Replicas int
	// SyncPeriod is the controller's --konnect-sync-period; the oracle first looks after
	// three of them.
	SyncPeriod time.Duration
	// Revalidate is the controller's --revalidate-interval.
	Revalidate time.Duration
	// Settle bounds how long the oracle waits, after the chaos, for the state checks to pass.
	Settle time.Duration
	// Rate is the workload's operations per second.
	Rate float64
	// KillEvery is the mean time between kills of the leader (0: none).
	KillEvery time.Duration
	// FlipWindow is how long before a flip a change on the object's chain explains it.
	FlipWindow time.Duration
	// Verbosity is the controller's -v.
	Verbosity int
	// Inject lists violations to inject before the oracle runs, to prove it catches them.
	Inject []string
	// Keep keeps the work folder (logs) even when the run passes.
	Keep bool
	// ExtraArgs are more controller flags.
	ExtraArgs []string
}

// Injections are the violations SOAK_INJECT may name ("all" names every one).
var Injections = []string{"leak", "duplicate", "double-create", "orphan-certificate", "missing", "stuck", "false-flip", "token-leak"}

// Summary is what the SOAK line says.
type Summary struct {
	Seed                               uint64
	Duration                           time.Duration
	Ops, Faults, Kills                 int
	ControlPlanes, Certificates        int
	Leaked, Duplicates, Missing, Stuck int
	FalseFlips, TokenLeaks             int
	MaxRSSMiB                          float64
	Settle                             time.Duration
	Violations                         int
}

// Line is the one line the soak ends with.
func (s Summary) Line() string {
	return fmt.Sprintf("SOAK seed=%d duration_s=%.0f ops=%d faults=%d kills=%d konnect_control_planes=%d certificates=%d leaked=%d duplicates=%d stuck=%d false_flips=%d token_leaks=%d max_rss_mib=%.1f missing=%d settle_s=%.0f",
		s.Seed, s.Duration.Seconds(), s.Ops, s.Faults, s.Kills, s.ControlPlanes, s.Certificates, s.Leaked, s.Duplicates, s.Stuck,
		s.FalseFlips, s.TokenLeaks, s.MaxRSSMiB, s.Missing, s.Settle.Seconds())
}

// Run runs the soak, printing progress and the violations to out, and returns the summary;
// err is a failure of the harness itself (not a violation).
func Run(ctx context.Context, cfg Config, out io.Writer) (sum Summary, err error) {
	start := time.Now()
	sum.Seed, sum.Duration = cfg.Seed, cfg.Duration
	logf := func(format string, args ...any) {
		fmt.Fprintf(out, "[%6.1fs] %s\n", time.Since(start).Seconds(), fmt.Sprintf(format, args...))
	}
	fmt.Fprintf(out, "soak: seed=%d duration=%v replicas=%d sync-period=%v rate=%.2f/s kill-every=%v inject=%v\n",
		cfg.Seed, cfg.Duration, cfg.Replicas, cfg.SyncPeriod, cfg.Rate, cfg.KillEvery, cfg.Inject)
	fmt.Fprintf(out, "soak: replay with SOAK_SEED=%d SOAK_DURATION=%v make soak\n", cfg.Seed, cfg.Duration)

	work, err := os.MkdirTemp("", "konnect-soak-")
	if err != nil {
		return sum, err
	}
	keep := cfg.Keep
	defer func() {
		if keep || err != nil || sum.Violations > 0 {
			fmt.Fprintf(out, "soak: work folder kept: %s (controller logs in logs/, everything that happened in journal.log)\n", work)
			return
		}
		_ = os.RemoveAll(work)
	}()
	if err := os.MkdirAll(filepath.Join(work, "logs"), 0o755); err != nil {
		return sum, err
	}

	// 1. The real parts: etcd, kube-apiserver, kube-controller-manager (namespace deletion and
	// garbage collection); the fake Konnect in this process behind the front.
	bin, err := framework.ControllerBinary()
	if err != nil {
		return sum, err
	}
	logf("controller binary %s", bin)
	cp, err := controlplane.StartWithCRDs(ctx, controlplane.Options{Dir: filepath.Join(work, "controlplane"), ControllerManager: true})
	if err != nil {
		return sum, err
	}
	defer func() {
		if stopErr := cp.Stop(); stopErr != nil && err == nil {
			err = stopErr
		}
	}()
	logf("control plane up: %s (etcd, kube-apiserver, kube-controller-manager)", cp.APIServerURL())
	fake, fr, err := startFakeKonnect(work)
	if err != nil {
		return sum, err
	}
	defer fake.Close()

	restCfg := cp.RESTConfig()
	restCfg.QPS = -1
	restCfg.UserAgent = "konnect-soak"
	kube, client, err := framework.Clients(restCfg)
	if err != nil {
		return sum, err
	}
	if _, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: systemNamespace}}, metav1.CreateOptions{}); err != nil {
		return sum, err
	}

	j := newJournal(start)
	w := newWorld(j, cfg.Seed, kube, client, fake, fr)
	fr.onWrite = func(kw konnectWrite) {
		keys := []string{keyKonnectCP(kw.CPID)}
		if kw.UID != "" {
			keys = append(keys, keyUID(kw.UID))
		}
		for _, id := range kw.Created {
			keys = append(keys, keyKonnectCP(id))
		}
		j.add(kindKonnect, keys, "%s", kw.String())
	}
	viewNow := func(ctx context.Context) (*View, error) {
		return listView(ctx, kube, client, fr.snapshot(), w.tokenInfos())
	}

	runCtx, stopAll := context.WithCancel(ctx)
	defer stopAll()
	wat := newWatcher(j, cfg.FlipWindow, viewNow)
	w.changed = wat.changed
	if err := wat.start(runCtx, informers.NewSharedInformerFactory(client, 0)); err != nil {
		return sum, err
	}

	// 2. The controllers.
	args := []string{
		fmt.Sprintf("-v=%d", cfg.Verbosity),
		"--konnect-sync-period=" + cfg.SyncPeriod.String(), "--konnect-certificate-sync-period=" + cfg.SyncPeriod.String(),
		"--revalidate-interval=" + cfg.Revalidate.String(),
		"--konnect-timeout=3s",
		"--cluster-ca-secret-namespace=" + systemNamespace,
		"--leader-elect=true", "--leader-elect-namespace=" + systemNamespace,
		"--leader-elect-lease-duration=6s", "--leader-elect-renew-deadline=4s", "--leader-elect-retry-period=1s",
	}
	args = append(args, cfg.ExtraArgs...)
	fl := newFleet(j, kube, cfg.Replicas, framework.ControllerOptions{Kubeconfig: cp.KubeconfigPath(), Env: fake.Env(), Args: args}, filepath.Join(work, "logs"))
	if err := fl.startAll(); err != nil {
		return sum, err
	}
	defer fl.stop(30 * time.Second)
	leader, err := fl.waitLeader(ctx, 90*time.Second)
	if err != nil {
		return sum, err
	}
	logf("%d replica(s) started, %s leads; controller flags: %s", cfg.Replicas, leader.name, strings.Join(args, " "))
	go fl.sampleLoop(runCtx)
	superviseCtx, stopSupervise := context.WithCancel(runCtx)
	defer stopSupervise()
	go fl.supervise(superviseCtx)

	// 3. The chaos, for cfg.Duration.
	chaos, stopChaos := context.WithTimeout(runCtx, cfg.Duration)
	defer stopChaos()
	seeds := rand.New(rand.NewPCG(cfg.Seed, 0xfa17))
	done := make(chan struct{}, 4)
	go func() { w.run(chaos, cfg.Rate); done <- struct{}{} }()
	go func() { w.faultLoop(chaos, rand.New(rand.NewPCG(seeds.Uint64(), 1))); done <- struct{}{} }()
	go func() { w.oobLoop(chaos, rand.New(rand.NewPCG(seeds.Uint64(), 2))); done <- struct{}{} }()
	killRng := rand.New(rand.NewPCG(seeds.Uint64(), 3))
	go func() {
		if cfg.KillEvery > 0 {
			fl.killLoop(chaos, killRng, cfg.KillEvery)
		}
		done <- struct{}{}
	}()
	progress := time.NewTicker(30 * time.Second)
	for waiting := true; waiting; {
		select {
		case <-chaos.Done():
			waiting = false
		case <-progress.C:
			ops, failed, faults, oobs := w.counts()
			leaderName := "none"
			if l := fl.leader(ctx); l != nil {
				leaderName = l.name
			}
			nOwned := 0
			for _, e := range fr.snapshot() {
				if owned(e.ControlPlane) {
					nOwned++
				}
			}
			w.mu.Lock()
			nss := len(w.namespaces)
			w.mu.Unlock()
			flips := 0
			for _, f := range wat.Flips() {
				if !f.Legit {
					flips++
				}
			}
			logf("ops=%d (refused %d) faults=%d out-of-band=%d kills=%d leader=%s konnect_control_planes=%d namespaces=%d false_flips_so_far=%d",
				ops, failed, faults, oobs, fl.killCount(), leaderName, nOwned, nss, flips)
		}
	}
	progress.Stop()
	for range 4 {
		<-done
	}
	if ctx.Err() != nil {
		return sum, ctx.Err()
	}

	// 4. Heal, then settle: at least three sync periods, then until the state checks pass
	// or cfg.Settle has passed.
	if slices.Contains(cfg.Inject, "stuck") {
		if err := injectStuck(ctx, kube, j); err != nil {
			return sum, err
		}
	}
	w.heal()
	stopSupervise()
	if err := fl.ensureRunning(); err != nil {
		return sum, err
	}
	settleStart := time.Now()
	ops, failed, faults, oobs := w.counts()
	logf("chaos over: %d ops (%d refused by the apiserver), %d Konnect faults, %d out-of-band changes, %d kills; healed, settling (at least %v, at most %v)",
		ops, failed, faults, oobs, fl.killCount(), 3*cfg.SyncPeriod, cfg.Settle)
	gather := func() (*Snapshot, error) {
		v, err := viewNow(ctx)
		if err != nil {
			return nil, err
		}
		return &Snapshot{View: v, Writes: fr.Writes(), DirectDeletes: w.directDeleteTimes(), Flips: wat.Flips(),
			Issued: w.issuedTokens(), StuckBefore: settleStart}, nil
	}
	select {
	case <-ctx.Done():
		return sum, ctx.Err()
	case <-time.After(3 * cfg.SyncPeriod):
	}
	var snap *Snapshot
	var res Result
	for {
		if snap, err = gather(); err != nil {
			return sum, err
		}
		res = Check(snap)
		if res.converged() || time.Since(settleStart) >= cfg.Settle {
			break
		}
		select {
		case <-ctx.Done():
			return sum, ctx.Err()
		case <-time.After(5 * time.Second):
		}
	}
	sum.Settle = time.Since(settleStart)
	logf("settled after %.0fs (converged: %v)", sum.Settle.Seconds(), res.converged())

	// 5. The controllers stop (their logs are complete; nothing repairs an injected violation
	// any more), the watcher classifies what is left, injected violations (SOAK_INJECT) are
	// made, and the oracle takes its final look.
	wat.drain(ctx)
	fl.stop(30 * time.Second)
	if len(cfg.Inject) > 0 {
		if err := injectLate(ctx, cfg.Inject, w, fr, kube, client, fl, j, snap, wat); err != nil {
			return sum, err
		}
		time.Sleep(2 * time.Second) // the watcher sees an injected flip
		wat.drain(ctx)
		if snap, err = gather(); err != nil {
			return sum, err
		}
	}
	snap.Flips = wat.Flips()
	snap.Logs = fl.logs()
	stopAll()
	res = Check(snap)

	transitions, trueToUnknown := wat.stats()
	sum.Ops, sum.Faults, sum.Kills = ops, faults+oobs, fl.killCount()
	sum.ControlPlanes, sum.Certificates = res.ControlPlanes, res.Certificates
	sum.Leaked, sum.Duplicates, sum.Missing, sum.Stuck = res.Count(checkLeaked), res.Count(checkDuplicate), res.Count(checkMissing), res.Count(checkStuck)
	sum.FalseFlips, sum.TokenLeaks = res.Count(checkFalseFlip), res.Count(checkTokenLeaks)
	sum.MaxRSSMiB = fl.maxRSSMiB()
	sum.Violations = len(res.Violations)

	report(out, j, w, fl, res, snap, transitions, trueToUnknown)
	_ = os.WriteFile(filepath.Join(work, "journal.log"), []byte(j.format(j.between(start, time.Now()), 1<<30, "")), 0o644)
	return sum, nil
}

// report prints what happened and every violation with its history.
func report(out io.Writer, j *journal, w *world, fl *fleet, res Result, snap *Snapshot, transitions, trueToUnknown int) {
	w.mu.Lock()
	names := make([]string, 0, len(w.opCounts))
	for n := range w.opCounts {
		names = append(names, n)
	}
	sort.Strings(names)
	var parts []string
	for _, n := range names {
		parts = append(parts, fmt.Sprintf("%s=%d", n, w.opCounts[n]))
	}
	w.mu.Unlock()
	fmt.Fprintf(out, "\nsoak: operations: %s\n", strings.Join(parts, " "))
	_, _, faults, oobs := w.counts()
	fmt.Fprintf(out, "soak: Konnect faults: %d, out-of-band changes: %d, kills: %d\n", faults, oobs, fl.killCount())
	creates, lost := 0, 0
	for _, wr := range snap.Writes {
		if wr.Method == "POST" && wr.Path == "/v2/control-planes" && wr.successful() {
			creates++
		}
		if wr.Cut {
			lost++
		}
	}
	fmt.Fprintf(out, "soak: controller writes to Konnect: %d (%d successful control-plane creates, %d answers cut after the change took effect)\n", len(snap.Writes), creates, lost)
	legit := 0
	for _, f := range snap.Flips {
		if f.Legit {
			legit++
		}
	}
	fmt.Fprintf(out, "soak: condition transitions seen: %d; True→False: %d (%d legitimate: a deletion, or a chain broken then or shortly before); True→Unknown: %d\n",
		transitions, len(snap.Flips), legit, trueToUnknown)
	if exits := fl.exitsOnTheirOwn(); len(exits) > 0 {
		fmt.Fprintf(out, "soak: replicas that exited on their own and were started again: %d\n", len(exits))
		for _, e := range exits {
			fmt.Fprintf(out, "  - %s\n", e)
		}
	}
	if len(res.Notes) > 0 {
		fmt.Fprintf(out, "soak: accepted by the oracle (%d):\n", len(res.Notes))
		for _, n := range res.Notes {
			fmt.Fprintf(out, "  - %s\n", n)
		}
	}
	if len(res.Violations) == 0 {
		fmt.Fprintln(out, "soak: no violation")
		return
	}
	fmt.Fprintf(out, "soak: %d VIOLATION(S)\n", len(res.Violations))
	for i, v := range res.Violations {
		fmt.Fprintf(out, "\n#%d [%s] %s\n    %s\n    history:\n%s", i+1, v.Check, v.Object, v.Detail, j.format(j.history(v.Keys...), 60, "      "))
	}
	fmt.Fprintln(out)
}
