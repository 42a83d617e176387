package apiauth

import (
	"context"
	"fmt"
	"slices"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	konnectv1alpha1 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha1"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/controller"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/controller/credentials"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/controller/indexes"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/controller/loop"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/controller/objpatch"
)

// secretQueueName names the queue of Secrets whose in-use finalizer is decided, in the
// workqueue metrics.
const secretQueueName = Name + "-secrets"

// secretFinalizers keeps konnectv1alpha1.SecretInUseFinalizer on exactly the token Secrets
// that a configuration uses. It is keyed by Secret, not by configuration, because whether a
// Secret is in use depends on every configuration that names it.
type secretFinalizers struct {
	loop *loop.Loop
	// metadata reads Secrets the labelled informer cannot see (a Secret whose label was removed
	// while it carried the finalizer). Optional.
	metadata metadata.Getter
	// secrets writes Secrets' finalizers when there is no metadata client.
	secrets objpatch.Writer[*corev1.Secret]
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
func (c *Controller) watchSecretUsage(cc *controller.Context) error {
	// Every item is at most one small patch: few workers, a lower overall bucket.
	c.finalizers.loop = cc.NewLoop(secretQueueName, c.reconcileSecretFinalizer, loop.Options{MaxWorkers: 4, QPS: 20, Burst: 100, LogKey: "secret"})
	c.finalizers.secrets = objpatch.NewWriter[*corev1.Secret](Name, cc.KubeClient.CoreV1().Secrets)
	if cc.MetadataClient != nil {
		c.finalizers.metadata = cc.MetadataClient.Resource(controller.SecretsResource)
	}

	// Only the reference, the deletion and the in-use finalizer (a configuration holds its
	// Secret while it carries it) matter; status writes do not.
	refOrDeletion := func(o, n metav1.Object) bool {
		return o.GetGeneration() != n.GetGeneration() || (o.GetDeletionTimestamp() == nil) != (n.GetDeletionTimestamp() == nil) ||
			credentials.OwesCleanup(o) != credentials.OwesCleanup(n)
	}
	configs := indexes.OnChangeIf(indexes.Each(c.enqueueSecretOf), refOrDeletion)
	if err := c.finalizers.loop.Watch(cc.RootContext, cc.CRDInformers.Konnect().V1alpha1().KonnectAPIAuthConfigurations().Informer(), configs); err != nil {
		return err
	}
	secrets := indexes.OnChange(indexes.Each(func(secret metav1.Object) { c.finalizers.loop.Add(cache.MetaObjectToName(secret)) }))
	// Also when the label is removed: the informer then reports a delete, and a finalizer the
	// Secret still carries must go.
	secrets.DeleteFunc = func(obj any) {
		if secret, ok := indexes.Untombstone(obj).(metav1.Object); ok {
			if slices.Contains(secret.GetFinalizers(), konnectv1alpha1.SecretInUseFinalizer) {
				c.finalizers.unlabelled.Store(cache.MetaObjectToName(secret), struct{}{})
			}
			c.finalizers.loop.Add(cache.MetaObjectToName(secret))
		}
	}
	return c.finalizers.loop.Watch(cc.RootContext, cc.CredentialSecrets.Core().V1().Secrets().Informer(), secrets)
}

// patchSecretFinalizer adds or removes a Secret's in-use finalizer, resourceVersion-guarded so
// that another writer's finalizer is never lost: through the metadata client when there is one
// (its answer is the Secret's metadata only, never its data), else through the Secrets client.
func (c *Controller) patchSecretFinalizer(ctx context.Context, secret metav1.Object, present bool) error {
	var err error
	if md := c.finalizers.metadata; md != nil {
		w := objpatch.NewWriter[*metav1.PartialObjectMetadata](Name, md.Namespace)
		_, _, err = w.SetFinalizer(ctx, secret, konnectv1alpha1.SecretInUseFinalizer, present)
	} else {
		_, _, err = c.finalizers.secrets.SetFinalizer(ctx, secret, konnectv1alpha1.SecretInUseFinalizer, present)
	}
	return err
}

// enqueueSecretOf queues the Secret a configuration names, if any.
func (c *Controller) enqueueSecretOf(obj metav1.Object) {
	if cfg, ok := obj.(*konnectv1alpha1.KonnectAPIAuthConfiguration); ok {
		if secret, _, ok := credentials.SecretRefOf(cfg); ok {
			c.finalizers.loop.Add(secret)
		}
	}
}

// reconcileSecretFinalizer is the Secret loop's Reconcile: a Conflict means the Secret changed
// since the cache saw it, and the informer brings the new version; it is not a failure.
func (c *Controller) reconcileSecretFinalizer(ctx context.Context, key cache.ObjectName) (loop.Result, error) {
	err := c.syncSecretFinalizer(ctx, key)
	if apierrors.IsConflict(err) {
		return loop.Result{After: objpatch.ConflictRetryDelay}, nil
	}
	return loop.Result{}, err
}

// syncSecretFinalizer adds the in-use finalizer to a Secret that a configuration uses and
// removes it from one that none uses.
func (c *Controller) syncSecretFinalizer(ctx context.Context, key cache.ObjectName) error {
	logger := klog.FromContext(ctx)
	secret, err := c.secrets.Get(key.Namespace, key.Name)
	if apierrors.IsNotFound(err) {
		if _, ok := c.finalizers.unlabelled.Load(key); !ok {
			return nil // never seen with the finalizer: nothing of ours to remove
		}
		if err := c.releaseUnwatchedSecret(ctx, key); err != nil {
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
	// (A Secret already being deleted cannot take a new finalizer: SetFinalizer leaves it.)
	if has == inUse || (inUse && secret.DeletionTimestamp != nil) {
		return nil
	}
	if err := c.patchSecretFinalizer(ctx, secret, inUse); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("patching the finalizers of Secret %s: %w", key, err)
	}
	if inUse {
		logger.V(2).Info("Added the in-use finalizer", "user", user)
	} else {
		logger.V(2).Info("Removed the in-use finalizer: no configuration uses the Secret", "terminating", secret.DeletionTimestamp != nil)
	}
	return nil
}

// secretUser returns a configuration that uses the Secret: one that names it and is in the
// Secret's namespace or permitted by a KongReferenceGrant, and is not being deleted — or one
// that a control plane or extension needs to clean up in Konnect with (credentials.OwesCleanup),
// live or being deleted, whatever the grants say now. Finalizers so release in dependency order:
// control plane → auth configuration → token Secret, also when a whole namespace is deleted at
// once. A grant revoked (also by the deletion of the Secret's namespace, which deletes the grants
// in it) stops new use, but not a clean-up that is owed.
func (c *Controller) secretUser(key cache.ObjectName) (cache.ObjectName, bool) {
	cfgs, err := c.byIndex(secretRefIndex, key.String())
	if err != nil {
		utilruntime.HandleError(err)
		// Keep what is there: removing a finalizer on a broken cache could lose a Secret.
		return cache.ObjectName{}, true
	}
	for _, cfg := range cfgs {
		held := credentials.OwesCleanup(cfg)
		if cfg.DeletionTimestamp != nil && !held {
			continue
		}
		secret, cross, ok := credentials.SecretRefOf(cfg)
		if !ok || secret != key {
			continue
		}
		if !cross || held || c.tokens.CheckSecretRef(cfg).Permitted {
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
	if err := c.patchSecretFinalizer(ctx, meta, false); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("patching the finalizers of Secret %s: %w", key, err)
	}
	klog.FromContext(ctx).V(2).Info("Removed the in-use finalizer: the Secret is no longer labelled " +
		konnectv1alpha1.SecretCredentialLabel + "=" + konnectv1alpha1.SecretCredentialLabelValue)
	return nil
}
