package production_test

import (
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
	framework.MustKubectl(t, c, framework.SecretYAML(secretNS, "shared", map[string]string{"konghq.com/credential": "konnect"}, "token", token), "apply", "-f", "-")
	framework.MustKubectl(t, c, framework.SecretRefConfigYAML(cfgNS, "cross", "shared", secretNS, "us.api.konghq.com"), "apply", "-f", "-")
	defer framework.MustKubectl(t, c, "", "delete", "konnectapiauthconfiguration", "cross", "-n", cfgNS, "--ignore-not-found", "--wait=true")

	cond := framework.APIAuthValid(framework.WaitForCondition(t, client, cfgNS, "cross", metav1.ConditionFalse, konnectv1alpha1.ReasonRefNotPermitted))
	t.Logf("without a grant: %s", cond.Message)
	framework.WaitForFinalizers(t, c, secretNS, "shared", "")
	if n := env.Konnect.CallsFor(token); n != 0 {
		t.Fatalf("the token reached Konnect %d times before any grant", n)
	}

	framework.MustKubectl(t, c, framework.GrantYAML(secretNS, "allow-"+cfgNS, framework.SecretGrant(cfgNS, "shared")), "apply", "-f", "-")
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
