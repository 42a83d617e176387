package chart_test

import (
	"context"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/konnect-auth-controller/konnect-auth-controller/test/e2e/framework"
)

// alertsAndDashboard turns on both monitoring objects of the chart (and the ServiceMonitor).
var alertsAndDashboard = mode{name: "alerts-dashboard", set: []string{
	"metrics.serviceMonitor.enabled=true",
	"metrics.prometheusRule.enabled=true", "metrics.prometheusRule.labels.release=prometheus",
	"metrics.grafanaDashboard.enabled=true", "metrics.grafanaDashboard.annotations.grafana_folder=Kong",
}}

// find returns the rendered object of kind whose name is name, or nil.
func find(objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	for _, u := range objs {
		if u.GetKind() == kind && u.GetName() == name {
			return u
		}
	}
	return nil
}

// readChartFile returns a file of the chart's files/ folder.
func readChartFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(chartDir, "files", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestPrometheusRuleAndDashboard: both are off by default and each is turned on by one value.
// The PrometheusRule's spec is exactly files/alerts.yaml (the rule file promtool checks and
// unit-tests in test/alerts), with the labels asked for; the dashboard ConfigMap carries the
// Grafana sidecar's label and the dashboard of files/dashboard.json, which is Grafana JSON with
// the panels the issue asks for, every one with a query. The apiserver accepts both in a
// server-side dry run with strict field validation (against a stand-in PrometheusRule CRD), and
// the ServiceMonitor honours the object metrics' namespace label.
func TestPrometheusRuleAndDashboard(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, args := range [][]string{
		{"apply", "-f", filepath.Join(repoRoot, "test", "e2e", "chart", "testdata", "prometheusrule-crd.yaml")},
		{"wait", "--for=condition=Established", "crd/prometheusrules.monitoring.coreos.com", "--timeout=60s"},
	} {
		if out, stderr, err := cp.Kubectl(ctx, args...); err != nil {
			t.Fatalf("kubectl %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr)
		}
	}
	ruleName, dashboardName := release, release+"-dashboard"

	off := template(t, defaults)
	if find(off, "PrometheusRule", ruleName) != nil || find(off, "ConfigMap", dashboardName) != nil {
		t.Errorf("the defaults render a PrometheusRule or the dashboard: %v", off.Keys())
	}
	for _, one := range []struct{ set, kind, name string }{
		{"metrics.prometheusRule.enabled=true", "PrometheusRule", ruleName},
		{"metrics.grafanaDashboard.enabled=true", "ConfigMap", dashboardName},
	} {
		objs := template(t, mode{name: one.set, set: []string{one.set}})
		if find(objs, one.kind, one.name) == nil {
			t.Errorf("--set %s renders no %s %s: %v", one.set, one.kind, one.name, objs.Keys())
		}
	}

	rendered := mustHelm(t, nil, append([]string{"template", release, chartDir, "-n", releaseNS}, alertsAndDashboard.args()...)...)
	objs := framework.DecodeObjects(t, alertsAndDashboard.name, rendered)

	// The PrometheusRule ships the rule file as it is.
	rule := find(objs, "PrometheusRule", ruleName)
	if rule == nil {
		t.Fatalf("no PrometheusRule %s: %v", ruleName, objs.Keys())
	}
	if rule.GetNamespace() != releaseNS || rule.GetLabels()["release"] != "prometheus" || rule.GetLabels()["app.kubernetes.io/instance"] != release {
		t.Errorf("PrometheusRule %s/%s labels %v: want the release namespace, the chart's labels and metrics.prometheusRule.labels", rule.GetNamespace(), rule.GetName(), rule.GetLabels())
	}
	var ruleFile map[string]any
	if err := yaml.Unmarshal(readChartFile(t, "alerts.yaml"), &ruleFile); err != nil {
		t.Fatal(err)
	}
	if spec, _, _ := unstructured.NestedMap(rule.Object, "spec"); !reflect.DeepEqual(framework.Normalise(t, spec), framework.Normalise(t, ruleFile)) {
		t.Errorf("the PrometheusRule's spec differs from files/alerts.yaml:\n%v\n%v", spec, ruleFile)
	}
	var alerts []string
	groups, _, _ := unstructured.NestedSlice(rule.Object, "spec", "groups")
	for _, g := range groups {
		rules, _, _ := unstructured.NestedSlice(g.(map[string]any), "rules")
		for _, r := range rules {
			alerts = append(alerts, r.(map[string]any)["alert"].(string))
		}
	}
	t.Logf("PrometheusRule %s/%s: %d alerts: %s", releaseNS, ruleName, len(alerts), strings.Join(alerts, ", "))

	// The dashboard ConfigMap.
	cm := find(objs, "ConfigMap", dashboardName)
	if cm == nil {
		t.Fatalf("no ConfigMap %s: %v", dashboardName, objs.Keys())
	}
	if cm.GetLabels()["grafana_dashboard"] != "1" || cm.GetAnnotations()["grafana_folder"] != "Kong" || cm.GetNamespace() != releaseNS {
		t.Errorf("dashboard ConfigMap %s/%s labels %v annotations %v: want grafana_dashboard=1 and the annotation asked for", cm.GetNamespace(), cm.GetName(), cm.GetLabels(), cm.GetAnnotations())
	}
	data, _, _ := unstructured.NestedStringMap(cm.Object, "data")
	text, ok := data["konnect-auth-controller.json"]
	if !ok || strings.TrimSpace(text) != strings.TrimSpace(string(readChartFile(t, "dashboard.json"))) {
		t.Fatalf("the ConfigMap's konnect-auth-controller.json is not files/dashboard.json (keys %v)", slices.Sorted(maps.Keys(data)))
	}
	var dashboard struct {
		UID    string `json:"uid"`
		Title  string `json:"title"`
		Panels []struct {
			Type    string `json:"type"`
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Name, Type, Query string
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal([]byte(text), &dashboard); err != nil {
		t.Fatalf("the dashboard is not JSON: %v", err)
	}
	if dashboard.UID == "" || dashboard.Title == "" || len(dashboard.Templating.List) == 0 || dashboard.Templating.List[0].Type != "datasource" {
		t.Errorf("dashboard uid %q title %q templating %+v: want a uid, a title and a Prometheus data source variable", dashboard.UID, dashboard.Title, dashboard.Templating.List)
	}
	var titles []string
	for _, p := range dashboard.Panels {
		if p.Type == "row" {
			continue
		}
		titles = append(titles, p.Title)
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, target := range p.Targets {
			if !strings.Contains(target.Expr, "konnect_auth_controller_") && !strings.Contains(target.Expr, "workqueue_") {
				t.Errorf("panel %q queries %q, none of the controller's metrics", p.Title, target.Expr)
			}
		}
	}
	for _, want := range []string{"Objects by state", "Konnect answers by class", "Konnect latency by class", "Queue depth", "Retries"} {
		if !slices.Contains(titles, want) {
			t.Errorf("the dashboard has no panel %q: %v", want, titles)
		}
	}
	t.Logf("dashboard %q (uid %s): %d panels: %s", dashboard.Title, dashboard.UID, len(titles), strings.Join(titles, ", "))

	// The ServiceMonitor keeps the objects' namespace label.
	if sm := find(objs, "ServiceMonitor", release); sm == nil {
		t.Errorf("no ServiceMonitor: %v", objs.Keys())
	} else if endpoints, _, _ := unstructured.NestedSlice(sm.Object, "spec", "endpoints"); len(endpoints) != 1 || endpoints[0].(map[string]any)["honorLabels"] != true {
		t.Errorf("ServiceMonitor endpoints %v: want honorLabels true", endpoints)
	}

	// The apiserver accepts all of it.
	out, stderr := framework.MustKubectl(t, cp, rendered, "apply", "--dry-run=server", "--validate=strict", "-f", "-")
	t.Logf("$ helm template ... %s | kubectl apply --dry-run=server --validate=strict -f -\n%s%s", strings.Join(alertsAndDashboard.args(), " "), out, stderr)
	if strings.Contains(stderr, "Warning") {
		t.Errorf("the apiserver warned:\n%s", stderr)
	}
	if n := strings.Count(out, "(server dry run)"); n != len(objs) {
		t.Errorf("the dry run accepted %d objects, the chart renders %d: %v", n, len(objs), objs.Keys())
	}
	for _, k := range []string{"prometheusrule.monitoring.coreos.com/" + ruleName, "configmap/" + dashboardName} {
		if !strings.Contains(out, k+" created (server dry run)") {
			t.Errorf("the dry run did not create %s:\n%s", k, out)
		}
	}

	// The dashboard can go where the Grafana sidecar looks.
	elsewhere := template(t, mode{name: "dashboard-namespace", set: []string{"metrics.grafanaDashboard.enabled=true", "metrics.grafanaDashboard.namespace=monitoring"}})
	if cm := find(elsewhere, "ConfigMap", dashboardName); cm == nil || cm.GetNamespace() != "monitoring" {
		t.Errorf("with metrics.grafanaDashboard.namespace=monitoring the dashboard is %v", cm)
	}
}

// TestMonitoringValuesRefused: the new values are checked like the others.
func TestMonitoringValuesRefused(t *testing.T) {
	for _, c := range []struct{ set, message string }{
		{"metrics.prometheusRule.enabledd=true", "additional properties 'enabledd' not allowed"},
		{"metrics.grafanaDashboard.namespace=Monitoring_NS", "at '/metrics/grafanaDashboard/namespace'"},
		{"metrics.enabled=false,metrics.prometheusRule.enabled=true", "metrics.prometheusRule.enabled needs metrics.enabled"},
		{"metrics.enabled=false,metrics.grafanaDashboard.enabled=true", "metrics.grafanaDashboard.enabled needs metrics.enabled"},
	} {
		out, stderr, err := helm(nil, "template", release, chartDir, "-n", releaseNS, "--set", c.set)
		expectRefused(t, "helm template ... --set "+c.set, c.message, out, stderr, err)
	}
}
