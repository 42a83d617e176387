package controlplane

// Control-plane groups (cluster_type CLUSTER_TYPE_CONTROL_PLANE_GROUP): the
// KonnectGatewayControlPlanes that spec.members names, in the group's namespace, are set as the
// group's members in Konnect with one PUT of the whole set when it differs from what Konnect
// holds. Konnect's set is read at every sync (the periodic re-sync included), so a set changed
// out of band is put back.
//
// A member counts when Konnect holds it (status.id) in the group's organization and region, it
// is a standard control plane (not a group, not an ingress controller's) and it is not being
// deleted; the others are named in MembersReferenceResolved, with the reasons of Kong's operator,
// and, as there, Programmed is False (FailedToSetControlPlaneGroupMembers) until all are set.
//
// Konnect deletes neither a group that has members nor a control plane that is a member of a
// group (409): a group is emptied before its DELETE, and a member being deleted waits
// (DeletionWaiting) until its groups have dropped it — which they do as soon as its deletion
// starts, since the members index re-queues them.

import (
	"context"
	"fmt"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	konnectv1alpha2 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha2"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/konnect"
)

// membersIndex indexes control plane groups by the "namespace/name" of each member they name,
// so that a change to a member (created, Programmed, deleted) re-queues its groups.
const membersIndex = "members"

// isGroup reports whether cp asks for a control plane group.
func isGroup(cp *konnectv1alpha2.KonnectGatewayControlPlane) bool {
	req := cp.Spec.CreateControlPlaneRequest
	return req != nil && req.ClusterType != nil && string(*req.ClusterType) == konnect.ClusterTypeControlPlaneGroup
}

// addMembersIndex adds membersIndex to the control-plane informer.
func addMembersIndex(informer cache.SharedIndexInformer) error {
	err := informer.AddIndexers(cache.Indexers{membersIndex: func(obj any) ([]string, error) {
		cp, ok := obj.(*konnectv1alpha2.KonnectGatewayControlPlane)
		if !ok || !isGroup(cp) {
			return nil, nil
		}
		keys := make([]string, 0, len(cp.Spec.Members))
		for _, m := range cp.Spec.Members {
			keys = append(keys, cp.Namespace+"/"+m.Name)
		}
		return keys, nil
	}})
	if err != nil {
		return fmt.Errorf("adding the control-plane groups' members index: %w", err)
	}
	return nil
}

// memberChanged reports whether an update of a control plane can change what a group that
// names it sets in Konnect.
func memberChanged(old, cur metav1.Object) bool {
	o, n := old.(*konnectv1alpha2.KonnectGatewayControlPlane), cur.(*konnectv1alpha2.KonnectGatewayControlPlane)
	return o.Status.ID != n.Status.ID || o.Status.OrgID != n.Status.OrgID || o.Status.ServerURL != n.Status.ServerURL ||
		o.Status.ClusterType != n.Status.ClusterType || (o.DeletionTimestamp == nil) != (n.DeletionTimestamp == nil)
}

// groupsOf returns the groups that name cp as a member.
func (c *Controller) groupsOf(cp metav1.Object) []*konnectv1alpha2.KonnectGatewayControlPlane {
	objs, err := c.planeIndexer.ByIndex(membersIndex, cache.MetaObjectToName(cp).String())
	if err != nil {
		utilruntime.HandleError(err)
		return nil
	}
	groups := make([]*konnectv1alpha2.KonnectGatewayControlPlane, 0, len(objs))
	for _, o := range objs {
		groups = append(groups, o.(*konnectv1alpha2.KonnectGatewayControlPlane))
	}
	return groups
}

// resolveMembers returns the Konnect ids of the members of group that count (sorted, once
// each), and what is wrong with each of the others. status is the group's, as this sync found
// it: its organization and server URL.
func (c *Controller) resolveMembers(group *konnectv1alpha2.KonnectGatewayControlPlane, status *konnectv1alpha2.KonnectGatewayControlPlaneStatus) ([]string, []string) {
	ids := sets.New[string]()
	var problems []string
	seen := sets.New[string]()
	for _, ref := range group.Spec.Members {
		name := group.Namespace + "/" + ref.Name
		if seen.Has(name) {
			continue
		}
		seen.Insert(name)
		obj, exists, err := c.planeIndexer.GetByKey(name)
		m, _ := obj.(*konnectv1alpha2.KonnectGatewayControlPlane)
		problem := ""
		switch {
		case err != nil:
			problem = fmt.Sprintf("KonnectGatewayControlPlane %s could not be read: %v", name, err)
		case !exists || m == nil:
			problem = fmt.Sprintf("KonnectGatewayControlPlane %s not found", name)
		case m.DeletionTimestamp != nil:
			problem = fmt.Sprintf("KonnectGatewayControlPlane %s is being deleted", name)
		case m.Status.ID == "":
			problem = fmt.Sprintf("KonnectGatewayControlPlane %s is not Programmed in Konnect yet (no status.id)", name)
		case isGroup(m) || m.Status.ClusterType == konnect.ClusterTypeControlPlaneGroup:
			problem = fmt.Sprintf("KonnectGatewayControlPlane %s is a control plane group: a group cannot be a member of another", name)
		case m.Status.ClusterType != "" && m.Status.ClusterType != konnect.ClusterTypeControlPlane:
			problem = fmt.Sprintf("KonnectGatewayControlPlane %s is of cluster type %s: only %s control planes can be members of a group",
				name, m.Status.ClusterType, konnect.ClusterTypeControlPlane)
		case m.Status.OrgID != status.OrgID:
			problem = fmt.Sprintf("KonnectGatewayControlPlane %s is in Konnect organization %q, the group in %q", name, m.Status.OrgID, status.OrgID)
		case m.Status.ServerURL != "" && m.Status.ServerURL != status.ServerURL:
			problem = fmt.Sprintf("KonnectGatewayControlPlane %s is in region %s, the group in %s", name, m.Status.ServerURL, status.ServerURL)
		default:
			ids.Insert(m.Status.ID)
			continue
		}
		problems = append(problems, problem)
	}
	return sets.List(ids), problems
}

// konnectMembers reads the ids of a group's members in Konnect, sorted: the one read of the
// member set, at every sync.
func (c *Controller) konnectMembers(ctx context.Context, auth konnect.Auth, groupID string) ([]string, error) {
	members, err := c.api.ListGroupMembers(konnect.Resync(ctx), auth, groupID) // a re-sync's look
	if err != nil {
		return nil, err
	}
	ids := sets.New[string]()
	for _, m := range members {
		ids.Insert(m.ID)
	}
	return sets.List(ids), nil
}

// syncMembers sets the group's members in Konnect as spec.members says, and its
// MembersReferenceResolved condition. It returns the outcome that overrides Programmed True,
// or nil when every member is set.
func (c *Controller) syncMembers(ctx context.Context, cp *konnectv1alpha2.KonnectGatewayControlPlane, auth konnect.Auth,
	status *konnectv1alpha2.KonnectGatewayControlPlaneStatus) *outcome {
	logger := klog.FromContext(ctx)
	groupID := status.ID
	want, problems := c.resolveMembers(cp, status)
	failed := func(err error) *outcome {
		if konnect.IsTransient(err) || konnect.IsNotFound(err) {
			// A group deleted behind our back since the GET is created again next time.
			out := transient(err)
			return &out
		}
		msg := fmt.Sprintf("Konnect refused the members of control plane group %s: %v", groupID, err)
		c.setCondition(&status.Conditions, cp, konnectv1alpha2.ConditionMembersReferenceResolved, metav1.ConditionFalse,
			konnectv1alpha2.ReasonSetGroupMemberFailed, msg)
		return &outcome{status: metav1.ConditionFalse, reason: konnectv1alpha2.ReasonFailedToSetControlPlaneGroupMembers, message: msg}
	}
	have, err := c.konnectMembers(ctx, auth, groupID)
	if err != nil {
		return failed(err)
	}
	if !slices.Equal(have, want) {
		if err := c.api.SetGroupMembers(ctx, auth, groupID, want); err != nil {
			return failed(err)
		}
		logger.V(2).Info("Set the members of the control plane group in Konnect", "id", groupID, "members", want, "before", have)
		c.enqueueReleased(cp.Namespace, have, want)
	}

	set := fmt.Sprintf("%d of %d members set in control plane group %s", len(want), len(want)+len(problems), groupID)
	if len(problems) > 0 {
		msg := strings.Join(problems, "; ") + ": " + set
		c.setCondition(&status.Conditions, cp, konnectv1alpha2.ConditionMembersReferenceResolved, metav1.ConditionFalse,
			konnectv1alpha2.ReasonSomeMemberNotResolved, msg)
		return &outcome{status: metav1.ConditionFalse, reason: konnectv1alpha2.ReasonFailedToSetControlPlaneGroupMembers,
			message: "not every member of the group is set in Konnect (see MembersReferenceResolved): " + msg}
	}
	c.setCondition(&status.Conditions, cp, konnectv1alpha2.ConditionMembersReferenceResolved, metav1.ConditionTrue,
		konnectv1alpha2.ReasonResolved, set)
	return nil
}

// enqueueReleased re-queues the control planes being deleted in namespace that a group has just
// dropped (in had, not in kept): Konnect refused their DELETE while they were members.
func (c *Controller) enqueueReleased(namespace string, had, kept []string) {
	released := sets.New(had...).Delete(kept...)
	if released.Len() == 0 {
		return
	}
	objs, err := c.planeIndexer.ByIndex(cache.NamespaceIndex, namespace)
	if err != nil {
		utilruntime.HandleError(err)
		return
	}
	for _, o := range objs {
		if m := o.(*konnectv1alpha2.KonnectGatewayControlPlane); m.DeletionTimestamp != nil && released.Has(m.Status.ID) {
			c.loop.Enqueue(m)
		}
	}
}

// emptyGroup removes every member of a group that is being deleted: Konnect refuses to delete
// a group that has members. The members stay in Konnect.
func (c *Controller) emptyGroup(ctx context.Context, auth konnect.Auth, groupID string) error {
	have, err := c.konnectMembers(ctx, auth, groupID)
	if err != nil || len(have) == 0 {
		return err
	}
	if err := c.api.SetGroupMembers(ctx, auth, groupID, nil); err != nil {
		return err
	}
	klog.FromContext(ctx).V(2).Info("Removed every member of the control plane group before deleting it", "id", groupID, "members", have)
	return nil
}

// stillMember is the message of a member whose DELETE Konnect refused (409) because it is
// still a member of a group, naming the groups in the cluster that name it.
func (c *Controller) stillMember(cp *konnectv1alpha2.KonnectGatewayControlPlane, id string, err error) string {
	var names []string
	for _, g := range c.groupsOf(cp) {
		names = append(names, g.Namespace+"/"+g.Name)
	}
	waiting := "remove it from its control plane group in Konnect"
	if len(names) > 0 {
		slices.Sort(names)
		waiting = "waiting for KonnectGatewayControlPlane " + strings.Join(names, ", ") + " to remove it from the group"
	}
	return fmt.Sprintf("Konnect refused to delete control plane %s while it is a member of a control plane group (%v): %s", id, err, waiting)
}
