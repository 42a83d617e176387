package extension

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"

	konnectv1alpha2 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha2"
)

// generatedSecretSuffix ends the name of the Secret generated for an Automatic extension.
const generatedSecretSuffix = "-client-tls"

// generatedSecretName is the Secret generated for an extension: "<extension>-client-tls", or,
// for names too long for that, a prefix and a hash of the name, so it stays unique and the
// same on every sync (no generateName: a retry must find what the last attempt made).
func generatedSecretName(extension string) string {
	const maxLen = 253
	if len(extension)+len(generatedSecretSuffix) <= maxLen {
		return extension + generatedSecretSuffix
	}
	sum := sha256.Sum256([]byte(extension))
	hash := hex.EncodeToString(sum[:])[:10]
	return extension[:maxLen-len(generatedSecretSuffix)-len(hash)-1] + "-" + hash + generatedSecretSuffix
}

// commonNameOf is a generated certificate's subject CN and DNS SAN.
func commonNameOf(ext *konnectv1alpha2.KonnectExtension) string {
	return ext.Name + "." + ext.Namespace
}

func certSecretLabels() map[string]string {
	return map[string]string{konnectv1alpha2.DataPlaneCertificateLabel: "true", konnectv1alpha2.SecretLabel: "true"}
}

// provideCertificate finds (Manual) or generates and renews (Automatic) the extension's client
// certificate, deciding DataPlaneCertificateProvisioned when something is wrong with it. It
// returns nil when there is no usable certificate; err is an API failure to retry.
func (c *Controller) provideCertificate(ctx context.Context, ext *konnectv1alpha2.KonnectExtension, conds conditions) (*certificate, error) {
	if isManual(ext) {
		return c.manualCertificate(ctx, ext, conds), nil
	}
	cert, err := c.automaticCertificate(ctx, ext)
	if err != nil {
		var problem *secretProblem
		if errors.As(err, &problem) {
			conds.set(konnectv1alpha2.ConditionDataPlaneCertificateProvisioned, metav1.ConditionFalse, konnectv1alpha2.ReasonProvisioning, problem.message)
			return nil, nil
		}
		return nil, err
	}
	return cert, nil
}

// secretProblem is something only a person can fix (a foreign Secret in the way, a broken CA).
type secretProblem struct{ message string }

func (p *secretProblem) Error() string { return p.message }

func (c *Controller) manualCertificate(ctx context.Context, ext *konnectv1alpha2.KonnectExtension, conds conditions) *certificate {
	name := manualSecretName(ext)
	label := konnectv1alpha2.DataPlaneCertificateLabel + "=true"
	secret, err := c.certSecrets.Secrets(ext.Namespace).Get(name)
	if err != nil {
		msg := fmt.Sprintf("Secret %s/%s not found among Secrets labelled %s: create it with that label", ext.Namespace, name, label)
		if c.secretMetadata != nil {
			if _, err := c.secretMetadata.Namespace(ext.Namespace).Get(ctx, name, metav1.GetOptions{}); err == nil {
				msg = fmt.Sprintf("Secret %s/%s exists but is not labelled %s: add the label so the controller can read it", ext.Namespace, name, label)
			}
		}
		conds.set(konnectv1alpha2.ConditionDataPlaneCertificateProvisioned, metav1.ConditionFalse, konnectv1alpha2.ReasonRefNotFound, msg)
		return nil
	}
	cert, err := parseCertificatePEM(secret.Data[corev1.TLSCertKey])
	if err != nil {
		conds.set(konnectv1alpha2.ConditionDataPlaneCertificateProvisioned, metav1.ConditionFalse, konnectv1alpha2.ReasonInvalidSecret,
			fmt.Sprintf("Secret %s/%s: %v; it must hold a PEM certificate under tls.crt (kubectl create secret tls)", ext.Namespace, name, err))
		return nil
	}
	return &certificate{cert: cert, secretName: name}
}

// automaticCertificate keeps the generated Secret holding a current certificate: created when
// missing, replaced (new key and certificate) when it is not signed by the current CA, does not
// name the extension, or has less than a third of its validity left.
func (c *Controller) automaticCertificate(ctx context.Context, ext *konnectv1alpha2.KonnectExtension) (*certificate, error) {
	logger := klog.FromContext(ctx)
	if kong := c.kongCertificate(ext); kong != nil {
		return kong, nil
	}
	ca, err := c.ensureCA(ctx)
	if err != nil {
		return nil, err
	}
	name := generatedSecretName(ext.Name)
	cn := commonNameOf(ext)
	now := c.clock.Now()

	secret, err := c.certSecrets.Secrets(ext.Namespace).Get(name)
	if apierrors.IsNotFound(err) {
		// The cache may lag behind a Secret created a moment ago, or the label was removed.
		secret, err = c.kubeClient.CoreV1().Secrets(ext.Namespace).Get(ctx, name, metav1.GetOptions{})
	}
	switch {
	case apierrors.IsNotFound(err):
		pair, err := newClientCertificate(ca, cn, now)
		if err != nil {
			return nil, err
		}
		created, err := c.kubeClient.CoreV1().Secrets(ext.Namespace).Create(ctx, c.certSecret(ext, name, pair, ca), metav1.CreateOptions{FieldManager: Name})
		if apierrors.IsAlreadyExists(err) {
			return nil, fmt.Errorf("Secret %s/%s appeared while it was being created; syncing again", ext.Namespace, name)
		}
		if err != nil {
			return nil, fmt.Errorf("creating Secret %s/%s: %w", ext.Namespace, name, err)
		}
		logger.V(2).Info("Generated the client certificate", "secret", klog.KObj(created), "notAfter", pair.cert.NotAfter)
		return &certificate{cert: pair.cert, secretName: name, renewAt: renewAt(pair.cert), unregistered: true}, nil
	case err != nil:
		return nil, err
	}

	if owner := metav1.GetControllerOf(secret); owner == nil || owner.UID != ext.UID {
		return nil, &secretProblem{fmt.Sprintf("Secret %s/%s exists and is not owned by this KonnectExtension: "+
			"delete or rename it, or use provisioning Manual with secretRef %s", ext.Namespace, name, name)}
	}
	why, pair := clientCertificateProblem(secret.Data, ca, cn, now)
	if why == "" && secret.Labels[konnectv1alpha2.DataPlaneCertificateLabel] == "true" {
		return &certificate{cert: pair.cert, secretName: name, renewAt: renewAt(pair.cert)}, nil
	}
	if why == "" {
		why = "it lost its labels"
	}
	if live, err := parseKeyPair(secret.Data); err == nil && ext.Annotations[CertificateAnnotation] != "" {
		// Registered with Konnect and in use: the new certificate is staged, and replaces
		// this one only once Konnect holds it (renew.go).
		return c.stageRenewal(ctx, ext, secret, live, ca, why)
	}
	pair, err = newClientCertificate(ca, cn, now)
	if err != nil {
		return nil, err
	}
	updated := secret.DeepCopy()
	desired := c.certSecret(ext, name, pair, ca)
	updated.Data = desired.Data
	updated.Labels = maps.Clone(updated.Labels)
	if updated.Labels == nil {
		updated.Labels = map[string]string{}
	}
	maps.Copy(updated.Labels, desired.Labels)
	if _, err := c.kubeClient.CoreV1().Secrets(ext.Namespace).Update(ctx, updated, metav1.UpdateOptions{FieldManager: Name}); err != nil {
		return nil, c.renewalFailed(ext, name, err)
	}
	logger.V(2).Info("Renewed the client certificate", "secret", klog.KObj(secret), "why", why, "notAfter", pair.cert.NotAfter)
	c.events.Eventf(ext, corev1.EventTypeNormal, "CertificateRenewed", "Renewed the certificate in Secret %s: %s", name, why)
	return &certificate{cert: pair.cert, secretName: name, renewAt: renewAt(pair.cert), unregistered: true}, nil
}

// kongCertificate is the certificate Kong's operator generated for ext, while it may stay: the
// Secret that status.dataPlaneClientAuth names, when it is not ours but owned (as controller) by
// ext, labelled as a data plane's certificate, and holds a certificate with its key that names
// ext and is not due for renewal. Taken over as it is, it costs Konnect no second registration
// and the data plane no restart (docs/migrating-from-kong-operator.md); it was signed by Kong's
// cluster CA, so when it is due the generated Secret replaces it.
func (c *Controller) kongCertificate(ext *konnectv1alpha2.KonnectExtension) *certificate {
	auth := ext.Status.DataPlaneClientAuth
	if auth == nil || auth.CertificateSecretRef == nil || auth.CertificateSecretRef.Name == generatedSecretName(ext.Name) {
		return nil
	}
	secret, err := c.certSecrets.Secrets(ext.Namespace).Get(auth.CertificateSecretRef.Name)
	if err != nil || secret.DeletionTimestamp != nil || secret.Labels[konnectv1alpha2.DataPlaneCertificateLabel] != "true" {
		return nil
	}
	if owner := metav1.GetControllerOf(secret); owner == nil || owner.UID != ext.UID {
		return nil
	}
	pair, err := parseKeyPair(secret.Data)
	if err != nil || pair.cert.Subject.CommonName != commonNameOf(ext) || !c.clock.Now().Before(renewAt(pair.cert)) {
		return nil
	}
	return &certificate{cert: pair.cert, secretName: secret.Name, renewAt: renewAt(pair.cert)}
}

// certSecret is the generated Secret for an extension, owned by it so the garbage collector
// removes it with the extension.
func (c *Controller) certSecret(ext *konnectv1alpha2.KonnectExtension, name string, pair, ca *keyPair) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name:      name,
			Namespace: ext.Namespace,
			Labels:    certSecretLabels(),
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion:         konnectv1alpha2.SchemeGroupVersion.String(),
				Kind:               "KonnectExtension",
				Name:               ext.Name,
				UID:                ext.UID,
				Controller:         ptr.To(true),
				BlockOwnerDeletion: ptr.To(true),
			}},
		},
		Type: corev1.SecretTypeTLS,
		Data: map[string][]byte{
			corev1.TLSCertKey:              pair.certPEM,
			corev1.TLSPrivateKeyKey:        pair.keyPEM,
			corev1.ServiceAccountRootCAKey: ca.certPEM,
		},
	}
}

// ensureCA returns the cluster CA, creating its Secret on first need. Replicas racing to create
// it settle on the one that won (AlreadyExists: read the winner's). A CA Secret that holds no
// usable CA is reported, never overwritten: every certificate it signed would stop matching.
func (c *Controller) ensureCA(ctx context.Context) (*keyPair, error) {
	c.caMu.Lock()
	defer c.caMu.Unlock()
	ns, name := c.caSecret.Namespace, c.caSecret.Name

	secret, err := c.caSecrets.Secrets(ns).Get(name)
	if apierrors.IsNotFound(err) {
		secret, err = c.kubeClient.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
	}
	if apierrors.IsNotFound(err) {
		pair, genErr := newCA(c.clock.Now())
		if genErr != nil {
			return nil, genErr
		}
		secret, err = c.kubeClient.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns,
				Labels: map[string]string{"app.kubernetes.io/managed-by": "konnect-auth-controller"}},
			Type: corev1.SecretTypeTLS,
			Data: map[string][]byte{corev1.TLSCertKey: pair.certPEM, corev1.TLSPrivateKeyKey: pair.keyPEM},
		}, metav1.CreateOptions{FieldManager: Name})
		if apierrors.IsAlreadyExists(err) {
			secret, err = c.kubeClient.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
		} else if err == nil {
			klog.FromContext(ctx).Info("Created the cluster CA", "secret", klog.KObj(secret), "notAfter", pair.cert.NotAfter)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("reading the cluster CA Secret %s/%s: %w", ns, name, err)
	}
	if c.ca != nil && secret.ResourceVersion != "" && secret.ResourceVersion == c.caVersion {
		return c.ca, nil
	}
	pair, err := parseKeyPair(secret.Data)
	if err == nil && !pair.cert.IsCA {
		err = errors.New("tls.crt is not a CA certificate")
	}
	if err != nil {
		return nil, &secretProblem{fmt.Sprintf("the cluster CA Secret %s/%s holds no usable CA (%v): delete it and the controller creates a new one", ns, name, err)}
	}
	c.ca, c.caVersion = pair, secret.ResourceVersion
	return pair, nil
}

// renewalFailed records a Warning CertificateRenewalFailed for a write of a renewal that the API
// server refused (counted by pkg/metrics), and returns the error to retry with backoff. A
// Conflict or NotFound only means the cache was behind, and records none. The Event names the
// API's reason only, never its text.
func (c *Controller) renewalFailed(ext *konnectv1alpha2.KonnectExtension, secretName string, err error) error {
	if !apierrors.IsConflict(err) && !apierrors.IsNotFound(err) {
		reason := string(apierrors.ReasonForError(err))
		if reason == "" {
			reason = "no answer from the API server"
		}
		c.events.Eventf(ext, corev1.EventTypeWarning, "CertificateRenewalFailed",
			"Renewing the certificate in Secret %s failed (%s); retrying with backoff", secretName, reason)
	}
	return fmt.Errorf("renewing the certificate in Secret %s/%s: %w", ext.Namespace, secretName, err)
}
