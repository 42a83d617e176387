// Package migration_test proves, end to end, that a cluster run by Kong's operator 2.x moves to
// konnect-auth-controller the way docs/migrating-from-kong-operator.md tells a user to move it,
// against a real kube-apiserver and etcd, with kubectl as the user types it, the built
// controller binary, and the fake Konnect reached only through HTTPS_PROXY:
//
//   - crdversions_test.go: our CRDs apply (server-side, --force-conflicts) over Kong's CRDs
//     (vendored in testdata/kong, see its README) when the CRDs' status.storedVersions still
//     holds v1alpha1, and the objects stay readable;
//   - takeover_test.go: control planes, extensions and auth configurations as Kong's operator
//     leaves them (Kong's labels in Konnect, Kong's status, finalizers and certificate Secrets,
//     the certificates registered in Konnect) are taken over with no create, delete or
//     registration in Konnect and no status rewrite, and every object is Programmed or Ready.
//
// Every test starts its own control plane with Kong's CRDs, as a cluster that ran Kong's
// operator has them. It needs bin/etcd, bin/kube-apiserver and bin/kubectl (`make tools`).
package migration_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/konnect-auth-controller/konnect-auth-controller/test/controlplane"
	"github.com/konnect-auth-controller/konnect-auth-controller/test/e2e/framework"
)

var env *framework.Env // the fake Konnect, the work folder, every token issued

var suite = &framework.Suite{Name: "migration", Env: &env}

func TestMain(m *testing.M) { os.Exit(suite.RunTestMain(m)) }

const (
	planeCRD     = "konnectgatewaycontrolplanes.konnect.konghq.com"
	extensionCRD = "konnectextensions.konnect.konghq.com"
)

// kongCluster starts an empty control plane and installs Kong's CRDs of
// KonnectGatewayControlPlane and KonnectExtension (testdata/kong) the way a user installs a
// release's CRDs (`kubectl create -f`, so that another field manager than ours owns them), and
// our CRDs of KonnectAPIAuthConfiguration and KongReferenceGrant (the resources the earlier
// takeover already covers).
func kongCluster(t *testing.T) *controlplane.ControlPlane {
	t.Helper()
	c := controlplane.StartEmptyForTest(t, controlplane.Options{})
	framework.MustKubectl(t, c, "", "create", "-f", filepath.Join("testdata", "kong"))
	crdDir, err := controlplane.CRDDir()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"konnect.konghq.com_konnectapiauthconfigurations.yaml", "configuration.konghq.com_kongreferencegrants.yaml"} {
		framework.MustKubectl(t, c, "", "create", "-f", filepath.Join(crdDir, f))
	}
	waitEstablished(t, c, planeCRD, extensionCRD, "konnectapiauthconfigurations.konnect.konghq.com")
	return c
}

// waitEstablished waits until each CRD is Established (`kubectl wait`).
func waitEstablished(t *testing.T, c *controlplane.ControlPlane, crds ...string) {
	t.Helper()
	for _, crd := range crds {
		framework.MustKubectl(t, c, "", "wait", "--for=condition=Established", "--timeout=60s", "crd/"+crd)
	}
}

// storeV1alpha1Too marks v1alpha1 as stored in the CRDs of both kinds, as in a cluster that an
// older Kong operator ran (objects written at v1alpha1 and not re-stored since), the way a
// cluster administrator edits it: through the CRD's status subresource.
func storeV1alpha1Too(t *testing.T, c *controlplane.ControlPlane) {
	t.Helper()
	for _, crd := range []string{planeCRD, extensionCRD} {
		framework.MustKubectl(t, c, "", "patch", "crd", crd, "--subresource=status", "--type=merge",
			"-p", `{"status":{"storedVersions":["v1alpha1","v1alpha2"]}}`)
		if got := storedVersions(t, c, crd); got != "v1alpha1 v1alpha2" {
			t.Fatalf("%s status.storedVersions = %q after the patch, want v1alpha1 v1alpha2", crd, got)
		}
	}
}

// storedVersions is the CRD's status.storedVersions, space-separated.
func storedVersions(t *testing.T, c *controlplane.ControlPlane, crd string) string {
	t.Helper()
	return framework.KubectlOutput(t, c, "get", "crd", crd, "-o", "jsonpath={.status.storedVersions[*]}")
}

// applyOurCRDs is the README's command for our CRDs over Kong's:
// `kubectl apply --server-side --force-conflicts -f manifests/crd/`. It returns kubectl's error.
func applyOurCRDs(t *testing.T, c *controlplane.ControlPlane) (string, error) {
	t.Helper()
	crdDir, err := controlplane.CRDDir()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), framework.KubectlTimeout)
	defer cancel()
	stdout, stderr, err := c.Kubectl(ctx, "apply", "--server-side", "--force-conflicts", "-f", crdDir)
	return strings.TrimSpace(stdout + stderr), err
}
