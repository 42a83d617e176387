package fakekonnect

// Konnect's control-plane group memberships, as the Konnect SDK v0.46.0 calls them
// (ControlPlaneGroups.GetControlPlanesIDGroupMemberships, PutControlPlanesIDGroupMemberships):
// GET /v2/control-planes/{id}/group-memberships lists a group's members, cursor-paged
// (page[size], page[after]; meta.page.next is the next page's path, null on the last), and
// PUT replaces the whole member set ({"members":[{"id":…}]}, an empty list included). Only a
// control plane group has members (400 for any other control plane); a member is a standard
// control plane (CLUSTER_TYPE_CONTROL_PLANE) of the group's organization and region.
//
// Konnect deletes neither a group that still has members nor a control plane that is still a
// member of a group: both answer 409 (what Kong's kongctl met against Konnect, and why it
// empties a group before deleting it). A deletion in the UI (DeleteControlPlaneDirect) drops
// the memberships with the control plane.

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
)

// groupMembershipsSegment is the path segment below a group that holds its members.
const groupMembershipsSegment = "group-memberships"

// GroupClusterType is a control plane group's config.cluster_type.
const GroupClusterType = "CLUSTER_TYPE_CONTROL_PLANE_GROUP"

// GroupMembers returns the IDs of a group's members, sorted; none for no such group.
func (s *Server) GroupMembers(groupID string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.groupMembers[groupID])
}

// SetGroupMembersDirect replaces a group's members directly, as if done in Konnect's UI. It
// refuses what the API refuses: no such group, a member that is not a standard control plane
// of the group's organization and region.
func (s *Server) SetGroupMembersDirect(groupID string, memberIDs ...string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec := s.controlPlanes[groupID]
	if rec == nil || rec.cp.Config.ClusterType != GroupClusterType {
		return fmt.Errorf("no control plane group %s", groupID)
	}
	if bad := s.checkMembersLocked(where{rec.org, rec.region}, memberIDs); len(bad) > 0 {
		return fmt.Errorf("invalid members: %s", describe(bad))
	}
	s.setMembersLocked(groupID, memberIDs)
	return nil
}

// setMembersLocked stores a group's members, sorted (the listing's order and its cursor's)
// and once each. The caller holds s.mu.
func (s *Server) setMembersLocked(groupID string, memberIDs []string) {
	s.groupMembers[groupID] = slices.Compact(slices.Sorted(slices.Values(memberIDs)))
}

// dropMembershipsLocked forgets a deleted control plane's members and its memberships. The
// caller holds s.mu.
func (s *Server) dropMembershipsLocked(id string) {
	delete(s.groupMembers, id)
	for group, members := range s.groupMembers {
		s.groupMembers[group] = slices.DeleteFunc(members, func(m string) bool { return m == id })
	}
}

// deleteConflictLocked says why Konnect refuses to delete control plane id (409), or "". The
// caller holds s.mu.
func (s *Server) deleteConflictLocked(id string) string {
	if n := len(s.groupMembers[id]); n > 0 {
		return fmt.Sprintf("Control plane group [%s] has %d members: remove them before deleting it", id, n)
	}
	for _, group := range slices.Sorted(maps.Keys(s.groupMembers)) {
		if slices.Contains(s.groupMembers[group], id) {
			return fmt.Sprintf("Control plane [%s] is a member of control plane group [%s]: remove it from the group before deleting it", id, group)
		}
	}
	return ""
}

// checkMembersLocked returns what Konnect refuses in a member set for a group in: ids that
// are not UUIDs, control planes it does not hold there, and control planes that cannot be
// members (groups, and other kinds than the standard one). The caller holds s.mu.
func (s *Server) checkMembersLocked(in where, ids []string) []invalidParameter {
	var bad []invalidParameter
	for i, id := range ids {
		field := "members[" + strconv.Itoa(i) + "].id"
		reason := ""
		rec := s.lookupLocked(in, id)
		switch {
		case !uuidPattern.MatchString(id):
			reason = fmt.Sprintf("must be a UUID, got %q", id)
		case rec == nil:
			reason = fmt.Sprintf("control plane %s does not exist", id)
		case rec.cp.Config.ClusterType != DefaultClusterType:
			reason = fmt.Sprintf("control plane %s is of cluster_type %s; only %s control planes can be members of a group",
				id, rec.cp.Config.ClusterType, DefaultClusterType)
		default:
			continue
		}
		bad = append(bad, invalidParameter{Field: field, Rule: "invalid", Source: "body", Reason: reason})
	}
	return bad
}

// groupLocked returns the group ids[0] of that organization and region, or writes Konnect's
// answer when there is none (404) or it is not a group (400). The caller holds s.mu.
func (s *Server) groupLocked(w http.ResponseWriter, in where, id string) *cpRecord {
	rec := s.lookupLocked(in, id)
	switch {
	case rec == nil:
		writeControlPlaneNotFound(w, id)
		return nil
	case rec.cp.Config.ClusterType != GroupClusterType:
		writeBadRequest(w, fmt.Sprintf("Control plane [%s] is not a control plane group", id), []invalidParameter{{
			Field: "controlPlaneId", Rule: "invalid", Source: "path", Reason: "must be a control plane group"}})
		return nil
	}
	return rec
}

// setGroupMembers answers PUT /v2/control-planes/{id}/group-memberships.
func (s *Server) setGroupMembers(w http.ResponseWriter, r *http.Request, in where, ids []string) {
	var req struct {
		Members *[]struct {
			ID string `json:"id"`
		} `json:"members"`
	}
	if !decodeBody(w, r, &req) {
		writeBadRequest(w, `The request body must be a JSON object like {"members":[{"id":"…"}]}`, nil)
		return
	}
	if req.Members == nil {
		writeBadRequest(w, "Invalid request: members is a required field", []invalidParameter{{
			Field: "members", Rule: "required", Source: "body", Reason: "is a required field"}})
		return
	}
	members := make([]string, len(*req.Members))
	for i, m := range *req.Members {
		members[i] = m.ID
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.groupLocked(w, in, ids[0]) == nil {
		return
	}
	if bad := s.checkMembersLocked(in, members); len(bad) > 0 {
		writeBadRequest(w, "Invalid request: "+describe(bad), bad)
		return
	}
	s.setMembersLocked(ids[0], members)
	w.WriteHeader(http.StatusNoContent)
}

// membershipsPage is the answer of GET …/group-memberships (the SDK's ListGroupMemberships).
type membershipsPage struct {
	Meta struct {
		Page struct {
			Next  *string `json:"next"`
			Size  int     `json:"size"`
			Total *int    `json:"total,omitempty"`
		} `json:"page"`
	} `json:"meta"`
	Data []ControlPlane `json:"data"`
}

// pageCursor is what a page[after] cursor holds: the last member ID of the page before.
type pageCursor struct {
	ID string `json:"id"`
}

func encodeCursor(id string) string {
	return base64.RawURLEncoding.EncodeToString(mustJSON(pageCursor{ID: id}))
}

func decodeCursor(v string) (string, bool) {
	raw, err := base64.RawURLEncoding.DecodeString(v)
	var c pageCursor
	if err != nil || json.Unmarshal(raw, &c) != nil || c.ID == "" {
		return "", false
	}
	return c.ID, true
}

// listGroupMembers answers GET /v2/control-planes/{id}/group-memberships with page[size]
// (DefaultPageSize when absent, at most MaxPageSize) and page[after] (a cursor from the page
// before). total is on the first page only.
func (s *Server) listGroupMembers(w http.ResponseWriter, r *http.Request, in where, ids []string) {
	q := r.URL.Query()
	var bad []invalidParameter
	size := DefaultPageSize
	if v := q.Get("page[size]"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxPageSize {
			bad = append(bad, invalidParameter{Field: "page[size]", Rule: "invalid", Source: "query",
				Reason: fmt.Sprintf("must be a whole number from 1 to %d", MaxPageSize)})
		}
		size = n
	}
	after, first := "", !q.Has("page[after]")
	if !first {
		var ok bool
		if after, ok = decodeCursor(q.Get("page[after]")); !ok {
			bad = append(bad, invalidParameter{Field: "page[after]", Rule: "invalid", Source: "query", Reason: "is not a valid page cursor"})
		}
	}
	if len(bad) > 0 {
		writeBadRequest(w, "Invalid query: "+describe(bad), bad)
		return
	}

	s.mu.Lock()
	if s.groupLocked(w, in, ids[0]) == nil {
		s.mu.Unlock()
		return
	}
	all := s.groupMembers[ids[0]]
	start := 0
	for start < len(all) && all[start] <= after {
		start++
	}
	rest := all[start:]
	var page membershipsPage
	page.Data = []ControlPlane{}
	for _, id := range rest[:min(size, len(rest))] {
		page.Data = append(page.Data, s.controlPlanes[id].cp.clone())
	}
	s.mu.Unlock()

	page.Meta.Page.Size = size
	if first {
		total := len(all)
		page.Meta.Page.Total = &total
	}
	if len(rest) > size {
		q := url.Values{"page[after]": {encodeCursor(rest[size-1])}, "page[size]": {strconv.Itoa(size)}}
		next := r.URL.Path + "?" + q.Encode()
		page.Meta.Page.Next = &next
	}
	writeJSON(w, http.StatusOK, page)
}
