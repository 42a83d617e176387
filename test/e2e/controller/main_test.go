// Package controller_test proves the controller's user-visible behaviour end to end: the built
// binary runs as a process against a real kube-apiserver and etcd, reaches a fake Konnect only
// through HTTPS_PROXY and SSL_CERT_FILE, and is driven with kubectl as a user would type it.
//
// It needs bin/etcd, bin/kube-apiserver and bin/kubectl (`make tools`).
package controller_test

import (
	"context"
	"os"
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
	cp     *controlplane.ControlPlane
	env    *framework.Env
	ctrl   *framework.Controller
	kube   kubernetes.Interface
	client clientset.Interface
)

const (
	orgID = "5ca26716-02f7-4430-9117-1d1a7a2695e7"
	// revalidateInterval is short so that re-validation is observable within a test.
	revalidateInterval = 3 * time.Second
)

var suite = &framework.Suite{
	Name: "controller", OrgID: orgID,
	CP: &cp, Env: &env, Kube: &kube, Client: &client, Controller: &ctrl,
	// -v=10: the log is searched for tokens at the end of the run.
	ControllerArgs: []string{"-v=10", "--revalidate-interval=" + revalidateInterval.String(), "--konnect-timeout=2s"},
}

func TestMain(m *testing.M) { os.Exit(suite.RunTestMain(m)) }

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
