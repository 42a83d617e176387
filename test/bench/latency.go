package main

import (
	"context"
	"fmt"
	"math"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	konnectv1alpha1 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha1"
	clientset "github.com/konnect-auth-controller/konnect-auth-controller/pkg/generated/clientset/versioned"
	"github.com/konnect-auth-controller/konnect-auth-controller/test/e2e/framework"
)

// latencyResult is what the latency phase measured: create → True, as the watch sees it, of
// configurations created one at a time beside N converged ones.
type latencyResult struct {
	count    int             // configurations created
	samples  []time.Duration // sorted; a configuration that timed out counts as the timeout
	timeouts int             // how many were not True within -latency-timeout
}

// percentile is the nearest-rank p-th percentile (p in (0, 100]), or 0 without samples.
func (l latencyResult) percentile(p float64) time.Duration {
	if len(l.samples) == 0 {
		return 0
	}
	k := int(math.Ceil(p/100*float64(len(l.samples)))) - 1
	return l.samples[min(max(k, 0), len(l.samples)-1)]
}

func (l latencyResult) max() time.Duration {
	if len(l.samples) == 0 {
		return 0
	}
	return l.samples[len(l.samples)-1]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// measureLatency creates count configurations in benchNamespace one at a time, each waiting
// until the watch has seen it True (or timeout) before the next, and times create → True: from
// just before the Create call of the configuration to the watch event that carries its True
// condition. They use the run's tokens, which the controller has validated already, half inline
// and half from a labelled Secret of their own (created first, not timed): the path a user
// takes who applies one more configuration. stopped is closed if the controller exits.
func measureLatency(ctx context.Context, kube kubernetes.Interface, client clientset.Interface, w *watcher, tokens []string,
	count int, timeout time.Duration, stopped <-chan struct{}) (latencyResult, error) {
	res := latencyResult{count: count}
	cfgs := client.KonnectV1alpha1().KonnectAPIAuthConfigurations(benchNamespace)
	for i := range count {
		name := fmt.Sprintf("latency-%06d", i)
		obj := &konnectv1alpha1.KonnectAPIAuthConfiguration{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: benchNamespace},
			Spec:       konnectv1alpha1.KonnectAPIAuthConfigurationSpec{ServerURL: serverURLs[i%len(serverURLs)]},
		}
		token := tokens[i%len(tokens)]
		if i%2 == 0 {
			obj.Spec.Type = konnectv1alpha1.KonnectAPIAuthTypeToken
			obj.Spec.Token = token
		} else {
			secret := &corev1.Secret{
				ObjectMeta: metav1.ObjectMeta{Name: "latency-cred-" + fmt.Sprint(i), Namespace: benchNamespace, Labels: map[string]string{
					konnectv1alpha1.SecretCredentialLabel: konnectv1alpha1.SecretCredentialLabelValue,
				}},
				Data: map[string][]byte{konnectv1alpha1.SecretTokenKey: []byte(token + "\n")},
			}
			if err := create(ctx, func() error {
				_, err := kube.CoreV1().Secrets(benchNamespace).Create(ctx, secret, metav1.CreateOptions{})
				return err
			}); err != nil {
				return res, fmt.Errorf("latency: creating Secret %s: %w", secret.Name, err)
			}
			obj.Spec.Type = konnectv1alpha1.KonnectAPIAuthTypeSecretRef
			obj.Spec.SecretRef = &konnectv1alpha1.SecretReference{Name: secret.Name}
		}
		trueAt := w.expectTrue(name)
		start := time.Now()
		if err := create(ctx, func() error {
			_, err := cfgs.Create(ctx, obj, metav1.CreateOptions{})
			return err
		}); err != nil {
			return res, fmt.Errorf("latency: creating configuration %s: %w", name, err)
		}
		timer := time.NewTimer(timeout)
		select {
		case at := <-trueAt:
			res.samples = append(res.samples, at.Sub(start))
		case <-timer.C:
			w.forget(name)
			res.timeouts++
			res.samples = append(res.samples, timeout)
			if cur, err := cfgs.Get(ctx, name, metav1.GetOptions{}); err == nil {
				if c := framework.APIAuthValid(cur); c != nil {
					fmt.Printf("  latency: %s not True after %v: %s/%s %q\n", name, timeout, c.Status, c.Reason, c.Message)
				} else {
					fmt.Printf("  latency: %s not True after %v: no condition\n", name, timeout)
				}
			}
		case <-stopped:
			timer.Stop()
			return res, fmt.Errorf("latency: the controller exited")
		case <-ctx.Done():
			timer.Stop()
			return res, ctx.Err()
		}
		timer.Stop()
	}
	slices.Sort(res.samples)
	return res, nil
}

// percentiles is "p50 … ms, p99 … ms, max … ms".
func (l latencyResult) percentiles() string {
	return fmt.Sprintf("p50 %.0f ms, p99 %.0f ms, max %.0f ms", ms(l.percentile(50)), ms(l.percentile(99)), ms(l.max()))
}

func (l latencyResult) String() string {
	if l.count == 0 {
		return "skipped"
	}
	s := fmt.Sprintf("%d configurations one at a time, create → True %s", l.count, l.percentiles())
	if l.timeouts > 0 {
		s += fmt.Sprintf(" (%d not True within the timeout, counted as the timeout)", l.timeouts)
	}
	return s
}
