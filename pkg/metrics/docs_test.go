package metrics

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/util/workqueue"

	konnectv1alpha1 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha1"
	konnectv1alpha2 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha2"
	listers "github.com/konnect-auth-controller/konnect-auth-controller/pkg/generated/listers/konnect/v1alpha1"
	listersv1alpha2 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/generated/listers/konnect/v1alpha2"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/konnect"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/konnect/konnecttest"
)

// everyFamily registers everything cmd/controller registers and feeds each family one sample
// (a family without samples is not gathered), and returns the families by name.
func everyFamily(t *testing.T) map[string]*dto.MetricFamily {
	t.Helper()
	m := New("v1.2.3")
	m.InstrumentValidator(konnect.ValidatorFunc(func(context.Context, string, string) konnect.Result {
		return konnect.Result{Verdict: konnect.VerdictValid, OrganizationID: "org"}
	})).Validate(context.Background(), token, "https://us.api.konghq.com")
	m.InstrumentControlPlaneAPI(konnecttest.New())
	m.RegisterCache(func() (uint64, uint64) { return 1, 1 })
	m.ResyncsSlowed()
	deleted := metav1.NewTime(time.Unix(1_700_000_000, 0))
	cfg := &konnectv1alpha1.KonnectAPIAuthConfiguration{ObjectMeta: metav1.ObjectMeta{Namespace: "kong", Name: "a",
		DeletionTimestamp: &deleted, Finalizers: []string{konnectv1alpha2.APIAuthInUseFinalizer}},
		Status: konnectv1alpha1.KonnectAPIAuthConfigurationStatus{Conditions: withConditions(cond(konnectv1alpha1.ConditionAPIAuthValid, metav1.ConditionTrue, konnectv1alpha1.ReasonValid))}}
	cfgs := listers.NewKonnectAPIAuthConfigurationLister(indexer(t, cfg))
	m.RegisterConfigurations(cfgs)
	ext := &konnectv1alpha2.KonnectExtension{ObjectMeta: metav1.ObjectMeta{Namespace: "kong", Name: "dp"},
		Status: konnectv1alpha2.KonnectExtensionStatus{DataPlaneClientAuth: &konnectv1alpha2.DataPlaneClientAuthStatus{
			CertificateSecretRef: &konnectv1alpha2.SecretRef{Name: "dp-tls"}}}}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "kong", Name: "dp-tls"},
		Data: map[string][]byte{corev1.TLSCertKey: certificatePEM(t, time.Unix(1_800_000_000, 0))}}
	m.RegisterObjects(Objects{
		AuthConfigurations: cfgs,
		ControlPlanes:      listersv1alpha2.NewKonnectGatewayControlPlaneLister(indexer(t)),
		Extensions:         listersv1alpha2.NewKonnectExtensionLister(indexer(t, ext)),
		CertificateSecrets: corelisters.NewSecretLister(indexer(t, secret)),
	})
	queue := workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: "konnect-auth-controller", MetricsProvider: m.WorkqueueProvider()})
	t.Cleanup(queue.ShutDown)
	queue.Add("kong/a")

	gathered, err := m.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	families := map[string]*dto.MetricFamily{}
	for _, f := range gathered {
		families[f.GetName()] = f
	}
	return families
}

// ours reports whether a family is the controller's own or client-go's queues' (not the Go
// runtime's or the process's).
func ours(name string) bool {
	return strings.HasPrefix(name, namespace+"_") || strings.HasPrefix(name, "workqueue_")
}

// TestAlertsAndDashboardUseExposedFamilies: every metric that the chart's alerts and dashboard
// query is one the controller exposes (a histogram's _bucket, _count and _sum included), so a
// renamed metric cannot leave them querying nothing.
func TestAlertsAndDashboardUseExposedFamilies(t *testing.T) {
	families := everyFamily(t)
	metricRE := regexp.MustCompile(`\b(` + namespace + `_[a-z_]+|workqueue_[a-z_]+)\b`)
	for _, file := range []string{"alerts.yaml", "dashboard.json"} {
		data, err := os.ReadFile(filepath.Join("..", "..", "charts", "konnect-auth-controller", "files", file))
		if err != nil {
			t.Fatal(err)
		}
		used := map[string]bool{}
		for _, name := range metricRE.FindAllString(string(data), -1) {
			used[name] = true
		}
		if len(used) == 0 {
			t.Errorf("%s queries no metric", file)
		}
		for name := range used {
			base := name
			for _, suffix := range []string{"_bucket", "_count", "_sum"} {
				if trimmed, ok := strings.CutSuffix(name, suffix); ok && families[trimmed].GetType() == dto.MetricType_HISTOGRAM {
					base = trimmed
				}
			}
			if families[base] == nil {
				t.Errorf("%s queries %s, which the controller does not expose", file, name)
			}
		}
	}
}

// TestREADMEListsEveryFamily: the README's Metrics section has a row for every family the
// controller exposes (its full name, or …_ and the name after konnect_auth_controller_), and
// that row names every label of the family.
func TestREADMEListsEveryFamily(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	readme := string(data)
	start := strings.Index(readme, "### Metrics\n")
	if start < 0 {
		t.Fatal("README.md has no ### Metrics section")
	}
	section := readme[start:]
	if end := strings.Index(section[1:], "\n## "); end >= 0 {
		section = section[:end+1]
	}
	var rows []string
	for _, line := range strings.Split(section, "\n") {
		if strings.HasPrefix(line, "|") {
			rows = append(rows, line)
		}
	}
	families := everyFamily(t)
	var names []string
	for name := range families {
		if ours(name) {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	for _, name := range names {
		mentions := []string{"`" + name + "`", "`…_" + strings.TrimPrefix(name, namespace+"_") + "`"}
		var row string
		for _, r := range rows {
			if strings.Contains(r, mentions[0]) || (strings.HasPrefix(name, namespace+"_") && strings.Contains(r, mentions[1])) {
				row = r
				break
			}
		}
		if row == "" {
			t.Errorf("the README's Metrics table has no row for %s", name)
			continue
		}
		for _, label := range families[name].GetMetric()[0].GetLabel() {
			if !strings.Contains(row, "`"+label.GetName()+"`") {
				t.Errorf("the README's row for %s does not name its label %s: %s", name, label.GetName(), row)
			}
		}
	}
	t.Logf("the README's Metrics table lists all %d families: %s", len(names), strings.Join(names, ", "))
}
