// Package apiauth validates KonnectAPIAuthConfigurations: it resolves each one's token
// (inline or from a labelled Secret), asks Konnect whether the token is valid, and writes the
// verdict to the resource's status.
package apiauth

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
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/controller/shared"
	clientset "github.com/konnect-auth-controller/konnect-auth-controller/pkg/generated/clientset/versioned"
	configurationinformers "github.com/konnect-auth-controller/konnect-auth-controller/pkg/generated/informers/externalversions/configuration/v1alpha1"
	informers "github.com/konnect-auth-controller/konnect-auth-controller/pkg/generated/informers/externalversions/konnect/v1alpha1"
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
)

// TokenChecker answers what is known about a token without waiting on Konnect
// (konnect.Checker). A VerdictPending answer means a check is on its way; the controller is
// then told through Wake.
type TokenChecker interface {
	Check(token, serverURL string, asker types.NamespacedName) konnect.Result
}

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
	kubeClient kubernetes.Interface
	client     clientset.Interface

	configs       listers.KonnectAPIAuthConfigurationLister
	configIndexer cache.Indexer
	secrets       corelisters.SecretLister
	cachesSynced  []cache.InformerSynced

	// tokens resolves configurations' tokens; its Grants permit cross-namespace references
	// (grants.go), and are not watched without a grant informer.
	tokens  shared.TokenResolver
	checker TokenChecker

	queue workqueue.TypedRateLimitingInterface[cache.ObjectName]

	broadcaster record.EventBroadcaster
	recorder    record.EventRecorder

	clock              clock.WithTicker
	revalidateInterval time.Duration

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
	checker TokenChecker,
	opts Options,
) (*Controller, error) {
	logger := klog.FromContext(ctx)
	if opts.RevalidateInterval <= 0 {
		return nil, fmt.Errorf("revalidate interval must be positive, got %v", opts.RevalidateInterval)
	}
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}

	// This limiter paces only retries after errors of our own or of the apiserver (a status
	// write that failed): Konnect's failures are backed off per token by the TokenChecker,
	// which says when to look again. Per configuration from 1s to 5min, so an apiserver that
	// is down is not hammered; the overall bucket (50/s, burst 500) bounds how fast failing
	// items come back in aggregate when ten thousand fail at once.
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
		tokens:        shared.TokenResolver{Secrets: secretInformer.Lister()},
		checker:       checker,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(rateLimiter,
			workqueue.TypedRateLimitingQueueConfig[cache.ObjectName]{Name: Name, Clock: opts.Clock, MetricsProvider: opts.MetricsProvider}),
		broadcaster:        broadcaster,
		recorder:           broadcaster.NewRecorder(scheme, corev1.EventSource{Component: Name}),
		clock:              opts.Clock,
		revalidateInterval: opts.RevalidateInterval,
	}

	if clients.Metadata != nil {
		c.tokens.SecretMetadata = clients.Metadata.Resource(secretGVR)
	}

	if err := configInformer.Informer().AddIndexers(cache.Indexers{secretRefIndex: indexBySecretRef}); err != nil {
		return nil, fmt.Errorf("adding the Secret index: %w", err)
	}

	configHandler, err := configInformer.Informer().AddEventHandlerWithOptions(cache.ResourceEventHandlerFuncs{
		AddFunc: c.enqueue,
		UpdateFunc: func(old, cur any) {
			// A relist after a broken watch delivers unchanged objects again.
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

// Wake re-queues the configurations that were told a check of their token was pending, now
// that it has ended. It is the TokenChecker's callback and never blocks.
func (c *Controller) Wake(askers []types.NamespacedName) {
	for _, a := range askers {
		c.queue.Add(cache.ObjectName(a))
	}
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

// Run waits for the caches, starts workers and blocks until ctx ends. Then no worker takes
// another item, and no status is written any more (after a lost Lease another replica is
// leading); Run returns once the workers have let go of what they held, which is quick,
// because no sync waits on Konnect.
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

	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() { c.runWorker(ctx) })
	}
	// The in-use finalizers of token Secrets (finalizers.go).
	stopSecretWorkers := c.startSecretWorkers(ctx, workers)
	<-ctx.Done()
	logger.Info("Shutting down: taking no more work")
	// Wakes the workers blocked in Get; items still queued are left to the next leader.
	c.queue.ShutDown()
	wg.Wait()
	stopSecretWorkers()
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

// processNextWorkItem syncs one configuration and, when sync asks for it, schedules the next
// look. It stops once ctx has ended, also for an item it already took: client-go's queue
// hands out queued items until it is shut down, and a replica that lost its Lease must not
// sync beside the new leader.
func (c *Controller) processNextWorkItem(ctx context.Context) bool {
	key, quit := c.queue.Get()
	if quit {
		return false
	}
	defer c.queue.Done(key)
	if ctx.Err() != nil {
		return false
	}

	after, err := c.sync(ctx, key)
	switch {
	case err != nil && ctx.Err() != nil:
		// Cut short by the shutdown; the next leader syncs it.
	case err != nil:
		utilruntime.HandleErrorWithContext(ctx, err, "Syncing KonnectAPIAuthConfiguration failed", "konnectAPIAuthConfiguration", klog.KRef(key.Namespace, key.Name))
		c.queue.AddRateLimited(key)
	default:
		c.queue.Forget(key)
		if after > 0 {
			c.queue.AddAfter(key, after)
		}
	}
	return true
}

// secretGVR is what the metadata client looks up to tell a missing Secret from an unlabelled
// one, and patches the finalizer of a Secret the labelled informer no longer sees.
var secretGVR = corev1.SchemeGroupVersion.WithResource("secrets")

// conditionOf returns the APIAuthValid condition of a configuration, or nil.
func conditionOf(cfg *konnectv1alpha1.KonnectAPIAuthConfiguration) *metav1.Condition {
	return meta.FindStatusCondition(cfg.Status.Conditions, konnectv1alpha1.ConditionAPIAuthValid)
}
