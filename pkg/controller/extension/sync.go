package extension

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	konnectv1alpha1 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha1"
	konnectv1alpha2 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha2"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/controller/indexes"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/controller/loop"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/controller/objpatch"
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
	// next is the renewal staged in the generated Secret (renew.go): it replaces cert there
	// only once Konnect holds it.
	next *keyPair
	// secret is the generated Secret that holds next.
	secret *corev1.Secret
	// generated: the certificate was generated in this very sync, so Konnect cannot hold it
	// yet (its key did not exist before).
	generated bool
}

// reconcile brings one extension in line: certificate Secret, registration in Konnect, status.
func (c *Controller) reconcile(ctx context.Context, key cache.ObjectName) (loop.Result, error) {
	logger := klog.FromContext(ctx)

	ext, err := c.extensions.KonnectExtensions(key.Namespace).Get(key.Name)
	if apierrors.IsNotFound(err) {
		c.forgetVerified(key)
		return loop.Result{}, nil
	}
	if err != nil {
		return loop.Result{}, err
	}
	if ext.DeletionTimestamp != nil {
		return c.finalize(ctx, ext)
	}

	conds := conditions{}
	res := loop.Result{After: wait.Jitter(c.syncPeriod, syncJitter)}
	status := ext.Status.DeepCopy()

	// 1. The certificate, which does not depend on the control plane. A Manual extension's is
	// read from the Secret it names; an Automatic one's is kept in the generated Secret:
	// created, or replaced with a new key, when it is missing, not signed by the current
	// cluster CA (itself created on first need) or due for renewal. Something only a person
	// can fix (a missing or broken Manual Secret, a foreign Secret in the way, a CA Secret
	// without a usable CA) is a False DataPlaneCertificateProvisioned and no certificate; an
	// API error ends the reconcile before anything is written to the extension, and is retried
	// with backoff. status.dataPlaneClientAuth names the Secret only while it holds a usable
	// certificate, and a generated one brings the next look forward to its renewal.
	cert, certErr := c.provideCertificate(ctx, ext, conds)
	if certErr != nil {
		return loop.Result{}, certErr
	}
	status.DataPlaneClientAuth = nil
	if cert != nil {
		status.DataPlaneClientAuth = &konnectv1alpha2.DataPlaneClientAuthStatus{
			CertificateSecretRef: &konnectv1alpha2.SecretRef{Name: cert.secretName}}
		if !cert.renewAt.IsZero() {
			res.After = min(res.After, max(cert.renewAt.Sub(c.clock.Now()), time.Second))
		}
	}

	// 2. The control plane and 3. its credentials. While Konnect cannot say whether a token
	// it accepted before still works (the configuration's verdict is Unknown), nothing known
	// changed: the status stays as it is until Konnect answers.
	cp, auth := c.resolveControlPlane(ctx, ext, conds, status)
	if unconfirmed(conds, ext.Status.Conditions) {
		logger.V(2).Info("The auth configuration's token is being validated; keeping the status")
		return loop.Result{Transient: errCredentialsUnconfirmed}, nil
	}
	if cp == nil {
		if err := c.forgetGoneRegistration(ctx, ext); err != nil {
			return objpatch.WriteFailed(ctx, err)
		}
	}

	// 4. The registration, once everything it needs is there: the clean-up finalizer first,
	// then the certificate in Konnect (register.go). Until then the certificate is only
	// provisioned in its Secret.
	keepTrue := false
	if cert != nil && cp != nil && auth != nil {
		ext, err = c.ensureFinalizer(ctx, ext)
		if err != nil {
			return objpatch.WriteFailed(ctx, err)
		}
		// Whether this very certificate is the one registered: only then may a Konnect outage
		// leave a True DataPlaneCertificateProvisioned True (read before register rewrites it).
		// A staged renewal is registered first and only then put in place (renew.go).
		konnectErr, err := error(nil), error(nil)
		if cert.next != nil {
			if cert, konnectErr, err = c.renew(ctx, ext, *auth, cp.Status.ID, cert, conds); err != nil {
				return objpatch.WriteFailed(ctx, err)
			}
		}
		registered := parseRegistration(ext.Annotations[CertificateAnnotation])
		unchanged := registered.controlPlaneID == cp.Status.ID && registered.fingerprint == fingerprint(cert.cert)
		if konnectErr == nil {
			konnectErr, err = c.register(ctx, ext, *auth, cp.Status.ID, cert, conds, authRefOf(ext, status))
		}
		if err != nil {
			return objpatch.WriteFailed(ctx, err)
		}
		res.Transient = konnectErr
		keepTrue = konnectErr != nil && unchanged
	} else if cert != nil {
		conds.set(konnectv1alpha2.ConditionDataPlaneCertificateProvisioned, metav1.ConditionFalse, konnectv1alpha2.ReasonProvisioning,
			fmt.Sprintf("The certificate in Secret %s is ready; it is registered once the control plane and its credentials are", cert.secretName))
	}

	c.setConditions(ext, status, conds, keepTrue)
	wrote, err := c.writer.StatusIfChanged(ctx, ext, ext.Status, *status, func() map[string]any { return statusFields(status) })
	if err != nil {
		return objpatch.WriteFailed(ctx, fmt.Errorf("writing status of %s: %w", klog.KObj(ext), err))
	}
	if !wrote {
		logger.V(4).Info("Status is up to date")
		return res, nil
	}
	c.events.Transitions(ext, ext.Status.Conditions, status.Conditions)
	return res, nil
}

// statusFields are the status fields the reconciler owns, for a merge patch: explicit nulls
// clear what is gone. dataPlaneRefs and controlPlaneRefs belong to other controllers and are
// left alone.
func statusFields(status *konnectv1alpha2.KonnectExtensionStatus) map[string]any {
	return map[string]any{
		"konnect":             objpatch.NullIfNil(status.Konnect),
		"dataPlaneClientAuth": objpatch.NullIfNil(status.DataPlaneClientAuth),
		"conditions":          status.Conditions,
	}
}

// setConditions merges the decided conditions into status, keeping a True condition True when
// only Konnect's availability stood in the way (keepTrue: a Konnect call failed transiently
// while re-checking the certificate already registered; a new certificate that could not be
// registered is not provisioned, whatever the old one's condition said), and sums them up in
// Ready.
func (c *Controller) setConditions(ext *konnectv1alpha2.KonnectExtension, status *konnectv1alpha2.KonnectExtensionStatus, conds conditions, keepTrue bool) {
	now := c.clock.Now()
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
		objpatch.SetCondition(&status.Conditions, want, ext.Generation, now)
		conds[t] = *meta.FindStatusCondition(status.Conditions, t)
	}
	ready := metav1.Condition{Type: konnectv1alpha2.ConditionReady, Status: metav1.ConditionTrue, Reason: konnectv1alpha2.ReasonReady,
		Message: konnectv1alpha2.MessageReady}
	for _, t := range dependentTypes {
		cond := conds[t]
		if cond.Status == metav1.ConditionTrue {
			continue
		}
		reason := konnectv1alpha2.ReasonPending
		if t == konnectv1alpha2.ConditionDataPlaneCertificateProvisioned && cond.Reason == konnectv1alpha2.ReasonProvisioning {
			reason = konnectv1alpha2.ReasonProvisioning
		}
		// Konnect could not be asked (a new certificate's registration during an outage, say):
		// whether the data plane can join is not known, not False.
		readyStatus := metav1.ConditionFalse
		if cond.Status == metav1.ConditionUnknown && cond.Reason == konnectv1alpha2.ReasonKonnectAPIOpFailed {
			readyStatus = metav1.ConditionUnknown
		}
		ready = metav1.Condition{Type: konnectv1alpha2.ConditionReady, Status: readyStatus, Reason: reason,
			Message: fmt.Sprintf("%s is %s: %s", t, cond.Status, cond.Message)}
		break
	}
	objpatch.SetCondition(&status.Conditions, ready, ext.Generation, now)
}

func firstNotTrue(conds conditions) string {
	for _, t := range dependentTypes {
		if cond, ok := conds[t]; ok && cond.Status != metav1.ConditionTrue {
			return t
		}
	}
	return "the conditions before it"
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
	// A control plane whose last update Konnect refused, or a group whose members are not all
	// set, still exists and serves with the endpoints its status holds: its data planes keep
	// them (that is the control plane's to report, not a reason to cut its data planes off).
	programmed := meta.FindStatusCondition(cp.Status.Conditions, konnectv1alpha2.ConditionProgrammed)
	serving := programmed != nil && (programmed.Status == metav1.ConditionTrue || programmed.Reason == konnectv1alpha2.ReasonFailedToUpdate ||
		programmed.Reason == konnectv1alpha2.ReasonFailedToSetControlPlaneGroupMembers)
	if !serving || cp.Status.ID == "" || cp.Status.Endpoints == nil {
		msg := fmt.Sprintf("KonnectGatewayControlPlane %s is not Programmed yet", cpName)
		if programmed != nil && programmed.Message != "" {
			msg += ": " + programmed.Message
		}
		conds.set(konnectv1alpha2.ConditionControlPlaneRefValid, metav1.ConditionFalse, konnectv1alpha2.ReasonNotProgrammed, msg)
		status.Konnect = nil
		return nil, nil
	}
	conds.set(konnectv1alpha2.ConditionControlPlaneRefValid, metav1.ConditionTrue, konnectv1alpha2.ReasonValid,
		konnectv1alpha2.MessageControlPlaneRefValid)

	ref, _ := indexes.ControlPlaneAuthRef(cp)
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
		fmt.Sprintf(konnectv1alpha2.MessageAPIAuthResolvedRef, ref))
	valid := meta.FindStatusCondition(cfg.Status.Conditions, konnectv1alpha1.ConditionAPIAuthValid)
	if valid == nil || valid.Status != metav1.ConditionTrue || valid.Reason != konnectv1alpha1.ReasonValid {
		msg := fmt.Sprintf("KonnectAPIAuthConfiguration %s is not valid", ref)
		if valid != nil && valid.Message != "" {
			msg += ": " + valid.Message
		}
		status := metav1.ConditionFalse
		if valid != nil && valid.Status == metav1.ConditionUnknown {
			status = metav1.ConditionUnknown
		}
		conds.set(konnectv1alpha2.ConditionAPIAuthValid, status, konnectv1alpha2.ReasonInvalid, msg)
		return nil, nil
	}
	if cfg.Status.ServerURL == "" {
		conds.set(konnectv1alpha2.ConditionAPIAuthValid, metav1.ConditionFalse, konnectv1alpha2.ReasonInvalid,
			fmt.Sprintf("KonnectAPIAuthConfiguration %s has no status.serverURL yet", ref))
		return nil, nil
	}
	src, problem := c.tokens.Resolve(ctx, cfg)
	if problem != nil {
		conds.set(konnectv1alpha2.ConditionAPIAuthValid, metav1.ConditionFalse, konnectv1alpha2.ReasonInvalid,
			fmt.Sprintf("KonnectAPIAuthConfiguration %s: %s", ref, problem.Message))
		return nil, nil
	}
	conds.set(konnectv1alpha2.ConditionAPIAuthValid, metav1.ConditionTrue, konnectv1alpha2.ReasonValid,
		fmt.Sprintf(konnectv1alpha2.MessageAPIAuthValid, ref))
	return cp, &konnect.Auth{Token: src.Token, ServerURL: cfg.Status.ServerURL}
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

// authRefOf is "namespace/name" of the auth configuration status.konnect records, or "".
func authRefOf(ext *konnectv1alpha2.KonnectExtension, status *konnectv1alpha2.KonnectExtensionStatus) string {
	if status.Konnect == nil || status.Konnect.AuthRef == nil || status.Konnect.AuthRef.Name == "" {
		return ""
	}
	ns := ext.Namespace
	if status.Konnect.AuthRef.Namespace != nil && *status.Konnect.AuthRef.Namespace != "" {
		ns = *status.Konnect.AuthRef.Namespace
	}
	return ns + "/" + status.Konnect.AuthRef.Name
}

// errCredentialsUnconfirmed: the auth configuration's token could not be validated yet (a
// rotation or a re-validation during a Konnect outage).
var errCredentialsUnconfirmed = errors.New("waiting for Konnect to validate the token of the auth configuration")

// unconfirmed reports whether the credentials' verdict is Unknown now (Konnect could not be
// asked) while the extension's APIAuthValid was True.
func unconfirmed(now conditions, was []metav1.Condition) bool {
	cond, ok := now[konnectv1alpha2.ConditionAPIAuthValid]
	return ok && cond.Status == metav1.ConditionUnknown && meta.IsStatusConditionTrue(was, konnectv1alpha2.ConditionAPIAuthValid)
}
