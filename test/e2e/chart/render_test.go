// Package chart_test proves the Helm chart in charts/konnect-auth-controller against real parts:
// bin/helm (built from the version pinned in hack/tools/helm), a real etcd and kube-apiserver
// (test/controlplane), the built controller binary (test/e2e/framework) and the fake Konnect
// (test/fakekonnect).
//
//   - render_test.go: `helm lint`; `helm template` with the defaults and with each mode
//     (cluster-wide, namespaced, metrics with a ServiceMonitor, every option at once) is
//     accepted by the apiserver in a server-side dry run, without warnings (the Pod template
//     meets the "restricted" Pod Security Standard); the rendered RBAC and Deployment equal
//     what `kubectl kustomize manifests/` renders; wrong values are refused with their message.
//   - install_test.go: `helm install` (the README's command) and `helm upgrade` (from the
//     packaged chart, `make chart`) into an empty cluster create the objects; the controller
//     run as the chart's Deployment says, with the chart's ServiceAccount's token, its proxy
//     settings and its CA bundle ConfigMap, reaches VALID True on manifests/examples/; an
//     upgrade to namespaced mode swaps the ClusterRole for a Role.
//
// The ServiceMonitor CRD of prometheus-operator is not in the test cluster: testdata holds a
// minimal one (its group, kind and the schema of the fields the chart sets) so that the dry
// run checks the chart's ServiceMonitor against a schema.
//
// It needs bin/etcd, bin/kube-apiserver, bin/kubectl (KUBE_BIN_DIR) and bin/helm (HELM, else
// <repo>/bin/helm): `make tools`.
package chart_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/konnect-auth-controller/konnect-auth-controller/test/controlplane"
	"github.com/konnect-auth-controller/konnect-auth-controller/test/e2e/framework"
)

var (
	// cp is shared by the tests that only render and dry-run; the install test starts an
	// empty one of its own, as a fresh cluster is before `helm install`.
	cp       *controlplane.ControlPlane
	env      *framework.Env
	repoRoot string
	helmBin  string
	chartDir string
)

const (
	release   = "konnect-auth-controller"
	releaseNS = "konnect-system"
)

var suite = &framework.Suite{Name: "chart", CP: &cp, Env: &env, Setup: setup}

func TestMain(m *testing.M) { os.Exit(suite.RunTestMain(m)) }

func setup() error {
	var err error
	if repoRoot, err = controlplane.RepoRoot(); err != nil {
		return err
	}
	chartDir = filepath.Join(repoRoot, "charts", "konnect-auth-controller")
	helmBin = os.Getenv("HELM")
	if helmBin == "" {
		helmBin = filepath.Join(repoRoot, "bin", "helm")
	}
	if _, err := os.Stat(helmBin); err != nil {
		return fmt.Errorf("helm is not built (%v): run `make tools` (or `make helm`), or set HELM", err)
	}
	// The namespaces the dry runs need: the release's, enforcing "restricted" Pod Security as
	// manifests/base/namespace.yaml does (so a Pod template that violates it warns), and the
	// one namespaced mode watches. And the ServiceMonitor CRD stand-in.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, args := range [][]string{
		{"create", "namespace", releaseNS},
		{"label", "namespace", releaseNS, "pod-security.kubernetes.io/enforce=restricted", "pod-security.kubernetes.io/warn=restricted"},
		{"create", "namespace", "kong"},
		{"apply", "-f", filepath.Join(repoRoot, "test", "e2e", "chart", "testdata", "servicemonitor-crd.yaml")},
		{"wait", "--for=condition=Established", "crd/servicemonitors.monitoring.coreos.com", "--timeout=60s"},
	} {
		if out, stderr, err := cp.Kubectl(ctx, args...); err != nil {
			return fmt.Errorf("kubectl %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr)
		}
	}
	return nil
}

// helm runs bin/helm against c's apiserver (nil: no cluster), with its cache, config and data
// folders in the work folder, and returns what it printed. It does not fail the test: refusals
// are what some callers look for.
func helm(c *controlplane.ControlPlane, args ...string) (stdout, stderr string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, helmBin, args...)
	home := filepath.Join(env.WorkDir, "helm-home")
	cmd.Env = append(os.Environ(),
		"HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"),
		"KUBECONFIG=/dev/null")
	if c != nil {
		cmd.Env = append(cmd.Env, "KUBECONFIG="+c.KubeconfigPath())
	}
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	return out.String(), errOut.String(), err
}

// mustHelm is helm that fails the test when helm fails.
func mustHelm(t testing.TB, c *controlplane.ControlPlane, args ...string) string {
	t.Helper()
	out, stderr, err := helm(c, args...)
	if err != nil {
		t.Fatalf("helm %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr)
	}
	return out
}

// mode is one way of installing the chart, as --set flags.
type mode struct {
	name string
	set  []string
}

var (
	defaults   = mode{name: "defaults"}
	namespaced = mode{name: "namespaced", set: []string{"watchNamespace=kong"}}
	monitoring = mode{name: "metrics-servicemonitor", set: []string{
		"metrics.serviceMonitor.enabled=true", "metrics.serviceMonitor.labels.release=prometheus", "metrics.serviceMonitor.scrapeTimeout=10s"}}
	// everything sets every option that changes the rendering, at once.
	everything = mode{name: "everything", set: []string{
		"watchNamespace=kong",
		"image.repository=registry.example.com/kong/konnect-auth-controller",
		"image.tag=v1.2.3",
		"image.digest=sha256:" + strings.Repeat("ab", 32),
		"image.pullPolicy=Always",
		"image.pullSecrets={regcred}",
		"replicaCount=3",
		"leaderElection.leaseDuration=30s",
		"controller.workers=4",
		"controller.konnectQPS=5.5",
		"controller.konnectTimeout=30s",
		"controller.revalidateInterval=30m",
		"controller.logLevel=2",
		"controller.extraArgs={--leader-elect-retry-period=3s}",
		"priorityClassName=system-cluster-critical",
		"tolerations[0].key=dedicated,tolerations[0].operator=Equal,tolerations[0].value=infra,tolerations[0].effect=NoSchedule",
		"affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].key=kubernetes.io/arch",
		"affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].operator=In",
		"affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].values={amd64,arm64}",
		"podDisruptionBudget.minAvailable=2",
		"metrics.serviceMonitor.enabled=true",
		"extraEnv[0].name=HTTPS_PROXY,extraEnv[0].value=http://proxy.example.com:3128",
		"extraEnv[1].name=NO_PROXY,extraEnv[1].value=10.0.0.0/8\\,.svc",
		"caBundle.configMapName=corporate-ca",
		"serviceAccount.annotations.example\\.com/role=konnect",
		"podLabels.team=platform",
	}}
)

func (m mode) args() []string {
	var args []string
	for _, s := range m.set {
		args = append(args, "--set", s)
	}
	return args
}

// template runs `helm template` for the README's release in konnect-system.
func template(t testing.TB, m mode, extra ...string) framework.Objects {
	t.Helper()
	args := append([]string{"template", release, chartDir, "-n", releaseNS}, m.args()...)
	out := mustHelm(t, nil, append(args, extra...)...)
	return framework.DecodeObjects(t, "helm template ("+m.name+")", out)
}

// TestLint: `helm lint --strict` passes with the defaults and each mode, and fails, naming the
// key, with a wrong value (so that a passing lint means something).
func TestLint(t *testing.T) {
	for _, m := range []mode{defaults, namespaced, monitoring, everything} {
		args := append([]string{"lint", "--strict", chartDir}, m.args()...)
		out := mustHelm(t, nil, args...)
		t.Logf("$ helm lint --strict charts/konnect-auth-controller %s\n%s", strings.Join(m.args(), " "), out)
		if !strings.Contains(out, "1 chart(s) linted, 0 chart(s) failed") {
			t.Errorf("%s: helm lint did not pass:\n%s", m.name, out)
		}
	}
	out, stderr, err := helm(nil, "lint", "--strict", chartDir, "--set", "replicaCount=two")
	if err == nil || !strings.Contains(out+stderr, "at '/replicaCount': got string, want integer") {
		t.Errorf("helm lint with replicaCount=two: %v\n%s%s", err, out, stderr)
	}
}

// TestTemplateAcceptedByAPIServer: what `helm template --include-crds` renders for each mode is
// accepted by the apiserver in a server-side dry run, with strict field validation and without
// a warning: no unknown field, no deprecated API, a Pod template that meets the "restricted"
// Pod Security Standard enforced in konnect-system. A template that violates it does warn, so
// the check is not vacuous.
func TestTemplateAcceptedByAPIServer(t *testing.T) {
	for _, m := range []mode{defaults, namespaced, monitoring, everything} {
		t.Run(m.name, func(t *testing.T) {
			args := append([]string{"template", release, chartDir, "-n", releaseNS, "--include-crds"}, m.args()...)
			rendered := mustHelm(t, nil, args...)
			objs := framework.DecodeObjects(t, m.name, rendered)
			out, stderr := framework.MustKubectl(t, cp, rendered, "apply", "--dry-run=server", "--validate=strict", "-f", "-")
			t.Logf("$ helm template ... %s | kubectl apply --dry-run=server -f -\n%s%s", strings.Join(m.args(), " "), out, stderr)
			// The one warning allowed is about the test's set-up, not the chart: the shared
			// control plane got the CRDs from controlplane.InstallCRDs, not from kubectl apply.
			crdWarning := regexp.MustCompile(`(?m)^Warning: resource customresourcedefinitions/(konnectapiauthconfigurations.konnect.konghq.com|konnectgatewaycontrolplanes.konnect.konghq.com|konnectextensions.konnect.konghq.com|kongreferencegrants.configuration.konghq.com) is missing the kubectl.kubernetes.io/last-applied-configuration annotation.*$`)
			if rest := crdWarning.ReplaceAllString(stderr, ""); strings.Contains(rest, "Warning") {
				t.Errorf("the apiserver warned:\n%s", rest)
			}
			if n := strings.Count(out, "(server dry run)"); n != len(objs) {
				t.Errorf("the dry run accepted %d objects, the chart renders %d: %v", n, len(objs), objs.Keys())
			}
			has := func(k string) bool { return slices.Contains(objs.Keys(), k) }
			switch m.name {
			case "namespaced", "everything":
				if has("ClusterRole//"+release) || !has("Role/kong/"+release) || !has("RoleBinding/kong/"+release) {
					t.Errorf("namespaced mode renders %v: want a Role and RoleBinding in kong and no ClusterRole for the controller", objs.Keys())
				}
				// The cluster CA Secret stays in the release namespace, with its own Role.
				if !has("Role/"+releaseNS+"/"+release+"-ca") || !has("RoleBinding/"+releaseNS+"/"+release+"-ca") {
					t.Errorf("namespaced mode renders %v: want the CA Secret's Role and RoleBinding in %s", objs.Keys(), releaseNS)
				}
			default:
				if !has("ClusterRole//"+release) || !has("ClusterRoleBinding//"+release) || has("Role/kong/"+release) || has("Role/"+releaseNS+"/"+release+"-ca") {
					t.Errorf("cluster-wide mode renders %v", objs.Keys())
				}
			}
			if wantSM := m.name == "metrics-servicemonitor" || m.name == "everything"; has("ServiceMonitor/"+releaseNS+"/"+release) != wantSM {
				t.Errorf("ServiceMonitor rendered = %v, want %v", !wantSM, wantSM)
			}
		})
	}

	t.Run("privilege-escalation-warns", func(t *testing.T) {
		rendered := mustHelm(t, nil, "template", release, chartDir, "-n", releaseNS, "--set", "containerSecurityContext.allowPrivilegeEscalation=true")
		_, stderr := framework.MustKubectl(t, cp, rendered, "apply", "--dry-run=server", "-f", "-")
		if !strings.Contains(stderr, "would violate PodSecurity") {
			t.Errorf("a Deployment allowing privilege escalation got no Pod Security warning in %s: %q", releaseNS, stderr)
		}
	})
}

// TestServiceMonitorScrapesTheMetricsService: the ServiceMonitor selects the metrics Service by
// its labels and names its port; the Service selects the controller's Pods and targets their
// metrics port.
func TestServiceMonitorScrapesTheMetricsService(t *testing.T) {
	objs := template(t, monitoring)
	var svc corev1.Service
	var d appsv1.Deployment
	objs.Get(t, "Service", releaseNS, release+"-metrics", &svc)
	objs.Get(t, "Deployment", releaseNS, release, &d)
	var sm *unstructured.Unstructured
	for _, u := range objs {
		if u.GetKind() == "ServiceMonitor" {
			sm = u
		}
	}
	if sm == nil {
		t.Fatalf("no ServiceMonitor: %v", objs.Keys())
	}
	if sm.GetLabels()["release"] != "prometheus" {
		t.Errorf("ServiceMonitor labels %v lack metrics.serviceMonitor.labels", sm.GetLabels())
	}
	matchLabels, _, _ := unstructured.NestedStringMap(sm.Object, "spec", "selector", "matchLabels")
	if len(matchLabels) == 0 || !labels.SelectorFromSet(matchLabels).Matches(labels.Set(svc.Labels)) {
		t.Errorf("ServiceMonitor selector %v does not select the Service (labels %v)", matchLabels, svc.Labels)
	}
	endpoints, _, _ := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
	if len(endpoints) != 1 || endpoints[0].(map[string]any)["port"] != "metrics" || endpoints[0].(map[string]any)["scrapeTimeout"] != "10s" {
		t.Errorf("ServiceMonitor endpoints = %v, want the Service's metrics port with scrapeTimeout 10s", endpoints)
	}
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Name != "metrics" || svc.Spec.Ports[0].TargetPort.String() != "metrics" {
		t.Errorf("Service ports = %+v", svc.Spec.Ports)
	}
	if !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(d.Spec.Template.Labels)) {
		t.Errorf("Service selector %v does not select the Pods %v", svc.Spec.Selector, d.Spec.Template.Labels)
	}
	var port int32
	for _, p := range d.Spec.Template.Spec.Containers[0].Ports {
		if p.Name == "metrics" {
			port = p.ContainerPort
		}
	}
	if port != 8080 || !slices.Contains(d.Spec.Template.Spec.Containers[0].Args, "--metrics-bind-address=:8080") {
		t.Errorf("container metrics port %d, args %v: want 8080 served by --metrics-bind-address", port, d.Spec.Template.Spec.Containers[0].Args)
	}
}

// TestSameInstallAsKustomize: for the README's release name, the chart renders what kustomize
// renders, cluster-wide (manifests/) and namespaced (manifests/overlays/namespaced with
// watchNamespace=kong): the same objects but for the Namespace (Helm's, with
// --create-namespace) and the CRD (the chart's crds/, byte for byte the generated one), plus
// the metrics Service; RBAC with the same permissions, bindings and subjects; user ClusterRoles
// with the same aggregation labels; the Deployment with the same Pod: security contexts,
// resources, probes, ports, scheduling, every kustomize arg and env variable; the same
// PodDisruptionBudget. Every arg is a flag the binary has.
func TestSameInstallAsKustomize(t *testing.T) {
	help := framework.ControllerHelp(t)
	for _, c := range []struct {
		m   mode
		dir string
	}{{defaults, "manifests"}, {namespaced, "manifests/overlays/namespaced"}} {
		t.Run(c.m.name, func(t *testing.T) {
			chart := template(t, c.m)
			_, kust := framework.Kustomize(t, cp, c.dir)

			var wantKeys []string
			for _, k := range kust.Keys() {
				if !strings.HasPrefix(k, "Namespace/") && !strings.HasPrefix(k, "CustomResourceDefinition/") {
					wantKeys = append(wantKeys, k)
				}
			}
			wantKeys = append(wantKeys, "Service/"+releaseNS+"/"+release+"-metrics")
			sort.Strings(wantKeys)
			if got := chart.Keys(); !slices.Equal(got, wantKeys) {
				t.Errorf("objects:\n  chart     %v\n  kustomize %v (without Namespace and CRD, with the metrics Service)", got, wantKeys)
			}

			for _, u := range kust {
				switch u.GetKind() {
				case "ClusterRole":
					var want, got rbacv1.ClusterRole
					kust.Get(t, "ClusterRole", "", u.GetName(), &want)
					chart.Get(t, "ClusterRole", "", u.GetName(), &got)
					compareRules(t, framework.Key(u), got.Rules, want.Rules)
					for k, v := range want.Labels {
						if strings.HasPrefix(k, "rbac.authorization.k8s.io/") && got.Labels[k] != v {
							t.Errorf("%s: label %s=%q, kustomize has %q", framework.Key(u), k, got.Labels[k], v)
						}
					}
					for k := range got.Labels {
						if strings.HasPrefix(k, "rbac.authorization.k8s.io/") && want.Labels[k] == "" {
							t.Errorf("%s: the chart adds aggregation label %s", framework.Key(u), k)
						}
					}
				case "Role":
					var want, got rbacv1.Role
					kust.Get(t, "Role", u.GetNamespace(), u.GetName(), &want)
					chart.Get(t, "Role", u.GetNamespace(), u.GetName(), &got)
					compareRules(t, framework.Key(u), got.Rules, want.Rules)
				case "ClusterRoleBinding":
					var want, got rbacv1.ClusterRoleBinding
					kust.Get(t, u.GetKind(), "", u.GetName(), &want)
					chart.Get(t, u.GetKind(), "", u.GetName(), &got)
					compareBinding(t, framework.Key(u), got.RoleRef, want.RoleRef, got.Subjects, want.Subjects)
				case "RoleBinding":
					var want, got rbacv1.RoleBinding
					kust.Get(t, u.GetKind(), u.GetNamespace(), u.GetName(), &want)
					chart.Get(t, u.GetKind(), u.GetNamespace(), u.GetName(), &got)
					compareBinding(t, framework.Key(u), got.RoleRef, want.RoleRef, got.Subjects, want.Subjects)
				case "PodDisruptionBudget":
					var want, got policyv1.PodDisruptionBudget
					kust.Get(t, u.GetKind(), u.GetNamespace(), u.GetName(), &want)
					chart.Get(t, u.GetKind(), u.GetNamespace(), u.GetName(), &got)
					var d appsv1.Deployment
					chart.Get(t, "Deployment", releaseNS, release, &d)
					if !equality.Semantic.DeepEqual(got.Spec.MinAvailable, want.Spec.MinAvailable) ||
						!equality.Semantic.DeepEqual(got.Spec.UnhealthyPodEvictionPolicy, want.Spec.UnhealthyPodEvictionPolicy) {
						t.Errorf("PodDisruptionBudget spec = %+v, kustomize %+v", got.Spec, want.Spec)
					}
					if sel, err := metav1.LabelSelectorAsSelector(got.Spec.Selector); err != nil || !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
						t.Errorf("the PodDisruptionBudget does not select the chart's Pods")
					}
				case "Deployment":
					compareDeployments(t, chart, kust, help)
				}
			}
		})
	}

	t.Run("crds", func(t *testing.T) {
		generated, _ := filepath.Glob(filepath.Join(repoRoot, "manifests", "crd", "*.yaml"))
		copied, _ := filepath.Glob(filepath.Join(chartDir, "crds", "*.yaml"))
		if len(generated) == 0 || len(generated) != len(copied) {
			t.Fatalf("manifests/crd has %v, the chart's crds/ %v", generated, copied)
		}
		for _, g := range generated {
			a, _ := os.ReadFile(g)
			b, err := os.ReadFile(filepath.Join(chartDir, "crds", filepath.Base(g)))
			if err != nil || !bytes.Equal(a, b) {
				t.Errorf("the chart's crds/%s differs from manifests/crd (%v): run make generate", filepath.Base(g), err)
			}
		}
	})
}

func compareRules(t *testing.T, what string, got, want []rbacv1.PolicyRule) {
	t.Helper()
	if g, w := framework.Permissions(got), framework.Permissions(want); !slices.Equal(g, w) {
		t.Errorf("%s permissions:\n  chart     %v\n  kustomize %v", what, g, w)
	}
}

func compareBinding(t *testing.T, what string, gotRef, wantRef rbacv1.RoleRef, gotSubjects, wantSubjects []rbacv1.Subject) {
	t.Helper()
	if gotRef != wantRef || !slices.Equal(gotSubjects, wantSubjects) {
		t.Errorf("%s: chart binds %+v to %+v, kustomize %+v to %+v", what, gotSubjects, gotRef, wantSubjects, wantRef)
	}
}

func compareDeployments(t *testing.T, chart, kust framework.Objects, help string) {
	t.Helper()
	var got, want appsv1.Deployment
	chart.Get(t, "Deployment", releaseNS, release, &got)
	kust.Get(t, "Deployment", releaseNS, release, &want)
	// field is one part of the Deployment the chart must render as kustomize does.
	type field struct {
		what string
		g, w any
	}
	eq := func(fields ...field) {
		t.Helper()
		for _, f := range fields {
			if !equality.Semantic.DeepEqual(f.g, f.w) {
				t.Errorf("Deployment %s:\n  chart     %+v\n  kustomize %+v", f.what, f.g, f.w)
			}
		}
	}
	gp, wp := got.Spec.Template.Spec, want.Spec.Template.Spec
	if len(gp.Containers) != 1 {
		t.Fatalf("%d containers", len(gp.Containers))
	}
	gc, wc := gp.Containers[0], wp.Containers[0]
	eq(field{"replicas", got.Spec.Replicas, want.Spec.Replicas},
		field{"strategy", got.Spec.Strategy, want.Spec.Strategy},
		field{"revisionHistoryLimit", got.Spec.RevisionHistoryLimit, want.Spec.RevisionHistoryLimit},
		field{"serviceAccountName", gp.ServiceAccountName, wp.ServiceAccountName},
		field{"automountServiceAccountToken", gp.AutomountServiceAccountToken, wp.AutomountServiceAccountToken},
		field{"enableServiceLinks", gp.EnableServiceLinks, wp.EnableServiceLinks},
		field{"terminationGracePeriodSeconds", gp.TerminationGracePeriodSeconds, wp.TerminationGracePeriodSeconds},
		field{"pod securityContext", gp.SecurityContext, wp.SecurityContext},
		field{"nodeSelector", gp.NodeSelector, wp.NodeSelector},
		field{"container name", gc.Name, wc.Name},
		field{"container securityContext", gc.SecurityContext, wc.SecurityContext},
		field{"resources", gc.Resources, wc.Resources},
		field{"ports", gc.Ports, wc.Ports},
		field{"livenessProbe", gc.LivenessProbe, wc.LivenessProbe},
		field{"readinessProbe", gc.ReadinessProbe, wc.ReadinessProbe},
		field{"env", gc.Env, wc.Env},
		field{"imagePullPolicy", gc.ImagePullPolicy, wc.ImagePullPolicy},
		field{"terminationMessagePolicy", gc.TerminationMessagePolicy, wc.TerminationMessagePolicy})
	var gTopo, wTopo []string
	for _, c := range gp.TopologySpreadConstraints {
		gTopo = append(gTopo, c.TopologyKey+"/"+string(c.WhenUnsatisfiable))
	}
	for _, c := range wp.TopologySpreadConstraints {
		wTopo = append(wTopo, c.TopologyKey+"/"+string(c.WhenUnsatisfiable))
	}
	eq(field{"topologySpreadConstraints", gTopo, wTopo})
	for _, c := range gp.TopologySpreadConstraints {
		if sel, err := metav1.LabelSelectorAsSelector(c.LabelSelector); err != nil || !sel.Matches(labels.Set(got.Spec.Template.Labels)) {
			t.Errorf("topology spread %s does not select the chart's Pods", c.TopologyKey)
		}
	}
	if sel, err := metav1.LabelSelectorAsSelector(got.Spec.Selector); err != nil || !sel.Matches(labels.Set(got.Spec.Template.Labels)) {
		t.Errorf("the Deployment's selector does not match its Pods")
	}
	for k, v := range want.Spec.Template.Annotations {
		if got.Spec.Template.Annotations[k] != v {
			t.Errorf("Pod annotation %s = %q, kustomize %q", k, got.Spec.Template.Annotations[k], v)
		}
	}
	for _, a := range wc.Args {
		if !slices.Contains(gc.Args, a) {
			t.Errorf("the chart's args %v lack kustomize's %s", gc.Args, a)
		}
	}
	for _, a := range gc.Args {
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !regexp.MustCompile(`(?m)^\s+-` + regexp.QuoteMeta(name) + `\b`).MatchString(help) {
			t.Errorf("arg %s: the binary has no flag %q", a, name)
		}
	}
	if gc.Image != "konnect-auth-controller:0.1.0" {
		t.Errorf("image = %q, want repository:appVersion", gc.Image)
	}
}

// TestEveryValueReachesTheDeployment: the options of the "everything" mode show up where they
// belong in the rendered objects (each --set is checked, so that a value the templates ignore
// fails here).
func TestEveryValueReachesTheDeployment(t *testing.T) {
	objs := template(t, everything)
	var d appsv1.Deployment
	objs.Get(t, "Deployment", releaseNS, release, &d)
	pod := d.Spec.Template.Spec
	c := pod.Containers[0]
	for _, want := range []string{
		"--namespace=kong", "--leader-elect-lease-duration=30s", "--workers=4", "--konnect-qps=5.5",
		"--konnect-timeout=30s", "--revalidate-interval=30m", "-v=2", "--leader-elect-retry-period=3s",
	} {
		if !slices.Contains(c.Args, want) {
			t.Errorf("args %v lack %s", c.Args, want)
		}
	}
	if want := "registry.example.com/kong/konnect-auth-controller:v1.2.3@sha256:" + strings.Repeat("ab", 32); c.Image != want {
		t.Errorf("image = %q, want %q", c.Image, want)
	}
	if c.ImagePullPolicy != corev1.PullAlways || len(pod.ImagePullSecrets) != 1 || pod.ImagePullSecrets[0].Name != "regcred" {
		t.Errorf("pull policy %s, secrets %v", c.ImagePullPolicy, pod.ImagePullSecrets)
	}
	if *d.Spec.Replicas != 3 || pod.PriorityClassName != "system-cluster-critical" || d.Spec.Template.Labels["team"] != "platform" {
		t.Errorf("replicas %d, priorityClassName %q, pod labels %v", *d.Spec.Replicas, pod.PriorityClassName, d.Spec.Template.Labels)
	}
	if len(pod.Tolerations) != 1 || pod.Tolerations[0].Key != "dedicated" || pod.Affinity == nil || pod.Affinity.NodeAffinity == nil {
		t.Errorf("tolerations %+v, affinity %+v", pod.Tolerations, pod.Affinity)
	}
	env := map[string]string{}
	for _, e := range c.Env {
		env[e.Name] = e.Value
	}
	if env["HTTPS_PROXY"] != "http://proxy.example.com:3128" || env["NO_PROXY"] != "10.0.0.0/8,.svc" {
		t.Errorf("extraEnv not in env: %v", env)
	}
	// The CA bundle: the ConfigMap's key mounted read-only, and SSL_CERT_FILE naming it.
	if len(pod.Volumes) != 1 || pod.Volumes[0].ConfigMap == nil || pod.Volumes[0].ConfigMap.Name != "corporate-ca" ||
		len(c.VolumeMounts) != 1 || !c.VolumeMounts[0].ReadOnly || c.VolumeMounts[0].Name != pod.Volumes[0].Name {
		t.Fatalf("CA bundle volume %+v, mounts %+v", pod.Volumes, c.VolumeMounts)
	}
	if want := c.VolumeMounts[0].MountPath + "/" + pod.Volumes[0].ConfigMap.Items[0].Path; env["SSL_CERT_FILE"] != want || pod.Volumes[0].ConfigMap.Items[0].Key != "ca.crt" {
		t.Errorf("SSL_CERT_FILE = %q, want the mounted key %s", env["SSL_CERT_FILE"], want)
	}
	var pdb policyv1.PodDisruptionBudget
	objs.Get(t, "PodDisruptionBudget", releaseNS, release, &pdb)
	if pdb.Spec.MinAvailable.IntValue() != 2 {
		t.Errorf("minAvailable = %v", pdb.Spec.MinAvailable)
	}
	var sa corev1.ServiceAccount
	objs.Get(t, "ServiceAccount", releaseNS, release, &sa)
	if sa.Annotations["example.com/role"] != "konnect" {
		t.Errorf("ServiceAccount annotations = %v", sa.Annotations)
	}

	// Switches that remove objects.
	off := template(t, mode{name: "off", set: []string{"userClusterRoles.enabled=false", "replicaCount=1", "metrics.enabled=false"}})
	for _, k := range off.Keys() {
		if strings.HasSuffix(k, "-admin") || strings.HasSuffix(k, "-edit") || strings.HasSuffix(k, "-viewer") ||
			strings.HasPrefix(k, "PodDisruptionBudget/") || strings.HasPrefix(k, "Service/") {
			t.Errorf("rendered %s although it is switched off (a PodDisruptionBudget with one replica would block drains)", k)
		}
	}
	off.Get(t, "Deployment", releaseNS, release, &d)
	if !slices.Contains(d.Spec.Template.Spec.Containers[0].Args, "--metrics-bind-address=0") {
		t.Errorf("metrics.enabled=false: args %v lack --metrics-bind-address=0", d.Spec.Template.Spec.Containers[0].Args)
	}
}

// TestBadValuesRefused: `helm install` refuses wrong values with a message naming the key and
// the rule, and creates nothing.
func TestBadValuesRefused(t *testing.T) {
	for _, c := range []struct {
		set, message string
	}{
		{"replicaCount=two", "at '/replicaCount': got string, want integer"},
		{"imagee.tag=v1", "additional properties 'imagee' not allowed"},
		{"image.pullPolicy=Sometimes", "at '/image/pullPolicy': value must be one of 'IfNotPresent', 'Always', 'Never'"},
		{"controller.logLevel=8", "at '/controller/logLevel': maximum: got 8, want 5"},
		{"controller.konnectTimeout=ten", "at '/controller/konnectTimeout'"},
		{"controller.workers=0", "at '/controller/workers': minimum: got 0, want 1"},
		{"watchNamespace=Kong_Team", "at '/watchNamespace'"},
		{"image.digest=latest", "at '/image/digest'"},
		{"metrics.serviceMonitor.enabledd=true", "additional properties 'enabledd' not allowed"},
		{"leaderElection.enabled=false", "replicaCount is 2 but leaderElection.enabled is false"},
		{"metrics.service.enabled=false,metrics.serviceMonitor.enabled=true", "metrics.serviceMonitor.enabled needs metrics.enabled and metrics.service.enabled"},
	} {
		out, stderr, err := helm(cp, "install", "bad", chartDir, "-n", releaseNS, "--set", c.set)
		expectRefused(t, "helm install bad charts/konnect-auth-controller -n "+releaseNS+" --set "+c.set, c.message, out, stderr, err)
	}
	out := mustHelm(t, cp, "list", "-n", releaseNS, "-a", "-q")
	if strings.TrimSpace(out) != "" {
		t.Errorf("refused installs left releases: %q", out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if out, _, err := cp.Kubectl(ctx, "get", "deployments,serviceaccounts,secrets", "-n", releaseNS, "-l", "app.kubernetes.io/instance=bad", "-o", "name"); err != nil || strings.TrimSpace(out) != "" {
		t.Errorf("refused installs left objects: %q %v", out, err)
	}
}

// TestCASecretRole: in namespaced mode the controller reads the one cluster CA Secret
// (konnect-auth-controller-ca, its flag's default) in the release namespace, by name, and may
// create it: a Role of its own there, unless the watched namespace is the release namespace,
// whose Role already grants Secrets.
func TestCASecretRole(t *testing.T) {
	objs := template(t, namespaced)
	var role rbacv1.Role
	objs.Get(t, "Role", releaseNS, release+"-ca", &role)
	want := []string{
		"/secrets/konnect-auth-controller-ca:get",
		"/secrets/konnect-auth-controller-ca:list",
		"/secrets/konnect-auth-controller-ca:watch",
		"/secrets:create",
	}
	if got := framework.Permissions(role.Rules); !slices.Equal(got, want) {
		t.Errorf("the CA Secret's Role:\n  got  %v\n  want %v", got, want)
	}
	var binding rbacv1.RoleBinding
	objs.Get(t, "RoleBinding", releaseNS, release+"-ca", &binding)
	if binding.RoleRef.Name != role.Name || len(binding.Subjects) != 1 || binding.Subjects[0].Name != release || binding.Subjects[0].Namespace != releaseNS {
		t.Errorf("the CA Secret's RoleBinding: %+v %+v", binding.RoleRef, binding.Subjects)
	}

	same := template(t, mode{name: "namespaced-in-release-namespace", set: []string{"watchNamespace=" + releaseNS}})
	if slices.Contains(same.Keys(), "Role/"+releaseNS+"/"+release+"-ca") {
		t.Errorf("watchNamespace=%s renders a CA Role beside the controller's Role there: %v", releaseNS, same.Keys())
	}
	same.Get(t, "Role", releaseNS, release, &role)
	perms := framework.Permissions(role.Rules)
	for _, p := range []string{"/secrets:get", "/secrets:list", "/secrets:watch", "/secrets:create"} {
		if !slices.Contains(perms, p) {
			t.Errorf("watchNamespace=%s: the controller's Role lacks %s: %v", releaseNS, p, perms)
		}
	}
}

// expectRefused fails the test unless the helm command (what) failed with message in its stderr,
// and logs the refusal a user sees.
func expectRefused(t *testing.T, what, message, out, stderr string, err error) {
	t.Helper()
	switch {
	case err == nil:
		t.Errorf("%s was accepted:\n%.300s", what, out)
	case !strings.Contains(stderr, message):
		t.Errorf("%s: stderr %q lacks %q", what, stderr, message)
	default:
		t.Logf("$ %s\n%s", what, strings.TrimSpace(stderr))
	}
}
