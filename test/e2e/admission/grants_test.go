package admission

import (
	"strings"
	"testing"

	"github.com/konnect-auth-controller/konnect-auth-controller/test/e2e/framework"
)

// TestGrantResource: the resource is Kong's, named as Kong names it: namespaced, in the
// category kong (so `kubectl get kong` lists grants), with no status subresource.
func TestGrantResource(t *testing.T) {
	out := framework.KubectlOutput(t, cp, "api-resources", "--api-group=configuration.konghq.com", "-o", "wide")
	t.Logf("$ kubectl api-resources --api-group=configuration.konghq.com -o wide\n%s", out)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("want exactly one resource in configuration.konghq.com:\n%s", out)
	}
	fields := strings.Fields(lines[1])
	// NAME SHORTNAMES APIVERSION NAMESPACED KIND VERBS CATEGORIES (no short names)
	if len(fields) < 6 || fields[0] != "kongreferencegrants" || fields[1] != "configuration.konghq.com/v1alpha1" ||
		fields[2] != "true" || fields[3] != "KongReferenceGrant" || fields[len(fields)-1] != "kong" {
		t.Errorf("kubectl api-resources row = %v, want kongreferencegrants configuration.konghq.com/v1alpha1 true KongReferenceGrant … kong", fields)
	}
	crd := framework.KubectlOutput(t, cp, "get", "crd", "kongreferencegrants.configuration.konghq.com", "-o", "jsonpath={.spec.versions[0].subresources}")
	if crd != "{}" && crd != "" {
		t.Errorf("subresources = %s, want none (Kong's grant has no status)", crd)
	}
}
