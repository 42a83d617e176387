package controlplane

import (
	"context"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"

	konnectv1alpha1 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha1"
	konnectv1alpha2 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha2"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/konnect"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/konnect/konnecttest"
)

const groupName = "group"

// group is an Origin control plane group that names members.
func group(members ...string) *konnectv1alpha2.KonnectGatewayControlPlane {
	cp := origin(groupName, groupName)
	cp.Spec.CreateControlPlaneRequest.ClusterType = ptr.To(konnectv1alpha2.ClusterType(konnect.ClusterTypeControlPlaneGroup))
	for _, m := range members {
		cp.Spec.Members = append(cp.Spec.Members, corev1.LocalObjectReference{Name: m})
	}
	return cp
}

// groupFixture holds the valid auth configuration, the group naming members, and an Origin for
// each of planes (all synced, so Programmed in Konnect).
func groupFixture(t *testing.T, members []string, planes ...string) *fixture {
	t.Helper()
	o := fixtureOptions{configs: []*konnectv1alpha1.KonnectAPIAuthConfiguration{validConfig(namespace, authName)}}
	o.planes = append(o.planes, group(members...))
	for _, p := range planes {
		o.planes = append(o.planes, origin(p, p))
	}
	f := newFixture(t, o)
	for _, p := range planes {
		f.sync(p)
		f.expectProgrammed(p)
	}
	return f
}

// ids are the Konnect ids of the named control planes, sorted.
func (f *fixture) ids(names ...string) []string {
	f.T.Helper()
	var out []string
	for _, n := range names {
		out = append(out, f.get(n).Status.ID)
	}
	slices.Sort(out)
	return out
}

// expectMembers fails unless Konnect's group holds exactly the named control planes.
func (f *fixture) expectMembers(names ...string) {
	f.T.Helper()
	want := f.ids(names...)
	if got := f.api.Members(f.get(groupName).Status.ID); !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
		f.T.Fatalf("Konnect's group holds %v, want %v (%v)", got, want, names)
	}
}

// puts counts the PUTs of the group's member set so far.
func (f *fixture) puts() int { return f.api.Count(konnecttest.OpSetGroupMembers) }

func TestGroupSetsItsMembersWithOnePut(t *testing.T) {
	f := groupFixture(t, []string{"m1", "m2"}, "m1", "m2")
	f.sync(groupName)
	f.expectProgrammed(groupName)
	f.expectCondition(groupName, konnectv1alpha2.ConditionMembersReferenceResolved, metav1.ConditionTrue, konnectv1alpha2.ReasonResolved, "2 of 2 members")
	f.expectMembers("m1", "m2")
	if n := f.puts(); n != 1 {
		t.Fatalf("%d PUTs, want 1", n)
	}
	// Nothing changed: the re-syncs read the set and write nothing.
	f.api.ResetCalls()
	for range 3 {
		f.sync(groupName)
	}
	if w, reads := f.api.Writes(), f.api.Count(konnecttest.OpListGroupMembers); w != 0 || reads != 3 {
		t.Fatalf("3 re-syncs: %d writes and %d reads of the member set, want 0 and 3: %+v", w, reads, f.api.Calls())
	}
	// A control plane that is not a group has no such condition and no member calls.
	f.sync("m1")
	if c := f.condition("m1", konnectv1alpha2.ConditionMembersReferenceResolved); c != nil {
		t.Fatalf("m1 has %+v", c)
	}
	if n := f.api.Count(konnecttest.OpListGroupMembers); n != 3 {
		t.Fatalf("the member set was read for a control plane that is not a group")
	}
}

func TestGroupMemberMissingThenCreated(t *testing.T) {
	f := groupFixture(t, []string{"m1", "late"}, "m1")
	f.sync(groupName)
	f.expectCondition(groupName, konnectv1alpha2.ConditionMembersReferenceResolved, metav1.ConditionFalse,
		konnectv1alpha2.ReasonSomeMemberNotResolved, "KonnectGatewayControlPlane kong/late not found: 1 of 2 members set")
	f.expectCondition(groupName, konnectv1alpha2.ConditionProgrammed, metav1.ConditionFalse,
		konnectv1alpha2.ReasonFailedToSetControlPlaneGroupMembers, "kong/late not found")
	// The group exists and keeps its endpoints; the members that count are set.
	if g := f.get(groupName); g.Status.ID == "" || g.Status.Endpoints == nil {
		t.Fatalf("group status %+v, want its id and endpoints", g.Status)
	}
	f.expectMembers("m1")

	// The member is created, not Programmed yet: still not resolved, and no PUT.
	late := origin("late", "late")
	if _, err := f.Client.KonnectV1alpha2().KonnectGatewayControlPlanes(namespace).Create(context.Background(), late, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	f.refresh("late")
	puts := f.puts()
	f.sync(groupName)
	f.expectCondition(groupName, konnectv1alpha2.ConditionMembersReferenceResolved, metav1.ConditionFalse,
		konnectv1alpha2.ReasonSomeMemberNotResolved, "kong/late is not Programmed in Konnect yet")
	if f.puts() != puts {
		t.Fatalf("a PUT while nothing changed")
	}
	// Programmed: one PUT, and True.
	f.sync("late")
	f.sync(groupName)
	f.expectProgrammed(groupName)
	f.expectCondition(groupName, konnectv1alpha2.ConditionMembersReferenceResolved, metav1.ConditionTrue, konnectv1alpha2.ReasonResolved, "2 of 2")
	f.expectMembers("m1", "late")
	if n := f.puts() - puts; n != 1 {
		t.Fatalf("%d PUTs once the member was Programmed, want 1", n)
	}
}

// TestGroupMembersReadWithinTheListingsShare: a group in line with Konnect reads its members
// as often as the listings are taken, and its read counts in their share of --konnect-qps, so
// that an idle controller's reads stay within it however many groups there are (issue 19). A
// group not in line is looked at every sync period, and no longer counts.
func TestGroupMembersReadWithinTheListingsShare(t *testing.T) {
	f := groupFixture(t, []string{"m1", "late"}, "m1")
	// 2.5 % of 0.5 calls a second: one re-sync read every 80 s.
	f.ctrl.listings.qps = 0.5
	expectAfter := func(what string, got, want time.Duration) {
		t.Helper()
		if got < want || got > time.Duration(float64(want)*(1+syncJitter)) {
			t.Fatalf("%s: next sync after %v, want %v plus up to %.0f%% jitter", what, got, want, 100*syncJitter)
		}
	}
	expectMaxAge := func(what string, want time.Duration) {
		t.Helper()
		if got := f.ctrl.listings.maxAge(); got != want {
			t.Fatalf("%s: listings taken every %v, want %v", what, got, want)
		}
	}

	// A member missing: not in line, every sync period; the account's one page alone.
	expectAfter("a member missing", f.sync(groupName).After, time.Minute)
	expectMaxAge("a member missing", 80*time.Second)

	// In line: one page and one group's members, every 160 s, the listings too.
	if _, err := f.Client.KonnectV1alpha2().KonnectGatewayControlPlanes(namespace).Create(context.Background(), origin("late", "late"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	f.refresh("late")
	f.sync("late")
	f.expectProgrammed("late")
	expectAfter("in line", f.sync(groupName).After, 160*time.Second)
	f.expectProgrammed(groupName)
	expectMaxAge("in line", 160*time.Second)

	// The member is deleted: not in line again, and the group's read no longer counts.
	if err := f.Client.KonnectV1alpha2().KonnectGatewayControlPlanes(namespace).Delete(context.Background(), "late", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	f.refresh("late")
	expectAfter("a member being deleted", f.sync(groupName).After, time.Minute)
	expectMaxAge("a member being deleted", 80*time.Second)
}

// TestGroupMembersThatDoNotCount: each kind of member that cannot be set is named, and the
// others are set.
func TestGroupMembersThatDoNotCount(t *testing.T) {
	programmedAs := func(name, org, serverURL, clusterType string) *konnectv1alpha2.KonnectGatewayControlPlane {
		cp := origin(name, name)
		cp.Status = konnectv1alpha2.KonnectGatewayControlPlaneStatus{ClusterType: clusterType,
			KonnectEntityStatus: konnectv1alpha2.KonnectEntityStatus{ID: "00000000-0000-4000-8000-00000000099" + name[len(name)-1:], OrgID: org, ServerURL: serverURL}}
		return cp
	}
	nested := group()
	nested.Name = "nested"
	f := newFixture(t, fixtureOptions{
		configs: []*konnectv1alpha1.KonnectAPIAuthConfiguration{validConfig(namespace, authName)},
		planes: []*konnectv1alpha2.KonnectGatewayControlPlane{
			group("ok", "other-org", "other-region", "kic", "nested"), origin("ok", "ok"), nested,
			programmedAs("other-org", "another-organization", serverURL, konnect.ClusterTypeControlPlane),
			programmedAs("other-region", orgID, "https://eu.api.konghq.com", konnect.ClusterTypeControlPlane),
			programmedAs("kic", orgID, serverURL, konnect.ClusterTypeK8sIngressController),
		},
	})
	f.sync("ok")
	f.sync("nested")
	f.sync(groupName)
	for _, want := range []string{
		`kong/other-org is in Konnect organization "another-organization"`,
		"kong/other-region is in region https://eu.api.konghq.com",
		"kong/kic is of cluster type CLUSTER_TYPE_K8S_INGRESS_CONTROLLER",
		"kong/nested is a control plane group",
		"1 of 5 members set",
	} {
		f.expectCondition(groupName, konnectv1alpha2.ConditionMembersReferenceResolved, metav1.ConditionFalse, konnectv1alpha2.ReasonSomeMemberNotResolved, want)
	}
	f.expectMembers("ok")
}

// TestGroupMemberSetChangedInKonnect: the set changed out of band is put back at the next sync.
func TestGroupMemberSetChangedInKonnect(t *testing.T) {
	f := groupFixture(t, []string{"m1"}, "m1", "stranger")
	f.sync(groupName)
	f.expectMembers("m1")
	f.api.SetMembersDirect(f.get(groupName).Status.ID, f.ids("stranger")...)
	f.sync(groupName)
	f.expectMembers("m1")
	if n := f.puts(); n != 2 {
		t.Fatalf("%d PUTs, want 2 (the first, and the one that put the set back)", n)
	}
	calls := f.api.Calls()
	if last := calls[len(calls)-1]; last.Op != konnecttest.OpSetGroupMembers || !slices.Equal(last.Members, f.ids("m1")) {
		t.Fatalf("last call %+v, want the PUT of m1 alone", last)
	}
}

func TestGroupMembersRefusedOrUnreachable(t *testing.T) {
	f := groupFixture(t, []string{"m1"}, "m1")
	f.sync(groupName)
	f.expectProgrammed(groupName)

	// Konnect down while reading the set: Programmed stays True, nothing is written.
	f.api.SetMembersDirect(f.get(groupName).Status.ID)
	f.api.Fail(konnecttest.OpListGroupMembers, konnecttest.Transient("listing control plane group members"))
	if res := f.sync(groupName); res.Transient == nil {
		t.Fatalf("result %+v, want a transient retry", res)
	}
	f.expectProgrammed(groupName)
	f.expectCondition(groupName, konnectv1alpha2.ConditionMembersReferenceResolved, metav1.ConditionTrue, konnectv1alpha2.ReasonResolved, "")

	// Konnect refuses the set: Kong's reasons, with what Konnect said.
	f.api.Fail(konnecttest.OpSetGroupMembers, &konnect.APIError{Op: "setting control plane group members", Kind: konnect.ErrorRejected,
		StatusCode: 400, Message: "Konnect answered 400 Bad Request: members[0].id is not allowed"})
	f.sync(groupName)
	f.expectCondition(groupName, konnectv1alpha2.ConditionMembersReferenceResolved, metav1.ConditionFalse, konnectv1alpha2.ReasonSetGroupMemberFailed, "is not allowed")
	f.expectCondition(groupName, konnectv1alpha2.ConditionProgrammed, metav1.ConditionFalse, konnectv1alpha2.ReasonFailedToSetControlPlaneGroupMembers, "is not allowed")

	// Next time it is taken.
	f.sync(groupName)
	f.expectProgrammed(groupName)
	f.expectMembers("m1")
}

// TestGroupMemberDeletedFirst: Konnect refuses the member's DELETE while it is in the group; the
// group drops it with one PUT and re-queues it; then its DELETE goes through.
func TestGroupMemberDeletedFirst(t *testing.T) {
	f := groupFixture(t, []string{"m1", "m2"}, "m1", "m2")
	f.sync(groupName)
	f.expectMembers("m1", "m2")
	m1ID := f.get("m1").Status.ID

	f.markDeleted("m1")
	f.sync("m1")
	f.expectCondition("m1", konnectv1alpha2.ConditionProgrammed, metav1.ConditionFalse, ReasonDeletionWaiting,
		"waiting for KonnectGatewayControlPlane kong/group to remove it from the group")
	if !hasCleanupFinalizer(f.get("m1")) {
		t.Fatal("the member was released while Konnect still holds it")
	}

	puts := f.puts()
	f.sync(groupName)
	f.expectMembers("m2")
	if n := f.puts() - puts; n != 1 {
		t.Fatalf("%d PUTs, want 1", n)
	}
	f.expectCondition(groupName, konnectv1alpha2.ConditionMembersReferenceResolved, metav1.ConditionFalse,
		konnectv1alpha2.ReasonSomeMemberNotResolved, "kong/m1 is being deleted")
	if keys := f.queued(); !slices.Contains(keys, cache.ObjectName{Namespace: namespace, Name: "m1"}) {
		t.Fatalf("the group did not re-queue the member it dropped; queued: %v", keys)
	}

	f.sync("m1")
	if hasCleanupFinalizer(f.get("m1")) {
		t.Fatalf("m1 is not released: %+v", f.get("m1").Status.Conditions)
	}
	for _, cp := range f.api.ControlPlanes(serverURL) {
		if cp.ID == m1ID {
			t.Fatalf("m1 is still in Konnect")
		}
	}
}

// TestGroupDeletedFirst: the group is emptied, then deleted; its members stay.
func TestGroupDeletedFirst(t *testing.T) {
	f := groupFixture(t, []string{"m1", "m2"}, "m1", "m2")
	f.sync(groupName)
	groupID := f.get(groupName).Status.ID
	f.api.ResetCalls()

	f.markDeleted(groupName)
	f.sync(groupName)
	if hasCleanupFinalizer(f.get(groupName)) {
		t.Fatalf("the group is not released: %+v", f.get(groupName).Status.Conditions)
	}
	var ops []string
	for _, c := range f.api.Calls() {
		ops = append(ops, c.Op)
	}
	if want := []string{konnecttest.OpListGroupMembers, konnecttest.OpSetGroupMembers, konnecttest.OpDeleteControlPlane}; !slices.Equal(ops, want) {
		t.Fatalf("calls %v, want %v", ops, want)
	}
	left := f.api.ControlPlanes(serverURL)
	if len(left) != 2 || slices.ContainsFunc(left, func(cp konnect.ControlPlane) bool { return cp.ID == groupID }) {
		t.Fatalf("Konnect holds %+v, want the two members", left)
	}
	f.sync("m1")
	f.expectProgrammed("m1")
}

// queued takes every key in the control planes' queue.
func (f *fixture) queued() []cache.ObjectName {
	var keys []cache.ObjectName
	for f.ctrl.loop.Len() > 0 {
		key, _ := f.ctrl.loop.Get()
		f.ctrl.loop.Done(key)
		keys = append(keys, key)
	}
	return keys
}

// TestMemberEventsQueueTheirGroups: a member created, Programmed or deleted queues the groups that
// name it; a write that changes nothing of that does not.
func TestMemberEventsQueueTheirGroups(t *testing.T) {
	ctx, f := startedFixture(t)
	planes := f.Client.KonnectV1alpha2().KonnectGatewayControlPlanes(namespace)
	if _, err := planes.Create(ctx, group("m1"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	groupKey := cache.ObjectName{Namespace: namespace, Name: groupName}
	m1Key := cache.ObjectName{Namespace: namespace, Name: "m1"}
	drain(t, f.ctrl.loop, groupKey)

	// Created.
	if _, err := planes.Create(ctx, origin("m1", "m1"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	drain(t, f.ctrl.loop, m1Key, groupKey)
	// Programmed.
	m1 := f.get("m1").DeepCopy()
	m1.Status.ID, m1.ResourceVersion = "some-id", "2"
	if _, err := planes.UpdateStatus(ctx, m1, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	drain(t, f.ctrl.loop, m1Key, groupKey)
	// A label: the member only.
	m1 = f.get("m1").DeepCopy()
	m1.Labels, m1.ResourceVersion = map[string]string{"a": "b"}, "3"
	if _, err := planes.Update(ctx, m1, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	drain(t, f.ctrl.loop, m1Key)
	// Deleted.
	if err := planes.Delete(ctx, "m1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	drain(t, f.ctrl.loop, groupKey)
}
