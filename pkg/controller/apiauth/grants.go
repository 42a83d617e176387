package apiauth

import (
	"slices"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/tools/cache"

	configurationv1alpha1 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/configuration/v1alpha1"
	konnectv1alpha1 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha1"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/controller"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/controller/credentials"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/controller/indexes"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/controller/objpatch"
)

// What a KongReferenceGrant must name for a configuration to read a Secret in the grant's
// namespace (Kong's operator 2.3 semantics).
const (
	grantFromGroup = credentials.AuthConfigGroup
	grantFromKind  = credentials.AuthConfigKind
	grantToGroup   = credentials.SecretGroup
	grantToKind    = credentials.SecretKind
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
	secret, cross, ok := credentials.SecretRefOf(cfg)
	if !ok || !cross {
		return nil, nil
	}
	return []string{secret.Namespace + "/" + cfg.Namespace}, nil
}

// setResolvedRefs sets the ResolvedRefs condition of a configuration whose Secret is in another
// namespace, and removes it from every other configuration: Kong's operator shows it only for
// cross-namespace references.
func (c *Controller) setResolvedRefs(conditions *[]metav1.Condition, cfg *konnectv1alpha1.KonnectAPIAuthConfiguration) {
	if _, cross, ok := credentials.SecretRefOf(cfg); !ok || !cross {
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
	objpatch.SetCondition(conditions, cond, cfg.Generation, c.clock.Now())
}

// watchGrants re-queues, on every grant event, the configurations the grant can affect and
// their Secrets (whose in-use finalizer depends on the grant). Without a grant informer (a
// controller confined to one namespace) no grant is ever seen and cross-namespace references
// are refused.
func (c *Controller) watchGrants(cc *controller.Context) error {
	grantInformer := cc.GrantInformer()
	if grantInformer == nil {
		return nil
	}
	// On an update, both versions: what the grant permitted before and what it permits now.
	return c.loop.Watch(cc.RootContext, grantInformer.Informer(), indexes.OnChange(c.enqueueGrantUsers))
}

// enqueueGrantUsers re-queues the configurations that one or more versions of a grant can
// affect: those in a namespace its from list names, whose Secret is in the grant's namespace.
func (c *Controller) enqueueGrantUsers(objs ...any) {
	affected := sets.New[cache.ObjectName]()
	for _, obj := range objs {
		if grant, ok := indexes.Untombstone(obj).(*configurationv1alpha1.KongReferenceGrant); ok {
			affected.Insert(c.grantUsers(grant)...)
		}
	}
	for _, key := range affected.UnsortedList() {
		c.loop.Add(key)
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
		cfgs, err := c.byIndex(crossNamespaceRefIndex, grant.Namespace+"/"+string(from.Namespace))
		if err != nil {
			utilruntime.HandleError(err)
			continue
		}
		for _, cfg := range cfgs {
			secret, _, _ := credentials.SecretRefOf(cfg)
			if slices.ContainsFunc(grant.Spec.To, func(to configurationv1alpha1.ReferenceGrantTo) bool {
				return to.Group == grantToGroup && to.Kind == grantToKind && (to.Name == nil || string(*to.Name) == secret.Name)
			}) {
				users = append(users, cache.MetaObjectToName(cfg))
			}
		}
	}
	return users
}
