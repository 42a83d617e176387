package extension

// Clean-up: what a deleted extension owes Konnect.

import (
	"context"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	konnectv1alpha2 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha2"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/controller/indexes"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/controller/loop"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/controller/objpatch"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/konnect"
)

// finalize removes the extension's registered certificate from Konnect (unless another live
// extension on the same control plane still uses it), then the finalizer. Nothing lets the
// finalizer go with the certificate still registered — a credential that would still admit a
// data plane — except the skip-cleanup annotation: a transient failure is retried with backoff;
// anything else waits, and the Ready condition says why and what the user can do. The generated
// Secret goes with the garbage collector (owner reference).
func (c *Controller) finalize(ctx context.Context, ext *konnectv1alpha2.KonnectExtension) (loop.Result, error) {
	logger := klog.FromContext(ctx)
	if !slices.Contains(ext.Finalizers, konnectv1alpha2.KonnectCleanupFinalizer) {
		return loop.Result{}, nil
	}
	reg := parseRegistration(ext.Annotations[CertificateAnnotation])
	switch {
	case reg.certificateID == "":
	case ext.Annotations[konnectv1alpha2.SkipCleanupAnnotation] == "true":
		logger.Info("Released without removing the certificate from Konnect, as the annotation asks", "controlPlaneID", reg.controlPlaneID, "certificateID", reg.certificateID)
		c.events.Eventf(ext, corev1.EventTypeWarning, "CleanupSkipped",
			"Released without removing certificate %s from control plane %s (annotation %s): remove it there by hand",
			reg.certificateID, reg.controlPlaneID, konnectv1alpha2.SkipCleanupAnnotation)
	default:
		if user := c.otherUser(ext, reg); user != "" {
			logger.V(2).Info("Leaving the certificate registered: another extension uses it", "certificateID", reg.certificateID, "user", user)
			break
		}
		auth, problem := c.cleanupAuth(ctx, ext)
		if problem != "" {
			return c.deletionWaits(ctx, ext, fmt.Sprintf("certificate %s cannot be removed from control plane %s: %s", reg.certificateID, reg.controlPlaneID, problem))
		}
		err := c.api.DeleteDataPlaneCertificate(ctx, auth, reg.controlPlaneID, reg.certificateID)
		switch {
		case err == nil || konnect.IsNotFound(err):
			// (NotFound: removed already, or its control plane went, and its certificates with it.)
			logger.V(2).Info("Removed the data-plane certificate from Konnect", "controlPlaneID", reg.controlPlaneID, "certificateID", reg.certificateID)
		case konnect.IsTransient(err):
			return loop.Result{Transient: err}, nil
		default:
			return c.deletionWaits(ctx, ext, fmt.Sprintf("Konnect refused to remove certificate %s from control plane %s: %v", reg.certificateID, reg.controlPlaneID, err))
		}
	}
	if _, _, err := c.writer.SetFinalizer(ctx, ext, konnectv1alpha2.KonnectCleanupFinalizer, false); err != nil {
		return objpatch.WriteFailed(ctx, err)
	}
	c.forgetVerified(cache.MetaObjectToName(ext))
	return loop.Result{}, nil
}

// deletionWaits keeps the finalizer and says in Ready why, and what the user can do; it looks
// again at the sync period.
func (c *Controller) deletionWaits(ctx context.Context, ext *konnectv1alpha2.KonnectExtension, why string) (loop.Result, error) {
	status := ext.Status.DeepCopy()
	objpatch.SetCondition(&status.Conditions, metav1.Condition{Type: konnectv1alpha2.ConditionReady, Status: metav1.ConditionFalse,
		Reason: ReasonDeletionWaiting, Message: why + "; to release this object without removing it from Konnect, annotate it " +
			konnectv1alpha2.SkipCleanupAnnotation + "=true"}, ext.Generation, c.clock.Now())
	if _, err := c.writer.StatusIfChanged(ctx, ext, ext.Status, *status, func() map[string]any { return statusFields(status) }); err != nil {
		return objpatch.WriteFailed(ctx, err)
	}
	c.events.Transitions(ext, ext.Status.Conditions, status.Conditions)
	return loop.Result{After: wait.Jitter(c.syncPeriod, syncJitter)}, nil
}

// ReasonDeletionWaiting: the extension is being deleted and waits for its certificate to be
// removed from Konnect (Ready False); the message says why and what the user can do.
const ReasonDeletionWaiting = "DeletionWaiting"

// cleanupAuth finds the credentials to remove the extension's certificate with: those of the
// auth configuration that registered it (recorded beside the registration, or in
// status.konnect.authRef), else those its control plane names. The control plane object may be gone (a Mirror deleted first)
// or not Programmed: the certificate is still registered in Konnect, and the configuration,
// held by its in-use finalizer, still says how to reach it.
func (c *Controller) cleanupAuth(ctx context.Context, ext *konnectv1alpha2.KonnectExtension) (konnect.Auth, string) {
	// The configuration that registered the certificate (its annotation, or the status), else
	// the one its control plane names.
	ref, ok := indexes.ExtensionAuthRef(ext)
	if !ok {
		if cp, err := c.controlPlanes.KonnectGatewayControlPlanes(ext.Namespace).Get(controlPlaneName(ext)); err == nil {
			ref, _ = indexes.ControlPlaneAuthRef(cp)
		}
	}
	if ref.Name == "" {
		return konnect.Auth{}, "no KonnectAPIAuthConfiguration is known for it (status.konnect.authRef is empty and the control plane is gone)"
	}
	cfg, err := c.authConfigs.KonnectAPIAuthConfigurations(ref.Namespace).Get(ref.Name)
	if err != nil {
		return konnect.Auth{}, fmt.Sprintf("KonnectAPIAuthConfiguration %s not found", ref)
	}
	if cfg.Status.ServerURL == "" {
		return konnect.Auth{}, fmt.Sprintf("KonnectAPIAuthConfiguration %s has no status.serverURL", ref)
	}
	src, problem := c.tokens.ResolveForCleanup(ctx, cfg)
	if problem != nil {
		return konnect.Auth{}, fmt.Sprintf("KonnectAPIAuthConfiguration %s: %s", ref, problem.Message)
	}
	return konnect.Auth{Token: src.Token, ServerURL: cfg.Status.ServerURL}, ""
}

// otherUser names another extension, not being deleted, that uses the same certificate on the
// same control plane now (two extensions sharing a Manual Secret), or "". What it uses now is
// the certificate in its Secret, not the registration its annotation records: after a shared
// Secret is rotated, the annotation of the extension not yet synced still names the old
// certificate, which nobody uses any more and must be removed.
func (c *Controller) otherUser(ext *konnectv1alpha2.KonnectExtension, reg registration) string {
	objs, err := c.extensionIndexer.ByIndex(cache.NamespaceIndex, ext.Namespace)
	if err != nil {
		utilruntime.HandleError(err)
		return "an unknown one (the cache could not be read)"
	}
	for _, obj := range objs {
		other, ok := obj.(*konnectv1alpha2.KonnectExtension)
		if !ok || other.UID == ext.UID || other.DeletionTimestamp != nil || !isManual(other) {
			continue
		}
		if c.controlPlaneID(other) != reg.controlPlaneID {
			continue
		}
		secret, err := c.certSecrets.Secrets(other.Namespace).Get(manualSecretName(other))
		if err != nil {
			continue
		}
		if cert, err := parseCertificatePEM(secret.Data[corev1.TLSCertKey]); err == nil && fingerprint(cert) == reg.fingerprint {
			return other.Namespace + "/" + other.Name
		}
	}
	return ""
}

// controlPlaneID is the Konnect id of the control plane an extension names, as its object says,
// else as the extension's last registration recorded it.
func (c *Controller) controlPlaneID(ext *konnectv1alpha2.KonnectExtension) string {
	if cp, err := c.controlPlanes.KonnectGatewayControlPlanes(ext.Namespace).Get(controlPlaneName(ext)); err == nil && cp.Status.ID != "" {
		return cp.Status.ID
	}
	return parseRegistration(ext.Annotations[CertificateAnnotation]).controlPlaneID
}

// forgetGoneRegistration drops the recorded registration of an extension whose control plane
// object is gone, once Konnect says the control plane it was registered with is gone too (its
// deletion took its certificates with it): nothing is left to remove, and the auth
// configuration the record names is no longer held for it. One look a sync period while the
// record stays; anything but Konnect's 404 keeps it.
func (c *Controller) forgetGoneRegistration(ctx context.Context, ext *konnectv1alpha2.KonnectExtension) error {
	reg := parseRegistration(ext.Annotations[CertificateAnnotation])
	if reg.certificateID == "" {
		return nil
	}
	if _, err := c.controlPlanes.KonnectGatewayControlPlanes(ext.Namespace).Get(controlPlaneName(ext)); err == nil {
		return nil // the control plane object is there: it says what becomes of the registration
	}
	auth, problem := c.cleanupAuth(ctx, ext)
	if problem != "" {
		return nil
	}
	if _, err := c.api.ListDataPlaneCertificates(konnect.Resync(ctx), auth, reg.controlPlaneID); !konnect.IsNotFound(err) {
		return nil
	}
	klog.FromContext(ctx).V(2).Info("Forgetting the registration: its control plane is gone from Konnect", "controlPlaneID", reg.controlPlaneID, "certificateID", reg.certificateID)
	c.forgetVerified(cache.MetaObjectToName(ext))
	return c.patchMetadata(ctx, ext, map[string]any{"annotations": map[string]any{
		CertificateAnnotation: nil, konnectv1alpha2.DataPlaneCertificateAuthAnnotation: nil}})
}
