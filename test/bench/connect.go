package main

// The connect phase of make bench: -connect control planes and as many extensions, on
// -connect-tokens auth configurations, converged by the controller against the fake Konnect,
// with every Konnect call counted from the fake's request log.

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	konnectv1alpha1 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha1"
	konnectv1alpha2 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha2"
	clientset "github.com/konnect-auth-controller/konnect-auth-controller/pkg/generated/clientset/versioned"
	"github.com/konnect-auth-controller/konnect-auth-controller/test/e2e/framework"
)

// connectNamespace holds the connect phase's objects.
const connectNamespace = "bench-connect"

// connectResult is what the connect phase measured.
type connectResult struct {
	n, tokens int
	complete  bool
	converge  time.Duration // controller start → every control plane Programmed and extension Ready
	// Konnect calls during convergence, from the fake's request log.
	cpCreates, cpReads, cpUpdates, certCreates, certLists, certDeletes, tokenChecks, total int
	idle                                                                                   time.Duration
	idleWrites, idleReads                                                                  int
	rssMiB, cpuS                                                                           float64
	load1                                                                                  float64
	// bound is what limited the convergence: "konnect-qps" when the calls ran at the
	// controller's Konnect limit, else "controller" (decided from the same run's figures).
	bound string
}

// callsPerS is the Konnect call rate during convergence.
func (r connectResult) callsPerS() float64 {
	if r.converge <= 0 {
		return 0
	}
	return float64(r.total) / r.converge.Seconds()
}

func (r connectResult) benchLine() string {
	converge := fmt.Sprintf("%.2f", r.converge.Seconds())
	if !r.complete {
		converge = "incomplete"
	}
	return fmt.Sprintf("BENCH connect controlplanes=%d extensions=%d tokens=%d converge_s=%s cp_creates=%d cert_registrations=%d konnect_calls=%d konnect_calls_per_s=%.1f idle_s=%.0f idle_konnect_writes=%d idle_konnect_reads=%d rss_mib=%.1f cpu_s=%.2f bound=%s load=%.2f",
		r.n, r.n, r.tokens, converge, r.cpCreates, r.certCreates, r.total, r.callsPerS(), r.idle.Seconds(), r.idleWrites, r.idleReads, r.rssMiB, r.cpuS, r.bound, r.load1)
}

// runConnect measures the connect phase on a control plane of its own.
func runConnect(ctx context.Context, cfg config, lim limits, n, tokenCount int) (res connectResult, err error) {
	res = connectResult{n: n, tokens: tokenCount, idle: cfg.idle}
	step := stepper()
	b, err := newBed(ctx, "konnect-bench-connect-", tokenCount, 10, cfg.keep)
	if err != nil {
		return res, err
	}
	defer b.close(&err)
	work, cp, fake, tokens, kube, client := b.work, b.cp, b.fake, b.tokens, b.kube, b.client
	if _, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: connectNamespace}}, metav1.CreateOptions{}); err != nil {
		return res, err
	}
	start := time.Now()
	if err := populateConnect(ctx, client, cfg.setupWorkers, n, tokens); err != nil {
		return res, err
	}
	step(fmt.Sprintf("created %d auth configurations, %d control planes, %d extensions in %.1fs", tokenCount, n, n, time.Since(start).Seconds()))

	args, err := controllerArgs(cfg.controllerArgs)
	if err != nil {
		return res, err
	}
	fake.ResetRequests()
	t0 := time.Now()
	ctrl, err := framework.StartController(framework.ControllerOptions{
		Kubeconfig: cp.KubeconfigPath(), Env: fake.Env(), Args: args, LogPath: filepath.Join(work, "controller-connect.log"),
	})
	if err != nil {
		return res, err
	}
	defer func() {
		if stopErr := ctrl.Stop(30 * time.Second); stopErr != nil && err == nil && ctx.Err() == nil {
			err = fmt.Errorf("controller: %w\n%s", stopErr, framework.Tail(ctrl.Log(), 20))
		}
	}()

	deadline := time.Now().Add(cfg.convergeTimeoutFor(n))
	for {
		programmed, ready, err := countConnected(ctx, client)
		if err != nil {
			return res, err
		}
		if programmed == n && ready == n {
			res.complete, res.converge = true, time.Since(t0)
			break
		}
		if time.Now().After(deadline) {
			res.converge = time.Since(t0)
			fmt.Printf("  !! not converged after %v: %d/%d Programmed, %d/%d Ready\n", res.converge.Round(time.Second), programmed, n, ready, n)
			break
		}
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-ctrl.Done():
			return res, fmt.Errorf("the controller exited (code %d):\n%s", ctrl.ExitCode(), framework.Tail(ctrl.Log(), 30))
		case <-time.After(time.Second):
		}
	}
	res.cpCreates = fake.CountRequests("POST", "/v2/control-planes")
	res.cpReads = fake.CountRequests("GET", "/v2/control-planes") + fake.CountRequests("GET", "/v2/control-planes/*")
	res.cpUpdates = fake.CountRequests("PATCH", "/v2/control-planes/*")
	res.certCreates = fake.CountRequests("POST", "/v2/control-planes/*/dp-client-certificates")
	res.certLists = fake.CountRequests("GET", "/v2/control-planes/*/dp-client-certificates")
	res.certDeletes = fake.CountRequests("DELETE", "/v2/control-planes/*/dp-client-certificates/*")
	res.tokenChecks = fake.CountRequests("GET", "/v3/organizations/me")
	res.total = len(fake.Requests())
	step(fmt.Sprintf("converged in %.2fs: Konnect calls %d: control planes created %d, read %d, updated %d; certificates registered %d, listed %d, deleted %d; token checks %d",
		res.converge.Seconds(), res.total, res.cpCreates, res.cpReads, res.cpUpdates, res.certCreates, res.certLists, res.certDeletes, res.tokenChecks))
	// Every create and registration is a Konnect call behind the one limiter: when the calls
	// ran at --konnect-qps, that limit bound the run, not the apiserver or the controller.
	res.bound = "controller"
	if res.callsPerS() >= 0.9*lim.konnectQPS {
		res.bound = "konnect-qps"
	}
	fmt.Printf("  bound: %s: %.1f Konnect calls/s against --konnect-qps=%g (burst %d)\n", res.bound, res.callsPerS(), lim.konnectQPS, lim.konnectBurst)

	fake.ResetRequests()
	select {
	case <-ctx.Done():
		return res, ctx.Err()
	case <-time.After(cfg.idle):
	}
	for _, r := range fake.Requests() {
		if r.Method == "GET" {
			res.idleReads++
		} else {
			res.idleWrites++
		}
	}
	stats, err := readProc(ctrl.Pid())
	if err != nil {
		return res, err
	}
	res.rssMiB, res.cpuS = stats.hwmMiB(), stats.cpuSeconds
	step(fmt.Sprintf("idle %v: %d Konnect writes, %d reads (the re-sync's GET of each control plane and list of each extension's certificates); peak RSS %.1f MiB, %.2f CPU s",
		cfg.idle, res.idleWrites, res.idleReads, res.rssMiB, res.cpuS))
	return res, nil
}

// populateConnect creates one inline-token auth configuration per token, n control planes
// spread over them, and one extension per control plane.
func populateConnect(ctx context.Context, client clientset.Interface, workers, n int, tokens []string) error {
	for i, token := range tokens {
		cfg := &konnectv1alpha1.KonnectAPIAuthConfiguration{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("auth-%d", i)},
			Spec: konnectv1alpha1.KonnectAPIAuthConfigurationSpec{
				Type: konnectv1alpha1.KonnectAPIAuthTypeToken, Token: token, ServerURL: "us.api.konghq.com",
			},
		}
		if _, err := client.KonnectV1alpha1().KonnectAPIAuthConfigurations(connectNamespace).Create(ctx, cfg, metav1.CreateOptions{}); err != nil {
			return err
		}
	}
	jobs := make(chan int)
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for j := range jobs {
				if err := createConnectPair(ctx, client, j, len(tokens)); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	var err error
feed:
	for j := range n {
		select {
		case jobs <- j:
		case err = <-errs:
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	if err != nil {
		return err
	}
	select {
	case err = <-errs:
	default:
	}
	return err
}

func createConnectPair(ctx context.Context, client clientset.Interface, j, tokens int) error {
	name := fmt.Sprintf("cp-%d", j)
	cp := &konnectv1alpha2.KonnectGatewayControlPlane{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: konnectv1alpha2.KonnectGatewayControlPlaneSpec{
			CreateControlPlaneRequest: &konnectv1alpha2.CreateControlPlaneRequest{Name: &name},
			KonnectConfiguration: konnectv1alpha2.KonnectConfiguration{
				APIAuthConfigurationRef: konnectv1alpha2.KonnectAPIAuthConfigurationRef{Name: fmt.Sprintf("auth-%d", j%tokens)},
			},
		},
	}
	if _, err := client.KonnectV1alpha2().KonnectGatewayControlPlanes(connectNamespace).Create(ctx, cp, metav1.CreateOptions{}); err != nil {
		return err
	}
	ext := &konnectv1alpha2.KonnectExtension{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("ext-%d", j)},
		Spec: konnectv1alpha2.KonnectExtensionSpec{Konnect: konnectv1alpha2.KonnectExtensionKonnectSpec{
			ControlPlane: konnectv1alpha2.KonnectExtensionControlPlane{Ref: konnectv1alpha2.ControlPlaneRef{
				Type:                 konnectv1alpha2.ControlPlaneRefKonnectNamespacedRef,
				KonnectNamespacedRef: &konnectv1alpha2.KonnectNamespacedRef{Name: name},
			}},
		}},
	}
	_, err := client.KonnectV1alpha2().KonnectExtensions(connectNamespace).Create(ctx, ext, metav1.CreateOptions{})
	return err
}

// countConnected lists both kinds and counts the Programmed control planes and Ready extensions.
func countConnected(ctx context.Context, client clientset.Interface) (programmed, ready int, err error) {
	cps, err := client.KonnectV1alpha2().KonnectGatewayControlPlanes(connectNamespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return 0, 0, err
	}
	for _, cp := range cps.Items {
		if meta.IsStatusConditionTrue(cp.Status.Conditions, konnectv1alpha2.ConditionProgrammed) {
			programmed++
		}
	}
	exts, err := client.KonnectV1alpha2().KonnectExtensions(connectNamespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return 0, 0, err
	}
	for _, ext := range exts.Items {
		if meta.IsStatusConditionTrue(ext.Status.Conditions, konnectv1alpha2.ConditionReady) {
			ready++
		}
	}
	return programmed, ready, nil
}
