package framework

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/konnect-auth-controller/konnect-auth-controller/test/controlplane"
)

// KubectlTimeout bounds one kubectl run.
const KubectlTimeout = 2 * time.Minute

// Kubectl runs kubectl with c's admin kubeconfig, feeding it stdin ("" for none), and returns
// what it printed. err is non-nil when kubectl failed; refusals are what some callers look for.
func Kubectl(c *controlplane.ControlPlane, stdin string, args ...string) (stdout, stderr string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), KubectlTimeout)
	defer cancel()
	var in io.Reader
	if stdin != "" {
		in = strings.NewReader(stdin)
	}
	return c.KubectlInput(ctx, in, args...)
}

// MustKubectl is Kubectl that fails the test if kubectl fails.
func MustKubectl(t testing.TB, c *controlplane.ControlPlane, stdin string, args ...string) (stdout, stderr string) {
	t.Helper()
	stdout, stderr, err := Kubectl(c, stdin, args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s%s", strings.Join(args, " "), err, stdout, stderr)
	}
	return stdout, stderr
}

// KubectlOutput runs kubectl with c's admin kubeconfig and no stdin, fails the test if kubectl
// fails, and returns its standard output.
func KubectlOutput(t testing.TB, c *controlplane.ControlPlane, args ...string) string {
	t.Helper()
	stdout, _ := MustKubectl(t, c, "", args...)
	return stdout
}

// Apply pipes manifest into `kubectl apply -f -`, as `echo '...' | kubectl apply -f -` would,
// and fails the test if kubectl fails.
func Apply(t testing.TB, c *controlplane.ControlPlane, manifest string) {
	t.Helper()
	MustKubectl(t, c, manifest, "apply", "-f", "-")
}

// KubectlWith runs kubectl against c's kubectl binary with another kubeconfig (a
// ServiceAccount's), as that identity would type it. It does not fail the test: refusals are
// what some callers look for.
func KubectlWith(c *controlplane.ControlPlane, kubeconfig string, args ...string) (stdout, stderr string, err error) {
	return KubectlWithInput(c, kubeconfig, "", args...)
}

// KubectlWithInput is KubectlWith feeding kubectl stdin ("" for none).
func KubectlWithInput(c *controlplane.ControlPlane, kubeconfig, stdin string, args ...string) (stdout, stderr string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), KubectlTimeout)
	defer cancel()
	full := append([]string{"--kubeconfig=" + kubeconfig, "--cache-dir=" + filepath.Join(filepath.Dir(kubeconfig), "kubectl-cache")}, args...)
	cmd := exec.CommandContext(ctx, c.KubectlPath(), full...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	return out.String(), errOut.String(), err
}

// Shell runs a snippet with bash exactly as a user would paste it: kubectl on the PATH,
// KUBECONFIG (c's admin) and KONNECT_TOKEN in the environment. It fails the test if bash
// fails, and returns what the snippet printed.
func Shell(t testing.TB, c *controlplane.ControlPlane, script, token string) string {
	t.Helper()
	cmd := exec.Command("bash", "-c", script)
	cmd.Env = append(os.Environ(),
		"PATH="+filepath.Dir(c.KubectlPath())+":"+os.Getenv("PATH"),
		"KUBECONFIG="+c.KubeconfigPath(),
		"KONNECT_TOKEN="+token)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("bash: %v\n%s", err, out)
	}
	return string(out)
}
