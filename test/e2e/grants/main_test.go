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
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	konnectv1alpha1 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha1"
	clientset "github.com/konnect-auth-controller/konnect-auth-controller/pkg/generated/clientset/versioned"
	"github.com/konnect-auth-controller/konnect-auth-controller/test/controlplane"
	"github.com/konnect-auth-controller/konnect-auth-controller/test/e2e/framework"
	"github.com/konnect-auth-controller/konnect-auth-controller/test/fakekonnect"
)

var (
	cp      *controlplane.ControlPlane
	konnect *fakekonnect.Server
	ctrl    *framework.Controller
	client  clientset.Interface
	workDir string
	issued  []string // every token the tests made, to search the controller's log for
	ctrlOpt framework.ControllerOptions
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

func TestMain(m *testing.M) {
	os.Exit(controlplane.RunTestMainWithOptions(m, &cp, controlplane.Options{ControllerManager: true}, setup, teardown))
}

func setup() error {
	var err error
	if workDir, err = os.MkdirTemp("", "e2e-grants-"); err != nil {
		return err
	}
	if konnect, err = fakekonnect.Start(fakekonnect.Options{Dir: workDir}); err != nil {
		return err
	}
	if client, err = clientset.NewForConfig(cp.RESTConfig()); err != nil {
		return err
	}
	ctrlOpt = framework.ControllerOptions{
		Kubeconfig: cp.KubeconfigPath(),
		Env:        konnect.Env(),
		// -v=10 (capped at 5): the log is searched for tokens at the end.
		Args:    []string{"-v=10", "--konnect-timeout=2s"},
		LogPath: filepath.Join(workDir, "controller.log"),
	}
	ctrl, err = framework.StartController(ctrlOpt)
	return err
}

func teardown() error {
	var errs []string
	if ctrl != nil {
		if err := ctrl.Stop(30 * time.Second); err != nil {
			errs = append(errs, fmt.Sprintf("controller: %v", err))
		}
		if found := framework.ContainsAny([]byte(ctrl.Log()), issued...); len(found) > 0 {
			errs = append(errs, fmt.Sprintf("the controller's log contains tokens: %v", found))
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

// newToken returns a fresh token the fake Konnect accepts.
func newToken(t testing.TB) string {
	t.Helper()
	token := framework.RandomToken()
	konnect.AddToken(token, orgID)
	issued = append(issued, token)
	return token
}

// grant is the spec of a KongReferenceGrant, for grantYAML.
type grant struct {
	fromGroup, fromKind, fromNamespace string
	toGroup, toKind, toName            string
}

// permitting is the grant that lets configurations in fromNS read the Secret named secret.
func permitting(fromNS, secret string) grant {
	return grant{"konnect.konghq.com", "KonnectAPIAuthConfiguration", fromNS, "core", "Secret", secret}
}

func grantYAML(ns, name string, g grant) string {
	nameLine := ""
	if g.toName != "" {
		nameLine = "\n      name: " + g.toName
	}
	return fmt.Sprintf(`apiVersion: configuration.konghq.com/v1alpha1
kind: KongReferenceGrant
metadata:
  name: %s
  namespace: %s
spec:
  from:
    - group: %s
      kind: %s
      namespace: %s
  to:
    - group: %s
      kind: %s%s
`, name, ns, g.fromGroup, g.fromKind, g.fromNamespace, g.toGroup, g.toKind, nameLine)
}

// conditions returns the configuration's conditions by type.
func conditions(t testing.TB, ns, name string) map[string]metav1.Condition {
	t.Helper()
	cfg, err := client.KonnectV1alpha1().KonnectAPIAuthConfigurations(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]metav1.Condition{}
	for _, c := range cfg.Status.Conditions {
		out[c.Type] = c
	}
	return out
}

// waitFor polls cond until it holds, failing after timeout with what it last said.
func waitFor(t testing.TB, what string, cond func() (bool, string)) {
	t.Helper()
	var last string
	err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, timeout, true, func(context.Context) (bool, error) {
		var ok bool
		ok, last = cond()
		return ok, nil
	})
	if err != nil {
		t.Fatalf("timed out waiting for %s; last: %s\ncontroller log tail:\n%s", what, last, framework.Tail(ctrl.Log(), 30))
	}
}

// waitForVerdict waits until APIAuthValid has status and reason, and returns the conditions.
func waitForVerdict(t testing.TB, ns, name string, status metav1.ConditionStatus, reason string) map[string]metav1.Condition {
	t.Helper()
	var conds map[string]metav1.Condition
	waitFor(t, fmt.Sprintf("%s/%s APIAuthValid %s/%s", ns, name, status, reason), func() (bool, string) {
		conds = conditions(t, ns, name)
		c, ok := conds[konnectv1alpha1.ConditionAPIAuthValid]
		return ok && c.Status == status && c.Reason == reason, fmt.Sprintf("%+v", conds)
	})
	return conds
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

// mustJSON formats v for messages.
func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// startController starts a controller like setup's, appending to the same log.
func startController() (*framework.Controller, error) {
	return framework.StartController(ctrlOpt)
}
