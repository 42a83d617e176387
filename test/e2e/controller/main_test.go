// Package controller_test proves the controller's user-visible behaviour end to end: the built
// binary runs as a process against a real kube-apiserver and etcd, reaches a fake Konnect only
// through HTTPS_PROXY and SSL_CERT_FILE, and is driven with kubectl as a user would type it.
//
// It needs bin/etcd, bin/kube-apiserver and bin/kubectl (`make tools`).
package controller_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	konnectv1alpha1 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha1"
	clientset "github.com/konnect-auth-controller/konnect-auth-controller/pkg/generated/clientset/versioned"
	"github.com/konnect-auth-controller/konnect-auth-controller/test/controlplane"
	"github.com/konnect-auth-controller/konnect-auth-controller/test/e2e/framework"
	"github.com/konnect-auth-controller/konnect-auth-controller/test/fakekonnect"
)

// Shared by every test of the package; each test works in its own namespace (the user guide's
// test uses "kong", as the guide does).
var (
	cp         *controlplane.ControlPlane
	konnect    *fakekonnect.Server
	ctrl       *framework.Controller
	kube       kubernetes.Interface
	client     clientset.Interface
	workDir    string
	issued     []string // every token the tests made, to search the controller's log for
	controller = framework.ControllerOptions{}
)

const (
	orgID = "5ca26716-02f7-4430-9117-1d1a7a2695e7"
	// revalidateInterval is short so that re-validation is observable within a test.
	revalidateInterval = 3 * time.Second
	// verdictTimeout bounds how long a verdict may take to show ("within seconds").
	verdictTimeout = 30 * time.Second
)

func TestMain(m *testing.M) {
	os.Exit(controlplane.RunTestMain(m, &cp, setup, teardown))
}

func setup() error {
	var err error
	workDir, err = os.MkdirTemp("", "e2e-controller-")
	if err != nil {
		return err
	}
	konnect, err = fakekonnect.Start(fakekonnect.Options{Dir: workDir})
	if err != nil {
		return err
	}
	if kube, err = kubernetes.NewForConfig(cp.RESTConfig()); err != nil {
		return err
	}
	if client, err = clientset.NewForConfig(cp.RESTConfig()); err != nil {
		return err
	}
	controller = framework.ControllerOptions{
		Kubeconfig: cp.KubeconfigPath(),
		Env:        konnect.Env(),
		// -v=10: the log is searched for tokens at the end of the run.
		Args:    []string{"-v=10", "--revalidate-interval=" + revalidateInterval.String(), "--konnect-timeout=2s"},
		LogPath: filepath.Join(workDir, "controller.log"),
	}
	ctrl, err = framework.StartController(controller)
	return err
}

func teardown() error {
	var errs []string
	if ctrl != nil {
		if err := ctrl.Stop(30 * time.Second); err != nil {
			errs = append(errs, fmt.Sprintf("controller: %v", err))
		}
		// The whole log of a run at -v=10 must not hold a single token.
		if found := framework.ContainsAny([]byte(ctrl.Log()), issued...); len(found) > 0 {
			errs = append(errs, fmt.Sprintf("the controller's -v=10 log contains tokens: %v", found))
		}
	}
	if konnect != nil {
		konnect.Close()
	}
	framework.CleanupBinary()
	if len(errs) == 0 {
		_ = os.RemoveAll(workDir)
		return nil
	}
	return fmt.Errorf("%s (log kept in %s)", strings.Join(errs, "; "), workDir)
}

// newToken returns a fresh personal access token the fake Konnect accepts for orgID.
func newToken(t testing.TB) string {
	t.Helper()
	token := framework.RandomToken()
	konnect.AddToken(token, orgID)
	issued = append(issued, token)
	return token
}

// kubectl runs kubectl against the control plane and fails the test if it fails.
func kubectl(t testing.TB, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, stderr, err := cp.Kubectl(ctx, args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr)
	}
	return out
}

// apply pipes YAML into kubectl apply -f -.
func apply(t testing.TB, yaml string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if out, stderr, err := cp.KubectlInput(ctx, strings.NewReader(yaml), "apply", "-f", "-"); err != nil {
		t.Fatalf("kubectl apply: %v\n%s%s", err, out, stderr)
	}
}

// shell runs a snippet with bash exactly as a user would paste it: kubectl on the PATH,
// KUBECONFIG and KONNECT_TOKEN in the environment.
func shell(t testing.TB, script, token string) string {
	t.Helper()
	cmd := exec.Command("bash", "-c", script)
	cmd.Env = append(os.Environ(),
		"PATH="+filepath.Dir(cp.KubectlPath())+":"+os.Getenv("PATH"),
		"KUBECONFIG="+cp.KubeconfigPath(),
		"KONNECT_TOKEN="+token)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("bash: %v\n%s", err, out)
	}
	return string(out)
}

// waitForCondition waits until the configuration's APIAuthValid condition has status and
// reason, and returns the configuration.
func waitForCondition(t testing.TB, ns, name string, status metav1.ConditionStatus, reason string) *konnectv1alpha1.KonnectAPIAuthConfiguration {
	t.Helper()
	var last *konnectv1alpha1.KonnectAPIAuthConfiguration
	err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, verdictTimeout, true, func(ctx context.Context) (bool, error) {
		cfg, err := client.KonnectV1alpha1().KonnectAPIAuthConfigurations(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		last = cfg
		cond := condition(cfg)
		return cond != nil && cond.Status == status && cond.Reason == reason, nil
	})
	if err != nil {
		t.Fatalf("%s/%s: APIAuthValid never became %s/%s; last status: %+v\ncontroller log tail:\n%s", ns, name, status, reason, statusOf(last), tail(ctrl.Log(), 30))
	}
	return last
}

func statusOf(cfg *konnectv1alpha1.KonnectAPIAuthConfiguration) any {
	if cfg == nil {
		return nil
	}
	return cfg.Status
}

func condition(cfg *konnectv1alpha1.KonnectAPIAuthConfiguration) *metav1.Condition {
	for i := range cfg.Status.Conditions {
		if cfg.Status.Conditions[i].Type == konnectv1alpha1.ConditionAPIAuthValid {
			return &cfg.Status.Conditions[i]
		}
	}
	return nil
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// createNamespace creates ns if it does not exist.
func createNamespace(t testing.TB, ns string) {
	t.Helper()
	_, err := kube.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	if err != nil && !strings.Contains(err.Error(), "already exists") {
		t.Fatal(err)
	}
}

// getTable runs kubectl get for one configuration and returns the header and row fields.
func getTable(t testing.TB, ns, name string) (header, row []string, raw string) {
	t.Helper()
	raw = kubectl(t, "get", "konnectapiauthconfiguration", name, "-n", ns)
	lines := strings.Split(strings.TrimSpace(raw), "\n")
	if len(lines) != 2 {
		t.Fatalf("kubectl get printed %d lines, want a header and one row:\n%s", len(lines), raw)
	}
	return strings.Fields(lines[0]), strings.Fields(lines[1]), raw
}
