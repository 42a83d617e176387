package konnect

// The control-plane and data-plane-certificate calls of the Konnect API, as the control-plane
// and extension reconcilers see them. The real implementation is sdkclient.Client; the
// reconcilers' unit tests use fakes. Every call goes to the regional host of the auth
// configuration's server URL (Auth.ServerURL) and waits on the process-wide rate limiter
// first (WithLimiter).

import (
	"context"
	"errors"
	"time"
)

// Auth is what one Konnect call is made with: a KonnectAPIAuthConfiguration's token and its
// normalised server URL (https://host[:port], the regional API host). Its String, GoString and
// MarshalLog keep the token out of every log line and formatted error.
type Auth struct {
	Token     string
	ServerURL string
}

// String keeps the token out of %v and %s.
func (a Auth) String() string { return "{token:[redacted] serverURL:" + a.ServerURL + "}" }

// GoString keeps the token out of %#v.
func (a Auth) GoString() string { return a.String() }

// MarshalLog keeps the token out of structured (logr) logging.
func (a Auth) MarshalLog() any { return struct{ ServerURL string }{a.ServerURL} }

// Cluster types of a control plane (spec.createControlPlaneRequest.cluster_type).
const (
	ClusterTypeControlPlane         = "CLUSTER_TYPE_CONTROL_PLANE"
	ClusterTypeK8sIngressController = "CLUSTER_TYPE_K8S_INGRESS_CONTROLLER"
	ClusterTypeControlPlaneGroup    = "CLUSTER_TYPE_CONTROL_PLANE_GROUP"
)

// ProxyURL is one of a control plane's proxy_urls.
type ProxyURL struct {
	Host     string
	Port     int64
	Protocol string
}

// ControlPlaneSpec is what the controller asks of a control plane: the body of a create
// (all fields) or of an update (Name, Description, AuthType, ProxyURLs, Labels; Konnect does not
// change ClusterType or CloudGateway after creation). Empty strings and nil pointers are not sent.
type ControlPlaneSpec struct {
	Name         string
	Description  string
	ClusterType  string
	AuthType     string
	CloudGateway *bool
	ProxyURLs    []ProxyURL
	Labels       map[string]string
}

// ControlPlane is a control plane as Konnect reports it.
type ControlPlane struct {
	ID           string
	Name         string
	Description  string
	ClusterType  string
	AuthType     string
	CloudGateway bool
	ProxyURLs    []ProxyURL
	Labels       map[string]string
	// ControlPlaneEndpoint and TelemetryEndpoint are config.control_plane_endpoint and
	// config.telemetry_endpoint, e.g. https://acfe5f253f.cp.konghq.com.
	ControlPlaneEndpoint string
	TelemetryEndpoint    string
}

// ControlPlaneFilter narrows ListControlPlanes; empty fields do not filter. Labels are ANDed
// (labels=key:value).
type ControlPlaneFilter struct {
	ID     string
	Name   string
	Labels map[string]string
}

// DataPlaneCertificate is a data-plane client certificate pinned on a control plane.
type DataPlaneCertificate struct {
	ID string
	// Cert is the PEM certificate as Konnect stores it.
	Cert string
	// Title is the title given at registration ("" when none was).
	Title string
}

// ListPageSize is the page[size] of a listing of control planes: Konnect's largest page.
const ListPageSize = 100

// ControlPlaneAPI is the part of the Konnect API the control-plane and extension reconcilers
// use. Every method returns an *APIError (errors.As) for anything but success; none ever
// puts the token in an error.
type ControlPlaneAPI interface {
	// CreateControlPlane sends POST /v2/control-planes. A name already taken is ErrorConflict.
	CreateControlPlane(ctx context.Context, auth Auth, spec ControlPlaneSpec) (*ControlPlane, error)
	// GetControlPlane sends GET /v2/control-planes/{id}. A missing one is ErrorNotFound.
	GetControlPlane(ctx context.Context, auth Auth, id string) (*ControlPlane, error)
	// ListControlPlanes sends GET /v2/control-planes with the filter, following every page
	// (ListPageSize control planes a page).
	ListControlPlanes(ctx context.Context, auth Auth, filter ControlPlaneFilter) ([]ControlPlane, error)
	// UpdateControlPlane sends PATCH /v2/control-planes/{id}.
	UpdateControlPlane(ctx context.Context, auth Auth, id string, spec ControlPlaneSpec) (*ControlPlane, error)
	// DeleteControlPlane sends DELETE /v2/control-planes/{id}. A missing one is ErrorNotFound.
	DeleteControlPlane(ctx context.Context, auth Auth, id string) error

	// ListDataPlaneCertificates sends GET /v2/control-planes/{id}/dp-client-certificates.
	// Neither Konnect's API nor the SDK (v0.46.0) defines paging for it: one answer holds
	// every certificate, and one whose page.total_count counts more is ErrorRejected.
	ListDataPlaneCertificates(ctx context.Context, auth Auth, controlPlaneID string) ([]DataPlaneCertificate, error)
	// CreateDataPlaneCertificate sends POST /v2/control-planes/{id}/dp-client-certificates
	// with {"cert": certPEM, "title": title}; an empty title is not sent.
	CreateDataPlaneCertificate(ctx context.Context, auth Auth, controlPlaneID, certPEM, title string) (*DataPlaneCertificate, error)
	// DeleteDataPlaneCertificate sends DELETE /v2/control-planes/{id}/dp-client-certificates/{certID}.
	// A missing one is ErrorNotFound.
	DeleteDataPlaneCertificate(ctx context.Context, auth Auth, controlPlaneID, certID string) error

	// ListGroupMembers sends GET /v2/control-planes/{id}/group-memberships, following Konnect's
	// cursor (meta.page.next) page after page: the control planes that are members of a
	// control plane group. One that is not a group is ErrorRejected (400).
	ListGroupMembers(ctx context.Context, auth Auth, groupID string) ([]ControlPlane, error)
	// SetGroupMembers sends PUT /v2/control-planes/{id}/group-memberships with
	// {"members":[{"id":…}]}: the group's whole member set is replaced (an empty set removes
	// every member). Sending the same set again changes nothing.
	SetGroupMembers(ctx context.Context, auth Auth, groupID string, memberIDs []string) error
}

// ErrorKind says what a failed Konnect call means for the caller.
type ErrorKind int

const (
	// ErrorTransient: Konnect could not be asked or could not answer (network error,
	// timeout, 408, 429, 5xx). Nothing was learned; try again later, not before RetryAfter.
	ErrorTransient ErrorKind = iota
	// ErrorNotFound: 404.
	ErrorNotFound
	// ErrorConflict: 409, e.g. a control plane of that name exists.
	ErrorConflict
	// ErrorUnauthorized: 401 or 403; the token does not permit the call.
	ErrorUnauthorized
	// ErrorRejected: any other 4xx, or an answer that cannot be understood: Konnect refused
	// this request, and sending it again unchanged will not help.
	ErrorRejected
)

// String returns the kind's name, as used in logs and metric labels.
func (k ErrorKind) String() string {
	switch k {
	case ErrorTransient:
		return "transient"
	case ErrorNotFound:
		return "not_found"
	case ErrorConflict:
		return "conflict"
	case ErrorUnauthorized:
		return "unauthorized"
	case ErrorRejected:
		return "rejected"
	default:
		return "unknown"
	}
}

// APIError is a failed Konnect call. Its text is safe for a condition message, an event and a
// log line: it never holds the token.
type APIError struct {
	// Op names the call for a person, e.g. "creating control plane".
	Op   string
	Kind ErrorKind
	// StatusCode is Konnect's HTTP status, or 0 when no answer arrived.
	StatusCode int
	// Message says what Konnect answered (its problem detail or message, sanitised) or what
	// went wrong on the way.
	Message string
	// RetryAfter is Konnect's Retry-After on a 408, 429 or 5xx, or 0.
	RetryAfter time.Duration
}

// Error implements error.
func (e *APIError) Error() string {
	if e.Message == "" {
		return e.Op + " failed"
	}
	return e.Op + ": " + e.Message
}

// KindOf returns the kind of a Konnect error; anything that is not an *APIError (a context
// ending, a limiter refusing) counts as transient.
func KindOf(err error) ErrorKind {
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		return apiErr.Kind
	}
	return ErrorTransient
}

// IsNotFound reports whether err is Konnect's 404.
func IsNotFound(err error) bool { return err != nil && KindOf(err) == ErrorNotFound }

// IsConflict reports whether err is Konnect's 409.
func IsConflict(err error) bool { return err != nil && KindOf(err) == ErrorConflict }

// IsTransient reports whether err says nothing definitive: try again later.
func IsTransient(err error) bool { return err != nil && KindOf(err) == ErrorTransient }

// RetryAfterOf returns the Retry-After Konnect sent with err, or 0.
func RetryAfterOf(err error) time.Duration {
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		return apiErr.RetryAfter
	}
	return 0
}
