package fakekonnect

import (
	"net/http"
	"slices"
	"strings"
	"testing"
)

func membershipsURL(base, groupID string) string {
	return base + "/v2/control-planes/" + groupID + "/" + groupMembershipsSegment
}

// membershipsPageOf decodes a 200 answer of GET …/group-memberships, checking its shape: the
// member IDs, meta.page.next ("" when null), meta.page.total (-1 when absent) and size.
func membershipsPageOf(t *testing.T, resp *http.Response, body []byte) (ids []string, next string, total, size int) {
	t.Helper()
	m := checkJSON(t, resp, body, http.StatusOK)
	checkKeys(t, "memberships answer", m, "meta", "data")
	page, _ := m["meta"].(map[string]any)["page"].(map[string]any)
	if _, ok := page["next"]; !ok {
		t.Errorf("meta.page %v has no next (null on the last page)", page)
	}
	next, _ = page["next"].(string)
	total = -1
	if v, ok := page["total"].(float64); ok {
		total = int(v)
	}
	sz, _ := page["size"].(float64)
	for _, x := range m["data"].([]any) {
		cp, _ := x.(map[string]any)
		checkControlPlaneObject(t, cp)
		ids = append(ids, cp["id"].(string))
	}
	return ids, next, total, int(sz)
}

// put sends a member set and returns the answer.
func (a *api) putMembers(base, groupID string, body any) (*http.Response, []byte) {
	a.t.Helper()
	return a.do("PUT", membershipsURL(base, groupID), body)
}

func membersBody(ids ...string) map[string]any {
	members := []map[string]string{}
	for _, id := range ids {
		members = append(members, map[string]string{"id": id})
	}
	return map[string]any{"members": members}
}

func TestGroupMemberships(t *testing.T) {
	srv := start(t, Options{})
	a := newAPI(t, srv, tokenA)
	group := a.create(usAPI, map[string]any{"name": "group", "cluster_type": GroupClusterType})["id"].(string)
	var members []string
	for i := range 12 {
		members = append(members, a.create(usAPI, map[string]any{"name": "member-" + string(rune('a'+i))})["id"].(string))
	}
	slices.Sort(members)

	// A new group has no members.
	resp, body := a.do("GET", membershipsURL(usAPI, group), nil)
	if ids, next, total, size := membershipsPageOf(t, resp, body); len(ids) != 0 || next != "" || total != 0 || size != DefaultPageSize {
		t.Fatalf("new group: %v next %q total %d size %d", ids, next, total, size)
	}

	// PUT replaces the set: 204, no body; the same set again changes nothing.
	for range 2 {
		resp, body = a.putMembers(usAPI, group, membersBody(members...))
		if resp.StatusCode != http.StatusNoContent || len(body) != 0 {
			t.Fatalf("PUT: %d %s, want 204 without a body", resp.StatusCode, body)
		}
	}
	if got := srv.GroupMembers(group); !slices.Equal(got, members) {
		t.Fatalf("members %v, want %v", got, members)
	}

	// The listing follows its cursor: total on the first page only, next null on the last.
	var listed []string
	u := membershipsURL(usAPI, group) + "?page[size]=5"
	for pages := 0; u != ""; pages++ {
		if pages > 3 {
			t.Fatalf("more than 3 pages of 5 for 12 members")
		}
		resp, body = a.do("GET", u, nil)
		ids, next, total, size := membershipsPageOf(t, resp, body)
		if size != 5 || (pages == 0) != (total == 12) || (pages > 0 && total != -1) {
			t.Errorf("page %d: size %d total %d", pages, size, total)
		}
		if next != "" && !strings.HasPrefix(next, "/v2/control-planes/"+group+"/group-memberships?") {
			t.Errorf("next = %q, want the path of the next page", next)
		}
		listed = append(listed, ids...)
		if u = ""; next != "" {
			u = usAPI + next
		}
	}
	if !slices.Equal(listed, members) {
		t.Fatalf("listed %v, want %v", listed, members)
	}

	// Validation: nothing refused changes the set.
	kic := a.create(usAPI, map[string]any{"name": "kic", "cluster_type": "CLUSTER_TYPE_K8S_INGRESS_CONTROLLER"})["id"].(string)
	other := a.create(usAPI, map[string]any{"name": "other-group", "cluster_type": GroupClusterType})["id"].(string)
	eu := a.create(euAPI, map[string]any{"name": "eu"})["id"].(string)
	orgB := a.as(tokenB).create(usAPI, map[string]any{"name": "b"})["id"].(string)
	for name, bad := range map[string]struct {
		body  any
		field string
	}{
		"not JSON":             {"not json", ""},
		"no members field":     {map[string]any{}, "members"},
		"null members":         {map[string]any{"members": nil}, "members"},
		"malformed id":         {membersBody(members[0], "nope"), "members[1].id"},
		"unknown id":           {membersBody(newUUID()), "members[0].id"},
		"ingress controller":   {membersBody(kic), "members[0].id"},
		"a group as a member":  {membersBody(other), "members[0].id"},
		"itself":               {membersBody(group), "members[0].id"},
		"another region":       {membersBody(eu), "members[0].id"},
		"another organization": {membersBody(orgB), "members[0].id"},
	} {
		resp, body := a.putMembers(usAPI, group, bad.body)
		p := checkProblem(t, resp, body, http.StatusBadRequest)
		if bad.field != "" {
			checkInvalidParameter(t, p, bad.field, map[bool]string{true: "required", false: "invalid"}[bad.field == "members"])
		}
		if t.Failed() {
			t.Fatalf("%s: %s", name, body)
		}
	}
	if got := srv.GroupMembers(group); !slices.Equal(got, members) {
		t.Fatalf("refused PUTs changed the members to %v", got)
	}

	// Only a group has members; another organization does not see the group.
	for _, m := range []string{"GET", "PUT"} {
		resp, body = a.do(m, membershipsURL(usAPI, members[0]), membersBody())
		checkProblem(t, resp, body, http.StatusBadRequest)
		resp, body = a.do(m, membershipsURL(usAPI, newUUID()), membersBody())
		checkProblem(t, resp, body, http.StatusNotFound)
		resp, body = a.as(tokenB).do(m, membershipsURL(usAPI, group), membersBody())
		checkProblem(t, resp, body, http.StatusNotFound)
	}
	for _, q := range []string{"?page[size]=0", "?page[size]=101", "?page[size]=x", "?page[after]=!!", "?page[after]="} {
		resp, body = a.do("GET", membershipsURL(usAPI, group)+q, nil)
		checkProblem(t, resp, body, http.StatusBadRequest)
	}

	// An empty list removes every member.
	resp, _ = a.putMembers(usAPI, group, membersBody())
	if resp.StatusCode != http.StatusNoContent || len(srv.GroupMembers(group)) != 0 {
		t.Fatalf("PUT []: %d, members %v", resp.StatusCode, srv.GroupMembers(group))
	}
}

// TestGroupDeletion: Konnect deletes neither a group with members nor a member of a group
// (409); once the membership is gone both go. A deletion in the UI takes the memberships
// along.
func TestGroupDeletion(t *testing.T) {
	srv := start(t, Options{})
	a := newAPI(t, srv, tokenA)
	group := a.create(usAPI, map[string]any{"name": "group", "cluster_type": GroupClusterType})["id"].(string)
	m1 := a.create(usAPI, map[string]any{"name": "m1"})["id"].(string)
	m2 := a.create(usAPI, map[string]any{"name": "m2"})["id"].(string)
	if resp, body := a.putMembers(usAPI, group, membersBody(m1, m2)); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("PUT: %d %s", resp.StatusCode, body)
	}
	cpURL := func(id string) string { return usAPI + "/v2/control-planes/" + id }

	for _, id := range []string{group, m1} {
		resp, body := a.do("DELETE", cpURL(id), nil)
		p := checkProblem(t, resp, body, http.StatusConflict)
		if d, _ := p["detail"].(string); !strings.Contains(d, group) {
			t.Errorf("409 detail %q does not name the group", d)
		}
	}
	if len(srv.ControlPlanes(tokenA, "us")) != 3 || len(srv.GroupMembers(group)) != 2 {
		t.Fatalf("a refused DELETE changed something")
	}

	// The member leaves the group (one PUT), then goes.
	a.putMembers(usAPI, group, membersBody(m2))
	if resp, body := a.do("DELETE", cpURL(m1), nil); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE m1 after it left the group: %d %s", resp.StatusCode, body)
	}
	// A member deleted in the UI leaves the group with it; so does an emptied group.
	if !srv.DeleteControlPlaneDirect(m2) || len(srv.GroupMembers(group)) != 0 {
		t.Fatalf("after deleting m2 in the UI the group has %v", srv.GroupMembers(group))
	}
	if resp, body := a.do("DELETE", cpURL(group), nil); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE the emptied group: %d %s", resp.StatusCode, body)
	}

	// SetGroupMembersDirect refuses what the API refuses.
	cp := a.create(usAPI, map[string]any{"name": "cp"})["id"].(string)
	g2 := a.create(usAPI, map[string]any{"name": "g2", "cluster_type": GroupClusterType})["id"].(string)
	if err := srv.SetGroupMembersDirect(cp, cp); err == nil {
		t.Errorf("SetGroupMembersDirect on a control plane that is not a group succeeded")
	}
	if err := srv.SetGroupMembersDirect(g2, g2); err == nil {
		t.Errorf("SetGroupMembersDirect with a group as member succeeded")
	}
	if err := srv.SetGroupMembersDirect(g2, cp); err != nil || !slices.Equal(srv.GroupMembers(g2), []string{cp}) {
		t.Errorf("SetGroupMembersDirect(g2, cp): %v, members %v", err, srv.GroupMembers(g2))
	}
}
