// Package metrics exposes the controller's Prometheus metrics: the workqueue's, Konnect calls
// by outcome, by class and organization, and latency, the validation cache's hits and misses,
// configurations by verdict, every object's conditions, deletions waiting, client
// certificates' expiry and renewals (objects.go, events.go), and the build. No label ever
// carries a token, a Secret's data or a hash of either: labels are fixed sets (outcomes,
// classes, condition types, statuses and reasons), the queue's name, Konnect organization ids,
// and the kind, namespace and name of the controller's own objects.
package metrics

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/util/workqueue"

	konnectv1alpha1 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha1"
	listers "github.com/konnect-auth-controller/konnect-auth-controller/pkg/generated/listers/konnect/v1alpha1"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/konnect"
)

const namespace = "konnect_auth_controller"

// Metrics is the controller's registry and the instruments the other packages feed.
type Metrics struct {
	registry        *prometheus.Registry
	konnectRequests *prometheus.CounterVec
	konnectDuration *prometheus.HistogramVec
	// responses and responseDuration count and time every answer from Konnect, token checks
	// and control-plane calls alike, by class (and responses by organization, from orgs).
	responses        *prometheus.CounterVec
	responseDuration *prometheus.HistogramVec
	orgs             *organizations
	// renewals and renewalFailures count client-certificate renewals (CountEvents).
	renewals        prometheus.Counter
	renewalFailures prometheus.Counter
	// resyncsSlowed counts the 429s that held re-syncs back (ResyncsSlowed).
	resyncsSlowed prometheus.Counter
}

// New creates a registry holding the Go runtime and process collectors and build_info.
func New(version string) *Metrics {
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		konnectRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "konnect_requests_total",
			Help: "Token checks sent to Konnect, by outcome (valid, invalid, forbidden, invalid_response, unavailable).",
		}, []string{"outcome"}),
		konnectDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "konnect_request_duration_seconds",
			Help:    "Latency of token checks sent to Konnect, by outcome.",
			Buckets: []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
		}, []string{"outcome"}),
		responses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "konnect_responses_total",
			Help: "Answers from Konnect (token checks, control-plane and certificate calls) by the organization of the token " +
				"(\"unknown\" until a check accepted it) and class (ok, unauthorized, forbidden, rate_limited, transient, rejected).",
		}, []string{"organization", "class"}),
		responseDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "konnect_response_duration_seconds",
			Help:    "Latency of every call to Konnect (token checks, control-plane and certificate calls), by the class of its answer.",
			Buckets: []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
		}, []string{"class"}),
		orgs: newOrganizations(),
		renewals: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Name: "client_certificate_renewals_total",
			Help: "Client certificates of KonnectExtensions (provisioning Automatic) renewed: replaced with a new key and certificate.",
		}),
		renewalFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Name: "client_certificate_renewal_failures_total",
			Help: "Client-certificate renewals that failed to write the new certificate (each failed attempt; retried with backoff).",
		}),
		resyncsSlowed: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Name: "konnect_resyncs_slowed_total",
			Help: "Answers 429 from Konnect that held the re-syncs back (for the answer's Retry-After, 15s when absent); user-driven calls go on.",
		}),
	}
	for _, class := range responseClasses {
		m.responseDuration.WithLabelValues(class)
	}
	// Every outcome exists from the start, so rate() and absence alerts work before the first call.
	for v := konnect.VerdictValid; v <= konnect.VerdictUnavailable; v++ {
		m.konnectRequests.WithLabelValues(v.String())
		m.konnectDuration.WithLabelValues(v.String())
	}
	buildInfo := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: namespace, Name: "build_info", Help: "The controller's version; always 1.",
	}, []string{"version"})
	buildInfo.WithLabelValues(version).Set(1)
	m.registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.konnectRequests, m.konnectDuration, m.responses, m.responseDuration, m.renewals, m.renewalFailures, m.resyncsSlowed, buildInfo,
	)
	return m
}

// ResyncsSlowed counts a 429 that held the re-syncs back (konnect.WithLimiter).
func (m *Metrics) ResyncsSlowed() { m.resyncsSlowed.Inc() }

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{Registry: m.registry})
}

// InstrumentValidator counts and times every call that reaches next. Put it between the
// validation cache and the Konnect client, so that it sees real calls only. A valid answer
// teaches it the token's organization, under which later answers for that token (token checks
// and control-plane calls) are counted.
func (m *Metrics) InstrumentValidator(next konnect.Validator) konnect.Validator {
	return konnect.ValidatorFunc(func(ctx context.Context, token, serverURL string) konnect.Result {
		start := time.Now()
		result := next.Validate(ctx, token, serverURL)
		elapsed := time.Since(start).Seconds()
		outcome := result.Verdict.String()
		m.konnectRequests.WithLabelValues(outcome).Inc()
		m.konnectDuration.WithLabelValues(outcome).Observe(elapsed)
		if result.Verdict == konnect.VerdictValid {
			m.orgs.learn(token, serverURL, result.OrganizationID)
		}
		m.observeResponse(m.orgs.of(token, serverURL), classOfVerdict(result), elapsed)
		return result
	})
}

// observeResponse counts one answer from Konnect.
func (m *Metrics) observeResponse(org, class string, seconds float64) {
	m.responses.WithLabelValues(org, class).Inc()
	m.responseDuration.WithLabelValues(class).Observe(seconds)
}

// RegisterCache exposes the validation cache's hit and miss counts.
func (m *Metrics) RegisterCache(stats func() (hits, misses uint64)) {
	m.registry.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: namespace, Name: "validation_cache_hits_total",
			Help: "Token checks answered by the validation cache or merged into a call in flight.",
		}, func() float64 { hits, _ := stats(); return float64(hits) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: namespace, Name: "validation_cache_misses_total",
			Help: "Token checks that needed a call to Konnect.",
		}, func() float64 { _, misses := stats(); return float64(misses) }),
	)
}

// RegisterConfigurations exposes how many configurations the informer cache holds, by the
// status and reason of their APIAuthValid condition (status "None" before the first verdict).
func (m *Metrics) RegisterConfigurations(lister listers.KonnectAPIAuthConfigurationLister) {
	m.registry.MustRegister(&configurationsCollector{lister: lister})
}

var configurationsDesc = prometheus.NewDesc(namespace+"_configurations",
	"KonnectAPIAuthConfigurations by the status and reason of their APIAuthValid condition.",
	[]string{"status", "reason"}, nil)

// configurationsCollector counts configurations at scrape time from the informer cache, so it
// can never drift from what the controller sees.
type configurationsCollector struct {
	lister listers.KonnectAPIAuthConfigurationLister
}

func (c *configurationsCollector) Describe(ch chan<- *prometheus.Desc) { ch <- configurationsDesc }

func (c *configurationsCollector) Collect(ch chan<- prometheus.Metric) {
	configs, err := c.lister.List(labels.Everything())
	if err != nil {
		return
	}
	type verdict struct{ status, reason string }
	counts := map[verdict]int{}
	for _, cfg := range configs {
		v := verdict{status: "None", reason: ""}
		if cond := meta.FindStatusCondition(cfg.Status.Conditions, konnectv1alpha1.ConditionAPIAuthValid); cond != nil {
			v = verdict{status: string(cond.Status), reason: cond.Reason}
		}
		counts[v]++
	}
	for v, n := range counts {
		ch <- prometheus.MustNewConstMetric(configurationsDesc, prometheus.GaugeValue, float64(n), v.status, v.reason)
	}
}

// WorkqueueProvider returns client-go workqueue metrics (workqueue_depth, workqueue_adds_total,
// …, labelled with the queue's name) registered in this registry.
func (m *Metrics) WorkqueueProvider() workqueue.MetricsProvider {
	p := &workqueueProvider{
		depth: prometheus.NewGaugeVec(prometheus.GaugeOpts{Subsystem: "workqueue", Name: "depth",
			Help: "Current depth of the workqueue."}, []string{"name"}),
		adds: prometheus.NewCounterVec(prometheus.CounterOpts{Subsystem: "workqueue", Name: "adds_total",
			Help: "Total number of adds handled by the workqueue."}, []string{"name"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Subsystem: "workqueue", Name: "queue_duration_seconds",
			Help: "How long in seconds an item stays in the workqueue before being requested.", Buckets: prometheus.ExponentialBuckets(10e-9, 10, 12)}, []string{"name"}),
		workDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Subsystem: "workqueue", Name: "work_duration_seconds",
			Help: "How long in seconds processing an item from the workqueue takes.", Buckets: prometheus.ExponentialBuckets(10e-9, 10, 12)}, []string{"name"}),
		unfinished: prometheus.NewGaugeVec(prometheus.GaugeOpts{Subsystem: "workqueue", Name: "unfinished_work_seconds",
			Help: "How many seconds of work in progress has not been observed by work_duration."}, []string{"name"}),
		longestRunning: prometheus.NewGaugeVec(prometheus.GaugeOpts{Subsystem: "workqueue", Name: "longest_running_processor_seconds",
			Help: "How many seconds the longest running processor has been running."}, []string{"name"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{Subsystem: "workqueue", Name: "retries_total",
			Help: "Total number of retries handled by the workqueue."}, []string{"name"}),
	}
	m.registry.MustRegister(p.depth, p.adds, p.latency, p.workDuration, p.unfinished, p.longestRunning, p.retries)
	return p
}

// workqueueProvider adapts Prometheus vectors to client-go's workqueue.MetricsProvider.
type workqueueProvider struct {
	depth, unfinished, longestRunning *prometheus.GaugeVec
	adds, retries                     *prometheus.CounterVec
	latency, workDuration             *prometheus.HistogramVec
}

func (p *workqueueProvider) NewDepthMetric(name string) workqueue.GaugeMetric {
	return p.depth.WithLabelValues(name)
}
func (p *workqueueProvider) NewAddsMetric(name string) workqueue.CounterMetric {
	return p.adds.WithLabelValues(name)
}
func (p *workqueueProvider) NewLatencyMetric(name string) workqueue.HistogramMetric {
	return p.latency.WithLabelValues(name)
}
func (p *workqueueProvider) NewWorkDurationMetric(name string) workqueue.HistogramMetric {
	return p.workDuration.WithLabelValues(name)
}
func (p *workqueueProvider) NewUnfinishedWorkSecondsMetric(name string) workqueue.SettableGaugeMetric {
	return p.unfinished.WithLabelValues(name)
}
func (p *workqueueProvider) NewLongestRunningProcessorSecondsMetric(name string) workqueue.SettableGaugeMetric {
	return p.longestRunning.WithLabelValues(name)
}
func (p *workqueueProvider) NewRetriesMetric(name string) workqueue.CounterMetric {
	return p.retries.WithLabelValues(name)
}
