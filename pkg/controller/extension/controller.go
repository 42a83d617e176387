// Package extension reconciles KonnectExtensions: it resolves the control plane an extension
// names, provides the data plane's client certificate (generated and signed by the
// controller's cluster CA, or taken from a Secret the user names), registers that certificate
// with the control plane in Konnect once per distinct certificate, and removes it from Konnect
// when it is replaced or the extension is deleted.
//
// Files: controller.go (construction, event handlers, indexes), sync.go (one reconcile,
// conditions, the control plane), register.go (registration in Konnect, finalization),
// secrets.go (the certificate Secrets and the CA Secret), certs.go (the certificates).
package extension

import (
	"cmp"
	"fmt"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"

	konnectv1alpha2 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha2"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/controller"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/controller/credentials"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/controller/indexes"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/controller/loop"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/controller/objpatch"
	listersv1alpha1 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/generated/listers/konnect/v1alpha1"
	listersv1alpha2 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/generated/listers/konnect/v1alpha2"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/konnect"
)

const (
	// Name is the reconciler's workqueue name, event source and field manager.
	Name = "konnect-extensions"

	// CertificateAnnotation records, on the extension, the certificate registered with Konnect
	// for it: "<control plane id>/<certificate id>/<sha256 of the certificate's DER>". It is
	// what lets a replaced certificate (a renewal, a changed Manual Secret) be removed from
	// Konnect, and the registered one be removed when the extension is deleted. It lives in
	// metadata rather than status because status can be wiped (a restore, a status-less
	// re-apply) and a lost id would leave a certificate pinned in Konnect for good.
	CertificateAnnotation = konnectv1alpha2.DataPlaneCertificateAnnotation

	// controlPlaneIndex indexes extensions by the "namespace/name" of their control plane.
	controlPlaneIndex = "extension.controlPlane"
	// secretIndex indexes extensions by the "namespace/name" of their certificate Secret
	// (the Manual one they name, or the one generated for them).
	secretIndex = "extension.secret"

	// syncJitter spreads re-syncs over [period, period×1.1).
	syncJitter = 0.1
)

// Controller keeps KonnectExtensions' certificates provisioned and registered.
type Controller struct {
	loop *loop.Loop

	// kubeClient writes certificate Secrets and the CA Secret.
	kubeClient kubernetes.Interface
	// writer patches extensions' metadata (finalizer, annotation) and status.
	writer objpatch.Writer[*konnectv1alpha2.KonnectExtension]
	// secretMetadata, if set, tells a Manual Secret without the dp-cert label from a missing
	// one, reading metadata only.
	secretMetadata metadata.Getter
	api            konnect.ControlPlaneAPI
	tokens         *credentials.Resolver
	events         objpatch.Events

	extensions       listersv1alpha2.KonnectExtensionLister
	extensionIndexer cache.Indexer
	controlPlanes    listersv1alpha2.KonnectGatewayControlPlaneLister
	cpIndexer        cache.Indexer
	authConfigs      listersv1alpha1.KonnectAPIAuthConfigurationLister
	// certSecrets lists only Secrets labelled konghq.com/konnect-dp-cert=true.
	certSecrets corelisters.SecretLister
	// caSecrets lists the CA Secret (caSecret); anything else it lists is ignored.
	caSecrets corelisters.SecretLister

	clock      clock.WithTicker
	syncPeriod time.Duration
	caSecret   types.NamespacedName
	// certSyncPeriod and qps decide how long a verified registration is trusted
	// (verificationTTL).
	certSyncPeriod time.Duration
	qps            float64

	// ca is the parsed cluster CA, with the resourceVersion of the Secret it came from.
	caMu      sync.Mutex
	ca        *keyPair
	caVersion string

	// verified remembers, per extension, which certificate was last seen registered in
	// Konnect and when, so that syncs brought by events between re-syncs make no call.
	verifiedMu sync.Mutex
	verified   map[cache.ObjectName]verification
	// ttl is verificationTTL's last answer, worked out at ttlAt.
	ttl   time.Duration
	ttlAt time.Time
}

type verification struct {
	annotation string
	at         time.Time
}

// New builds the reconciler on the shared informers of extensions, control planes and auth
// configurations, the certificate Secrets' informer and the CA Secret's.
func New(c *controller.Context) (*Controller, error) {
	if err := c.Require(controller.NeedsKonnectSyncPeriod, controller.NeedsKonnectAPI, controller.NeedsCASecret); err != nil {
		return nil, err
	}
	extInformer := c.CRDInformers.Konnect().V1alpha2().KonnectExtensions()
	cpInformer := c.CRDInformers.Konnect().V1alpha2().KonnectGatewayControlPlanes()
	authInformer := c.CRDInformers.Konnect().V1alpha1().KonnectAPIAuthConfigurations()
	certInformer := c.CertificateSecrets.Core().V1().Secrets()
	caInformer := c.CASecrets.Core().V1().Secrets()

	ctrl := &Controller{
		kubeClient: c.KubeClient,
		writer:     objpatch.NewWriter[*konnectv1alpha2.KonnectExtension](Name, c.CRDClient.KonnectV1alpha2().KonnectExtensions),
		api:        c.KonnectAPI,
		tokens:     c.Credentials,
		// An Event when Ready turns False after True, or True again after False; none for a
		// first Ready, so a thousand extensions applied at once cost no Event writes.
		events:           objpatch.NewEvents(c.Recorder(Name), konnectv1alpha2.ConditionReady),
		extensions:       extInformer.Lister(),
		extensionIndexer: extInformer.Informer().GetIndexer(),
		controlPlanes:    cpInformer.Lister(),
		cpIndexer:        cpInformer.Informer().GetIndexer(),
		authConfigs:      authInformer.Lister(),
		certSecrets:      certInformer.Lister(),
		caSecrets:        caInformer.Lister(),
		clock:            c.Clock,
		syncPeriod:       c.KonnectSyncPeriod,
		certSyncPeriod:   cmp.Or(c.CertificateSyncPeriod, c.KonnectSyncPeriod),
		qps:              c.KonnectQPS,
		caSecret:         c.CASecret,
		verified:         map[cache.ObjectName]verification{},
	}
	if c.MetadataClient != nil {
		ctrl.secretMetadata = c.MetadataClient.Resource(controller.SecretsResource)
	}
	ctrl.loop = c.NewLoop(Name, ctrl.reconcile, loop.Options{LogKey: "konnectExtension", MaxKonnectBackoff: c.KonnectSyncPeriod})

	if err := extInformer.Informer().AddIndexers(cache.Indexers{
		controlPlaneIndex: indexByControlPlane,
		secretIndex:       indexBySecret,
	}); err != nil {
		return nil, fmt.Errorf("adding the extension indexes: %w", err)
	}
	if err := indexes.AddControlPlaneAuthRefIndex(cpInformer.Informer()); err != nil {
		return nil, err
	}

	watches := []struct {
		informer cache.SharedIndexInformer
		handler  func(metav1.Object)
		what     string
	}{
		{extInformer.Informer(), func(ext metav1.Object) { ctrl.loop.Enqueue(ext) }, "extensions"},
		{cpInformer.Informer(), ctrl.enqueueControlPlaneUsers, "control planes"},
		{authInformer.Informer(), ctrl.enqueueAuthConfigUsers, "auth configurations"},
		{certInformer.Informer(), ctrl.enqueueSecretUsers, "certificate Secrets"},
		{caInformer.Informer(), ctrl.enqueueCAUsers, "the CA Secret"},
	}
	for _, w := range watches {
		if err := ctrl.loop.Watch(c.RootContext, w.informer, indexes.OnChange(indexes.Each(w.handler))); err != nil {
			return nil, fmt.Errorf("watching %s: %w", w.what, err)
		}
	}
	return ctrl, nil
}

// Loops are the reconciler's queues: one, of extensions.
func (c *Controller) Loops() []*loop.Loop { return []*loop.Loop{c.loop} }

// controlPlaneName is the name of the control plane an extension names, or "".
func controlPlaneName(ext *konnectv1alpha2.KonnectExtension) string {
	if ref := ext.Spec.Konnect.ControlPlane.Ref.KonnectNamespacedRef; ref != nil {
		return ref.Name
	}
	return ""
}

// manualSecretName is the Secret a Manual extension names, or "" for an Automatic one.
func manualSecretName(ext *konnectv1alpha2.KonnectExtension) string {
	ca := ext.Spec.ClientAuth
	if ca == nil || ca.CertificateSecret.Provisioning == nil || *ca.CertificateSecret.Provisioning != konnectv1alpha2.ProvisioningManual {
		return ""
	}
	if ca.CertificateSecret.CertificateSecretRef == nil {
		return ""
	}
	return ca.CertificateSecret.CertificateSecretRef.Name
}

func isManual(ext *konnectv1alpha2.KonnectExtension) bool {
	ca := ext.Spec.ClientAuth
	return ca != nil && ca.CertificateSecret.Provisioning != nil && *ca.CertificateSecret.Provisioning == konnectv1alpha2.ProvisioningManual
}

func indexByControlPlane(obj any) ([]string, error) {
	ext, ok := obj.(*konnectv1alpha2.KonnectExtension)
	if !ok || controlPlaneName(ext) == "" {
		return nil, nil
	}
	return []string{ext.Namespace + "/" + controlPlaneName(ext)}, nil
}

func indexBySecret(obj any) ([]string, error) {
	ext, ok := obj.(*konnectv1alpha2.KonnectExtension)
	if !ok {
		return nil, nil
	}
	if isManual(ext) {
		if name := manualSecretName(ext); name != "" {
			return []string{ext.Namespace + "/" + name}, nil
		}
		return nil, nil
	}
	return []string{ext.Namespace + "/" + generatedSecretName(ext.Name)}, nil
}

// enqueueIndexed re-queues the extensions under one index value. The indexer reads memory; it
// fails only on an unknown index.
func (c *Controller) enqueueIndexed(index, value string) {
	users, err := c.extensionIndexer.ByIndex(index, value)
	if err != nil {
		utilruntime.HandleError(fmt.Errorf("extensions by %s: %w", index, err))
		return
	}
	for _, u := range users {
		c.loop.Enqueue(u)
	}
}

// enqueueControlPlaneUsers re-queues exactly the extensions that name a control plane.
func (c *Controller) enqueueControlPlaneUsers(cp metav1.Object) {
	c.enqueueIndexed(controlPlaneIndex, cp.GetNamespace()+"/"+cp.GetName())
}

// enqueueAuthConfigUsers re-queues the extensions whose control plane uses an auth configuration.
func (c *Controller) enqueueAuthConfigUsers(cfg metav1.Object) {
	cps, err := c.cpIndexer.ByIndex(indexes.ControlPlaneAuthRefIndex, cfg.GetNamespace()+"/"+cfg.GetName())
	if err != nil {
		utilruntime.HandleError(fmt.Errorf("control planes by %s: %w", indexes.ControlPlaneAuthRefIndex, err))
		return
	}
	for _, cp := range cps {
		if cp, ok := cp.(metav1.Object); ok {
			c.enqueueControlPlaneUsers(cp)
		}
	}
}

// enqueueSecretUsers re-queues the extensions that name a certificate Secret (Manual) or own it.
func (c *Controller) enqueueSecretUsers(secret metav1.Object) {
	c.enqueueIndexed(secretIndex, secret.GetNamespace()+"/"+secret.GetName())
	if owner := metav1.GetControllerOf(secret); owner != nil && owner.Kind == "KonnectExtension" {
		c.loop.Add(cache.ObjectName{Namespace: secret.GetNamespace(), Name: owner.Name})
	}
}

// enqueueCAUsers re-queues every Automatic extension when the CA Secret changes: their
// certificates are checked against the CA. A CA change is rare; this is not on a hot path.
func (c *Controller) enqueueCAUsers(secret metav1.Object) {
	if secret.GetNamespace() != c.caSecret.Namespace || secret.GetName() != c.caSecret.Name {
		return
	}
	for _, e := range c.extensionIndexer.List() {
		if ext, ok := e.(*konnectv1alpha2.KonnectExtension); ok && !isManual(ext) {
			c.loop.Enqueue(ext)
		}
	}
}
