package controlplane

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	konnectv1alpha2 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha2"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/controller/shared"
)

// inUseQueueName names the queue of auth configurations whose in-use finalizer is decided.
const inUseQueueName = Name + "-authconfigs"

// maxInUseWorkers bounds the workers deciding in-use finalizers: each decision reads memory
// and writes at most one small patch.
const maxInUseWorkers = 4

func (c *Controller) processNextAuthConfig(ctx context.Context) bool {
	key, quit := c.inUse.Get()
	if quit {
		return false
	}
	defer c.inUse.Done(key)
	if ctx.Err() != nil {
		return false
	}
	err := c.syncInUse(ctx, key)
	switch {
	case err != nil && ctx.Err() != nil:
	case err == nil:
		c.inUse.Forget(key)
	case apierrors.IsConflict(err):
		// The configuration changed since the cache saw it; the informer brings it.
		c.inUse.Forget(key)
		c.inUse.AddAfter(key, conflictRetryDelay)
	default:
		utilruntime.HandleErrorWithContext(ctx, err, "Updating the in-use finalizer of a KonnectAPIAuthConfiguration failed",
			"konnectAPIAuthConfiguration", klog.KRef(key.Namespace, key.Name))
		c.inUse.AddRateLimited(key)
	}
	return true
}

// syncInUse keeps konnectv1alpha2.APIAuthInUseFinalizer on an auth configuration exactly while
// a control plane uses it.
func (c *Controller) syncInUse(ctx context.Context, key cache.ObjectName) error {
	logger := klog.FromContext(ctx).WithValues("konnectAPIAuthConfiguration", klog.KRef(key.Namespace, key.Name))
	cfg, err := c.configs.KonnectAPIAuthConfigurations(key.Namespace).Get(key.Name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	user, inUse := c.authUser(key)
	has := slices.Contains(cfg.Finalizers, konnectv1alpha2.APIAuthInUseFinalizer)
	var want []string
	switch {
	case inUse && !has && cfg.DeletionTimestamp == nil:
		// (An object already being deleted cannot take a new finalizer.)
		want = append(slices.Clone(cfg.Finalizers), konnectv1alpha2.APIAuthInUseFinalizer)
	case !inUse && has:
		want = slices.DeleteFunc(slices.Clone(cfg.Finalizers), func(f string) bool { return f == konnectv1alpha2.APIAuthInUseFinalizer })
	default:
		return nil
	}
	var value any = want
	if len(want) == 0 {
		value = nil
	}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"resourceVersion": cfg.ResourceVersion, "finalizers": value}})
	if err != nil {
		return err
	}
	_, err = c.client.KonnectV1alpha1().KonnectAPIAuthConfigurations(key.Namespace).
		Patch(ctx, key.Name, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: Name})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("patching the finalizers of KonnectAPIAuthConfiguration %s: %w", key, err)
	}
	if inUse {
		logger.V(2).Info("Added the in-use finalizer", "user", user)
	} else {
		logger.V(2).Info("Removed the in-use finalizer: no control plane uses the configuration")
	}
	return nil
}

// authUser returns a control plane that uses the auth configuration: one that names it (from
// its own namespace, or from another that a KongReferenceGrant permits) and is not being
// deleted, or is being deleted but still needs the token to delete its control plane in
// Konnect.
func (c *Controller) authUser(key cache.ObjectName) (cache.ObjectName, bool) {
	objs, err := c.planeIndexer.ByIndex(shared.ControlPlaneAuthRefIndex, key.String())
	if err != nil {
		utilruntime.HandleError(err)
		// Keep what is there: removing a finalizer on a broken cache could lose the token a
		// deletion needs.
		return cache.ObjectName{}, true
	}
	for _, obj := range objs {
		cp := obj.(*konnectv1alpha2.KonnectGatewayControlPlane)
		if cp.DeletionTimestamp != nil && !hasCleanupFinalizer(cp) {
			continue
		}
		if ref, ok := shared.ControlPlaneAuthRef(cp); !ok || ref != key {
			continue
		}
		if key.Namespace != cp.Namespace {
			if _, ok := c.auth.permits(cp.Namespace, key.Namespace, key.Name); !ok || !c.auth.grantsWatched {
				continue
			}
		}
		return cache.MetaObjectToName(cp), true
	}
	return cache.ObjectName{}, false
}
