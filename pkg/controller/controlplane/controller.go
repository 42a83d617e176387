// Package controlplane keeps KonnectGatewayControlPlanes in line with Kong Konnect: an Origin
// is created, updated and deleted in Konnect as its spec says; a Mirror is looked up by id and
// never written. Each object's status gives the control plane's id and the endpoints its data
// planes connect to.
package controlplane

import (
	"slices"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"

	configurationv1alpha1 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/configuration/v1alpha1"
	konnectv1alpha1 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha1"
	konnectv1alpha2 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha2"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/controller"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/controller/credentials"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/controller/indexes"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/controller/loop"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/controller/objpatch"
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

	// planeKind is the kind a KongReferenceGrant's from entry names for control planes.
	planeKind = "KonnectGatewayControlPlane"
)

// Controller keeps every KonnectGatewayControlPlane in line with its control plane in Konnect.
type Controller struct {
	api konnect.ControlPlaneAPI

	planes       listers.KonnectGatewayControlPlaneLister
	planeIndexer cache.Indexer
	extIndexer   cache.Indexer
	configs      authlisters.KonnectAPIAuthConfigurationLister

	// creds resolves auth references' grants and tokens (auth.go).
	creds *credentials.Resolver
	// checker says which organization a token belongs to (tokenOrganization); nil in tests.
	checker controller.TokenChecker

	// planeWriter writes control planes' status and cleanup finalizer; configWriter the auth
	// configurations' in-use finalizer (inuse.go).
	planeWriter  objpatch.Writer[*konnectv1alpha2.KonnectGatewayControlPlane]
	configWriter objpatch.Writer[*konnectv1alpha1.KonnectAPIAuthConfiguration]
	events       objpatch.Events

	// loop syncs control planes; inUse keeps the in-use finalizer on auth configurations;
	// resyncs lists each account whose control planes are in line, and queues on loop those
	// that drifted (resync.go).
	loop    *loop.Loop
	inUse   *loop.Loop
	resyncs *loop.Loop

	clock      clock.Clock
	syncPeriod time.Duration

	// created remembers, by object UID, the Konnect id of each control plane this process
	// created or adopted, until the informer brings the status that records it (konnectID).
	// Without it, a sync that runs on the object of our own finalizer patch, before the
	// status write reaches the cache, would see no id and create the control plane twice.
	created sync.Map
	// listings are the latest listings of each account's control planes (listing.go);
	// uncertain remembers, by object UID, the listings.Mark before a create whose answer was
	// lost.
	listings  *listings
	uncertain sync.Map
}

// New builds the reconciler on the context's shared informers: control planes and auth
// configurations, the labelled credential Secrets (token resolution) and, unless the
// controller is confined to one namespace, KongReferenceGrants (without them cross-namespace
// auth references are refused). c.KonnectAPI is already behind the process-wide limiter.
func New(c *controller.Context) (*Controller, error) {
	if err := c.Require(controller.NeedsKonnectSyncPeriod, controller.NeedsKonnectAPI); err != nil {
		return nil, err
	}
	planeInformer := c.CRDInformers.Konnect().V1alpha2().KonnectGatewayControlPlanes()
	configInformer := c.CRDInformers.Konnect().V1alpha1().KonnectAPIAuthConfigurations()
	secretInformer := c.CredentialSecrets.Core().V1().Secrets()
	crd := c.CRDClient

	ctrl := &Controller{
		api:          c.KonnectAPI,
		planes:       planeInformer.Lister(),
		planeIndexer: planeInformer.Informer().GetIndexer(),
		configs:      configInformer.Lister(),
		creds:        c.Credentials,
		checker:      c.TokenChecker,
		planeWriter:  objpatch.NewWriter[*konnectv1alpha2.KonnectGatewayControlPlane](Name, crd.KonnectV1alpha2().KonnectGatewayControlPlanes),
		configWriter: objpatch.NewWriter[*konnectv1alpha1.KonnectAPIAuthConfiguration](Name, crd.KonnectV1alpha1().KonnectAPIAuthConfigurations),
		events:       objpatch.NewEvents(c.Recorder(Name)),
		clock:        c.Clock,
		syncPeriod:   c.KonnectSyncPeriod,
		// A listing serves one sync period (or longer, within its share of --konnect-qps): the
		// account's re-sync compares every control plane in line with it, and the creates and
		// the reconciles of that period look in it.
		listings: newListings(c.KonnectAPI, c.Clock, c.KonnectSyncPeriod, c.KonnectQPS),
	}
	ctrl.loop = c.NewLoop(Name, ctrl.reconcile, loop.Options{LogKey: "konnectGatewayControlPlane", MaxKonnectBackoff: c.KonnectSyncPeriod})
	// An account's key is the hash of its token and server URL, never the token.
	ctrl.resyncs = c.NewLoop(resyncQueueName, ctrl.resync, loop.Options{MaxWorkers: maxResyncWorkers, LogKey: "account",
		MaxKonnectBackoff: c.KonnectSyncPeriod})
	ctrl.resyncs.WaitFor(planeInformer.Informer().HasSynced)
	// The in-use finalizer: every item is at most one small patch, so few workers and a lower
	// overall bucket.
	ctrl.inUse = c.NewLoop(inUseQueueName, ctrl.reconcileInUse, loop.Options{MaxWorkers: maxInUseWorkers, QPS: 20, Burst: 100,
		LogKey: "konnectAPIAuthConfiguration"})

	// The in-use finalizer of an auth configuration is decided from this index too.
	if err := indexes.AddControlPlaneAuthRefIndex(planeInformer.Informer()); err != nil {
		return nil, err
	}
	ctx := c.RootContext

	// Control planes: a change syncs the control plane; a deleted one has nothing left to
	// sync, but its auth configuration may be free of it now.
	planeChanged := indexes.OnChange(indexes.Each(func(obj metav1.Object) { ctrl.loop.Enqueue(obj) }))
	planeChanged.DeleteFunc = nil
	if err := ctrl.loop.Watch(ctx, planeInformer.Informer(), planeChanged); err != nil {
		return nil, err
	}
	// A group sets its members in Konnect: a member's change (its id, organization, region,
	// kind or deletion) re-queues the groups that name it.
	if err := addMembersIndex(planeInformer.Informer()); err != nil {
		return nil, err
	}
	if err := ctrl.loop.Watch(ctx, planeInformer.Informer(), indexes.OnChangeIf(indexes.Each(func(obj metav1.Object) {
		for _, group := range ctrl.groupsOf(obj) {
			ctrl.loop.Enqueue(group)
		}
	}), memberChanged)); err != nil {
		return nil, err
	}
	// The in-use finalizer depends on the reference, the deletion and the cleanup finalizer;
	// status writes do not matter to it.
	if err := ctrl.inUse.Watch(ctx, planeInformer.Informer(), indexes.OnChangeIf(indexes.Each(ctrl.enqueueAuthOf), authUseChanged)); err != nil {
		return nil, err
	}

	// Auth configurations: re-sync the control planes that name one, and decide its in-use
	// finalizer.
	if err := ctrl.loop.Watch(ctx, configInformer.Informer(), indexes.OnChange(indexes.Each(ctrl.enqueueAuthUsers))); err != nil {
		return nil, err
	}
	if err := ctrl.inUse.Watch(ctx, configInformer.Informer(), indexes.OnChange(indexes.Each(ctrl.enqueueInUseCandidate))); err != nil {
		return nil, err
	}
	// Extensions: one holding a registration keeps the configuration its clean-up needs (the
	// one its status recorded) in use, even after its control plane is gone.
	extInformer := c.CRDInformers.Konnect().V1alpha2().KonnectExtensions()
	if err := indexes.AddExtensionAuthRefIndex(extInformer.Informer()); err != nil {
		return nil, err
	}
	ctrl.extIndexer = extInformer.Informer().GetIndexer()
	if err := ctrl.inUse.Watch(ctx, extInformer.Informer(), indexes.OnChange(indexes.Each(func(obj metav1.Object) {
		// Also an extension deleted (its last state has no finalizer any more): the
		// configuration it held may be free now.
		if ref, ok := indexes.RecordedAuthRef(obj.(*konnectv1alpha2.KonnectExtension)); ok {
			ctrl.inUse.Add(ref)
		}
	}))); err != nil {
		return nil, err
	}

	// Secrets are read through the auth configurations, whose status tells of their changes.
	ctrl.loop.WaitFor(secretInformer.Informer().HasSynced)

	if grantInformer := c.GrantInformer(); grantInformer != nil {
		if err := ctrl.loop.Watch(ctx, grantInformer.Informer(), indexes.OnChange(indexes.Each(func(obj metav1.Object) {
			ctrl.eachGrantUser(obj, func(cp *konnectv1alpha2.KonnectGatewayControlPlane, _ cache.ObjectName) { ctrl.loop.Enqueue(cp) })
		}))); err != nil {
			return nil, err
		}
		if err := ctrl.inUse.Watch(ctx, grantInformer.Informer(), indexes.OnChange(indexes.Each(func(obj metav1.Object) {
			ctrl.eachGrantUser(obj, func(_ *konnectv1alpha2.KonnectGatewayControlPlane, ref cache.ObjectName) { ctrl.inUse.Add(ref) })
		}))); err != nil {
			return nil, err
		}
	}
	return ctrl, nil
}

// Loops are the reconciler's work loops: control planes, the auth configurations' in-use
// finalizer, and the accounts' re-syncs.
func (c *Controller) Loops() []*loop.Loop {
	return []*loop.Loop{c.loop, c.inUse, c.resyncs}
}

func hasCleanupFinalizer(cp *konnectv1alpha2.KonnectGatewayControlPlane) bool {
	return slices.Contains(cp.Finalizers, konnectv1alpha2.KonnectCleanupFinalizer)
}

// authUseChanged reports whether an update of a control plane can change whether it uses its
// auth configuration.
func authUseChanged(old, cur metav1.Object) bool {
	o, n := old.(*konnectv1alpha2.KonnectGatewayControlPlane), cur.(*konnectv1alpha2.KonnectGatewayControlPlane)
	return o.Generation != n.Generation || (o.DeletionTimestamp == nil) != (n.DeletionTimestamp == nil) ||
		hasCleanupFinalizer(o) != hasCleanupFinalizer(n)
}

// enqueueAuthOf queues, for its in-use finalizer, the auth configuration a control plane names.
func (c *Controller) enqueueAuthOf(obj metav1.Object) {
	if cp, ok := obj.(*konnectv1alpha2.KonnectGatewayControlPlane); ok {
		if ref, ok := indexes.ControlPlaneAuthRef(cp); ok {
			c.inUse.Add(ref)
		}
	}
}

// enqueueInUseCandidate queues an auth configuration for its in-use finalizer when there is
// something to decide: it carries the finalizer, or a control plane or an extension names it.
// For any other the decision is "no finalizer" and changes nothing; the first user's own event
// queues it. (Queueing every configuration would hold all of them in the queue at start, and
// again on every status write: at a hundred thousand configurations that no control plane
// names, memory and work for nothing.)
func (c *Controller) enqueueInUseCandidate(cfg metav1.Object) {
	key := cache.MetaObjectToName(cfg)
	if slices.Contains(cfg.GetFinalizers(), konnectv1alpha2.APIAuthInUseFinalizer) ||
		indexed(c.planeIndexer, indexes.ControlPlaneAuthRefIndex, key) || indexed(c.extIndexer, indexes.ExtensionAuthRefIndex, key) {
		c.inUse.Add(key)
	}
}

// indexed reports whether any object is filed under key in the index (true when the index
// cannot tell: then the reconcile decides).
func indexed(indexer cache.Indexer, index string, key cache.ObjectName) bool {
	keys, err := indexer.IndexKeys(index, key.String())
	return err != nil || len(keys) > 0
}

// enqueueAuthUsers re-queues the control planes that name an auth configuration that was
// created, changed or deleted.
func (c *Controller) enqueueAuthUsers(cfg metav1.Object) {
	users, err := c.planeIndexer.ByIndex(indexes.ControlPlaneAuthRefIndex, cache.MetaObjectToName(cfg).String())
	if err != nil {
		utilruntime.HandleError(err)
		return
	}
	for _, user := range users {
		c.loop.Enqueue(user)
	}
}

// eachGrantUser calls f with the control planes that a version of a grant can affect, and the
// auth configurations they name (whose in-use finalizer depends on the grant): those in a
// namespace its from entries name whose auth configuration is in the grant's namespace.
func (c *Controller) eachGrantUser(obj metav1.Object, f func(cp *konnectv1alpha2.KonnectGatewayControlPlane, ref cache.ObjectName)) {
	grant, ok := obj.(*configurationv1alpha1.KongReferenceGrant)
	if !ok {
		return
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
			if ref, ok := indexes.ControlPlaneAuthRef(cp); ok && ref.Namespace == grant.Namespace && ref.Namespace != cp.Namespace {
				f(cp, ref)
			}
		}
	}
}
