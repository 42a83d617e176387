package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/konnect"
)

// apiOperations are the label values of konnect_api_requests_total's operation.
var apiOperations = []string{
	"create_control_plane", "get_control_plane", "list_control_planes", "update_control_plane", "delete_control_plane",
	"list_dp_certificates", "create_dp_certificate", "delete_dp_certificate",
	"list_group_members", "set_group_members",
}

// apiOutcomes are the label values of its outcome: ok, or the error kind.
var apiOutcomes = []string{"ok",
	konnect.ErrorTransient.String(), konnect.ErrorNotFound.String(), konnect.ErrorConflict.String(),
	konnect.ErrorUnauthorized.String(), konnect.ErrorRejected.String()}

// InstrumentControlPlaneAPI counts and times every control-plane and certificate call that
// reaches next, by operation and outcome. Put it below the rate limiter, so that it sees real
// calls only. No label holds anything but those two fixed sets of names.
func (m *Metrics) InstrumentControlPlaneAPI(next konnect.ControlPlaneAPI) konnect.ControlPlaneAPI {
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "konnect_api_requests_total",
		Help: "Control-plane and data-plane-certificate calls sent to Konnect, by operation and outcome (ok, transient, not_found, conflict, unauthorized, rejected).",
	}, []string{"operation", "outcome"})
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Name: "konnect_api_request_duration_seconds",
		Help:    "Latency of control-plane and data-plane-certificate calls sent to Konnect, by operation.",
		Buckets: []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
	}, []string{"operation"})
	for _, op := range apiOperations {
		duration.WithLabelValues(op)
		for _, outcome := range apiOutcomes {
			requests.WithLabelValues(op, outcome)
		}
	}
	m.registry.MustRegister(requests, duration)
	return &instrumentedAPI{next: next, requests: requests, duration: duration, m: m}
}

type instrumentedAPI struct {
	next     konnect.ControlPlaneAPI
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	// m counts the answer by class and organization too (konnect_responses_total).
	m *Metrics
}

// observe records one call of op with auth that started at start and ended with err.
func (a *instrumentedAPI) observe(op string, auth konnect.Auth, start time.Time, err error) {
	elapsed := time.Since(start).Seconds()
	outcome := "ok"
	if err != nil {
		outcome = konnect.KindOf(err).String()
	}
	a.requests.WithLabelValues(op, outcome).Inc()
	a.duration.WithLabelValues(op).Observe(elapsed)
	a.m.observeResponse(a.m.orgs.of(auth.Token, auth.ServerURL), classOfError(err), elapsed)
}

func (a *instrumentedAPI) CreateControlPlane(ctx context.Context, auth konnect.Auth, spec konnect.ControlPlaneSpec) (cp *konnect.ControlPlane, err error) {
	defer func(start time.Time) { a.observe("create_control_plane", auth, start, err) }(time.Now())
	return a.next.CreateControlPlane(ctx, auth, spec)
}

func (a *instrumentedAPI) GetControlPlane(ctx context.Context, auth konnect.Auth, id string) (cp *konnect.ControlPlane, err error) {
	defer func(start time.Time) { a.observe("get_control_plane", auth, start, err) }(time.Now())
	return a.next.GetControlPlane(ctx, auth, id)
}

func (a *instrumentedAPI) ListControlPlanes(ctx context.Context, auth konnect.Auth, filter konnect.ControlPlaneFilter) (cps []konnect.ControlPlane, err error) {
	defer func(start time.Time) { a.observe("list_control_planes", auth, start, err) }(time.Now())
	return a.next.ListControlPlanes(ctx, auth, filter)
}

func (a *instrumentedAPI) UpdateControlPlane(ctx context.Context, auth konnect.Auth, id string, spec konnect.ControlPlaneSpec) (cp *konnect.ControlPlane, err error) {
	defer func(start time.Time) { a.observe("update_control_plane", auth, start, err) }(time.Now())
	return a.next.UpdateControlPlane(ctx, auth, id, spec)
}

func (a *instrumentedAPI) DeleteControlPlane(ctx context.Context, auth konnect.Auth, id string) (err error) {
	defer func(start time.Time) { a.observe("delete_control_plane", auth, start, err) }(time.Now())
	return a.next.DeleteControlPlane(ctx, auth, id)
}

func (a *instrumentedAPI) ListDataPlaneCertificates(ctx context.Context, auth konnect.Auth, controlPlaneID string) (certs []konnect.DataPlaneCertificate, err error) {
	defer func(start time.Time) { a.observe("list_dp_certificates", auth, start, err) }(time.Now())
	return a.next.ListDataPlaneCertificates(ctx, auth, controlPlaneID)
}

func (a *instrumentedAPI) CreateDataPlaneCertificate(ctx context.Context, auth konnect.Auth, controlPlaneID, certPEM, title string) (cert *konnect.DataPlaneCertificate, err error) {
	defer func(start time.Time) { a.observe("create_dp_certificate", auth, start, err) }(time.Now())
	return a.next.CreateDataPlaneCertificate(ctx, auth, controlPlaneID, certPEM, title)
}

func (a *instrumentedAPI) DeleteDataPlaneCertificate(ctx context.Context, auth konnect.Auth, controlPlaneID, certID string) (err error) {
	defer func(start time.Time) { a.observe("delete_dp_certificate", auth, start, err) }(time.Now())
	return a.next.DeleteDataPlaneCertificate(ctx, auth, controlPlaneID, certID)
}

func (a *instrumentedAPI) ListGroupMembers(ctx context.Context, auth konnect.Auth, groupID string) (members []konnect.ControlPlane, err error) {
	defer func(start time.Time) { a.observe("list_group_members", auth, start, err) }(time.Now())
	return a.next.ListGroupMembers(ctx, auth, groupID)
}

func (a *instrumentedAPI) SetGroupMembers(ctx context.Context, auth konnect.Auth, groupID string, memberIDs []string) (err error) {
	defer func(start time.Time) { a.observe("set_group_members", auth, start, err) }(time.Now())
	return a.next.SetGroupMembers(ctx, auth, groupID, memberIDs)
}
