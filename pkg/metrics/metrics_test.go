package metrics

import (
	"context"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	konnectv1alpha1 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha1"
	listers "github.com/konnect-auth-controller/konnect-auth-controller/pkg/generated/listers/konnect/v1alpha1"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/konnect"
)

const token = "kpat_METRICSmetricsMETRICS0123456789abcdef"

func scrape(t *testing.T, m *Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	return string(body)
}

func TestMetrics(t *testing.T) {
	m := New("v1.2.3")

	validator := m.InstrumentValidator(konnect.ValidatorFunc(func(_ context.Context, tok, _ string) konnect.Result {
		if tok == token {
			return konnect.Result{Verdict: konnect.VerdictValid, OrganizationID: "org"}
		}
		return konnect.Result{Verdict: konnect.VerdictInvalid, Message: "refused"}
	}))
	validator.Validate(context.Background(), token, "https://us.api.konghq.com")
	validator.Validate(context.Background(), token, "https://us.api.konghq.com")
	validator.Validate(context.Background(), "kpat_other", "https://us.api.konghq.com")

	m.RegisterCache(func() (uint64, uint64) { return 7, 3 })

	indexer := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})
	for i, reason := range []string{konnectv1alpha1.ReasonValid, konnectv1alpha1.ReasonValid, konnectv1alpha1.ReasonSecretNotFound, ""} {
		cfg := &konnectv1alpha1.KonnectAPIAuthConfiguration{ObjectMeta: metav1.ObjectMeta{Namespace: "kong", Name: string(rune('a' + i))},
			Spec: konnectv1alpha1.KonnectAPIAuthConfigurationSpec{Token: token}}
		if reason != "" {
			status := metav1.ConditionFalse
			if reason == konnectv1alpha1.ReasonValid {
				status = metav1.ConditionTrue
			}
			meta.SetStatusCondition(&cfg.Status.Conditions, metav1.Condition{Type: konnectv1alpha1.ConditionAPIAuthValid, Status: status, Reason: reason})
		}
		if err := indexer.Add(cfg); err != nil {
			t.Fatal(err)
		}
	}
	m.RegisterConfigurations(listers.NewKonnectAPIAuthConfigurationLister(indexer))

	queue := workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: "konnect-auth-controller", MetricsProvider: m.WorkqueueProvider()})
	defer queue.ShutDown()
	queue.Add("kong/a")
	queue.Add("kong/b")

	out := scrape(t, m)
	for _, want := range []string{
		`konnect_auth_controller_konnect_requests_total{outcome="valid"} 2`,
		`konnect_auth_controller_konnect_requests_total{outcome="invalid"} 1`,
		`konnect_auth_controller_konnect_request_duration_seconds_count{outcome="valid"} 2`,
		`konnect_auth_controller_validation_cache_hits_total 7`,
		`konnect_auth_controller_validation_cache_misses_total 3`,
		`konnect_auth_controller_configurations{reason="Valid",status="True"} 2`,
		`konnect_auth_controller_configurations{reason="SecretNotFound",status="False"} 1`,
		`konnect_auth_controller_configurations{reason="",status="None"} 1`,
		`konnect_auth_controller_build_info{version="v1.2.3"} 1`,
		`workqueue_adds_total{name="konnect-auth-controller"} 2`,
		`workqueue_depth{name="konnect-auth-controller"} 2`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if strings.Contains(out, token) || strings.Contains(out, "kpat_") {
		t.Errorf("metrics contain a token")
	}
}
