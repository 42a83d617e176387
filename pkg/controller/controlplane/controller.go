// Package controlplane keeps KonnectGatewayControlPlanes in line with Kong Konnect: an Origin
// is created, updated and deleted in Konnect as its spec says; a Mirror is looked up by id and
// never written. Each object's status gives the control plane's id and the endpoints its data
// planes connect to.
package controlplane

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"

	"golang.org/x/time/rate"

	configurationv1alpha1 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/configuration/v1alpha1"
	konnectv1alpha1 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha1"
	konnectv1alpha2 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha2"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/controller/shared"
	clientset "github.com/konnect-auth-controller/konnect-auth-controller/pkg/generated/clientset/versioned"
	configurationinformers "github.com/konnect-auth-controller/konnect-auth-controller/pkg/generated/informers/externalversions/configuration/v1alpha1"
	authinformers "github.com/konnect-auth-controller/konnect-auth-controller/pkg/generated/informers/externalversions/konnect/v1alpha1"
	informers "github.com/konnect-auth-controller/konnect-auth-controller/pkg/generated/informers/externalversions/konnect/v1alpha2"
	authlisters "github.com/konnect-auth-controller/konnect-auth-controller/pkg/generated/listers/konnect/v1alpha1"
	listers "github.com/konnect-auth-controller/konnect-auth-controller/pkg/generated/listers/konnect/v1alpha2"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/konnect"
)

const (
	// Name is the reconciler's name: its workqueue, event source and field manager.
	Name = "konnect-controlplanes"

	// syncJitter spreads re-syncs over [period, period×1.1), so that control planes created
	// together do not all ask Konnect in the same second.
	syncJitter = 0.1

	// conflictRetryDelay is how long to wait after a write that lost a race with another
	// writer: the informer brings the newer object meanwhile.
	conflictRetryDelay = 250 * time.Millisecond
)

// Options are the reconciler's tunables.
type Options struct {
	// SyncPeriod is how often every control plane is compared with Konnect again (with up to
	// 10% jitter); an unchanged one costs one GET.
	SyncPeriod time.Duration
	// Clock drives the queues' delays and condition timestamps; tests pass a fake one.
	Clock clock.WithTicker
	// MetricsProvider, if set, receives the workqueues' metrics.
	MetricsProvider workqueue.MetricsProvider
}

// Clients are the API clients the reconciler uses.
type Clients struct {
	// Kube records events.
	Kube kubernetes.Interface
	// Konnect writes control planes' status and finalizers, and auth configurations' in-use
	// finalizer.
	Konnect clientset.Interface
	// Metadata, if set, lets token resolution tell an unlabelled Secret from a missing one.
	Metadata metadata.Interface
}

// Controller keeps every KonnectGatewayControlPlane in line with its control plane in Konnect.
type Controller struct {
	kubeClient kubernetes.Interface
	client     clientset.Interface
	api        konnect.ControlPlaneAPI

	planes       listers.KonnectGatewayControlPlaneLister
	planeIndexer cache.Indexer
	configs      authlisters.KonnectAPIAuthConfigurationLister
	cachesSynced []cache.InformerSynced

	// auth resolves auth references and tokens (auth.go).
	auth authResolver

	queue workqueue.TypedRateLimitingInterface[cache.ObjectName]
	// konnectBackoff paces retries after transient Konnect failures, per control plane, from
	// 1s to 5min; Konnect's Retry-After is honoured on top of it. It is apart from the
	// queue's own limiter, which paces retries after apiserver errors.
	konnectBackoff workqueue.TypedRateLimiter[cache.ObjectName]
	// inUse keeps the in-use finalizer on auth configurations (inuse.go).
	inUse workqueue.TypedRateLimitingInterface[cache.ObjectName]

	broadcaster record.EventBroadcaster
	recorder    record.EventRecorder

	clock      clock.WithTicker
	syncPeriod time.Duration

	// created remembers, by object UID, the Konnect id of each control plane this process
	// created or adopted, until the informer brings the status that records it (konnectID).
	// Without it, a sync that runs on the object of our own finalizer patch, before the
	// status write reaches the cache, would see no id and create the control plane twice.
	created sync.Map
}

// NewController builds the reconciler on shared informers. The Secret informer must be
// restricted to Secrets labelled konghq.com/credential=konnect (token resolution);
// grantInformer may be nil (a controller confined to one namespace): then cross-namespace
// auth references are refused. api is the Konnect client, already behind the process-wide
// limiter (konnect.WithLimiter).
func NewController(
	ctx context.Context,
	clients Clients,
	planeInformer informers.KonnectGatewayControlPlaneInformer,
	configInformer authinformers.KonnectAPIAuthConfigurationInformer,
	secretInformer coreinformers.SecretInformer,
	grantInformer configurationinformers.KongReferenceGrantInformer,
	api konnect.ControlPlaneAPI,
	opts Options,
) (*Controller, error) {
	logger := klog.FromContext(ctx)
	if opts.SyncPeriod <= 0 {
		return nil, fmt.Errorf("sync period must be positive, got %v", opts.SyncPeriod)
	}
	if api == nil {
		return nil, errors.New("a Konnect client is required")
	}
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}

	// Retries after errors of our own or of the apiserver: per control plane from 1s to
	// 5min, so an apiserver that is down is not hammered; the overall bucket (50/s, burst
	// 500) bounds how fast failing items come back in aggregate.
	rateLimiter := workqueue.NewTypedMaxOfRateLimiter(
		workqueue.NewTypedItemExponentialFailureRateLimiter[cache.ObjectName](time.Second, 5*time.Minute),
		&workqueue.TypedBucketRateLimiter[cache.ObjectName]{Limiter: rate.NewLimiter(rate.Limit(50), 500)},
	)
	// The in-use finalizer: the same per-item backoff, a lower bucket, as every item is at
	// most one small patch.
	inUseLimiter := workqueue.NewTypedMaxOfRateLimiter(
		workqueue.NewTypedItemExponentialFailureRateLimiter[cache.ObjectName](time.Second, 5*time.Minute),
		&workqueue.TypedBucketRateLimiter[cache.ObjectName]{Limiter: rate.NewLimiter(rate.Limit(20), 100)},
	)

	// A private scheme: the recorder must resolve our kind without touching client-go's.
	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(konnectv1alpha2.AddToScheme(scheme))
	broadcaster := record.NewBroadcaster(record.WithContext(ctx))

	c := &Controller{
		kubeClient:     clients.Kube,
		client:         clients.Konnect,
		api:            api,
		planes:         planeInformer.Lister(),
		planeIndexer:   planeInformer.Informer().GetIndexer(),
		configs:        configInformer.Lister(),
		auth:           newAuthResolver(clients, secretInformer, grantInformer),
		konnectBackoff: workqueue.NewTypedItemExponentialFailureRateLimiter[cache.ObjectName](time.Second, 5*time.Minute),
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(rateLimiter,
			workqueue.TypedRateLimitingQueueConfig[cache.ObjectName]{Name: Name, Clock: opts.Clock, MetricsProvider: opts.MetricsProvider}),
		inUse: workqueue.NewTypedRateLimitingQueueWithConfig(inUseLimiter,
			workqueue.TypedRateLimitingQueueConfig[cache.ObjectName]{Name: inUseQueueName, Clock: opts.Clock, MetricsProvider: opts.MetricsProvider}),
		broadcaster: broadcaster,
		recorder:    broadcaster.NewRecorder(scheme, corev1.EventSource{Component: Name}),
		clock:       opts.Clock,
		syncPeriod:  opts.SyncPeriod,
	}

	// The in-use finalizer of an auth configuration is decided from this index too.
	if err := shared.AddControlPlaneAuthRefIndex(planeInformer.Informer()); err != nil {
		return nil, err
	}
	planeHandler, err := planeInformer.Informer().AddEventHandlerWithOptions(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			c.enqueue(obj)
			c.enqueueAuthOf(obj)
		},
		UpdateFunc: func(old, cur any) {
			o, n := old.(*konnectv1alpha2.KonnectGatewayControlPlane), cur.(*konnectv1alpha2.KonnectGatewayControlPlane)
			// A relist after a broken watch delivers unchanged objects again.
			if o.ResourceVersion != n.ResourceVersion {
				c.enqueue(cur)
			}
			// The in-use finalizer depends on the reference, the deletion and the cleanup
			// finalizer; status writes do not matter to it.
			if o.Generation != n.Generation || (o.DeletionTimestamp == nil) != (n.DeletionTimestamp == nil) ||
				hasCleanupFinalizer(o) != hasCleanupFinalizer(n) {
				c.enqueueAuthOf(old)
				c.enqueueAuthOf(cur)
			}
		},
		// A deleted control plane has nothing left to sync; its auth configuration may be
		// free of it now.
		DeleteFunc: c.enqueueAuthOf,
	}, cache.HandlerOptions{Logger: &logger})
	if err != nil {
		return nil, fmt.Errorf("watching control planes: %w", err)
	}

	configHandler, err := configInformer.Informer().AddEventHandlerWithOptions(cache.ResourceEventHandlerFuncs{
		AddFunc: c.enqueueAuthUsers,
		UpdateFunc: func(old, cur any) {
			if old.(metav1.Object).GetResourceVersion() != cur.(metav1.Object).GetResourceVersion() {
				c.enqueueAuthUsers(cur)
			}
		},
		DeleteFunc: c.enqueueAuthUsers,
	}, cache.HandlerOptions{Logger: &logger})
	if err != nil {
		return nil, fmt.Errorf("watching auth configurations: %w", err)
	}
	c.cachesSynced = []cache.InformerSynced{planeHandler.HasSynced, configHandler.HasSynced, secretInformer.Informer().HasSynced}

	if grantInformer != nil {
		grantHandler, err := grantInformer.Informer().AddEventHandlerWithOptions(shared.OnChange(c.enqueueGrantUsers), cache.HandlerOptions{Logger: &logger})
		if err != nil {
			return nil, fmt.Errorf("watching KongReferenceGrants: %w", err)
		}
		c.cachesSynced = append(c.cachesSynced, grantHandler.HasSynced)
	}
	return c, nil
}

func hasCleanupFinalizer(cp *konnectv1alpha2.KonnectGatewayControlPlane) bool {
	return slices.Contains(cp.Finalizers, konnectv1alpha2.KonnectCleanupFinalizer)
}

func (c *Controller) enqueue(obj any) {
	c.queue.Add(cache.MetaObjectToName(obj.(metav1.Object)))
}

// enqueueAuthOf queues, for its in-use finalizer, the auth configuration a control plane (or
// its tombstone) names.
func (c *Controller) enqueueAuthOf(obj any) {
	if tombstone, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tombstone.Obj
	}
	if cp, ok := obj.(*konnectv1alpha2.KonnectGatewayControlPlane); ok {
		if ref, ok := shared.ControlPlaneAuthRef(cp); ok {
			c.inUse.Add(ref)
		}
	}
}

// enqueueAuthUsers re-queues the control planes that name an auth configuration that was
// created, changed or deleted, and the configuration itself for its in-use finalizer.
func (c *Controller) enqueueAuthUsers(obj any) {
	if tombstone, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tombstone.Obj
	}
	cfg, ok := obj.(metav1.Object)
	if !ok {
		return
	}
	key := cache.MetaObjectToName(cfg)
	c.inUse.Add(key)
	users, err := c.planeIndexer.ByIndex(shared.ControlPlaneAuthRefIndex, key.String())
	if err != nil {
		utilruntime.HandleError(err)
		return
	}
	for _, user := range users {
		c.enqueue(user)
	}
}

// enqueueGrantUsers re-queues the control planes that a version of a grant can affect: those
// in a namespace its from entries name whose auth configuration is in the grant's namespace,
// and their auth configurations (whose in-use finalizer depends on the grant).
func (c *Controller) enqueueGrantUsers(objs ...any) {
	for _, obj := range objs {
		if tombstone, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = tombstone.Obj
		}
		grant, ok := obj.(*configurationv1alpha1.KongReferenceGrant)
		if !ok {
			continue
		}
		for _, from := range grant.Spec.From {
			if from.Group != konnectv1alpha2.GroupName || from.Kind != planeKind {
				continue
			}
			objs, err := c.planeIndexer.ByIndex(cache.NamespaceIndex, string(from.Namespace))
			if err != nil {
				utilruntime.HandleError(err)
				continue
			}
			for _, o := range objs {
				cp := o.(*konnectv1alpha2.KonnectGatewayControlPlane)
				if ref, ok := shared.ControlPlaneAuthRef(cp); ok && ref.Namespace == grant.Namespace && ref.Namespace != cp.Namespace {
					c.enqueue(cp)
					c.inUse.Add(ref)
				}
			}
		}
	}
}

// Run waits for the caches, starts workers and blocks until ctx ends; then no worker takes
// another item, and Run returns once they have let go of what they held.
func (c *Controller) Run(ctx context.Context, workers int) error {
	defer utilruntime.HandleCrashWithContext(ctx)
	logger := klog.FromContext(ctx).WithName("controlplane")
	ctx = klog.NewContext(ctx, logger)

	c.broadcaster.StartStructuredLogging(3)
	c.broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: c.kubeClient.CoreV1().Events("")})
	defer c.broadcaster.Shutdown()

	logger.Info("Starting control-plane reconciler", "workers", workers)
	defer logger.Info("Stopped control-plane reconciler")

	if !cache.WaitForNamedCacheSyncWithContext(ctx, c.cachesSynced...) {
		c.queue.ShutDown()
		c.inUse.ShutDown()
		return errors.New("caches did not sync before the control-plane reconciler was stopped")
	}

	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for c.processNextWorkItem(ctx) {
			}
		})
	}
	for range min(workers, maxInUseWorkers) {
		wg.Go(func() {
			for c.processNextAuthConfig(ctx) {
			}
		})
	}
	<-ctx.Done()
	logger.Info("Shutting down: taking no more work")
	c.queue.ShutDown()
	c.inUse.ShutDown()
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

// processNextWorkItem syncs one control plane and schedules its next look. It stops once ctx
// has ended, also for an item it already took: a replica that lost its Lease must not write
// beside the new leader.
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
		utilruntime.HandleErrorWithContext(ctx, err, "Syncing KonnectGatewayControlPlane failed", "konnectGatewayControlPlane", klog.KRef(key.Namespace, key.Name))
		c.queue.AddRateLimited(key)
	default:
		c.queue.Forget(key)
		if after > 0 {
			c.queue.AddAfter(key, after)
		}
	}
	return true
}

// planeKind is the kind a KongReferenceGrant's from entry names for control planes.
const planeKind = "KonnectGatewayControlPlane"

var _ = konnectv1alpha1.ConditionAPIAuthValid
