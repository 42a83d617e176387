// Package extension reconciles KonnectExtensions: it resolves the control plane an extension
// names, provides the data plane's client certificate (generated and signed by the
// controller's cluster CA, or taken from a Secret the user names), registers that certificate
// with the control plane in Konnect once per distinct certificate, and removes it from Konnect
// when it is replaced or the extension is deleted.
package extension

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"

	"golang.org/x/time/rate"

	konnectv1alpha1 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha1"
	konnectv1alpha2 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha2"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/controller/shared"
	clientset "github.com/konnect-auth-controller/konnect-auth-controller/pkg/generated/clientset/versioned"
	informersv1alpha1 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/generated/informers/externalversions/konnect/v1alpha1"
	informersv1alpha2 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/generated/informers/externalversions/konnect/v1alpha2"
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
	CertificateAnnotation = "konnect.konghq.com/dp-certificate"

	// controlPlaneIndex indexes extensions by the "namespace/name" of their control plane.
	controlPlaneIndex = "extension.controlPlane"
	// secretIndex indexes extensions by the "namespace/name" of their certificate Secret
	// (the Manual one they name, or the one generated for them).
	secretIndex = "extension.secret"

	// syncJitter spreads re-syncs over [period, period×1.1).
	syncJitter = 0.1
	// conflictRetryDelay: after a write that lost a race, the informer brings the newer object.
	conflictRetryDelay = 250 * time.Millisecond
)

// TokenResolver finds the token of an auth configuration: shared.TokenResolver, adapted.
// The problem, when there is one, is phrased for a condition and never holds the token.
type TokenResolver interface {
	ResolveToken(ctx context.Context, cfg *konnectv1alpha1.KonnectAPIAuthConfiguration) (token string, problem *TokenProblem)
}

// TokenProblem is why an auth configuration's token could not be resolved.
type TokenProblem struct {
	Reason  string
	Message string
}

// Clients are the API clients the reconciler uses.
type Clients struct {
	// Kube writes certificate Secrets, the CA Secret, and events.
	Kube kubernetes.Interface
	// Konnect writes extensions (finalizer, annotation) and their status.
	Konnect clientset.Interface
	// Metadata, if set, tells a Manual Secret without the dp-cert label from a missing one,
	// reading metadata only.
	Metadata metadata.Interface
}

// Informers are the shared informers the reconciler reads from.
type Informers struct {
	Extensions    informersv1alpha2.KonnectExtensionInformer
	ControlPlanes informersv1alpha2.KonnectGatewayControlPlaneInformer
	AuthConfigs   informersv1alpha1.KonnectAPIAuthConfigurationInformer
	// CertSecrets must list only Secrets labelled konghq.com/konnect-dp-cert=true.
	CertSecrets coreinformers.SecretInformer
	// CASecrets must list the CA Secret (Options.CASecret); anything else it lists is ignored.
	CASecrets coreinformers.SecretInformer
}

// Options are the reconciler's tunables.
type Options struct {
	// SyncPeriod is how often a registered certificate is checked in Konnect again (one LIST).
	SyncPeriod time.Duration
	// CASecret is where the cluster CA is kept (kubernetes.io/tls), in the controller's namespace.
	CASecret types.NamespacedName
	// Tokens resolves auth configurations' tokens.
	Tokens TokenResolver
	// Clock drives the queue's delays, certificate validity and condition timestamps.
	Clock clock.WithTicker
	// MetricsProvider, if set, receives the workqueue's metrics.
	MetricsProvider workqueue.MetricsProvider
}

// Controller keeps KonnectExtensions' certificates provisioned and registered.
type Controller struct {
	kubeClient     kubernetes.Interface
	client         clientset.Interface
	secretMetadata metadata.Getter
	api            konnect.ControlPlaneAPI
	tokens         TokenResolver

	extensions       listersv1alpha2.KonnectExtensionLister
	extensionIndexer cache.Indexer
	controlPlanes    listersv1alpha2.KonnectGatewayControlPlaneLister
	cpIndexer        cache.Indexer
	authConfigs      listersv1alpha1.KonnectAPIAuthConfigurationLister
	certSecrets      corelisters.SecretLister
	caSecrets        corelisters.SecretLister
	cachesSynced     []cache.InformerSynced

	queue workqueue.TypedRateLimitingInterface[cache.ObjectName]
	// konnectBackoff paces retries after Konnect failures per extension (1s..5min); the
	// retry is scheduled with AddAfter at max(backoff, Retry-After).
	konnectBackoff workqueue.TypedRateLimiter[cache.ObjectName]

	broadcaster record.EventBroadcaster
	recorder    record.EventRecorder

	clock      clock.WithTicker
	syncPeriod time.Duration
	caSecret   types.NamespacedName

	// ca is the parsed cluster CA, with the resourceVersion of the Secret it came from.
	caMu      sync.Mutex
	ca        *keyPair
	caVersion string

	// verified remembers, per extension, which certificate was last seen registered in
	// Konnect and when, so that syncs brought by events between re-syncs make no call.
	verifiedMu sync.Mutex
	verified   map[cache.ObjectName]verification
}

type verification struct {
	annotation string
	at         time.Time
}

// NewController builds the reconciler on shared informers.
func NewController(ctx context.Context, clients Clients, inf Informers, api konnect.ControlPlaneAPI, opts Options) (*Controller, error) {
	logger := klog.FromContext(ctx)
	if opts.SyncPeriod <= 0 {
		return nil, fmt.Errorf("sync period must be positive, got %v", opts.SyncPeriod)
	}
	if opts.CASecret.Name == "" || opts.CASecret.Namespace == "" {
		return nil, errors.New("the CA Secret needs a name and a namespace")
	}
	if opts.Tokens == nil {
		return nil, errors.New("a TokenResolver is required")
	}
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}

	// Retries after our own or the apiserver's errors: per extension 1s to 5min; the overall
	// bucket (50/s, burst 500) bounds how fast thousands of failing items come back together.
	rateLimiter := workqueue.NewTypedMaxOfRateLimiter(
		workqueue.NewTypedItemExponentialFailureRateLimiter[cache.ObjectName](time.Second, 5*time.Minute),
		&workqueue.TypedBucketRateLimiter[cache.ObjectName]{Limiter: rate.NewLimiter(rate.Limit(50), 500)},
	)

	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(konnectv1alpha2.AddToScheme(scheme))
	broadcaster := record.NewBroadcaster(record.WithContext(ctx))

	c := &Controller{
		kubeClient:       clients.Kube,
		client:           clients.Konnect,
		api:              api,
		tokens:           opts.Tokens,
		extensions:       inf.Extensions.Lister(),
		extensionIndexer: inf.Extensions.Informer().GetIndexer(),
		controlPlanes:    inf.ControlPlanes.Lister(),
		cpIndexer:        inf.ControlPlanes.Informer().GetIndexer(),
		authConfigs:      inf.AuthConfigs.Lister(),
		certSecrets:      inf.CertSecrets.Lister(),
		caSecrets:        inf.CASecrets.Lister(),
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(rateLimiter,
			workqueue.TypedRateLimitingQueueConfig[cache.ObjectName]{Name: Name, Clock: opts.Clock, MetricsProvider: opts.MetricsProvider}),
		konnectBackoff: workqueue.NewTypedItemExponentialFailureRateLimiter[cache.ObjectName](time.Second, 5*time.Minute),
		broadcaster:    broadcaster,
		recorder:       broadcaster.NewRecorder(scheme, corev1.EventSource{Component: Name}),
		clock:          opts.Clock,
		syncPeriod:     opts.SyncPeriod,
		caSecret:       opts.CASecret,
		verified:       map[cache.ObjectName]verification{},
	}
	if clients.Metadata != nil {
		c.secretMetadata = clients.Metadata.Resource(corev1.SchemeGroupVersion.WithResource("secrets"))
	}

	if err := inf.Extensions.Informer().AddIndexers(cache.Indexers{
		controlPlaneIndex: indexByControlPlane,
		secretIndex:       indexBySecret,
	}); err != nil {
		return nil, fmt.Errorf("adding the extension indexes: %w", err)
	}
	if err := shared.AddControlPlaneAuthRefIndex(inf.ControlPlanes.Informer()); err != nil {
		return nil, err
	}

	changed := func(f func(any)) cache.ResourceEventHandlerFuncs {
		return cache.ResourceEventHandlerFuncs{
			AddFunc: f,
			UpdateFunc: func(old, cur any) {
				// A relist delivers unchanged objects again.
				if old.(metav1.Object).GetResourceVersion() != cur.(metav1.Object).GetResourceVersion() {
					f(cur)
				}
			},
			DeleteFunc: f,
		}
	}
	handlers := []struct {
		informer cache.SharedIndexInformer
		handler  func(any)
		what     string
	}{
		{inf.Extensions.Informer(), c.enqueue, "extensions"},
		{inf.ControlPlanes.Informer(), c.enqueueControlPlaneUsers, "control planes"},
		{inf.AuthConfigs.Informer(), c.enqueueAuthConfigUsers, "auth configurations"},
		{inf.CertSecrets.Informer(), c.enqueueSecretUsers, "certificate Secrets"},
		{inf.CASecrets.Informer(), c.enqueueCAUsers, "the CA Secret"},
	}
	for _, h := range handlers {
		reg, err := h.informer.AddEventHandlerWithOptions(changed(h.handler), cache.HandlerOptions{Logger: &logger})
		if err != nil {
			return nil, fmt.Errorf("watching %s: %w", h.what, err)
		}
		c.cachesSynced = append(c.cachesSynced, reg.HasSynced)
	}
	return c, nil
}

func untombstone(obj any) any {
	if tombstone, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		return tombstone.Obj
	}
	return obj
}

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

func (c *Controller) enqueue(obj any) {
	if o, ok := untombstone(obj).(metav1.Object); ok {
		c.queue.Add(cache.MetaObjectToName(o))
	}
}

func (c *Controller) enqueueIndexed(index, value string) {
	users, err := c.extensionIndexer.ByIndex(index, value)
	if err != nil {
		utilruntime.HandleError(err)
		return
	}
	for _, u := range users {
		c.enqueue(u)
	}
}

// enqueueControlPlaneUsers re-queues exactly the extensions that name a control plane.
func (c *Controller) enqueueControlPlaneUsers(obj any) {
	if o, ok := untombstone(obj).(metav1.Object); ok {
		c.enqueueIndexed(controlPlaneIndex, o.GetNamespace()+"/"+o.GetName())
	}
}

// enqueueAuthConfigUsers re-queues the extensions whose control plane uses an auth configuration.
func (c *Controller) enqueueAuthConfigUsers(obj any) {
	o, ok := untombstone(obj).(metav1.Object)
	if !ok {
		return
	}
	cps, err := c.cpIndexer.ByIndex(shared.ControlPlaneAuthRefIndex, o.GetNamespace()+"/"+o.GetName())
	if err != nil {
		utilruntime.HandleError(err)
		return
	}
	for _, cp := range cps {
		c.enqueueControlPlaneUsers(cp)
	}
}

// enqueueSecretUsers re-queues the extensions that name a certificate Secret (Manual) or own it.
func (c *Controller) enqueueSecretUsers(obj any) {
	o, ok := untombstone(obj).(metav1.Object)
	if !ok {
		return
	}
	c.enqueueIndexed(secretIndex, o.GetNamespace()+"/"+o.GetName())
	if owner := metav1.GetControllerOf(o); owner != nil && owner.Kind == "KonnectExtension" {
		c.queue.Add(cache.ObjectName{Namespace: o.GetNamespace(), Name: owner.Name})
	}
}

// enqueueCAUsers re-queues every Automatic extension when the CA Secret changes: their
// certificates are checked against the CA. A CA change is rare; this is not on a hot path.
func (c *Controller) enqueueCAUsers(obj any) {
	o, ok := untombstone(obj).(metav1.Object)
	if !ok || o.GetNamespace() != c.caSecret.Namespace || o.GetName() != c.caSecret.Name {
		return
	}
	for _, e := range c.extensionIndexer.List() {
		if ext, ok := e.(*konnectv1alpha2.KonnectExtension); ok && !isManual(ext) {
			c.enqueue(ext)
		}
	}
}

// Run waits for the caches, starts workers and blocks until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) error {
	defer utilruntime.HandleCrashWithContext(ctx)
	logger := klog.FromContext(ctx).WithValues("reconciler", Name)
	ctx = klog.NewContext(ctx, logger)

	c.broadcaster.StartStructuredLogging(3)
	c.broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: c.kubeClient.CoreV1().Events("")})
	defer c.broadcaster.Shutdown()

	logger.Info("Starting reconciler", "workers", workers)
	defer logger.Info("Stopped reconciler")

	if !cache.WaitForNamedCacheSyncWithContext(ctx, c.cachesSynced...) {
		c.queue.ShutDown()
		return errors.New("caches did not sync before the extension reconciler was stopped")
	}
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for c.processNextWorkItem(ctx) {
			}
		})
	}
	<-ctx.Done()
	logger.Info("Shutting down: taking no more work")
	c.queue.ShutDown()
	wg.Wait()
	return nil
}

// HasSynced reports whether the informer caches the reconciler reads from are filled.
func (c *Controller) HasSynced() bool {
	for _, synced := range c.cachesSynced {
		if !synced() {
			return false
		}
	}
	return true
}

// result is what one sync asks of the queue.
type result struct {
	// after: look again then (0: only when an event brings it back).
	after time.Duration
	// konnectErr: a Konnect call failed transiently; retry at max(per-key backoff, Retry-After).
	konnectErr error
}

func (c *Controller) processNextWorkItem(ctx context.Context) bool {
	key, quit := c.queue.Get()
	if quit {
		return false
	}
	defer c.queue.Done(key)
	if ctx.Err() != nil {
		return false
	}
	res, err := c.sync(ctx, key)
	c.schedule(ctx, key, res, err)
	return true
}

// schedule is the one place a key's next look is decided.
func (c *Controller) schedule(ctx context.Context, key cache.ObjectName, res result, err error) {
	switch {
	case err != nil && ctx.Err() != nil:
	case err != nil:
		utilruntime.HandleErrorWithContext(ctx, err, "Syncing KonnectExtension failed", "konnectExtension", klog.KRef(key.Namespace, key.Name))
		c.queue.AddRateLimited(key)
	case res.konnectErr != nil:
		c.queue.Forget(key)
		delay := max(c.konnectBackoff.When(key), konnect.RetryAfterOf(res.konnectErr))
		klog.FromContext(ctx).V(2).Info("Konnect call failed; retrying later", "konnectExtension", klog.KRef(key.Namespace, key.Name),
			"err", res.konnectErr.Error(), "after", delay)
		c.queue.AddAfter(key, delay)
	default:
		c.queue.Forget(key)
		c.konnectBackoff.Forget(key)
		if res.after > 0 {
			c.queue.AddAfter(key, res.after)
		}
	}
}
