package konnecttest

// Control-plane groups' members, as the fake Konnect (test/fakekonnect) serves them: only a
// group has members, a member is a standard control plane of the group's organization and
// region, and Konnect deletes neither a group that has members nor a control plane that is a
// member of a group (409).

import (
	"context"
	"fmt"
	"slices"

	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/konnect"
)

// Members returns the ids of a group's members, sorted.
func (a *API) Members(groupID string) []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Sorted(slices.Values(a.members[groupID]))
}

// SetMembersDirect replaces a group's members behind the controller's back (as in Konnect's
// UI).
func (a *API) SetMembersDirect(groupID string, memberIDs ...string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.members[groupID] = slices.Clone(memberIDs)
}

func rejected(op, detail string) error {
	return &konnect.APIError{Op: op, Kind: konnect.ErrorRejected, StatusCode: 400, Message: "Konnect answered 400 Bad Request: " + detail}
}

// groupLocked returns the group groupID in serverURL's Konnect, or the error Konnect answers.
// a.mu must be held.
func (a *API) groupLocked(op, serverURL, groupID string) (*konnect.ControlPlane, error) {
	group, ok := a.planes[serverURL][groupID]
	if !ok {
		return nil, notFound(op)
	}
	if group.ClusterType != konnect.ClusterTypeControlPlaneGroup {
		return nil, rejected(op, fmt.Sprintf("control plane %s is not a control plane group", groupID))
	}
	return group, nil
}

// ListGroupMembers implements konnect.ControlPlaneAPI.
func (a *API) ListGroupMembers(_ context.Context, auth konnect.Auth, groupID string) ([]konnect.ControlPlane, error) {
	const op = "listing control plane group members"
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.begin(OpListGroupMembers, auth, groupID, konnect.ControlPlaneSpec{}); err != nil {
		return nil, err
	}
	if _, err := a.groupLocked(op, auth.ServerURL, groupID); err != nil {
		return nil, err
	}
	out := []konnect.ControlPlane{}
	for _, id := range slices.Sorted(slices.Values(a.members[groupID])) {
		out = append(out, clone(a.planes[auth.ServerURL][id]))
	}
	return out, nil
}

// SetGroupMembers implements konnect.ControlPlaneAPI: every member must be a standard
// control plane of the same server URL (400 otherwise).
func (a *API) SetGroupMembers(_ context.Context, auth konnect.Auth, groupID string, memberIDs []string) error {
	const op = "setting control plane group members"
	a.mu.Lock()
	defer a.mu.Unlock()
	call := Call{Op: OpSetGroupMembers, Token: auth.Token, ServerURL: auth.ServerURL, ID: groupID, Members: slices.Clone(memberIDs)}
	if err := a.beginCall(call); err != nil {
		return err
	}
	if _, err := a.groupLocked(op, auth.ServerURL, groupID); err != nil {
		return err
	}
	for _, id := range memberIDs {
		member, ok := a.planes[auth.ServerURL][id]
		switch {
		case !ok:
			return rejected(op, fmt.Sprintf("control plane %s does not exist", id))
		case member.ClusterType != konnect.ClusterTypeControlPlane:
			return rejected(op, fmt.Sprintf("control plane %s is a %s and cannot be a member of a group", id, member.ClusterType))
		}
	}
	a.members[groupID] = slices.Compact(slices.Sorted(slices.Values(memberIDs)))
	return nil
}

// deleteRefusedLocked is Konnect's 409 to the deletion of a group that has members, or of a
// control plane that is a member of a group; nil when it may go. a.mu must be held.
func (a *API) deleteRefusedLocked(id string) error {
	conflict := func(detail string) error {
		return &konnect.APIError{Op: "deleting control plane", Kind: konnect.ErrorConflict, StatusCode: 409, Message: "Konnect answered 409 Conflict: " + detail}
	}
	if len(a.members[id]) > 0 {
		return conflict(fmt.Sprintf("control plane group %s has members", id))
	}
	for group, ids := range a.members {
		if slices.Contains(ids, id) {
			return conflict(fmt.Sprintf("control plane %s is a member of control plane group %s", id, group))
		}
	}
	return nil
}
