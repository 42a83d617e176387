package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"

	konnectv1alpha1 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha1"
	clientset "github.com/konnect-auth-controller/konnect-auth-controller/pkg/generated/clientset/versioned"
	"github.com/konnect-auth-controller/konnect-auth-controller/test/e2e/framework"
)

// makeTokens returns n distinct random personal access tokens.
func makeTokens(n int) []string {
	tokens := make([]string, n)
	for i := range tokens {
		tokens[i] = framework.RandomToken()
	}
	return tokens
}

// orgFor is the organization of the i-th token: ten tokens per organization.
func orgFor(i int) string {
	return fmt.Sprintf("00000000-0000-4000-8000-%012d", i/10)
}

// serverURLs are spellings of the same host: the cache key is token and host, so one token
// under all of them is still one Konnect call.
var serverURLs = []string{"us.api.konghq.com", "https://us.api.konghq.com", "https://us.api.konghq.com/"}

// ceilingObject is a configuration the ceiling writer patches, with its latest resourceVersion.
type ceilingObject struct {
	name, resourceVersion string
}

// populate fills the cluster with the benchmark's objects, concurrently:
//   - n configurations in benchNamespace: even i inline, odd i from a labelled Secret of its
//     own ("cred-i"); configuration i uses token (i/2) mod T, so every token is used both
//     inline and from Secrets;
//   - cfg.unrelatedSecrets Secrets without the credential label;
//   - cfg.ceilingObjects configurations in ceilingNamespace for the ceiling writer.
func populate(ctx context.Context, kube kubernetes.Interface, client clientset.Interface, cfg config, n int, tokens []string) ([]ceilingObject, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	jobs := make(chan func(context.Context) error, 1024)
	var (
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
		done     atomic.Int64
	)
	for range cfg.setupWorkers {
		wg.Go(func() {
			for job := range jobs {
				if err := job(ctx); err != nil {
					errOnce.Do(func() { firstErr = err; cancel() })
				}
				done.Add(1)
			}
		})
	}
	// A fill of 100,000 takes many minutes: say how far it is every 30 s.
	jobsTotal := n + cfg.unrelatedSecrets + cfg.ceilingObjects
	progressDone := make(chan struct{})
	defer close(progressDone)
	go func() {
		start := time.Now()
		tick := time.NewTicker(30 * time.Second)
		defer tick.Stop()
		for {
			select {
			case <-progressDone:
				return
			case <-ctx.Done():
				return
			case now := <-tick.C:
				d := done.Load()
				fmt.Printf("  … filling: %d of %d creations done (a configuration with its Secret counts once) after %.0fs, %.0f/s\n",
					d, jobsTotal, now.Sub(start).Seconds(), float64(d)/now.Sub(start).Seconds())
			}
		}
	}()

	ceiling := make([]ceilingObject, cfg.ceilingObjects)
	unrelatedData := map[string][]byte{"tls.crt": make([]byte, 1024), "tls.key": make([]byte, 256)}
	feed := func() {
		defer close(jobs)
		send := func(job func(context.Context) error) bool {
			select {
			case jobs <- job:
				return true
			case <-ctx.Done():
				return false
			}
		}
		for i := range n {
			token := tokens[(i/2)%len(tokens)]
			cfgObj := &konnectv1alpha1.KonnectAPIAuthConfiguration{
				ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("cfg-%06d", i), Namespace: benchNamespace},
				Spec:       konnectv1alpha1.KonnectAPIAuthConfigurationSpec{ServerURL: serverURLs[i%len(serverURLs)]},
			}
			var secret *corev1.Secret
			if i%2 == 0 {
				cfgObj.Spec.Type = konnectv1alpha1.KonnectAPIAuthTypeToken
				cfgObj.Spec.Token = token
			} else {
				name := fmt.Sprintf("cred-%06d", i)
				cfgObj.Spec.Type = konnectv1alpha1.KonnectAPIAuthTypeSecretRef
				cfgObj.Spec.SecretRef = &konnectv1alpha1.SecretReference{Name: name}
				secret = &corev1.Secret{
					ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: benchNamespace, Labels: map[string]string{
						konnectv1alpha1.SecretCredentialLabel: konnectv1alpha1.SecretCredentialLabelValue,
						"konghq.com/secret":                   "true",
					}},
					// As `echo $TOKEN | kubectl create secret` leaves it: with a newline.
					Data: map[string][]byte{konnectv1alpha1.SecretTokenKey: []byte(token + "\n")},
				}
			}
			if !send(func(ctx context.Context) error {
				if secret != nil {
					if err := create(ctx, func() error {
						_, err := kube.CoreV1().Secrets(benchNamespace).Create(ctx, secret, metav1.CreateOptions{})
						return err
					}); err != nil {
						return fmt.Errorf("creating Secret %s: %w", secret.Name, err)
					}
				}
				return create(ctx, func() error {
					_, err := client.KonnectV1alpha1().KonnectAPIAuthConfigurations(benchNamespace).Create(ctx, cfgObj, metav1.CreateOptions{})
					if err != nil {
						return fmt.Errorf("creating configuration %s: %w", cfgObj.Name, err)
					}
					return nil
				})
			}) {
				return
			}
		}
		for i := range cfg.unrelatedSecrets {
			secret := &corev1.Secret{
				ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("unrelated-%06d", i), Namespace: benchNamespace,
					Labels: map[string]string{"app": "unrelated"}},
				Type: corev1.SecretTypeOpaque,
				Data: unrelatedData,
			}
			if !send(func(ctx context.Context) error {
				return create(ctx, func() error {
					_, err := kube.CoreV1().Secrets(benchNamespace).Create(ctx, secret, metav1.CreateOptions{})
					if err != nil {
						return fmt.Errorf("creating Secret %s: %w", secret.Name, err)
					}
					return nil
				})
			}) {
				return
			}
		}
		for i := range cfg.ceilingObjects {
			obj := &konnectv1alpha1.KonnectAPIAuthConfiguration{
				ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("ceiling-%06d", i), Namespace: ceilingNamespace},
				Spec: konnectv1alpha1.KonnectAPIAuthConfigurationSpec{Type: konnectv1alpha1.KonnectAPIAuthTypeToken,
					Token: tokens[i%len(tokens)], ServerURL: serverURLs[0]},
			}
			if !send(func(ctx context.Context) error {
				return create(ctx, func() error {
					got, err := client.KonnectV1alpha1().KonnectAPIAuthConfigurations(ceilingNamespace).Create(ctx, obj, metav1.CreateOptions{})
					if err != nil {
						return fmt.Errorf("creating configuration %s/%s: %w", ceilingNamespace, obj.Name, err)
					}
					ceiling[i] = ceilingObject{name: got.Name, resourceVersion: got.ResourceVersion}
					return nil
				})
			}) {
				return
			}
		}
	}
	feed()
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return ceiling, nil
}

// create runs a create call, retrying what an overloaded apiserver answers (429, 5xx,
// timeouts) and treating AlreadyExists (a retried create that had landed) as success.
func create(ctx context.Context, do func() error) error {
	backoff := wait.Backoff{Duration: 100 * time.Millisecond, Factor: 2, Jitter: 0.2, Steps: 8, Cap: 5 * time.Second}
	err := retry.OnError(backoff, func(err error) bool {
		return ctx.Err() == nil && (apierrors.IsTooManyRequests(err) || apierrors.IsServerTimeout(err) ||
			apierrors.IsTimeout(err) || apierrors.IsInternalError(err) || apierrors.IsServiceUnavailable(err))
	}, do)
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}

// deleteCeilingObjects removes the ceiling writer's configurations in one call and waits until
// they are gone, so the controller never lists them.
func deleteCeilingObjects(ctx context.Context, client clientset.Interface) error {
	cfgs := client.KonnectV1alpha1().KonnectAPIAuthConfigurations(ceilingNamespace)
	if err := cfgs.DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{}); err != nil {
		return fmt.Errorf("deleting the ceiling objects: %w", err)
	}
	return wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		list, err := cfgs.List(ctx, metav1.ListOptions{Limit: 1})
		if err != nil {
			return false, nil
		}
		return len(list.Items) == 0, nil
	})
}
