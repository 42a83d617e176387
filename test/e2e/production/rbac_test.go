package production_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	konnectv1alpha1 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha1"
	konnectv1alpha2 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha2"
	"github.com/konnect-auth-controller/konnect-auth-controller/test/controlplane"
	"github.com/konnect-auth-controller/konnect-auth-controller/test/e2e/framework"
)

func contextWithTimeout() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), time.Minute)
}

// Short leader-election timings keep the tests quick; the ratios are client-go's defaults'.
var fastLeaderElection = []string{
	"--leader-elect-lease-duration=6s",
	"--leader-elect-renew-deadline=4s",
	"--leader-elect-retry-period=1s",
}

// TestInstallClusterWide installs the default variant on an empty cluster with
// `kubectl apply -k manifests/` and then runs the controller the way the Deployment would: with
// the Deployment's own args and env, authenticated as its ServiceAccount by a token from the
// TokenRequest API, so that the manifests' RBAC is all it has. The user guide's flow reaches
// VALID True (the RBAC is sufficient), no request of the controller is ever refused, and the
// ServiceAccount holds exactly the controller's permissions and nothing else (not excessive).
func TestInstallClusterWide(t *testing.T) {
	c := startEnforcingControlPlane(t)
	r := applyVariant(t, c, clusterWide)
	kube, _ := clients(t, c)
	framework.MustKubectl(t, c, "", "create", "namespace", "kong")
	// Permissions in one more namespace, to show the cluster-wide grants reach everywhere.
	framework.MustKubectl(t, c, "", "create", "namespace", "team-b")

	sa := serviceAccountKubeconfig(t, c, saNamespace, saName)
	p := runAsServiceAccount(t, c, r, sa)
	userGuideFlow(t, c, p)

	// A configuration in kong reads a Secret in team-b through a KongReferenceGrant, and the
	// Secret carries the in-use finalizer: list/watch on grants and patch on Secrets suffice.
	crossNamespaceFlow(t, c, "kong", "team-b", true)
	// A control plane and an extension, in a namespace that is not the controller's: the
	// ClusterRole covers the generated Secret there and the CA Secret in konnect-system.
	connectFlow(t, c, p, "team-b")

	cluster := union(controllerPermissions, grantPermissions)
	checkEffectivePermissions(t, c, sa, map[string][]string{
		"kong":      cluster,
		"team-b":    cluster,
		saNamespace: union(cluster, leasePermissions),
	})
	checkRefusals(t, c, sa, []canI{
		// It creates and updates only the certificate Secrets it generates (and creates the CA
		// Secret): RBAC cannot restrict create by name. It patches a Secret only ever for its
		// finalizers, and never deletes one.
		{"create", "secrets", "kong", true},
		{"update", "secrets", "kong", true},
		{"patch", "secrets", "kong", true},
		{"delete", "secrets", "kong", false},
		{"deletecollection", "secrets", "kong", false},
		// It reads grants through its informer and never writes one.
		{"list", "kongreferencegrants.configuration.konghq.com", "team-b", true},
		{"watch", "kongreferencegrants.configuration.konghq.com", "team-b", true},
		{"get", "kongreferencegrants.configuration.konghq.com", "team-b", false},
		{"create", "kongreferencegrants.configuration.konghq.com", "team-b", false},
		{"update", "kongreferencegrants.configuration.konghq.com", "team-b", false},
		{"patch", "kongreferencegrants.configuration.konghq.com", "team-b", false},
		{"delete", "kongreferencegrants.configuration.konghq.com", "team-b", false},
		// …nor a configuration, only the status subresource, and only by patch.
		{"create", "konnectapiauthconfigurations", "kong", false},
		{"update", "konnectapiauthconfigurations", "kong", false},
		// patch: only ever metadata.finalizers, the in-use finalizer a control plane puts on it.
		{"patch", "konnectapiauthconfigurations", "kong", true},
		{"delete", "konnectapiauthconfigurations", "kong", false},
		{"update", "konnectapiauthconfigurations --subresource=status", "kong", false},
		{"patch", "konnectapiauthconfigurations --subresource=status", "kong", true},
		{"get", "konnectapiauthconfigurations", "kong", false},
		// Control planes and extensions: read from the informers, written only by patch.
		{"get", "konnectgatewaycontrolplanes", "kong", false},
		{"update", "konnectgatewaycontrolplanes", "kong", false},
		{"create", "konnectgatewaycontrolplanes", "kong", false},
		{"delete", "konnectgatewaycontrolplanes", "kong", false},
		{"patch", "konnectgatewaycontrolplanes", "kong", true},
		{"patch", "konnectgatewaycontrolplanes --subresource=status", "kong", true},
		{"update", "konnectgatewaycontrolplanes --subresource=status", "kong", false},
		{"get", "konnectextensions", "kong", false},
		{"update", "konnectextensions", "kong", false},
		{"create", "konnectextensions", "kong", false},
		{"delete", "konnectextensions", "kong", false},
		{"patch", "konnectextensions", "kong", true},
		{"patch", "konnectextensions --subresource=status", "kong", true},
		{"update", "konnectextensions --subresource=finalizers", "kong", true},
		// No other resource.
		{"list", "pods", "--all-namespaces", false},
		{"get", "configmaps", saNamespace, false},
		{"create", "serviceaccounts --subresource=token", saNamespace, false},
		{"create", "clusterrolebindings", "", false},
		{"impersonate", "serviceaccounts", "kong", false},
		// Its own Lease only: no other Lease, no Lease elsewhere, no delete, no list.
		{"get", "leases/" + leaseName, saNamespace, true},
		{"update", "leases/" + leaseName, saNamespace, true},
		{"get", "leases/kube-controller-manager", saNamespace, false},
		{"update", "leases/other", saNamespace, false},
		{"delete", "leases/" + leaseName, saNamespace, false},
		{"list", "leases", saNamespace, false},
		{"get", "leases/" + leaseName, "default", false},
		{"create", "leases", "default", false},
		// Stated plainly: cluster-wide, RBAC cannot narrow Secrets by label, so it may read
		// every Secret; the informer only lists the labelled ones. The namespaced variant
		// narrows this to one namespace.
		{"list", "secrets", "--all-namespaces", true},
	})
	// Real requests, not only reviews: writing a Secret, deleting a configuration, listing Pods.
	checkForbidden(t, c, sa, "delete", "secret", "konnect-api-auth-secret", "-n", "kong")
	checkForbidden(t, c, sa, "delete", "konnectapiauthconfiguration", "konnect-api-auth", "-n", "kong")
	checkForbidden(t, c, sa, "get", "pods", "--all-namespaces")
	checkForbiddenInput(t, c, sa, framework.GrantYAML("team-b", "self-granted", framework.SecretGrant("kong", "")), "apply", "-f", "-")
	checkNeverRefused(t, p)

	// The Lease is held by the controller that logged "Started leading".
	lease, err := kube.CoordinationV1().Leases(saNamespace).Get(context.Background(), leaseName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if lease.Spec.HolderIdentity == nil || *lease.Spec.HolderIdentity != p.leaderIdentity() {
		t.Errorf("Lease %s/%s holder = %v, want %q", saNamespace, leaseName, lease.Spec.HolderIdentity, p.leaderIdentity())
	}
}

// TestInstallNamespaced is TestInstallClusterWide for the namespaced overlay: the controller,
// with the overlay's --namespace=kong and only Roles, validates configurations in kong, never
// looks at another namespace, and cannot read a Secret outside kong.
func TestInstallNamespaced(t *testing.T) {
	c := startEnforcingControlPlane(t)
	r := applyVariant(t, c, namespaced)
	_, client := clients(t, c)
	framework.MustKubectl(t, c, "", "create", "namespace", "team-b")

	// A configuration outside the watched namespace: the controller must leave it alone.
	outside := env.NewToken(t)
	framework.MustKubectl(t, c, framework.TokenConfigYAML("team-b", "outside", outside, "us.api.konghq.com"), "apply", "-f", "-")

	sa := serviceAccountKubeconfig(t, c, saNamespace, saName)
	p := runAsServiceAccount(t, c, r, sa)
	if !strings.Contains(strings.Join(p.args, " "), "--namespace=kong") {
		t.Fatalf("the overlay's Deployment does not pass --namespace=kong: %v", p.args)
	}
	userGuideFlow(t, c, p)
	// Confined to kong, it refuses a reference to team-b, grant or not, and never reads it.
	crossNamespaceFlow(t, c, "kong", "team-b", false)
	// A control plane and an extension in kong: the generated Secret in kong (the Role there),
	// the CA Secret in konnect-system (the CA Secret's Role).
	connectFlow(t, c, p, "kong")

	cfg, err := client.KonnectV1alpha1().KonnectAPIAuthConfigurations("team-b").Get(context.Background(), "outside", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Status.Conditions) != 0 || env.Konnect.CallsFor(outside) != 0 {
		t.Errorf("the namespaced controller touched team-b/outside: status %+v, %d Konnect calls", cfg.Status, env.Konnect.CallsFor(outside))
	}

	checkEffectivePermissions(t, c, sa, map[string][]string{
		"kong":      controllerPermissions,
		"team-b":    nil,
		saNamespace: union(leasePermissions, caPermissions),
	})
	checkRefusals(t, c, sa, []canI{
		{"list", "secrets", "kong", true},
		{"get", "secrets", "team-b", false},
		{"get", "secrets", saNamespace, false},
		{"get", "secrets/konnect-auth-controller-leader-election", saNamespace, false},
		{"get", "secrets/" + caSecret, saNamespace, true},
		{"watch", "secrets/" + caSecret, saNamespace, true},
		{"update", "secrets/" + caSecret, saNamespace, false},
		{"delete", "secrets/" + caSecret, saNamespace, false},
		{"list", "secrets", saNamespace, false},
		{"get", "secrets", "default", false},
		{"list", "secrets", "--all-namespaces", false},
		{"list", "konnectapiauthconfigurations", "--all-namespaces", false},
		{"get", "konnectapiauthconfigurations", "team-b", false},
		{"create", "events", "team-b", false},
		{"create", "secrets", "kong", true},
		{"update", "secrets", "kong", true},
		{"delete", "secrets", "kong", false},
		{"patch", "secrets", "kong", true},
		{"patch", "secrets", "team-b", false},
		{"create", "secrets", "team-b", false},
		{"list", "konnectgatewaycontrolplanes", "team-b", false},
		{"list", "konnectextensions", "team-b", false},
		{"get", "konnectextensions", "kong", false},
		{"update", "konnectextensions", "kong", false},
		{"update", "konnectextensions --subresource=finalizers", "kong", true},
		{"list", "kongreferencegrants.configuration.konghq.com", "kong", false},
		{"list", "kongreferencegrants.configuration.konghq.com", "team-b", false},
		{"update", "konnectapiauthconfigurations", "kong", false},
		{"delete", "konnectapiauthconfigurations", "kong", false},
		{"list", "pods", "kong", false},
		{"get", "leases/" + leaseName, saNamespace, true},
		{"get", "leases/" + leaseName, "kong", false},
	})
	checkForbidden(t, c, sa, "get", "secrets", "-n", "team-b")
	checkForbidden(t, c, sa, "get", "secrets", "--all-namespaces")
	checkForbidden(t, c, sa, "create", "secret", "generic", "stolen", "-n", "team-b", "--from-literal=token=x")
	checkForbidden(t, c, sa, "get", "secrets", "-n", saNamespace)
	checkNeverRefused(t, p)
}

// saProc is a controller run as the ServiceAccount, with the args it was given.
type saProc struct {
	*proc
	args []string
}

// runAsServiceAccount starts the controller with the rendered Deployment's args and env
// ($(POD_NAMESPACE) expanded to konnect-system), the ServiceAccount's kubeconfig, and short
// leader-election timings, and waits until it leads: leader election works with the Role.
func runAsServiceAccount(t *testing.T, c *controlplane.ControlPlane, r rendered, kubeconfig string) *saProc {
	t.Helper()
	args, env := deploymentArgs(t, r)
	args = append(args, fastLeaderElection...)
	// -v=10 asks for everything (it is capped at 5): the log is searched for tokens.
	args = append(args, "-v=10")
	p := &saProc{proc: startController(t, "as-serviceaccount", kubeconfig, env, args...), args: args}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.WaitForLog(ctx, "Started leading"); err != nil {
		t.Fatalf("%v\n%s", err, framework.Tail(p.Log(), 40))
	}
	return p
}

// userGuideFlow follows the user guide in namespace kong as its user types it (admin
// kubeconfig, KONNECT_TOKEN set): the inline token, then the Secret reference, each reaching
// VALID True; then an unlabelled Secret gets SecretNotFound naming the missing label (which
// takes the metadata-only get); and the controller recorded the Event of that False verdict.
func userGuideFlow(t *testing.T, c *controlplane.ControlPlane, p *saProc) {
	t.Helper()
	_, client := clients(t, c)
	kube, _ := clients(t, c)
	for _, guide := range []struct{ script, message string }{
		{"userguide-token.sh", "Token is valid"},
		{"userguide-secret.sh", "Token from Secret kong/konnect-api-auth-secret is valid"},
	} {
		// The user guide's own commands, shared with test/e2e/controller.
		script, err := os.ReadFile(filepath.Join(repoRoot, "test", "e2e", "controller", "testdata", guide.script))
		if err != nil {
			t.Fatal(err)
		}
		framework.Shell(t, c, string(script), env.NewToken(t))
		out, _ := framework.MustKubectl(t, c, "", "wait", "--for=condition=APIAuthValid", "konnectapiauthconfiguration/konnect-api-auth", "-n", "kong", "--timeout=60s")
		t.Logf("%s: %s", guide.script, strings.TrimSpace(out))
		cond := framework.APIAuthValid(framework.WaitForCondition(t, client, "kong", "konnect-api-auth", metav1.ConditionTrue, konnectv1alpha1.ReasonValid))
		if cond.Message != guide.message {
			t.Errorf("%s: message %q, want %q", guide.script, cond.Message, guide.message)
		}
		table, _ := framework.MustKubectl(t, c, "", "get", "konnectapiauthconfiguration", "konnect-api-auth", "-n", "kong")
		t.Logf("$ kubectl get konnectapiauthconfiguration konnect-api-auth -n kong\n%s", table)
		if !strings.Contains(table, "True") || !strings.Contains(table, env.OrgID) {
			t.Errorf("kubectl get does not show VALID True and the organization:\n%s", table)
		}
		if guide.script == "userguide-secret.sh" {
			// In use: the Secret carries the finalizer (the controller may patch it)…
			framework.WaitForFinalizers(t, c, "kong", "konnect-api-auth-secret", `["gateway.konghq.com/secret-in-use-by-konnect-resource"]`)
		}
		framework.MustKubectl(t, c, "", "delete", "konnectapiauthconfiguration", "konnect-api-auth", "-n", "kong", "--wait=true")
		if guide.script == "userguide-secret.sh" {
			// …and its last user gone, it no longer does.
			framework.WaitForFinalizers(t, c, "kong", "konnect-api-auth-secret", "")
		}
	}

	// A Secret without the label: the informer cannot see it; the metadata-only get tells
	// "exists but is not labelled" from "not found".
	framework.MustKubectl(t, c, framework.SecretYAML("kong", "plain", nil, "token", env.NewToken(t)), "apply", "-f", "-")
	framework.MustKubectl(t, c, framework.SecretRefConfigYAML("kong", "plain", "plain", "", "us.api.konghq.com"), "apply", "-f", "-")
	cond := framework.APIAuthValid(framework.WaitForCondition(t, client, "kong", "plain", metav1.ConditionFalse, konnectv1alpha1.ReasonSecretNotFound))
	if !strings.Contains(cond.Message, "exists but is not labelled konghq.com/credential=konnect") {
		t.Errorf("message %q: the controller could not tell the unlabelled Secret from a missing one", cond.Message)
	}

	// Events on the configurations, by the controller.
	framework.WaitFor(t, 20*time.Second, "the controller's Events in kong", func() (bool, string) {
		events, err := kube.CoreV1().Events("kong").List(context.Background(), metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		reasons := map[string]bool{}
		for _, e := range events.Items {
			if e.Source.Component == "konnect-auth-controller" && e.InvolvedObject.Kind == "KonnectAPIAuthConfiguration" {
				reasons[e.InvolvedObject.Name+"/"+e.Reason] = true
			}
		}
		// A first True verdict makes no Event (the status says it); the one turning False does.
		if reasons["konnect-api-auth/"+konnectv1alpha1.ReasonValid] {
			return false, "an Event for a first True verdict: " + strings.Join(mapKeys(reasons), ", ")
		}
		return reasons["plain/"+konnectv1alpha1.ReasonSecretNotFound], strings.Join(mapKeys(reasons), ", ")
	})
}

// checkEffectivePermissions asks the apiserver, as the ServiceAccount
// (SelfSubjectRulesReview), for everything it may do in each namespace, and compares with
// want after taking away what any ServiceAccount has without a binding of its own (the
// built-in grants to system:authenticated: self reviews, ClusterTrustBundles, …), read from
// the same review for a ServiceAccount that has no bindings.
func checkEffectivePermissions(t *testing.T, c *controlplane.ControlPlane, kubeconfig string, want map[string][]string) {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	baselineCfg := c.RESTConfig()
	baselineCfg.Impersonate = rest.ImpersonationConfig{
		UserName: "system:serviceaccount:" + saNamespace + ":no-bindings",
		Groups:   []string{"system:serviceaccounts", "system:serviceaccounts:" + saNamespace, "system:authenticated"},
	}
	for ns, wantPerms := range want {
		baseline := rulesReview(t, baselineCfg, ns)
		var got []string
		for _, p := range rulesReview(t, cfg, ns) {
			if !slices.Contains(baseline, p) {
				got = append(got, p)
			}
		}
		wantSorted := union(wantPerms)
		t.Logf("in %s the ServiceAccount may %v, beyond what every ServiceAccount may (%v)", ns, got, baseline)
		if !slices.Equal(got, wantSorted) {
			t.Errorf("the ServiceAccount's permissions in %s:\n  got  %v\n  want %v", ns, got, wantSorted)
		}
	}
}

// rulesReview returns the permissions the identity of cfg has in ns, by SelfSubjectRulesReview.
func rulesReview(t *testing.T, cfg *rest.Config, ns string) []string {
	t.Helper()
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	review, err := kube.AuthorizationV1().SelfSubjectRulesReviews().Create(context.Background(),
		&authorizationv1.SelfSubjectRulesReview{Spec: authorizationv1.SelfSubjectRulesReviewSpec{Namespace: ns}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if review.Status.Incomplete {
		t.Fatalf("rules review in %s is incomplete: %s", ns, review.Status.EvaluationError)
	}
	var rules []rbacv1.PolicyRule
	for _, r := range review.Status.ResourceRules {
		rules = append(rules, rbacv1.PolicyRule{Verbs: r.Verbs, APIGroups: r.APIGroups, Resources: r.Resources, ResourceNames: r.ResourceNames})
	}
	return framework.Permissions(rules)
}

// canI is one `kubectl auth can-i VERB RESOURCE -n NS` and its expected answer.
type canI struct {
	verb, resource, namespace string
	want                      bool
}

// checkRefusals asks `kubectl auth can-i`, with the ServiceAccount's kubeconfig, each question.
func checkRefusals(t *testing.T, c *controlplane.ControlPlane, kubeconfig string, questions []canI) {
	t.Helper()
	for _, q := range questions {
		args := append([]string{"auth", "can-i", q.verb}, strings.Fields(q.resource)...)
		switch {
		case q.namespace == "--all-namespaces":
			args = append(args, "--all-namespaces")
		case q.namespace != "":
			args = append(args, "-n", q.namespace)
		}
		out, stderr, err := framework.KubectlWith(c, kubeconfig, args...)
		answer := strings.TrimSpace(out)
		if answer != "yes" && answer != "no" {
			t.Errorf("kubectl %s: %q %s %v", strings.Join(args, " "), out, stderr, err)
			continue
		}
		if got := answer == "yes"; got != q.want {
			t.Errorf("as the ServiceAccount, kubectl %s = %s, want %v", strings.Join(args, " "), answer, q.want)
		}
	}
}

// checkForbidden runs kubectl with the ServiceAccount's kubeconfig and expects the apiserver
// to refuse it.
func checkForbidden(t *testing.T, c *controlplane.ControlPlane, kubeconfig string, args ...string) {
	t.Helper()
	checkForbiddenInput(t, c, kubeconfig, "", args...)
}

// checkForbiddenInput is checkForbidden with a manifest on kubectl's standard input.
func checkForbiddenInput(t *testing.T, c *controlplane.ControlPlane, kubeconfig, stdin string, args ...string) {
	t.Helper()
	out, stderr, err := framework.KubectlWithInput(c, kubeconfig, stdin, args...)
	if err == nil || !strings.Contains(stderr, "forbidden") {
		t.Errorf("as the ServiceAccount, kubectl %s was not refused: %v\n%s%s", strings.Join(args, " "), err, out, stderr)
		return
	}
	t.Logf("as the ServiceAccount: kubectl %s: %s", strings.Join(args, " "), strings.TrimSpace(stderr))
}

// checkNeverRefused: no request the controller made while running as its ServiceAccount was
// refused (client-go logs every forbidden list, watch, patch or Event).
func checkNeverRefused(t *testing.T, p *saProc) {
	t.Helper()
	for _, line := range strings.Split(p.Log(), "\n") {
		if strings.Contains(strings.ToLower(line), "forbidden") {
			t.Errorf("the controller was refused a request: %s", line)
		}
	}
}

// union returns the sorted, de-duplicated union of permission lists.
func union(lists ...[]string) []string {
	var out []string
	for _, l := range lists {
		for _, p := range l {
			if !slices.Contains(out, p) {
				out = append(out, p)
			}
		}
	}
	slices.Sort(out)
	return out
}

func mapKeys(m map[string]bool) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// startEnforcingControlPlane is controlplane.StartEmptyForTest with the
// OwnerReferencesPermissionEnforcement admission plugin on, as many production clusters have
// it: creating the generated certificate Secret, whose owner reference to its extension sets
// blockOwnerDeletion, then needs update on konnectextensions/finalizers.
func startEnforcingControlPlane(t *testing.T) *controlplane.ControlPlane {
	t.Helper()
	return controlplane.StartEmptyForTest(t, controlplane.Options{
		ExtraAPIServerFlags: []string{"--enable-admission-plugins=OwnerReferencesPermissionEnforcement"},
	})
}

// connectFlow follows the user guide's next step in ns with the controller as its
// ServiceAccount: a configuration, the KonnectGatewayControlPlane of
// manifests/examples/connect/ naming it (created in the fake Konnect: Programmed True), and
// the KonnectExtension joining it with an Automatic certificate (Ready True): the controller
// created the cluster CA Secret in its namespace and the extension's kubernetes.io/tls Secret,
// owned by the extension with blockOwnerDeletion. Deleting both then takes their cleanup
// finalizers off (the control plane is deleted in Konnect), and the configuration's in-use
// finalizer goes.
func connectFlow(t *testing.T, c *controlplane.ControlPlane, p *saProc, ns string) {
	t.Helper()
	kube, client := clients(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// Every reconciler started and synced its informers (/readyz waits for all of them).
	framework.Eventually(t, 30*time.Second, func() (problems []string) {
		for _, msg := range []string{`"Starting workers" loop="konnect-auth-controller"`, `"Starting workers" loop="konnect-controlplanes"`, `"Starting workers" loop="konnect-extensions"`} {
			if !strings.Contains(p.Log(), msg) {
				problems = append(problems, fmt.Sprintf("the controller did not log %s: is a reconciler missing?\n%s", msg, framework.Tail(p.Log(), 40)))
			}
		}
		return problems
	})
	framework.WaitFor(t, 30*time.Second, "/readyz 200: every informer synced", func() (bool, string) {
		code, body, err := p.get("/readyz")
		return err == nil && code == 200, fmt.Sprint(code, body, err)
	})

	token := env.NewToken(t)
	framework.MustKubectl(t, c, framework.TokenConfigYAML(ns, "konnect-api-auth", token, "us.api.konghq.com"), "apply", "-f", "-")
	framework.WaitForCondition(t, client, ns, "konnect-api-auth", metav1.ConditionTrue, konnectv1alpha1.ReasonValid)
	for _, f := range []string{"01-control-plane.yaml", "02-extension.yaml"} {
		framework.MustKubectl(t, c, framework.Example(t, "connect/"+f, ns, ""), "apply", "-f", "-")
	}
	framework.WaitFor(t, 60*time.Second, "control plane "+ns+"/gateway-control-plane Programmed", func() (bool, string) {
		cp, err := client.KonnectV1alpha2().KonnectGatewayControlPlanes(ns).Get(ctx, "gateway-control-plane", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		cond := apimeta.FindStatusCondition(cp.Status.Conditions, konnectv1alpha2.ConditionProgrammed)
		return cond != nil && cond.Status == metav1.ConditionTrue && cp.Status.ID != "", fmt.Sprintf("%+v", cp.Status)
	})
	framework.WaitFor(t, 60*time.Second, "extension "+ns+"/my-konnect-config Ready", func() (bool, string) {
		ext, err := client.KonnectV1alpha2().KonnectExtensions(ns).Get(ctx, "my-konnect-config", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		cond := apimeta.FindStatusCondition(ext.Status.Conditions, konnectv1alpha2.ConditionReady)
		return cond != nil && cond.Status == metav1.ConditionTrue, fmt.Sprintf("%+v", ext.Status)
	})
	// The control plane names the configuration: the in-use finalizer is on it (a patch).
	framework.WaitFor(t, 30*time.Second, "the in-use finalizer on "+ns+"/konnect-api-auth", func() (bool, string) {
		cfg, err := client.KonnectV1alpha1().KonnectAPIAuthConfigurations(ns).Get(ctx, "konnect-api-auth", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return slices.Contains(cfg.Finalizers, konnectv1alpha2.APIAuthInUseFinalizer), fmt.Sprint(cfg.Finalizers)
	})

	// The Secrets the controller created: the CA in its own namespace, the extension's in ns.
	ca, err := kube.CoreV1().Secrets(saNamespace).Get(ctx, caSecret, metav1.GetOptions{})
	if err != nil || ca.Type != corev1.SecretTypeTLS {
		t.Errorf("the cluster CA Secret %s/%s: %v %v", saNamespace, caSecret, err, ca.Type)
	}
	ext, err := client.KonnectV1alpha2().KonnectExtensions(ns).Get(ctx, "my-konnect-config", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	generated, err := kube.CoreV1().Secrets(ns).Get(ctx, "my-konnect-config-client-tls", metav1.GetOptions{})
	switch {
	case err != nil:
		t.Errorf("the extension's generated Secret: %v", err)
	case len(generated.OwnerReferences) != 1 || generated.OwnerReferences[0].UID != ext.UID ||
		generated.OwnerReferences[0].BlockOwnerDeletion == nil || !*generated.OwnerReferences[0].BlockOwnerDeletion:
		t.Errorf("the generated Secret's owner references %+v, want the extension with blockOwnerDeletion", generated.OwnerReferences)
	case generated.Type != corev1.SecretTypeTLS || len(generated.Data[corev1.TLSCertKey]) == 0:
		t.Errorf("the generated Secret: type %s, keys %v", generated.Type, mapKeysBytes(generated.Data))
	}
	framework.WaitFor(t, 20*time.Second, "the controller's Events on the extension", func() (bool, string) {
		events, err := kube.CoreV1().Events(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		var reasons []string
		for _, e := range events.Items {
			if e.Source.Component != "" && e.InvolvedObject.Kind == "KonnectExtension" {
				reasons = append(reasons, e.Reason)
			}
		}
		return slices.Contains(reasons, "CertificateRegistered"), strings.Join(reasons, ", ")
	})

	// The negative control: OwnerReferencesPermissionEnforcement is on, so a user who may
	// create Secrets but not update konnectextensions/finalizers cannot create such a Secret.
	framework.MustKubectl(t, c, "", "create", "role", "secret-creator", "-n", ns, "--verb=create", "--resource=secrets")
	framework.MustKubectl(t, c, "", "create", "rolebinding", "secret-creator", "-n", ns, "--role=secret-creator", "--user=secret-creator")
	copyYAML := fmt.Sprintf(`apiVersion: v1
kind: Secret
metadata:
  name: copy
  namespace: %s
  ownerReferences:
    - {apiVersion: konnect.konghq.com/v1alpha2, kind: KonnectExtension, name: my-konnect-config, uid: %s, controller: true, blockOwnerDeletion: true}
`, ns, ext.UID)
	if out, stderr, err := c.KubectlInput(ctx, strings.NewReader(copyYAML), "create", "--as=secret-creator", "-f", "-"); err == nil ||
		!strings.Contains(stderr, "blockOwnerDeletion") {
		t.Errorf("OwnerReferencesPermissionEnforcement let a user without konnectextensions/finalizers update set blockOwnerDeletion: %v %s%s", err, out, stderr)
	}

	// Cleanup through the finalizers the controller patches away.
	framework.MustKubectl(t, c, "", "delete", "konnectextension", "my-konnect-config", "-n", ns, "--wait=true", "--timeout=60s")
	framework.MustKubectl(t, c, "", "delete", "konnectgatewaycontrolplane", "gateway-control-plane", "-n", ns, "--wait=true", "--timeout=60s")
	framework.WaitFor(t, 30*time.Second, "the in-use finalizer off "+ns+"/konnect-api-auth", func() (bool, string) {
		cfg, err := client.KonnectV1alpha1().KonnectAPIAuthConfigurations(ns).Get(ctx, "konnect-api-auth", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return len(cfg.Finalizers) == 0, fmt.Sprint(cfg.Finalizers)
	})
	framework.MustKubectl(t, c, "", "delete", "konnectapiauthconfiguration", "konnect-api-auth", "-n", ns, "--wait=true")
}

func mapKeysBytes(m map[string][]byte) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

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
