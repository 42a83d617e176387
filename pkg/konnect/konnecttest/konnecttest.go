// Package konnecttest is an in-memory konnect.ControlPlaneAPI for the reconcilers' unit tests:
// control planes and data-plane certificates per server URL, every call recorded, and failures
// injected per operation.
package konnecttest

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/konnect"
)

// Operation names, as recorded in Call.Op and used by Fail.
const (
	OpCreateControlPlane = "CreateControlPlane"
	OpGetControlPlane    = "GetControlPlane"
	OpListControlPlanes  = "ListControlPlanes"
	OpUpdateControlPlane = "UpdateControlPlane"
	OpDeleteControlPlane = "DeleteControlPlane"
	OpListCertificates   = "ListDataPlaneCertificates"
	OpCreateCertificate  = "CreateDataPlaneCertificate"
	OpDeleteCertificate  = "DeleteDataPlaneCertificate"
	OpListGroupMembers   = "ListGroupMembers"
	OpSetGroupMembers    = "SetGroupMembers"
)

// Call is one recorded call. Token is recorded so tests can check which credentials were used.
type Call struct {
	Op        string
	Token     string
	ServerURL string
	// ID is the control plane's id (and, for certificate deletes, "cpID/certID").
	ID   string
	Spec konnect.ControlPlaneSpec
	// Members is the member set a SetGroupMembers sent.
	Members []string
}

// API is the in-memory Konnect. The zero value is not usable: call New.
type API struct {
	mu       sync.Mutex
	calls    []Call
	failures map[string][]error
	// planes by server URL, then id.
	planes map[string]map[string]*konnect.ControlPlane
	certs  map[string][]konnect.DataPlaneCertificate // by control plane id
	// members are the groups' member ids, by group id (groups.go).
	members map[string][]string
	nextID  int
}

var _ konnect.ControlPlaneAPI = (*API)(nil)

// New returns an empty API.
func New() *API {
	return &API{
		failures: map[string][]error{},
		planes:   map[string]map[string]*konnect.ControlPlane{},
		certs:    map[string][]konnect.DataPlaneCertificate{},
		members:  map[string][]string{},
	}
}

// Fail makes the next len(errs) calls of op fail with errs, in order.
func (a *API) Fail(op string, errs ...error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.failures[op] = append(a.failures[op], errs...)
}

// Transient is a 503 as the real client reports it.
func Transient(op string) error {
	return &konnect.APIError{Op: op, Kind: konnect.ErrorTransient, StatusCode: 503, Message: "Konnect answered 503 Service Unavailable"}
}

// Calls returns every call so far.
func (a *API) Calls() []Call {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.calls)
}

// Count returns how many calls of op were made.
func (a *API) Count(op string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for _, c := range a.calls {
		if c.Op == op {
			n++
		}
	}
	return n
}

// Writes returns how many create, update, delete and set-members calls were made.
func (a *API) Writes() int {
	return a.Count(OpCreateControlPlane) + a.Count(OpUpdateControlPlane) + a.Count(OpDeleteControlPlane) +
		a.Count(OpCreateCertificate) + a.Count(OpDeleteCertificate) + a.Count(OpSetGroupMembers)
}

// ResetCalls forgets the recorded calls.
func (a *API) ResetCalls() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls = nil
}

// Seed stores a control plane as if it had been created in Konnect (e.g. by someone else) and
// returns its id.
func (a *API) Seed(serverURL string, spec konnect.ControlPlaneSpec) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.store(serverURL, spec).ID
}

// Remove deletes a control plane behind the controller's back (as in Konnect's UI), with its
// group memberships.
func (a *API) Remove(serverURL, id string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.dropLocked(serverURL, id)
}

// dropLocked deletes a control plane, its certificates, its members if it is a group, and its
// memberships. a.mu must be held.
func (a *API) dropLocked(serverURL, id string) {
	delete(a.planes[serverURL], id)
	delete(a.certs, id)
	delete(a.members, id)
	for group, ids := range a.members {
		a.members[group] = slices.DeleteFunc(ids, func(m string) bool { return m == id })
	}
}

// ControlPlanes returns the control planes stored for serverURL, sorted by name.
func (a *API) ControlPlanes(serverURL string) []konnect.ControlPlane {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []konnect.ControlPlane
	for _, cp := range a.planes[serverURL] {
		out = append(out, clone(cp))
	}
	slices.SortFunc(out, func(x, y konnect.ControlPlane) int { return strings.Compare(x.Name, y.Name) })
	return out
}

// begin records a call and returns the injected failure, if any. a.mu must be held.
func (a *API) begin(op string, auth konnect.Auth, id string, spec konnect.ControlPlaneSpec) error {
	return a.beginCall(Call{Op: op, Token: auth.Token, ServerURL: auth.ServerURL, ID: id, Spec: spec})
}

// beginCall is begin for a call described in full.
func (a *API) beginCall(call Call) error {
	op := call.Op
	a.calls = append(a.calls, call)
	if errs := a.failures[op]; len(errs) > 0 {
		a.failures[op] = errs[1:]
		return errs[0]
	}
	return nil
}

func (a *API) store(serverURL string, spec konnect.ControlPlaneSpec) *konnect.ControlPlane {
	a.nextID++
	id := fmt.Sprintf("00000000-0000-4000-8000-%012d", a.nextID)
	cp := &konnect.ControlPlane{ID: id}
	apply(cp, spec, true)
	cp.ControlPlaneEndpoint = fmt.Sprintf("https://%010d.cp.konghq.com", a.nextID)
	cp.TelemetryEndpoint = fmt.Sprintf("https://%010d.tp0.konghq.com", a.nextID)
	if a.planes[serverURL] == nil {
		a.planes[serverURL] = map[string]*konnect.ControlPlane{}
	}
	a.planes[serverURL][id] = cp
	return cp
}

// apply writes spec into cp as Konnect does: an update, like the SDK's PATCH body, leaves
// what it does not carry (an empty description, auth_type or proxy_urls) as it was.
func apply(cp *konnect.ControlPlane, spec konnect.ControlPlaneSpec, create bool) {
	cp.Name = spec.Name
	if create || spec.Description != "" {
		cp.Description = spec.Description
	}
	if create || spec.AuthType != "" {
		cp.AuthType = spec.AuthType
	}
	if cp.AuthType == "" {
		cp.AuthType = "pinned_client_certs"
	}
	if create || len(spec.ProxyURLs) > 0 {
		cp.ProxyURLs = slices.Clone(spec.ProxyURLs)
	}
	cp.Labels = maps.Clone(spec.Labels)
	if create {
		cp.ClusterType = spec.ClusterType
		if cp.ClusterType == "" {
			cp.ClusterType = konnect.ClusterTypeControlPlane
		}
		cp.CloudGateway = spec.CloudGateway != nil && *spec.CloudGateway
	}
}

func clone(cp *konnect.ControlPlane) konnect.ControlPlane {
	c := *cp
	c.Labels = maps.Clone(cp.Labels)
	c.ProxyURLs = slices.Clone(cp.ProxyURLs)
	return c
}

func notFound(op string) error {
	return &konnect.APIError{Op: op, Kind: konnect.ErrorNotFound, StatusCode: 404, Message: "Konnect answered 404 Not Found"}
}

// CreateControlPlane implements konnect.ControlPlaneAPI; a taken name is a 409.
func (a *API) CreateControlPlane(_ context.Context, auth konnect.Auth, spec konnect.ControlPlaneSpec) (*konnect.ControlPlane, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.begin(OpCreateControlPlane, auth, "", spec); err != nil {
		return nil, err
	}
	for _, cp := range a.planes[auth.ServerURL] {
		if cp.Name == spec.Name {
			return nil, &konnect.APIError{Op: "creating control plane", Kind: konnect.ErrorConflict, StatusCode: 409,
				Message: "Konnect answered 409 Conflict: Key (org_id, name)=(…, " + spec.Name + ") already exists."}
		}
	}
	c := clone(a.store(auth.ServerURL, spec))
	return &c, nil
}

// GetControlPlane implements konnect.ControlPlaneAPI.
func (a *API) GetControlPlane(_ context.Context, auth konnect.Auth, id string) (*konnect.ControlPlane, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.begin(OpGetControlPlane, auth, id, konnect.ControlPlaneSpec{}); err != nil {
		return nil, err
	}
	cp, ok := a.planes[auth.ServerURL][id]
	if !ok {
		return nil, notFound("getting control plane")
	}
	c := clone(cp)
	return &c, nil
}

// ListControlPlanes implements konnect.ControlPlaneAPI.
func (a *API) ListControlPlanes(_ context.Context, auth konnect.Auth, filter konnect.ControlPlaneFilter) ([]konnect.ControlPlane, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.begin(OpListControlPlanes, auth, filter.ID, konnect.ControlPlaneSpec{Name: filter.Name, Labels: filter.Labels}); err != nil {
		return nil, err
	}
	var out []konnect.ControlPlane
	for _, cp := range a.planes[auth.ServerURL] {
		if filter.ID != "" && cp.ID != filter.ID || filter.Name != "" && cp.Name != filter.Name {
			continue
		}
		matches := true
		for k, v := range filter.Labels {
			if cp.Labels[k] != v {
				matches = false
			}
		}
		if matches {
			out = append(out, clone(cp))
		}
	}
	slices.SortFunc(out, func(x, y konnect.ControlPlane) int { return strings.Compare(x.Name, y.Name) })
	return out, nil
}

// UpdateControlPlane implements konnect.ControlPlaneAPI.
func (a *API) UpdateControlPlane(_ context.Context, auth konnect.Auth, id string, spec konnect.ControlPlaneSpec) (*konnect.ControlPlane, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.begin(OpUpdateControlPlane, auth, id, spec); err != nil {
		return nil, err
	}
	cp, ok := a.planes[auth.ServerURL][id]
	if !ok {
		return nil, notFound("updating control plane")
	}
	apply(cp, spec, false)
	c := clone(cp)
	return &c, nil
}

// DeleteControlPlane implements konnect.ControlPlaneAPI.
func (a *API) DeleteControlPlane(_ context.Context, auth konnect.Auth, id string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.begin(OpDeleteControlPlane, auth, id, konnect.ControlPlaneSpec{}); err != nil {
		return err
	}
	if _, ok := a.planes[auth.ServerURL][id]; !ok {
		return notFound("deleting control plane")
	}
	if err := a.deleteRefusedLocked(id); err != nil {
		return err
	}
	a.dropLocked(auth.ServerURL, id)
	return nil
}
