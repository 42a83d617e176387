package admission

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/konnect-auth-controller/konnect-auth-controller/test/controlplane"
	"github.com/konnect-auth-controller/konnect-auth-controller/test/e2e/framework"
)

// grantResource is what kubectl calls a KongReferenceGrant.
const grantResource = "kongreferencegrant"

var grantGVR = schema.GroupVersionResource{Group: "configuration.konghq.com", Version: "v1alpha1", Resource: "kongreferencegrants"}

// TestGrantAccept applies every testdata/grants/accept/*.yaml (among them Kong's documented
// examples and every kind Kong's CEL rules allow) and checks that each is created and stored
// as written.
func TestGrantAccept(t *testing.T) {
	ns := controlplane.NewNamespace(t, cp)
	for _, path := range globFixtures(t, "grants/accept/*.yaml") {
		name := strings.TrimSuffix(filepath.Base(path), ".yaml")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := loadFixture(t, path, ns)
			if len(f.expect) != 0 {
				t.Fatalf("%s has '# expect:' lines but is an accept case", path)
			}
			stdout, stderr, err := apply(t, f, ns)
			if err != nil {
				t.Fatalf("refused, want accepted: %v\n%s%s", err, stdout, stderr)
			}
			if want := grantResource + ".configuration.konghq.com/" + f.name + " created"; strings.TrimSpace(stdout) != want {
				t.Errorf("kubectl apply printed %q, want %q", stdout, want)
			}
			out := framework.KubectlOutput(t, cp, "get", grantResource, f.name, "-n", ns, "-o", "jsonpath={.spec}")
			var got map[string]any
			if err := jsonUnmarshal(out, &got); err != nil {
				t.Fatalf("decoding spec %q: %v", out, err)
			}
			if g, w := normalise(t, got), normalise(t, f.spec); !equal(g, w) {
				t.Errorf("stored spec:\n got  %v\n want %v", g, w)
			}
		})
	}
}

// TestGrantReject applies every testdata/grants/reject/*.yaml and checks that the apiserver
// refuses it with the message in its "# expect:" lines and stores nothing.
func TestGrantReject(t *testing.T) {
	ns := controlplane.NewNamespace(t, cp)
	client := dynamicClient(t)
	var got messages
	t.Run("cases", func(t *testing.T) {
		for _, path := range globFixtures(t, "grants/reject/*.yaml") {
			name := strings.TrimSuffix(filepath.Base(path), ".yaml")
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				f := loadFixture(t, path, ns)
				if len(f.expect) == 0 {
					t.Fatalf("%s has no '# expect:' line", path)
				}
				stdout, stderr, err := apply(t, f, ns)
				got.add(name, assertRejected(t, stdout, stderr, err, f.expect))
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				if _, err := client.Resource(grantGVR).Namespace(ns).Get(ctx, f.name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
					t.Errorf("%s/%s was stored (get: %v)", ns, f.name, err)
				}
			})
		}
	})
	got.log(t, "grant rule → apiserver message")
}

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
