// Package controller validates KonnectAPIAuthConfigurations: it resolves each one's token
// (inline or from a labelled Secret), asks Konnect whether the token is valid, and writes the
// verdict to the resource's status.
package controller

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
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
	clientset "github.com/konnect-auth-controller/konnect-auth-controller/pkg/generated/clientset/versioned"
	configurationinformers "github.com/konnect-auth-controller/konnect-auth-controller/pkg/generated/informers/externalversions/configuration/v1alpha1"
	informers "github.com/konnect-auth-controller/konnect-auth-controller/pkg/generated/informers/externalversions/konnect/v1alpha1"
	configurationlisters "github.com/konnect-auth-controller/konnect-auth-controller/pkg/generated/listers/configuration/v1alpha1"
	listers "github.com/konnect-auth-controller/konnect-auth-controller/pkg/generated/listers/konnect/v1alpha1"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/konnect"
)

const (
	// Name is the controller's name: its workqueue, event source and field manager.
	Name = "konnect-auth-controller"

	// secretRefIndex indexes configurations by the "namespace/name" of the Secret they name,
	// so that a Secret event re-queues exactly the configurations that use it.
	secretRefIndex = "secretRef"

	// revalidateJitter spreads re-validations over [interval, interval×1.1) so that ten
	// thousand configurations created together do not all re-check in the same second.
	revalidateJitter = 0.1

	// conflictRetryDelay is how long to wait before syncing again after a write that lost a
	// race with another writer: the informer brings the newer object meanwhile.
	conflictRetryDelay = 250 * time.Millisecond

	// shutdownGrace bounds how long syncs in flight may run on after shutdown begins.
	shutdownGrace = 15 * time.Second
)

// Options are the controller's tunables.
type Options struct {
	// RevalidateInterval is how often every verdict is checked again with Konnect.
	RevalidateInterval time.Duration
	// Clock drives the queue's delays and condition timestamps; tests pass a fake one.
	Clock clock.WithTicker
	// MetricsProvider, if set, receives the workqueue's metrics.
	MetricsProvider workqueue.MetricsProvider
}

// Clients are the API clients the controller uses.
type Clients struct {
	// Kube records events.
	Kube kubernetes.Interface
	// Konnect writes configurations' status.
	Konnect clientset.Interface
	// Metadata, if set, tells a Secret that lacks the credential label from a missing one,
	// reading metadata only. Without it both are reported as not found.
	Metadata metadata.Interface
}

// Controller keeps the status of every KonnectAPIAuthConfiguration in line with what Konnect
// says about its token.
type Controller struct {
	kubeClient     kubernetes.Interface
	client         clientset.Interface
	secretMetadata metadata.Getter

	configs       listers.KonnectAPIAuthConfigurationLister
	configIndexer cache.Indexer
	secrets       corelisters.SecretLister
	cachesSynced  []cache.InformerSynced

	validator konnect.Validator

	rateLimiter workqueue.TypedRateLimiter[cache.ObjectName]
	queue       workqueue.TypedRateLimitingInterface[cache.ObjectName]

	broadcaster record.EventBroadcaster
	recorder    record.EventRecorder

	clock              clock.WithTicker
	revalidateInterval time.Duration

	// grants permit cross-namespace references (grants.go); nil when not watched.
	grants configurationlisters.KongReferenceGrantLister
	// finalizers keeps the in-use finalizer on token Secrets (finalizers.go).
	finalizers secretFinalizers
}

// NewController builds a controller on shared informers for configurations and for Secrets.
// The Secret informer must be restricted to Secrets labelled konghq.com/credential=konnect:
// those are the only Secrets a configuration may reference. grantInformer may be nil (a
// controller confined to one namespace): then cross-namespace references are refused.
func NewController(
	ctx context.Context,
	clients Clients,
	configInformer informers.KonnectAPIAuthConfigurationInformer,
	secretInformer coreinformers.SecretInformer,
	grantInformer configurationinformers.KongReferenceGrantInformer,
	validator konnect.Validator,
	opts Options,
) (*Controller, error) {
	logger := klog.FromContext(ctx)
	if opts.RevalidateInterval <= 0 {
		return nil, fmt.Errorf("revalidate interval must be positive, got %v", opts.RevalidateInterval)
	}
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}

	// Failures back off per configuration from 1s to 5min: a Konnect outage costs a handful
	// of calls per configuration per hour rather than a tight loop. The overall bucket
	// (50/s, burst 500) bounds how fast failing items come back in aggregate, so that ten
	// thousand configurations failing at once do not flood the apiserver with retries.
	rateLimiter := workqueue.NewTypedMaxOfRateLimiter(
		workqueue.NewTypedItemExponentialFailureRateLimiter[cache.ObjectName](time.Second, 5*time.Minute),
		&workqueue.TypedBucketRateLimiter[cache.ObjectName]{Limiter: rate.NewLimiter(rate.Limit(50), 500)},
	)

	// A private scheme: the recorder must resolve our kind, and registering it in the
	// global client-go scheme would leak into every other user of that package.
	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(konnectv1alpha1.AddToScheme(scheme))
	broadcaster := record.NewBroadcaster(record.WithContext(ctx))

	c := &Controller{
		kubeClient:    clients.Kube,
		client:        clients.Konnect,
		configs:       configInformer.Lister(),
		configIndexer: configInformer.Informer().GetIndexer(),
		secrets:       secretInformer.Lister(),
		validator:     validator,
		rateLimiter:   rateLimiter,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(rateLimiter,
			workqueue.TypedRateLimitingQueueConfig[cache.ObjectName]{Name: Name, Clock: opts.Clock, MetricsProvider: opts.MetricsProvider}),
		broadcaster:        broadcaster,
		recorder:           broadcaster.NewRecorder(scheme, corev1.EventSource{Component: Name}),
		clock:              opts.Clock,
		revalidateInterval: opts.RevalidateInterval,
	}

	if clients.Metadata != nil {
		c.secretMetadata = clients.Metadata.Resource(secretGVR)
	}

	if err := configInformer.Informer().AddIndexers(cache.Indexers{secretRefIndex: indexBySecretRef}); err != nil {
		return nil, fmt.Errorf("adding the Secret index: %w", err)
	}

	configHandler, err := configInformer.Informer().AddEventHandlerWithOptions(cache.ResourceEventHandlerFuncs{
		AddFunc: c.enqueue,
		UpdateFunc: func(old, cur any) {
			// Periodic resyncs deliver the same version again; nothing changed.
			if old.(metav1.Object).GetResourceVersion() != cur.(metav1.Object).GetResourceVersion() {
				c.enqueue(cur)
			}
		},
		// A deleted configuration's only clean-up, its Secret's finalizer, is done by the
		// handler in finalizers.go.
	}, cache.HandlerOptions{Logger: &logger})
	if err != nil {
		return nil, fmt.Errorf("watching configurations: %w", err)
	}

	secretHandler, err := secretInformer.Informer().AddEventHandlerWithOptions(cache.ResourceEventHandlerFuncs{
		AddFunc: c.enqueueSecretUsers,
		UpdateFunc: func(old, cur any) {
			if old.(metav1.Object).GetResourceVersion() != cur.(metav1.Object).GetResourceVersion() {
				c.enqueueSecretUsers(cur)
			}
		},
		DeleteFunc: c.enqueueSecretUsers,
	}, cache.HandlerOptions{Logger: &logger})
	if err != nil {
		return nil, fmt.Errorf("watching Secrets: %w", err)
	}
	c.cachesSynced = []cache.InformerSynced{configHandler.HasSynced, secretHandler.HasSynced}

	// Cross-namespace references through KongReferenceGrants, and the in-use finalizer of
	// token Secrets: grants.go and finalizers.go.
	usageSynced, err := c.watchSecretUsage(ctx, clients, configInformer, secretInformer, opts)
	if err != nil {
		return nil, err
	}
	c.cachesSynced = append(c.cachesSynced, usageSynced...)
	grantsSynced, err := c.watchGrants(ctx, grantInformer)
	if err != nil {
		return nil, err
	}
	if grantsSynced != nil {
		c.cachesSynced = append(c.cachesSynced, grantsSynced)
	}
	return c, nil
}

// indexBySecretRef returns the "namespace/name" of the Secret a configuration takes its token
// from, if any.
func indexBySecretRef(obj any) ([]string, error) {
	cfg, ok := obj.(*konnectv1alpha1.KonnectAPIAuthConfiguration)
	if !ok || cfg.Spec.Type != konnectv1alpha1.KonnectAPIAuthTypeSecretRef || cfg.Spec.SecretRef == nil {
		return nil, nil
	}
	ns := cfg.Spec.SecretRef.Namespace
	if ns == "" {
		ns = cfg.Namespace
	}
	return []string{ns + "/" + cfg.Spec.SecretRef.Name}, nil
}

func (c *Controller) enqueue(obj any) {
	c.queue.Add(cache.MetaObjectToName(obj.(metav1.Object)))
}

// enqueueSecretUsers re-queues the configurations that name a Secret that was created,
// changed or deleted.
func (c *Controller) enqueueSecretUsers(obj any) {
	if tombstone, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tombstone.Obj
	}
	secret, ok := obj.(metav1.Object)
	if !ok {
		return
	}
	users, err := c.configIndexer.ByIndex(secretRefIndex, secret.GetNamespace()+"/"+secret.GetName())
	if err != nil {
		utilruntime.HandleError(err)
		return
	}
	for _, user := range users {
		c.enqueue(user)
	}
}

// Run waits for the caches, starts workers and blocks until ctx ends; then it stops taking
// work, waits for the workers to finish what they hold, and returns.
func (c *Controller) Run(ctx context.Context, workers int) error {
	defer utilruntime.HandleCrashWithContext(ctx)
	logger := klog.FromContext(ctx)

	c.broadcaster.StartStructuredLogging(3)
	c.broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: c.kubeClient.CoreV1().Events("")})
	defer c.broadcaster.Shutdown()

	logger.Info("Starting controller", "workers", workers)
	defer logger.Info("Stopped controller")

	if !cache.WaitForNamedCacheSyncWithContext(ctx, c.cachesSynced...) {
		c.queue.ShutDown()
		return errors.New("caches did not sync before the controller was stopped")
	}

	// Syncs run on a context that outlives ctx by at most shutdownGrace, so that a sync in
	// flight at shutdown finishes its status write instead of being cut off half-way, while a
	// hung call cannot hold the process up for long.
	syncCtx, cancelSyncs := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelSyncs()

	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() { c.runWorker(syncCtx) })
	}
	// The in-use finalizers of token Secrets (finalizers.go).
	drainSecretWorkers := c.startSecretWorkers(syncCtx, workers)
	<-ctx.Done()
	logger.Info("Shutting down: finishing the syncs in flight", "grace", shutdownGrace)
	grace := time.AfterFunc(shutdownGrace, cancelSyncs)
	defer grace.Stop()
	// ShutDownWithDrain waits until every item a worker holds is Done; items still waiting
	// are dropped and picked up again by the next instance.
	c.queue.ShutDownWithDrain()
	wg.Wait()
	drainSecretWorkers()
	return nil
}

// Lister returns the configurations the controller sees, for metrics.
func (c *Controller) Lister() listers.KonnectAPIAuthConfigurationLister { return c.configs }

// HasSynced reports whether the informer caches the controller reads from are filled.
func (c *Controller) HasSynced() bool {
	for _, synced := range c.cachesSynced {
		if !synced() {
			return false
		}
	}
	return true
}

func (c *Controller) runWorker(ctx context.Context) {
	for c.processNextWorkItem(ctx) {
	}
}

// processNextWorkItem syncs one configuration and decides when it is looked at next.
func (c *Controller) processNextWorkItem(ctx context.Context) bool {
	key, quit := c.queue.Get()
	if quit {
		return false
	}
	defer c.queue.Done(key)

	next, err := c.sync(ctx, key)
	switch {
	case err != nil:
		utilruntime.HandleErrorWithContext(ctx, err, "Syncing KonnectAPIAuthConfiguration failed", "konnectAPIAuthConfiguration", klog.KRef(key.Namespace, key.Name))
		c.queue.AddRateLimited(key)
	case next.retry:
		// Konnect could not answer: back off per configuration, but never call again before
		// the time a 429's Retry-After named.
		delay := c.rateLimiter.When(key)
		if next.after > delay {
			delay = next.after
		}
		c.queue.AddAfter(key, delay)
	case next.after > 0:
		c.queue.Forget(key)
		c.queue.AddAfter(key, next.after)
	default:
		c.queue.Forget(key)
	}
	return true
}

// requeue says when sync wants to see a configuration again.
type requeue struct {
	// retry: the check failed transiently; back off (at least by after).
	retry bool
	// after: look again after this long (re-validation, or a lost write race).
	after time.Duration
}

// revalidateAfter is when a settled verdict is checked again.
func (c *Controller) revalidateAfter() requeue {
	return requeue{after: wait.Jitter(c.revalidateInterval, revalidateJitter)}
}

// conditionOf returns the APIAuthValid condition of a configuration, or nil.
func conditionOf(cfg *konnectv1alpha1.KonnectAPIAuthConfiguration) *metav1.Condition {
	return meta.FindStatusCondition(cfg.Status.Conditions, konnectv1alpha1.ConditionAPIAuthValid)
}
