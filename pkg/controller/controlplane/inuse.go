package controlplane

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	konnectv1alpha2 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha2"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/controller/indexes"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/controller/loop"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/controller/objpatch"
)

// inUseQueueName names the queue of auth configurations whose in-use finalizer is decided.
const inUseQueueName = Name + "-authconfigs"

// maxInUseWorkers bounds the workers deciding in-use finalizers: each decision reads memory
// and writes at most one small patch.
const maxInUseWorkers = 4

// reconcileInUse keeps konnectv1alpha2.APIAuthInUseFinalizer on an auth configuration exactly
// while a control plane uses it.
func (c *Controller) reconcileInUse(ctx context.Context, key cache.ObjectName) (loop.Result, error) {
	logger := klog.FromContext(ctx)
	ctx = klog.NewContext(ctx, logger)
	cfg, err := c.configs.KonnectAPIAuthConfigurations(key.Namespace).Get(key.Name)
	if apierrors.IsNotFound(err) {
		return loop.Result{}, nil
	}
	if err != nil {
		return loop.Result{}, err
	}
	user, inUse := c.authUser(key)
	// (An object already being deleted cannot take a new finalizer: SetFinalizer leaves it.)
	_, changed, err := c.configWriter.SetFinalizer(ctx, cfg, konnectv1alpha2.APIAuthInUseFinalizer, inUse)
	if err != nil {
		res, err := objpatch.WriteFailed(ctx, err)
		if err != nil {
			err = fmt.Errorf("patching the finalizers of KonnectAPIAuthConfiguration %s: %w", key, err)
		}
		return res, err
	}
	switch {
	case !changed:
	case inUse:
		logger.V(2).Info("Added the in-use finalizer", "user", user)
	default:
		logger.V(2).Info("Removed the in-use finalizer: no control plane uses the configuration")
	}
	return loop.Result{}, nil
}

// authUser returns a control plane that uses the auth configuration: one that names it (from
// its own namespace, or from another that a KongReferenceGrant permits) and is not being
// deleted, or one that owes a deletion in Konnect (an Origin with the cleanup finalizer, live or
// being deleted: then whatever the grants say now); or an extension whose registered
// certificate its clean-up must remove with the configuration's token.
func (c *Controller) authUser(key cache.ObjectName) (cache.ObjectName, bool) {
	objs, err := c.planeIndexer.ByIndex(indexes.ControlPlaneAuthRefIndex, key.String())
	if err != nil {
		utilruntime.HandleError(err)
		// Keep what is there: removing a finalizer on a broken cache could lose the token a
		// deletion needs.
		return cache.ObjectName{}, true
	}
	for _, obj := range objs {
		cp := obj.(*konnectv1alpha2.KonnectGatewayControlPlane)
		owes := hasCleanupFinalizer(cp) && !isMirror(cp)
		if cp.DeletionTimestamp != nil && !owes {
			continue
		}
		if ref, ok := indexes.ControlPlaneAuthRef(cp); !ok || ref != key {
			continue
		}
		// A control plane that owes a deletion keeps its configuration after the grant is
		// revoked: the revocation stops new use, not the deletion in Konnect that is owed.
		if key.Namespace != cp.Namespace && !owes {
			if c.creds.Namespaced() {
				continue
			}
			if _, ok := c.creds.PermitsAuthRef(konnectv1alpha2.GroupName, planeKind, cp.Namespace, key); !ok {
				continue
			}
		}
		return cache.MetaObjectToName(cp), true
	}
	// An extension whose certificate is registered needs the token to remove it.
	exts, err := c.extIndexer.ByIndex(indexes.ExtensionAuthRefIndex, key.String())
	if err != nil {
		utilruntime.HandleError(err)
		return cache.ObjectName{}, true
	}
	if len(exts) > 0 {
		return cache.MetaObjectToName(exts[0].(metav1.Object)), true
	}
	return cache.ObjectName{}, false
}
