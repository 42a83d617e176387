package admission

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/konnect-auth-controller/konnect-auth-controller/test/controlplane"
	"github.com/konnect-auth-controller/konnect-auth-controller/test/e2e/framework"
)

// TestV1alpha2Defaults: what the schema fills in, as Kong's does: source Origin, the reference
// type konnectNamespacedRef, provisioning Automatic, and a Pending condition before the
// controller has acted (so `kubectl get` shows Unknown rather than nothing).
func TestV1alpha2Defaults(t *testing.T) {
	ns := controlplane.NewNamespace(t, cp)
	for _, c := range []struct {
		k       kind
		fixture string
		path    string
		want    string
	}{
		{controlPlanes, "controlplanes/accept/origin-guide.yaml", "{.spec.source}", "Origin"},
		{controlPlanes, "controlplanes/accept/origin-guide.yaml", "{.status.conditions[0].type}/{.status.conditions[0].status}/{.status.conditions[0].reason}", "Programmed/Unknown/Pending"},
		{extensions, "extensions/accept/minimal.yaml", "{.spec.konnect.controlPlane.ref.type}", "konnectNamespacedRef"},
		{extensions, "extensions/accept/minimal.yaml", "{.spec.clientAuth.certificateSecret.provisioning}", "Automatic"},
		{extensions, "extensions/accept/minimal.yaml", "{.status.conditions[0].type}/{.status.conditions[0].status}/{.status.conditions[0].reason}", "Ready/Unknown/Pending"},
	} {
		f := loadFixture(t, "testdata/"+c.fixture, ns)
		if stdout, stderr, err := apply(t, f, ns); err != nil {
			t.Fatalf("%s: %v\n%s%s", c.fixture, err, stdout, stderr)
		}
		if got := framework.KubectlOutput(t, cp, "get", c.k.resource, f.name, "-n", ns, "-o", "jsonpath="+c.path); got != c.want {
			t.Errorf("%s %s: %s = %q, want %q", c.k.resource, f.name, c.path, got, c.want)
		}
	}
}

// TestV1alpha2Resources: both kinds are namespaced, in the categories kong and konnect, served
// only as v1alpha2, and print Kong's columns.
func TestV1alpha2Resources(t *testing.T) {
	out := framework.KubectlOutput(t, cp, "api-resources", "--api-group=konnect.konghq.com", "-o", "wide")
	t.Logf("$ kubectl api-resources --api-group=konnect.konghq.com -o wide\n%s", out)
	for _, want := range []string{"konnectgatewaycontrolplanes", "konnectextensions"} {
		found := false
		for _, line := range strings.Split(out, "\n") {
			fields := strings.Fields(line)
			if len(fields) > 0 && fields[0] == want {
				found = true
				if !strings.Contains(line, "konnect.konghq.com/v1alpha2") || !strings.Contains(line, "true") || !strings.HasSuffix(line, "kong,konnect") {
					t.Errorf("%s row = %q, want konnect.konghq.com/v1alpha2, namespaced, categories kong,konnect", want, line)
				}
			}
		}
		if !found {
			t.Errorf("kubectl api-resources does not list %s", want)
		}
	}
	for _, c := range []struct{ crd, columns string }{
		{"konnectgatewaycontrolplanes.konnect.konghq.com", "Programmed ID OrgID Age"},
		{"konnectextensions.konnect.konghq.com", "Ready Age"},
	} {
		// v1alpha1 is listed, as in Kong's CRDs, but not served (migration/crdversions_test.go).
		versions := framework.KubectlOutput(t, cp, "get", "crd", c.crd, "-o", "jsonpath={.spec.versions[?(@.served==true)].name}")
		if versions != "v1alpha2" {
			t.Errorf("%s serves %q, want only v1alpha2", c.crd, versions)
		}
		cols := framework.KubectlOutput(t, cp, "get", "crd", c.crd, "-o", `jsonpath={.spec.versions[?(@.name=="v1alpha2")].additionalPrinterColumns[*].name}`)
		if cols != c.columns {
			t.Errorf("%s columns = %q, want %q", c.crd, cols, c.columns)
		}
	}
}

// TestControlPlaneAuthRefLocked: once the controller has reported the control plane Programmed
// (or its credentials valid), spec.konnect.authRef cannot be changed, as in Kong's operator;
// the status is written as the controller writes it, through the status subresource.
func TestControlPlaneAuthRefLocked(t *testing.T) {
	ns := controlplane.NewNamespace(t, cp)
	for _, condition := range []string{"Programmed", "APIAuthValid"} {
		t.Run(condition, func(t *testing.T) {
			f := loadFixture(t, "testdata/controlplanes/accept/origin-guide.yaml", ns)
			name := strings.ToLower(condition)
			f.content = strings.Replace(f.content, "name: gateway-control-plane\nspec", "name: "+name+"\nspec", 1)
			if stdout, stderr, err := apply(t, f, ns); err != nil {
				t.Fatalf("creating: %v\n%s%s", err, stdout, stderr)
			}
			status, _ := json.Marshal(map[string]any{"status": map[string]any{"conditions": []map[string]any{{
				"type": condition, "status": "True", "reason": condition, "message": "set by the test",
				"lastTransitionTime": "2026-12-01T00:00:00Z",
			}}}})
			framework.KubectlOutput(t, cp, "patch", controlPlanes.resource, name, "-n", ns, "--subresource=status", "--type=merge", "-p", string(status))
			_, stderr, err := framework.Kubectl(cp, "", "patch", controlPlanes.resource, name, "-n", ns, "--type=merge",
				"-p", `{"spec":{"konnect":{"authRef":{"name":"another-auth"}}}}`)
			msg := assertRejected(t, "", stderr, err, []string{"spec.konnect.authRef cannot be changed"})
			t.Logf("rejected: %s", msg)
			if got := framework.KubectlOutput(t, cp, "get", controlPlanes.resource, name, "-n", ns, "-o", "jsonpath={.spec.konnect.authRef.name}"); got != "konnect-api-auth" {
				t.Errorf("authRef.name = %q after the refused patch, want konnect-api-auth", got)
			}
		})
	}
}
