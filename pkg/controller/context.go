// Package controller holds what every reconciler is built from: the one Context, made once by
// cmd/controller. Each reconciler (apiauth, controlplane, extension) is New(*Context) and runs in
// loops (package loop); it writes objects through package objpatch, resolves tokens through
// package credentials, and shares informer indexes through package indexes. docs/architecture.md
// draws the picture.
package controller

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	kubeinformers "k8s.io/client-go/informers"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"

	configurationv1alpha1 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/configuration/v1alpha1"
	konnectv1alpha1 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha1"
	konnectv1alpha2 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha2"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/controller/credentials"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/controller/indexes"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/controller/loop"
	clientset "github.com/konnect-auth-controller/konnect-auth-controller/pkg/generated/clientset/versioned"
	informers "github.com/konnect-auth-controller/konnect-auth-controller/pkg/generated/informers/externalversions"
	configurationinformers "github.com/konnect-auth-controller/konnect-auth-controller/pkg/generated/informers/externalversions/configuration/v1alpha1"
	konnectinformers "github.com/konnect-auth-controller/konnect-auth-controller/pkg/generated/informers/externalversions/konnect/v1alpha1"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/konnect"
)

// TokenChecker answers what is known about a token without waiting on Konnect
// (konnect.Checker). A VerdictPending answer means a check is on its way; the asker is then
// woken through the Checker's Done callback.
type TokenChecker interface {
	Check(token, serverURL string, asker types.NamespacedName) konnect.Result
}

// Context is everything a reconciler is built from. cmd/controller fills the clients, the
// Konnect side and the tunables, then calls Complete, which builds the rest; tests fill what
// they fake (clients, clock, recorder) the same way.
type Context struct {
	// RootContext carries the logger the informer handlers log with.
	RootContext context.Context

	// KubeClient reads and writes built-in kinds: Secrets, Events.
	KubeClient kubernetes.Interface
	// CRDClient reads and writes this project's kinds (konnect.konghq.com,
	// configuration.konghq.com).
	CRDClient clientset.Interface
	// MetadataClient reads and patches Secrets' metadata only: a Secret the labelled informers
	// do not see, without ever fetching its data. Optional.
	MetadataClient metadata.Interface

	// KonnectAPI calls Konnect for control planes and certificates, behind the process-wide
	// limiter (konnect.WithLimiter).
	KonnectAPI konnect.ControlPlaneAPI
	// TokenChecker checks auth configurations' tokens.
	TokenChecker TokenChecker

	// Namespace confines the controller to one namespace; "" watches all. With a namespace no
	// KongReferenceGrant is watched and every cross-namespace reference is refused.
	Namespace string
	// RevalidateInterval is how often every token verdict is checked with Konnect again.
	RevalidateInterval time.Duration
	// KonnectSyncPeriod is how often control planes are compared with Konnect.
	KonnectSyncPeriod time.Duration
	// CertificateSyncPeriod is how often an extension's registered certificate is looked for
	// in Konnect again (0: KonnectSyncPeriod); KonnectQPS, when set, lengthens it so that these
	// reads use at most 2.5 % of it (and the control-plane listings, within
	// KonnectSyncPeriod, as much).
	CertificateSyncPeriod time.Duration
	KonnectQPS            float64
	// CASecret is where the cluster CA that signs Automatic extensions' certificates is kept.
	CASecret types.NamespacedName
	// WorkqueueMetrics, if set, receives every loop's queue metrics.
	WorkqueueMetrics workqueue.MetricsProvider

	// Built by Complete unless set.

	// Clock drives queue delays, condition timestamps and certificate validity.
	Clock clock.WithTicker
	// CRDInformers is the one factory of this project's kinds, shared by every reconciler, so
	// that each kind is listed, watched and cached once.
	CRDInformers informers.SharedInformerFactory
	// CredentialSecrets lists only Secrets labelled konghq.com/credential=konnect: neither memory
	// nor reach extends to the cluster's other Secrets. Its cache holds
	// *indexes.CredentialSecret, not *corev1.Secret (its transform): read it with
	// indexes.NewCredentialSecretLister, never with the factory's Lister.
	CredentialSecrets kubeinformers.SharedInformerFactory
	// CertificateSecrets lists only Secrets labelled konghq.com/konnect-dp-cert=true.
	CertificateSecrets kubeinformers.SharedInformerFactory
	// CASecrets lists only the CA Secret.
	CASecrets kubeinformers.SharedInformerFactory
	// Credentials resolves auth configurations' tokens, for every reconciler alike.
	Credentials *credentials.Resolver
	// Recorder returns the event recorder of one reconciler, named by its component.
	Recorder func(component string) record.EventRecorder

	broadcaster record.EventBroadcaster
}

// Complete builds what is not set: the clock, the informer factories (each cache trimmed and,
// for Secrets, restricted by label), the credentials resolver and the event recorders.
func (c *Context) Complete() error {
	if c.RootContext == nil || c.KubeClient == nil || c.CRDClient == nil {
		return errors.New("the controller context needs a root context, a Kubernetes client and a CRD client")
	}
	if c.Clock == nil {
		c.Clock = clock.RealClock{}
	}
	if c.CRDInformers == nil {
		c.CRDInformers = informers.NewSharedInformerFactoryWithOptions(c.CRDClient, 0,
			informers.WithNamespace(c.Namespace), informers.WithTransform(indexes.TrimForCache))
		// Nothing reads auth configurations by namespace (they are looked up by name and by
		// the Secret or the grant they use), so their cache carries no namespace index: at
		// 10,000 configurations it would hold 10,000 more keys for nothing.
		c.CRDInformers.InformerFor(&konnectv1alpha1.KonnectAPIAuthConfiguration{},
			func(client clientset.Interface, resync time.Duration) cache.SharedIndexInformer {
				return konnectinformers.NewFilteredKonnectAPIAuthConfigurationInformer(client, c.Namespace, resync, cache.Indexers{}, nil)
			})
	}
	if c.CredentialSecrets == nil {
		c.CredentialSecrets = c.secretFactory(c.Namespace, indexes.TrimCredentialSecret, func(o *metav1.ListOptions) {
			o.LabelSelector = labels.Set{konnectv1alpha1.SecretCredentialLabel: konnectv1alpha1.SecretCredentialLabelValue}.String()
		})
	}
	if c.CertificateSecrets == nil {
		// Kept whole but for managed fields: a renewal writes the cached Secret back (Update).
		c.CertificateSecrets = c.secretFactory(c.Namespace, indexes.TrimForCache, func(o *metav1.ListOptions) {
			o.LabelSelector = labels.Set{konnectv1alpha2.DataPlaneCertificateLabel: "true"}.String()
		})
	}
	if c.CASecrets == nil {
		c.CASecrets = kubeinformers.NewSharedInformerFactoryWithOptions(c.KubeClient, 0,
			kubeinformers.WithNamespace(c.CASecret.Namespace),
			kubeinformers.WithTweakListOptions(func(o *metav1.ListOptions) {
				o.FieldSelector = fields.OneTermEqualSelector("metadata.name", c.CASecret.Name).String()
			}))
	}
	if c.Credentials == nil {
		c.Credentials = &credentials.Resolver{Secrets: indexes.NewCredentialSecretLister(c.CredentialSecrets.Core().V1().Secrets().Informer().GetIndexer())}
		if c.MetadataClient != nil {
			c.Credentials.SecretMetadata = c.MetadataClient.Resource(SecretsResource)
		}
		if grants := c.GrantInformer(); grants != nil {
			c.Credentials.Grants.Lister = grants.Lister()
		}
	}
	if c.Recorder == nil {
		// A private scheme: the recorder must resolve our kinds, and registering them in
		// client-go's global scheme would leak into every other user of that package.
		scheme := runtime.NewScheme()
		utilruntime.Must(clientgoscheme.AddToScheme(scheme))
		utilruntime.Must(konnectv1alpha1.AddToScheme(scheme))
		utilruntime.Must(konnectv1alpha2.AddToScheme(scheme))
		utilruntime.Must(configurationv1alpha1.AddToScheme(scheme))
		c.broadcaster = record.NewBroadcaster(record.WithContext(c.RootContext))
		c.Recorder = func(component string) record.EventRecorder {
			return c.broadcaster.NewRecorder(scheme, corev1.EventSource{Component: component})
		}
	}
	return nil
}

// Requirement is an input of the Context a reconciler cannot be built without.
type Requirement int

// The Context's inputs that only some reconcilers need.
const (
	NeedsTokenChecker Requirement = iota
	NeedsKonnectAPI
	NeedsRevalidateInterval
	NeedsKonnectSyncPeriod
	NeedsCASecret
)

// Require says which of reqs the Context lacks, if any: the one place those inputs are checked.
func (c *Context) Require(reqs ...Requirement) error {
	var missing []error
	for _, r := range reqs {
		switch {
		case r == NeedsTokenChecker && c.TokenChecker == nil:
			missing = append(missing, errors.New("a token checker is required"))
		case r == NeedsKonnectAPI && c.KonnectAPI == nil:
			missing = append(missing, errors.New("a Konnect client is required"))
		case r == NeedsRevalidateInterval && c.RevalidateInterval <= 0:
			missing = append(missing, fmt.Errorf("revalidate interval must be positive, got %v", c.RevalidateInterval))
		case r == NeedsKonnectSyncPeriod && c.KonnectSyncPeriod <= 0:
			missing = append(missing, fmt.Errorf("sync period must be positive, got %v", c.KonnectSyncPeriod))
		case r == NeedsCASecret && (c.CASecret.Name == "" || c.CASecret.Namespace == ""):
			missing = append(missing, errors.New("the CA Secret needs a name and a namespace"))
		}
	}
	return errors.Join(missing...)
}

// NewLoop builds a reconciler's loop on the context's clock and queue metrics.
func (c *Context) NewLoop(name string, reconcile loop.ReconcileFunc, opts loop.Options) *loop.Loop {
	opts.Clock, opts.MetricsProvider = c.Clock, c.WorkqueueMetrics
	return loop.New(name, reconcile, opts)
}

// secretFactory is a factory whose Secret informer lists only what tweak selects, caches it
// through transform, and carries no namespace index: Secrets are looked up by name (and by the
// configurations' own indexes), never listed by namespace.
func (c *Context) secretFactory(namespace string, transform cache.TransformFunc, tweak func(*metav1.ListOptions)) kubeinformers.SharedInformerFactory {
	// The Secret informer below applies tweak itself; the factory adds the transform.
	f := kubeinformers.NewSharedInformerFactoryWithOptions(c.KubeClient, 0, kubeinformers.WithTransform(transform))
	f.InformerFor(&corev1.Secret{}, func(client kubernetes.Interface, resync time.Duration) cache.SharedIndexInformer {
		return coreinformers.NewFilteredSecretInformer(client, namespace, resync, cache.Indexers{}, tweak)
	})
	return f
}

// GrantInformer is the KongReferenceGrant informer, or nil when the controller is confined to
// one namespace: it can read nothing elsewhere, so it refuses every cross-namespace reference
// and needs no access to grants.
func (c *Context) GrantInformer() configurationinformers.KongReferenceGrantInformer {
	if c.Namespace != "" {
		return nil
	}
	return c.CRDInformers.Configuration().V1alpha1().KongReferenceGrants()
}

// Start starts the informers the reconcilers asked for, and the recording of Events. Informers
// start on every replica, so that a standby takes over with warm caches.
func (c *Context) Start(stop <-chan struct{}) {
	if c.broadcaster != nil {
		c.broadcaster.StartStructuredLogging(3)
		c.broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: c.KubeClient.CoreV1().Events("")})
	}
	for _, f := range c.factories() {
		f.Start(stop)
	}
}

// Shutdown waits for the informers to stop (after the stop channel given to Start is closed)
// and flushes the Events.
func (c *Context) Shutdown() {
	for _, f := range c.factories() {
		f.Shutdown()
	}
	if c.broadcaster != nil {
		c.broadcaster.Shutdown()
	}
}

type factory interface {
	Start(stop <-chan struct{})
	Shutdown()
}

func (c *Context) factories() []factory {
	return []factory{c.CRDInformers, c.CredentialSecrets, c.CertificateSecrets, c.CASecrets}
}

// SecretsResource is what the metadata client reads and patches Secrets as.
var SecretsResource = corev1.SchemeGroupVersion.WithResource("secrets")
