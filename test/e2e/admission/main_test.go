// Package admission proves, against a real kube-apiserver with the generated CRDs installed and
// with kubectl as a user would type it, that admission of every custom resource
// (KonnectAPIAuthConfiguration, KongReferenceGrant, KonnectGatewayControlPlane, KonnectExtension)
// accepts the user guide's manifests and refuses every invalid spec with a message a person
// understands (README.md, "Giving it a token"). The cases are YAML fixtures under testdata/ (see
// testdata/README.md).
//
// It needs bin/etcd, bin/kube-apiserver and bin/kubectl (`make tools`).
package admission

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"

	"github.com/konnect-auth-controller/konnect-auth-controller/test/controlplane"
	"github.com/konnect-auth-controller/konnect-auth-controller/test/e2e/framework"
)

// cp is the control plane shared by every test of this package; each test works in its own
// namespace.
var cp *controlplane.ControlPlane

func TestMain(m *testing.M) { os.Exit(controlplane.RunTestMain(m, &cp)) }

// kind is one custom resource whose admission the fixtures under testdata/<dir> prove.
type kind struct {
	// dir is the fixtures' folder under testdata ("" for KonnectAPIAuthConfiguration's,
	// which came first).
	dir string
	// resource is what kubectl calls it.
	resource string
	gvr      schema.GroupVersionResource
}

var (
	authConfigs = kind{resource: "konnectapiauthconfiguration",
		gvr: schema.GroupVersionResource{Group: "konnect.konghq.com", Version: "v1alpha1", Resource: "konnectapiauthconfigurations"}}
	grants = kind{dir: "grants", resource: "kongreferencegrant",
		gvr: schema.GroupVersionResource{Group: "configuration.konghq.com", Version: "v1alpha1", Resource: "kongreferencegrants"}}
	controlPlanes = kind{dir: "controlplanes", resource: "konnectgatewaycontrolplane",
		gvr: schema.GroupVersionResource{Group: "konnect.konghq.com", Version: "v1alpha2", Resource: "konnectgatewaycontrolplanes"}}
	extensions = kind{dir: "extensions", resource: "konnectextension",
		gvr: schema.GroupVersionResource{Group: "konnect.konghq.com", Version: "v1alpha2", Resource: "konnectextensions"}}
)

// fixtures returns the kind's fixture pattern under testdata, e.g. "grants/accept/*.yaml".
func (k kind) fixtures(pattern string) string { return filepath.Join(k.dir, pattern) }

// fixture is one YAML file of testdata.
type fixture struct {
	path    string
	content string   // with ${NAMESPACE} replaced
	expect  []string // from leading "# expect: " lines; empty means the fixture must be accepted
	name    string   // metadata.name
	spec    map[string]any
}

// loadFixture reads path, replacing ${NAMESPACE} with ns.
func loadFixture(t testing.TB, path, ns string) fixture {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f := fixture{path: path, content: strings.ReplaceAll(string(raw), "${NAMESPACE}", ns)}
	s := bufio.NewScanner(strings.NewReader(f.content))
	for s.Scan() {
		line := strings.TrimSpace(s.Text())
		if !strings.HasPrefix(line, "#") {
			break
		}
		if text, ok := strings.CutPrefix(line, "# expect:"); ok {
			f.expect = append(f.expect, strings.TrimSpace(text))
		}
	}
	var obj struct {
		Metadata struct {
			Name string `json:"name"`
		} `json:"metadata"`
		Spec map[string]any `json:"spec"`
	}
	if err := yaml.Unmarshal([]byte(f.content), &obj); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	f.name, f.spec = obj.Metadata.Name, obj.Spec
	return f
}

// globFixtures lists testdata files matching pattern, sorted.
func globFixtures(t testing.TB, pattern string) []string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", pattern))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no fixtures match testdata/%s (%v)", pattern, err)
	}
	sort.Strings(paths)
	return paths
}

// apply runs `kubectl apply -n ns -f -` with the fixture's content.
func apply(t testing.TB, f fixture, ns string) (stdout, stderr string, err error) {
	t.Helper()
	return framework.Kubectl(cp, f.content, "apply", "-n", ns, "-f", "-")
}

// getSpec returns the stored spec of the named object of kind k.
func getSpec(t testing.TB, k kind, ns, name string) map[string]any {
	t.Helper()
	out := framework.KubectlOutput(t, cp, "get", k.resource, name, "-n", ns, "-o", "jsonpath={.spec}")
	var spec map[string]any
	if err := json.Unmarshal([]byte(out), &spec); err != nil {
		t.Fatalf("decoding spec %q: %v", out, err)
	}
	return spec
}

// assertSpec fails the test unless the stored spec of name holds everything in want, as
// written. The stored spec may hold more: what the schema defaults (e.g. spec.source: Origin).
func assertSpec(t testing.TB, k kind, ns, name string, want map[string]any) {
	t.Helper()
	got := getSpec(t, k, ns, name)
	if !contains(framework.Normalise(t, got), framework.Normalise(t, want)) {
		t.Errorf("stored spec of %s/%s:\n got  %v\n want %v (and defaults)", ns, name, got, want)
	}
}

// contains reports whether got holds want: every key of a map (recursively), lists element by
// element and of the same length, scalars equal.
func contains(got, want any) bool {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return false
		}
		for k, wv := range w {
			if gv, ok := g[k]; !ok || !contains(gv, wv) {
				return false
			}
		}
		return true
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return false
		}
		for i := range w {
			if !contains(g[i], w[i]) {
				return false
			}
		}
		return true
	default:
		return reflect.DeepEqual(got, want)
	}
}

// assertRejected fails the test unless kubectl failed with a message containing every
// expected substring. It returns the apiserver's message (kubectl's stderr, trimmed).
func assertRejected(t testing.TB, stdout, stderr string, err error, expect []string) string {
	t.Helper()
	msg := strings.TrimSpace(stderr)
	if err == nil {
		t.Errorf("accepted, want it refused with %q\nstdout: %s", expect, stdout)
		return msg
	}
	for _, want := range expect {
		if !strings.Contains(msg, want) {
			t.Errorf("refused, but the message does not contain %q:\n%s", want, msg)
		}
	}
	return msg
}

// messages collects rule → apiserver message for a summary printed at the end of a test.
type messages struct {
	mu sync.Mutex
	m  map[string]string
}

func (ms *messages) add(rule, msg string) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	if ms.m == nil {
		ms.m = map[string]string{}
	}
	ms.m[rule] = msg
}

// log prints the collected messages, sorted by rule.
func (ms *messages) log(t testing.TB, title string) {
	t.Helper()
	ms.mu.Lock()
	defer ms.mu.Unlock()
	rules := make([]string, 0, len(ms.m))
	for r := range ms.m {
		rules = append(rules, r)
	}
	sort.Strings(rules)
	var b strings.Builder
	for _, r := range rules {
		b.WriteString("\n  " + r + "\n      " + strings.ReplaceAll(ms.m[r], "\n", "\n      "))
	}
	t.Logf("%s:%s", title, b.String())
}

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }

func equal(a, b any) bool { return reflect.DeepEqual(a, b) }
