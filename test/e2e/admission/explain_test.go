package admission

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"

	"github.com/konnect-auth-controller/konnect-auth-controller/test/controlplane"
	"github.com/konnect-auth-controller/konnect-auth-controller/test/e2e/framework"
)

// TestExplain checks that `kubectl explain` documents the resource: the description of
// spec.serverURL from its doc comment, and every field of spec (and of spec.secretRef) with its
// description, as generated into the CRD.
func TestExplain(t *testing.T) {
	props := crdSpecSchema(t)

	t.Run("spec.serverURL", func(t *testing.T) {
		out := explain(t, authConfigs.resource+".spec.serverURL")
		flat := collapse(out)
		for _, want := range []string{
			"FIELD: serverURL <string>",
			"serverURL is the Konnect API of your region, as a host name (us.api.konghq.com) or an https URL",
			`the first label of the host is the region: "global" or two lower-case letters`,
			"http:// is refused. It cannot be changed after creation.",
		} {
			if !strings.Contains(strings.ToLower(flat), strings.ToLower(want)) {
				t.Errorf("kubectl explain %s.spec.serverURL does not say %q:\n%s", authConfigs.resource, want, out)
			}
		}
	})

	t.Run("spec", func(t *testing.T) {
		out := explain(t, authConfigs.resource+".spec")
		t.Logf("kubectl explain %s.spec:\n%s", authConfigs.resource, out)
		checkFields(t, out, props.Properties, []string{"secretRef", "serverURL", "token", "type"}, props.Required)
	})

	t.Run("spec.secretRef", func(t *testing.T) {
		out := explain(t, authConfigs.resource+".spec.secretRef")
		ref := props.Properties["secretRef"]
		checkFields(t, out, ref.Properties, []string{"name", "namespace"}, ref.Required)
	})
}

// fieldLine matches a field in kubectl explain's FIELDS list: two spaces, name, tab, <type>.
var fieldLine = regexp.MustCompile(`(?m)^  ([A-Za-z0-9]+)\t<[^>]+>(.*)$`)

// checkFields asserts that explain output lists exactly the fields want (which must also be the
// schema's), each with its schema description, and marks the required ones.
func checkFields(t *testing.T, out string, schema map[string]apiextensionsv1.JSONSchemaProps, want, required []string) {
	t.Helper()
	var fromSchema []string
	for name := range schema {
		fromSchema = append(fromSchema, name)
	}
	sort.Strings(fromSchema)
	if !slices.Equal(fromSchema, want) {
		t.Errorf("the CRD's fields are %v, the README (Giving it a token) names %v", fromSchema, want)
	}
	var listed []string
	for _, m := range fieldLine.FindAllStringSubmatch(out, -1) {
		listed = append(listed, m[1])
		isRequired := strings.Contains(m[2], "-required-")
		if isRequired != slices.Contains(required, m[1]) {
			t.Errorf("field %s: -required- shown = %v, schema required = %v", m[1], isRequired, required)
		}
	}
	sort.Strings(listed)
	if !slices.Equal(listed, fromSchema) {
		t.Errorf("kubectl explain lists fields %v, want %v:\n%s", listed, fromSchema, out)
	}
	flat := collapse(out)
	for name, p := range schema {
		if strings.TrimSpace(p.Description) == "" {
			t.Errorf("field %s has no description", name)
		} else if !strings.Contains(flat, collapse(p.Description)) {
			t.Errorf("kubectl explain does not print the description of %s (%q)", name, p.Description)
		}
	}
}

// explain runs kubectl explain, retrying for a while: the apiserver publishes a new CRD's
// OpenAPI document a little after the CRD is served.
func explain(t *testing.T, path string) string {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		out, stderr, err := framework.Kubectl(cp, "", "explain", path)
		if err == nil {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("kubectl explain %s: %v\n%s", path, err, stderr)
		}
		time.Sleep(time.Second)
	}
}

// crdSpecSchema returns the OpenAPI schema of spec from the generated CRD in manifests/crd.
func crdSpecSchema(t *testing.T) apiextensionsv1.JSONSchemaProps {
	t.Helper()
	dir, err := controlplane.CRDDir()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, "konnect.konghq.com_konnectapiauthconfigurations.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var crd apiextensionsv1.CustomResourceDefinition
	if err := yaml.Unmarshal(data, &crd); err != nil {
		t.Fatal(err)
	}
	return crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"]
}

// collapse joins all runs of white space into one space, so that text compares equal whatever
// kubectl's line wrapping.
func collapse(s string) string { return strings.Join(strings.Fields(s), " ") }
