package production_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	konnectv1alpha1 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha1"
	"github.com/konnect-auth-controller/konnect-auth-controller/test/controlplane"
	"github.com/konnect-auth-controller/konnect-auth-controller/test/e2e/framework"
	"github.com/konnect-auth-controller/konnect-auth-controller/test/fakekonnect"
)

// TestReadyzWaitsForCacheSync makes "before the caches sync" last as long as the test wants:
// the controller runs as a ServiceAccount that may use discovery (every authenticated user
// may) but may not yet list configurations or Secrets, so its informers cannot sync. For as
// long as that lasts /readyz must answer 503 while /healthz answers 200 (alive, not ready).
// Then the manifests' ClusterRole is bound to it in its namespace: the informers' retries
// succeed, and /readyz turns 200, and the controller works.
func TestReadyzWaitsForCacheSync(t *testing.T) {
	ns := controlplane.NewNamespace(t, cp)
	_, client := clients(t, cp)
	applyControllerClusterRole(t)
	framework.MustKubectl(t, cp, "", "create", "serviceaccount", "not-yet-allowed", "-n", ns)
	sa := serviceAccountKubeconfig(t, cp, ns, "not-yet-allowed")

	// The controller runs in ns (its CA Secret is there too), as a namespaced install does.
	p := startController(t, "readyz", sa, nil, "--namespace="+ns, "--cluster-ca-secret-namespace="+ns, "-v=2")
	p.waitServing(t)
	// Until RBAC allows it, the informers' lists are refused…
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.WaitForLog(ctx, "forbidden"); err != nil {
		t.Fatal(err)
	}
	// …and /readyz says not ready, every time it is asked, while /healthz says alive.
	deadline := time.Now().Add(3 * time.Second)
	polls := 0
	for time.Now().Before(deadline) {
		code, body, err := p.get("/readyz")
		if err != nil || code != 503 {
			t.Fatalf("/readyz before the caches synced = %d %q (%v), want 503", code, body, err)
		}
		if code, body, err := p.get("/healthz"); err != nil || code != 200 {
			t.Fatalf("/healthz while not ready = %d %q (%v), want 200", code, body, err)
		}
		polls++
		time.Sleep(100 * time.Millisecond)
	}
	_, body, _ := p.get("/readyz")
	t.Logf("/readyz answered 503 to %d polls over 3s before the caches could sync: %q", polls, strings.TrimSpace(body))

	granted := time.Now()
	framework.MustKubectl(t, cp, "", "create", "rolebinding", "konnect-auth-controller", "-n", ns,
		"--clusterrole=konnect-auth-controller", "--serviceaccount="+ns+":not-yet-allowed")
	framework.WaitFor(t, 90*time.Second, "/readyz 200 once the caches can sync", func() (bool, string) {
		code, body, err := p.get("/readyz")
		return code == 200, fmt.Sprint(code, " ", body, err)
	})
	t.Logf("/readyz turned 200 %v after the RBAC was granted (the informers' retries back off)", time.Since(granted).Round(time.Millisecond))

	framework.MustKubectl(t, cp, framework.TokenConfigYAML(ns, "after-ready", env.NewToken(t), "us.api.konghq.com"), "apply", "-f", "-")
	framework.WaitForCondition(t, client, ns, "after-ready", metav1.ConditionTrue, konnectv1alpha1.ReasonValid)
}

// TestMetrics scrapes /metrics of a leading controller before and after it validates a set
// of configurations, and checks it against what the fake Konnect itself counted over the
// controller's lifetime: the request counter (by outcome), the latency histogram, the cache's
// misses (each a request) and hits, the named workqueue, the configurations by verdict, the
// build version, and that no token (nor a hash of one) appears anywhere in the output.
func TestMetrics(t *testing.T) {
	ns := controlplane.NewNamespace(t, cp)
	_, client := clients(t, cp)
	args := append([]string{"--leader-elect=true", "--leader-elect-namespace=" + ns, "--namespace=" + ns, "-v=10"}, fastLeaderElection...)
	// This controller is the only one running, so every request the fake Konnect sees from
	// now on is its.
	callsAtStart := env.Konnect.Calls()
	p := startController(t, "metrics", cp.KubeconfigPath(), nil, args...)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.WaitForLog(ctx, "Started leading"); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		framework.WaitFor(t, 20*time.Second, path+" 200", func() (bool, string) {
			code, body, err := p.get(path)
			return code == 200, fmt.Sprint(code, body, err)
		})
	}

	// Three configurations share a token (one call, two cache hits); one has its own; one's
	// token is revoked (401, outcome "invalid"); one takes its token from a Secret.
	shared, own, revoked, inSecret := env.NewToken(t), env.NewToken(t), env.NewToken(t), env.NewToken(t)
	env.Konnect.RevokeToken(revoked)
	var docs []string
	for i := range 3 {
		docs = append(docs, framework.TokenConfigYAML(ns, fmt.Sprintf("shared-%d", i), shared, "us.api.konghq.com"))
	}
	docs = append(docs, framework.TokenConfigYAML(ns, "own", own, "us.api.konghq.com"), framework.TokenConfigYAML(ns, "revoked", revoked, "us.api.konghq.com"),
		framework.SecretYAML(ns, "creds", map[string]string{"konghq.com/credential": "konnect"}, "token", inSecret),
		framework.SecretRefConfigYAML(ns, "from-secret", "creds", "", "us.api.konghq.com"))
	framework.MustKubectl(t, cp, strings.Join(docs, "---\n"), "apply", "-f", "-")
	for _, name := range []string{"shared-0", "shared-1", "shared-2", "own", "from-secret"} {
		framework.WaitForCondition(t, client, ns, name, metav1.ConditionTrue, konnectv1alpha1.ReasonValid)
	}
	framework.WaitForCondition(t, client, ns, "revoked", metav1.ConditionFalse, konnectv1alpha1.ReasonInvalid)

	// The metrics are the controller's own (the configurations gauge comes from its informer
	// cache), so they may trail the statuses just seen: each scrape is checked until it holds.
	version := framework.ControllerVersion(t)
	queue := map[string]string{"name": "konnect-auth-controller"}
	var (
		text     string
		m        []sample
		requests float64
	)
	framework.Eventually(t, metricsTimeout, func() (problems []string) {
		text, m = scrape(t, p)
		fakeCalls := env.Konnect.Calls() - callsAtStart
		requests, _ = sum(m, "konnect_auth_controller_konnect_requests_total", nil)
		if int64(requests) != fakeCalls {
			problems = append(problems, fmt.Sprintf("konnect_auth_controller_konnect_requests_total = %v, but the fake Konnect received %d requests", requests, fakeCalls))
		}
		if fakeCalls != 4 {
			problems = append(problems, fmt.Sprintf("the fake Konnect received %d requests for 4 distinct tokens, want 4 (one per token)", fakeCalls))
		}
		problems = append(problems,
			metricValue(m, "konnect_auth_controller_konnect_requests_total", map[string]string{"outcome": "valid"}, 3),
			metricValue(m, "konnect_auth_controller_konnect_requests_total", map[string]string{"outcome": "invalid"}, 1),
			metricValue(m, "konnect_auth_controller_konnect_request_duration_seconds_count", nil, requests),
			metricValue(m, "konnect_auth_controller_validation_cache_misses_total", nil, requests))
		if hits, _ := sum(m, "konnect_auth_controller_validation_cache_hits_total", nil); hits < 2 {
			problems = append(problems, fmt.Sprintf("validation_cache_hits_total = %v; the two other users of the shared token should have been hits", hits))
		}
		problems = append(problems,
			metricValue(m, "konnect_auth_controller_configurations", map[string]string{"status": "True", "reason": "Valid"}, 5),
			metricValue(m, "konnect_auth_controller_configurations", map[string]string{"status": "False", "reason": "Invalid"}, 1))
		if adds, ok := sum(m, "workqueue_adds_total", queue); !ok || adds < 6 {
			problems = append(problems, fmt.Sprintf("workqueue_adds_total{name=\"konnect-auth-controller\"} = %v (present %v), want at least one add per configuration (6)", adds, ok))
		}
		for _, name := range []string{"workqueue_depth", "workqueue_queue_duration_seconds_count", "workqueue_work_duration_seconds_count", "workqueue_retries_total"} {
			if _, ok := sum(m, name, queue); !ok {
				problems = append(problems, fmt.Sprintf("no %s{name=\"konnect-auth-controller\"}", name))
			}
		}
		return append(problems, metricValue(m, "konnect_auth_controller_build_info", map[string]string{"version": version}, 1))
	})
	t.Logf("after 6 configurations (4 distinct tokens): the fake Konnect counted %d requests, the controller's counter %v", env.Konnect.Calls()-callsAtStart, requests)
	checkNoTokens(t, text)

	// The counter moves with the fake's count: one more token, one more request on both sides.
	callsBefore := env.Konnect.Calls()
	framework.MustKubectl(t, cp, framework.TokenConfigYAML(ns, "one-more", env.NewToken(t), "us.api.konghq.com"), "apply", "-f", "-")
	framework.WaitForCondition(t, client, ns, "one-more", metav1.ConditionTrue, konnectv1alpha1.ReasonValid)
	framework.Eventually(t, metricsTimeout, func() (problems []string) {
		text, m = scrape(t, p)
		requestsAfter, _ := sum(m, "konnect_auth_controller_konnect_requests_total", nil)
		if moved, fakeMoved := requestsAfter-requests, env.Konnect.Calls()-callsBefore; int64(moved) != fakeMoved || fakeMoved != 1 {
			problems = append(problems, fmt.Sprintf("after one more token the counter moved by %v and the fake's count by %d, want 1 and 1", moved, fakeMoved))
		}
		if total := env.Konnect.Calls() - callsAtStart; int64(requestsAfter) != total {
			problems = append(problems, fmt.Sprintf("over the controller's lifetime: counter %v, fake Konnect %d", requestsAfter, total))
		}
		return append(problems, metricValue(m, "konnect_auth_controller_configurations", map[string]string{"status": "True", "reason": "Valid"}, 6))
	})
	checkNoTokens(t, text)
}

// scrape fetches /metrics and parses it.
func scrape(t testing.TB, p *proc) (string, []sample) {
	t.Helper()
	code, body, err := p.get("/metrics")
	if err != nil || code != 200 {
		t.Fatalf("GET /metrics = %d (%v)", code, err)
	}
	return body, parseMetrics(t, body)
}

// metricsTimeout bounds how long the controller's metrics may take to catch up with what the
// apiserver shows.
const metricsTimeout = 10 * time.Second

// metricValue says what is wrong with the sum of the samples of name matching labels ("" when
// it is want).
func metricValue(m []sample, name string, labels map[string]string, want float64) string {
	got, ok := sum(m, name, labels)
	if !ok || got != want {
		return fmt.Sprintf("%s%v = %v (present %v), want %v", name, labels, got, ok, want)
	}
	return ""
}

// checkNoTokens fails if the metrics text holds any token the tests issued, its secret part
// without the kpat_ prefix, or its SHA-256 (the fake Konnect's own key for it).
func checkNoTokens(t testing.TB, text string) {
	t.Helper()
	var needles []string
	for _, token := range env.IssuedTokens() {
		needles = append(needles, token, strings.TrimPrefix(token, "kpat_"), fakekonnect.TokenHash(token))
	}
	if found := framework.ContainsAny([]byte(text), needles...); len(found) > 0 {
		t.Errorf("/metrics contains token material: %v", found)
	}
	t.Logf("/metrics (%d bytes) holds none of %d tokens, in clear or hashed", len(text), len(needles)/3)
}

// applyControllerClusterRole applies the manifests' controller ClusterRole to the shared
// control plane (idempotent).
func applyControllerClusterRole(t testing.TB) {
	t.Helper()
	r := render(t, clusterWide)
	for _, u := range r.Objects {
		if u.GetKind() == "ClusterRole" && u.GetName() == "konnect-auth-controller" {
			b, err := json.Marshal(u.Object)
			if err != nil {
				t.Fatal(err)
			}
			framework.MustKubectl(t, cp, string(b), "apply", "-f", "-")
			return
		}
	}
	t.Fatal("no controller ClusterRole in the rendered manifests")
}
