package production_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/yaml"

	"github.com/konnect-auth-controller/konnect-auth-controller/test/controlplane"
	"github.com/konnect-auth-controller/konnect-auth-controller/test/e2e/framework"
)

// EnvKubeControllerManager names a kube-controller-manager binary to use for real ClusterRole
// aggregation; without it, <bin dir>/kube-controller-manager is used if it exists.
const EnvKubeControllerManager = "KUBE_CONTROLLER_MANAGER_BIN"

// TestUserRoleAggregation proves who may read and write KonnectAPIAuthConfigurations through
// the built-in roles: people bound to `edit` or `admin` may create them, people bound to `view`
// may not even get them (an inline token is readable by whoever can get the resource).
//
// ClusterRole aggregation is done by kube-controller-manager's clusterrole-aggregation
// controller, which this control plane does not run by default: without it the built-in
// admin/edit/view roles are empty, so a "view cannot get" check would pass whatever our
// labels said. So:
//
//   - always: the aggregationRule selectors of the real built-in roles (as this apiserver's
//     RBAC bootstrap created them) are evaluated against our roles' labels: admin selects
//     -admin, edit selects -edit, view selects none of ours; and our roles, bound directly,
//     grant what they say (kubectl auth can-i --as);
//   - when a kube-controller-manager binary is available ($KUBE_CONTROLLER_MANAGER_BIN or
//     bin/kube-controller-manager), it is started with only the clusterrole-aggregation
//     controller, and users bound to the built-in view/edit/admin roles are asked: the real
//     aggregation, end to end.
func TestUserRoleAggregation(t *testing.T) {
	ns := controlplane.NewNamespace(t, cp)
	r := render(t, clusterWide)

	// Apply only the user-facing ClusterRoles to the shared control plane.
	var docs []string
	for _, u := range r.Objects {
		if u.GetKind() == "ClusterRole" && strings.HasPrefix(u.GetName(), "konnect-auth-controller-") {
			b, err := json.Marshal(u.Object)
			if err != nil {
				t.Fatal(err)
			}
			docs = append(docs, string(b))
		}
	}
	out, stderr := framework.MustKubectl(t, cp, strings.Join(docs, "\n"), "apply", "-f", "-")
	checkApplyOutput(t, "kubectl apply -f user-clusterroles", out, stderr)

	// 1. The built-in roles' selectors against our labels.
	ours := map[string]labels.Set{}
	for _, name := range []string{"konnect-auth-controller-admin", "konnect-auth-controller-edit", "konnect-auth-controller-viewer"} {
		var cr rbacv1.ClusterRole
		getJSON(t, cp, &cr, "get", "clusterrole", name)
		ours[name] = cr.Labels
	}
	for builtin, want := range map[string][]string{
		"admin": {"konnect-auth-controller-admin"},
		"edit":  {"konnect-auth-controller-edit"},
		"view":  nil,
	} {
		var cr rbacv1.ClusterRole
		getJSON(t, cp, &cr, "get", "clusterrole", builtin)
		if cr.AggregationRule == nil || len(cr.AggregationRule.ClusterRoleSelectors) == 0 {
			t.Fatalf("the built-in %s ClusterRole has no aggregationRule", builtin)
		}
		var selected []string
		for name, l := range ours {
			for _, s := range cr.AggregationRule.ClusterRoleSelectors {
				sel, err := metav1.LabelSelectorAsSelector(&s)
				if err != nil {
					t.Fatal(err)
				}
				if sel.Matches(l) && !slices.Contains(selected, name) {
					selected = append(selected, name)
				}
			}
		}
		slices.Sort(selected)
		t.Logf("built-in %s (selectors %v) aggregates %v", builtin, cr.AggregationRule.ClusterRoleSelectors, selected)
		if !slices.Equal(selected, want) {
			t.Errorf("the built-in %s ClusterRole aggregates %v of ours, want %v", builtin, selected, want)
		}
	}

	// 2. Our roles, bound directly, grant what they say.
	for user, role := range map[string]string{
		"direct-admin":  "konnect-auth-controller-admin",
		"direct-edit":   "konnect-auth-controller-edit",
		"direct-viewer": "konnect-auth-controller-viewer",
	} {
		framework.MustKubectl(t, cp, "", "create", "rolebinding", user, "-n", ns, "--clusterrole="+role, "--user="+user)
	}
	checkUserCan(t, ns, "direct-admin", map[string]bool{"get": true, "list": true, "create": true, "update": true, "delete": true, "deletecollection": true})
	checkUserCan(t, ns, "direct-edit", map[string]bool{"get": true, "list": true, "watch": true, "create": true, "patch": true, "delete": true})
	checkUserCan(t, ns, "direct-viewer", map[string]bool{"get": true, "list": true, "watch": true, "create": false, "update": false, "delete": false})
	for _, user := range []string{"direct-admin", "direct-edit", "direct-viewer"} {
		if canUser(t, ns, user, "patch", "konnectapiauthconfigurations", "--subresource=status") {
			t.Errorf("%s may patch the status, which only the controller writes", user)
		}
	}

	// 3. The real aggregation, when kube-controller-manager is available.
	kcm := kubeControllerManager(t)
	if kcm == "" {
		t.Logf("no kube-controller-manager (set %s or build bin/kube-controller-manager): the built-in roles stay empty here, "+
			"so aggregation was proven by their selectors (1) and our roles' verbs by direct bindings (2)", EnvKubeControllerManager)
		return
	}
	startAggregationController(t, kcm)
	framework.WaitFor(t, 60*time.Second, "the built-in edit and admin roles to aggregate konnectapiauthconfigurations", func() (bool, string) {
		var edit, admin rbacv1.ClusterRole
		getJSON(t, cp, &edit, "get", "clusterrole", "edit")
		getJSON(t, cp, &admin, "get", "clusterrole", "admin")
		return mentionsConfigs(edit.Rules) && mentionsConfigs(admin.Rules), fmt.Sprintf("edit has %d rules, admin %d", len(edit.Rules), len(admin.Rules))
	})
	var view rbacv1.ClusterRole
	getJSON(t, cp, &view, "get", "clusterrole", "view")
	if len(view.Rules) == 0 {
		t.Fatalf("the built-in view role is still empty: aggregation did not run")
	}
	if mentionsConfigs(view.Rules) {
		t.Errorf("the built-in view role grants konnectapiauthconfigurations: %v", view.Rules)
	}

	for user, role := range map[string]string{"viewer-alice": "view", "editor-bob": "edit", "admin-carol": "admin"} {
		framework.MustKubectl(t, cp, "", "create", "rolebinding", user, "-n", ns, "--clusterrole="+role, "--user="+user)
	}
	// alice, bound to view, can read Pods (the role is populated and bound) but not the
	// configurations nor Secrets.
	if !canUser(t, ns, "viewer-alice", "get", "pods") {
		t.Errorf("viewer-alice cannot get pods: the view binding is not in effect")
	}
	checkUserCan(t, ns, "viewer-alice", map[string]bool{"get": false, "list": false, "watch": false, "create": false})
	checkUserCan(t, ns, "editor-bob", map[string]bool{"get": true, "list": true, "create": true, "update": true, "patch": true, "delete": true})
	checkUserCan(t, ns, "admin-carol", map[string]bool{"get": true, "list": true, "create": true, "update": true, "delete": true, "deletecollection": true})

	// And for real: bob creates one with kubectl; alice cannot read it back.
	token := env.NewToken(t)
	if out, stderr, err := kubectlAs(ns, "editor-bob", framework.TokenConfigYAML(ns, "bobs", token, "us.api.konghq.com"), "apply", "-f", "-"); err != nil {
		t.Errorf("editor-bob could not create a configuration: %v %s%s", err, out, stderr)
	}
	out, stderr, err := kubectlAs(ns, "viewer-alice", "", "get", "konnectapiauthconfiguration", "bobs", "-n", ns, "-o", "yaml")
	if err == nil || !strings.Contains(stderr, "forbidden") {
		t.Errorf("viewer-alice could read the configuration (and its token): %v %s%s", err, out, stderr)
	}
	t.Logf("with real aggregation (view has %d rules): editor-bob created a configuration; viewer-alice, who may get pods, got: %s",
		len(view.Rules), strings.TrimSpace(stderr))
}

// mentionsConfigs reports whether rules grant anything on konnectapiauthconfigurations.
func mentionsConfigs(rules []rbacv1.PolicyRule) bool {
	for _, p := range framework.Permissions(rules) {
		if strings.HasPrefix(p, "konnect.konghq.com/konnectapiauthconfigurations") {
			return true
		}
	}
	return false
}

// checkUserCan asks `kubectl auth can-i VERB konnectapiauthconfigurations --as=USER` for each
// verb and compares with want.
func checkUserCan(t *testing.T, ns, user string, want map[string]bool) {
	t.Helper()
	for verb, w := range want {
		if got := canUser(t, ns, user, verb, "konnectapiauthconfigurations"); got != w {
			t.Errorf("kubectl auth can-i %s konnectapiauthconfigurations -n %s --as=%s = %v, want %v", verb, ns, user, got, w)
		}
	}
}

// canUser runs `kubectl auth can-i VERB RESOURCE... -n NS --as=USER` (impersonation by the
// admin) and returns the answer.
func canUser(t *testing.T, ns, user, verb string, resource ...string) bool {
	t.Helper()
	args := append(append([]string{"auth", "can-i", verb}, resource...), "-n", ns, "--as="+user)
	ctx, cancel := contextWithTimeout()
	defer cancel()
	out, stderr, err := cp.Kubectl(ctx, args...)
	switch strings.TrimSpace(out) {
	case "yes":
		return true
	case "no":
		return false
	}
	t.Fatalf("kubectl %s: %v %s%s", strings.Join(args, " "), err, out, stderr)
	return false
}

// kubectlAs runs kubectl as user, by impersonation.
func kubectlAs(ns, user, stdin string, args ...string) (string, string, error) {
	ctx, cancel := contextWithTimeout()
	defer cancel()
	return cp.KubectlInput(ctx, strings.NewReader(stdin), append(args, "--as="+user)...)
}

// getJSON runs kubectl ARGS -o json and decodes the result into out.
func getJSON(t testing.TB, c *controlplane.ControlPlane, out any, args ...string) {
	t.Helper()
	stdout, _ := framework.MustKubectl(t, c, "", append(args, "-o", "json")...)
	if err := yaml.Unmarshal([]byte(stdout), out); err != nil {
		t.Fatal(err)
	}
}

// kubeControllerManager returns the kube-controller-manager binary to use, or "".
func kubeControllerManager(t *testing.T) string {
	if p := os.Getenv(EnvKubeControllerManager); p != "" {
		return p
	}
	dir, err := controlplane.BinDir()
	if err != nil {
		return ""
	}
	p := filepath.Join(dir, "kube-controller-manager")
	if st, err := os.Stat(p); err == nil && st.Mode()&0o111 != 0 {
		return p
	}
	return ""
}

// startAggregationController runs kube-controller-manager against the shared control plane
// with only the clusterrole-aggregation controller and no serving port, until the test ends.
func startAggregationController(t *testing.T, bin string) {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), "kube-controller-manager.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin,
		"--kubeconfig="+cp.KubeconfigPath(),
		"--controllers=clusterrole-aggregation",
		"--leader-elect=false",
		"--secure-port=0",
	)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); logFile.Close(); close(done) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("kube-controller-manager log (tail):\n%s", framework.Tail(string(b), 40))
		}
	})
	t.Logf("started %s with only the clusterrole-aggregation controller", bin)
}
