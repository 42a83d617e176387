package main

// The connect phase of make bench: -connect control planes and as many extensions, on
// -connect-tokens auth configurations, converged by the controller against the fake Konnect,
// with every Konnect call counted from the fake's request log.

import (
	"cmp"
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	konnectv1alpha1 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha1"
	konnectv1alpha2 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha2"
	clientset "github.com/konnect-auth-controller/konnect-auth-controller/pkg/generated/clientset/versioned"
	"github.com/konnect-auth-controller/konnect-auth-controller/test/e2e/framework"
	"github.com/konnect-auth-controller/konnect-auth-controller/test/fakekonnect"
)

// connectNamespace holds the connect phase's objects.
const connectNamespace = "bench-connect"

// runConnect measures the connect phase on a control plane of its own: convergence, one idle
// --konnect-sync-period, then spec changes during a re-sync.
func runConnect(ctx context.Context, cfg config, lim limits, n, tokenCount int) (res connectResult, err error) {
	res = connectResult{n: n, tokens: tokenCount, qps: lim.konnectQPS}
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
	w, err := startConnectWatch(ctx, client)
	if err != nil {
		return res, err
	}
	defer w.stop()

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

	if err := waitConnected(ctx, &res, w, ctrl, t0, cfg.convergeTimeoutFor(n), step); err != nil {
		return res, err
	}
	res.calls = fake.CountByKind()
	if dropped := fake.DroppedRequests(); dropped > 0 {
		fmt.Printf("  !! the fake's request log dropped %d requests: the counts below miss them\n", dropped)
	}
	outcome := fmt.Sprintf("converged in %.2fs", res.converge.Seconds())
	if !res.complete {
		outcome = fmt.Sprintf("stopped after %.2fs, not converged", res.converge.Seconds())
	}
	step(fmt.Sprintf("%s: Konnect calls %d: %s", outcome, res.calls.total(), res.calls))
	fmt.Println("  " + res.budgetLine())
	// Every create and registration is a Konnect call behind the one limiter: when the calls
	// ran at --konnect-qps, that limit bound the run, not the apiserver or the controller.
	res.bound = "controller"
	if res.callsPerS() >= 0.9*lim.konnectQPS {
		res.bound = "konnect-qps"
	}
	fmt.Printf("  bound: %s: %.1f Konnect calls/s against --konnect-qps=%g (burst %d)\n", res.bound, res.callsPerS(), lim.konnectQPS, lim.konnectBurst)

	if res.complete {
		if err := measureIdle(ctx, &res, fake, cmp.Or(lim.konnectSyncPeriod, cfg.idle), ctrl); err != nil {
			return res, err
		}
		step(fmt.Sprintf("idle %v (one --konnect-sync-period): %d Konnect writes, %d reads (%.0f a minute); controller CPU %.2f s",
			res.idle, res.idleWrites, res.idleReads, res.idleReadsPerMin(), res.idleCPUS))
	}
	if res.complete && cfg.connectChanges > 0 {
		resyncWait := 2 * cmp.Or(lim.konnectSyncPeriod, time.Minute)
		res.change, res.changeDuringResync, err = measureSpecChanges(ctx, client, fake, w, n, cfg.connectChanges, resyncWait, cfg.connectChangeTimeout, ctrl.Done())
		if err != nil {
			return res, err
		}
		step(fmt.Sprintf("%d spec changes during a re-sync (%d made while re-sync reads arrived), description change → PATCH at the fake: %s, %d not within %v (counted as that)",
			res.change.count, res.changeDuringResync, res.change.percentiles(), res.change.timeouts, cfg.connectChangeTimeout))
	}
	stats, err := readProc(ctrl.Pid())
	if err != nil {
		return res, err
	}
	res.rssMiB, res.cpuS = stats.hwmMiB(), stats.cpuSeconds
	step(fmt.Sprintf("controller: peak RSS %.1f MiB, %.2f CPU s", res.rssMiB, res.cpuS))
	return res, nil
}

// waitConnected waits until every control plane is Programmed and every extension Ready, or
// the timeout, printing the progress every minute.
func waitConnected(ctx context.Context, res *connectResult, w *connectWatch, ctrl *framework.Controller, t0 time.Time, timeout time.Duration, step func(string)) error {
	deadline, nextReport := t0.Add(timeout), t0.Add(time.Minute)
	for {
		res.programmed, res.ready = w.counts()
		if res.programmed == res.n && res.ready == res.n {
			res.complete, res.converge = true, time.Since(t0)
			return nil
		}
		if now := time.Now(); now.After(deadline) {
			res.converge = now.Sub(t0)
			fmt.Printf("  !! not converged after %v: %d/%d Programmed, %d/%d Ready\n", res.converge.Round(time.Second), res.programmed, res.n, res.ready, res.n)
			return nil
		} else if now.After(nextReport) {
			step(fmt.Sprintf("after %v: %d/%d Programmed, %d/%d Ready", now.Sub(t0).Round(time.Second), res.programmed, res.n, res.ready, res.n))
			nextReport = nextReport.Add(time.Minute)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ctrl.Done():
			return fmt.Errorf("the controller exited (code %d):\n%s", ctrl.ExitCode(), framework.Tail(ctrl.Log(), 30))
		case <-time.After(time.Second):
		}
	}
}

// measureIdle counts the Konnect calls, and the controller's CPU seconds, of one idle period
// after convergence.
func measureIdle(ctx context.Context, res *connectResult, fake *fakekonnect.Server, period time.Duration, ctrl *framework.Controller) error {
	fake.ResetRequests()
	before, err := readProc(ctrl.Pid())
	if err != nil {
		return err
	}
	if err := sleepCtx(ctx, period, ctrl.Done()); err != nil {
		return err
	}
	after, err := readProc(ctrl.Pid())
	if err != nil {
		return err
	}
	res.idle, res.idleCPUS = period, after.cpuSeconds-before.cpuSeconds
	for _, r := range fake.Requests() {
		if r.IsWrite() {
			res.idleWrites++
		} else {
			res.idleReads++
		}
	}
	return nil
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
