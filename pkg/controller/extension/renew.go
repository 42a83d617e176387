package extension

// Renewal of a registered certificate: staged in the generated Secret, registered with Konnect,
// and only then put in place, so that a data plane that restarts meanwhile — during a Konnect
// outage, say — always finds a certificate Konnect admits. The replaced one stays registered
// until the new one is in the Secret, and is removed after (register).

import (
	"context"
	"maps"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"

	konnectv1alpha2 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha2"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/konnect"
)

// The generated Secret's keys of a staged renewal; the data plane reads only tls.crt and tls.key.
const (
	nextCertKey = "next.tls.crt"
	nextKeyKey  = "next.tls.key"
)

// stageRenewal keeps a new key and certificate under the next.* keys of the generated Secret
// (reusing a staged pair that is still good) and returns the live certificate with it.
func (c *Controller) stageRenewal(ctx context.Context, ext *konnectv1alpha2.KonnectExtension, secret *corev1.Secret, live, ca *keyPair,
	why string) (*certificate, error) {
	cn, now := commonNameOf(ext), c.clock.Now()
	staged := map[string][]byte{corev1.TLSCertKey: secret.Data[nextCertKey], corev1.TLSPrivateKeyKey: secret.Data[nextKeyKey],
		corev1.ServiceAccountRootCAKey: ca.certPEM}
	problem, next := clientCertificateProblem(staged, ca, cn, now)
	if problem != "" {
		var err error
		if next, err = newClientCertificate(ca, cn, now); err != nil {
			return nil, err
		}
		updated := secret.DeepCopy()
		updated.Data = maps.Clone(secret.Data)
		updated.Data[nextCertKey], updated.Data[nextKeyKey] = next.certPEM, next.keyPEM
		if secret, err = c.kubeClient.CoreV1().Secrets(ext.Namespace).Update(ctx, updated, metav1.UpdateOptions{FieldManager: Name}); err != nil {
			return nil, c.renewalFailed(ext, updated.Name, err)
		}
		klog.FromContext(ctx).V(2).Info("Staged a renewed client certificate", "secret", klog.KObj(secret), "why", why, "notAfter", next.cert.NotAfter)
	}
	// No renewal time: the staged certificate is put in place as soon as Konnect holds it.
	return &certificate{cert: live.cert, secretName: secret.Name, next: next, secret: secret}, nil
}

// renew registers the staged certificate with the control plane, then puts it in place in the
// Secret, and returns it as the extension's certificate. Until Konnect holds it (konnectErr, or
// a refusal recorded in conds) the live certificate stays in place and is returned.
func (c *Controller) renew(ctx context.Context, ext *konnectv1alpha2.KonnectExtension, auth konnect.Auth, cpID string,
	cert *certificate, conds conditions) (*certificate, error, error) {
	next := &certificate{cert: cert.next.cert, secretName: cert.secretName}
	id, konnectErr := c.ensureRegistered(ctx, ext, auth, cpID, next, conds)
	if id == "" {
		// Konnect failed or refused: the live certificate stays, and the failure is reported.
		return cert, konnectErr, nil
	}
	updated := cert.secret.DeepCopy()
	updated.Data = maps.Clone(cert.secret.Data)
	updated.Data[corev1.TLSCertKey], updated.Data[corev1.TLSPrivateKeyKey] = cert.next.certPEM, cert.next.keyPEM
	delete(updated.Data, nextCertKey)
	delete(updated.Data, nextKeyKey)
	if _, err := c.kubeClient.CoreV1().Secrets(ext.Namespace).Update(ctx, updated, metav1.UpdateOptions{FieldManager: Name}); err != nil {
		return cert, nil, c.renewalFailed(ext, updated.Name, err)
	}
	klog.FromContext(ctx).V(2).Info("Renewed the client certificate", "secret", klog.KObj(updated), "notAfter", cert.next.cert.NotAfter)
	c.events.Eventf(ext, corev1.EventTypeNormal, "CertificateRenewed", "Renewed the certificate in Secret %s once Konnect held the new one", updated.Name)
	next.renewAt = renewAt(cert.next.cert)
	return next, nil, nil
}
