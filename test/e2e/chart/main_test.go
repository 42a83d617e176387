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
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/konnect-auth-controller/konnect-auth-controller/test/controlplane"
	"github.com/konnect-auth-controller/konnect-auth-controller/test/e2e/framework"
)

var (
	// cp is shared by the tests that only render and dry-run; the install test starts an
	// empty one of its own, as a fresh cluster is before `helm install`.
	cp       *controlplane.ControlPlane
	env      *framework.Env
	repoRoot string
	helmBin  string
	chartDir string
)

const (
	release   = "konnect-auth-controller"
	releaseNS = "konnect-system"
)

var suite = &framework.Suite{Name: "chart", CP: &cp, Env: &env, Setup: setup}

func TestMain(m *testing.M) { os.Exit(suite.RunTestMain(m)) }

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
	return nil
}

// helm runs bin/helm against c's apiserver (nil: no cluster), with its cache, config and data
// folders in the work folder, and returns what it printed. It does not fail the test: refusals
// are what some callers look for.
func helm(c *controlplane.ControlPlane, args ...string) (stdout, stderr string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, helmBin, args...)
	home := filepath.Join(env.WorkDir, "helm-home")
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
