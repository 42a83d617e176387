package extensions_test

import (
	"context"
	"fmt"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	konnectv1alpha1 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha1"
	"github.com/konnect-auth-controller/konnect-auth-controller/test/controlplane"
	"github.com/konnect-auth-controller/konnect-auth-controller/test/e2e/framework"
)

// TestReliabilityCredentialsNamespaceDeletedFirst (issue 18; found by the soak): the token
// Secret lives in a namespace of its own, read across namespaces through a KongReferenceGrant
// there, and that namespace is deleted while a control plane made with the token lives. The
// grant goes with the namespace (new use stops: the auth configuration says RefNotPermitted), but
// the Secret is held while the control plane may still need the token to be deleted in Konnect;
// when the control plane is deleted, its DELETE reaches Konnect and the namespace then finishes.
func TestReliabilityCredentialsNamespaceDeletedFirst(t *testing.T) {
	ctx := context.Background()
	ns := controlplane.NewNamespace(t, cp)
	vault := controlplane.NewNamespace(t, cp)
	token := env.NewTokenFor(t, framework.NewUUID())
	framework.Apply(t, cp, framework.SecretYAML(vault, "konnect-token", framework.CredentialLabels, "token", token))
	framework.Apply(t, cp, framework.GrantYAML(vault, "allow-configs", framework.SecretGrant(ns, "konnect-token")))
	framework.Apply(t, cp, framework.SecretRefConfigYAML(ns, authName, "konnect-token", vault, "us.api.konghq.com"))
	framework.Apply(t, cp, controlPlaneYAML(ns, cpName, authName))
	id := waitProgrammed(t, ns, cpName).Status.ID
	framework.WaitForFinalizers(t, cp, vault, "konnect-token", `["`+konnectv1alpha1.SecretInUseFinalizer+`"]`)

	out := framework.KubectlOutput(t, cp, "delete", "namespace", vault, "--wait=false")
	t.Logf("$ kubectl delete namespace %s --wait=false\n%s", vault, out)
	waitFor(t, "the auth configuration RefNotPermitted once the grant went with its namespace", func() (bool, string) {
		out := framework.KubectlOutput(t, cp, "get", "konnectapiauthconfiguration", authName, "-n", ns,
			"-o", `jsonpath={.status.conditions[?(@.type=="APIAuthValid")].reason}`)
		return out == konnectv1alpha1.ReasonRefNotPermitted, out
	})
	framework.Holds(t, namespaceRecheck, func() string {
		if _, err := kube.CoreV1().Secrets(vault).Get(ctx, "konnect-token", metav1.GetOptions{}); apierrors.IsNotFound(err) {
			return "the token Secret went while a control plane made with it may still have to be deleted in Konnect"
		}
		return ""
	})

	out = framework.KubectlOutput(t, cp, "delete", "konnectgatewaycontrolplane", cpName, "-n", ns, "--wait=false")
	t.Logf("$ kubectl delete konnectgatewaycontrolplane %s -n %s --wait=false\n%s", cpName, ns, out)
	waitFor(t, "the control plane deleted in Konnect and its object gone", func() (bool, string) {
		_, err := client.KonnectV1alpha2().KonnectGatewayControlPlanes(ns).Get(ctx, cpName, metav1.GetOptions{})
		for _, c := range env.Konnect.ControlPlanes(token, region) {
			if c.ID == id {
				return false, fmt.Sprintf("control plane %s still in Konnect; object: %v", id, err)
			}
		}
		return apierrors.IsNotFound(err), fmt.Sprint(err)
	})
	framework.WaitFor(t, 2*syncPeriod+2*namespaceRecheck, "namespace "+vault+" gone", func() (bool, string) {
		n, err := kube.CoreV1().Namespaces().Get(ctx, vault, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, ""
		}
		return false, fmt.Sprintf("%v %s", err, framework.JSON(n.Status.Conditions))
	})
}
