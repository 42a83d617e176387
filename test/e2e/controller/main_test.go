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
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	konnectv1alpha1 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha1"
	clientset "github.com/konnect-auth-controller/konnect-auth-controller/pkg/generated/clientset/versioned"
	"github.com/konnect-auth-controller/konnect-auth-controller/test/controlplane"
	"github.com/konnect-auth-controller/konnect-auth-controller/test/e2e/framework"
)

// Shared by every test of the package; each test works in its own namespace (the user guide's
// test uses "kong", as the guide does).
var (
	cp         *controlplane.ControlPlane
	env        *framework.Env
	ctrl       *framework.Controller
	kube       kubernetes.Interface
	client     clientset.Interface
	controller = framework.ControllerOptions{}
)

const (
	orgID = "5ca26716-02f7-4430-9117-1d1a7a2695e7"
	// revalidateInterval is short so that re-validation is observable within a test.
	revalidateInterval = 3 * time.Second
)

func TestMain(m *testing.M) {
	os.Exit(controlplane.RunTestMain(m, &cp, setup, teardown))
}

func setup() error {
	var err error
	if env, err = framework.Setup("e2e-controller-", orgID); err != nil {
		return err
	}
	if kube, client, err = framework.Clients(cp.RESTConfig()); err != nil {
		return err
	}
	controller = framework.ControllerOptions{
		Kubeconfig: cp.KubeconfigPath(),
		Env:        env.Konnect.Env(),
		// -v=10: the log is searched for tokens at the end of the run.
		Args:    []string{"-v=10", "--revalidate-interval=" + revalidateInterval.String(), "--konnect-timeout=2s"},
		LogPath: filepath.Join(env.WorkDir, "controller.log"),
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
		if found := framework.ContainsAny([]byte(ctrl.Log()), env.IssuedTokens()...); len(found) > 0 {
			errs = append(errs, fmt.Sprintf("the controller's -v=10 log contains tokens: %v", found))
		}
	}
	if err := env.Teardown(len(errs) > 0); err != nil || len(errs) == 0 {
		return err
	}
	return fmt.Errorf("%s (log kept in %s)", strings.Join(errs, "; "), env.WorkDir)
}

// waitForCondition waits until the configuration's APIAuthValid condition has status and
// reason, and returns the configuration; a timeout shows the controller's last log lines.
func waitForCondition(t testing.TB, ns, name string, status metav1.ConditionStatus, reason string) *konnectv1alpha1.KonnectAPIAuthConfiguration {
	t.Helper()
	return framework.WaitForCondition(t, client, ns, name, status, reason, func() string { return ctrl.Log() })
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
	raw = framework.KubectlOutput(t, cp, "get", "konnectapiauthconfiguration", name, "-n", ns)
	lines := strings.Split(strings.TrimSpace(raw), "\n")
	if len(lines) != 2 {
		t.Fatalf("kubectl get printed %d lines, want a header and one row:\n%s", len(lines), raw)
	}
	return strings.Fields(lines[0]), strings.Fields(lines[1]), raw
}
