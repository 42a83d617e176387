package sdkclient

// Control-plane groups' members: /v2/control-planes/{id}/group-memberships, through the SDK's
// ControlPlaneGroups. The listing is cursor-paged: each page's meta.page.next is the path of
// the next page (its page[after] parameter is the cursor), null on the last one.

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"github.com/Kong/sdk-konnect-go/models/components"
	"github.com/Kong/sdk-konnect-go/models/operations"

	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/konnect"
)

// The calls' names, as konnect.APIError.Op and in the log (the same as konnect.WithLimiter's).
const (
	opListGroupMembers = "listing control plane group members"
	opSetGroupMembers  = "setting control plane group members"
)

// ListGroupMembers lists a control plane group's members (GET
// /v2/control-planes/{id}/group-memberships?page[size]=100&page[after]=…), following the
// cursor Konnect gives in meta.page.next until a page has none. A member that moves between
// pages while they are read is listed once; a cursor that repeats, or more than maxListPages
// pages, is ErrorRejected rather than a loop.
func (c *Client) ListGroupMembers(ctx context.Context, auth konnect.Auth, groupID string) ([]konnect.ControlPlane, error) {
	var all []konnect.ControlPlane
	seen := map[string]bool{}
	cursors := map[string]bool{}
	cursor := ""
	for page := int64(1); page <= maxListPages; page++ {
		items, next, err := c.listGroupMembersPage(ctx, auth, groupID, cursor, page)
		if err != nil {
			return nil, err
		}
		all = appendUnseen(all, seen, items)
		if next == "" {
			return all, nil
		}
		if cursors[next] {
			return nil, &konnect.APIError{Op: opListGroupMembers, Kind: konnect.ErrorRejected,
				Message: "Konnect answered a page cursor it had answered before"}
		}
		cursors[next], cursor = true, next
	}
	return nil, &konnect.APIError{Op: opListGroupMembers, Kind: konnect.ErrorRejected,
		Message: "Konnect answered " + strconv.Itoa(maxListPages) + " pages and more"}
}

// listGroupMembersPage reads one page of a group's members after cursor ("" for the first),
// and returns the next page's cursor ("" after the last page).
func (c *Client) listGroupMembersPage(ctx context.Context, auth konnect.Auth, groupID, cursor string, page int64) ([]konnect.ControlPlane, string, error) {
	r := request{op: opListGroupMembers, success: http.StatusOK, answer: "list of control plane group members",
		controlPlaneID: groupID, pathIDs: []pathID{{"control plane group", groupID}}, page: page}
	size := int64(listPageSize)
	req := operations.GetControlPlanesIDGroupMembershipsRequest{ControlPlaneID: groupID, PageSize: &size}
	if cursor != "" {
		req.PageAfter = &cursor
	}
	var items []konnect.ControlPlane
	next := ""
	err := c.send(ctx, auth, r, func(ctx context.Context, opts []operations.Option) error {
		res, err := c.sdk.ControlPlaneGroups.GetControlPlanesIDGroupMemberships(ctx, req, opts...)
		if err != nil {
			return err
		}
		list := res.GetListGroupMemberships()
		if list == nil {
			return &unusableAnswer{"without a list of control plane group members"}
		}
		if items, err = controlPlanesOf(list.Data, auth.Token); err != nil {
			return err
		}
		next, err = cursorOf(list.Meta.Page.Next)
		return err
	})
	if err != nil {
		return nil, "", err
	}
	return items, next, nil
}

// cursorOf reads the page[after] cursor out of meta.page.next, a path with a query such as
// /v2/control-planes/{id}/group-memberships?page%5Bafter%5D=…; none (null or "") is the last
// page.
func cursorOf(next *string) (string, error) {
	if next == nil || *next == "" {
		return "", nil
	}
	u, err := url.Parse(*next)
	if err != nil {
		return "", &unusableAnswer{"with a next page that is not a URL path"}
	}
	cursor := u.Query().Get("page[after]")
	if cursor == "" {
		return "", &unusableAnswer{"with a next page that has no page[after] cursor"}
	}
	return cursor, nil
}

// SetGroupMembers replaces a control plane group's members (PUT
// /v2/control-planes/{id}/group-memberships with {"members":[{"id":…},…]}; an empty list
// removes them all). A missing group is ErrorNotFound; Konnect refuses (400) a control plane
// that is not a group, and members it cannot take.
func (c *Client) SetGroupMembers(ctx context.Context, auth konnect.Auth, groupID string, memberIDs []string) error {
	r := request{op: opSetGroupMembers, success: http.StatusNoContent,
		controlPlaneID: groupID, pathIDs: []pathID{{"control plane group", groupID}}}
	members := make([]components.Members, len(memberIDs))
	for i, id := range memberIDs {
		if msg := idProblem("member control plane", id); msg != "" && r.invalid == "" {
			r.invalid = msg
		}
		members[i] = components.Members{ID: id}
	}
	return c.send(ctx, auth, r, func(ctx context.Context, opts []operations.Option) error {
		body := &components.GroupMembership{Members: members}
		_, err := c.sdk.ControlPlaneGroups.PutControlPlanesIDGroupMemberships(ctx, groupID, body, opts...)
		return err
	})
}
