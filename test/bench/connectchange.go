package main

// The latency of a user's spec change while the controller re-syncs: how long a changed
// description takes to reach Konnect when the Konnect budget is shared with re-sync reads.

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	clientset "github.com/konnect-auth-controller/konnect-auth-controller/pkg/generated/clientset/versioned"
	"github.com/konnect-auth-controller/konnect-auth-controller/test/fakekonnect"
)

const (
	// resyncWindow: a re-sync is running when the fake received a re-sync read (a control
	// plane's GET, a list page, a certificate list) this recently.
	resyncWindow = 500 * time.Millisecond
	// changeGap is the least time between two changes: they overlap (none waits for the
	// previous PATCH), but do not arrive as one burst.
	changeGap = 250 * time.Millisecond
	// pollEvery is how often the fake's request log is read.
	pollEvery = 20 * time.Millisecond
)

// changeRun is the spec-change phase's state: the changes made and when, the PATCHes seen.
type changeRun struct {
	fake    *fakekonnect.Server
	started map[string]time.Time // PATCH path → when its control plane's spec was changed
	took    map[string]time.Duration
}

// measureSpecChanges changes the description of count control planes (cp-0 … spread over the
// n), each at a moment when a re-sync is running (waiting up to resyncWait for one), and times
// each from just before its update to the apiserver until the fake Konnect receives the PATCH
// of that control plane; one that takes longer than timeout counts as the timeout. It returns
// the latencies and how many changes were made while a re-sync was running.
func measureSpecChanges(ctx context.Context, client clientset.Interface, fake *fakekonnect.Server, w *connectWatch,
	n, count int, resyncWait, timeout time.Duration, stopped <-chan struct{}) (latencyResult, int, error) {
	res := latencyResult{count: count}
	run := &changeRun{fake: fake, started: map[string]time.Time{}, took: map[string]time.Duration{}}
	fake.ResetRequests()
	duringResync := 0
	for i := range count {
		name := fmt.Sprintf("cp-%d", i*n/count)
		id := w.konnectID(name)
		if id == "" {
			return res, duringResync, fmt.Errorf("control plane %s has no Konnect ID", name)
		}
		if run.waitForResync(ctx, resyncWait) {
			duringResync++
		}
		patch, _ := json.Marshal(map[string]any{"spec": map[string]any{"createControlPlaneRequest": map[string]any{
			"description": fmt.Sprintf("bench change %d at %s", i, time.Now().Format(time.RFC3339Nano)),
		}}})
		start := time.Now()
		if _, err := client.KonnectV1alpha2().KonnectGatewayControlPlanes(connectNamespace).Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			return res, duringResync, fmt.Errorf("changing %s: %w", name, err)
		}
		run.started["/v2/control-planes/"+id] = start
		if err := sleepCtx(ctx, changeGap, stopped); err != nil {
			return res, duringResync, err
		}
		run.collect()
	}
	for len(run.took) < len(run.started) && time.Since(run.lastStart()) < timeout {
		if err := sleepCtx(ctx, pollEvery, stopped); err != nil {
			return res, duringResync, err
		}
		run.collect()
	}
	for path := range run.started {
		d, ok := run.took[path]
		if !ok || d > timeout {
			d = timeout
			res.timeouts++
		}
		res.samples = append(res.samples, d)
	}
	slices.Sort(res.samples)
	return res, duringResync, nil
}

// waitForResync waits until the fake has just received a re-sync read, at most wait; it
// reports whether it saw one.
func (r *changeRun) waitForResync(ctx context.Context, wait time.Duration) bool {
	deadline := time.Now().Add(wait)
	for {
		reads := r.fake.RequestsMatching("GET", "")
		for _, req := range slices.Backward(reads) {
			switch req.Kind() {
			case fakekonnect.KindGet, fakekonnect.KindListPage, fakekonnect.KindCertList:
				if time.Since(req.At) <= resyncWindow {
					return true
				}
			default:
				continue
			}
			break // the latest re-sync read is too old
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(pollEvery)
		r.collect()
	}
}

// collect notes the PATCHes that answer a change.
func (r *changeRun) collect() {
	for _, req := range r.fake.RequestsMatching("PATCH", "/v2/control-planes/*") {
		start, ok := r.started[req.Path]
		if _, done := r.took[req.Path]; ok && !done && !req.At.Before(start) {
			r.took[req.Path] = req.At.Sub(start)
		}
	}
}

func (r *changeRun) lastStart() time.Time {
	var last time.Time
	for _, t := range r.started {
		if t.After(last) {
			last = t
		}
	}
	return last
}

// sleepCtx sleeps for d unless the context ends or the controller stops.
func sleepCtx(ctx context.Context, d time.Duration, stopped <-chan struct{}) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-stopped:
		return fmt.Errorf("the controller exited")
	case <-time.After(d):
		return nil
	}
}
