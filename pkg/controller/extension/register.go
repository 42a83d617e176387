package extension

// Registration: the certificate in Konnect, recorded in CertificateAnnotation, and its removal
// when the extension is deleted.

import (
	"context"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	konnectv1alpha2 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha2"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/konnect"
)

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

// register makes sure the certificate is registered with the control plane (ensureRegistered)
// and that a certificate it replaced is removed from Konnect, and records the registration. It
// decides DataPlaneCertificateProvisioned. konnectErr is a transient Konnect failure, to be
// retried with backoff; err is an API-server write that failed.
//
// A certificate Konnect cannot hold yet (cert.unregistered) is registered without a LIST first.
func (c *Controller) register(ctx context.Context, ext *konnectv1alpha2.KonnectExtension, auth konnect.Auth, cpID string,
	cert *certificate, conds conditions, authRef string) (konnectErr, err error) {
	key := cache.MetaObjectToName(ext)
	old := parseRegistration(ext.Annotations[CertificateAnnotation])
	fp := fingerprint(cert.cert)
	if old.controlPlaneID == cpID && old.fingerprint == fp && c.recentlyVerified(key, old.String()) {
		setProvisioned(conds)
		return nil, nil
	}
	var id string
	if cert.unregistered {
		id, konnectErr = c.createRegistration(ctx, ext, auth, cpID, cert, conds)
	} else {
		lookCtx := ctx
		if old.controlPlaneID == cpID && old.fingerprint == fp {
			// Only the look of a re-sync at a registration that did not change: it gives way
			// to user-driven calls (konnect.Resync).
			lookCtx = konnect.Resync(ctx)
		}
		id, konnectErr = c.ensureRegistered(lookCtx, ext, auth, cpID, cert, conds)
	}
	if id == "" {
		return konnectErr, nil
	}

	// The certificate this one replaced (a renewal, a changed Manual Secret, or a registration
	// with the control plane the extension named before: another control plane, a Mirror
	// pointed elsewhere, one re-created) is removed from Konnect before the annotation forgets
	// it, so a failed removal is tried again (and the new one is then found by the LIST, not
	// created twice).
	//
	// The new certificate is registered by then: the data plane can join with it, whatever
	// becomes of the removal. A removal that fails leaves DataPlaneCertificateProvisioned True
	// and the annotation naming the old certificate, so the next sync tries it again.
	if old.certificateID != "" && old.certificateID != id && c.otherUser(ext, old) == "" {
		if done, konnectErr := c.removeReplaced(ctx, ext, auth, cpID, old); !done {
			return konnectErr, nil
		}
	}

	now := registration{controlPlaneID: cpID, certificateID: id, fingerprint: fp}
	if now != old || ext.Annotations[konnectv1alpha2.DataPlaneCertificateAuthAnnotation] != authRef {
		if err := c.patchMetadata(ctx, ext, map[string]any{"annotations": map[string]any{CertificateAnnotation: now.String(),
			konnectv1alpha2.DataPlaneCertificateAuthAnnotation: authRef}}); err != nil {
			return nil, err
		}
	}
	c.markVerified(key, now.String())
	return nil, nil
}

// removeReplaced removes the registration old, which the one on control plane cpID replaced,
// from Konnect: with auth when it is on the same control plane, else with the credentials that
// made it (recorded beside it, as for a deletion). done is false when it is to be tried again
// (konnectErr: transient, with backoff; else at the sync period). A registration whose
// credentials are no longer known cannot be removed: an event says so and it is let go.
func (c *Controller) removeReplaced(ctx context.Context, ext *konnectv1alpha2.KonnectExtension, auth konnect.Auth, cpID string, old registration) (done bool, konnectErr error) {
	logger := klog.FromContext(ctx)
	if old.controlPlaneID != cpID {
		recorded, problem := c.cleanupAuth(ctx, ext)
		if problem != "" {
			logger.Info("Leaving the replaced data-plane certificate registered: it cannot be removed", "controlPlaneID", old.controlPlaneID, "certificateID", old.certificateID, "problem", problem)
			c.events.Eventf(ext, corev1.EventTypeWarning, "CertificateLeft",
				"Certificate %s on control plane %s, registered for this extension before, cannot be removed (%s): remove it there by hand", old.certificateID, old.controlPlaneID, problem)
			return true, nil
		}
		auth = recorded
	}
	err := c.api.DeleteDataPlaneCertificate(ctx, auth, old.controlPlaneID, old.certificateID)
	switch {
	case err == nil:
	case konnect.IsNotFound(err):
		// Removed already, or its control plane went, and its certificates with it.
		return true, nil
	default:
		logger.V(2).Info("Removing the replaced data-plane certificate failed; trying again later", "controlPlaneID", old.controlPlaneID, "certificateID", old.certificateID, "err", err)
		if konnect.IsTransient(err) {
			return false, err
		}
		return false, nil
	}
	logger.V(2).Info("Removed the replaced data-plane certificate", "controlPlaneID", old.controlPlaneID, "certificateID", old.certificateID)
	c.events.Eventf(ext, corev1.EventTypeNormal, "CertificateRemoved",
		"Removed the replaced certificate %s from control plane %s", old.certificateID, old.controlPlaneID)
	return true, nil
}

// ensureRegistered registers the certificate with the control plane unless Konnect holds it
// already (LIST first; CREATE only when it is not there), and sets DataPlaneCertificateProvisioned
// from the outcome. It returns the certificate's id in Konnect, "" when Konnect failed (with the
// failure when it is transient). A staged renewal is registered with it alone: the certificate
// it replaces stays registered and recorded while the data plane still uses it.
func (c *Controller) ensureRegistered(ctx context.Context, ext *konnectv1alpha2.KonnectExtension, auth konnect.Auth, cpID string,
	cert *certificate, conds conditions) (id string, konnectErr error) {
	registered, err := c.api.ListDataPlaneCertificates(ctx, auth, cpID)
	if err != nil {
		return "", registrationFailed(conds, err)
	}
	if id := registrationOf(registered, cert, registrationTitle(ext)); id != "" {
		setProvisioned(conds)
		return id, nil
	}
	return c.createRegistration(ctx, ext, auth, cpID, cert, conds)
}

// registrationTitle is the title an extension's registrations carry: its UID, which names it
// for as long as it exists (a name can be reused). A registration whose answer was lost is found
// by it without comparing every certificate on the control plane.
func registrationTitle(ext *konnectv1alpha2.KonnectExtension) string {
	return "k8s-uid:" + string(ext.UID)
}

// registrationOf is the id of cert among registered, or "". The registrations titled with this
// extension's UID are compared first; the others too, because a certificate may have been
// registered without a title (by Kong's operator) or by another extension sharing the Secret.
func registrationOf(registered []konnect.DataPlaneCertificate, cert *certificate, title string) string {
	for _, r := range registered {
		if r.Title == title && sameCertificate(r.Cert, cert.cert) {
			return r.ID
		}
	}
	for _, r := range registered {
		if r.Title != title && sameCertificate(r.Cert, cert.cert) {
			return r.ID
		}
	}
	return ""
}

// findRegistration looks cert up on the control plane: its id, or "" when Konnect does not
// hold it or could not be asked.
func (c *Controller) findRegistration(ctx context.Context, ext *konnectv1alpha2.KonnectExtension, auth konnect.Auth, cpID string, cert *certificate) string {
	registered, err := c.api.ListDataPlaneCertificates(ctx, auth, cpID)
	if err != nil {
		return ""
	}
	return registrationOf(registered, cert, registrationTitle(ext))
}

// createRegistration registers the certificate with the control plane (POST) and sets
// DataPlaneCertificateProvisioned from the outcome, as ensureRegistered does.
func (c *Controller) createRegistration(ctx context.Context, ext *konnectv1alpha2.KonnectExtension, auth konnect.Auth, cpID string,
	cert *certificate, conds conditions) (id string, konnectErr error) {
	created, err := c.api.CreateDataPlaneCertificate(ctx, auth, cpID, certificatePEM(cert.cert), registrationTitle(ext))
	if konnect.IsConflict(err) {
		// Konnect holds it already: registered meanwhile by another extension sharing the
		// Secret, or by a create whose answer was lost. It is found, not refused.
		if id := c.findRegistration(ctx, ext, auth, cpID, cert); id != "" {
			setProvisioned(conds)
			return id, nil
		}
	}
	if err != nil {
		return "", registrationFailed(conds, err)
	}
	klog.FromContext(ctx).V(2).Info("Registered the data-plane certificate", "controlPlaneID", cpID, "certificateID", created.ID)
	c.events.Eventf(ext, corev1.EventTypeNormal, "CertificateRegistered",
		"Registered the certificate in Secret %s with control plane %s as %s", cert.secretName, cpID, created.ID)
	setProvisioned(conds)
	return created.ID, nil
}

// registrationFailed records a failed registration in conds and returns the failure when it
// is transient (retried with backoff); a definitive refusal is not hammered: it is tried again
// at the next re-sync.
func registrationFailed(conds conditions, apiErr error) error {
	status := metav1.ConditionFalse
	if konnect.IsTransient(apiErr) {
		status = metav1.ConditionUnknown
	}
	conds.set(konnectv1alpha2.ConditionDataPlaneCertificateProvisioned, status, konnectv1alpha2.ReasonKonnectAPIOpFailed, apiErr.Error())
	if konnect.IsTransient(apiErr) {
		return apiErr
	}
	return nil
}

// setProvisioned records in conds that the certificate is registered (its id is in
// CertificateAnnotation; the message is Kong's).
func setProvisioned(conds conditions) {
	conds.set(konnectv1alpha2.ConditionDataPlaneCertificateProvisioned, metav1.ConditionTrue, konnectv1alpha2.ReasonProvisioned,
		konnectv1alpha2.MessageProvisioned)
}

func (c *Controller) recentlyVerified(key cache.ObjectName, annotation string) bool {
	c.verifiedMu.Lock()
	defer c.verifiedMu.Unlock()
	v, ok := c.verified[key]
	return ok && v.annotation == annotation && c.clock.Since(v.at) < c.verificationTTLLocked()
}

// verificationTTLLocked is how long a registration seen in Konnect is trusted before it is
// looked up again: the certificate sync period, lengthened so that one LIST per extension in
// that time stays within the certificate look-ups' share of --konnect-qps
// (konnect.ResyncInterval; worked out at most once a second).
func (c *Controller) verificationTTLLocked() time.Duration {
	now := c.clock.Now()
	if c.ttl > 0 && now.Sub(c.ttlAt) < time.Second {
		return c.ttl
	}
	c.ttl, c.ttlAt = konnect.ResyncInterval(c.certSyncPeriod, len(c.verified), c.qps), now
	return c.ttl
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

// ensureFinalizer adds the clean-up finalizer before anything is registered in Konnect. It
// returns the extension as the apiserver now holds it, or a copy of ext when the finalizer was
// there already: register keeps what it returns current with its own metadata patch, and the
// informer's cache must not be written to.
//
// added says the finalizer was added now: nothing of the extension's was ever registered in
// Konnect by this controller (registrations come after it, also in an earlier process).
func (c *Controller) ensureFinalizer(ctx context.Context, ext *konnectv1alpha2.KonnectExtension) (_ *konnectv1alpha2.KonnectExtension, added bool, err error) {
	updated, changed, err := c.writer.SetFinalizer(ctx, ext, konnectv1alpha2.KonnectCleanupFinalizer, true)
	if err != nil {
		return nil, false, err
	}
	if !changed {
		return ext.DeepCopy(), false, nil
	}
	return updated, true, nil
}

// patchMetadata merge-patches an extension's metadata, guarded by its resourceVersion, and
// keeps ext's resourceVersion, annotations and finalizers current for the status write that
// follows. ext must be the reconcile's own copy, never the informer's object.
func (c *Controller) patchMetadata(ctx context.Context, ext *konnectv1alpha2.KonnectExtension, metadata map[string]any) error {
	updated, err := c.writer.Metadata(ctx, ext, metadata)
	if err != nil {
		return err
	}
	ext.ResourceVersion = updated.ResourceVersion
	ext.Annotations = updated.Annotations
	ext.Finalizers = updated.Finalizers
	return nil
}

func firstProblem(conds conditions) string {
	for _, t := range dependentTypes {
		if cond, ok := conds[t]; ok && cond.Status != metav1.ConditionTrue {
			return cond.Message
		}
	}
	return "unknown"
}
