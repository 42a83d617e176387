package main

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	clientset "github.com/konnect-auth-controller/konnect-auth-controller/pkg/generated/clientset/versioned"
)

// ceilingWarmup is spent writing before the measured window, so that connections are up and
// the apiserver's caches are warm.
const ceilingWarmup = time.Second

// stampSeq makes every ceiling write's lastTransitionTime unique, across rounds too.
var stampSeq atomic.Int64

// measureCeiling has writers goroutines merge-patch the status subresource of objs, round
// robin (writer w owns objs[w], objs[w+writers], …), as fast as the apiserver answers, for
// d after a warm-up, and returns the successful writes per second in the window and the
// number of successful writes in all (warm-up included).
//
// Each patch has the shape of the controller's (pkg/controller/apiauth/sync.go writeStatus): a
// resourceVersion precondition, organizationID, serverURL and one APIAuthValid condition.
// The condition's lastTransitionTime differs on every write, so that every patch really
// changes the object and reaches etcd (an unchanged object would be a no-op for the
// apiserver). Because a writer owns its objects, the resourceVersion from its previous
// patch is always current and no write conflicts.
func measureCeiling(ctx context.Context, client clientset.Interface, objs []ceilingObject, writers int, d time.Duration) (wps float64, total int64, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	start := time.Now()
	windowStart, windowEnd := start.Add(ceilingWarmup), start.Add(ceilingWarmup+d)
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

	var (
		counted  atomic.Int64
		written  atomic.Int64
		failures atomic.Int64
		lastErr  atomic.Value
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
	)
	for w := range writers {
		wg.Go(func() {
			cfgs := client.KonnectV1alpha1().KonnectAPIAuthConfigurations(ceilingNamespace)
			var mine []*ceilingObject
			for i := w; i < len(objs); i += writers {
				mine = append(mine, &objs[i])
			}
			// Writers stop at the end of the window without cancelling the request in
			// flight: a cancelled patch may still land and leave a stale resourceVersion.
			for k := 0; ctx.Err() == nil && time.Now().Before(windowEnd); k++ {
				obj := mine[k%len(mine)]
				stamp := base.Add(time.Duration(stampSeq.Add(1)) * time.Second)
				patch, _ := json.Marshal(map[string]any{
					"metadata": map[string]any{"resourceVersion": obj.resourceVersion},
					"status": map[string]any{
						"organizationID": "00000000-0000-4000-8000-000000000000",
						"serverURL":      "https://us.api.konghq.com",
						"conditions": []metav1.Condition{{
							Type: "APIAuthValid", Status: metav1.ConditionTrue, Reason: "Valid", Message: "Token is valid",
							ObservedGeneration: 1, LastTransitionTime: metav1.NewTime(stamp),
						}},
					},
				})
				got, err := cfgs.Patch(ctx, obj.name, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: "konnect-bench"}, "status")
				now := time.Now()
				switch {
				case err == nil:
					obj.resourceVersion = got.ResourceVersion
					written.Add(1)
					if !now.Before(windowStart) && !now.After(windowEnd) {
						counted.Add(1)
					}
				case ctx.Err() != nil:
				case apierrors.IsConflict(err):
					lastErr.Store(err.Error())
					// Not expected (each object has one writer); refresh and go on.
					if cur, err := cfgs.Get(ctx, obj.name, metav1.GetOptions{}); err == nil {
						obj.resourceVersion = cur.ResourceVersion
					}
					failures.Add(1)
				default:
					lastErr.Store(err.Error())
					if failures.Add(1) > 100 {
						errOnce.Do(func() { firstErr = err })
						cancel()
					}
				}
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return 0, 0, fmt.Errorf("too many failed writes, last: %w", firstErr)
	}
	if time.Now().Before(windowEnd) {
		return 0, 0, context.Canceled
	}
	if n := failures.Load(); n > 0 {
		fmt.Printf("  ceiling: %d writes failed and were not counted (last: %v)\n", n, lastErr.Load())
	}
	return float64(counted.Load()) / d.Seconds(), written.Load(), nil
}
