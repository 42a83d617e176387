package controlplanes_test

// Control-plane groups, as a user applies them with kubectl: a KonnectGatewayControlPlane of
// cluster_type CLUSTER_TYPE_CONTROL_PLANE_GROUP whose spec.members name other
// KonnectGatewayControlPlanes of its namespace. The fake Konnect serves the group-memberships
// endpoints as Konnect does, and refuses (409) to delete a group that has members or a control
// plane that is a member of a group.
//
// The condition type and reasons are Kong's operator's, written out here rather than taken from
// pkg/, so that these tests also compile against the code before groups were built.

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/konnect-auth-controller/konnect-auth-controller/test/e2e/framework"
)

const (
	membersResolved = "MembersReferenceResolved"
	// groupName names the group object and its control plane in Konnect.
	groupName = "gateway-control-plane-group"
	// groupMemberships is the fake's request-log pattern of the memberships endpoints.
	groupMemberships = "/v2/control-planes/*/group-memberships"
)

// memberYAML is a plain Origin control plane named name, in Konnect too.
func (tn *tenant) memberYAML(name string) string {
	return fmt.Sprintf(`kind: KonnectGatewayControlPlane
apiVersion: konnect.konghq.com/v1alpha2
metadata: {name: %s, namespace: %s}
spec:
  createControlPlaneRequest: {name: %s}
  konnect: {authRef: {name: %s}}
`, name, tn.ns, name, authName)
}

// groupYAML is a control plane group naming members.
func (tn *tenant) groupYAML(members ...string) string {
	var b strings.Builder
	for _, m := range members {
		fmt.Fprintf(&b, "  - name: %s\n", m)
	}
	return fmt.Sprintf(`kind: KonnectGatewayControlPlane
apiVersion: konnect.konghq.com/v1alpha2
metadata: {name: %s, namespace: %s}
spec:
  createControlPlaneRequest:
    name: %s
    cluster_type: CLUSTER_TYPE_CONTROL_PLANE_GROUP
  members:
%s  konnect: {authRef: {name: %s}}
`, groupName, tn.ns, groupName, b.String(), authName)
}

// programmedMembers applies the auth configuration and the members, and returns their Konnect
// ids by name once they are Programmed.
func (tn *tenant) programmedMembers(names ...string) map[string]string {
	tn.t.Helper()
	tn.applyAuth()
	docs := make([]string, len(names))
	for i, n := range names {
		docs[i] = tn.memberYAML(n)
	}
	tn.apply(strings.Join(docs, "---\n"))
	ids := map[string]string{}
	for _, n := range names {
		ids[n] = tn.waitCondition(n, programmed, condTrue, "Programmed").Status.ID
	}
	return ids
}

// resolvedGroup applies the auth configuration and the control planes planes, then a group
// naming members, and waits until its members are resolved. It returns the control planes' ids
// by name, and the group's.
func (tn *tenant) resolvedGroup(planes []string, members ...string) (map[string]string, string) {
	tn.t.Helper()
	byName := tn.programmedMembers(planes...)
	tn.apply(tn.groupYAML(members...))
	return byName, tn.waitCondition(groupName, membersResolved, condTrue, "Resolved").Status.ID
}

// deleteObject runs kubectl delete on the control plane name, waits until it is gone, and checks
// that its control plane id was deleted from Konnect by one successful DELETE.
func (tn *tenant) deleteObject(name, id string) {
	tn.t.Helper()
	out := tn.kubectl("delete", "konnectgatewaycontrolplane", name, "--wait=false")
	tn.t.Logf("$ kubectl delete konnectgatewaycontrolplane %s -n %s --wait=false\n%s", name, tn.ns, out)
	tn.waitGoneNamed(name)
	if n := tn.count("DELETE", "/v2/control-planes/"+id, succeeded); n != 1 {
		tn.t.Errorf("%d successful DELETEs of %s, want 1", n, name)
	}
}

// konnectIDs are the ids of the control planes Konnect holds for the tenant, sorted.
func (tn *tenant) konnectIDs() []string {
	var out []string
	for _, c := range tn.inKonnect() {
		out = append(out, c.ID)
	}
	slices.Sort(out)
	return out
}

// ids returns the ids of names, sorted.
func ids(byName map[string]string, names ...string) []string {
	var out []string
	for _, n := range names {
		out = append(out, byName[n])
	}
	slices.Sort(out)
	return out
}

// waitMembers waits until Konnect's group holds exactly want.
func (tn *tenant) waitMembers(groupID string, want []string) {
	tn.t.Helper()
	tn.waitFor(fmt.Sprintf("Konnect's group %s to hold %v", groupID, want), func() (bool, string) {
		got := env.Konnect.GroupMembers(groupID)
		return slices.Equal(got, want), fmt.Sprint(got)
	})
}

// puts counts the tenant's successful PUTs of a group's member set.
func (tn *tenant) puts() int { return tn.count("PUT", groupMemberships, succeeded) }

// membersTable logs what a user looks at: the table and the group's MembersReferenceResolved.
func (tn *tenant) membersTable() {
	tn.t.Helper()
	tn.t.Logf("$ kubectl get konnectgatewaycontrolplane -n %s\n%s", tn.ns, tn.kubectl("get", "konnectgatewaycontrolplane"))
	out, stderr, _ := framework.Kubectl(cp, "", "get", "konnectgatewaycontrolplane", groupName, "-n", tn.ns,
		"-o", `jsonpath={.status.conditions[?(@.type=="`+membersResolved+`")]}`)
	tn.t.Logf("$ kubectl get konnectgatewaycontrolplane %s -n %s -o jsonpath='{.status.conditions[?(@.type==\"%s\")]}'\n%s%s",
		groupName, tn.ns, membersResolved, out, stderr)
}

// TestGroupMembers: a group naming two Programmed members sets both in Konnect with one PUT,
// says so in MembersReferenceResolved, and the re-syncs read the set and write nothing more.
func TestGroupMembers(t *testing.T) {
	t.Parallel()
	tn := newTenant(t)
	byName, groupID := tn.resolvedGroup([]string{"cp-a", "cp-b"}, "cp-a", "cp-b")
	obj := tn.waitCondition(groupName, programmed, condTrue, "Programmed")
	if want := ids(byName, "cp-a", "cp-b"); !slices.Equal(env.Konnect.GroupMembers(groupID), want) {
		t.Fatalf("Konnect's group holds %v, want %v", env.Konnect.GroupMembers(groupID), want)
	}
	if obj.Status.ClusterType != "CLUSTER_TYPE_CONTROL_PLANE_GROUP" {
		t.Errorf("status.clusterType %q", obj.Status.ClusterType)
	}
	if n := tn.puts(); n != 1 {
		t.Errorf("%d PUTs of the member set, want 1", n)
	}
	reads := tn.count("GET", groupMemberships, succeeded)
	framework.Holds(t, 3*syncPeriod, func() string {
		if n := tn.puts(); n != 1 {
			return fmt.Sprintf("%d PUTs of the member set over the re-syncs, want still 1", n)
		}
		return ""
	})
	// The re-syncs keep reading the set (drift detection): wait for two more reads rather than
	// count them in a fixed window, which a loaded machine can stretch.
	tn.waitFor("two re-sync reads of the member set", func() (bool, string) {
		more := tn.count("GET", groupMemberships, succeeded) - reads
		return more >= 2, fmt.Sprintf("%d reads since the PUT", more)
	})
	if n := tn.puts(); n != 1 {
		t.Errorf("%d PUTs of the member set after the re-sync reads, want still 1", n)
	}
	tn.membersTable()
}

// TestGroupMemberMissingThenCreated: a member that does not exist is named in
// MembersReferenceResolved (False, SomeMemberNotResolved) and the others are set; once it is
// created and Programmed, one more PUT sets it and the condition turns True.
func TestGroupMemberMissingThenCreated(t *testing.T) {
	t.Parallel()
	tn := newTenant(t)
	byName := tn.programmedMembers("cp-a")
	tn.apply(tn.groupYAML("cp-a", "cp-late"))
	obj := tn.waitCondition(groupName, membersResolved, condFalse, "SomeMemberNotResolved")
	if c := condition(obj, membersResolved); !strings.Contains(c.Message, "KonnectGatewayControlPlane "+tn.ns+"/cp-late not found") {
		t.Errorf("MembersReferenceResolved %s, want it to name the missing member", describeCond(c))
	}
	if c := condition(obj, programmed); c.Status != condFalse || c.Reason != "FailedToSetControlPlaneGroupMembers" {
		t.Errorf("Programmed %s, want False/FailedToSetControlPlaneGroupMembers", describeCond(c))
	}
	if obj.Status.ID == "" || obj.Status.Endpoints == nil {
		t.Errorf("the group's status lacks its id or endpoints: %+v", obj.Status)
	}
	tn.waitMembers(obj.Status.ID, ids(byName, "cp-a"))
	tn.membersTable()
	puts := tn.puts()

	tn.apply(tn.memberYAML("cp-late"))
	byName["cp-late"] = tn.waitCondition("cp-late", programmed, condTrue, "Programmed").Status.ID
	tn.waitCondition(groupName, membersResolved, condTrue, "Resolved")
	tn.waitCondition(groupName, programmed, condTrue, "Programmed")
	tn.waitMembers(obj.Status.ID, ids(byName, "cp-a", "cp-late"))
	if n := tn.puts() - puts; n != 1 {
		t.Errorf("%d PUTs once the member was Programmed, want 1", n)
	}
	tn.membersTable()
}

// TestGroupMemberDeletedFirst: kubectl delete of a member: Konnect refuses to delete a member of
// a group, so the group drops it first (one PUT), then the member's DELETE goes through; the
// group names the member it lacks now.
func TestGroupMemberDeletedFirst(t *testing.T) {
	t.Parallel()
	tn := newTenant(t)
	byName, groupID := tn.resolvedGroup([]string{"cp-a", "cp-b"}, "cp-a", "cp-b")
	puts := tn.puts()

	tn.deleteObject("cp-a", byName["cp-a"])
	tn.waitMembers(groupID, ids(byName, "cp-b"))
	if n := tn.puts() - puts; n != 1 {
		t.Errorf("%d PUTs after the member's deletion, want 1", n)
	}
	t.Logf("DELETEs of cp-a that Konnect refused while it was in the group: %d",
		tn.count("DELETE", "/v2/control-planes/"+byName["cp-a"], func(s int) bool { return s == 409 }))
	obj := tn.waitCondition(groupName, membersResolved, condFalse, "SomeMemberNotResolved")
	if c := condition(obj, membersResolved); !strings.Contains(c.Message, tn.ns+"/cp-a") {
		t.Errorf("MembersReferenceResolved %s, want it to name cp-a", describeCond(c))
	}
	if want := ids(map[string]string{groupName: groupID, "cp-b": byName["cp-b"]}, groupName, "cp-b"); !slices.Equal(tn.konnectIDs(), want) {
		t.Errorf("Konnect holds %s, want the group and cp-b", names(tn.inKonnect()))
	}
	tn.membersTable()
}

// TestGroupDeletedFirst: kubectl delete of the group: it is emptied and deleted in Konnect; its
// members stay there, Programmed.
func TestGroupDeletedFirst(t *testing.T) {
	t.Parallel()
	tn := newTenant(t)
	byName, groupID := tn.resolvedGroup([]string{"cp-a", "cp-b"}, "cp-a", "cp-b")

	tn.deleteObject(groupName, groupID)
	if want := ids(byName, "cp-a", "cp-b"); !slices.Equal(tn.konnectIDs(), want) {
		t.Errorf("Konnect holds %s, want the two members", names(tn.inKonnect()))
	}
	for _, m := range []string{"cp-a", "cp-b"} {
		if n := tn.count("DELETE", "/v2/control-planes/"+byName[m], nil); n != 0 {
			t.Errorf("%d DELETEs of member %s, want none", n, m)
		}
		tn.waitCondition(m, programmed, condTrue, "Programmed")
	}
	tn.membersTable()
}

// TestGroupMemberSetChangedInKonnect: the member set changed out of band in Konnect (a member
// swapped for another control plane) is read at the next re-sync and put back with one PUT.
func TestGroupMemberSetChangedInKonnect(t *testing.T) {
	t.Parallel()
	tn := newTenant(t)
	byName, groupID := tn.resolvedGroup([]string{"cp-a", "cp-other"}, "cp-a")
	tn.waitMembers(groupID, ids(byName, "cp-a"))
	puts := tn.puts()

	if err := env.Konnect.SetGroupMembersDirect(groupID, byName["cp-other"]); err != nil {
		t.Fatal(err)
	}
	tn.waitMembers(groupID, ids(byName, "cp-a"))
	if n := tn.puts() - puts; n != 1 {
		t.Errorf("%d PUTs to put the set back, want 1", n)
	}
	framework.Holds(t, 2*syncPeriod, func() string {
		if got := env.Konnect.GroupMembers(groupID); !slices.Equal(got, ids(byName, "cp-a")) {
			return fmt.Sprintf("Konnect's group holds %v", got)
		}
		return ""
	})
	tn.membersTable()
}
