package framework

import (
	"errors"
	"io"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/konnect-auth-controller/konnect-auth-controller/test/controlplane"
)

// Objects are the objects of a multi-document YAML stream (what `kubectl kustomize` or
// `helm template` prints).
type Objects []*unstructured.Unstructured

// DecodeObjects splits a multi-document YAML stream into objects, failing the test (with what
// says what the text is) if it does not decode.
func DecodeObjects(t testing.TB, what, text string) Objects {
	t.Helper()
	var objs Objects
	dec := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(text), 4096)
	for {
		var obj map[string]any
		err := dec.Decode(&obj)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("decoding %s: %v", what, err)
		}
		if obj == nil {
			continue
		}
		objs = append(objs, &unstructured.Unstructured{Object: obj})
	}
	return objs
}

// Kustomize runs `kubectl kustomize` (kubectl's built-in kustomize, as `kubectl apply -k` uses
// it) with c's kubectl on the repository's folder dir, and returns what it printed and the
// objects.
func Kustomize(t testing.TB, c *controlplane.ControlPlane, dir string) (string, Objects) {
	t.Helper()
	root, err := controlplane.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	out, _ := MustKubectl(t, c, "", "kustomize", filepath.Join(root, filepath.FromSlash(dir)))
	return out, DecodeObjects(t, "kubectl kustomize "+dir, out)
}

// Key names an object in assertions: Kind/namespace/name.
func Key(u *unstructured.Unstructured) string {
	return u.GetKind() + "/" + u.GetNamespace() + "/" + u.GetName()
}

// Keys returns the sorted keys of objs.
func (objs Objects) Keys() []string {
	var ks []string
	for _, u := range objs {
		ks = append(ks, Key(u))
	}
	sort.Strings(ks)
	return ks
}

// Get decodes the object kind/ns/name into out, refusing any field the Go type does not know (a
// misspelt or misplaced field in a manifest fails here, not silently in a cluster); it fails
// the test when there is no such object.
func (objs Objects) Get(t testing.TB, kind, ns, name string, out any) {
	t.Helper()
	for _, u := range objs {
		if u.GetKind() == kind && u.GetNamespace() == ns && u.GetName() == name {
			if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(u.Object, out, true); err != nil {
				t.Fatalf("%s: %v", Key(u), err)
			}
			return
		}
	}
	t.Fatalf("no %s/%s/%s; have %v", kind, ns, name, objs.Keys())
}
