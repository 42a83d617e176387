// Package apiauth validates KonnectAPIAuthConfigurations: it resolves each one's token
// (inline or from a labelled Secret), asks Konnect whether the token is valid, and writes the
// verdict to the resource's status. It also keeps the in-use finalizer on token Secrets
// (finalizers.go) and the ResolvedRefs condition of cross-namespace references (grants.go).
package apiauth

import (
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"

	konnectv1alpha1 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha1"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/controller"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/controller/credentials"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/controller/indexes"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/controller/loop"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/controller/objpatch"
	listers "github.com/konnect-auth-controller/konnect-auth-controller/pkg/generated/listers/konnect/v1alpha1"
)

const (
	// Name is the controller's name: its queue, event source and field manager.
	Name = "konnect-auth-controller"

	// secretRefIndex indexes configurations by the "namespace/name" of the Secret they name,
	// so that a Secret event re-queues exactly the configurations that use it.
	secretRefIndex = "secretRef"

	// revalidateJitter spreads re-validations over [interval, interval×1.1) so that ten
	// thousand configurations created together do not all re-check in the same second.
	revalidateJitter = 0.1
)

// Controller keeps the status of every KonnectAPIAuthConfiguration in line with what Konnect
// says about its token.
type Controller struct {
	configs       listers.KonnectAPIAuthConfigurationLister
	configIndexer cache.Indexer
	secrets       indexes.CredentialSecretLister

	// tokens resolves configurations' tokens; its Grants permit cross-namespace references.
	tokens  *credentials.Resolver
	checker controller.TokenChecker

	loop   *loop.Loop
	status objpatch.Writer[*konnectv1alpha1.KonnectAPIAuthConfiguration]
	events objpatch.Events

	clock              clock.WithTicker
	revalidateInterval time.Duration

	// finalizers keeps the in-use finalizer on token Secrets (finalizers.go).
	finalizers secretFinalizers
}

// New builds the controller on the shared informers of configurations, labelled Secrets and
// (unless confined to a namespace) KongReferenceGrants.
func New(c *controller.Context) (*Controller, error) {
	if err := c.Require(controller.NeedsRevalidateInterval, controller.NeedsTokenChecker); err != nil {
		return nil, err
	}
	configInformer := c.CRDInformers.Konnect().V1alpha1().KonnectAPIAuthConfigurations()
	secretInformer := c.CredentialSecrets.Core().V1().Secrets()
	ctrl := &Controller{
		configs:       configInformer.Lister(),
		configIndexer: configInformer.Informer().GetIndexer(),
		secrets:       indexes.NewCredentialSecretLister(secretInformer.Informer().GetIndexer()),
		tokens:        c.Credentials,
		checker:       c.TokenChecker,
		status:        objpatch.NewWriter[*konnectv1alpha1.KonnectAPIAuthConfiguration](Name, c.CRDClient.KonnectV1alpha1().KonnectAPIAuthConfigurations),
		// An Event when a verdict turns False or recovers; none per sync, none for a first True.
		events:             objpatch.NewEvents(c.Recorder(Name), konnectv1alpha1.ConditionAPIAuthValid),
		clock:              c.Clock,
		revalidateInterval: c.RevalidateInterval,
	}
	// Konnect's failures are backed off per token by the TokenChecker, which says when to look
	// again; the loop's own backoff paces only our errors and the apiserver's.
	ctrl.loop = c.NewLoop(Name, ctrl.reconcile, loop.Options{LogKey: "konnectAPIAuthConfiguration"})

	if err := configInformer.Informer().AddIndexers(cache.Indexers{
		secretRefIndex:         indexBySecretRef,
		crossNamespaceRefIndex: indexByCrossNamespaceRef,
	}); err != nil {
		return nil, fmt.Errorf("adding the configuration indexes: %w", err)
	}
	configs := indexes.OnChange(indexes.Each(func(cfg metav1.Object) { ctrl.loop.Enqueue(cfg) }))
	// A deleted configuration's only clean-up, its Secret's finalizer, is the Secret loop's.
	configs.DeleteFunc = nil
	if err := ctrl.loop.Watch(c.RootContext, configInformer.Informer(), configs); err != nil {
		return nil, err
	}
	if err := ctrl.loop.Watch(c.RootContext, secretInformer.Informer(), indexes.OnChange(indexes.Each(ctrl.enqueueSecretUsers))); err != nil {
		return nil, err
	}
	if err := ctrl.watchSecretUsage(c); err != nil { // finalizers.go
		return nil, err
	}
	if err := ctrl.watchGrants(c); err != nil { // grants.go
		return nil, err
	}
	return ctrl, nil
}

// Loops are the controller's queues: configurations, and the in-use finalizer of Secrets.
func (c *Controller) Loops() []*loop.Loop { return []*loop.Loop{c.loop, c.finalizers.loop} }

// Lister returns the configurations the controller sees, for metrics.
func (c *Controller) Lister() listers.KonnectAPIAuthConfigurationLister { return c.configs }

// Wake re-queues the configurations that were told a check of their token was pending, now
// that it has ended. It is the TokenChecker's callback and never blocks. They come back
// together (the checks of a start end within a second or two), so they go through the loop's
// backlog.
func (c *Controller) Wake(askers []types.NamespacedName) {
	keys := make([]cache.ObjectName, len(askers))
	for i, a := range askers {
		keys[i] = cache.ObjectName(a)
	}
	c.loop.AddBatch(keys)
}

// indexBySecretRef returns the "namespace/name" of the Secret a configuration takes its token
// from, if any.
func indexBySecretRef(obj any) ([]string, error) {
	cfg, ok := obj.(*konnectv1alpha1.KonnectAPIAuthConfiguration)
	if !ok {
		return nil, nil
	}
	if secret, _, ok := credentials.SecretRefOf(cfg); ok {
		return []string{secret.String()}, nil
	}
	return nil, nil
}

// enqueueSecretUsers re-queues the configurations that name a Secret that was created,
// changed or deleted.
func (c *Controller) enqueueSecretUsers(secret metav1.Object) {
	users, err := c.byIndex(secretRefIndex, secret.GetNamespace()+"/"+secret.GetName())
	if err != nil {
		utilruntime.HandleError(err)
	}
	for _, user := range users {
		c.loop.Add(cache.MetaObjectToName(user))
	}
}

// byIndex lists the configurations under one index value. The indexer reads memory; it fails
// only on an unknown index.
func (c *Controller) byIndex(index, value string) ([]*konnectv1alpha1.KonnectAPIAuthConfiguration, error) {
	objs, err := c.configIndexer.ByIndex(index, value)
	if err != nil {
		return nil, fmt.Errorf("configurations by %s: %w", index, err)
	}
	cfgs := make([]*konnectv1alpha1.KonnectAPIAuthConfiguration, 0, len(objs))
	for _, obj := range objs {
		if cfg, ok := obj.(*konnectv1alpha1.KonnectAPIAuthConfiguration); ok {
			cfgs = append(cfgs, cfg)
		}
	}
	return cfgs, nil
}
