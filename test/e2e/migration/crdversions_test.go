package migration_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/konnect-auth-controller/konnect-auth-controller/test/controlplane"
	"github.com/konnect-auth-controller/konnect-auth-controller/test/e2e/framework"
)

// kongObjects are a control plane and an extension as a user applies them with Kong's operator
// (CONTROLPLANES.md, "What the user does"), at v1alpha2.
const kongObjects = `kind: KonnectGatewayControlPlane
apiVersion: konnect.konghq.com/v1alpha2
metadata: {name: gateway-control-plane, namespace: NS}
spec:
  createControlPlaneRequest: {name: gateway-control-plane, labels: {team: platform}}
  konnect: {authRef: {name: konnect-api-auth}}
---
kind: KonnectExtension
apiVersion: konnect.konghq.com/v1alpha2
metadata: {name: my-konnect-config, namespace: NS}
spec:
  clientAuth: {certificateSecret: {provisioning: Automatic}}
  konnect:
    controlPlane:
      ref: {type: konnectNamespacedRef, konnectNamespacedRef: {name: gateway-control-plane}}
`

// TestOurCRDsApplyOverKongsWithV1alpha1Stored: over Kong's CRDs, whose status.storedVersions
// still holds v1alpha1, `kubectl apply --server-side --force-conflicts -f manifests/crd/`
// succeeds (the apiserver refuses a CRD that drops a stored version: ours list v1alpha1, not
// served), the objects stay readable as they were, and v1alpha2 stays the storage version.
func TestOurCRDsApplyOverKongsWithV1alpha1Stored(t *testing.T) {
	c := kongCluster(t)
	ns := controlplane.NewNamespace(t, c)
	framework.Apply(t, c, strings.ReplaceAll(kongObjects, "namespace: NS", "namespace: "+ns))
	before := map[string]string{
		"konnectgatewaycontrolplane/gateway-control-plane": specOf(t, c, ns, "konnectgatewaycontrolplane/gateway-control-plane"),
		"konnectextension/my-konnect-config":               specOf(t, c, ns, "konnectextension/my-konnect-config"),
	}
	storeV1alpha1Too(t, c)

	out, err := applyOurCRDs(t, c)
	if err != nil {
		t.Fatalf("kubectl apply --server-side --force-conflicts -f manifests/crd/ over Kong's CRDs: %v\n%s", err, out)
	}
	t.Logf("$ kubectl apply --server-side --force-conflicts -f manifests/crd/\n%s", out)
	waitEstablished(t, c, planeCRD, extensionCRD)

	for obj, spec := range before {
		if got := specOf(t, c, ns, obj); got != spec {
			t.Errorf("%s spec after our CRDs = %s, want it as it was: %s", obj, got, spec)
		}
	}
	t.Logf("$ kubectl get konnectgatewaycontrolplane,konnectextension -n %s\n%s", ns,
		framework.KubectlOutput(t, c, "get", "konnectgatewaycontrolplane,konnectextension", "-n", ns))

	// v1alpha1 is not served: a manifest written at it is refused, as the README says (by the
	// apiserver, or by kubectl once its discovery cache no longer lists v1alpha1).
	v1alpha1 := strings.ReplaceAll(strings.Split(kongObjects, "---")[0], "namespace: NS", "namespace: "+ns)
	v1alpha1 = strings.Replace(v1alpha1, "konnect.konghq.com/v1alpha2", "konnect.konghq.com/v1alpha1", 1)
	out, stderr, err := framework.Kubectl(c, v1alpha1, "apply", "-f", "-")
	if err == nil || !(strings.Contains(stderr, "the server could not find the requested resource") ||
		strings.Contains(stderr, `no matches for kind "KonnectGatewayControlPlane" in version "konnect.konghq.com/v1alpha1"`)) {
		t.Errorf("kubectl apply at v1alpha1: err %v, %s%s; want it refused", err, out, stderr)
	}

	for _, crd := range []string{planeCRD, extensionCRD} {
		versions := framework.KubectlOutput(t, c, "get", "crd", crd, "-o",
			`jsonpath={range .spec.versions[*]}{.name}:{.served}:{.storage} {end}`)
		if strings.TrimSpace(versions) != "v1alpha1:false:false v1alpha2:true:true" {
			t.Errorf("%s versions (name:served:storage) = %q, want v1alpha1 listed, not served, and v1alpha2 served and stored", crd, versions)
		}
		if got := storedVersions(t, c, crd); got != "v1alpha1 v1alpha2" {
			t.Errorf("%s status.storedVersions = %q, want v1alpha1 v1alpha2 (until the objects are re-stored)", crd, got)
		}
	}
}

// specOf is the object's spec as `kubectl get -o json` prints it, as canonical JSON.
func specOf(t *testing.T, c *controlplane.ControlPlane, ns, obj string) string {
	t.Helper()
	var o struct {
		Spec json.RawMessage `json:"spec"`
	}
	if err := json.Unmarshal([]byte(framework.KubectlOutput(t, c, "get", obj, "-n", ns, "-o", "json")), &o); err != nil {
		t.Fatal(err)
	}
	return framework.JSON(framework.Normalise(t, o.Spec))
}
