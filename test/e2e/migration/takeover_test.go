package migration_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/konnect-auth-controller/konnect-auth-controller/test/controlplane"
	"github.com/konnect-auth-controller/konnect-auth-controller/test/e2e/framework"
)

const (
	// syncPeriod is the controller's --konnect-sync-period: the quiet window below spans several.
	syncPeriod = 2 * time.Second
	// controllerNamespace is where the controller runs (and would keep its cluster CA).
	controllerNamespace = "konnect-system"
	// ourCertificateAnnotation records, on an extension, the certificate registered for it.
	ourCertificateAnnotation = "konnect.konghq.com/dp-certificate"
)

// TestTakeoverFromKongOperator walks docs/migrating-from-kong-operator.md over what Kong's
// operator leaves behind: two Origin control planes (Kong's labels in Konnect), a Mirror, an
// extension with the certificate Kong's operator generated and one with the user's, both
// registered in Konnect, Kong's status and finalizers on everything, and v1alpha1 in the CRDs'
// storedVersions. Once our controller runs: no create, delete or registration in Konnect (one
// PATCH per Origin control plane, which puts our managed-by label on it), not one status
// written, every object Programmed or Ready, and then nothing written at all over several sync
// periods. The only writes are the documented ones: the extensions' record of their
// registration (an annotation) and the finalizer a Mirror does not need.
func TestTakeoverFromKongOperator(t *testing.T) {
	c := kongCluster(t)
	k := newKongState(t, c)
	k.authConfiguration()
	k.origin("cp-a")
	k.origin("cp-b")
	k.mirror("cp-mirror")
	k.extension("ext-generated", "cp-a", false)
	k.extension("ext-manual", "cp-b", true)
	storeV1alpha1Too(t, c)
	t.Logf("as Kong's operator left it:\n$ kubectl get konnectgatewaycontrolplane,konnectextension -n %s\n%s", k.ns,
		k.kubectl("", "get", "konnectgatewaycontrolplane,konnectextension"))

	// Step 1: re-store the objects at v1alpha2 and drop v1alpha1 from storedVersions.
	framework.Shell(t, c, restoreScript, "")
	for _, crd := range []string{planeCRD, extensionCRD} {
		if got := storedVersions(t, c, crd); got != "v1alpha2" {
			t.Errorf("%s status.storedVersions = %q after step 1, want v1alpha2", crd, got)
		}
	}
	// Step 2: stop Kong's operator (a stand-in Deployment: no Kong operator runs here).
	framework.MustKubectl(t, c, "", "create", "namespace", "kong-system")
	framework.MustKubectl(t, c, "", "create", "deployment", "kong-operator-controller-manager", "-n", "kong-system", "--image=kong/kong-operator:2.2.1")
	framework.Shell(t, c, "kubectl scale deployment kong-operator-controller-manager -n kong-system --replicas=0", "")
	// Step 3: our CRDs over Kong's.
	if out, err := applyOurCRDs(t, c); err != nil {
		t.Fatalf("step 3, kubectl apply --server-side --force-conflicts -f manifests/crd/: %v\n%s", err, out)
	}
	waitEstablished(t, c, planeCRD, extensionCRD)

	before := statuses(t, k)
	// Step 4: install the controller (the built binary, as the Deployment runs it).
	framework.MustKubectl(t, c, "", "create", "namespace", controllerNamespace)
	ctrl := env.StartControllerForTest(t, "takeover", framework.ControllerOptions{Kubeconfig: c.KubeconfigPath(),
		Env:  append(env.Konnect.Env(), "POD_NAMESPACE="+controllerNamespace),
		Args: []string{"-v=4", "--konnect-sync-period=" + syncPeriod.String(), "--konnect-certificate-sync-period=" + syncPeriod.String(), "--konnect-timeout=2s"}})

	// The controller has looked at everything once it has recorded each extension's
	// registration, put its label on each Origin and taken the Mirror's needless finalizer off.
	ctrl.WaitFor(t, framework.VerdictTimeout, "every object taken over", func() (bool, string) { return takenOver(t, k) })
	rvs := resourceVersions(t, k)
	writes := k.konnectWrites()
	framework.Holds(t, 4*syncPeriod, func() string {
		if now := resourceVersions(t, k); !maps.Equal(now, rvs) {
			return fmt.Sprintf("objects written in the quiet window: before %v, now %v", rvs, now)
		}
		if now := k.konnectWrites(); !maps.Equal(now, writes) {
			return fmt.Sprintf("Konnect written in the quiet window: before %v, now %v", writes, now)
		}
		return ""
	})

	// Step 5: verify.
	t.Logf("$ kubectl get konnectgatewaycontrolplane,konnectextension -n %s\n%s", k.ns, k.kubectl("", "get", "konnectgatewaycontrolplane,konnectextension"))
	k.kubectl("", "wait", "--for=condition=Programmed", "konnectgatewaycontrolplane", "--all", "--timeout=10s")
	k.kubectl("", "wait", "--for=condition=Ready", "konnectextension", "--all", "--timeout=10s")
	if want := map[string]int{"PATCH /v2/control-planes/*": len(k.origins)}; !maps.Equal(writes, want) {
		t.Errorf("writes to Konnect = %v, want %v (no create, delete or registration)", writes, want)
	}
	if after := statuses(t, k); !maps.Equal(after, before) {
		for obj := range before {
			if after[obj] != before[obj] {
				t.Errorf("%s status rewritten:\nKong's: %s\nnow:    %s", obj, before[obj], after[obj])
			}
		}
	}
	for _, obj := range k.objects() {
		if m := statusWriters(t, k, obj); len(m) > 0 {
			t.Errorf("%s: the controller wrote its status (managedFields: %v)", obj, m)
		}
	}
	if out := framework.KubectlOutput(t, c, "get", "secrets", "-n", controllerNamespace, "-o", "name"); out != "" {
		t.Errorf("the controller made Secrets (a cluster CA, so a new certificate): %s", out)
	}
}

// restoreScript is step 1 of docs/migrating-from-kong-operator.md.
const restoreScript = `set -e
for kind in konnectgatewaycontrolplanes konnectextensions; do
  kubectl get "$kind.v1alpha2.konnect.konghq.com" -A -o json | kubectl replace -f -
  kubectl patch crd "$kind.konnect.konghq.com" --subresource=status --type=merge \
    -p '{"status":{"storedVersions":["v1alpha2"]}}'
done`

// takenOver says whether the controller has done its one-time writes, and what it waits for.
func takenOver(t *testing.T, k *kongState) (bool, string) {
	var missing []string
	for _, cp := range env.Konnect.ControlPlanes(k.token, region) {
		if cp.Labels["k8s-uid"] != "" && cp.Labels["managed-by"] != "konnect-auth-controller" {
			missing = append(missing, cp.Name+" labelled managed-by="+cp.Labels["managed-by"])
		}
	}
	if f := k.field("konnectgatewaycontrolplane/cp-mirror", ".metadata.finalizers"); f != "" {
		missing = append(missing, "the Mirror's finalizers "+f)
	}
	for _, ext := range k.extensions {
		if k.field("konnectextension/"+ext, ".metadata.annotations") == "" {
			missing = append(missing, ext+" without our registration annotation")
		}
	}
	return len(missing) == 0, strings.Join(missing, "; ")
}

// statuses are the objects' statuses as kubectl prints them.
func statuses(t *testing.T, k *kongState) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, obj := range k.objects() {
		if !strings.HasPrefix(obj, "secret/") {
			out[obj] = k.field(obj, ".status")
		}
	}
	return out
}

func resourceVersions(t *testing.T, k *kongState) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, obj := range k.objects() {
		out[obj] = k.field(obj, ".metadata.resourceVersion")
	}
	return out
}

// statusWriters are the controller's field managers (konnect-*) that wrote obj's status.
func statusWriters(t *testing.T, k *kongState, obj string) []string {
	t.Helper()
	var entries []struct {
		Manager     string `json:"manager"`
		Subresource string `json:"subresource"`
	}
	if err := json.Unmarshal([]byte(k.kubectl("", "get", obj, "--show-managed-fields", "-o", "jsonpath={.metadata.managedFields}")), &entries); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if e.Subresource == "status" && strings.HasPrefix(e.Manager, "konnect-") {
			out = append(out, e.Manager)
		}
	}
	return slices.Compact(out)
}

// kongState is one namespace of objects Kong's operator Programmed, and the Konnect
// organization (a token of its own) that holds what it made.
type kongState struct {
	t     *testing.T
	c     *controlplane.ControlPlane
	ns    string
	token string
	org   string
	// ids are the Konnect ids of the control planes, by object name.
	ids map[string]string
	// origins are the names of the Origin control planes (Kong labelled them in Konnect).
	origins []string
	// extensions are the extensions' names, and secrets their certificate Secrets.
	extensions []string
	secrets    []string
}

func newKongState(t *testing.T, c *controlplane.ControlPlane) *kongState {
	t.Helper()
	k := &kongState{t: t, c: c, ns: controlplane.NewNamespace(t, c), org: framework.NewUUID(), ids: map[string]string{}}
	k.token = env.NewTokenFor(t, k.org)
	return k
}
