package admission

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/konnect-auth-controller/konnect-auth-controller/test/controlplane"
	"github.com/konnect-auth-controller/konnect-auth-controller/test/e2e/framework"
)

// TestStatusColumns writes a status as the controller would (through the status subresource)
// and checks what `kubectl get` prints: the columns NAME VALID ORGID SERVERURL AGE with the
// status's values, also through the kong and konnect categories; that `kubectl wait` sees the
// condition; and that status cannot be written through the main resource.
func TestStatusColumns(t *testing.T) {
	ns := controlplane.NewNamespace(t, cp)
	const (
		name   = "konnect-api-auth"
		server = "https://us.api.konghq.com"
	)
	framework.KubectlOutput(t, cp, "apply", "-n", ns, "-f", "testdata/status/konnect-api-auth.yaml")
	generation := framework.KubectlOutput(t, cp, "get", authConfigs.resource, name, "-n", ns, "-o", "jsonpath={.metadata.generation}")

	condition := map[string]any{
		"type":               "APIAuthValid",
		"status":             "True",
		"reason":             "Valid",
		"message":            "Token is valid",
		"lastTransitionTime": time.Now().UTC().Format(time.RFC3339),
		"observedGeneration": json.Number(generation),
	}
	patch, _ := json.Marshal(map[string]any{"status": map[string]any{
		"organizationID": framework.UserGuideOrgID,
		"serverURL":      server,
		"conditions":     []any{condition},
	}})
	out := framework.KubectlOutput(t, cp, "patch", authConfigs.resource, name, "-n", ns, "--subresource=status", "--type=merge", "-p", string(patch))
	if want := authConfigs.resource + ".konnect.konghq.com/" + name + " patched"; strings.TrimSpace(out) != want {
		t.Errorf("kubectl patch --subresource=status printed %q, want %q", out, want)
	}
	if g := framework.KubectlOutput(t, cp, "get", authConfigs.resource, name, "-n", ns, "-o", "jsonpath={.metadata.generation}"); g != generation {
		t.Errorf("a status write changed metadata.generation from %s to %s", generation, g)
	}

	ageRE := regexp.MustCompile(`^[0-9]+[smhdy]`)
	checkTable := func(t *testing.T, out string, nameSuffix string) {
		t.Helper()
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 2 {
			t.Fatalf("want a header and one row, got:\n%s", out)
		}
		if got := strings.Fields(lines[0]); strings.Join(got, " ") != "NAME VALID ORGID SERVERURL AGE" {
			t.Errorf("header = %q, want exactly NAME VALID ORGID SERVERURL AGE", lines[0])
		}
		row := strings.Fields(lines[1])
		if len(row) != 5 || !strings.HasSuffix(row[0], nameSuffix) || row[1] != "True" || row[2] != framework.UserGuideOrgID || row[3] != server || !ageRE.MatchString(row[4]) {
			t.Errorf("row = %q, want %s True %s %s <age>", lines[1], nameSuffix, framework.UserGuideOrgID, server)
		}
		// Each value starts under its header.
		for _, h := range []string{"VALID", "ORGID", "SERVERURL", "AGE"} {
			col := strings.Index(lines[0], h)
			if col < 0 || col >= len(lines[1]) || lines[1][col] == ' ' || (col > 0 && lines[1][col-1] != ' ') {
				t.Errorf("column %s (at %d) is not aligned with its value in:\n%s", h, col, out)
			}
		}
	}

	t.Run("get", func(t *testing.T) {
		out := framework.KubectlOutput(t, cp, "get", authConfigs.resource, "-n", ns)
		t.Logf("kubectl get %s -n %s:\n%s", authConfigs.resource, ns, out)
		checkTable(t, out, name)
	})
	for _, category := range []string{"kong", "konnect"} {
		t.Run("category-"+category, func(t *testing.T) {
			out := framework.KubectlOutput(t, cp, "get", category, "-n", ns)
			t.Logf("kubectl get %s -n %s:\n%s", category, ns, out)
			checkTable(t, out, name)
		})
	}
	t.Run("wait", func(t *testing.T) {
		out := framework.KubectlOutput(t, cp, "wait", "--for=condition=APIAuthValid", authConfigs.resource+"/"+name, "-n", ns, "--timeout=20s")
		if !strings.Contains(out, "condition met") {
			t.Errorf("kubectl wait printed %q", out)
		}
	})
	t.Run("guide-jsonpath", func(t *testing.T) {
		// The guide's programmatic check.
		out := framework.KubectlOutput(t, cp, "get", authConfigs.resource, name, "-n", ns, "-o", `jsonpath={.status.conditions[?(@.type=='APIAuthValid')]}`)
		var got map[string]any
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("%q: %v", out, err)
		}
		if fmt.Sprint(got["status"], got["reason"], got["message"], got["observedGeneration"]) != fmt.Sprint("True", "Valid", "Token is valid", generation) {
			t.Errorf("APIAuthValid condition = %v", got)
		}
	})
	t.Run("status-is-a-subresource", func(t *testing.T) {
		framework.KubectlOutput(t, cp, "patch", authConfigs.resource, name, "-n", ns, "--type=merge", "-p", `{"status":{"organizationID":"not-through-the-main-authConfigs.resource"}}`)
		if got := framework.KubectlOutput(t, cp, "get", authConfigs.resource, name, "-n", ns, "-o", "jsonpath={.status.organizationID}"); got != framework.UserGuideOrgID {
			t.Errorf("status.organizationID = %q after a patch of the main authConfigs.resource, want it unchanged (%s)", got, framework.UserGuideOrgID)
		}
	})
}
