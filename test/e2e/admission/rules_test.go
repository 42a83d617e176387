package admission

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"

	"github.com/konnect-auth-controller/konnect-auth-controller/test/controlplane"
	"github.com/konnect-auth-controller/konnect-auth-controller/test/e2e/framework"
)

// TestReject applies every reject fixture of each kind (testdata/reject/*.yaml for
// KonnectAPIAuthConfiguration, testdata/<kind>/reject/*.yaml for the others: every schema and
// CEL rule has one) and checks that the apiserver refuses it with the message in its
// "# expect:" lines, and that nothing was stored. Every message is logged, so the apiserver's
// exact words can be quoted.
func TestReject(t *testing.T) {
	forKinds(t, testReject, authConfigs, grants, controlPlanes, extensions)
}

// TestAccept applies every accept fixture of each kind (the user guide's manifests, Kong's
// documented grants, every field of Konnect's create request, …) and checks that it is created
// and stored as written.
func TestAccept(t *testing.T) {
	forKinds(t, testAccept, authConfigs, grants, controlPlanes, extensions)
}

// TestUpdate runs every update/<case>/ of each kind that has them (testdata/README.md): a
// KonnectGatewayControlPlane's source and cluster_type are immutable, while names, labels and
// (before it is Programmed) authRef may change; a KonnectExtension's control-plane reference
// is immutable, while provisioning may change.
func TestUpdate(t *testing.T) { forKinds(t, testUpdate, authConfigs, controlPlanes, extensions) }

// forKinds runs test for each kind, as a subtest named after the resource.
func forKinds(t *testing.T, test func(*testing.T, kind), kinds ...kind) {
	for _, k := range kinds {
		t.Run(k.resource, func(t *testing.T) { test(t, k) })
	}
}

// testReject applies every reject fixture of k and checks that each is refused with its
// "# expect:" message and that nothing was stored.
func testReject(t *testing.T, k kind) {
	ns := controlplane.NewNamespace(t, cp)
	client := dynamicClient(t)
	var got messages
	t.Run("cases", func(t *testing.T) {
		for _, path := range globFixtures(t, k.fixtures("reject/*.yaml")) {
			name := strings.TrimSuffix(filepath.Base(path), ".yaml")
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				f := loadFixture(t, path, ns)
				if len(f.expect) == 0 {
					t.Fatalf("%s has no '# expect:' line", path)
				}
				stdout, stderr, err := apply(t, f, ns)
				msg := assertRejected(t, stdout, stderr, err, f.expect)
				t.Logf("rejected %s: %s", name, msg)
				// A refused token must not be echoed back to the terminal (or audit log).
				if token, _ := f.spec["token"].(string); len(token) > 3 && strings.Contains(stdout+stderr, token) {
					t.Errorf("the rejection quotes the token %q:\n%s", token, stderr)
				}
				got.add(name, msg)
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				if _, err := client.Resource(k.gvr).Namespace(ns).Get(ctx, f.name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
					t.Errorf("%s/%s was stored (get: %v)", ns, f.name, err)
				}
			})
		}
	})
	got.log(t, k.resource+" rule → apiserver message")
}

// testAccept applies every accept fixture of k and checks that each is created and stored as
// written.
func testAccept(t *testing.T, k kind) {
	ns := controlplane.NewNamespace(t, cp)
	for _, path := range globFixtures(t, k.fixtures("accept/*.yaml")) {
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
			if want := k.resource + "." + k.gvr.Group + "/" + f.name + " created"; strings.TrimSpace(stdout) != want {
				t.Errorf("kubectl apply printed %q, want %q", stdout, want)
			}
			assertSpec(t, k, ns, f.name, f.spec)
		})
	}
}

// testUpdate runs every update/<case>/ of k: create.yaml is created, then update.yaml is
// applied (kubectl apply) or patch.yaml merged (kubectl patch --type=merge). With "# expect:"
// lines the update must be refused with that message and the object left as created;
// otherwise it must succeed and leave the spec of want.yaml (default update.yaml).
func testUpdate(t *testing.T, k kind) {
	ns := controlplane.NewNamespace(t, cp)
	var got messages
	t.Run("cases", func(t *testing.T) {
		dirs := globFixtures(t, k.fixtures("update/*"))
		for _, dir := range dirs {
			name := filepath.Base(dir)
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				create := loadFixture(t, filepath.Join(dir, "create.yaml"), ns)
				if stdout, stderr, err := apply(t, create, ns); err != nil {
					t.Fatalf("creating: %v\n%s%s", err, stdout, stderr)
				}

				var change fixture
				var stdout, stderr string
				var err error
				if _, statErr := os.Stat(filepath.Join(dir, "patch.yaml")); statErr == nil {
					change = loadFixture(t, filepath.Join(dir, "patch.yaml"), ns)
					// kubectl patch takes YAML as well as JSON; the comments are dropped.
					stdout, stderr, err = framework.Kubectl(cp, "", "patch", k.resource, create.name, "-n", ns, "--type=merge",
						"--patch-file="+change.path)
				} else {
					change = loadFixture(t, filepath.Join(dir, "update.yaml"), ns)
					stdout, stderr, err = apply(t, change, ns)
				}

				if len(change.expect) > 0 {
					msg := assertRejected(t, stdout, stderr, err, change.expect)
					t.Logf("rejected %s: %s", name, msg)
					got.add(name, msg)
					assertSpec(t, k, ns, create.name, create.spec)
					return
				}
				if err != nil {
					t.Fatalf("update refused, want accepted: %v\n%s%s", err, stdout, stderr)
				}
				want := change.spec
				if _, statErr := os.Stat(filepath.Join(dir, "want.yaml")); statErr == nil {
					want = loadFixture(t, filepath.Join(dir, "want.yaml"), ns).spec
				}
				assertSpec(t, k, ns, create.name, want)
			})
		}
	})
	got.log(t, k.resource+" update rule → apiserver message")
}

// dynamicClient returns a dynamic client for the shared control plane.
func dynamicClient(t testing.TB) dynamic.Interface {
	t.Helper()
	c, err := dynamic.NewForConfig(cp.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	return c
}
