package metrics

import (
	"crypto/x509"
	"encoding/pem"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	corelisters "k8s.io/client-go/listers/core/v1"

	konnectv1alpha2 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha2"
	listers "github.com/konnect-auth-controller/konnect-auth-controller/pkg/generated/listers/konnect/v1alpha1"
	listersv1alpha2 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/generated/listers/konnect/v1alpha2"
)

// The kind label of the object metrics.
const (
	kindAuthConfiguration = "KonnectAPIAuthConfiguration"
	kindControlPlane      = "KonnectGatewayControlPlane"
	kindExtension         = "KonnectExtension"
)

// Reasons of konnect_auth_controller_deletion_waiting_timestamp_seconds that are not a
// condition's reason.
const (
	// deletionInUse: an auth configuration that control planes still name keeps its in-use
	// finalizer until they are gone or name another.
	deletionInUse = "InUse"
	// deletionDeleting: the controller is removing the object from Konnect (its summary
	// condition is still True, e.g. while Konnect answers transiently and is retried).
	deletionDeleting = "Deleting"
)

var (
	statusConditionDesc = prometheus.NewDesc(namespace+"_status_condition",
		"The current condition of every KonnectAPIAuthConfiguration, KonnectGatewayControlPlane and KonnectExtension, "+
			"always 1: one series per object and condition type, labelled with its status and reason.",
		[]string{"kind", "namespace", "name", "type", "status", "reason"}, nil)
	deletionWaitingDesc = prometheus.NewDesc(namespace+"_deletion_waiting_timestamp_seconds",
		"Objects being deleted that wait on the controller's finalizer, by why; the value is when the deletion was "+
			"requested (metadata.deletionTimestamp, Unix seconds): time() minus it is how long it has waited.",
		[]string{"kind", "namespace", "name", "reason"}, nil)
	certificateExpiryDesc = prometheus.NewDesc(namespace+"_client_certificate_expiration_timestamp_seconds",
		"When the client certificate of each KonnectExtension expires (notAfter, Unix seconds): minus time(), the time "+
			"left until it expires.",
		[]string{"namespace", "name"}, nil)
)

// Objects are the informer caches the object metrics are read from at scrape time. Any lister
// may be nil: the API server does not serve control planes and extensions, or a test does not
// need them.
type Objects struct {
	AuthConfigurations listers.KonnectAPIAuthConfigurationLister
	ControlPlanes      listersv1alpha2.KonnectGatewayControlPlaneLister
	Extensions         listersv1alpha2.KonnectExtensionLister
	// CertificateSecrets lists the Secrets labelled konghq.com/konnect-dp-cert=true, where
	// extensions' client certificates are (generated or Manual).
	CertificateSecrets corelisters.SecretLister
}

// RegisterObjects exposes, computed from the informer caches at every scrape (so that they
// can never drift from what the controller sees, and vanish with the object):
//
//   - konnect_auth_controller_status_condition{kind, namespace, name, type, status, reason} 1
//     for each condition of each object: at most one series per object and condition type
//     (an auth configuration has 1 or 2, a control plane up to 4, an extension 5);
//   - konnect_auth_controller_deletion_waiting_timestamp_seconds{kind, namespace, name, reason}
//     for each object being deleted that still has the controller's finalizer: one series per
//     such object;
//   - konnect_auth_controller_client_certificate_expiration_timestamp_seconds{namespace, name}
//     for each extension whose status names its certificate Secret: one series per extension.
func (m *Metrics) RegisterObjects(objs Objects) {
	m.registry.MustRegister(&objectsCollector{objs: objs, certs: map[string]parsedCertificate{}})
}

// objectsCollector reads the listers at scrape time.
type objectsCollector struct {
	objs Objects

	// certs caches the notAfter of each certificate Secret by its resourceVersion, so that a
	// scrape parses only the certificates that changed since the last one.
	mu    sync.Mutex
	certs map[string]parsedCertificate
}

type parsedCertificate struct {
	resourceVersion string
	notAfter        time.Time
	ok              bool
}

func (c *objectsCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- statusConditionDesc
	ch <- deletionWaitingDesc
	ch <- certificateExpiryDesc
}

func (c *objectsCollector) Collect(ch chan<- prometheus.Metric) {
	if c.objs.AuthConfigurations != nil {
		if cfgs, err := c.objs.AuthConfigurations.List(labels.Everything()); err == nil {
			for _, cfg := range cfgs {
				conditions(ch, kindAuthConfiguration, cfg, cfg.Status.Conditions)
				if cfg.DeletionTimestamp != nil && slices.Contains(cfg.Finalizers, konnectv1alpha2.APIAuthInUseFinalizer) {
					deletionWaiting(ch, kindAuthConfiguration, cfg, deletionInUse)
				}
			}
		}
	}
	if c.objs.ControlPlanes != nil {
		if cps, err := c.objs.ControlPlanes.List(labels.Everything()); err == nil {
			for _, cp := range cps {
				conditions(ch, kindControlPlane, cp, cp.Status.Conditions)
				if cp.DeletionTimestamp != nil && slices.Contains(cp.Finalizers, konnectv1alpha2.KonnectCleanupFinalizer) {
					deletionWaiting(ch, kindControlPlane, cp, deletionReason(cp.Status.Conditions, konnectv1alpha2.ConditionProgrammed))
				}
			}
		}
	}
	if c.objs.Extensions != nil {
		if exts, err := c.objs.Extensions.List(labels.Everything()); err == nil {
			c.extensions(ch, exts)
		}
	}
}

func (c *objectsCollector) extensions(ch chan<- prometheus.Metric, exts []*konnectv1alpha2.KonnectExtension) {
	c.mu.Lock()
	defer c.mu.Unlock()
	seen := make(map[string]parsedCertificate, len(c.certs))
	for _, ext := range exts {
		conditions(ch, kindExtension, ext, ext.Status.Conditions)
		if ext.DeletionTimestamp != nil && slices.Contains(ext.Finalizers, konnectv1alpha2.KonnectCleanupFinalizer) {
			deletionWaiting(ch, kindExtension, ext, deletionReason(ext.Status.Conditions, konnectv1alpha2.ConditionReady))
		}
		auth := ext.Status.DataPlaneClientAuth
		if c.objs.CertificateSecrets == nil || auth == nil || auth.CertificateSecretRef == nil || auth.CertificateSecretRef.Name == "" {
			continue
		}
		secret, err := c.objs.CertificateSecrets.Secrets(ext.Namespace).Get(auth.CertificateSecretRef.Name)
		if err != nil {
			continue
		}
		key := secret.Namespace + "/" + secret.Name
		parsed, ok := c.certs[key]
		if !ok || parsed.resourceVersion != secret.ResourceVersion {
			parsed = parseNotAfter(secret)
		}
		seen[key] = parsed
		if parsed.ok {
			ch <- prometheus.MustNewConstMetric(certificateExpiryDesc, prometheus.GaugeValue,
				float64(parsed.notAfter.Unix()), ext.Namespace, ext.Name)
		}
	}
	// Secrets no extension names any more are forgotten.
	c.certs = seen
}

// conditions sends one status_condition series per condition of obj.
func conditions(ch chan<- prometheus.Metric, kind string, obj metav1.Object, conds []metav1.Condition) {
	for _, cond := range conds {
		ch <- prometheus.MustNewConstMetric(statusConditionDesc, prometheus.GaugeValue, 1,
			kind, obj.GetNamespace(), obj.GetName(), cond.Type, string(cond.Status), cond.Reason)
	}
}

// deletionWaiting sends the deletion_waiting series of obj.
func deletionWaiting(ch chan<- prometheus.Metric, kind string, obj metav1.Object, reason string) {
	ch <- prometheus.MustNewConstMetric(deletionWaitingDesc, prometheus.GaugeValue,
		float64(obj.GetDeletionTimestamp().Unix()), kind, obj.GetNamespace(), obj.GetName(), reason)
}

// deletionReason is why a deletion waits: the reason of the summary condition (Programmed,
// Ready) when it is not True, for that says what stands in the way (e.g. credentials that no
// longer work); else "Deleting".
func deletionReason(conds []metav1.Condition, summary string) string {
	if cond := meta.FindStatusCondition(conds, summary); cond != nil && cond.Status != metav1.ConditionTrue && cond.Reason != "" {
		return cond.Reason
	}
	return deletionDeleting
}

// parseNotAfter reads the notAfter of the first certificate in a Secret's tls.crt.
func parseNotAfter(secret *corev1.Secret) parsedCertificate {
	parsed := parsedCertificate{resourceVersion: secret.ResourceVersion}
	rest := secret.Data[corev1.TLSCertKey]
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return parsed
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return parsed
		}
		parsed.notAfter, parsed.ok = cert.NotAfter, true
		return parsed
	}
}
