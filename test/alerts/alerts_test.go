// Package alerts_test checks the chart's alerts (charts/konnect-auth-controller/files/alerts.yaml)
// with Prometheus's own tool, promtool, built from the version pinned in hack/tools/promtool:
// `promtool check rules` (the rules parse, the expressions are valid PromQL) and
// `promtool test rules alerts_test.yaml` (each alert fires on series that should fire it, when it
// should, with its labels and annotations, and stays silent on series that should not). It also
// checks what promtool does not: the alerts are all there, each with a summary and a
// runbook_url that names a section of docs/troubleshooting.md that exists.
//
// It needs bin/promtool (PROMTOOL overrides): `make promtool`, or `make tools`.
package alerts_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/konnect-auth-controller/konnect-auth-controller/test/controlplane"
)

const runbookBase = "https://github.com/konnect-auth-controller/konnect-auth-controller/blob/main/docs/troubleshooting.md#"

// paths returns the repository root, the rule file and promtool.
func paths(t *testing.T) (root, rules, promtool string) {
	t.Helper()
	root, err := controlplane.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	promtool = os.Getenv("PROMTOOL")
	if promtool == "" {
		promtool = filepath.Join(root, "bin", "promtool")
	}
	return root, filepath.Join(root, "charts", "konnect-auth-controller", "files", "alerts.yaml"), promtool
}

// TestPromtool runs `promtool check rules` on the alerts and `promtool test rules` on their unit
// tests, and logs what promtool printed.
func TestPromtool(t *testing.T) {
	root, rules, promtool := paths(t)
	if _, err := os.Stat(promtool); err != nil {
		t.Fatalf("promtool is not built (%v): run `make promtool` (or `make tools`), or set PROMTOOL", err)
	}
	version, _ := exec.Command(promtool, "--version").CombinedOutput()
	t.Logf("$ promtool --version\n%s", version)
	for _, args := range [][]string{
		{"check", "rules", rules},
		{"test", "rules", filepath.Join(root, "test", "alerts", "alerts_test.yaml")},
	} {
		out, err := exec.Command(promtool, args...).CombinedOutput()
		t.Logf("$ promtool %s\n%s", strings.Join(args, " "), out)
		if err != nil {
			t.Errorf("promtool %s: %v", strings.Join(args, " "), err)
		}
	}
}

type ruleFile struct {
	Groups []struct {
		Name  string `json:"name"`
		Rules []struct {
			Alert       string            `json:"alert"`
			Expr        string            `json:"expr"`
			For         string            `json:"for"`
			Labels      map[string]string `json:"labels"`
			Annotations map[string]string `json:"annotations"`
		} `json:"rules"`
	} `json:"groups"`
}

// TestAlertsHaveRunbooks: the alerts the issue asks for are there, and each has a severity, a
// summary, a description and a runbook_url pointing at a section of docs/troubleshooting.md
// that exists, with the alert's own name (GitHub's anchor of a heading).
func TestAlertsHaveRunbooks(t *testing.T) {
	root, rules, _ := paths(t)
	data, err := os.ReadFile(rules)
	if err != nil {
		t.Fatal(err)
	}
	var f ruleFile
	if err := yaml.UnmarshalStrict(data, &f); err != nil {
		t.Fatalf("%s: %v", rules, err)
	}
	doc, err := os.ReadFile(filepath.Join(root, "docs", "troubleshooting.md"))
	if err != nil {
		t.Fatal(err)
	}
	anchors := headingAnchors(string(doc))
	var names []string
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			names = append(names, r.Alert)
			if r.Labels["severity"] == "" || r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("%s: severity %q, summary %q, description %q: want all three", r.Alert, r.Labels["severity"], r.Annotations["summary"], r.Annotations["description"])
			}
			url := r.Annotations["runbook_url"]
			anchor, ok := strings.CutPrefix(url, runbookBase)
			if !ok || !anchors[anchor] {
				t.Errorf("%s: runbook_url %q is not a section of docs/troubleshooting.md (%s…)", r.Alert, url, runbookBase)
			}
			if anchor != strings.ToLower(r.Alert) {
				t.Errorf("%s: runbook_url names section %q, want the alert's own (%q)", r.Alert, anchor, strings.ToLower(r.Alert))
			}
		}
	}
	want := []string{
		"KonnectAPIAuthConfigurationNotValid", "KonnectGatewayControlPlaneNotProgrammed", "KonnectExtensionNotReady",
		"KonnectDeletionWaiting", "KonnectRateLimited", "KonnectClientCertificateExpiring",
	}
	for _, w := range want {
		if !slices.Contains(names, w) {
			t.Errorf("no alert %s among %v", w, names)
		}
	}
}

var nonAnchor = regexp.MustCompile(`[^a-z0-9 _-]`)

// headingAnchors returns the anchors GitHub gives the Markdown headings of doc: lower case,
// punctuation dropped, spaces as hyphens (enough for this document's headings).
func headingAnchors(doc string) map[string]bool {
	anchors := map[string]bool{}
	inFence := false
	for _, line := range strings.Split(doc, "\n") {
		if strings.HasPrefix(line, "```") {
			inFence = !inFence
		}
		if inFence || !strings.HasPrefix(line, "#") {
			continue
		}
		text := strings.TrimSpace(strings.TrimLeft(line, "#"))
		anchors[strings.ReplaceAll(nonAnchor.ReplaceAllString(strings.ToLower(text), ""), " ", "-")] = true
	}
	return anchors
}
