package metrics

import (
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/record"
)

// The Event reasons of the extension reconciler (pkg/controller/extension) that the renewal
// counters count: every renewal and every failed attempt is recorded as an Event on the
// KonnectExtension, so the Events and the counters can never disagree.
const (
	// EventCertificateRenewed: an Automatic extension's certificate was replaced.
	EventCertificateRenewed = "CertificateRenewed"
	// EventCertificateRenewalFailed: writing the renewed certificate failed; it is retried.
	EventCertificateRenewalFailed = "CertificateRenewalFailed"
)

// CountEvents returns a recorder that records through rec and counts the Events that are
// renewals (konnect_auth_controller_client_certificate_renewals_total) and failed renewals
// (…_renewal_failures_total). cmd/controller wraps every reconciler's recorder with it.
func (m *Metrics) CountEvents(rec record.EventRecorder) record.EventRecorder {
	return &countingRecorder{EventRecorder: rec, m: m}
}

type countingRecorder struct {
	record.EventRecorder
	m *Metrics
}

func (r *countingRecorder) count(reason string) {
	switch reason {
	case EventCertificateRenewed:
		r.m.renewals.Inc()
	case EventCertificateRenewalFailed:
		r.m.renewalFailures.Inc()
	}
}

func (r *countingRecorder) Event(object runtime.Object, eventtype, reason, message string) {
	r.count(reason)
	r.EventRecorder.Event(object, eventtype, reason, message)
}

func (r *countingRecorder) Eventf(object runtime.Object, eventtype, reason, messageFmt string, args ...any) {
	r.count(reason)
	r.EventRecorder.Eventf(object, eventtype, reason, messageFmt, args...)
}

func (r *countingRecorder) AnnotatedEventf(object runtime.Object, annotations map[string]string, eventtype, reason, messageFmt string, args ...any) {
	r.count(reason)
	r.EventRecorder.AnnotatedEventf(object, annotations, eventtype, reason, messageFmt, args...)
}
