// Package controller_test proves the controller's user-visible behaviour end to end: the built
// binary runs as a process against a real kube-apiserver and etcd, reaches a fake Konnect only
// through HTTPS_PROXY and SSL_CERT_FILE, and is driven with kubectl as a user would type it.
//
// It needs bin/etcd, bin/kube-apiserver and bin/kubectl (`make tools`).
package controller_test

import (
	"context"
	"encoding/json"
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
	"github.com/konnect-auth-controller/konnect-auth-controller/test/fakekonnect"
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

// revalidateInterval is short so that re-validation is observable within a test.
const revalidateInterval = 3 * time.Second

var suite = &framework.Suite{
	Name: "controller", CP: &cp, Env: &env, Kube: &kube, Client: &client, Controller: &ctrl,
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

// TestUserGuide follows the user guide: each of its two manifests, pasted into a shell with
// KONNECT_TOKEN set, reaches VALID True with the organization and the normalised server URL,
// `kubectl wait` returns, and the condition reads as the guide shows.
func TestUserGuide(t *testing.T) {
	createNamespace(t, "kong")
	for _, guide := range []struct {
		script  string
		message string
	}{
		{"userguide-token.sh", "Token is valid"},
		{"userguide-secret.sh", "Token from Secret kong/konnect-api-auth-secret is valid"},
	} {
		t.Run(guide.script, func(t *testing.T) {
			script, err := os.ReadFile(filepath.Join("testdata", guide.script))
			if err != nil {
				t.Fatal(err)
			}
			token := env.NewToken(t)
			t.Logf("$ %s", strings.TrimSpace(string(script)))
			t.Logf("%s", framework.Shell(t, cp, string(script), token))
			t.Cleanup(func() {
				framework.KubectlOutput(t, cp, "delete", "konnectapiauthconfiguration", "konnect-api-auth", "-n", "kong", "--wait=true")
				framework.KubectlOutput(t, cp, "delete", "secret", "konnect-api-auth-secret", "-n", "kong", "--ignore-not-found")
			})

			framework.KubectlOutput(t, cp, "wait", "--for=condition=APIAuthValid", "konnectapiauthconfiguration/konnect-api-auth", "-n", "kong", "--timeout=60s")

			header, row, raw := getTable(t, "kong", "konnect-api-auth")
			t.Logf("$ kubectl get konnectapiauthconfiguration konnect-api-auth -n kong\n%s", raw)
			if strings.Join(header, " ") != "NAME VALID ORGID SERVERURL AGE" {
				t.Errorf("columns = %v, want NAME VALID ORGID SERVERURL AGE", header)
			}
			if len(row) != 5 || row[0] != "konnect-api-auth" || row[1] != "True" || row[2] != env.OrgID || row[3] != "https://us.api.konghq.com" {
				t.Errorf("row = %v, want konnect-api-auth True %s https://us.api.konghq.com <age>", row, env.OrgID)
			}

			out := framework.KubectlOutput(t, cp, "get", "konnectapiauthconfiguration", "konnect-api-auth", "-n", "kong", "-o",
				`jsonpath={.status.conditions[?(@.type=='APIAuthValid')]}`)
			t.Logf("condition: %s", out)
			var cond metav1.Condition
			if err := json.Unmarshal([]byte(out), &cond); err != nil {
				t.Fatalf("condition %q: %v", out, err)
			}
			if cond.Type != "APIAuthValid" || cond.Status != "True" || cond.Reason != "Valid" || cond.Message != guide.message ||
				cond.ObservedGeneration != 1 || cond.LastTransitionTime.IsZero() {
				t.Errorf("condition = %+v, want APIAuthValid True Valid %q observedGeneration 1", cond, guide.message)
			}
		})
	}
}

// TestSecretRotation: rotating the Secret to a revoked token turns the verdict False/Invalid
// and clears the organization within seconds; rotating back turns it True again.
func TestSecretRotation(t *testing.T) {
	ns := controlplane.NewNamespace(t, cp)
	good := env.NewToken(t)
	revoked := env.NewToken(t)
	env.Konnect.RevokeToken(revoked)

	framework.Apply(t, cp, framework.SecretYAML(ns, "creds", framework.CredentialLabels, "token", good))
	framework.Apply(t, cp, framework.SecretRefConfigYAML(ns, "rotating", "creds", "", "us.api.konghq.com"))
	waitForCondition(t, ns, "rotating", metav1.ConditionTrue, konnectv1alpha1.ReasonValid)

	start := time.Now()
	framework.Apply(t, cp, framework.SecretYAML(ns, "creds", framework.CredentialLabels, "token", revoked))
	cfg := waitForCondition(t, ns, "rotating", metav1.ConditionFalse, konnectv1alpha1.ReasonInvalid)
	t.Logf("revoked token seen after %v: %q", time.Since(start).Round(time.Millisecond), framework.APIAuthValid(cfg).Message)
	if cfg.Status.OrganizationID != "" {
		t.Errorf("organizationID = %q with a revoked token, want it cleared", cfg.Status.OrganizationID)
	}
	_, row, raw := getTable(t, ns, "rotating")
	if row[1] != "False" || len(row) != 4 { // NAME VALID SERVERURL AGE: ORGID is empty
		t.Errorf("kubectl get after revocation:\n%s", raw)
	}
	if !strings.Contains(framework.APIAuthValid(cfg).Message, "Invalid credentials") {
		t.Errorf("message = %q, want Konnect's words", framework.APIAuthValid(cfg).Message)
	}

	framework.Apply(t, cp, framework.SecretYAML(ns, "creds", framework.CredentialLabels, "token", good))
	cfg = waitForCondition(t, ns, "rotating", metav1.ConditionTrue, konnectv1alpha1.ReasonValid)
	if cfg.Status.OrganizationID != env.OrgID {
		t.Errorf("organizationID = %q after rotating back, want %s", cfg.Status.OrganizationID, env.OrgID)
	}
}

// TestSecretProblems: each way a Secret can be wrong has its own reason and a message that
// says what to do.
func TestSecretProblems(t *testing.T) {
	ns := controlplane.NewNamespace(t, cp)
	token := env.NewToken(t)

	t.Run("trailing newline is trimmed", func(t *testing.T) {
		// As `echo $TOKEN > file; kubectl create secret generic --from-file` would make it.
		file := filepath.Join(t.TempDir(), "token")
		if err := os.WriteFile(file, []byte(token+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		framework.KubectlOutput(t, cp, "create", "secret", "generic", "newline", "-n", ns, "--from-file=token="+file)
		framework.KubectlOutput(t, cp, "label", "secret", "newline", "-n", ns, "konghq.com/credential=konnect")
		framework.Apply(t, cp, framework.SecretRefConfigYAML(ns, "newline", "newline", "", "us.api.konghq.com"))
		waitForCondition(t, ns, "newline", metav1.ConditionTrue, konnectv1alpha1.ReasonValid)
	})

	t.Run("deleted Secret", func(t *testing.T) {
		framework.Apply(t, cp, framework.SecretYAML(ns, "doomed", framework.CredentialLabels, "token", token))
		framework.Apply(t, cp, framework.SecretRefConfigYAML(ns, "doomed", "doomed", "", "us.api.konghq.com"))
		waitForCondition(t, ns, "doomed", metav1.ConditionTrue, konnectv1alpha1.ReasonValid)
		// In use, the Secret only turns Terminating (its in-use finalizer; test/e2e/grants has
		// the whole story) and the verdict stands; taking the finalizer off by hand, as an
		// administrator forcing the deletion would, lets it go.
		framework.KubectlOutput(t, cp, "delete", "secret", "doomed", "-n", ns, "--wait=false")
		time.Sleep(time.Second)
		if ts := framework.KubectlOutput(t, cp, "get", "secret", "doomed", "-n", ns, "-o", "jsonpath={.metadata.deletionTimestamp}"); ts == "" {
			t.Fatalf("the Secret in use is not Terminating")
		}
		waitForCondition(t, ns, "doomed", metav1.ConditionTrue, konnectv1alpha1.ReasonValid)
		framework.KubectlOutput(t, cp, "patch", "secret", "doomed", "-n", ns, "--type=json", "-p", `[{"op":"remove","path":"/metadata/finalizers"}]`)
		cfg := waitForCondition(t, ns, "doomed", metav1.ConditionFalse, konnectv1alpha1.ReasonSecretNotFound)
		if msg := framework.APIAuthValid(cfg).Message; !strings.Contains(msg, "doomed") || !strings.Contains(msg, "konghq.com/credential=konnect") {
			t.Errorf("message = %q, want it to name the Secret and the label", msg)
		}
		if cfg.Status.OrganizationID != "" {
			t.Errorf("organizationID = %q, want it cleared", cfg.Status.OrganizationID)
		}
	})

	t.Run("unlabelled Secret", func(t *testing.T) {
		framework.Apply(t, cp, framework.SecretYAML(ns, "plain", nil, "token", token))
		framework.Apply(t, cp, framework.SecretRefConfigYAML(ns, "plain", "plain", "", "us.api.konghq.com"))
		cfg := waitForCondition(t, ns, "plain", metav1.ConditionFalse, konnectv1alpha1.ReasonSecretNotFound)
		if msg := framework.APIAuthValid(cfg).Message; !strings.Contains(msg, "not labelled konghq.com/credential=konnect") {
			t.Errorf("message = %q, want it to name the missing label", msg)
		}
		// Adding the label is all it takes.
		framework.KubectlOutput(t, cp, "label", "secret", "plain", "-n", ns, "konghq.com/credential=konnect")
		waitForCondition(t, ns, "plain", metav1.ConditionTrue, konnectv1alpha1.ReasonValid)
	})

	t.Run("Secret without token key", func(t *testing.T) {
		framework.Apply(t, cp, framework.SecretYAML(ns, "nokey", framework.CredentialLabels, "password", token))
		framework.Apply(t, cp, framework.SecretRefConfigYAML(ns, "nokey", "nokey", "", "us.api.konghq.com"))
		cfg := waitForCondition(t, ns, "nokey", metav1.ConditionFalse, konnectv1alpha1.ReasonInvalidSecret)
		if msg := framework.APIAuthValid(cfg).Message; !strings.Contains(msg, `no key "token"`) {
			t.Errorf("message = %q, want it to name the key", msg)
		}
	})

	t.Run("cross-namespace reference", func(t *testing.T) {
		other := controlplane.NewNamespace(t, cp)
		framework.Apply(t, cp, framework.SecretYAML(other, "elsewhere", framework.CredentialLabels, "token", token))
		framework.Apply(t, cp, framework.SecretRefConfigYAML(ns, "cross", "elsewhere", other, "us.api.konghq.com"))
		cfg := waitForCondition(t, ns, "cross", metav1.ConditionFalse, konnectv1alpha1.ReasonRefNotPermitted)
		if msg := framework.APIAuthValid(cfg).Message; !strings.Contains(msg, "no KongReferenceGrant in namespace") {
			t.Errorf("message = %q", msg)
		}
	})

	t.Run("Konnect refuses with 403", func(t *testing.T) {
		forbidden := env.NewToken(t)
		env.Konnect.SetTokenBehavior(forbidden, fakekonnect.Behavior{Mode: fakekonnect.ModeForbidden})
		framework.Apply(t, cp, framework.TokenConfigYAML(ns, "forbidden", forbidden, "https://eu.api.konghq.com"))
		waitForCondition(t, ns, "forbidden", metav1.ConditionFalse, konnectv1alpha1.ReasonForbidden)
	})

	t.Run("Konnect answers 200 without an organization", func(t *testing.T) {
		empty := env.NewToken(t)
		env.Konnect.SetTokenBehavior(empty, fakekonnect.Behavior{Mode: fakekonnect.ModeEmptyOK})
		framework.Apply(t, cp, framework.TokenConfigYAML(ns, "empty-org", empty, "https://eu.api.konghq.com"))
		waitForCondition(t, ns, "empty-org", metav1.ConditionFalse, konnectv1alpha1.ReasonInvalidResponse)
	})
}

// TestOutageKeepsTrue: while Konnect answers 503, re-validations keep failing but a True
// verdict stays True; a new configuration is Unknown/KonnectUnavailable; after the outage the
// new one becomes True.
func TestOutageKeepsTrue(t *testing.T) {
	ns := controlplane.NewNamespace(t, cp)
	token := env.NewToken(t)
	framework.Apply(t, cp, framework.TokenConfigYAML(ns, "steady", token, "https://eu.api.konghq.com"))
	before := waitForCondition(t, ns, "steady", metav1.ConditionTrue, konnectv1alpha1.ReasonValid)

	env.Konnect.SetBehavior(fakekonnect.Behavior{Mode: fakekonnect.ModeServerError, Status: 503})
	defer env.Konnect.SetBehavior(fakekonnect.BehaviorNormal)
	callsAtStart := env.Konnect.CallsFor(token)

	late := env.NewToken(t)
	framework.Apply(t, cp, framework.TokenConfigYAML(ns, "during-outage", late, "https://eu.api.konghq.com"))
	cfg := waitForCondition(t, ns, "during-outage", metav1.ConditionUnknown, konnectv1alpha1.ReasonKonnectUnavailable)
	if msg := framework.APIAuthValid(cfg).Message; !strings.Contains(msg, "503") {
		t.Errorf("message = %q, want the status code", msg)
	}

	// Several re-validation intervals pass in the outage.
	deadline := time.Now().Add(4 * revalidateInterval)
	for time.Now().Before(deadline) {
		cfg, err := client.KonnectV1alpha1().KonnectAPIAuthConfigurations(ns).Get(context.Background(), "steady", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if c := framework.APIAuthValid(cfg); c.Status != metav1.ConditionTrue || cfg.Status.OrganizationID != env.OrgID {
			t.Fatalf("the outage changed a True verdict: %+v", cfg.Status)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if env.Konnect.CallsFor(token) == callsAtStart {
		t.Fatalf("no re-validation reached Konnect during the outage; the test proves nothing")
	}
	after := waitForCondition(t, ns, "steady", metav1.ConditionTrue, konnectv1alpha1.ReasonValid)
	if !framework.APIAuthValid(after).LastTransitionTime.Equal(&framework.APIAuthValid(before).LastTransitionTime) {
		t.Errorf("lastTransitionTime moved during the outage")
	}

	env.Konnect.SetBehavior(fakekonnect.BehaviorNormal)
	waitForCondition(t, ns, "during-outage", metav1.ConditionTrue, konnectv1alpha1.ReasonValid)
}

// TestCreatedWhileControllerDown: a configuration created while no controller runs is
// validated once one starts.
func TestCreatedWhileControllerDown(t *testing.T) {
	ns := controlplane.NewNamespace(t, cp)
	if err := ctrl.Stop(30 * time.Second); err != nil {
		t.Fatalf("stopping the controller: %v", err)
	}
	token := env.NewToken(t)
	framework.Apply(t, cp, framework.TokenConfigYAML(ns, "while-down", token, "https://eu.api.konghq.com"))
	time.Sleep(time.Second)
	cfg, err := client.KonnectV1alpha1().KonnectAPIAuthConfigurations(ns).Get(context.Background(), "while-down", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Status.Conditions) != 0 {
		t.Fatalf("status written with no controller running: %+v", cfg.Status)
	}

	if err := suite.StartController(); err != nil {
		t.Fatal(err)
	}
	waitForCondition(t, ns, "while-down", metav1.ConditionTrue, konnectv1alpha1.ReasonValid)
}

// TestMissingCRD: without the CRD the controller exits non-zero and says what to install.
func TestMissingCRD(t *testing.T) {
	bare := controlplane.StartEmptyForTest(t, controlplane.Options{})
	c, err := framework.StartController(framework.ControllerOptions{
		Kubeconfig: bare.KubeconfigPath(), Env: env.Konnect.Env(), LogPath: filepath.Join(t.TempDir(), "log"),
	})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.Done():
	case <-time.After(time.Minute):
		c.Kill()
		t.Fatal("the controller kept running without its CRD")
	}
	if code := c.ExitCode(); code == 0 {
		t.Errorf("exit code 0 without the CRD")
	}
	if !strings.Contains(c.Log(), "install the KonnectAPIAuthConfiguration CRD") {
		t.Errorf("log does not say to install the CRD:\n%s", c.Log())
	}
}
