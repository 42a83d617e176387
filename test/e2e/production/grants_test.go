package production_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	konnectv1alpha1 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha1"
	"github.com/konnect-auth-controller/konnect-auth-controller/test/controlplane"
	"github.com/konnect-auth-controller/konnect-auth-controller/test/e2e/framework"
)

// crossNamespaceFlow: a configuration in cfgNS names a labelled Secret in secretNS. Without a
// grant it is RefNotPermitted and its token never reaches Konnect. Then a KongReferenceGrant is
// created in secretNS: with grants watched (the cluster-wide controller) the configuration
// becomes Valid with ResolvedRefs True and the Secret gets the in-use finalizer; revoking the
// grant takes both back. Confined to one namespace, the controller keeps refusing.
func crossNamespaceFlow(t *testing.T, c *controlplane.ControlPlane, cfgNS, secretNS string, grantsWatched bool) {
	t.Helper()
	_, client := clients(t, c)
	token := env.NewToken(t)
	framework.MustKubectl(t, c, fmt.Sprintf(`apiVersion: v1
kind: Secret
metadata:
  name: shared
  namespace: %s
  labels:
    konghq.com/credential: konnect
stringData:
  token: %s
`, secretNS, token), "apply", "-f", "-")
	framework.MustKubectl(t, c, fmt.Sprintf(`apiVersion: konnect.konghq.com/v1alpha1
kind: KonnectAPIAuthConfiguration
metadata:
  name: cross
  namespace: %s
spec:
  type: secretRef
  secretRef:
    name: shared
    namespace: %s
  serverURL: us.api.konghq.com
`, cfgNS, secretNS), "apply", "-f", "-")
	defer framework.MustKubectl(t, c, "", "delete", "konnectapiauthconfiguration", "cross", "-n", cfgNS, "--ignore-not-found", "--wait=true")

	cond := framework.APIAuthValid(framework.WaitForCondition(t, client, cfgNS, "cross", metav1.ConditionFalse, konnectv1alpha1.ReasonRefNotPermitted))
	t.Logf("without a grant: %s", cond.Message)
	framework.WaitForFinalizers(t, c, secretNS, "shared", "")
	if n := env.Konnect.CallsFor(token); n != 0 {
		t.Fatalf("the token reached Konnect %d times before any grant", n)
	}

	framework.MustKubectl(t, c, grantYAML(secretNS, "allow-"+cfgNS, cfgNS, "shared"), "apply", "-f", "-")
	if !grantsWatched {
		if !strings.Contains(cond.Message, "--namespace") {
			t.Errorf("message %q does not say the controller is confined to its namespace", cond.Message)
		}
		// Given time to (wrongly) act on the grant, it still refuses and never reads the token.
		time.Sleep(3 * time.Second)
		framework.WaitForCondition(t, client, cfgNS, "cross", metav1.ConditionFalse, konnectv1alpha1.ReasonRefNotPermitted)
		if n := env.Konnect.CallsFor(token); n != 0 {
			t.Errorf("the token of %s/shared reached Konnect %d times with no grant the controller may use", secretNS, n)
		}
		return
	}
	if !strings.Contains(cond.Message, "no KongReferenceGrant in namespace") {
		t.Errorf("message %q does not say which grant is missing", cond.Message)
	}
	cond = framework.APIAuthValid(framework.WaitForCondition(t, client, cfgNS, "cross", metav1.ConditionTrue, konnectv1alpha1.ReasonValid))
	if want := "Token from Secret " + secretNS + "/shared is valid"; cond.Message != want {
		t.Errorf("message %q, want %q", cond.Message, want)
	}
	out, _ := framework.MustKubectl(t, c, "", "get", "konnectapiauthconfiguration", "cross", "-n", cfgNS, "-o", `jsonpath={.status.conditions[?(@.type=="ResolvedRefs")].status}`)
	if out != "True" {
		t.Errorf("ResolvedRefs = %q with the grant, want True", out)
	}
	framework.WaitForFinalizers(t, c, secretNS, "shared", `["gateway.konghq.com/secret-in-use-by-konnect-resource"]`)

	framework.MustKubectl(t, c, "", "delete", "kongreferencegrant", "allow-"+cfgNS, "-n", secretNS)
	framework.WaitForCondition(t, client, cfgNS, "cross", metav1.ConditionFalse, konnectv1alpha1.ReasonRefNotPermitted)
	framework.WaitForFinalizers(t, c, secretNS, "shared", "")
}

// grantYAML is a KongReferenceGrant in ns letting configurations in fromNS read the Secret
// secret ("" for every Secret) in ns.
func grantYAML(ns, name, fromNS, secret string) string {
	nameLine := ""
	if secret != "" {
		nameLine = "\n      name: " + secret
	}
	return fmt.Sprintf(`apiVersion: configuration.konghq.com/v1alpha1
kind: KongReferenceGrant
metadata:
  name: %s
  namespace: %s
spec:
  from:
    - group: konnect.konghq.com
      kind: KonnectAPIAuthConfiguration
      namespace: %s
  to:
    - group: core
      kind: Secret%s
`, name, ns, fromNS, nameLine)
}

// checkForbiddenInput is checkForbidden with a manifest on kubectl's standard input.
func checkForbiddenInput(t *testing.T, c *controlplane.ControlPlane, kubeconfig, stdin string, args ...string) {
	t.Helper()
	ctx, cancel := contextWithTimeout()
	defer cancel()
	full := append([]string{"--kubeconfig=" + kubeconfig, "--cache-dir=" + filepath.Join(filepath.Dir(kubeconfig), "kubectl-cache")}, args...)
	cmd := exec.CommandContext(ctx, c.KubectlPath(), full...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if err == nil || !strings.Contains(errOut.String(), "forbidden") {
		t.Errorf("as the ServiceAccount, kubectl %s was not refused: %v\n%s%s", strings.Join(args, " "), err, out.String(), errOut.String())
		return
	}
	t.Logf("as the ServiceAccount: kubectl %s: %s", strings.Join(args, " "), strings.TrimSpace(errOut.String()))
}
