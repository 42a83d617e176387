package extension

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	konnectv1alpha1 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha1"
	konnectv1alpha2 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha2"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/controller/shared"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/konnect"
)

// conditions is the desired set of an extension's conditions, keyed by type.
type conditions map[string]metav1.Condition

func (cs conditions) set(t string, status metav1.ConditionStatus, reason, message string) {
	cs[t] = metav1.Condition{Type: t, Status: status, Reason: reason, Message: message}
}

// dependentTypes are the conditions Ready sums up, in the order they are decided.
var dependentTypes = []string{
	konnectv1alpha2.ConditionControlPlaneRefValid,
	konnectv1alpha2.ConditionAPIAuthResolvedRef,
	konnectv1alpha2.ConditionAPIAuthValid,
	konnectv1alpha2.ConditionDataPlaneCertificateProvisioned,
}

// certificate is the client certificate an extension provides, found or generated.
type certificate struct {
	cert       *x509.Certificate
	secretName string
	// renewAt is when a generated certificate is replaced (zero for Manual ones).
	renewAt time.Time
}

// sync brings one extension in line: certificate Secret, registration in Konnect, status.
func (c *Controller) sync(ctx context.Context, key cache.ObjectName) (result, error) {
	logger := klog.FromContext(ctx).WithValues("konnectExtension", klog.KRef(key.Namespace, key.Name))
	ctx = klog.NewContext(ctx, logger)
	start := c.clock.Now()
	logger.V(4).Info("Started syncing")
	defer func() { logger.V(4).Info("Finished syncing", "duration", c.clock.Since(start)) }()

	ext, err := c.extensions.KonnectExtensions(key.Namespace).Get(key.Name)
	if apierrors.IsNotFound(err) {
		c.forgetVerified(key)
		return result{}, nil
	}
	if err != nil {
		return result{}, err
	}
	if ext.DeletionTimestamp != nil {
		return c.finalize(ctx, ext)
	}

	conds := conditions{}
	res := result{after: wait.Jitter(c.syncPeriod, syncJitter)}
	status := ext.Status.DeepCopy()

	// 1. The certificate and its Secret: they do not depend on the control plane.
	cert, certErr := c.provideCertificate(ctx, ext, conds)
	if certErr != nil {
		return result{}, certErr
	}
	status.DataPlaneClientAuth = nil
	if cert != nil {
		status.DataPlaneClientAuth = &konnectv1alpha2.DataPlaneClientAuthStatus{
			CertificateSecretRef: &konnectv1alpha2.SecretRef{Name: cert.secretName}}
		if !cert.renewAt.IsZero() {
			res.after = min(res.after, max(cert.renewAt.Sub(c.clock.Now()), time.Second))
		}
	}

	// 2. The control plane and 3. its credentials.
	cp, auth := c.resolveControlPlane(ctx, ext, conds, status)

	// 4. The registration, once everything it needs is there.
	keepTrue := false
	if cert != nil && cp != nil && auth != nil {
		ext, err = c.ensureFinalizer(ctx, ext)
		if err != nil {
			return c.writeFailed(ctx, err)
		}
		// Whether this very certificate is the one registered: only then may a Konnect outage
		// leave a True DataPlaneCertificateProvisioned True (read before register rewrites it).
		registered := parseRegistration(ext.Annotations[CertificateAnnotation])
		unchanged := registered.controlPlaneID == cp.Status.ID && registered.fingerprint == fingerprint(cert.cert)
		konnectErr, err := c.register(ctx, ext, *auth, cp.Status.ID, cert, conds)
		if err != nil {
			return c.writeFailed(ctx, err)
		}
		res.konnectErr = konnectErr
		keepTrue = konnectErr != nil && unchanged
	} else if cert != nil {
		conds.set(konnectv1alpha2.ConditionDataPlaneCertificateProvisioned, metav1.ConditionFalse, konnectv1alpha2.ReasonProvisioning,
			fmt.Sprintf("The certificate in Secret %s is ready; it is registered once the control plane and its credentials are", cert.secretName))
	}

	c.setConditions(ext, status, conds, keepTrue)
	if equality.Semantic.DeepEqual(ext.Status, *status) {
		logger.V(4).Info("Status is up to date")
		return res, nil
	}
	if ctx.Err() != nil {
		return result{}, ctx.Err()
	}
	if err := c.writeStatus(ctx, ext, *status); err != nil {
		return c.writeFailed(ctx, fmt.Errorf("writing status of %s: %w", klog.KObj(ext), err))
	}
	c.recordReadyChange(ext, status)
	return res, nil
}

// writeFailed turns a write that lost a race (Conflict) or met a deleted object (NotFound) into
// a quick or no retry that does not count as an error: the informer brings the newer object.
func (c *Controller) writeFailed(ctx context.Context, err error) (result, error) {
	switch {
	case apierrors.IsNotFound(err):
		klog.FromContext(ctx).V(4).Info("Extension was deleted while syncing")
		return result{}, nil
	case apierrors.IsConflict(err):
		klog.FromContext(ctx).V(4).Info("A write lost a race; syncing again")
		return result{after: conflictRetryDelay}, nil
	}
	return result{}, err
}

// setConditions merges the decided conditions into status, keeping a True condition True when
// only Konnect's availability stood in the way (keepTrue: a Konnect call failed transiently
// while re-checking the certificate already registered; a new certificate that could not be
// registered is not provisioned, whatever the old one's condition said), and sums them up in
// Ready.
func (c *Controller) setConditions(ext *konnectv1alpha2.KonnectExtension, status *konnectv1alpha2.KonnectExtensionStatus, conds conditions, keepTrue bool) {
	now := metav1.NewTime(c.clock.Now())
	for _, t := range dependentTypes {
		want, ok := conds[t]
		if !ok {
			want = metav1.Condition{Type: t, Status: metav1.ConditionUnknown, Reason: konnectv1alpha2.ReasonPending,
				Message: "Waiting for " + firstNotTrue(conds) + " to be True"}
		}
		old := meta.FindStatusCondition(status.Conditions, t)
		if keepTrue && want.Reason == konnectv1alpha2.ReasonKonnectAPIOpFailed && old != nil &&
			old.Status == metav1.ConditionTrue && old.ObservedGeneration == ext.Generation {
			// Konnect could not be asked: that says nothing new about the certificate.
			want = *old
		}
		want.ObservedGeneration = ext.Generation
		want.LastTransitionTime = now
		meta.SetStatusCondition(&status.Conditions, want)
		conds[t] = *meta.FindStatusCondition(status.Conditions, t)
	}
	ready := metav1.Condition{Type: konnectv1alpha2.ConditionReady, Status: metav1.ConditionTrue, Reason: konnectv1alpha2.ReasonReady,
		Message: "The data plane can join the control plane with the certificate in Secret " + secretNameOf(status)}
	for _, t := range dependentTypes {
		cond := conds[t]
		if cond.Status == metav1.ConditionTrue {
			continue
		}
		reason := konnectv1alpha2.ReasonPending
		if t == konnectv1alpha2.ConditionDataPlaneCertificateProvisioned && cond.Reason == konnectv1alpha2.ReasonProvisioning {
			reason = konnectv1alpha2.ReasonProvisioning
		}
		ready = metav1.Condition{Type: konnectv1alpha2.ConditionReady, Status: metav1.ConditionFalse, Reason: reason,
			Message: fmt.Sprintf("%s is %s: %s", t, cond.Status, cond.Message)}
		break
	}
	ready.ObservedGeneration = ext.Generation
	ready.LastTransitionTime = now
	meta.SetStatusCondition(&status.Conditions, ready)
}

func firstNotTrue(conds conditions) string {
	for _, t := range dependentTypes {
		if cond, ok := conds[t]; ok && cond.Status != metav1.ConditionTrue {
			return t
		}
	}
	return "the conditions before it"
}

func secretNameOf(status *konnectv1alpha2.KonnectExtensionStatus) string {
	if status.DataPlaneClientAuth != nil && status.DataPlaneClientAuth.CertificateSecretRef != nil {
		return status.DataPlaneClientAuth.CertificateSecretRef.Name
	}
	return ""
}

// recordReadyChange records an Event when Ready turns False after True (Warning) or True again
// after False (Normal), as the auth configurations' reconciler does: a first Ready makes none,
// so a thousand extensions applied at once do not cost a thousand Event writes.
func (c *Controller) recordReadyChange(ext *konnectv1alpha2.KonnectExtension, status *konnectv1alpha2.KonnectExtensionStatus) {
	old := meta.FindStatusCondition(ext.Status.Conditions, konnectv1alpha2.ConditionReady)
	cur := meta.FindStatusCondition(status.Conditions, konnectv1alpha2.ConditionReady)
	if cur == nil || old != nil && old.Status == cur.Status && old.Reason == cur.Reason {
		return
	}
	switch {
	case cur.Status == metav1.ConditionTrue && old != nil && old.Status == metav1.ConditionFalse:
		c.recorder.Event(ext, corev1.EventTypeNormal, cur.Reason, cur.Message)
	case old != nil && old.Status == metav1.ConditionTrue:
		c.recorder.Event(ext, corev1.EventTypeWarning, cur.Reason, cur.Message)
	}
}

// resolveControlPlane decides ControlPlaneRefValid, APIAuthResolvedRef and APIAuthValid, and sets
// status.konnect. It returns the control plane and the credentials to call Konnect with, or nils.
func (c *Controller) resolveControlPlane(ctx context.Context, ext *konnectv1alpha2.KonnectExtension, conds conditions,
	status *konnectv1alpha2.KonnectExtensionStatus) (*konnectv1alpha2.KonnectGatewayControlPlane, *konnect.Auth) {
	name := controlPlaneName(ext)
	if name == "" {
		conds.set(konnectv1alpha2.ConditionControlPlaneRefValid, metav1.ConditionFalse, konnectv1alpha2.ReasonInvalid,
			"spec.konnect.controlPlane.ref.konnectNamespacedRef.name must name a KonnectGatewayControlPlane")
		status.Konnect = nil
		return nil, nil
	}
	cpName := ext.Namespace + "/" + name
	cp, err := c.controlPlanes.KonnectGatewayControlPlanes(ext.Namespace).Get(name)
	if err != nil {
		conds.set(konnectv1alpha2.ConditionControlPlaneRefValid, metav1.ConditionFalse, konnectv1alpha2.ReasonInvalid,
			fmt.Sprintf("KonnectGatewayControlPlane %s not found", cpName))
		status.Konnect = nil
		return nil, nil
	}
	programmed := meta.FindStatusCondition(cp.Status.Conditions, konnectv1alpha2.ConditionProgrammed)
	if programmed == nil || programmed.Status != metav1.ConditionTrue || cp.Status.ID == "" || cp.Status.Endpoints == nil {
		msg := fmt.Sprintf("KonnectGatewayControlPlane %s is not Programmed yet", cpName)
		if programmed != nil && programmed.Message != "" {
			msg += ": " + programmed.Message
		}
		conds.set(konnectv1alpha2.ConditionControlPlaneRefValid, metav1.ConditionFalse, konnectv1alpha2.ReasonNotProgrammed, msg)
		status.Konnect = nil
		return nil, nil
	}
	conds.set(konnectv1alpha2.ConditionControlPlaneRefValid, metav1.ConditionTrue, konnectv1alpha2.ReasonValid,
		fmt.Sprintf("KonnectGatewayControlPlane %s is Programmed", cpName))

	ref, _ := shared.ControlPlaneAuthRef(cp)
	konnectStatus := &konnectv1alpha2.KonnectExtensionControlPlaneStatus{
		ControlPlaneID: cp.Status.ID,
		ClusterType:    extensionClusterType(cp.Status.ClusterType),
		Endpoints:      *cp.Status.Endpoints,
	}
	if ref.Name != "" {
		ns := ref.Namespace
		konnectStatus.AuthRef = &konnectv1alpha2.NamespacedRef{Name: ref.Name, Namespace: &ns}
	}
	status.Konnect = konnectStatus

	// The control plane's reconciler resolved this reference (and checked any
	// KongReferenceGrant) before it became Programmed; what is left is whether it still exists
	// and is still valid.
	cfg, err := c.authConfigs.KonnectAPIAuthConfigurations(ref.Namespace).Get(ref.Name)
	if err != nil {
		conds.set(konnectv1alpha2.ConditionAPIAuthResolvedRef, metav1.ConditionFalse, konnectv1alpha2.ReasonRefNotFound,
			fmt.Sprintf("KonnectAPIAuthConfiguration %s (the authRef of KonnectGatewayControlPlane %s) not found", ref, cpName))
		return nil, nil
	}
	conds.set(konnectv1alpha2.ConditionAPIAuthResolvedRef, metav1.ConditionTrue, konnectv1alpha2.ReasonResolvedRef,
		fmt.Sprintf("KonnectAPIAuthConfiguration %s", ref))
	valid := meta.FindStatusCondition(cfg.Status.Conditions, konnectv1alpha1.ConditionAPIAuthValid)
	if valid == nil || valid.Status != metav1.ConditionTrue || valid.Reason != konnectv1alpha1.ReasonValid {
		msg := fmt.Sprintf("KonnectAPIAuthConfiguration %s is not valid", ref)
		if valid != nil && valid.Message != "" {
			msg += ": " + valid.Message
		}
		conds.set(konnectv1alpha2.ConditionAPIAuthValid, metav1.ConditionFalse, konnectv1alpha2.ReasonInvalid, msg)
		return nil, nil
	}
	if cfg.Status.ServerURL == "" {
		conds.set(konnectv1alpha2.ConditionAPIAuthValid, metav1.ConditionFalse, konnectv1alpha2.ReasonInvalid,
			fmt.Sprintf("KonnectAPIAuthConfiguration %s has no status.serverURL yet", ref))
		return nil, nil
	}
	token, problem := c.tokens.ResolveToken(ctx, cfg)
	if problem != nil {
		conds.set(konnectv1alpha2.ConditionAPIAuthValid, metav1.ConditionFalse, konnectv1alpha2.ReasonInvalid,
			fmt.Sprintf("KonnectAPIAuthConfiguration %s: %s", ref, problem.Message))
		return nil, nil
	}
	conds.set(konnectv1alpha2.ConditionAPIAuthValid, metav1.ConditionTrue, konnectv1alpha2.ReasonValid,
		fmt.Sprintf("KonnectAPIAuthConfiguration %s is valid", ref))
	return cp, &konnect.Auth{Token: token, ServerURL: cfg.Status.ServerURL}
}

// extensionClusterType maps Konnect's cluster_type to the extension's enum.
func extensionClusterType(t string) konnectv1alpha2.ExtensionClusterType {
	switch t {
	case konnect.ClusterTypeK8sIngressController:
		return konnectv1alpha2.ExtensionClusterTypeK8sIngressController
	case konnect.ClusterTypeControlPlaneGroup:
		return konnectv1alpha2.ExtensionClusterTypeControlPlaneGroup
	default:
		// Konnect's default, and what an empty cluster_type means.
		return konnectv1alpha2.ExtensionClusterTypeControlPlane
	}
}

// registration is a certificate registered with a control plane, as CertificateAnnotation says.
type registration struct {
	controlPlaneID, certificateID, fingerprint string
}

func (r registration) String() string {
	if r.certificateID == "" {
		return ""
	}
	return r.controlPlaneID + "/" + r.certificateID + "/" + r.fingerprint
}

func parseRegistration(s string) registration {
	parts := strings.Split(s, "/")
	if len(parts) != 3 {
		return registration{}
	}
	return registration{controlPlaneID: parts[0], certificateID: parts[1], fingerprint: parts[2]}
}

// register makes sure the certificate is registered with the control plane (LIST first; CREATE
// only when it is not there) and that a certificate it replaced is removed from Konnect. It
// decides DataPlaneCertificateProvisioned. konnectErr is a transient Konnect failure, to be
// retried with backoff; err is an API-server write that failed.
func (c *Controller) register(ctx context.Context, ext *konnectv1alpha2.KonnectExtension, auth konnect.Auth, cpID string,
	cert *certificate, conds conditions) (konnectErr, err error) {
	logger := klog.FromContext(ctx)
	key := cache.MetaObjectToName(ext)
	old := parseRegistration(ext.Annotations[CertificateAnnotation])
	fp := fingerprint(cert.cert)
	provisioned := func(id string) {
		conds.set(konnectv1alpha2.ConditionDataPlaneCertificateProvisioned, metav1.ConditionTrue, konnectv1alpha2.ReasonProvisioned,
			fmt.Sprintf("The certificate in Secret %s (SHA-256 %s…) is registered with control plane %s as %s", cert.secretName, fp[:16], cpID, id))
	}
	if old.controlPlaneID == cpID && old.fingerprint == fp && c.recentlyVerified(key, old.String()) {
		provisioned(old.certificateID)
		return nil, nil
	}

	failed := func(apiErr error) (error, error) {
		status := metav1.ConditionFalse
		if konnect.IsTransient(apiErr) {
			status = metav1.ConditionUnknown
		}
		conds.set(konnectv1alpha2.ConditionDataPlaneCertificateProvisioned, status, konnectv1alpha2.ReasonKonnectAPIOpFailed, apiErr.Error())
		if konnect.IsTransient(apiErr) {
			return apiErr, nil
		}
		// A definitive refusal is not hammered: it is tried again at the next re-sync.
		return nil, nil
	}

	registered, err := c.api.ListDataPlaneCertificates(ctx, auth, cpID)
	if err != nil {
		return failed(err)
	}
	id := ""
	for _, r := range registered {
		if sameCertificate(r.Cert, cert.cert) {
			id = r.ID
			break
		}
	}
	if id == "" {
		created, err := c.api.CreateDataPlaneCertificate(ctx, auth, cpID, certificatePEM(cert.cert))
		if err != nil {
			return failed(err)
		}
		id = created.ID
		logger.V(2).Info("Registered the data-plane certificate", "controlPlaneID", cpID, "certificateID", id)
		c.recorder.Eventf(ext, corev1.EventTypeNormal, "CertificateRegistered",
			"Registered the certificate in Secret %s with control plane %s as %s", cert.secretName, cpID, id)
	}

	// The certificate this one replaced (a renewal, a changed Manual Secret) is removed from
	// Konnect before the annotation forgets it, so a failure here is retried.
	if old.certificateID != "" && old.certificateID != id && old.controlPlaneID == cpID {
		if err := c.api.DeleteDataPlaneCertificate(ctx, auth, cpID, old.certificateID); err != nil && !konnect.IsNotFound(err) {
			return failed(err)
		}
		logger.V(2).Info("Removed the replaced data-plane certificate", "controlPlaneID", cpID, "certificateID", old.certificateID)
		c.recorder.Eventf(ext, corev1.EventTypeNormal, "CertificateRemoved",
			"Removed the replaced certificate %s from control plane %s", old.certificateID, cpID)
	}

	now := registration{controlPlaneID: cpID, certificateID: id, fingerprint: fp}
	if now != old {
		if err := c.patchMetadata(ctx, ext, map[string]any{"annotations": map[string]any{CertificateAnnotation: now.String()}}); err != nil {
			return nil, err
		}
	}
	c.markVerified(key, now.String())
	provisioned(id)
	return nil, nil
}

func (c *Controller) recentlyVerified(key cache.ObjectName, annotation string) bool {
	c.verifiedMu.Lock()
	defer c.verifiedMu.Unlock()
	v, ok := c.verified[key]
	return ok && v.annotation == annotation && c.clock.Since(v.at) < c.syncPeriod
}

func (c *Controller) markVerified(key cache.ObjectName, annotation string) {
	c.verifiedMu.Lock()
	defer c.verifiedMu.Unlock()
	c.verified[key] = verification{annotation: annotation, at: c.clock.Now()}
}

func (c *Controller) forgetVerified(key cache.ObjectName) {
	c.verifiedMu.Lock()
	defer c.verifiedMu.Unlock()
	delete(c.verified, key)
}

// ensureFinalizer adds the clean-up finalizer before anything is registered in Konnect.
func (c *Controller) ensureFinalizer(ctx context.Context, ext *konnectv1alpha2.KonnectExtension) (*konnectv1alpha2.KonnectExtension, error) {
	if slices.Contains(ext.Finalizers, konnectv1alpha2.KonnectCleanupFinalizer) {
		return ext, nil
	}
	finalizers := append(slices.Clone(ext.Finalizers), konnectv1alpha2.KonnectCleanupFinalizer)
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"resourceVersion": ext.ResourceVersion, "finalizers": finalizers}})
	if err != nil {
		return nil, err
	}
	return c.client.KonnectV1alpha2().KonnectExtensions(ext.Namespace).Patch(ctx, ext.Name, types.MergePatchType, patch,
		metav1.PatchOptions{FieldManager: Name})
}

// patchMetadata merge-patches an extension's metadata, guarded by its resourceVersion, and
// keeps ext's resourceVersion current for the status write that follows.
func (c *Controller) patchMetadata(ctx context.Context, ext *konnectv1alpha2.KonnectExtension, metadata map[string]any) error {
	metadata["resourceVersion"] = ext.ResourceVersion
	patch, err := json.Marshal(map[string]any{"metadata": metadata})
	if err != nil {
		return err
	}
	updated, err := c.client.KonnectV1alpha2().KonnectExtensions(ext.Namespace).Patch(ctx, ext.Name, types.MergePatchType, patch,
		metav1.PatchOptions{FieldManager: Name})
	if err != nil {
		return err
	}
	ext.ResourceVersion = updated.ResourceVersion
	ext.Annotations = updated.Annotations
	ext.Finalizers = updated.Finalizers
	return nil
}

// finalize removes the registered certificate from Konnect, then the finalizer. A transient
// failure keeps the finalizer and is retried with backoff; the generated Secret goes with the
// garbage collector (owner reference).
func (c *Controller) finalize(ctx context.Context, ext *konnectv1alpha2.KonnectExtension) (result, error) {
	logger := klog.FromContext(ctx)
	if !slices.Contains(ext.Finalizers, konnectv1alpha2.KonnectCleanupFinalizer) {
		return result{}, nil
	}
	reg := parseRegistration(ext.Annotations[CertificateAnnotation])
	if reg.certificateID != "" {
		conds := conditions{}
		cp, auth := c.resolveControlPlane(ctx, ext, conds, ext.Status.DeepCopy())
		switch {
		case cp == nil || auth == nil:
			// Without a Programmed control plane and valid credentials nothing can be asked of
			// Konnect; a deleted control plane takes its certificates with it.
			msg := fmt.Sprintf("Certificate %s could not be removed from control plane %s: %s", reg.certificateID, reg.controlPlaneID, firstProblem(conds))
			logger.Info("Leaving the certificate in Konnect", "controlPlaneID", reg.controlPlaneID, "certificateID", reg.certificateID, "problem", firstProblem(conds))
			c.recorder.Event(ext, corev1.EventTypeWarning, "CertificateNotRemoved", msg)
		case cp.Status.ID != reg.controlPlaneID:
			logger.Info("The control plane was re-created; its old certificate went with it", "certificateID", reg.certificateID)
		default:
			err := c.api.DeleteDataPlaneCertificate(ctx, *auth, reg.controlPlaneID, reg.certificateID)
			switch {
			case err == nil || konnect.IsNotFound(err):
				logger.V(2).Info("Removed the data-plane certificate from Konnect", "controlPlaneID", reg.controlPlaneID, "certificateID", reg.certificateID)
			case konnect.IsTransient(err):
				return result{konnectErr: err}, nil
			default:
				// A definitive refusal (the token may no longer permit it) would hold the
				// extension, and its namespace, forever: say so and let go.
				c.recorder.Eventf(ext, corev1.EventTypeWarning, "CertificateNotRemoved",
					"Certificate %s could not be removed from control plane %s: %v", reg.certificateID, reg.controlPlaneID, err)
			}
		}
	}
	finalizers := slices.DeleteFunc(slices.Clone(ext.Finalizers), func(f string) bool { return f == konnectv1alpha2.KonnectCleanupFinalizer })
	if err := c.patchMetadata(ctx, ext, map[string]any{"finalizers": finalizers}); err != nil {
		return c.writeFailed(ctx, err)
	}
	c.forgetVerified(cache.MetaObjectToName(ext))
	return result{}, nil
}

func firstProblem(conds conditions) string {
	for _, t := range dependentTypes {
		if cond, ok := conds[t]; ok && cond.Status != metav1.ConditionTrue {
			return cond.Message
		}
	}
	return "unknown"
}

// writeStatus merge-patches the status subresource, guarded by the resourceVersion; explicit
// nulls clear what is gone. dataPlaneRefs and controlPlaneRefs belong to other controllers
// and are left alone.
func (c *Controller) writeStatus(ctx context.Context, ext *konnectv1alpha2.KonnectExtension, status konnectv1alpha2.KonnectExtensionStatus) error {
	var konnectStatus, clientAuth any
	if status.Konnect != nil {
		konnectStatus = status.Konnect
	}
	if status.DataPlaneClientAuth != nil {
		clientAuth = status.DataPlaneClientAuth
	}
	patch, err := json.Marshal(map[string]any{
		"metadata": map[string]any{"resourceVersion": ext.ResourceVersion},
		"status": map[string]any{
			"konnect":             konnectStatus,
			"dataPlaneClientAuth": clientAuth,
			"conditions":          status.Conditions,
		},
	})
	if err != nil {
		return err
	}
	_, err = c.client.KonnectV1alpha2().KonnectExtensions(ext.Namespace).
		Patch(ctx, ext.Name, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: Name}, "status")
	return err
}
