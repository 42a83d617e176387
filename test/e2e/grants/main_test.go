// Package grants_test proves, end to end, the two behaviours users of Kong's operator 2.3 rely
// on: a configuration may take its token from a Secret in another namespace when a
// KongReferenceGrant there permits it (and only then), and a token Secret in use carries the
// finalizer gateway.konghq.com/secret-in-use-by-konnect-resource until its last user lets go.
//
// The built controller runs against a real kube-apiserver and etcd, with kube-controller-manager
// (namespace and garbage-collector controllers) so that namespace deletion is real, reaches the
// fake Konnect only through HTTPS_PROXY, and is driven with kubectl as a user types it.
//
// It needs bin/etcd, bin/kube-apiserver, bin/kubectl and bin/kube-controller-manager
// (`make tools`).
package grants_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	konnectv1alpha1 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha1"
	clientset "github.com/konnect-auth-controller/konnect-auth-controller/pkg/generated/clientset/versioned"
	"github.com/konnect-auth-controller/konnect-auth-controller/test/controlplane"
	"github.com/konnect-auth-controller/konnect-auth-controller/test/e2e/framework"
)

var (
	cp     *controlplane.ControlPlane
	env    *framework.Env
	ctrl   *framework.Controller
	client clientset.Interface
)

const (
	orgID = "5ca26716-02f7-4430-9117-1d1a7a2695e7"
	// timeout bounds how long a verdict or a finalizer change may take to show ("within seconds").
	timeout = 30 * time.Second
	// settle is how long a test gives the controller to (wrongly) act on something that must
	// change nothing; each such wait is followed by a positive control that does change
	// something, so that a controller which never acts cannot pass.
	settle = 3 * time.Second

	finalizer = konnectv1alpha1.SecretInUseFinalizer
)

var suite = &framework.Suite{
	Name: "grants", OrgID: orgID, ControlPlane: controlplane.Options{ControllerManager: true},
	CP: &cp, Env: &env, Client: &client, Controller: &ctrl,
	// -v=10 (capped at 5): the log is searched for tokens at the end.
	ControllerArgs: []string{"-v=10", "--konnect-timeout=2s"},
}

func TestMain(m *testing.M) { os.Exit(suite.RunTestMain(m)) }

// conditions returns the configuration's conditions by type.
func conditions(t testing.TB, ns, name string) map[string]metav1.Condition {
	t.Helper()
	cfg, err := client.KonnectV1alpha1().KonnectAPIAuthConfigurations(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return byType(cfg)
}

// byType returns the configuration's conditions by type.
func byType(cfg *konnectv1alpha1.KonnectAPIAuthConfiguration) map[string]metav1.Condition {
	out := map[string]metav1.Condition{}
	for _, c := range cfg.Status.Conditions {
		out[c.Type] = c
	}
	return out
}

// waitFor polls cond until it holds, failing after timeout with what it last said.
func waitFor(t testing.TB, what string, cond func() (bool, string)) {
	t.Helper()
	ctrl.WaitFor(t, timeout, what, cond)
}

// waitForVerdict waits until APIAuthValid has status and reason, and returns the conditions.
func waitForVerdict(t testing.TB, ns, name string, status metav1.ConditionStatus, reason string) map[string]metav1.Condition {
	t.Helper()
	return byType(framework.WaitForCondition(t, client, ns, name, status, reason, ctrl.Log))
}

// finalizers is what `kubectl get secret -o jsonpath='{.metadata.finalizers}'` prints.
func finalizers(t testing.TB, ns, name string) string {
	t.Helper()
	return framework.KubectlOutput(t, cp, "get", "secret", name, "-n", ns, "-o", "jsonpath={.metadata.finalizers}")
}

// inUse is what that jsonpath prints for a Secret carrying only the in-use finalizer.
var inUse = `["` + finalizer + `"]`

// waitGone waits until kubectl reports the object NotFound.
func waitGone(t testing.TB, args ...string) {
	t.Helper()
	waitFor(t, strings.Join(args, " ")+" NotFound", func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		out, stderr, err := cp.Kubectl(ctx, append([]string{"get"}, args...)...)
		return err != nil && strings.Contains(stderr, "NotFound"), out + stderr
	})
}

// conditionsYAML is the status.conditions as `kubectl get -o yaml` shows them, for the log.
func conditionsYAML(t testing.TB, ns, name string) string {
	t.Helper()
	out := framework.KubectlOutput(t, cp, "get", "konnectapiauthconfiguration", name, "-n", ns, "-o", "yaml")
	if i := strings.Index(out, "  conditions:"); i >= 0 {
		return out[i:]
	}
	return out
}
