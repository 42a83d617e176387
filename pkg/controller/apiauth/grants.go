package apiauth

import (
	"context"
	"fmt"
	"slices"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	configurationv1alpha1 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/configuration/v1alpha1"
	konnectv1alpha1 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha1"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/controller/shared"
	configurationinformers "github.com/konnect-auth-controller/konnect-auth-controller/pkg/generated/informers/externalversions/configuration/v1alpha1"
)

// What a KongReferenceGrant must name for a configuration to read a Secret in the grant's
// namespace (Kong's operator 2.3 semantics).
const (
	grantFromGroup = shared.AuthConfigGroup
	grantFromKind  = shared.AuthConfigKind
	grantToGroup   = shared.SecretGroup
	grantToKind    = shared.SecretKind
)

// crossNamespaceRefIndex indexes configurations whose Secret is in another namespace by
// "<Secret's namespace>/<configuration's namespace>": a grant in the Secret's namespace whose
// from entry names the configuration's namespace affects exactly the configurations under
// that key.
const crossNamespaceRefIndex = "crossNamespaceSecretRef"

func indexByCrossNamespaceRef(obj any) ([]string, error) {
	cfg, ok := obj.(*konnectv1alpha1.KonnectAPIAuthConfiguration)
	if !ok {
		return nil, nil
	}
	secret, cross, ok := shared.SecretRefOf(cfg)
	if !ok || !cross {
		return nil, nil
	}
	return []string{secret.Namespace + "/" + cfg.Namespace}, nil
}

// setResolvedRefs sets the ResolvedRefs condition of a configuration whose Secret is in another
// namespace, and removes it from every other configuration: Kong's operator shows it only for
// cross-namespace references.
func (c *Controller) setResolvedRefs(conditions *[]metav1.Condition, cfg *konnectv1alpha1.KonnectAPIAuthConfiguration) {
	if _, cross, ok := shared.SecretRefOf(cfg); !ok || !cross {
		meta.RemoveStatusCondition(conditions, konnectv1alpha1.ConditionResolvedRefs)
		return
	}
	p := c.tokens.CheckSecretRef(cfg)
	cond := metav1.Condition{
		Type:    konnectv1alpha1.ConditionResolvedRefs,
		Status:  metav1.ConditionFalse,
		Reason:  konnectv1alpha1.ReasonRefNotPermitted,
		Message: p.Message,
	}
	if p.Permitted {
		cond.Status, cond.Reason = metav1.ConditionTrue, konnectv1alpha1.ReasonResolvedRefs
	}
	shared.SetCondition(conditions, cond, cfg.Generation, c.clock.Now())
}

// watchGrants re-queues, on every grant event, the configurations the grant can affect and
// their Secrets (whose in-use finalizer depends on the grant). grantInformer may be nil: then
// no grant is ever seen and cross-namespace references are refused.
func (c *Controller) watchGrants(ctx context.Context, grantInformer configurationinformers.KongReferenceGrantInformer) (cache.InformerSynced, error) {
	if grantInformer == nil {
		return nil, nil
	}
	logger := klog.FromContext(ctx)
	c.tokens.Grants = shared.ReferenceGrants{Lister: grantInformer.Lister()}
	// On an update, both versions: what the grant permitted before and what it permits now.
	handler, err := grantInformer.Informer().AddEventHandlerWithOptions(shared.OnChange(c.enqueueGrantUsers), cache.HandlerOptions{Logger: &logger})
	if err != nil {
		return nil, fmt.Errorf("watching KongReferenceGrants: %w", err)
	}
	return handler.HasSynced, nil
}

// enqueueGrantUsers re-queues the configurations that one or more versions of a grant can
// affect: those in a namespace its from list names, whose Secret is in the grant's namespace.
func (c *Controller) enqueueGrantUsers(objs ...any) {
	affected := sets.New[cache.ObjectName]()
	for _, obj := range objs {
		if tombstone, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = tombstone.Obj
		}
		grant, ok := obj.(*configurationv1alpha1.KongReferenceGrant)
		if !ok {
			continue
		}
		for _, name := range c.grantUsers(grant) {
			affected.Insert(name)
		}
	}
	for _, key := range affected.UnsortedList() {
		c.queue.Add(key)
		if cfg, err := c.configs.KonnectAPIAuthConfigurations(key.Namespace).Get(key.Name); err == nil {
			c.enqueueSecretOf(cfg)
		}
	}
}

// grantUsers returns the configurations a grant's from and to entries can concern.
func (c *Controller) grantUsers(grant *configurationv1alpha1.KongReferenceGrant) []cache.ObjectName {
	var users []cache.ObjectName
	seen := sets.New[string]()
	for _, from := range grant.Spec.From {
		if from.Group != grantFromGroup || from.Kind != grantFromKind || seen.Has(string(from.Namespace)) {
			continue
		}
		seen.Insert(string(from.Namespace))
		objs, err := c.configIndexer.ByIndex(crossNamespaceRefIndex, grant.Namespace+"/"+string(from.Namespace))
		if err != nil {
			utilruntime.HandleError(err)
			continue
		}
		for _, obj := range objs {
			cfg := obj.(*konnectv1alpha1.KonnectAPIAuthConfiguration)
			secret, _, _ := shared.SecretRefOf(cfg)
			if slices.ContainsFunc(grant.Spec.To, func(to configurationv1alpha1.ReferenceGrantTo) bool {
				return to.Group == grantToGroup && to.Kind == grantToKind && (to.Name == nil || string(*to.Name) == secret.Name)
			}) {
				users = append(users, cache.MetaObjectToName(cfg))
			}
		}
	}
	return users
}
