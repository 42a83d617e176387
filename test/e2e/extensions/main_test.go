// Package extensions_test proves, end to end, that a KonnectExtension connects a data plane to a
// Konnect control plane as Kong's operator does and as CONTROLPLANES.md says: with the guide's
// YAML applied by kubectl, an Automatic extension becomes READY True with the control plane's id
// and endpoints in its status and a client certificate (signed by the cluster CA kept in the
// controller's namespace) in a kubernetes.io/tls Secret it owns, registered with the control
// plane exactly once however many re-syncs pass; a Manual certificate is read from the labelled
// Secret the user names, a bad or missing one is reported with a clear reason, and a changed one
// is registered while the old one is removed from Konnect; deleting the extension removes its
// certificate from Konnect and the garbage collector removes its Secret; Konnect being down
// during registration turns nothing False and loses nothing, and Konnect being down while the
// extension is Ready leaves it Ready; an extension whose control plane is missing or not
// Programmed says so and recovers when it is fixed; and no token reaches the controller's log at
// -v=5, a condition or an Event.
//
// The built controller runs against a real kube-apiserver and etcd, with kube-controller-manager
// (the garbage collector), reaches the fake Konnect only through HTTPS_PROXY, and re-syncs every
// 2s so that "once however many syncs" is observed over several sync periods.
//
// It needs bin/etcd, bin/kube-apiserver, bin/kubectl and bin/kube-controller-manager
// (`make tools`).
package extensions_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	konnectv1alpha2 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha2"
	clientset "github.com/konnect-auth-controller/konnect-auth-controller/pkg/generated/clientset/versioned"
	"github.com/konnect-auth-controller/konnect-auth-controller/test/controlplane"
	"github.com/konnect-auth-controller/konnect-auth-controller/test/e2e/framework"
	"github.com/konnect-auth-controller/konnect-auth-controller/test/fakekonnect"
)

const (
	// syncPeriod is the controller's --konnect-sync-period.
	syncPeriod = 2 * time.Second
	// controllerNamespace is the controller's own namespace, where the cluster CA is kept.
	controllerNamespace = "konnect-system"
	// caSecretName is --cluster-ca-secret (not the default, to prove the flag is honoured).
	caSecretName = "e2e-cluster-ca"
	// region is the region of the guide's serverURL.
	region = "us"
)

var (
	cp     *controlplane.ControlPlane
	env    *framework.Env
	ctrl   *framework.Controller
	client clientset.Interface
	kube   kubernetes.Interface

	// gcReady receives the outcome of probeGarbageCollector once.
	gcReady = make(chan error, 1)
)

var suite = &framework.Suite{
	Name: "extensions", ControlPlane: controlplane.Options{ControllerManager: true},
	CP: &cp, Env: &env, Kube: &kube, Client: &client, Controller: &ctrl,
	Setup:         setup,
	ControllerEnv: []string{"POD_NAMESPACE=" + controllerNamespace},
	// The reliability tests count re-sync listings within a few sync periods. The listings may
	// take 2.5 % of --konnect-qps, shared by every test's account: at the default 20/s, a few
	// accounts are enough to list each less often than every 2 s. 1,000/s lets every account
	// be listed every sync period.
	ControllerArgs: []string{"-v=5", "--konnect-timeout=2s", "--konnect-sync-period=" + syncPeriod.String(), "--konnect-certificate-sync-period=" + syncPeriod.String(),
		"--konnect-qps=1000", "--cluster-ca-secret=" + caSecretName, "--cluster-ca-secret-namespace=" + controllerNamespace},
}

func TestMain(m *testing.M) { os.Exit(suite.RunTestMain(m)) }

// setup makes the controller's namespace and starts probing the garbage collector.
func setup() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: controllerNamespace}}, metav1.CreateOptions{}); err != nil {
		return err
	}
	go func() { gcReady <- probeGarbageCollector() }()
	return nil
}

// probeGarbageCollector waits until kube-controller-manager's garbage collector collects the
// dependents of a deleted KonnectExtension. The CRDs are installed after kube-controller-manager
// started, and its garbage collector picks up new resources only when it next re-reads the
// API's discovery (every 30s): until then the dependents of a deleted extension may stay. In a
// real cluster the CRDs are installed long before, so this is the test bed's lag, not the
// controller's. Each probe is a fresh extension (Manual, naming nothing, so the controller
// creates nothing for it) owning a ConfigMap; the extension is deleted and the ConfigMap must go.
func probeGarbageCollector() error {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	const ns = "gc-probe"
	if _, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		return err
	}
	for i := 0; ; i++ {
		name := fmt.Sprintf("probe-%d", i)
		if out, stderr, err := cp.KubectlInput(ctx, strings.NewReader(manualExtensionYAML(ns, name, "none", "none")), "apply", "-f", "-"); err != nil {
			return fmt.Errorf("kubectl apply: %v\n%s%s", err, out, stderr)
		}
		ext, err := client.KonnectV1alpha2().KonnectExtensions(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if _, err := kube.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns,
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "konnect.konghq.com/v1alpha2", Kind: "KonnectExtension", Name: name, UID: ext.UID}}}},
			metav1.CreateOptions{}); err != nil {
			return err
		}
		if err := client.KonnectV1alpha2().KonnectExtensions(ns).Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
			return err
		}
		for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
			if _, err := kube.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{}); err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				return nil
			}
		}
		if ctx.Err() != nil {
			return fmt.Errorf("the garbage collector did not collect a deleted KonnectExtension's dependent within 90s")
		}
	}
}

// waitForGarbageCollector blocks until probeGarbageCollector succeeded.
func waitForGarbageCollector(t *testing.T) {
	t.Helper()
	start := time.Now()
	err := <-gcReady
	gcReady <- err
	if err != nil {
		t.Fatalf("garbage collector probe: %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Logf("waited %v for kube-controller-manager's garbage collector to watch KonnectExtensions", d.Round(100*time.Millisecond))
	}
}

// The guide's YAML (CONTROLPLANES.md, "What the user does"), in namespace ns.

func controlPlaneYAML(ns, name, authRef string) string {
	return framework.ObjectYAML("konnect.konghq.com/v1alpha2", "KonnectGatewayControlPlane", ns, name, fmt.Sprintf(`  createControlPlaneRequest:
    name: %s
  konnect:
    authRef:
      name: %s
`, name, authRef))
}

// automaticExtensionYAML is the guide's extension my-konnect-config, named name.
func automaticExtensionYAML(ns, name, controlPlane string) string {
	return extensionYAML(ns, name, controlPlane, "provisioning: Automatic")
}

// manualExtensionYAML is an extension whose certificate is the user's, in the Secret secret.
func manualExtensionYAML(ns, name, controlPlane, secret string) string {
	return extensionYAML(ns, name, controlPlane, "provisioning: Manual\n      secretRef:\n        name: "+secret)
}

// extensionYAML is an extension joining controlPlane, with certificateSecret (indented for
// its place) as its spec.clientAuth.certificateSecret.
func extensionYAML(ns, name, controlPlane, certificateSecret string) string {
	return framework.ObjectYAML("konnect.konghq.com/v1alpha2", "KonnectExtension", ns, name, fmt.Sprintf(`  clientAuth:
    certificateSecret:
      %s
  konnect:
    controlPlane:
      ref:
        type: konnectNamespacedRef
        konnectNamespacedRef:
          name: %s
`, certificateSecret, controlPlane))
}

// connected applies the guide's auth configuration (konnect-api-auth, a fresh token) and control
// plane (gateway-control-plane) in ns, waits until the control plane is Programmed, and returns
// the token and the control plane.
func connected(t *testing.T, ns string) (string, *konnectv1alpha2.KonnectGatewayControlPlane) {
	t.Helper()
	token := env.NewToken(t)
	framework.Apply(t, cp, framework.TokenConfigYAML(ns, "konnect-api-auth", token, "us.api.konghq.com"))
	framework.Apply(t, cp, controlPlaneYAML(ns, "gateway-control-plane", "konnect-api-auth"))
	return token, waitProgrammed(t, ns, "gateway-control-plane")
}

func waitProgrammed(t *testing.T, ns, name string) *konnectv1alpha2.KonnectGatewayControlPlane {
	t.Helper()
	var got *konnectv1alpha2.KonnectGatewayControlPlane
	waitFor(t, "control plane "+ns+"/"+name+" Programmed", func() (bool, string) {
		c, err := client.KonnectV1alpha2().KonnectGatewayControlPlanes(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		got = c
		p := meta.FindStatusCondition(c.Status.Conditions, konnectv1alpha2.ConditionProgrammed)
		return p != nil && p.Status == metav1.ConditionTrue && c.Status.ID != "" && c.Status.Endpoints != nil, framework.JSON(c.Status)
	})
	return got
}

func getExtension(t testing.TB, ns, name string) *konnectv1alpha2.KonnectExtension {
	t.Helper()
	ext, err := client.KonnectV1alpha2().KonnectExtensions(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return ext
}

func condition(ext *konnectv1alpha2.KonnectExtension, t string) metav1.Condition {
	if c := meta.FindStatusCondition(ext.Status.Conditions, t); c != nil {
		return *c
	}
	return metav1.Condition{Type: t, Status: "<none>"}
}

// waitCondition waits until the extension's condition of type typ has status and (if not
// "") reason, and returns the extension as it then read.
func waitCondition(t testing.TB, ns, name, typ string, status metav1.ConditionStatus, reason string) *konnectv1alpha2.KonnectExtension {
	t.Helper()
	var ext *konnectv1alpha2.KonnectExtension
	waitFor(t, fmt.Sprintf("extension %s/%s %s %s/%s", ns, name, typ, status, reason), func() (bool, string) {
		e, err := client.KonnectV1alpha2().KonnectExtensions(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		ext = e
		c := condition(e, typ)
		return c.Status == status && (reason == "" || c.Reason == reason) && c.ObservedGeneration == e.Generation, framework.JSON(e.Status)
	})
	return ext
}

func waitReady(t testing.TB, ns, name string) *konnectv1alpha2.KonnectExtension {
	t.Helper()
	return waitCondition(t, ns, name, konnectv1alpha2.ConditionReady, metav1.ConditionTrue, konnectv1alpha2.ReasonReady)
}

// waitFor polls cond until it holds, failing after framework.VerdictTimeout with what it last
// said.
func waitFor(t testing.TB, what string, cond func() (bool, string)) {
	t.Helper()
	ctrl.WaitFor(t, framework.VerdictTimeout, what, cond)
}

// certPath is the fake's path of a control plane's certificates.
func certPath(cpID string) string { return "/v2/control-planes/" + cpID + "/dp-client-certificates" }

// count is how many requests with method reached path with a status in [lo, hi].
func count(method, path string, lo, hi int) int {
	n := 0
	for _, r := range env.Konnect.RequestsMatching(method, path) {
		if r.Status >= lo && r.Status <= hi {
			n++
		}
	}
	return n
}

// kubectlTable runs `kubectl get konnectextensions -n ns` and logs it as a user sees it.
func kubectlTable(t *testing.T, ns string, extra ...string) string {
	t.Helper()
	args := append([]string{"get", "konnectextensions", "-n", ns}, extra...)
	out := framework.KubectlOutput(t, cp, args...)
	t.Logf("$ kubectl %s\n%s", strings.Join(args, " "), out)
	return out
}

// readyColumn is the READY column of the row for name in `kubectl get konnectextensions`.
func readyColumn(table, name string) string {
	lines := strings.Split(strings.TrimSpace(table), "\n")
	if len(lines) < 2 {
		return ""
	}
	header := strings.Fields(lines[0])
	col := -1
	for i, h := range header {
		if h == "READY" {
			col = i
		}
	}
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if len(f) > col && col >= 0 && f[0] == name {
			return f[col]
		}
	}
	return ""
}

// conditionSummary is "Type=Status/Reason" for each condition, for logs.
func conditionSummary(ext *konnectv1alpha2.KonnectExtension) string {
	var parts []string
	for _, c := range ext.Status.Conditions {
		parts = append(parts, fmt.Sprintf("%s=%s/%s", c.Type, c.Status, c.Reason))
	}
	return strings.Join(parts, " ")
}

// selfSigned generates a self-signed client certificate for cn, as a user would with openssl,
// writes tls.crt and tls.key into a fresh folder, and returns their paths and the DER.
func selfSigned(t *testing.T, cn string) (certFile, keyFile string, der []byte) {
	t.Helper()
	certPEM, keyPEM, der, err := fakekonnect.ClientCertificate(cn)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, der
}

// parsePEM parses the first certificate of a PEM text, failing the test if there is none.
func parsePEM(t testing.TB, what string, text []byte) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode(text)
	if block == nil || block.Type != "CERTIFICATE" {
		t.Fatalf("%s holds no PEM certificate", what)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return cert
}

// registeredDERs is the DER of each certificate the fake holds for the control plane.
func registeredDERs(t testing.TB, cpID string) [][]byte {
	t.Helper()
	var out [][]byte
	for _, c := range env.Konnect.Certificates(cpID) {
		out = append(out, parsePEM(t, "the certificate "+c.ID+" in the fake", []byte(c.Cert)).Raw)
	}
	return out
}

// holdsExactly reports whether the fake holds exactly the certificates ders for cpID.
func holdsExactly(t testing.TB, cpID string, ders ...[]byte) bool {
	got := registeredDERs(t, cpID)
	if len(got) != len(ders) {
		return false
	}
	for i := range ders {
		if !bytes.Equal(got[i], ders[i]) {
			return false
		}
	}
	return true
}

// certIDs is the ids of the fake's certificates for cpID, for messages.
func certIDs(cpID string) []string {
	var ids []string
	for _, c := range env.Konnect.Certificates(cpID) {
		ids = append(ids, c.ID)
	}
	return ids
}
