package chart_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	konnectv1alpha1 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha1"
	clientset "github.com/konnect-auth-controller/konnect-auth-controller/pkg/generated/clientset/versioned"
	"github.com/konnect-auth-controller/konnect-auth-controller/test/controlplane"
	"github.com/konnect-auth-controller/konnect-auth-controller/test/e2e/framework"
)

// TestInstallAndUpgrade installs the chart into an empty cluster with the README's command,
// checks that Helm created every object it rendered (the CRD from crds/ included), then
// upgrades from the packaged chart (`make chart`) with a corporate-proxy set-up: extraEnv
// HTTPS_PROXY/NO_PROXY pointing at the fake Konnect's proxy and caBundle naming a ConfigMap
// with the fake's CA. The controller is then run as the kubelet would run the upgraded
// Deployment's container (its args, its env, the ConfigMap volume, the ServiceAccount's token),
// with nothing from the test but free loopback ports for its endpoints, and it reaches VALID
// True on both of the user guide's manifests in manifests/examples/. A last upgrade to
// namespaced mode replaces the controller's ClusterRole with a Role in kong.
func TestInstallAndUpgrade(t *testing.T) {
	c := controlplane.StartEmptyForTest(t, controlplane.Options{})
	kube, err := kubernetes.NewForConfig(c.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	client, err := clientset.NewForConfig(c.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	framework.MustKubectl(t, c, "", "create", "namespace", "kong")
	framework.MustKubectl(t, c, "", "create", "namespace", "team-b")

	// 1. The README's command.
	out := mustHelm(t, c, "install", release, chartDir, "-n", releaseNS, "--create-namespace")
	t.Logf("$ helm install konnect-auth-controller charts/konnect-auth-controller -n konnect-system --create-namespace\n%s", out)
	for _, want := range []string{"NAME: konnect-auth-controller", "NAMESPACE: konnect-system", "STATUS: deployed", "REVISION: 1"} {
		if !strings.Contains(out, want) {
			t.Errorf("helm install printed no %q", want)
		}
	}
	manifest := mustHelm(t, c, "get", "manifest", release, "-n", releaseNS)
	objs := framework.DecodeObjects(t, "helm get manifest", manifest)
	if len(objs) < 10 {
		t.Fatalf("the release holds only %v", objs.Keys())
	}
	for _, u := range objs {
		resource := strings.ToLower(u.GetKind())
		if g := groupOf(u.GetAPIVersion()); g != "" {
			resource += "." + g
		}
		args := []string{"get", resource, u.GetName(), "-o", "jsonpath={.metadata.labels.app\\.kubernetes\\.io/managed-by}"}
		if u.GetNamespace() != "" {
			args = append(args, "-n", u.GetNamespace())
		}
		if got, _ := framework.MustKubectl(t, c, "", args...); got != "Helm" {
			t.Errorf("%s is in the cluster with managed-by %q, want Helm", framework.Key(u), got)
		}
	}
	// The CRD came from the chart's crds/ (the cluster was empty), and is served.
	framework.MustKubectl(t, c, "", "wait", "--for=condition=Established", "crd/konnectapiauthconfigurations.konnect.konghq.com", "--timeout=60s")

	// 2. The packaged chart, as `make chart` makes it, for the upgrade.
	pkgDir := t.TempDir()
	make := exec.Command("make", "-s", "chart", "CHART_OUT="+pkgDir)
	make.Dir = repoRoot
	if out, err := make.CombinedOutput(); err != nil {
		t.Fatalf("make chart: %v\n%s", err, out)
	} else {
		t.Logf("$ make chart\n%s", out)
	}
	pkgs, _ := filepath.Glob(filepath.Join(pkgDir, "konnect-auth-controller-*.tgz"))
	if len(pkgs) != 1 {
		t.Fatalf("make chart wrote %v", pkgs)
	}
	version := gitDescribe(t)
	show := mustHelm(t, nil, "show", "chart", pkgs[0])
	if !strings.Contains(show, "appVersion: "+version+"\n") && !strings.Contains(show, "appVersion: \""+version+"\"") {
		t.Errorf("the packaged chart's appVersion is not VERSION %s:\n%s", version, show)
	}

	// The corporate proxy set-up: the fake Konnect's CA in a ConfigMap, its proxy in extraEnv.
	framework.MustKubectl(t, c, "", "create", "configmap", "konnect-ca", "-n", releaseNS, "--from-file=ca.crt="+env.Konnect.CAFile())
	values := map[string]any{
		"controller": map[string]any{"logLevel": 5, "workers": 4},
		// Short timings keep the test quick (the ratios are client-go's defaults').
		"leaderElection": map[string]any{"leaseDuration": "6s", "renewDeadline": "4s", "retryPeriod": "1s"},
		"extraEnv": []map[string]any{
			{"name": "HTTPS_PROXY", "value": env.Konnect.ProxyURL()},
			{"name": "NO_PROXY", "value": "127.0.0.1,localhost"},
		},
		"caBundle": map[string]any{"configMapName": "konnect-ca"},
	}
	valuesYAML, err := yaml.Marshal(values)
	if err != nil {
		t.Fatal(err)
	}
	valuesFile := filepath.Join(t.TempDir(), "values.yaml")
	if err := os.WriteFile(valuesFile, valuesYAML, 0o644); err != nil {
		t.Fatal(err)
	}
	out = mustHelm(t, c, "upgrade", release, pkgs[0], "-n", releaseNS, "-f", valuesFile)
	t.Logf("$ helm upgrade konnect-auth-controller %s -n konnect-system -f values.yaml\n%s", filepath.Base(pkgs[0]), out)
	if !strings.Contains(out, "STATUS: deployed") || !strings.Contains(out, "REVISION: 2") {
		t.Errorf("helm upgrade did not deploy revision 2:\n%s", out)
	}
	history := mustHelm(t, c, "history", release, "-n", releaseNS)
	t.Logf("$ helm history konnect-auth-controller -n konnect-system\n%s", history)

	// 3. The upgraded Deployment, as the apiserver holds it, run as the kubelet would.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	d, err := kube.AppsV1().Deployments(releaseNS).Get(ctx, release, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if want := "konnect-auth-controller:" + version; d.Spec.Template.Spec.Containers[0].Image != want {
		t.Errorf("upgraded image = %q, want %q (the packaged appVersion)", d.Spec.Template.Spec.Containers[0].Image, want)
	}
	p := runDeployment(t, c, kube, d, "as-serviceaccount")

	// The user guide's manifests, as shipped in manifests/examples/, with a token the fake knows.
	token := env.NewToken(t)
	for _, f := range []string{"01-token.yaml", "02-secret-ref.yaml"} {
		framework.MustKubectl(t, c, framework.Example(t, f, "", token), "apply", "-f", "-")
	}
	for name, message := range map[string]string{
		"konnect-api-auth":            "Token is valid",
		"konnect-api-auth-secret-ref": "Token from Secret kong/konnect-api-auth-secret is valid",
	} {
		cond := framework.APIAuthValid(waitForValid(t, client, name))
		if cond.Message != message {
			t.Errorf("%s: message %q, want %q", name, cond.Message, message)
		}
	}
	table, _ := framework.MustKubectl(t, c, "", "get", "konnectapiauthconfiguration", "-n", "kong")
	t.Logf("$ kubectl get konnectapiauthconfiguration -n kong\n%s", table)
	if n := strings.Count(table, env.OrgID); n != 2 {
		t.Errorf("kubectl get shows the organization %d times, want 2:\n%s", n, table)
	}
	if env.Konnect.CallsFor(token) == 0 {
		t.Errorf("the fake Konnect was never called: the verdict did not come through the chart's proxy and CA settings")
	}
	// The Lease the chart's Role allows is the one the controller holds.
	lease, err := kube.CoordinationV1().Leases(releaseNS).Get(ctx, release, metav1.GetOptions{})
	if err != nil || lease.Spec.HolderIdentity == nil || *lease.Spec.HolderIdentity == "" {
		t.Errorf("Lease %s/%s: %v %+v", releaseNS, release, err, lease)
	}
	// The next step of the guide: a control plane and an extension (the CA Secret and the
	// extension's certificate Secret are created with the chart's RBAC).
	connectExamples(t, c, kube, client)
	for _, line := range strings.Split(p.Log(), "\n") {
		if strings.Contains(strings.ToLower(line), "forbidden") {
			t.Errorf("the controller was refused a request with the chart's RBAC: %s", line)
		}
	}
	stopController(t, p, token)

	// 4. Namespaced mode by upgrade: the ClusterRole goes, a Role in kong comes.
	out = mustHelm(t, c, "upgrade", release, chartDir, "-n", releaseNS, "--reuse-values", "--set", "watchNamespace=kong")
	if !strings.Contains(out, "REVISION: 3") {
		t.Errorf("helm upgrade to namespaced mode:\n%s", out)
	}
	if _, stderr, err := c.Kubectl(ctx, "get", "clusterrole", release); err == nil || !strings.Contains(stderr, "NotFound") {
		t.Errorf("the controller's ClusterRole is still there after the upgrade to namespaced mode: %v %s", err, stderr)
	}
	framework.MustKubectl(t, c, "", "get", "role", release, "-n", "kong")
	sa, err := framework.ServiceAccountTokenKubeconfig(ctx, c, releaseNS, release, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []struct {
		ns   string
		want string
	}{{"kong", "yes"}, {"team-b", "no"}} {
		got, _, _ := c.Kubectl(ctx, "--kubeconfig="+sa, "auth", "can-i", "list", "secrets", "-n", q.ns)
		if strings.TrimSpace(got) != q.want {
			t.Errorf("in namespaced mode the ServiceAccount may list Secrets in %s: %q, want %s", q.ns, got, q.want)
		}
	}
	d, err = kube.AppsV1().Deployments(releaseNS).Get(ctx, release, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var hasNS, keptProxy bool
	for _, a := range d.Spec.Template.Spec.Containers[0].Args {
		hasNS = hasNS || a == "--namespace=kong"
	}
	for _, e := range d.Spec.Template.Spec.Containers[0].Env {
		keptProxy = keptProxy || (e.Name == "HTTPS_PROXY" && e.Value == env.Konnect.ProxyURL())
	}
	if !hasNS || !keptProxy {
		t.Errorf("after the namespaced upgrade: --namespace=kong %v, extraEnv kept %v", hasNS, keptProxy)
	}

	// The controller in namespaced mode, with only the Role, still validates in kong.
	framework.MustKubectl(t, c, "", "delete", "konnectapiauthconfiguration", "--all", "-n", "kong")
	p = runDeployment(t, c, kube, d, "namespaced")
	framework.MustKubectl(t, c, framework.Example(t, "01-token.yaml", "", token), "apply", "-f", "-")
	waitForValid(t, client, "konnect-api-auth")
	// With the Role in kong and the CA Secret's Role in the release namespace.
	framework.MustKubectl(t, c, "", "delete", "secret", "konnect-auth-controller-ca", "-n", releaseNS)
	connectExamples(t, c, kube, client)
	for _, line := range strings.Split(p.Log(), "\n") {
		if strings.Contains(strings.ToLower(line), "forbidden") {
			t.Errorf("the namespaced controller was refused a request with the chart's RBAC: %s", line)
		}
	}
	stopController(t, p, token)
}

// waitForValid waits until kong/name's APIAuthValid condition is True/Valid, allowing the
// controller, run as the chart's Deployment, a minute.
func waitForValid(t testing.TB, client clientset.Interface, name string) *konnectv1alpha1.KonnectAPIAuthConfiguration {
	t.Helper()
	return framework.WaitForConditionWithin(t, time.Minute, client, "kong", name, metav1.ConditionTrue, konnectv1alpha1.ReasonValid)
}

// connectExamples applies manifests/examples/connect/ in kong (a control plane naming
// konnect-api-auth, an extension with an Automatic certificate), waits for Programmed and
// Ready, checks the Secrets the controller created (the cluster CA in the release namespace,
// the extension's certificate in kong), and deletes both, waiting for the controller to take
// its cleanup finalizers off.
func connectExamples(t *testing.T, c *controlplane.ControlPlane, kube kubernetes.Interface, client clientset.Interface) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	framework.MustKubectl(t, c, "", "apply", "-f", filepath.Join(repoRoot, "manifests", "examples", "connect"))
	framework.MustKubectl(t, c, "", "wait", "--for=condition=Programmed", "konnectgatewaycontrolplane/gateway-control-plane", "-n", "kong", "--timeout=60s")
	framework.MustKubectl(t, c, "", "wait", "--for=condition=Ready", "konnectextension/my-konnect-config", "-n", "kong", "--timeout=60s")
	if _, err := kube.CoreV1().Secrets(releaseNS).Get(ctx, "konnect-auth-controller-ca", metav1.GetOptions{}); err != nil {
		t.Errorf("the cluster CA Secret: %v", err)
	}
	ext, err := client.KonnectV1alpha2().KonnectExtensions("kong").Get(ctx, "my-konnect-config", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := kube.CoreV1().Secrets("kong").Get(ctx, "my-konnect-config-client-tls", metav1.GetOptions{})
	if err != nil || len(s.OwnerReferences) != 1 || s.OwnerReferences[0].UID != ext.UID {
		t.Errorf("the extension's generated Secret: %v %+v", err, s)
	}
	framework.MustKubectl(t, c, "", "delete", "konnectextension", "my-konnect-config", "-n", "kong", "--wait=true", "--timeout=60s")
	framework.MustKubectl(t, c, "", "delete", "konnectgatewaycontrolplane", "gateway-control-plane", "-n", "kong", "--wait=true", "--timeout=60s")
	// What the garbage collector would do (no kube-controller-manager runs here).
	framework.MustKubectl(t, c, "", "delete", "secret", "my-konnect-config-client-tls", "-n", "kong", "--ignore-not-found")
}

// runDeployment starts the controller binary the way the kubelet would start d's controller
// container, authenticated with a token of d's ServiceAccount, and waits until it leads. Its
// health and metrics servers move to free loopback ports (the last of a repeated flag wins),
// the only change from the Pod.
func runDeployment(t *testing.T, c *controlplane.ControlPlane, kube kubernetes.Interface, d *appsv1.Deployment, name string) *framework.Controller {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	run, err := framework.DeploymentContainerRun(ctx, d, "controller", framework.PodRunOptions{
		Namespace: releaseNS, PodName: release + "-" + name, Dir: filepath.Join(dir, "root"), Kube: kube,
	})
	if err != nil {
		t.Fatal(err)
	}
	sa, err := framework.ServiceAccountTokenKubeconfig(ctx, c, releaseNS, d.Spec.Template.Spec.ServiceAccountName, dir)
	if err != nil {
		t.Fatal(err)
	}
	// The Pod's environment only: nothing of the fake Konnect's Env() is added.
	for _, e := range run.Env {
		if strings.HasPrefix(e, "SSL_CERT_FILE=") {
			pem, err := os.ReadFile(strings.TrimPrefix(e, "SSL_CERT_FILE="))
			if err != nil || string(pem) != string(env.Konnect.CAPEM()) {
				t.Fatalf("SSL_CERT_FILE does not name the ConfigMap's bundle: %v", err)
			}
		}
	}
	addrs := framework.FreeAddrs(t, 2)
	args := append(run.Args, "--health-probe-bind-address="+addrs[0], "--metrics-bind-address="+addrs[1])
	p := env.StartControllerForTest(t, name, framework.ControllerOptions{Kubeconfig: sa, Env: run.Env, Args: args})
	t.Logf("started the controller as %s's container (env: %s)", d.Name, envNames(run.Env))
	if err := p.WaitForLog(ctx, "Started leading"); err != nil {
		t.Fatalf("%v\n%s", err, framework.Tail(p.Log(), 40))
	}
	return p
}

// stopController stops p and checks that its log (at -v=5) holds no token.
func stopController(t *testing.T, p *framework.Controller, tokens ...string) {
	t.Helper()
	if err := p.Stop(30 * time.Second); err != nil {
		t.Errorf("stopping the controller: %v", err)
	}
	if found := framework.ContainsAny([]byte(p.Log()), tokens...); len(found) > 0 {
		t.Errorf("the controller's log contains tokens: %v", found)
	}
}

func envNames(env []string) string {
	var names []string
	for _, e := range env {
		n, _, _ := strings.Cut(e, "=")
		names = append(names, n)
	}
	return strings.Join(names, ",")
}

// groupOf returns the group of an apiVersion ("" for the core group).
func groupOf(apiVersion string) string {
	if g, _, ok := strings.Cut(apiVersion, "/"); ok {
		return g
	}
	return ""
}

// gitDescribe is the VERSION the Makefile computes.
func gitDescribe(t testing.TB) string {
	t.Helper()
	cmd := exec.Command("git", "describe", "--tags", "--always", "--dirty")
	cmd.Dir = repoRoot
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git describe: %v", err)
	}
	return strings.TrimSpace(string(out))
}
