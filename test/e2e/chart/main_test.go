// Package chart_test proves the Helm chart in charts/konnect-auth-controller against real parts:
// bin/helm (built from the version pinned in hack/tools/helm), a real etcd and kube-apiserver
// (test/controlplane), the built controller binary (test/e2e/framework) and the fake Konnect
// (test/fakekonnect).
//
//   - render_test.go: `helm lint`; `helm template` with the defaults and with each mode
//     (cluster-wide, namespaced, metrics with a ServiceMonitor, every option at once) is
//     accepted by the apiserver in a server-side dry run, without warnings (the Pod template
//     meets the "restricted" Pod Security Standard); the rendered RBAC and Deployment equal
//     what `kubectl kustomize manifests/` renders; wrong values are refused with their message.
//   - install_test.go: `helm install` (the README's command) and `helm upgrade` (from the
//     packaged chart, `make chart`) into an empty cluster create the objects; the controller
//     run as the chart's Deployment says, with the chart's ServiceAccount's token, its proxy
//     settings and its CA bundle ConfigMap, reaches VALID True on manifests/examples/; an
//     upgrade to namespaced mode swaps the ClusterRole for a Role.
//
// The ServiceMonitor CRD of prometheus-operator is not in the test cluster: testdata holds a
// minimal one (its group, kind and the schema of the fields the chart sets) so that the dry
// run checks the chart's ServiceMonitor against a schema.
//
// It needs bin/etcd, bin/kube-apiserver, bin/kubectl (KUBE_BIN_DIR) and bin/helm (HELM, else
// <repo>/bin/helm): `make tools`.
package chart_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	konnectv1alpha1 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha1"
	clientset "github.com/konnect-auth-controller/konnect-auth-controller/pkg/generated/clientset/versioned"
	"github.com/konnect-auth-controller/konnect-auth-controller/test/controlplane"
	"github.com/konnect-auth-controller/konnect-auth-controller/test/e2e/framework"
	"github.com/konnect-auth-controller/konnect-auth-controller/test/fakekonnect"
)

var (
	// cp is shared by the tests that only render and dry-run; the install test starts an
	// empty one of its own, as a fresh cluster is before `helm install`.
	cp       *controlplane.ControlPlane
	konnect  *fakekonnect.Server
	workDir  string
	repoRoot string
	helmBin  string
	chartDir string
)

const (
	release   = "konnect-auth-controller"
	releaseNS = "konnect-system"
	orgID     = "5ca26716-02f7-4430-9117-1d1a7a2695e7"
)

func TestMain(m *testing.M) {
	os.Exit(controlplane.RunTestMain(m, &cp, setup, teardown))
}

func setup() error {
	var err error
	if repoRoot, err = controlplane.RepoRoot(); err != nil {
		return err
	}
	chartDir = filepath.Join(repoRoot, "charts", "konnect-auth-controller")
	helmBin = os.Getenv("HELM")
	if helmBin == "" {
		helmBin = filepath.Join(repoRoot, "bin", "helm")
	}
	if _, err := os.Stat(helmBin); err != nil {
		return fmt.Errorf("helm is not built (%v): run `make tools` (or `make helm`), or set HELM", err)
	}
	if workDir, err = os.MkdirTemp("", "e2e-chart-"); err != nil {
		return err
	}
	if konnect, err = fakekonnect.Start(fakekonnect.Options{Dir: workDir}); err != nil {
		return err
	}
	// The namespaces the dry runs need: the release's, enforcing "restricted" Pod Security as
	// manifests/base/namespace.yaml does (so a Pod template that violates it warns), and the
	// one namespaced mode watches. And the ServiceMonitor CRD stand-in.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, args := range [][]string{
		{"create", "namespace", releaseNS},
		{"label", "namespace", releaseNS, "pod-security.kubernetes.io/enforce=restricted", "pod-security.kubernetes.io/warn=restricted"},
		{"create", "namespace", "kong"},
		{"apply", "-f", filepath.Join(repoRoot, "test", "e2e", "chart", "testdata", "servicemonitor-crd.yaml")},
		{"wait", "--for=condition=Established", "crd/servicemonitors.monitoring.coreos.com", "--timeout=60s"},
	} {
		if out, stderr, err := cp.Kubectl(ctx, args...); err != nil {
			return fmt.Errorf("kubectl %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr)
		}
	}
	// Build the controller now, so that a compile error fails fast.
	_, err = framework.ControllerBinary()
	return err
}

func teardown() error {
	if konnect != nil {
		konnect.Close()
	}
	framework.CleanupBinary()
	return os.RemoveAll(workDir)
}

// helm runs bin/helm against c's apiserver (nil: no cluster), with its cache, config and data
// folders in the work folder, and returns what it printed. It does not fail the test: refusals
// are what some callers look for.
func helm(c *controlplane.ControlPlane, args ...string) (stdout, stderr string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, helmBin, args...)
	home := filepath.Join(workDir, "helm-home")
	cmd.Env = append(os.Environ(),
		"HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"),
		"KUBECONFIG=/dev/null")
	if c != nil {
		cmd.Env = append(cmd.Env, "KUBECONFIG="+c.KubeconfigPath())
	}
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	return out.String(), errOut.String(), err
}

// mustHelm is helm that fails the test when helm fails.
func mustHelm(t testing.TB, c *controlplane.ControlPlane, args ...string) string {
	t.Helper()
	out, stderr, err := helm(c, args...)
	if err != nil {
		t.Fatalf("helm %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr)
	}
	return out
}

// kubectl runs kubectl with c's admin kubeconfig and fails the test if it fails.
func kubectl(t testing.TB, c *controlplane.ControlPlane, stdin string, args ...string) (string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var in io.Reader
	if stdin != "" {
		in = strings.NewReader(stdin)
	}
	out, stderr, err := c.KubectlInput(ctx, in, args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr)
	}
	return out, stderr
}

// decode splits a multi-document YAML stream into objects.
func decode(t testing.TB, what, text string) []*unstructured.Unstructured {
	t.Helper()
	var objs []*unstructured.Unstructured
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

// key names an object in assertions: Kind/namespace/name.
func key(u *unstructured.Unstructured) string {
	return u.GetKind() + "/" + u.GetNamespace() + "/" + u.GetName()
}

func keys(objs []*unstructured.Unstructured) []string {
	var ks []string
	for _, u := range objs {
		ks = append(ks, key(u))
	}
	sort.Strings(ks)
	return ks
}

// get decodes the object kind/ns/name of objs into out, refusing fields the Go type does not
// know; it fails the test when there is no such object.
func get(t testing.TB, objs []*unstructured.Unstructured, kind, ns, name string, out any) {
	t.Helper()
	for _, u := range objs {
		if u.GetKind() == kind && u.GetNamespace() == ns && u.GetName() == name {
			if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(u.Object, out, true); err != nil {
				t.Fatalf("%s: %v", key(u), err)
			}
			return
		}
	}
	t.Fatalf("no %s/%s/%s; have %v", kind, ns, name, keys(objs))
}

// waitForValid waits until ns/name's APIAuthValid condition is True/Valid and returns it.
func waitForValid(t testing.TB, client clientset.Interface, ns, name string) *metav1.Condition {
	t.Helper()
	var cond *metav1.Condition
	framework.WaitFor(t, 60*time.Second, ns+"/"+name+" APIAuthValid True", func() (bool, string) {
		cfg, err := client.KonnectV1alpha1().KonnectAPIAuthConfigurations(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		for i := range cfg.Status.Conditions {
			if cfg.Status.Conditions[i].Type == konnectv1alpha1.ConditionAPIAuthValid {
				cond = &cfg.Status.Conditions[i]
			}
		}
		return cond != nil && cond.Status == metav1.ConditionTrue && cond.Reason == konnectv1alpha1.ReasonValid, fmt.Sprintf("%+v", cfg.Status)
	})
	return cond
}
