// Package grants_test proves, end to end, the two behaviours users of Kong's operator 2.3 rely
// on: a configuration may take its token from a Secret in another namespace when a
// KongReferenceGrant there permits it (and only then), and a token Secret in use carries the
// finalizer gateway.konghq.com/secret-in-use-by-konnect-resource until its last user lets go.
//
// The built controller runs against a real kube-apiserver and etcd, with kube-controller-manager
// (namespace and garbage-collector controllers) so that namespace deletion is real, reaches the
// fake Konnect only through HTTPS_PROXY, and is driven with kubectl as a user types it.
//
// It needs bin/etcd, bin/kube-apiserver, bin/kubectl and bin/kube-controller-manager
// (`make tools`).
package grants_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilrand "k8s.io/apimachinery/pkg/util/rand"

	konnectv1alpha1 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha1"
	clientset "github.com/konnect-auth-controller/konnect-auth-controller/pkg/generated/clientset/versioned"
	"github.com/konnect-auth-controller/konnect-auth-controller/test/controlplane"
	"github.com/konnect-auth-controller/konnect-auth-controller/test/e2e/framework"
)

var (
	cp     *controlplane.ControlPlane
	env    *framework.Env
	ctrl   *framework.Controller
	client clientset.Interface
)

const (
	// settle is how long a test gives the controller to (wrongly) act on something that must
	// change nothing; each such wait is followed by a positive control that does change
	// something, so that a controller which never acts cannot pass.
	settle = 3 * time.Second

	finalizer = konnectv1alpha1.SecretInUseFinalizer
)

var suite = &framework.Suite{
	Name: "grants", ControlPlane: controlplane.Options{ControllerManager: true},
	CP: &cp, Env: &env, Client: &client, Controller: &ctrl,
	// -v=10 (capped at 5): the log is searched for tokens at the end.
	ControllerArgs: []string{"-v=10", "--konnect-timeout=2s"},
}

func TestMain(m *testing.M) { os.Exit(suite.RunTestMain(m)) }

// conditions returns the configuration's conditions by type.
func conditions(t testing.TB, ns, name string) map[string]metav1.Condition {
	t.Helper()
	cfg, err := client.KonnectV1alpha1().KonnectAPIAuthConfigurations(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return byType(cfg)
}

// byType returns the configuration's conditions by type.
func byType(cfg *konnectv1alpha1.KonnectAPIAuthConfiguration) map[string]metav1.Condition {
	out := map[string]metav1.Condition{}
	for _, c := range cfg.Status.Conditions {
		out[c.Type] = c
	}
	return out
}

// waitFor polls cond until it holds, failing after framework.VerdictTimeout with what it last
// said.
func waitFor(t testing.TB, what string, cond func() (bool, string)) {
	t.Helper()
	ctrl.WaitFor(t, framework.VerdictTimeout, what, cond)
}

// waitForVerdict waits until APIAuthValid has status and reason, and returns the conditions.
func waitForVerdict(t testing.TB, ns, name string, status metav1.ConditionStatus, reason string) map[string]metav1.Condition {
	t.Helper()
	return byType(framework.WaitForCondition(t, client, ns, name, status, reason, ctrl.Log))
}

// finalizers is what `kubectl get secret -o jsonpath='{.metadata.finalizers}'` prints.
func finalizers(t testing.TB, ns, name string) string {
	t.Helper()
	return framework.KubectlOutput(t, cp, "get", "secret", name, "-n", ns, "-o", "jsonpath={.metadata.finalizers}")
}

// inUse is what that jsonpath prints for a Secret carrying only the in-use finalizer.
var inUse = `["` + finalizer + `"]`

// waitGone waits until kubectl reports the object NotFound.
func waitGone(t testing.TB, args ...string) {
	t.Helper()
	waitFor(t, strings.Join(args, " ")+" NotFound", func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		out, stderr, err := cp.Kubectl(ctx, append([]string{"get"}, args...)...)
		return err != nil && strings.Contains(stderr, "NotFound"), out + stderr
	})
}

// conditionsYAML is the status.conditions as `kubectl get -o yaml` shows them, for the log.
func conditionsYAML(t testing.TB, ns, name string) string {
	t.Helper()
	out := framework.KubectlOutput(t, cp, "get", "konnectapiauthconfiguration", name, "-n", ns, "-o", "yaml")
	if i := strings.Index(out, "  conditions:"); i >= 0 {
		return out[i:]
	}
	return out
}

// TestGrantLifecycle: none → granted → revoked. Without a grant the configuration is
// RefNotPermitted on both conditions, with a message naming the grant that would permit it,
// the token never reaches Konnect and the Secret has no finalizer; a grant turns it Valid with
// ResolvedRefs True and the Secret in use; revoking the grant undoes both within seconds.
func TestGrantLifecycle(t *testing.T) {
	apps, vault, token := crossNamespace(t)

	conds := waitForVerdict(t, apps, "cross", metav1.ConditionFalse, konnectv1alpha1.ReasonRefNotPermitted)
	t.Logf("not permitted:\n%s", conditionsYAML(t, apps, "cross"))
	refs, ok := conds[konnectv1alpha1.ConditionResolvedRefs]
	if !ok || refs.Status != metav1.ConditionFalse || refs.Reason != konnectv1alpha1.ReasonRefNotPermitted {
		t.Errorf("ResolvedRefs = %s, want False/RefNotPermitted", framework.JSON(refs))
	}
	for _, want := range []string{"namespace \"" + vault + "\"", "group: konnect.konghq.com, kind: KonnectAPIAuthConfiguration, namespace: " + apps,
		"group: core, kind: Secret, name: konnect-token"} {
		if !strings.Contains(refs.Message, want) || !strings.Contains(conds[konnectv1alpha1.ConditionAPIAuthValid].Message, want) {
			t.Errorf("messages %q / %q do not say %q", refs.Message, conds[konnectv1alpha1.ConditionAPIAuthValid].Message, want)
		}
	}
	time.Sleep(settle)
	if n := env.Konnect.CallsFor(token); n != 0 {
		t.Fatalf("the cross-namespace token reached Konnect %d times without a grant", n)
	}
	if got := finalizers(t, vault, "konnect-token"); got != "" {
		t.Errorf("Secret not permitted to anyone carries finalizers %s", got)
	}

	t.Logf("$ kubectl get secret konnect-token -n %s -o jsonpath='{.metadata.finalizers}'\n%s", vault, finalizers(t, vault, "konnect-token"))
	framework.Apply(t, cp, framework.GrantYAML(vault, "allow-apps", framework.SecretGrant(apps, "konnect-token")))
	conds = waitForVerdict(t, apps, "cross", metav1.ConditionTrue, konnectv1alpha1.ReasonValid)
	t.Logf("granted:\n%s", conditionsYAML(t, apps, "cross"))
	if msg := conds[konnectv1alpha1.ConditionAPIAuthValid].Message; msg != "Token from Secret "+vault+"/konnect-token is valid" {
		t.Errorf("APIAuthValid message = %q", msg)
	}
	refs = conds[konnectv1alpha1.ConditionResolvedRefs]
	if refs.Status != metav1.ConditionTrue || refs.Reason != konnectv1alpha1.ReasonResolvedRefs || !strings.Contains(refs.Message, vault+"/allow-apps") {
		t.Errorf("ResolvedRefs = %s, want True/ResolvedRefs naming the grant", framework.JSON(refs))
	}
	if env.Konnect.CallsFor(token) == 0 {
		t.Errorf("Valid without a call to Konnect")
	}
	framework.WaitForFinalizers(t, cp, vault, "konnect-token", inUse)
	t.Logf("$ kubectl get secret konnect-token -n %s -o jsonpath='{.metadata.finalizers}'\n%s", vault, finalizers(t, vault, "konnect-token"))
	out := framework.KubectlOutput(t, cp, "get", "kongreferencegrant", "-n", vault)
	t.Logf("$ kubectl get kongreferencegrant -n %s\n%s", vault, out)
	if !strings.Contains(out, "allow-apps") {
		t.Errorf("kubectl get kongreferencegrant does not list the grant:\n%s", out)
	}

	framework.KubectlOutput(t, cp, "delete", "kongreferencegrant", "allow-apps", "-n", vault)
	conds = waitForVerdict(t, apps, "cross", metav1.ConditionFalse, konnectv1alpha1.ReasonRefNotPermitted)
	if refs := conds[konnectv1alpha1.ConditionResolvedRefs]; refs.Status != metav1.ConditionFalse {
		t.Errorf("ResolvedRefs after revocation = %s", framework.JSON(refs))
	}
	framework.WaitForFinalizers(t, cp, vault, "konnect-token", "")
	if cfg, err := client.KonnectV1alpha1().KonnectAPIAuthConfigurations(apps).Get(t.Context(), "cross", metav1.GetOptions{}); err != nil || cfg.Status.OrganizationID != "" {
		t.Errorf("organizationID after revocation = %q (%v), want it cleared", cfg.Status.OrganizationID, err)
	}

	// A grant for every Secret of the namespace (no name) permits it too.
	framework.Apply(t, cp, framework.GrantYAML(vault, "allow-apps-all", framework.SecretGrant(apps, "")))
	waitForVerdict(t, apps, "cross", metav1.ConditionTrue, konnectv1alpha1.ReasonValid)
	framework.WaitForFinalizers(t, cp, vault, "konnect-token", inUse)
}

// TestNonMatchingGrants: a grant for another kind, another namespace, another Secret name, or
// placed in the configuration's namespace instead of the Secret's, permits nothing, and the
// token never reaches Konnect. The last step, the right grant, is the control that shows the
// controller does act on grants.
func TestNonMatchingGrants(t *testing.T) {
	apps, vault, token := crossNamespace(t)
	waitForVerdict(t, apps, "cross", metav1.ConditionFalse, konnectv1alpha1.ReasonRefNotPermitted)

	for _, tc := range []struct {
		name string
		ns   string // where the grant is
		g    framework.Grant
	}{
		{"other from kind", vault, framework.Grant{FromGroup: "konnect.konghq.com", FromKind: "KonnectGatewayControlPlane", FromNamespace: apps, ToGroup: "core", ToKind: "Secret", ToName: "konnect-token"}},
		{"other from group", vault, framework.Grant{FromGroup: "configuration.konghq.com", FromKind: "KongService", FromNamespace: apps, ToGroup: "core", ToKind: "Secret", ToName: "konnect-token"}},
		{"other from namespace", vault, framework.SecretGrant("default", "konnect-token")},
		{"other Secret name", vault, framework.SecretGrant(apps, "another-secret")},
		{"other to kind", vault, framework.Grant{FromGroup: "konnect.konghq.com", FromKind: "KonnectAPIAuthConfiguration", FromNamespace: apps, ToGroup: "konnect.konghq.com", ToKind: "KonnectAPIAuthConfiguration"}},
		{"in the configuration's namespace", apps, framework.SecretGrant(apps, "konnect-token")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			framework.Apply(t, cp, framework.GrantYAML(tc.ns, "not-this-one", tc.g))
			defer framework.KubectlOutput(t, cp, "delete", "kongreferencegrant", "not-this-one", "-n", tc.ns)
			time.Sleep(settle)
			conds := conditions(t, apps, "cross")
			if c := conds[konnectv1alpha1.ConditionAPIAuthValid]; c.Reason != konnectv1alpha1.ReasonRefNotPermitted {
				t.Errorf("with a grant %s: APIAuthValid %s", framework.JSON(tc.g), framework.JSON(c))
			}
			if c := conds[konnectv1alpha1.ConditionResolvedRefs]; c.Status != metav1.ConditionFalse {
				t.Errorf("with a grant %s: ResolvedRefs %s", framework.JSON(tc.g), framework.JSON(c))
			}
			if got := finalizers(t, vault, "konnect-token"); got != "" {
				t.Errorf("with a grant %s the Secret got finalizers %s", framework.JSON(tc.g), got)
			}
		})
	}
	if n := env.Konnect.CallsFor(token); n != 0 {
		t.Fatalf("the cross-namespace token reached Konnect %d times without a matching grant", n)
	}

	framework.Apply(t, cp, framework.GrantYAML(vault, "this-one", framework.SecretGrant(apps, "konnect-token")))
	waitForVerdict(t, apps, "cross", metav1.ConditionTrue, konnectv1alpha1.ReasonValid)
}

// TestSameNamespace: a configuration whose Secret is in its own namespace (secretRef.namespace
// empty or equal) has no ResolvedRefs condition at all, and its Secret carries the finalizer.
func TestSameNamespace(t *testing.T) {
	ns := controlplane.NewNamespace(t, cp)
	token := env.NewToken(t)
	framework.Apply(t, cp, framework.SecretYAML(ns, "konnect-api-auth-secret", framework.CredentialLabels, "token", token))
	t.Logf("$ kubectl get secret konnect-api-auth-secret -n %s -o jsonpath='{.metadata.finalizers}'\n%s", ns, finalizers(t, ns, "konnect-api-auth-secret"))
	framework.Apply(t, cp, framework.SecretRefConfigYAML(ns, "local", "konnect-api-auth-secret", "", "us.api.konghq.com"))
	framework.Apply(t, cp, framework.SecretRefConfigYAML(ns, "local-explicit", "konnect-api-auth-secret", ns, "us.api.konghq.com"))
	for _, name := range []string{"local", "local-explicit"} {
		conds := waitForVerdict(t, ns, name, metav1.ConditionTrue, konnectv1alpha1.ReasonValid)
		if c, ok := conds[konnectv1alpha1.ConditionResolvedRefs]; ok {
			t.Errorf("%s: same-namespace reference has a ResolvedRefs condition: %s", name, framework.JSON(c))
		}
	}
	t.Logf("same namespace:\n%s", conditionsYAML(t, ns, "local"))
	framework.WaitForFinalizers(t, cp, ns, "konnect-api-auth-secret", inUse)
	t.Logf("$ kubectl get secret konnect-api-auth-secret -n %s -o jsonpath='{.metadata.finalizers}'\n%s", ns, finalizers(t, ns, "konnect-api-auth-secret"))

	// Two users: one leaving keeps the finalizer, the last one leaving removes it.
	framework.KubectlOutput(t, cp, "delete", "konnectapiauthconfiguration", "local-explicit", "-n", ns)
	time.Sleep(settle)
	if got := finalizers(t, ns, "konnect-api-auth-secret"); got != inUse {
		t.Errorf("with one user left, finalizers = %s", got)
	}
	framework.KubectlOutput(t, cp, "delete", "konnectapiauthconfiguration", "local", "-n", ns)
	framework.WaitForFinalizers(t, cp, ns, "konnect-api-auth-secret", "")
	t.Logf("after the last configuration was deleted: $ kubectl get secret konnect-api-auth-secret -n %s -o jsonpath='{.metadata.finalizers}'\n%s", ns, finalizers(t, ns, "konnect-api-auth-secret"))
}

// TestFinalizerFollowsTheReference: the finalizer moves with secretRef, goes when the type
// changes to token, and never displaces another controller's finalizer.
func TestFinalizerFollowsTheReference(t *testing.T) {
	ns := controlplane.NewNamespace(t, cp)
	first, second := env.NewToken(t), env.NewToken(t)
	framework.Apply(t, cp, framework.SecretYAML(ns, "first", framework.CredentialLabels, "token", first))
	framework.Apply(t, cp, framework.SecretYAML(ns, "second", framework.CredentialLabels, "token", second))
	// Someone else's finalizer on the second Secret must survive ours coming and going.
	framework.KubectlOutput(t, cp, "patch", "secret", "second", "-n", ns, "--type=merge", "-p", `{"metadata":{"finalizers":["example.com/keep"]}}`)
	defer framework.KubectlOutput(t, cp, "patch", "secret", "second", "-n", ns, "--type=merge", "-p", `{"metadata":{"finalizers":null}}`)

	framework.Apply(t, cp, framework.SecretRefConfigYAML(ns, "mover", "first", "", "us.api.konghq.com"))
	waitForVerdict(t, ns, "mover", metav1.ConditionTrue, konnectv1alpha1.ReasonValid)
	framework.WaitForFinalizers(t, cp, ns, "first", inUse)
	if got := finalizers(t, ns, "second"); got != `["example.com/keep"]` {
		t.Errorf("second Secret's finalizers = %s", got)
	}

	framework.Apply(t, cp, framework.SecretRefConfigYAML(ns, "mover", "second", "", "us.api.konghq.com"))
	framework.WaitForFinalizers(t, cp, ns, "second", `["example.com/keep","`+finalizer+`"]`)
	framework.WaitForFinalizers(t, cp, ns, "first", "")
	if before := env.Konnect.CallsFor(second); before == 0 {
		waitFor(t, "the second token checked", func() (bool, string) { return env.Konnect.CallsFor(second) > 0, "" })
	}

	framework.KubectlOutput(t, cp, "patch", "konnectapiauthconfiguration", "mover", "-n", ns, "--type=merge", "-p",
		`{"spec":{"type":"token","token":"`+env.NewToken(t)+`","secretRef":null}}`)
	waitForVerdict(t, ns, "mover", metav1.ConditionTrue, konnectv1alpha1.ReasonValid)
	framework.WaitForFinalizers(t, cp, ns, "second", `["example.com/keep"]`)
	if got := finalizers(t, ns, "first"); got != "" {
		t.Errorf("first Secret's finalizers = %s", got)
	}
	// The Secret's data was never touched.
	if got := framework.KubectlOutput(t, cp, "get", "secret", "second", "-n", ns, "-o", "jsonpath={.data.token}"); got == "" {
		t.Errorf("the Secret lost its token")
	}
}

// TestDeleteSecretInUse: `kubectl delete secret --wait=false` of a Secret in use leaves it
// Terminating, and the configuration keeps its verdict; deleting the configuration lets the
// Secret go.
func TestDeleteSecretInUse(t *testing.T) {
	ns := controlplane.NewNamespace(t, cp)
	framework.Apply(t, cp, framework.SecretYAML(ns, "in-use", framework.CredentialLabels, "token", env.NewToken(t)))
	framework.Apply(t, cp, framework.SecretRefConfigYAML(ns, "user", "in-use", "", "us.api.konghq.com"))
	waitForVerdict(t, ns, "user", metav1.ConditionTrue, konnectv1alpha1.ReasonValid)
	framework.WaitForFinalizers(t, cp, ns, "in-use", inUse)

	out := framework.KubectlOutput(t, cp, "delete", "secret", "in-use", "-n", ns, "--wait=false")
	t.Logf("$ kubectl delete secret in-use -n %s --wait=false\n%s", ns, out)
	time.Sleep(settle)
	if ts := framework.KubectlOutput(t, cp, "get", "secret", "in-use", "-n", ns, "-o", "jsonpath={.metadata.deletionTimestamp}"); ts == "" {
		t.Fatalf("the Secret in use is not Terminating")
	}
	if got := finalizers(t, ns, "in-use"); got != inUse {
		t.Errorf("Terminating Secret's finalizers = %s", got)
	}
	conds := conditions(t, ns, "user")
	if c := conds[konnectv1alpha1.ConditionAPIAuthValid]; c.Status != metav1.ConditionTrue || c.Reason != konnectv1alpha1.ReasonValid {
		t.Errorf("verdict while the Secret is Terminating = %s, want it kept", framework.JSON(c))
	}

	framework.KubectlOutput(t, cp, "delete", "konnectapiauthconfiguration", "user", "-n", ns)
	waitGone(t, "secret", "in-use", "-n", ns)
}

// TestDeleteNamespace: `kubectl delete namespace` completes for a namespace holding a
// configuration and the Secret it uses, and for a namespace holding a Secret that a
// configuration elsewhere uses through a grant.
func TestDeleteNamespace(t *testing.T) {
	both := "both-" + utilrand.String(6)
	framework.KubectlOutput(t, cp, "create", "namespace", both)
	framework.Apply(t, cp, framework.SecretYAML(both, "konnect-token", framework.CredentialLabels, "token", env.NewToken(t)))
	framework.Apply(t, cp, framework.SecretRefConfigYAML(both, "user", "konnect-token", "", "us.api.konghq.com"))
	waitForVerdict(t, both, "user", metav1.ConditionTrue, konnectv1alpha1.ReasonValid)
	framework.WaitForFinalizers(t, cp, both, "konnect-token", inUse)
	start := time.Now()
	out := framework.KubectlOutput(t, cp, "delete", "namespace", both, "--timeout=60s")
	t.Logf("$ kubectl delete namespace %s\n%s(%v)", both, out, time.Since(start).Round(time.Millisecond))
	waitGone(t, "namespace", both)

	apps := controlplane.NewNamespace(t, cp)
	vault := "vault-" + utilrand.String(6)
	framework.KubectlOutput(t, cp, "create", "namespace", vault)
	framework.Apply(t, cp, framework.SecretYAML(vault, "konnect-token", framework.CredentialLabels, "token", env.NewToken(t)))
	framework.Apply(t, cp, framework.GrantYAML(vault, "allow-apps", framework.SecretGrant(apps, "konnect-token")))
	framework.Apply(t, cp, framework.SecretRefConfigYAML(apps, "cross", "konnect-token", vault, "us.api.konghq.com"))
	waitForVerdict(t, apps, "cross", metav1.ConditionTrue, konnectv1alpha1.ReasonValid)
	framework.WaitForFinalizers(t, cp, vault, "konnect-token", inUse)
	start = time.Now()
	out = framework.KubectlOutput(t, cp, "delete", "namespace", vault, "--timeout=60s")
	t.Logf("$ kubectl delete namespace %s\n%s(%v)", vault, out, time.Since(start).Round(time.Millisecond))
	waitGone(t, "namespace", vault)
	waitForVerdict(t, apps, "cross", metav1.ConditionFalse, konnectv1alpha1.ReasonRefNotPermitted)
}

// TestFinalizerLeftWhileControllerDown: a configuration deleted while no controller runs
// leaves its Secret's finalizer behind; the next controller removes it once its caches synced,
// and keeps the finalizer of a Secret still in use.
func TestFinalizerLeftWhileControllerDown(t *testing.T) {
	ns := controlplane.NewNamespace(t, cp)
	framework.Apply(t, cp, framework.SecretYAML(ns, "orphaned", framework.CredentialLabels, "token", env.NewToken(t)))
	framework.Apply(t, cp, framework.SecretYAML(ns, "still-used", framework.CredentialLabels, "token", env.NewToken(t)))
	framework.Apply(t, cp, framework.SecretRefConfigYAML(ns, "gone", "orphaned", "", "us.api.konghq.com"))
	framework.Apply(t, cp, framework.SecretRefConfigYAML(ns, "stays", "still-used", "", "us.api.konghq.com"))
	framework.WaitForFinalizers(t, cp, ns, "orphaned", inUse)
	framework.WaitForFinalizers(t, cp, ns, "still-used", inUse)

	if err := ctrl.Stop(30 * time.Second); err != nil {
		t.Fatalf("stopping the controller: %v", err)
	}
	framework.KubectlOutput(t, cp, "delete", "konnectapiauthconfiguration", "gone", "-n", ns)
	time.Sleep(time.Second)
	if got := finalizers(t, ns, "orphaned"); got != inUse {
		t.Fatalf("with no controller running the finalizer changed: %s", got)
	}

	if err := suite.StartController(); err != nil {
		t.Fatal(err)
	}
	framework.WaitForFinalizers(t, cp, ns, "orphaned", "")
	time.Sleep(time.Second)
	if got := finalizers(t, ns, "still-used"); got != inUse {
		t.Errorf("the Secret still in use lost its finalizer at start-up: %s", got)
	}
}

// TestCrossNamespaceExample: manifests/examples/cross-namespace/, applied as its README says
// (token placeholder replaced, server-side), is Valid with ResolvedRefs True.
func TestCrossNamespaceExample(t *testing.T) {
	manifest := framework.Example(t, "cross-namespace/cross-namespace.yaml", "", env.NewToken(t))
	framework.KubectlOutput(t, cp, "create", "namespace", "kong")
	defer framework.KubectlOutput(t, cp, "delete", "namespace", "kong", "konnect-credentials", "--wait=false")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if out, stderr, err := cp.KubectlInput(ctx, strings.NewReader(manifest), "apply", "--server-side", "-f", "-"); err != nil {
		t.Fatalf("kubectl apply: %v\n%s%s", err, out, stderr)
	}
	conds := waitForVerdict(t, "kong", "konnect-api-auth-cross-namespace", metav1.ConditionTrue, konnectv1alpha1.ReasonValid)
	if c := conds[konnectv1alpha1.ConditionResolvedRefs]; c.Status != metav1.ConditionTrue {
		t.Errorf("ResolvedRefs = %s", framework.JSON(c))
	}
	framework.WaitForFinalizers(t, cp, "konnect-credentials", "konnect-api-auth-secret", inUse)
}

// crossNamespace makes two namespaces, apps and vault, and in them the configuration
// apps/cross naming the labelled Secret vault/konnect-token, which holds a fresh token.
func crossNamespace(t *testing.T) (apps, vault, token string) {
	t.Helper()
	apps = controlplane.NewNamespace(t, cp)
	vault = controlplane.NewNamespace(t, cp)
	token = env.NewToken(t)
	framework.Apply(t, cp, framework.SecretYAML(vault, "konnect-token", framework.CredentialLabels, "token", token))
	framework.Apply(t, cp, framework.SecretRefConfigYAML(apps, "cross", "konnect-token", vault, "us.api.konghq.com"))
	return apps, vault, token
}
