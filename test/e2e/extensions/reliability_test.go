package extensions_test

// The scenarios of issue 18 (reliability) that need extensions or namespace deletion, end to
// end: a namespace deleted while Konnect is down, the certificate of an extension whose control
// plane is gone or not Programmed, answers Konnect spoils or refuses, and a Manual certificate two
// extensions share. Each one failed before the fixes of issue 18.
//
// Every test has a Konnect organization of its own (control-plane names are unique per
// organization, and the fake's behaviours are set per token).

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	konnectv1alpha1 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha1"
	konnectv1alpha2 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha2"
	"github.com/konnect-auth-controller/konnect-auth-controller/test/controlplane"
	"github.com/konnect-auth-controller/konnect-auth-controller/test/e2e/framework"
	"github.com/konnect-auth-controller/konnect-auth-controller/test/fakekonnect"
)

const (
	// authName is the guide's auth configuration.
	authName = "konnect-api-auth"
	// certificateAnnotation records an extension's registration: "<cp id>/<cert id>/<sha256>".
	certificateAnnotation = "konnect.konghq.com/dp-certificate"
	// namespaceRecheck is how long kube-controller-manager's namespace controller waits before it
	// looks at a terminating namespace again while content with finalizers remains in it (its
	// finalizerEstimateSeconds, 15, halved plus one): the namespace goes at most this long after
	// the last of that content.
	namespaceRecheck = 8 * time.Second
)

// ownConnected is connected with a token of a Konnect organization of the test's own.
func ownConnected(t *testing.T, ns string) (string, *konnectv1alpha2.KonnectGatewayControlPlane) {
	t.Helper()
	token := env.NewTokenFor(t, framework.NewUUID())
	framework.Apply(t, cp, framework.TokenConfigYAML(ns, authName, token, "us.api.konghq.com"))
	framework.Apply(t, cp, controlPlaneYAML(ns, cpName, authName))
	return token, waitProgrammed(t, ns, cpName)
}

// mirrorYAML is CONTROLPLANES.md's example 1b: a Mirror of the control plane id.
func mirrorYAML(ns, name, id, authRef string) string {
	return framework.ObjectYAML("konnect.konghq.com/v1alpha2", "KonnectGatewayControlPlane", ns, name, fmt.Sprintf(`  source: Mirror
  mirror:
    konnect:
      id: %q
  konnect:
    authRef:
      name: %s
`, id, authRef))
}

// addControlPlane makes a control plane named name in Konnect, in the organization of token, as
// a user does in Konnect's UI, and returns its id.
func addControlPlane(t *testing.T, token, name string) string {
	t.Helper()
	id, err := env.Konnect.AddControlPlane(token, region, fakekonnect.ControlPlaneSpec{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// mirroredExtension applies an auth configuration with token, a Mirror (cpName) of the control
// plane id and an Automatic extension (extName) on it, and returns the extension once Ready.
func mirroredExtension(t *testing.T, ns, token, id string) *konnectv1alpha2.KonnectExtension {
	t.Helper()
	framework.Apply(t, cp, framework.TokenConfigYAML(ns, authName, token, "us.api.konghq.com"))
	framework.Apply(t, cp, mirrorYAML(ns, cpName, id, authName))
	waitProgrammed(t, ns, cpName)
	framework.Apply(t, cp, automaticExtensionYAML(ns, extName, cpName))
	return waitReady(t, ns, extName)
}

// extensionGone waits until the extension is NotFound.
func extensionGone(t testing.TB, ns, name string) {
	t.Helper()
	waitFor(t, "extension "+ns+"/"+name+" gone", func() (bool, string) {
		e, err := client.KonnectV1alpha2().KonnectExtensions(ns).Get(context.Background(), name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, ""
		}
		if err != nil {
			return false, err.Error()
		}
		return false, fmt.Sprintf("finalizers %v; %s", e.Finalizers, framework.JSON(condition(e, konnectv1alpha2.ConditionReady)))
	})
}

// certificateRemoved waits until Konnect holds no certificate for cpID, saying on a timeout what
// the extension ns/name's Ready condition said.
func certificateRemoved(t testing.TB, ns, name, cpID string) {
	t.Helper()
	waitFor(t, "the certificate removed from control plane "+cpID, func() (bool, string) {
		if len(env.Konnect.Certificates(cpID)) == 0 {
			return true, ""
		}
		last := "the extension is gone"
		if e, err := client.KonnectV1alpha2().KonnectExtensions(ns).Get(context.Background(), name, metav1.GetOptions{}); err == nil {
			last = fmt.Sprintf("finalizers %v; Ready %s", e.Finalizers, framework.JSON(condition(e, konnectv1alpha2.ConditionReady)))
		}
		return false, fmt.Sprintf("Konnect holds %v; %s", certIDs(cpID), last)
	})
}

// TestReliabilityNamespaceDeletedDuringOutage (issue 18, scenario 1): a namespace holding a token
// Secret, a secretRef auth configuration and a control plane is deleted while Konnect answers 503
// for about 10 s. Nothing is released while the control plane cannot be deleted in Konnect, and
// the finalizers then release in dependency order (control plane → auth configuration → token
// Secret): the control plane is deleted in Konnect, and the namespace finishes within two sync
// periods of Konnect answering again (plus kube-controller-manager's own re-check of the
// namespace, which this controller does not drive).
func TestReliabilityNamespaceDeletedDuringOutage(t *testing.T) {
	const outage = 10 * time.Second
	ctx := context.Background()
	ns := controlplane.NewNamespace(t, cp)
	token := env.NewTokenFor(t, framework.NewUUID())
	framework.Apply(t, cp, framework.SecretYAML(ns, "konnect-token", framework.CredentialLabels, "token", token))
	framework.Apply(t, cp, framework.SecretRefConfigYAML(ns, authName, "konnect-token", "", "us.api.konghq.com"))
	framework.Apply(t, cp, controlPlaneYAML(ns, cpName, authName))
	id := waitProgrammed(t, ns, cpName).Status.ID
	framework.WaitForFinalizers(t, cp, ns, "konnect-token", `["`+konnectv1alpha1.SecretInUseFinalizer+`"]`)
	waitFor(t, "the auth configuration's in-use finalizer", func() (bool, string) {
		out := framework.KubectlOutput(t, cp, "get", "konnectapiauthconfiguration", authName, "-n", ns, "-o", "jsonpath={.metadata.finalizers}")
		return strings.Contains(out, konnectv1alpha2.APIAuthInUseFinalizer), out
	})
	framework.CheckNoTokenInNamespace(t, cp, ns, "konnectgatewaycontrolplanes,konnectapiauthconfigurations", []string{token})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the controller's log about %s, last lines:\n%s", ns, framework.Tail(framework.Grep(ctrl.Log(), ns), 60))
		}
	})

	// What of ours is left in the namespace, and in Konnect.
	inKonnect := func() bool {
		for _, c := range env.Konnect.ControlPlanes(token, region) {
			if c.ID == id {
				return true
			}
		}
		return false
	}
	left := func() []string {
		var out []string
		if _, err := client.KonnectV1alpha2().KonnectGatewayControlPlanes(ns).Get(ctx, cpName, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			out = append(out, "KonnectGatewayControlPlane")
		}
		if _, err := client.KonnectV1alpha1().KonnectAPIAuthConfigurations(ns).Get(ctx, authName, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			out = append(out, "KonnectAPIAuthConfiguration")
		}
		if _, err := kube.CoreV1().Secrets(ns).Get(ctx, "konnect-token", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			out = append(out, "Secret")
		}
		if inKonnect() {
			out = append(out, "the control plane in Konnect")
		}
		return out
	}
	namespaceGone := func() bool {
		_, err := kube.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	}

	env.Konnect.SetTokenBehavior(token, fakekonnect.Behavior{Mode: fakekonnect.ModeServerError})
	defer env.Konnect.SetTokenBehavior(token, fakekonnect.BehaviorNormal)
	out := framework.KubectlOutput(t, cp, "delete", "namespace", ns, "--wait=false")
	t.Logf("Konnect answers 503 for %v; $ kubectl delete namespace %s --wait=false\n%s", outage, ns, out)
	framework.Holds(t, outage, func() string {
		if namespaceGone() {
			return "the namespace went while its control plane could not be deleted in Konnect"
		}
		if !inKonnect() {
			return "the control plane went from Konnect during the outage"
		}
		return ""
	})
	refused := count("DELETE", "/v2/control-planes/"+id, 503, 503)
	t.Logf("after %v of outage: left %v; %d DELETEs refused; $ kubectl get konnectgatewaycontrolplane,konnectapiauthconfiguration,secret -n %s\n%s",
		outage, left(), refused, ns, framework.KubectlOutput(t, cp, "get", "konnectgatewaycontrolplane,konnectapiauthconfiguration,secret", "-n", ns))
	if refused < 1 {
		t.Errorf("no DELETE of the control plane reached Konnect during the outage")
	}

	env.Konnect.SetTokenBehavior(token, fakekonnect.BehaviorNormal)
	back := time.Now()
	// Polled up to a generous deadline (the controller's Konnect backoff reaches minutes) so that
	// a slow run says how slow; the bounds are checked on the times measured.
	var ours, whole time.Duration
	ctrl.WaitFor(t, 3*time.Minute, "nothing of ours left in the namespace or in Konnect", func() (bool, string) {
		l := left()
		return len(l) == 0, fmt.Sprintf("left %v", l)
	})
	ours = time.Since(back)
	framework.WaitFor(t, 60*time.Second, "the namespace gone", func() (bool, string) {
		return namespaceGone(), ""
	})
	whole = time.Since(back)
	t.Logf("after Konnect answered again: the control plane was deleted and every finalizer of ours released in %v; the namespace was gone in %v",
		ours.Round(100*time.Millisecond), whole.Round(100*time.Millisecond))
	if ours > 2*syncPeriod {
		t.Errorf("the controller took %v after Konnect answered again to delete the control plane and release its objects, want at most two sync periods (%v)",
			ours.Round(100*time.Millisecond), 2*syncPeriod)
	}
	if whole > 2*syncPeriod+namespaceRecheck {
		t.Errorf("the namespace took %v after Konnect answered again, want at most two sync periods and kube-controller-manager's re-check (%v)",
			whole.Round(100*time.Millisecond), 2*syncPeriod+namespaceRecheck)
	}
	if n := count("DELETE", "/v2/control-planes/"+id, 200, 299); n != 1 {
		t.Errorf("%d successful DELETEs of control plane %s, want 1", n, id)
	}
	if strings.Contains(ctrl.Log(), token) {
		t.Errorf("the controller's log contains the token")
	}
}

// TestReliabilityCertificateRemovedWithoutProgrammedControlPlane (issue 18, scenario 3): an
// Automatic extension's certificate is removed from Konnect when the extension is deleted after
// its control plane object (a Mirror) was deleted, and when its control plane is not Programmed;
// the extension uses the credentials it recorded.
func TestReliabilityCertificateRemovedWithoutProgrammedControlPlane(t *testing.T) {
	t.Run("mirror deleted first", func(t *testing.T) {
		ns := controlplane.NewNamespace(t, cp)
		token := env.NewTokenFor(t, framework.NewUUID())
		id := addControlPlane(t, token, "made-in-konnect")
		ext := mirroredExtension(t, ns, token, id)
		if k := ext.Status.Konnect; k == nil || k.AuthRef == nil || k.AuthRef.Name != authName || k.ControlPlaneID != id {
			t.Fatalf("status.konnect = %s, want control plane %s and authRef %s", framework.JSON(ext.Status.Konnect), id, authName)
		}
		certs := env.Konnect.Certificates(id)
		if len(certs) != 1 {
			t.Fatalf("Konnect holds %d certificates for %s, want 1", len(certs), id)
		}
		certID := certs[0].ID

		out := framework.KubectlOutput(t, cp, "delete", "konnectgatewaycontrolplane", cpName, "-n", ns)
		t.Logf("$ kubectl delete konnectgatewaycontrolplane %s -n %s\n%s", cpName, ns, out)
		// The extension has seen its control plane go.
		ext = waitCondition(t, ns, extName, konnectv1alpha2.ConditionControlPlaneRefValid, metav1.ConditionFalse, konnectv1alpha2.ReasonInvalid)
		t.Logf("with the Mirror gone: %s; status.konnect %s", conditionSummary(ext), framework.JSON(ext.Status.Konnect))
		out = framework.KubectlOutput(t, cp, "delete", "konnectextension", extName, "-n", ns, "--wait=false")
		t.Logf("$ kubectl delete konnectextension %s -n %s --wait=false\n%s", extName, ns, out)
		certificateRemoved(t, ns, extName, id)
		extensionGone(t, ns, extName)
		if n := count("DELETE", certPath(id)+"/"+certID, 200, 299); n != 1 {
			t.Errorf("%d successful DELETEs of certificate %s, want 1", n, certID)
		}
		if cps := env.Konnect.ControlPlanes(token, region); len(cps) != 1 || cps[0].ID != id {
			t.Errorf("Konnect holds %+v, want the mirrored control plane %s untouched", cps, id)
		}
		framework.CheckNoTokenInNamespace(t, cp, ns, "konnectextensions,konnectgatewaycontrolplanes,konnectapiauthconfigurations", []string{token})
	})

	t.Run("control plane not Programmed", func(t *testing.T) {
		ns := controlplane.NewNamespace(t, cp)
		token, ctlPlane := ownConnected(t, ns)
		cpID := ctlPlane.Status.ID
		framework.Apply(t, cp, automaticExtensionYAML(ns, extName, cpName))
		waitReady(t, ns, extName)
		certs := env.Konnect.Certificates(cpID)
		if len(certs) != 1 {
			t.Fatalf("Konnect holds %d certificates for %s, want 1", len(certs), cpID)
		}
		certID := certs[0].ID

		// Konnect refuses (403) to list the control planes, which the re-syncs read: it is no
		// longer Programmed, while the token still works for everything else.
		env.Konnect.SetTokenBehavior(token, fakekonnect.Behavior{Mode: fakekonnect.ModeForbidden, Scope: fakekonnect.ScopeReads, Path: "/v2/control-planes"})
		defer env.Konnect.SetTokenBehavior(token, fakekonnect.BehaviorNormal)
		waitFor(t, "the control plane not Programmed", func() (bool, string) {
			c, err := client.KonnectV1alpha2().KonnectGatewayControlPlanes(ns).Get(context.Background(), cpName, metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			p := meta.FindStatusCondition(c.Status.Conditions, konnectv1alpha2.ConditionProgrammed)
			return p != nil && p.Status == metav1.ConditionFalse, framework.JSON(p)
		})
		ext := waitCondition(t, ns, extName, konnectv1alpha2.ConditionControlPlaneRefValid, metav1.ConditionFalse, konnectv1alpha2.ReasonNotProgrammed)
		t.Logf("control plane not Programmed: %s", conditionSummary(ext))
		t.Logf("$ kubectl get konnectgatewaycontrolplane -n %s\n%s", ns, framework.KubectlOutput(t, cp, "get", "konnectgatewaycontrolplane", "-n", ns))

		out := framework.KubectlOutput(t, cp, "delete", "konnectextension", extName, "-n", ns, "--wait=false")
		t.Logf("$ kubectl delete konnectextension %s -n %s --wait=false\n%s", extName, ns, out)
		certificateRemoved(t, ns, extName, cpID)
		extensionGone(t, ns, extName)
		if n := count("DELETE", certPath(cpID)+"/"+certID, 200, 299); n != 1 {
			t.Errorf("%d successful DELETEs of certificate %s, want 1", n, certID)
		}
		framework.CheckNoTokenInNamespace(t, cp, ns, "konnectextensions,konnectgatewaycontrolplanes,konnectapiauthconfigurations", []string{token})
	})
}

// TestReliabilityUnusableAnswers (issue 18, scenario 8): a 2xx whose body cannot be used
// (badjson, wrongcontenttype, emptyok) on the control plane's GET during its re-syncs does not
// turn Programmed False, and the extension keeps status.konnect and stays Ready; when Konnect
// refuses an update of the control plane (400 for a label value it refuses, 409 for a name
// another control plane has), the control plane says FailedToUpdate, and its extension keeps
// the endpoints of the control plane, which still serves, and stays Ready.
func TestReliabilityUnusableAnswers(t *testing.T) {
	ns := controlplane.NewNamespace(t, cp)
	token, ctlPlane := ownConnected(t, ns)
	cpID := ctlPlane.Status.ID
	framework.Apply(t, cp, automaticExtensionYAML(ns, extName, cpName))
	endpoints := waitReady(t, ns, extName).Status.Konnect.Endpoints
	ctx := context.Background()

	programmedCond := func() *metav1.Condition {
		c, err := client.KonnectV1alpha2().KonnectGatewayControlPlanes(ns).Get(ctx, cpName, metav1.GetOptions{})
		if err != nil {
			return &metav1.Condition{Message: err.Error()}
		}
		return meta.FindStatusCondition(c.Status.Conditions, konnectv1alpha2.ConditionProgrammed)
	}
	// extensionKept reports what is wrong with the extension: not Ready, or status.konnect not
	// the control plane's id and endpoints.
	extensionKept := func() string {
		e := getExtension(t, ns, extName)
		if c := condition(e, konnectv1alpha2.ConditionReady); c.Status != metav1.ConditionTrue {
			return "the extension's Ready is " + framework.JSON(c)
		}
		if k := e.Status.Konnect; k == nil || k.ControlPlaneID != cpID || k.Endpoints != endpoints {
			return fmt.Sprintf("the extension's status.konnect is %s, want control plane %s with endpoints %s", framework.JSON(k), cpID, framework.JSON(endpoints))
		}
		return ""
	}
	steady := func() string {
		if p := programmedCond(); p == nil || p.Status != metav1.ConditionTrue {
			return "Programmed is " + framework.JSON(p)
		}
		return extensionKept()
	}
	waitSteady := func(t *testing.T) {
		t.Helper()
		waitFor(t, "Programmed True and the extension Ready with the control plane's endpoints", func() (bool, string) {
			p := steady()
			return p == "", p
		})
	}

	for _, mode := range []fakekonnect.Mode{fakekonnect.ModeBadJSON, fakekonnect.ModeWrongContentType, fakekonnect.ModeEmptyOK} {
		// The re-syncs read the account's listing (GET /v2/control-planes).
		t.Run("listing answered "+mode.String(), func(t *testing.T) {
			waitSteady(t)
			// The re-sync is back on its period: a listing answered 200 since the spoilt ones
			// of the last subtest, whose backoff would otherwise outlast this one's window.
			good := count("GET", "/v2/control-planes", 200, 299)
			waitFor(t, "a re-sync listing answered 200", func() (bool, string) {
				n := count("GET", "/v2/control-planes", 200, 299) - good
				return n > 0, fmt.Sprintf("%d listings answered 200", n)
			})
			before := count("GET", "/v2/control-planes", 0, 999)
			env.Konnect.SetTokenBehavior(token, fakekonnect.Behavior{Mode: mode, Scope: fakekonnect.ScopeReads, Path: "/v2/control-planes"})
			defer env.Konnect.SetTokenBehavior(token, fakekonnect.BehaviorNormal)
			framework.Holds(t, 3*syncPeriod, steady)
			spoilt := count("GET", "/v2/control-planes", 0, 999) - before
			t.Logf("%d re-sync listings answered %s over %v; Programmed %s", spoilt, mode, 3*syncPeriod, framework.JSON(programmedCond()))
			if spoilt < 1 {
				t.Errorf("no re-sync listing reached the spoilt answers: this proved nothing")
			}
		})
	}

	refused := func(t *testing.T, change, undo string, status int) {
		t.Helper()
		waitSteady(t)
		patches := count("PATCH", "/v2/control-planes/"+cpID, status, status)
		framework.KubectlOutput(t, cp, "patch", "konnectgatewaycontrolplane", cpName, "-n", ns, "--type=merge", "-p", change)
		defer func() {
			framework.KubectlOutput(t, cp, "patch", "konnectgatewaycontrolplane", cpName, "-n", ns, "--type=merge", "-p", undo)
			if !t.Failed() {
				waitSteady(t)
			}
		}()
		waitFor(t, "Programmed False/FailedToUpdate", func() (bool, string) {
			p := programmedCond()
			return p != nil && p.Status == metav1.ConditionFalse && p.Reason == konnectv1alpha2.ReasonFailedToUpdate, framework.JSON(p)
		})
		if n := count("PATCH", "/v2/control-planes/"+cpID, status, status) - patches; n < 1 {
			t.Fatalf("no PATCH was answered %d: the refusal was not exercised", status)
		}
		t.Logf("Programmed %s", framework.JSON(programmedCond()))
		framework.Holds(t, 3*syncPeriod, extensionKept)
		kubectlTable(t, ns)
	}
	t.Run("PATCH refused 400", func(t *testing.T) {
		// 32 characters, as admission counts them, and 64 bytes: more than the 63 Konnect takes.
		value := strings.Repeat("é", 32)
		refused(t, `{"spec":{"createControlPlaneRequest":{"labels":{"site":"`+value+`"}}}}`,
			`{"spec":{"createControlPlaneRequest":{"labels":null}}}`, 400)
	})
	t.Run("PATCH refused 409", func(t *testing.T) {
		if _, err := env.Konnect.AddControlPlane(token, region, fakekonnect.ControlPlaneSpec{Name: "taken"}); err != nil {
			t.Fatal(err)
		}
		refused(t, `{"spec":{"createControlPlaneRequest":{"name":"taken"}}}`,
			`{"spec":{"createControlPlaneRequest":{"name":"`+cpName+`"}}}`, 409)
	})
	framework.CheckNoTokenInNamespace(t, cp, ns, "konnectextensions,konnectgatewaycontrolplanes,konnectapiauthconfigurations", []string{token})
}

// TestReliabilitySharedManualCertificate (issue 18, scenario 9): two extensions on the same
// control plane name the same Manual Secret, so one certificate is registered for both. Deleting
// one leaves it registered, and the other Ready; deleting the second removes it from Konnect.
func TestReliabilitySharedManualCertificate(t *testing.T) {
	ns := controlplane.NewNamespace(t, cp)
	token, ctlPlane := ownConnected(t, ns)
	cpID := ctlPlane.Status.ID
	certFile, keyFile, der := selfSigned(t, "shared.example.com")
	createManualSecret(t, ns, certFile, keyFile)

	framework.Apply(t, cp, manualExtensionYAML(ns, "first", cpName, manualName))
	waitReady(t, ns, "first")
	if !holdsExactly(t, cpID, der) {
		t.Fatalf("Konnect holds %v for %s, want exactly the Manual certificate", certIDs(cpID), cpID)
	}
	certID := env.Konnect.Certificates(cpID)[0].ID
	framework.Apply(t, cp, manualExtensionYAML(ns, "second", cpName, manualName))
	waitReady(t, ns, "second")
	for _, name := range []string{"first", "second"} {
		if a := getExtension(t, ns, name).Annotations[certificateAnnotation]; !strings.HasPrefix(a, cpID+"/"+certID+"/") {
			t.Fatalf("extension %s's %s = %q, want the one registration %s/%s", name, certificateAnnotation, a, cpID, certID)
		}
	}
	if !holdsExactly(t, cpID, der) {
		t.Fatalf("Konnect holds %v for %s, want the one certificate", certIDs(cpID), cpID)
	}
	kubectlTable(t, ns)

	deletes := count("DELETE", certPath(cpID)+"/*", 0, 999)
	framework.KubectlOutput(t, cp, "delete", "konnectextension", "first", "-n", ns, "--wait=false")
	extensionGone(t, ns, "first")
	framework.Holds(t, 3*syncPeriod, func() string {
		if certs := env.Konnect.Certificates(cpID); len(certs) != 1 || certs[0].ID != certID {
			return fmt.Sprintf("Konnect holds %v, want the shared certificate %s still registered", certIDs(cpID), certID)
		}
		if n := count("DELETE", certPath(cpID)+"/*", 0, 999) - deletes; n != 0 {
			return fmt.Sprintf("%d DELETEs of a certificate the second extension still uses", n)
		}
		if c := condition(getExtension(t, ns, "second"), konnectv1alpha2.ConditionReady); c.Status != metav1.ConditionTrue {
			return "the second extension's Ready is " + framework.JSON(c)
		}
		return ""
	})
	kubectlTable(t, ns)

	framework.KubectlOutput(t, cp, "delete", "konnectextension", "second", "-n", ns, "--wait=false")
	certificateRemoved(t, ns, "second", cpID)
	extensionGone(t, ns, "second")
	if n := count("DELETE", certPath(cpID)+"/"+certID, 200, 299); n != 1 {
		t.Errorf("%d successful DELETEs of certificate %s, want 1", n, certID)
	}
	framework.CheckNoTokenInNamespace(t, cp, ns, "konnectextensions,konnectgatewaycontrolplanes,konnectapiauthconfigurations", []string{token})
}

// TestReliabilityMirrorPointedElsewhere: a Mirror whose spec.mirror.konnect.id a user changes
// (kubectl patch) now stands for another control plane: the extension's certificate is
// registered with the new one and removed from the old one, where it would otherwise still
// admit a data plane; the extension's status follows the new control plane.
func TestReliabilityMirrorPointedElsewhere(t *testing.T) {
	ns := controlplane.NewNamespace(t, cp)
	token := env.NewTokenFor(t, framework.NewUUID())
	first, second := addControlPlane(t, token, "first"), addControlPlane(t, token, "second")
	mirroredExtension(t, ns, token, first)
	if n := len(env.Konnect.Certificates(first)); n != 1 {
		t.Fatalf("Konnect holds %d certificates for %s, want 1", n, first)
	}

	out := framework.KubectlOutput(t, cp, "patch", "konnectgatewaycontrolplane", cpName, "-n", ns, "--type=merge",
		"-p", `{"spec":{"mirror":{"konnect":{"id":"`+second+`"}}}}`)
	t.Logf("$ kubectl patch konnectgatewaycontrolplane %s -n %s …\n%s", cpName, ns, out)
	waitFor(t, "the certificate registered with the second control plane, and the extension's status on it", func() (bool, string) {
		e := getExtension(t, ns, extName)
		k := e.Status.Konnect
		return len(env.Konnect.Certificates(second)) == 1 && k != nil && k.ControlPlaneID == second,
			fmt.Sprintf("second holds %v; status.konnect %s", certIDs(second), framework.JSON(k))
	})
	certificateRemoved(t, ns, extName, first)
	waitReady(t, ns, extName)
	kubectlTable(t, ns)
	framework.CheckNoTokenInNamespace(t, cp, ns, "konnectextensions,konnectgatewaycontrolplanes,konnectapiauthconfigurations", []string{token})
}
