package controller

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	configurationv1alpha1 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/configuration/v1alpha1"
	konnectv1alpha1 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha1"
	configurationinformers "github.com/konnect-auth-controller/konnect-auth-controller/pkg/generated/informers/externalversions/configuration/v1alpha1"
)

// What a KongReferenceGrant must name for a configuration to read a Secret in the grant's
// namespace (Kong's operator 2.3 semantics).
const (
	grantFromGroup = konnectv1alpha1.GroupName
	grantFromKind  = "KonnectAPIAuthConfiguration"
	grantToGroup   = "core"
	grantToKind    = "Secret"
)

// crossNamespaceRefIndex indexes configurations whose Secret is in another namespace by
// "<Secret's namespace>/<configuration's namespace>": a grant in the Secret's namespace whose
// from entry names the configuration's namespace affects exactly the configurations under
// that key.
const crossNamespaceRefIndex = "crossNamespaceSecretRef"

// secretRefOf returns the Secret a configuration takes its token from, if it takes it from one,
// and whether that Secret is in another namespace than the configuration.
func secretRefOf(cfg *konnectv1alpha1.KonnectAPIAuthConfiguration) (secret cache.ObjectName, crossNamespace, ok bool) {
	if cfg.Spec.Type != konnectv1alpha1.KonnectAPIAuthTypeSecretRef || cfg.Spec.SecretRef == nil || cfg.Spec.SecretRef.Name == "" {
		return cache.ObjectName{}, false, false
	}
	ns := cfg.Spec.SecretRef.Namespace
	if ns == "" {
		ns = cfg.Namespace
	}
	return cache.ObjectName{Namespace: ns, Name: cfg.Spec.SecretRef.Name}, ns != cfg.Namespace, true
}

func indexByCrossNamespaceRef(obj any) ([]string, error) {
	cfg, ok := obj.(*konnectv1alpha1.KonnectAPIAuthConfiguration)
	if !ok {
		return nil, nil
	}
	secret, cross, ok := secretRefOf(cfg)
	if !ok || !cross {
		return nil, nil
	}
	return []string{secret.Namespace + "/" + cfg.Namespace}, nil
}

// grantPermits reports whether grant, which lives in the Secret's namespace, lets
// configurations in fromNamespace read the Secret named secretName. A grant that is being
// deleted permits nothing: its deletion is a revocation.
func grantPermits(grant *configurationv1alpha1.KongReferenceGrant, fromNamespace, secretName string) bool {
	if grant.DeletionTimestamp != nil {
		return false
	}
	return grantNamesSource(grant, fromNamespace) &&
		slices.ContainsFunc(grant.Spec.To, func(to configurationv1alpha1.ReferenceGrantTo) bool {
			return to.Group == grantToGroup && to.Kind == grantToKind && (to.Name == nil || string(*to.Name) == secretName)
		})
}

// grantNamesSource reports whether one of grant's from entries is configurations in namespace ns.
func grantNamesSource(grant *configurationv1alpha1.KongReferenceGrant, ns string) bool {
	return slices.ContainsFunc(grant.Spec.From, func(from configurationv1alpha1.ReferenceGrantFrom) bool {
		return from.Group == grantFromGroup && from.Kind == grantFromKind && string(from.Namespace) == ns
	})
}

// refPermission is what the grants say about a configuration's cross-namespace reference.
type refPermission struct {
	// permitted: a grant permits it; grant is that grant's "namespace/name".
	permitted bool
	grant     string
	// message explains the decision for the conditions; it never holds a token.
	message string
}

// checkReference decides whether cfg, whose Secret is in another namespace, may read it.
func (c *Controller) checkReference(cfg *konnectv1alpha1.KonnectAPIAuthConfiguration) refPermission {
	secret, _, _ := secretRefOf(cfg)
	if c.grants == nil {
		return refPermission{message: fmt.Sprintf(
			"spec.secretRef names Secret %s in another namespace, and this controller watches only namespace %q (--namespace), "+
				"so it cannot read Secrets elsewhere: put the Secret in namespace %q", secret, cfg.Namespace, cfg.Namespace)}
	}
	grants, err := c.grants.KongReferenceGrants(secret.Namespace).List(labels.Everything())
	if err != nil { // The lister reads memory; it fails only on a broken cache.
		return refPermission{message: fmt.Sprintf("KongReferenceGrants in namespace %q could not be read: %v", secret.Namespace, err)}
	}
	// The first grant by name, so that the message does not change from sync to sync.
	slices.SortFunc(grants, func(a, b *configurationv1alpha1.KongReferenceGrant) int {
		return strings.Compare(a.Name, b.Name)
	})
	for _, g := range grants {
		if grantPermits(g, cfg.Namespace, secret.Name) {
			name := g.Namespace + "/" + g.Name
			return refPermission{permitted: true, grant: name,
				message: fmt.Sprintf("KongReferenceGrant %s permits the reference to Secret %s", name, secret)}
		}
	}
	return refPermission{message: fmt.Sprintf(
		"spec.secretRef names Secret %s in another namespace, and no KongReferenceGrant in namespace %q permits it: "+
			"create one there with from {group: %s, kind: %s, namespace: %s} and to {group: %s, kind: %s, name: %s}",
		secret, secret.Namespace, grantFromGroup, grantFromKind, cfg.Namespace, grantToGroup, grantToKind, secret.Name)}
}

// setResolvedRefs sets the ResolvedRefs condition of a configuration whose Secret is in another
// namespace, and removes it from every other configuration: Kong's operator shows it only for
// cross-namespace references.
func (c *Controller) setResolvedRefs(conditions *[]metav1.Condition, cfg *konnectv1alpha1.KonnectAPIAuthConfiguration) {
	if _, cross, ok := secretRefOf(cfg); !ok || !cross {
		meta.RemoveStatusCondition(conditions, konnectv1alpha1.ConditionResolvedRefs)
		return
	}
	p := c.checkReference(cfg)
	cond := metav1.Condition{
		Type:               konnectv1alpha1.ConditionResolvedRefs,
		Status:             metav1.ConditionFalse,
		Reason:             konnectv1alpha1.ReasonRefNotPermitted,
		Message:            p.message,
		ObservedGeneration: cfg.Generation,
		LastTransitionTime: metav1.NewTime(c.clock.Now()),
	}
	if p.permitted {
		cond.Status, cond.Reason = metav1.ConditionTrue, konnectv1alpha1.ReasonResolvedRefs
	}
	meta.SetStatusCondition(conditions, cond)
}

// watchGrants re-queues, on every grant event, the configurations the grant can affect and
// their Secrets (whose in-use finalizer depends on the grant). grantInformer may be nil: then
// no grant is ever seen and cross-namespace references are refused.
func (c *Controller) watchGrants(ctx context.Context, grantInformer configurationinformers.KongReferenceGrantInformer) (cache.InformerSynced, error) {
	if grantInformer == nil {
		return nil, nil
	}
	logger := klog.FromContext(ctx)
	c.grants = grantInformer.Lister()
	handler, err := grantInformer.Informer().AddEventHandlerWithOptions(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) { c.enqueueGrantUsers(obj) },
		UpdateFunc: func(old, cur any) {
			if old.(metav1.Object).GetResourceVersion() != cur.(metav1.Object).GetResourceVersion() {
				// Both: what the grant permitted before and what it permits now.
				c.enqueueGrantUsers(old, cur)
			}
		},
		DeleteFunc: func(obj any) { c.enqueueGrantUsers(obj) },
	}, cache.HandlerOptions{Logger: &logger})
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
			secret, _, _ := secretRefOf(cfg)
			if slices.ContainsFunc(grant.Spec.To, func(to configurationv1alpha1.ReferenceGrantTo) bool {
				return to.Group == grantToGroup && to.Kind == grantToKind && (to.Name == nil || string(*to.Name) == secret.Name)
			}) {
				users = append(users, cache.MetaObjectToName(cfg))
			}
		}
	}
	return users
}
