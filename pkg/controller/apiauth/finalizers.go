package apiauth

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"

	"golang.org/x/time/rate"

	konnectv1alpha1 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha1"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/controller/shared"
	informers "github.com/konnect-auth-controller/konnect-auth-controller/pkg/generated/informers/externalversions/konnect/v1alpha1"
)

// secretQueueName names the queue of Secrets whose in-use finalizer is decided, in the
// workqueue metrics.
const secretQueueName = Name + "-secrets"

// maxSecretWorkers bounds the workers deciding finalizers: each decision reads memory and
// writes at most one small patch.
const maxSecretWorkers = 4

// secretFinalizers keeps konnectv1alpha1.SecretInUseFinalizer on exactly the token Secrets
// that a configuration uses. It is keyed by Secret, not by configuration, because whether a
// Secret is in use depends on every configuration that names it.
type secretFinalizers struct {
	queue workqueue.TypedRateLimitingInterface[cache.ObjectName]
	// metadata reads and patches Secrets the labelled informer cannot see (a Secret whose
	// label was removed while it carried the finalizer). Optional.
	metadata metadata.Getter
	// unlabelled holds the Secrets that left the informer while carrying the finalizer: only
	// those are looked up outside the cache, so that a reference to a Secret the controller
	// may not read (another namespace with --namespace) never costs a refused request.
	unlabelled sync.Map // cache.ObjectName → struct{}
}

// watchSecretUsage registers what decides the in-use finalizers: a configuration created,
// changed (its secretRef, its deletion) or deleted queues the Secrets it names, before and
// after; a labelled Secret event queues that Secret. Grant events queue theirs (grants.go).
// Every labelled Secret is queued by the informer's initial list, so a finalizer left by a
// configuration deleted while no controller ran is removed once the caches have synced.
func (c *Controller) watchSecretUsage(ctx context.Context, clients Clients, configInformer informers.KonnectAPIAuthConfigurationInformer,
	secretInformer coreinformers.SecretInformer, opts Options) ([]cache.InformerSynced, error) {
	logger := klog.FromContext(ctx)
	// The same per-item backoff as configurations; a lower overall bucket, as every item is
	// at most one patch.
	limiter := workqueue.NewTypedMaxOfRateLimiter(
		workqueue.NewTypedItemExponentialFailureRateLimiter[cache.ObjectName](time.Second, 5*time.Minute),
		&workqueue.TypedBucketRateLimiter[cache.ObjectName]{Limiter: rate.NewLimiter(rate.Limit(20), 100)},
	)
	c.finalizers.queue = workqueue.NewTypedRateLimitingQueueWithConfig(limiter,
		workqueue.TypedRateLimitingQueueConfig[cache.ObjectName]{Name: secretQueueName, Clock: opts.Clock, MetricsProvider: opts.MetricsProvider})
	if clients.Metadata != nil {
		c.finalizers.metadata = clients.Metadata.Resource(secretGVR)
	}

	if err := configInformer.Informer().AddIndexers(cache.Indexers{crossNamespaceRefIndex: indexByCrossNamespaceRef}); err != nil {
		return nil, fmt.Errorf("adding the cross-namespace reference index: %w", err)
	}
	configHandler, err := configInformer.Informer().AddEventHandlerWithOptions(cache.ResourceEventHandlerFuncs{
		AddFunc: c.enqueueSecretOf,
		UpdateFunc: func(old, cur any) {
			o, n := old.(*konnectv1alpha1.KonnectAPIAuthConfiguration), cur.(*konnectv1alpha1.KonnectAPIAuthConfiguration)
			// Only the reference and the deletion matter; status writes do not.
			if o.Generation != n.Generation || (o.DeletionTimestamp == nil) != (n.DeletionTimestamp == nil) {
				c.enqueueSecretOf(o)
				c.enqueueSecretOf(n)
			}
		},
		DeleteFunc: c.enqueueSecretOf,
	}, cache.HandlerOptions{Logger: &logger})
	if err != nil {
		return nil, fmt.Errorf("watching configurations for Secret usage: %w", err)
	}
	secretHandler, err := secretInformer.Informer().AddEventHandlerWithOptions(cache.ResourceEventHandlerFuncs{
		AddFunc: c.enqueueSecret,
		UpdateFunc: func(old, cur any) {
			if old.(metav1.Object).GetResourceVersion() != cur.(metav1.Object).GetResourceVersion() {
				c.enqueueSecret(cur)
			}
		},
		// Also when the label is removed: the informer then reports a delete, and a finalizer
		// the Secret still carries must go.
		DeleteFunc: func(obj any) {
			if tombstone, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = tombstone.Obj
			}
			if secret, ok := obj.(metav1.Object); ok && slices.Contains(secret.GetFinalizers(), konnectv1alpha1.SecretInUseFinalizer) {
				c.finalizers.unlabelled.Store(cache.MetaObjectToName(secret), struct{}{})
			}
			c.enqueueSecret(obj)
		},
	}, cache.HandlerOptions{Logger: &logger})
	if err != nil {
		return nil, fmt.Errorf("watching Secrets for their finalizer: %w", err)
	}
	return []cache.InformerSynced{configHandler.HasSynced, secretHandler.HasSynced}, nil
}

// enqueueSecretOf queues the Secret a configuration (or its tombstone) names, if any.
func (c *Controller) enqueueSecretOf(obj any) {
	if tombstone, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tombstone.Obj
	}
	cfg, ok := obj.(*konnectv1alpha1.KonnectAPIAuthConfiguration)
	if !ok {
		return
	}
	if secret, _, ok := shared.SecretRefOf(cfg); ok {
		c.finalizers.queue.Add(secret)
	}
}

func (c *Controller) enqueueSecret(obj any) {
	if tombstone, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tombstone.Obj
	}
	if secret, ok := obj.(metav1.Object); ok {
		c.finalizers.queue.Add(cache.MetaObjectToName(secret))
	}
}

// startSecretWorkers starts the workers that decide finalizers (after the caches synced) and
// returns the function that stops them once ctx has ended: like the configuration workers they
// take no new item and write nothing after that.
func (c *Controller) startSecretWorkers(ctx context.Context, workers int) (drain func()) {
	var wg sync.WaitGroup
	for range min(workers, maxSecretWorkers) {
		wg.Go(func() {
			for c.processNextSecret(ctx) {
			}
		})
	}
	return func() {
		c.finalizers.queue.ShutDown()
		wg.Wait()
	}
}

func (c *Controller) processNextSecret(ctx context.Context) bool {
	key, quit := c.finalizers.queue.Get()
	if quit {
		return false
	}
	defer c.finalizers.queue.Done(key)
	if ctx.Err() != nil {
		return false
	}
	err := c.syncSecretFinalizer(ctx, key)
	switch {
	case err != nil && ctx.Err() != nil:
		// Cut short by the shutdown; the next leader decides it.
	case err == nil:
		c.finalizers.queue.Forget(key)
	case apierrors.IsConflict(err):
		// The Secret changed since the cache saw it; the informer brings the new version.
		c.finalizers.queue.Forget(key)
		c.finalizers.queue.AddAfter(key, conflictRetryDelay)
	default:
		utilruntime.HandleErrorWithContext(ctx, err, "Updating the in-use finalizer of a Secret failed", "secret", klog.KRef(key.Namespace, key.Name))
		c.finalizers.queue.AddRateLimited(key)
	}
	return true
}

// syncSecretFinalizer adds the in-use finalizer to a Secret that a configuration uses and
// removes it from one that none uses.
func (c *Controller) syncSecretFinalizer(ctx context.Context, key cache.ObjectName) error {
	logger := klog.FromContext(ctx).WithValues("secret", klog.KRef(key.Namespace, key.Name))
	secret, err := c.secrets.Secrets(key.Namespace).Get(key.Name)
	if apierrors.IsNotFound(err) {
		if _, ok := c.finalizers.unlabelled.Load(key); !ok {
			return nil // never seen with the finalizer: nothing of ours to remove
		}
		if err := c.releaseUnwatchedSecret(klog.NewContext(ctx, logger), key); err != nil {
			return err
		}
		c.finalizers.unlabelled.Delete(key)
		return nil
	}
	if err != nil {
		return err
	}
	user, inUse := c.secretUser(key)
	has := slices.Contains(secret.Finalizers, konnectv1alpha1.SecretInUseFinalizer)
	want, verb := secret.Finalizers, ""
	switch {
	case inUse && !has && secret.DeletionTimestamp == nil:
		// (A Secret already being deleted cannot take a new finalizer.)
		want, verb = append(slices.Clone(secret.Finalizers), konnectv1alpha1.SecretInUseFinalizer), "Added"
	case !inUse && has:
		want, verb = withoutFinalizer(secret.Finalizers), "Removed"
	default:
		return nil
	}
	if err := c.patchSecretFinalizers(ctx, key, secret.ResourceVersion, want); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("patching the finalizers of Secret %s: %w", key, err)
	}
	if inUse {
		logger.V(2).Info(verb+" the in-use finalizer", "user", user)
	} else {
		logger.V(2).Info(verb+" the in-use finalizer: no configuration uses the Secret", "terminating", secret.DeletionTimestamp != nil)
	}
	return nil
}

// secretUser returns a configuration that uses the Secret: one that names it, is not being
// deleted, and is in the Secret's namespace or permitted by a KongReferenceGrant. A deleted or
// terminating configuration lets go at once, so that neither it nor its namespace waits on
// the Secret; so does a configuration whose grant was revoked (also by the deletion of the
// Secret's namespace, which deletes the grants in it).
func (c *Controller) secretUser(key cache.ObjectName) (cache.ObjectName, bool) {
	objs, err := c.configIndexer.ByIndex(secretRefIndex, key.Namespace+"/"+key.Name)
	if err != nil {
		utilruntime.HandleError(err)
		// Keep what is there: removing a finalizer on a broken cache could lose a Secret.
		return cache.ObjectName{}, true
	}
	for _, obj := range objs {
		cfg := obj.(*konnectv1alpha1.KonnectAPIAuthConfiguration)
		if cfg.DeletionTimestamp != nil {
			continue
		}
		secret, cross, ok := shared.SecretRefOf(cfg)
		if !ok || secret != key {
			continue
		}
		if !cross || c.tokens.CheckSecretRef(cfg).Permitted {
			return cache.MetaObjectToName(cfg), true
		}
	}
	return cache.ObjectName{}, false
}

// releaseUnwatchedSecret removes the finalizer from a Secret the labelled informer does not
// see, if it still exists and carries it: its label was removed, so no configuration can use
// it. Only its metadata is read.
func (c *Controller) releaseUnwatchedSecret(ctx context.Context, key cache.ObjectName) error {
	if c.finalizers.metadata == nil {
		return nil
	}
	meta, err := c.finalizers.metadata.Namespace(key.Namespace).Get(ctx, key.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading the metadata of Secret %s: %w", key, err)
	}
	if !slices.Contains(meta.Finalizers, konnectv1alpha1.SecretInUseFinalizer) {
		return nil
	}
	if err := c.patchSecretFinalizers(ctx, key, meta.ResourceVersion, withoutFinalizer(meta.Finalizers)); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("patching the finalizers of Secret %s: %w", key, err)
	}
	klog.FromContext(ctx).V(2).Info("Removed the in-use finalizer: the Secret is no longer labelled " +
		konnectv1alpha1.SecretCredentialLabel + "=" + konnectv1alpha1.SecretCredentialLabelValue)
	return nil
}

// patchSecretFinalizers sets a Secret's metadata.finalizers, and nothing else, with a JSON
// merge patch whose resourceVersion precondition makes it fail with a Conflict if the Secret
// changed since it was read, so that another writer's finalizer is never lost.
func (c *Controller) patchSecretFinalizers(ctx context.Context, key cache.ObjectName, resourceVersion string, finalizers []string) error {
	if len(finalizers) == 0 {
		finalizers = nil // null: removes the field
	}
	patch, err := json.Marshal(map[string]any{
		"metadata": map[string]any{"resourceVersion": resourceVersion, "finalizers": finalizers},
	})
	if err != nil {
		return err
	}
	opts := metav1.PatchOptions{FieldManager: Name}
	if c.finalizers.metadata != nil {
		// The metadata client's answer is the Secret's metadata only, never its data.
		_, err = c.finalizers.metadata.Namespace(key.Namespace).Patch(ctx, key.Name, types.MergePatchType, patch, opts)
		return err
	}
	_, err = c.kubeClient.CoreV1().Secrets(key.Namespace).Patch(ctx, key.Name, types.MergePatchType, patch, opts)
	return err
}

func withoutFinalizer(finalizers []string) []string {
	return slices.DeleteFunc(slices.Clone(finalizers), func(f string) bool { return f == konnectv1alpha1.SecretInUseFinalizer })
}
