package sdkclient

// Control planes: /v2/control-planes on the regional API, through the SDK's ControlPlanes.

import (
	"context"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/Kong/sdk-konnect-go/models/components"
	"github.com/Kong/sdk-konnect-go/models/operations"

	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/konnect"
)

const (
	// listPageSize is the page[size] of a listing.
	listPageSize = konnect.ListPageSize
	// maxListPages bounds a listing (100 × 100 control planes, far beyond an organization's
	// limit), so that an answer that never ends cannot hold a worker.
	maxListPages = 100
)

// The calls' names, as konnect.APIError.Op and in the log (the same as konnect.WithLimiter's).
const (
	opCreateControlPlane = "creating control plane"
	opGetControlPlane    = "getting control plane"
	opListControlPlanes  = "listing control planes"
	opUpdateControlPlane = "updating control plane"
	opDeleteControlPlane = "deleting control plane"
)

// CreateControlPlane creates a control plane (POST /v2/control-planes) from spec: name,
// description, cluster_type and auth_type when not empty, cloud_gateway when set, proxy_urls
// and labels. A name already taken is ErrorConflict.
func (c *Client) CreateControlPlane(ctx context.Context, auth konnect.Auth, spec konnect.ControlPlaneSpec) (*konnect.ControlPlane, error) {
	r := request{op: opCreateControlPlane, success: http.StatusCreated, answer: "control plane"}
	var cp *konnect.ControlPlane
	err := c.send(ctx, auth, r, func(ctx context.Context, opts []operations.Option) error {
		res, err := c.sdk.ControlPlanes.CreateControlPlane(ctx, createRequest(spec), opts...)
		if err != nil {
			return err
		}
		cp, err = controlPlaneOf(res.GetControlPlane(), auth.Token)
		return err
	})
	if err != nil {
		return nil, err
	}
	return cp, nil
}

// GetControlPlane reads one control plane (GET /v2/control-planes/{id}). A missing one is
// ErrorNotFound.
func (c *Client) GetControlPlane(ctx context.Context, auth konnect.Auth, id string) (*konnect.ControlPlane, error) {
	r := request{op: opGetControlPlane, success: http.StatusOK, answer: "control plane",
		controlPlaneID: id, pathIDs: []pathID{{"control plane", id}}}
	var cp *konnect.ControlPlane
	err := c.send(ctx, auth, r, func(ctx context.Context, opts []operations.Option) error {
		res, err := c.sdk.ControlPlanes.GetControlPlane(ctx, id, opts...)
		if err != nil {
			return err
		}
		cp, err = controlPlaneOf(res.GetControlPlane(), auth.Token)
		return err
	})
	if err != nil {
		return nil, err
	}
	return cp, nil
}

// UpdateControlPlane changes a control plane (PATCH /v2/control-planes/{id}): name,
// description, auth_type, proxy_urls and labels, each only when not empty (the SDK cannot send
// an empty value to clear one). A missing control plane is ErrorNotFound.
func (c *Client) UpdateControlPlane(ctx context.Context, auth konnect.Auth, id string, spec konnect.ControlPlaneSpec) (*konnect.ControlPlane, error) {
	r := request{op: opUpdateControlPlane, success: http.StatusOK, answer: "control plane",
		controlPlaneID: id, pathIDs: []pathID{{"control plane", id}}}
	var cp *konnect.ControlPlane
	err := c.send(ctx, auth, r, func(ctx context.Context, opts []operations.Option) error {
		res, err := c.sdk.ControlPlanes.UpdateControlPlane(ctx, id, updateRequest(spec), opts...)
		if err != nil {
			return err
		}
		cp, err = controlPlaneOf(res.GetControlPlane(), auth.Token)
		return err
	})
	if err != nil {
		return nil, err
	}
	return cp, nil
}

// DeleteControlPlane deletes a control plane (DELETE /v2/control-planes/{id}). A missing one
// is ErrorNotFound.
func (c *Client) DeleteControlPlane(ctx context.Context, auth konnect.Auth, id string) error {
	r := request{op: opDeleteControlPlane, success: http.StatusNoContent,
		controlPlaneID: id, pathIDs: []pathID{{"control plane", id}}}
	return c.send(ctx, auth, r, func(ctx context.Context, opts []operations.Option) error {
		_, err := c.sdk.ControlPlanes.DeleteControlPlane(ctx, id, opts...)
		return err
	})
}

// ListControlPlanes lists the control planes that match filter (GET /v2/control-planes with
// filter[id][eq], filter[name][eq] and labels=k:v,…), reading page after page until one comes
// back short. A control plane that moves between pages while they are read is listed once.
func (c *Client) ListControlPlanes(ctx context.Context, auth konnect.Auth, filter konnect.ControlPlaneFilter) ([]konnect.ControlPlane, error) {
	var all []konnect.ControlPlane
	seen := map[string]bool{}
	for page := int64(1); page <= maxListPages; page++ {
		items, err := c.listControlPlanesPage(ctx, auth, filter, page)
		if err != nil {
			return nil, err
		}
		all = appendUnseen(all, seen, items)
		if len(items) < listPageSize {
			return all, nil
		}
	}
	return nil, &konnect.APIError{Op: opListControlPlanes, Kind: konnect.ErrorRejected,
		Message: "Konnect answered " + strconv.Itoa(maxListPages) + " full pages and more"}
}

// appendUnseen appends to all the control planes of page whose id is not in seen yet, and adds
// their ids to seen: one that moved between pages while they were read is listed once.
func appendUnseen(all []konnect.ControlPlane, seen map[string]bool, page []konnect.ControlPlane) []konnect.ControlPlane {
	for _, cp := range page {
		if !seen[cp.ID] {
			seen[cp.ID] = true
			all = append(all, cp)
		}
	}
	return all
}

// listControlPlanesPage reads one page of a listing.
func (c *Client) listControlPlanesPage(ctx context.Context, auth konnect.Auth, filter konnect.ControlPlaneFilter, page int64) ([]konnect.ControlPlane, error) {
	labels, invalid := labelsQuery(filter.Labels)
	r := request{op: opListControlPlanes, success: http.StatusOK, answer: "list of control planes",
		page: page, invalid: invalid}
	req := listRequest(filter, labels, page)
	var items []konnect.ControlPlane
	err := c.send(ctx, auth, r, func(ctx context.Context, opts []operations.Option) error {
		res, err := c.sdk.ControlPlanes.ListControlPlanes(ctx, req, opts...)
		if err != nil {
			return err
		}
		list := res.GetListControlPlanesResponse()
		if list == nil {
			return &unusableAnswer{"without a list of control planes"}
		}
		items, err = controlPlanesOf(list.Data, auth.Token)
		return err
	})
	if err != nil {
		return nil, err
	}
	return items, nil
}

// listRequest is the SDK's request for one page of a listing.
func listRequest(filter konnect.ControlPlaneFilter, labels string, page int64) operations.ListControlPlanesRequest {
	size := int64(listPageSize)
	req := operations.ListControlPlanesRequest{PageSize: &size, PageNumber: &page}
	var f components.ControlPlaneFilterParameters
	if filter.ID != "" {
		f.ID = &components.ID{Eq: &filter.ID}
	}
	if filter.Name != "" {
		f.Name = &components.ControlPlaneFilterParametersName{Eq: &filter.Name}
	}
	if f.ID != nil || f.Name != nil {
		req.Filter = &f
	}
	if labels != "" {
		req.FilterLabels = &labels
	}
	return req
}

// labelsQuery renders a label filter as Konnect's labels parameter, key:value pairs joined
// by commas in key order (Konnect ANDs them), or says why it cannot: a comma in a key or
// value, or a colon in a key, would change what is asked for.
func labelsQuery(labels map[string]string) (string, string) {
	keys := make([]string, 0, len(labels))
	for k, v := range labels {
		if k == "" || strings.ContainsAny(k, ",:") || strings.Contains(v, ",") {
			return "", "a label filter's key is empty or holds ',' or ':', or its value holds ','"
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	pairs := make([]string, len(keys))
	for i, k := range keys {
		pairs[i] = k + ":" + labels[k]
	}
	return strings.Join(pairs, ","), ""
}

// createRequest is the body of a create.
func createRequest(spec konnect.ControlPlaneSpec) components.CreateControlPlaneRequest {
	req := components.CreateControlPlaneRequest{
		Name:         spec.Name,
		CloudGateway: spec.CloudGateway,
		ProxyUrls:    proxyURLsOut(spec.ProxyURLs),
		Labels:       spec.Labels,
	}
	if spec.Description != "" {
		req.Description = &spec.Description
	}
	if spec.ClusterType != "" {
		req.ClusterType = components.CreateControlPlaneRequestClusterType(spec.ClusterType).ToPointer()
	}
	if spec.AuthType != "" {
		req.AuthType = components.AuthType(spec.AuthType).ToPointer()
	}
	return req
}

// updateRequest is the body of an update. Konnect does not change cluster_type or
// cloud_gateway after creation, and the SDK's update has no field for them.
func updateRequest(spec konnect.ControlPlaneSpec) components.UpdateControlPlaneRequest {
	req := components.UpdateControlPlaneRequest{
		ProxyUrls: proxyURLsOut(spec.ProxyURLs),
		Labels:    spec.Labels,
	}
	if spec.Name != "" {
		req.Name = &spec.Name
	}
	if spec.Description != "" {
		req.Description = &spec.Description
	}
	if spec.AuthType != "" {
		req.AuthType = components.UpdateControlPlaneRequestAuthType(spec.AuthType).ToPointer()
	}
	return req
}

// controlPlaneOf converts a decoded control plane, refusing one without a usable id.
func controlPlaneOf(m *components.ControlPlane, token string) (*konnect.ControlPlane, error) {
	if m == nil {
		return nil, &unusableAnswer{"without a control plane"}
	}
	if err := checkAnswerID("control plane", m.ID, token); err != nil {
		return nil, err
	}
	return &konnect.ControlPlane{
		ID:                   m.ID,
		Name:                 m.Name,
		Description:          m.Description,
		Labels:               m.Labels,
		ClusterType:          string(m.Config.ClusterType),
		AuthType:             string(m.Config.AuthType),
		CloudGateway:         m.Config.CloudGateway,
		ProxyURLs:            proxyURLsIn(m.Config.ProxyUrls),
		ControlPlaneEndpoint: m.Config.ControlPlaneEndpoint,
		TelemetryEndpoint:    m.Config.TelemetryEndpoint,
	}, nil
}

// controlPlanesOf converts the control planes of a decoded page, refusing the page if one
// has no usable id.
func controlPlanesOf(data []components.ControlPlane, token string) ([]konnect.ControlPlane, error) {
	out := make([]konnect.ControlPlane, 0, len(data))
	for i := range data {
		cp, err := controlPlaneOf(&data[i], token)
		if err != nil {
			return nil, err
		}
		out = append(out, *cp)
	}
	return out, nil
}

// proxyURLsOut converts proxy URLs for a request body; none is nil, which is not sent.
func proxyURLsOut(in []konnect.ProxyURL) []components.ProxyURL {
	if len(in) == 0 {
		return nil
	}
	out := make([]components.ProxyURL, len(in))
	for i, u := range in {
		out[i] = components.ProxyURL{Host: u.Host, Port: u.Port, Protocol: u.Protocol}
	}
	return out
}

// proxyURLsIn converts a decoded control plane's proxy URLs.
func proxyURLsIn(in []components.ProxyURL) []konnect.ProxyURL {
	if len(in) == 0 {
		return nil
	}
	out := make([]konnect.ProxyURL, len(in))
	for i, u := range in {
		out[i] = konnect.ProxyURL{Host: u.Host, Port: u.Port, Protocol: u.Protocol}
	}
	return out
}
