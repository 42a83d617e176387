package production_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/konnect-auth-controller/konnect-auth-controller/test/controlplane"
	"github.com/konnect-auth-controller/konnect-auth-controller/test/e2e/framework"
)

const statusCondition = "konnect_auth_controller_status_condition"

// conditionMetricsTimeout bounds how long the controller's own /metrics may take to show what it did:
// one sync, then the next scrape (the gauge is read from the informer cache at scrape time).
const conditionMetricsTimeout = framework.VerdictTimeout

// series returns the samples of name whose labels include want.
func series(samples []sample, name string, want map[string]string) []sample {
	var out []sample
	for _, s := range samples {
		if s.name != name {
			continue
		}
		match := true
		for k, v := range want {
			if s.labels[k] != v {
				match = false
			}
		}
		if match {
			out = append(out, s)
		}
	}
	return out
}

// describe prints samples for a failure message, sorted.
func describe(samples []sample) string {
	var lines []string
	for _, s := range samples {
		var labels []string
		for k, v := range s.labels {
			labels = append(labels, k+"="+v)
		}
		sort.Strings(labels)
		lines = append(lines, fmt.Sprintf("%s{%s} %v", s.name, strings.Join(labels, ","), s.value))
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// waitForMetrics scrapes p's /metrics until check passes on it, and returns that scrape. It
// never judges a single scrape taken right after the apiserver showed something: the metric is
// the controller's own view, and is waited for.
func waitForMetrics(t *testing.T, p *proc, what string, check func(text string, m []sample) (bool, string)) (string, []sample) {
	t.Helper()
	var text string
	var m []sample
	framework.WaitFor(t, conditionMetricsTimeout, what, func() (bool, string) {
		code, body, err := p.get("/metrics")
		if err != nil || code != 200 {
			return false, fmt.Sprintf("GET /metrics: %d %v", code, err)
		}
		text, m = body, parseMetrics(t, body)
		return check(text, m)
	})
	return text, m
}

// oneCondition checks that object kind ns/name has exactly one series of condition type typ,
// with status and reason and value 1.
func oneCondition(m []sample, kind, ns, name, typ, status, reason string) (bool, string) {
	got := series(m, statusCondition, map[string]string{"kind": kind, "namespace": ns, "name": name, "type": typ})
	if len(got) == 1 && got[0].value == 1 && got[0].labels["status"] == status && got[0].labels["reason"] == reason {
		return true, ""
	}
	return false, fmt.Sprintf("%s %s/%s %s: want one series status=%s reason=%s value 1, got:\n%s", kind, ns, name, typ, status, reason, describe(got))
}

// TestConditionMetrics: the controller's own /metrics shows the state of every object, as
// konnect_auth_controller_status_condition computed from its caches. A configuration applied
// with a revoked token shows APIAuthValid False/Invalid, a valid one True/Valid, one per
// condition type and object, with the object's kind, namespace and name; Konnect's answers are
// counted by class under the organization (never the token); a control plane and an extension
// show Programmed and Ready, and the extension its certificate's expiry; a configuration deleted
// while a control plane names it shows as a deletion waiting (InUse) until the control plane is
// gone, and then its series go. No token, Secret name or Secret data is in any label.
func TestConditionMetrics(t *testing.T) {
	ns := controlplane.NewNamespace(t, cp)
	args := append([]string{"--leader-elect=true", "--leader-elect-namespace=" + ns, "--namespace=" + ns,
		"--cluster-ca-secret-namespace=" + ns, "-v=2"}, fastLeaderElection...)
	p := startController(t, "condition-metrics", cp.KubeconfigPath(), nil, args...)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.WaitForLog(ctx, "Started leading"); err != nil {
		t.Fatal(err)
	}
	framework.WaitFor(t, 20*time.Second, "/readyz 200", func() (bool, string) {
		code, body, err := p.get("/readyz")
		return code == 200, fmt.Sprint(code, body, err)
	})

	// A revoked token (the fake Konnect answers 401 for it), a valid one, and a valid one
	// read from a Secret whose name must not show.
	valid, revoked, inSecret := env.NewToken(t), env.NewToken(t), env.NewToken(t)
	env.Konnect.RevokeToken(revoked)
	const secretName = "konnect-token-in-a-secret"
	applied := time.Now()
	framework.MustKubectl(t, cp, strings.Join([]string{
		framework.TokenConfigYAML(ns, "valid", valid, "us.api.konghq.com"),
		framework.TokenConfigYAML(ns, "revoked", revoked, "us.api.konghq.com"),
		framework.SecretYAML(ns, secretName, framework.CredentialLabels, "token", inSecret),
		framework.SecretRefConfigYAML(ns, "from-secret", secretName, "", "us.api.konghq.com"),
	}, "---\n"), "apply", "-f", "-")

	const auth = "KonnectAPIAuthConfiguration"
	text, m := waitForMetrics(t, p, "the auth configurations' conditions in /metrics", func(_ string, m []sample) (bool, string) {
		for _, c := range []struct{ name, status, reason string }{
			{"revoked", "False", "Invalid"}, {"valid", "True", "Valid"}, {"from-secret", "True", "Valid"},
		} {
			if ok, why := oneCondition(m, auth, ns, c.name, "APIAuthValid", c.status, c.reason); !ok {
				return false, why
			}
		}
		return true, ""
	})
	t.Logf("%v after kubectl apply, /metrics shows:\n%s", time.Since(applied).Round(time.Millisecond),
		describe(series(m, statusCondition, map[string]string{"namespace": ns})))
	// The configurations have no other condition (no cross-namespace reference: no ResolvedRefs).
	if got := series(m, statusCondition, map[string]string{"kind": auth, "namespace": ns}); len(got) != 3 {
		t.Errorf("%d status_condition series for the 3 configurations, want 3:\n%s", len(got), describe(got))
	}
	// Konnect's answers by class and organization: the valid tokens under the fake's
	// organization, the token Konnect never accepted under "unknown".
	if n, _ := sum(m, "konnect_auth_controller_konnect_responses_total", map[string]string{"organization": env.OrgID, "class": "ok"}); n < 2 {
		t.Errorf("konnect_responses_total{organization=%q,class=\"ok\"} = %v, want at least 2 (two valid tokens)", env.OrgID, n)
	}
	if n, _ := sum(m, "konnect_auth_controller_konnect_responses_total", map[string]string{"organization": "unknown", "class": "unauthorized"}); n < 1 {
		t.Errorf("konnect_responses_total{organization=\"unknown\",class=\"unauthorized\"} = %v, want at least 1 (the revoked token)", n)
	}
	checkNoTokens(t, text)
	checkNoLabelValue(t, m, secretName, inSecret)

	// A control plane and an extension with the valid configuration.
	framework.MustKubectl(t, cp, fmt.Sprintf(`kind: KonnectGatewayControlPlane
apiVersion: konnect.konghq.com/v1alpha2
metadata:
  name: cp
  namespace: %[1]s
spec:
  createControlPlaneRequest:
    name: metrics-cp-%[1]s
  konnect:
    authRef:
      name: valid
---
kind: KonnectExtension
apiVersion: konnect.konghq.com/v1alpha2
metadata:
  name: dp
  namespace: %[1]s
spec:
  clientAuth:
    certificateSecret:
      provisioning: Automatic
  konnect:
    controlPlane:
      ref:
        type: konnectNamespacedRef
        konnectNamespacedRef:
          name: cp
`, ns), "apply", "-f", "-")
	const expiry = "konnect_auth_controller_client_certificate_expiration_timestamp_seconds"
	text, m = waitForMetrics(t, p, "the control plane Programmed and the extension Ready in /metrics", func(_ string, m []sample) (bool, string) {
		if ok, why := oneCondition(m, "KonnectGatewayControlPlane", ns, "cp", "Programmed", "True", "Programmed"); !ok {
			return false, why
		}
		if ok, why := oneCondition(m, "KonnectExtension", ns, "dp", "Ready", "True", "Ready"); !ok {
			return false, why
		}
		if got := series(m, expiry, map[string]string{"namespace": ns, "name": "dp"}); len(got) != 1 {
			return false, fmt.Sprintf("no single %s for %s/dp: %s", expiry, ns, describe(got))
		}
		return true, ""
	})
	// The generated certificate is valid for a year.
	left := time.Until(time.Unix(int64(series(m, expiry, map[string]string{"namespace": ns, "name": "dp"})[0].value), 0))
	if left < 364*24*time.Hour || left > 366*24*time.Hour {
		t.Errorf("the extension's certificate expires in %v, want about a year", left)
	}
	t.Logf("control plane and extension:\n%s\n%s", describe(series(m, statusCondition, map[string]string{"namespace": ns, "kind": "KonnectGatewayControlPlane"})),
		describe(series(m, statusCondition, map[string]string{"namespace": ns, "kind": "KonnectExtension"})))
	checkNoTokens(t, text)
	checkNoLabelValue(t, m, secretName, inSecret)

	// Deleting the configuration the control plane names: it waits (InUse) until the control
	// plane is gone.
	const waiting = "konnect_auth_controller_deletion_waiting_timestamp_seconds"
	framework.MustKubectl(t, cp, "", "delete", "konnectapiauthconfiguration", "valid", "-n", ns, "--wait=false")
	_, m = waitForMetrics(t, p, "the configuration's deletion waiting in /metrics", func(_ string, m []sample) (bool, string) {
		got := series(m, waiting, map[string]string{"kind": auth, "namespace": ns, "name": "valid"})
		if len(got) == 1 && got[0].labels["reason"] == "InUse" {
			return true, ""
		}
		return false, describe(got)
	})
	since := time.Unix(int64(series(m, waiting, map[string]string{"namespace": ns, "name": "valid"})[0].value), 0)
	if d := time.Since(since); d < 0 || d > conditionMetricsTimeout+time.Minute {
		t.Errorf("the deletion has waited %v by the gauge, want a few seconds", d)
	}
	framework.MustKubectl(t, cp, "", "delete", "konnectextension", "dp", "-n", ns, "--wait=false")
	framework.MustKubectl(t, cp, "", "delete", "konnectgatewaycontrolplane", "cp", "-n", ns, "--wait=false")
	waitForMetrics(t, p, "the deleted objects' series gone from /metrics", func(_ string, m []sample) (bool, string) {
		left := series(m, waiting, map[string]string{"namespace": ns})
		for _, name := range []string{"valid", "cp", "dp"} {
			left = append(left, series(m, statusCondition, map[string]string{"namespace": ns, "name": name})...)
			left = append(left, series(m, expiry, map[string]string{"namespace": ns, "name": name})...)
		}
		return len(left) == 0, describe(left)
	})
}

// checkNoLabelValue fails if any label of any sample holds one of values (a Secret's name, a
// token), or contains a token.
func checkNoLabelValue(t *testing.T, m []sample, values ...string) {
	t.Helper()
	for _, s := range m {
		for k, v := range s.labels {
			for _, bad := range values {
				if v == bad || strings.Contains(v, bad) {
					t.Errorf("%s has label %s=%q", s.name, k, v)
				}
			}
			if strings.Contains(v, "kpat_") || strings.Contains(v, "spat_") {
				t.Errorf("%s has a token in label %s", s.name, k)
			}
		}
	}
}
