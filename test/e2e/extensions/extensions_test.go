package extensions_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	konnectv1alpha2 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha2"
	"github.com/konnect-auth-controller/konnect-auth-controller/test/controlplane"
	"github.com/konnect-auth-controller/konnect-auth-controller/test/e2e/framework"
	"github.com/konnect-auth-controller/konnect-auth-controller/test/fakekonnect"
)

const (
	extName     = "my-konnect-config"
	cpName      = "gateway-control-plane"
	manualName  = "konnect-client-tls"
	dpCertLabel = konnectv1alpha2.DataPlaneCertificateLabel
)

// TestAutomatic: the guide's auth configuration, control plane and Automatic extension make
// the extension READY True with the control plane's id and endpoints, a generated client
// certificate in a kubernetes.io/tls Secret it owns, signed by the cluster CA kept in the
// controller's namespace, and that certificate registered with the control plane exactly once
// over several sync periods.
func TestAutomatic(t *testing.T) {
	ns := controlplane.NewNamespace(t, cp)
	_, ctlPlane := connected(t, ns)
	cpID := ctlPlane.Status.ID
	framework.Apply(t, cp, automaticExtensionYAML(ns, extName, cpName))

	ext := waitReady(t, ns, extName)
	table := kubectlTable(t, ns)
	if got := readyColumn(table, extName); got != "True" {
		t.Errorf("READY column for %s = %q, want True", extName, got)
	}
	t.Logf("$ kubectl get konnectgatewaycontrolplane -n %s\n%s", ns, framework.KubectlOutput(t, cp, "get", "konnectgatewaycontrolplane", "-n", ns))
	yaml := framework.KubectlOutput(t, cp, "get", "konnectextension", extName, "-n", ns, "-o", "yaml")
	if i := strings.Index(yaml, "\nstatus:"); i >= 0 {
		t.Logf("$ kubectl get konnectextension %s -n %s -o yaml   (metadata and status)\n%s", extName, ns, yaml[:strings.Index(yaml, "\nspec:")]+yaml[i:])
	} else {
		t.Errorf("no status in\n%s", yaml)
	}

	// Status.
	st := ext.Status
	if st.Konnect == nil {
		t.Fatalf("status.konnect is empty: %s", framework.JSON(st))
	}
	if st.Konnect.ControlPlaneID != cpID {
		t.Errorf("status.konnect.controlPlaneID = %q, want the control plane's status.id %q", st.Konnect.ControlPlaneID, cpID)
	}
	if st.Konnect.ClusterType != konnectv1alpha2.ExtensionClusterTypeControlPlane {
		t.Errorf("status.konnect.clusterType = %q, want ControlPlane", st.Konnect.ClusterType)
	}
	if st.Konnect.Endpoints != *ctlPlane.Status.Endpoints || st.Konnect.Endpoints.ControlPlaneEndpoint == "" || st.Konnect.Endpoints.TelemetryEndpoint == "" {
		t.Errorf("status.konnect.endpoints = %s, want the control plane's konnectEndpoints %s", framework.JSON(st.Konnect.Endpoints), framework.JSON(ctlPlane.Status.Endpoints))
	}
	// The endpoints are Konnect's, not made up: the fake's control plane says the same.
	var fakeCP *fakekonnect.ControlPlane
	for _, c := range env.Konnect.ControlPlanes(tokenOf(t, ns), region) {
		if c.ID == cpID {
			fakeCP = &c
		}
	}
	if fakeCP == nil {
		t.Fatalf("the fake has no control plane %s", cpID)
	}
	if st.Konnect.Endpoints.ControlPlaneEndpoint != fakeCP.Config.ControlPlaneEndpoint || st.Konnect.Endpoints.TelemetryEndpoint != fakeCP.Config.TelemetryEndpoint {
		t.Errorf("endpoints %s differ from Konnect's %s / %s", framework.JSON(st.Konnect.Endpoints), fakeCP.Config.ControlPlaneEndpoint, fakeCP.Config.TelemetryEndpoint)
	}
	if st.Konnect.AuthRef == nil || st.Konnect.AuthRef.Name != "konnect-api-auth" {
		t.Errorf("status.konnect.authRef = %s, want konnect-api-auth", framework.JSON(st.Konnect.AuthRef))
	}
	secretName := extName + "-client-tls"
	if st.DataPlaneClientAuth == nil || st.DataPlaneClientAuth.CertificateSecretRef == nil || st.DataPlaneClientAuth.CertificateSecretRef.Name != secretName {
		t.Errorf("status.dataPlaneClientAuth = %s, want certificateSecretRef %s", framework.JSON(st.DataPlaneClientAuth), secretName)
	}
	for _, typ := range []string{konnectv1alpha2.ConditionReady, konnectv1alpha2.ConditionControlPlaneRefValid, konnectv1alpha2.ConditionAPIAuthResolvedRef,
		konnectv1alpha2.ConditionAPIAuthValid, konnectv1alpha2.ConditionDataPlaneCertificateProvisioned} {
		if c := condition(ext, typ); c.Status != metav1.ConditionTrue {
			t.Errorf("condition %s = %s, want True", typ, framework.JSON(c))
		}
	}
	if !slices.Contains(ext.Finalizers, konnectv1alpha2.KonnectCleanupFinalizer) {
		t.Errorf("finalizers = %v, want %s", ext.Finalizers, konnectv1alpha2.KonnectCleanupFinalizer)
	}
	if a := ext.Annotations["konnect.konghq.com/dp-certificate"]; !strings.HasPrefix(a, cpID+"/") {
		t.Errorf("annotation konnect.konghq.com/dp-certificate = %q, want it to name control plane %s", a, cpID)
	}

	// The Secret.
	secret, err := kube.CoreV1().Secrets(ns).Get(context.Background(), secretName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("$ kubectl get secret -n %s -l %s=true\n%s", ns, dpCertLabel, framework.KubectlOutput(t, cp, "get", "secret", "-n", ns, "-l", dpCertLabel+"=true"))
	if secret.Type != corev1.SecretTypeTLS {
		t.Errorf("Secret type = %q, want kubernetes.io/tls", secret.Type)
	}
	for _, k := range []string{"tls.crt", "tls.key", "ca.crt"} {
		if len(secret.Data[k]) == 0 {
			t.Errorf("Secret has no %s", k)
		}
	}
	if secret.Labels[dpCertLabel] != "true" || secret.Labels["konghq.com/secret"] != "true" {
		t.Errorf("Secret labels = %v", secret.Labels)
	}
	owner := metav1.GetControllerOf(secret)
	if owner == nil || owner.Kind != "KonnectExtension" || owner.Name != extName || owner.UID != ext.UID || owner.APIVersion != "konnect.konghq.com/v1alpha2" {
		t.Errorf("Secret's controller owner = %s, want the extension %s (uid %s)", framework.JSON(owner), extName, ext.UID)
	}
	leaf := parsePEM(t, "tls.crt", secret.Data["tls.crt"])
	caCert := parsePEM(t, "ca.crt", secret.Data["ca.crt"])
	wantCN := extName + "." + ns
	if leaf.Subject.CommonName != wantCN || !slices.Equal(leaf.Subject.Organization, []string{"Kong, Inc."}) || !slices.Equal(leaf.DNSNames, []string{wantCN}) {
		t.Errorf("certificate subject %q, DNS SANs %v; want CN %s, O Kong, Inc., DNS %s", leaf.Subject, leaf.DNSNames, wantCN, wantCN)
	}
	if !slices.Equal(leaf.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}) {
		t.Errorf("ExtKeyUsage = %v, want client auth", leaf.ExtKeyUsage)
	}
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("tls.crt does not verify against ca.crt: %v", err)
	}
	t.Logf("tls.crt: subject %q, DNS %v, issuer %q, not after %s", leaf.Subject, leaf.DNSNames, leaf.Issuer, leaf.NotAfter.UTC().Format(time.RFC3339))

	// The cluster CA, in the controller's namespace, under --cluster-ca-secret.
	caSecret, err := kube.CoreV1().Secrets(controllerNamespace).Get(context.Background(), caSecretName, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the cluster CA Secret %s/%s: %v", controllerNamespace, caSecretName, err)
	}
	if !bytes.Equal(caSecret.Data["tls.crt"], secret.Data["ca.crt"]) || !parsePEM(t, "the CA Secret's tls.crt", caSecret.Data["tls.crt"]).IsCA {
		t.Errorf("ca.crt is not the cluster CA of Secret %s/%s", controllerNamespace, caSecretName)
	}
	if _, err := kube.CoreV1().Secrets(ns).Get(context.Background(), caSecretName, metav1.GetOptions{}); err == nil {
		t.Errorf("the CA Secret was also created in the extension's namespace")
	}

	// Konnect holds exactly that certificate, registered once over several sync periods.
	if !holdsExactly(t, cpID, leaf.Raw) {
		t.Errorf("the fake holds certificates %v for %s, want exactly the Secret's", certIDs(cpID), cpID)
	}
	time.Sleep(3*syncPeriod + syncPeriod/2)
	posts := env.Konnect.CountRequests("POST", certPath(cpID))
	lists := env.Konnect.CountRequests("GET", certPath(cpID))
	deletes := env.Konnect.CountRequests("DELETE", certPath(cpID)+"/*")
	t.Logf("fake Konnect log for %s after %v: POST %d, GET (list) %d, DELETE %d", certPath(cpID), 3*syncPeriod+syncPeriod/2, posts, lists, deletes)
	if posts != 1 || deletes != 0 {
		t.Errorf("POST %d times, DELETE %d times; want exactly one POST and no DELETE", posts, deletes)
	}
	if lists < 3 {
		t.Errorf("only %d LISTs over several sync periods: the re-sync does not check Konnect", lists)
	}
	if !holdsExactly(t, cpID, leaf.Raw) {
		t.Errorf("after the re-syncs the fake holds %v", certIDs(cpID))
	}
	if after := getExtension(t, ns, extName); condition(after, konnectv1alpha2.ConditionReady).Status != metav1.ConditionTrue {
		t.Errorf("Ready after re-syncs: %s", conditionSummary(after))
	}
	framework.CheckNoTokenInNamespace(t, cp, ns, "konnectextensions,konnectgatewaycontrolplanes", env.IssuedTokens())
}

// tokenOf is the inline token of the auth configuration konnect-api-auth in ns.
func tokenOf(t testing.TB, ns string) string {
	t.Helper()
	cfg, err := client.KonnectV1alpha1().KonnectAPIAuthConfigurations(ns).Get(context.Background(), "konnect-api-auth", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Spec.Token
}

// TestManual: a labelled Secret made with `kubectl create secret tls` makes a Manual extension
// Ready with that certificate registered once; a missing, an unlabelled and an unparsable
// Secret are reported with RefNotFound / InvalidSecret and a message saying what to do; a
// changed certificate is registered and the old one removed from Konnect.
func TestManual(t *testing.T) {
	ns := controlplane.NewNamespace(t, cp)
	_, ctlPlane := connected(t, ns)
	cpID := ctlPlane.Status.ID

	certFile, keyFile, der := selfSigned(t, "dp.example.com")
	createManualSecret(t, ns, certFile, keyFile)
	framework.Apply(t, cp, manualExtensionYAML(ns, extName, cpName, manualName))
	ext := waitReady(t, ns, extName)
	kubectlTable(t, ns)
	if ref := ext.Status.DataPlaneClientAuth; ref == nil || ref.CertificateSecretRef == nil || ref.CertificateSecretRef.Name != manualName {
		t.Errorf("status.dataPlaneClientAuth = %s, want %s", framework.JSON(ref), manualName)
	}
	if !holdsExactly(t, cpID, der) {
		t.Fatalf("the fake holds %v, want exactly the Manual certificate", certIDs(cpID))
	}
	if _, err := kube.CoreV1().Secrets(ns).Get(context.Background(), extName+"-client-tls", metav1.GetOptions{}); err == nil {
		t.Errorf("a Manual extension got a generated Secret")
	}
	time.Sleep(2 * syncPeriod)
	if n := env.Konnect.CountRequests("POST", certPath(cpID)); n != 1 {
		t.Errorf("%d POSTs of the Manual certificate over several syncs, want 1", n)
	}

	// Bad Secrets, each named by an extension of its own on the same control plane.
	_, stderr, err := framework.Kubectl(cp, "", "create", "secret", "tls", "not-a-cert", "-n", ns, "--cert="+keyFile, "--key="+keyFile)
	t.Logf("$ kubectl create secret tls not-a-cert --cert=tls.key --key=tls.key: %v %s(kubectl itself refuses it; made with create secret generic instead)", err, stderr)
	notCert := writeFile(t, "tls.crt", "this is not a certificate\n")
	framework.KubectlOutput(t, cp, "create", "secret", "generic", "not-a-cert", "-n", ns, "--from-file=tls.crt="+notCert, "--from-file=tls.key="+keyFile)
	framework.KubectlOutput(t, cp, "label", "secret", "not-a-cert", "-n", ns, dpCertLabel+"=true")
	unlabelledCert, unlabelledKey, unlabelledDER := selfSigned(t, "unlabelled.example.com")
	framework.KubectlOutput(t, cp, "create", "secret", "tls", "unlabelled", "-n", ns, "--cert="+unlabelledCert, "--key="+unlabelledKey)
	for _, bad := range []struct{ ext, secret, reason, says string }{
		{"garbage", "not-a-cert", konnectv1alpha2.ReasonInvalidSecret, "tls.crt holds no PEM CERTIFICATE block"},
		{"missing", "no-such-secret", konnectv1alpha2.ReasonRefNotFound, "not found among Secrets labelled " + dpCertLabel + "=true"},
		{"no-label", "unlabelled", konnectv1alpha2.ReasonRefNotFound, "is not labelled " + dpCertLabel + "=true"},
	} {
		framework.Apply(t, cp, manualExtensionYAML(ns, bad.ext, cpName, bad.secret))
		e := waitCondition(t, ns, bad.ext, konnectv1alpha2.ConditionDataPlaneCertificateProvisioned, metav1.ConditionFalse, bad.reason)
		c := condition(e, konnectv1alpha2.ConditionDataPlaneCertificateProvisioned)
		t.Logf("%s (Secret %s): DataPlaneCertificateProvisioned %s/%s: %s", bad.ext, bad.secret, c.Status, c.Reason, c.Message)
		if !strings.Contains(c.Message, bad.secret) || !strings.Contains(c.Message, bad.says) {
			t.Errorf("%s: message %q does not name the Secret and say %q", bad.ext, c.Message, bad.says)
		}
		if r := condition(e, konnectv1alpha2.ConditionReady); r.Status != metav1.ConditionFalse {
			t.Errorf("%s: Ready = %s, want False", bad.ext, framework.JSON(r))
		}
	}
	kubectlTable(t, ns)
	if n := env.Konnect.CountRequests("POST", certPath(cpID)); n != 1 {
		t.Errorf("%d POSTs after the bad Secrets, want still 1", n)
	}
	// The positive control: labelling the unlabelled Secret makes its extension Ready.
	framework.KubectlOutput(t, cp, "label", "secret", "unlabelled", "-n", ns, dpCertLabel+"=true")
	waitReady(t, ns, "no-label")
	if !holdsExactly(t, cpID, der, unlabelledDER) {
		t.Errorf("after labelling, the fake holds %v, want the two Manual certificates", certIDs(cpID))
	}
	framework.KubectlOutput(t, cp, "delete", "konnectextension", "no-label", "garbage", "missing", "-n", ns)
	waitFor(t, "the no-label certificate removed", func() (bool, string) { return holdsExactly(t, cpID, der), strings.Join(certIDs(cpID), ",") })
	deletesBefore := env.Konnect.CountRequests("DELETE", certPath(cpID)+"/*")
	postsBefore := env.Konnect.CountRequests("POST", certPath(cpID))

	// A changed certificate: the user replaces tls.crt and tls.key in the Secret.
	newCert, newKey, newDER := selfSigned(t, "dp.example.com")
	framework.KubectlOutput(t, cp, "patch", "secret", manualName, "-n", ns, "--type=merge", "-p",
		`{"data":{"tls.crt":"`+b64File(t, newCert)+`","tls.key":"`+b64File(t, newKey)+`"}}`)
	waitFor(t, "the new certificate registered and the old one removed", func() (bool, string) {
		return holdsExactly(t, cpID, newDER), strings.Join(certIDs(cpID), ",")
	})
	// Ready was True all along (Konnect was up): wait for the status to name the new one.
	newID := env.Konnect.Certificates(cpID)[0].ID
	waitFor(t, "the status naming the new certificate", func() (bool, string) {
		ext = getExtension(t, ns, extName)
		c := condition(ext, konnectv1alpha2.ConditionDataPlaneCertificateProvisioned)
		return c.Status == metav1.ConditionTrue && strings.Contains(ext.Annotations[certificateAnnotation], newID), ext.Annotations[certificateAnnotation]
	})
	time.Sleep(2 * syncPeriod)
	ext = waitReady(t, ns, extName)
	posts := env.Konnect.CountRequests("POST", certPath(cpID)) - postsBefore
	deletes := env.Konnect.CountRequests("DELETE", certPath(cpID)+"/*") - deletesBefore
	t.Logf("after the certificate changed: POST %d, DELETE %d; the fake holds %v; %s", posts, deletes, certIDs(cpID), conditionSummary(ext))
	if posts != 1 || deletes != 1 {
		t.Errorf("the change made %d POSTs and %d DELETEs, want one of each", posts, deletes)
	}
	if !holdsExactly(t, cpID, newDER) {
		t.Errorf("the fake holds %v, want only the new certificate", certIDs(cpID))
	}
	if a := ext.Annotations[certificateAnnotation]; !strings.Contains(a, newID) {
		t.Errorf("annotation %s = %q does not name the new certificate's id %s", certificateAnnotation, a, newID)
	}

	// Changed again while Konnect is down: the extension must not stay Ready on the old
	// certificate's registration (the data plane now presents one Konnect does not know), nor
	// turn False; once Konnect is back the newest one replaces the old.
	token := tokenOf(t, ns)
	env.Konnect.SetTokenBehavior(token, fakekonnect.Behavior{Mode: fakekonnect.ModeServerError, Path: certPath("*")})
	defer env.Konnect.SetTokenBehavior(token, fakekonnect.BehaviorNormal)
	thirdCert, thirdKey, thirdDER := selfSigned(t, "dp.example.com")
	refusedBefore := count("", certPath(cpID), 503, 503)
	framework.KubectlOutput(t, cp, "patch", "secret", manualName, "-n", ns, "--type=merge", "-p",
		`{"data":{"tls.crt":"`+b64File(t, thirdCert)+`","tls.key":"`+b64File(t, thirdKey)+`"}}`)
	ext = waitCondition(t, ns, extName, konnectv1alpha2.ConditionDataPlaneCertificateProvisioned, metav1.ConditionUnknown, konnectv1alpha2.ReasonKonnectAPIOpFailed)
	t.Logf("changed while Konnect is down (%d calls refused): %s; DataPlaneCertificateProvisioned: %s", count("", certPath(cpID), 503, 503)-refusedBefore,
		conditionSummary(ext), condition(ext, konnectv1alpha2.ConditionDataPlaneCertificateProvisioned).Message)
	if r := condition(ext, konnectv1alpha2.ConditionReady); r.Status == metav1.ConditionTrue {
		t.Errorf("Ready True with a certificate Konnect does not hold: %s", framework.JSON(r))
	}
	kubectlTable(t, ns)
	env.Konnect.SetTokenBehavior(token, fakekonnect.BehaviorNormal)
	waitFor(t, "the third certificate registered and the second removed", func() (bool, string) {
		return holdsExactly(t, cpID, thirdDER), strings.Join(certIDs(cpID), ",")
	})
	ext = waitReady(t, ns, extName)
	if a := ext.Annotations[certificateAnnotation]; !strings.Contains(a, env.Konnect.Certificates(cpID)[0].ID) {
		t.Errorf("annotation %s = %q does not name the newest certificate", certificateAnnotation, a)
	}
	// The registration names the extension by its UID (issue 19: a lost answer is found by it).
	if got, want := env.Konnect.Certificates(cpID)[0].Title, "k8s-uid:"+string(ext.UID); got != want {
		t.Errorf("the registration's title is %q, want %q", got, want)
	}
	posts = env.Konnect.CountRequests("POST", certPath(cpID)) - postsBefore
	deletes = env.Konnect.CountRequests("DELETE", certPath(cpID)+"/*") - deletesBefore
	t.Logf("after Konnect came back: %d POSTs and %d DELETEs since the first change; the fake holds %v", posts, deletes, certIDs(cpID))
	if posts != 2 || deletes != 2 {
		t.Errorf("two changes made %d POSTs and %d DELETEs, want two of each", posts, deletes)
	}
	framework.CheckNoTokenInNamespace(t, cp, ns, "konnectextensions,konnectgatewaycontrolplanes", env.IssuedTokens())
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := t.TempDir() + "/" + name
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func b64File(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(b)
}

// TestKonnectDown: Konnect failing the certificate calls (503) during the registration leaves
// the extension not Ready but DataPlaneCertificateProvisioned never False, and registers it once
// Konnect is back; Konnect failing them while the extension is Ready leaves it Ready across
// several sync periods.
func TestKonnectDown(t *testing.T) {
	ns := controlplane.NewNamespace(t, cp)
	token, ctlPlane := connected(t, ns)
	cpID := ctlPlane.Status.ID
	outage := fakekonnect.Behavior{Mode: fakekonnect.ModeServerError, Path: "/v2/control-planes/*/dp-client-certificates"}
	env.Konnect.SetTokenBehavior(token, outage)
	defer env.Konnect.SetTokenBehavior(token, fakekonnect.BehaviorNormal)

	framework.Apply(t, cp, automaticExtensionYAML(ns, extName, cpName))
	waitFor(t, "a certificate call refused by the outage", func() (bool, string) {
		return count("", certPath(cpID), 503, 503) >= 2, ""
	})
	deadline := time.Now().Add(2 * syncPeriod)
	var ext *konnectv1alpha2.KonnectExtension
	for time.Now().Before(deadline) {
		ext = getExtension(t, ns, extName)
		if c := condition(ext, konnectv1alpha2.ConditionDataPlaneCertificateProvisioned); c.Status == metav1.ConditionFalse && c.Reason != konnectv1alpha2.ReasonProvisioning {
			t.Fatalf("during the outage DataPlaneCertificateProvisioned = %s", framework.JSON(c))
		}
		if c := condition(ext, konnectv1alpha2.ConditionReady); c.Status == metav1.ConditionTrue {
			t.Fatalf("Ready True while Konnect refused every certificate call: %s", framework.JSON(ext.Status))
		}
		time.Sleep(200 * time.Millisecond)
	}
	c := condition(ext, konnectv1alpha2.ConditionDataPlaneCertificateProvisioned)
	t.Logf("during the outage: %s; DataPlaneCertificateProvisioned: %s", conditionSummary(ext), c.Message)
	if c.Status != metav1.ConditionUnknown || c.Reason != konnectv1alpha2.ReasonKonnectAPIOpFailed {
		t.Errorf("DataPlaneCertificateProvisioned during the outage = %s/%s, want Unknown/KonnectAPIOpFailed", c.Status, c.Reason)
	}
	if strings.Contains(c.Message, token) {
		t.Errorf("the condition holds the token")
	}
	kubectlTable(t, ns)
	if n := count("POST", certPath(cpID), 200, 299); n != 0 || len(env.Konnect.Certificates(cpID)) != 0 {
		t.Fatalf("registered during the outage: %d POSTs", n)
	}

	env.Konnect.SetTokenBehavior(token, fakekonnect.BehaviorNormal)
	ext = waitReady(t, ns, extName)
	kubectlTable(t, ns)
	if n := count("POST", certPath(cpID), 200, 299); n != 1 || len(env.Konnect.Certificates(cpID)) != 1 {
		t.Errorf("after the outage: %d successful POSTs, %d certificates; want 1 and 1", n, len(env.Konnect.Certificates(cpID)))
	}

	// Down while Ready: every certificate call fails for several sync periods.
	refusedBefore := count("", certPath(cpID), 503, 503)
	env.Konnect.SetTokenBehavior(token, outage)
	deadline = time.Now().Add(3*syncPeriod + syncPeriod/2)
	for time.Now().Before(deadline) {
		ext = getExtension(t, ns, extName)
		for _, typ := range []string{konnectv1alpha2.ConditionReady, konnectv1alpha2.ConditionDataPlaneCertificateProvisioned} {
			if c := condition(ext, typ); c.Status != metav1.ConditionTrue {
				t.Fatalf("%s turned %s/%s while Konnect was down: %s", typ, c.Status, c.Reason, c.Message)
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	refused := count("", certPath(cpID), 503, 503) - refusedBefore
	t.Logf("while Ready, Konnect refused %d certificate calls over %v; %s", refused, 3*syncPeriod+syncPeriod/2, conditionSummary(ext))
	if refused < 1 {
		t.Errorf("no certificate call reached the outage while Ready: the re-sync did not check Konnect, so this proved nothing")
	}
	kubectlTable(t, ns)
	env.Konnect.SetTokenBehavior(token, fakekonnect.BehaviorNormal)
	waitFor(t, "a successful LIST after the outage", func() (bool, string) {
		reqs := env.Konnect.RequestsMatching("GET", certPath(cpID))
		return len(reqs) > 0 && reqs[len(reqs)-1].Status == 200, ""
	})
	if n := count("POST", certPath(cpID), 200, 299); n != 1 {
		t.Errorf("%d successful POSTs in all, want 1", n)
	}
	if ext = getExtension(t, ns, extName); condition(ext, konnectv1alpha2.ConditionReady).Status != metav1.ConditionTrue {
		t.Errorf("not Ready after the outage: %s", conditionSummary(ext))
	}
	framework.CheckNoTokenInNamespace(t, cp, ns, "konnectextensions,konnectgatewaycontrolplanes", env.IssuedTokens())
}

// TestControlPlaneNotProgrammed: an extension naming a missing control plane is
// ControlPlaneRefValid False/Invalid; one whose control plane cannot be Programmed (its auth
// configuration's token is refused) is False/NotProgrammed; both Ready False; fixing the token
// makes it Ready.
func TestControlPlaneNotProgrammed(t *testing.T) {
	ns := controlplane.NewNamespace(t, cp)
	framework.Apply(t, cp, automaticExtensionYAML(ns, extName, cpName))
	ext := waitCondition(t, ns, extName, konnectv1alpha2.ConditionControlPlaneRefValid, metav1.ConditionFalse, konnectv1alpha2.ReasonInvalid)
	c := condition(ext, konnectv1alpha2.ConditionControlPlaneRefValid)
	t.Logf("control plane missing: %s; ControlPlaneRefValid: %s", conditionSummary(ext), c.Message)
	if !strings.Contains(c.Message, cpName) {
		t.Errorf("message %q does not name the control plane", c.Message)
	}
	if r := condition(ext, konnectv1alpha2.ConditionReady); r.Status != metav1.ConditionFalse {
		t.Errorf("Ready = %s, want False", framework.JSON(r))
	}
	if ext.Status.Konnect != nil {
		t.Errorf("status.konnect = %s without a control plane", framework.JSON(ext.Status.Konnect))
	}
	kubectlTable(t, ns)

	bad := env.UnregisteredToken()
	framework.Apply(t, cp, framework.TokenConfigYAML(ns, "konnect-api-auth", bad, "us.api.konghq.com"))
	framework.Apply(t, cp, controlPlaneYAML(ns, cpName, "konnect-api-auth"))
	// The control plane's own verdict first (its token is refused), then the extension's.
	var programmed metav1.Condition
	waitFor(t, "the control plane Programmed False because of its auth configuration", func() (bool, string) {
		c, err := client.KonnectV1alpha2().KonnectGatewayControlPlanes(ns).Get(context.Background(), cpName, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		if p := meta.FindStatusCondition(c.Status.Conditions, konnectv1alpha2.ConditionProgrammed); p != nil {
			programmed = *p
		}
		return programmed.Status == metav1.ConditionFalse && programmed.Reason == konnectv1alpha2.ReasonConditionWithStatusFalseExists, framework.JSON(c.Status)
	})
	waitFor(t, "ControlPlaneRefValid False/NotProgrammed with the control plane's reason", func() (bool, string) {
		ext = getExtension(t, ns, extName)
		c = condition(ext, konnectv1alpha2.ConditionControlPlaneRefValid)
		return c.Status == metav1.ConditionFalse && c.Reason == konnectv1alpha2.ReasonNotProgrammed && strings.Contains(c.Message, programmed.Message), framework.JSON(c)
	})
	t.Logf("control plane not Programmed: %s; ControlPlaneRefValid: %s", conditionSummary(ext), c.Message)
	t.Logf("$ kubectl get konnectgatewaycontrolplane -n %s\n%s", ns, framework.KubectlOutput(t, cp, "get", "konnectgatewaycontrolplane", "-n", ns))
	if r := condition(ext, konnectv1alpha2.ConditionReady); r.Status != metav1.ConditionFalse {
		t.Errorf("Ready = %s, want False", framework.JSON(r))
	}
	if strings.Contains(framework.JSON(ext.Status), bad) {
		t.Errorf("the status holds the token")
	}
	kubectlTable(t, ns)

	good := env.NewToken(t)
	framework.KubectlOutput(t, cp, "patch", "konnectapiauthconfiguration", "konnect-api-auth", "-n", ns, "--type=merge", "-p", `{"spec":{"token":"`+good+`"}}`)
	ctlPlane := waitProgrammed(t, ns, cpName)
	ext = waitReady(t, ns, extName)
	kubectlTable(t, ns)
	if ext.Status.Konnect == nil || ext.Status.Konnect.ControlPlaneID != ctlPlane.Status.ID {
		t.Errorf("status.konnect = %s, want control plane %s", framework.JSON(ext.Status.Konnect), ctlPlane.Status.ID)
	}
	if n := len(env.Konnect.Certificates(ctlPlane.Status.ID)); n != 1 {
		t.Errorf("the fake holds %d certificates, want 1", n)
	}
	framework.CheckNoTokenInNamespace(t, cp, ns, "konnectextensions,konnectgatewaycontrolplanes", env.IssuedTokens())
}

// TestDeleteExtension: deleting a Ready extension removes its certificate from Konnect (one
// DELETE) and the garbage collector removes its generated Secret.
func TestDeleteExtension(t *testing.T) {
	ns := controlplane.NewNamespace(t, cp)
	_, ctlPlane := connected(t, ns)
	cpID := ctlPlane.Status.ID
	framework.Apply(t, cp, automaticExtensionYAML(ns, extName, cpName))
	waitReady(t, ns, extName)
	secretName := extName + "-client-tls"
	framework.KubectlOutput(t, cp, "get", "secret", secretName, "-n", ns)
	if n := len(env.Konnect.Certificates(cpID)); n != 1 {
		t.Fatalf("the fake holds %d certificates before the deletion, want 1", n)
	}

	waitForGarbageCollector(t)
	// Konnect refuses the DELETE at first (503): the extension stays Terminating with its
	// finalizer, and its certificate stays in Konnect, until Konnect answers again.
	token := tokenOf(t, ns)
	env.Konnect.SetTokenBehavior(token, fakekonnect.Behavior{Mode: fakekonnect.ModeServerError, Path: certPath("*") + "/*"})
	defer env.Konnect.SetTokenBehavior(token, fakekonnect.BehaviorNormal)
	out := framework.KubectlOutput(t, cp, "delete", "konnectextension", extName, "-n", ns, "--wait=false")
	t.Logf("$ kubectl delete konnectextension %s -n %s --wait=false\n%s", extName, ns, out)
	waitFor(t, "a DELETE refused by Konnect", func() (bool, string) { return count("DELETE", certPath(cpID)+"/*", 503, 503) >= 2, "" })
	ext := getExtension(t, ns, extName)
	if ext.DeletionTimestamp == nil || !slices.Contains(ext.Finalizers, konnectv1alpha2.KonnectCleanupFinalizer) || len(env.Konnect.Certificates(cpID)) != 1 {
		t.Fatalf("with Konnect refusing the DELETE: deletionTimestamp %v, finalizers %v, %d certificates in Konnect; want Terminating, the finalizer kept, the certificate kept",
			ext.DeletionTimestamp, ext.Finalizers, len(env.Konnect.Certificates(cpID)))
	}
	t.Logf("while Konnect refuses the DELETE (%d refused): $ kubectl get konnectextension %s -n %s -o jsonpath='{.metadata.deletionTimestamp} {.metadata.finalizers}'\n%s",
		count("DELETE", certPath(cpID)+"/*", 503, 503), extName, ns,
		framework.KubectlOutput(t, cp, "get", "konnectextension", extName, "-n", ns, "-o", "jsonpath={.metadata.deletionTimestamp} {.metadata.finalizers}"))
	env.Konnect.SetTokenBehavior(token, fakekonnect.BehaviorNormal)
	start := time.Now()
	waitFor(t, "the certificate removed from Konnect", func() (bool, string) {
		return len(env.Konnect.Certificates(cpID)) == 0, strings.Join(certIDs(cpID), ",")
	})
	waitFor(t, "the extension gone", func() (bool, string) {
		_, stderr, err := framework.Kubectl(cp, "", "get", "konnectextension", extName, "-n", ns)
		return err != nil && strings.Contains(stderr, "NotFound"), stderr
	})
	t.Logf("Konnect back: certificate removed and extension gone after %v", time.Since(start).Round(100*time.Millisecond))
	if n := count("DELETE", certPath(cpID)+"/*", 200, 299); n != 1 {
		t.Errorf("%d successful DELETEs of the certificate, want 1", n)
	}
	start = time.Now()
	waitFor(t, "the generated Secret garbage-collected", func() (bool, string) {
		_, stderr, err := framework.Kubectl(cp, "", "get", "secret", secretName, "-n", ns)
		return err != nil && strings.Contains(stderr, "NotFound"), stderr
	})
	t.Logf("the garbage collector removed the Secret %v after the extension went", time.Since(start).Round(100*time.Millisecond))
	t.Logf("$ kubectl get secret %s -n %s\n%s", secretName, ns, func() string { _, e, _ := framework.Kubectl(cp, "", "get", "secret", secretName, "-n", ns); return e }())
	// The control plane itself stays in Konnect.
	if len(env.Konnect.ControlPlanes(tokenOf(t, ns), region)) != 1 {
		t.Errorf("the control plane went with the extension")
	}
}

// TestZNoTokenInLog (run last): the controller's log at -v=5, every Event and every status in
// the cluster hold none of the tokens the tests used. The log is checked to really be at -v=5
// and to have seen the extensions, so that an empty log cannot pass.
func TestZNoTokenInLog(t *testing.T) {
	framework.Eventually(t, framework.VerdictTimeout, func() (problems []string) {
		for _, want := range []string{"Started syncing", "Registered the data-plane certificate", "konnectExtension"} {
			if !strings.Contains(ctrl.Log(), want) {
				problems = append(problems, fmt.Sprintf("the controller's log lacks %q: is it at -v=5?", want))
			}
		}
		return problems
	})
	log := ctrl.Log()
	if found := framework.ContainsAny([]byte(log), env.IssuedTokens()...); len(found) > 0 {
		t.Errorf("the controller's log contains tokens: %v", found)
	}
	events := framework.KubectlOutput(t, cp, "get", "events", "-A", "-o", "yaml")
	statuses := framework.KubectlOutput(t, cp, "get", "konnectextensions,konnectgatewaycontrolplanes,konnectapiauthconfigurations", "-A", "-o", "jsonpath={.items[*].status}")
	if found := framework.ContainsAny([]byte(events+statuses), env.IssuedTokens()...); len(found) > 0 {
		t.Errorf("Events or statuses contain tokens: %v", found)
	}
	n := strings.Count(events, "involvedObject:")
	t.Logf("checked %d tokens against %d log lines, %d Events and every status", len(env.IssuedTokens()), strings.Count(log, "\n"), n)
	if !strings.Contains(events, "CertificateRegistered") {
		t.Errorf("no CertificateRegistered Event: the Events checked are not the extensions'")
	}
}

// createManualSecret makes the Manual Secret as a user does: kubectl create secret tls, then the
// labels the controller reads it by.
func createManualSecret(t *testing.T, ns, certFile, keyFile string) {
	t.Helper()
	framework.KubectlOutput(t, cp, "create", "secret", "tls", manualName, "-n", ns, "--cert="+certFile, "--key="+keyFile)
	framework.KubectlOutput(t, cp, "label", "secret", manualName, "-n", ns, dpCertLabel+"=true", "konghq.com/secret=true")
}
