package production_test

import (
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"

	"github.com/konnect-auth-controller/konnect-auth-controller/test/controlplane"
	"github.com/konnect-auth-controller/konnect-auth-controller/test/e2e/framework"
)

// variant is one way of installing the controller.
type variant struct {
	name string
	// dir is the kustomization, relative to the repository root.
	dir string
	// watched is the namespace given to --namespace, "" for all namespaces.
	watched string
}

var (
	clusterWide = variant{name: "cluster-wide", dir: "manifests"}
	namespaced  = variant{name: "namespaced", dir: "manifests/overlays/namespaced", watched: "kong"}
)

// path is the kustomization's absolute path.
func (v variant) path() string { return filepath.Join(repoRoot, v.dir) }

// rendered is what `kubectl kustomize` printed for a variant, and its objects.
type rendered struct {
	yaml string
	framework.Objects
}

// render runs `kubectl kustomize DIR` (kubectl's built-in kustomize, as `kubectl apply -k`
// uses it) and decodes every document.
func render(t testing.TB, v variant) rendered {
	t.Helper()
	out, objs := framework.Kustomize(t, cp, v.dir)
	return rendered{yaml: out, Objects: objs}
}

// controllerPermissions is exactly what the controller uses where it watches: configurations
// (informer; patch: the in-use finalizer), their status (merge patch), control planes
// (informer, cleanup finalizer, status), extensions (informer, cleanup finalizer and
// dp-certificate annotation, status, and update on finalizers for the generated Secret's
// blockOwnerDeletion owner reference), Secrets (label-selected informers, a metadata-only get
// of one Secret to tell "unlabelled" from "missing", the in-use finalizer patch, create and
// update of generated certificate Secrets), and Events. No get or update of a configuration,
// control plane or extension: they are read from the informers' caches and only patched.
var controllerPermissions = []string{
	"/events:create",
	"/events:patch",
	"/secrets:create",
	"/secrets:get",
	"/secrets:list",
	"/secrets:patch",
	"/secrets:update",
	"/secrets:watch",
	"konnect.konghq.com/konnectapiauthconfigurations/status:patch",
	"konnect.konghq.com/konnectapiauthconfigurations:list",
	"konnect.konghq.com/konnectapiauthconfigurations:patch",
	"konnect.konghq.com/konnectapiauthconfigurations:watch",
	"konnect.konghq.com/konnectextensions/finalizers:update",
	"konnect.konghq.com/konnectextensions/status:patch",
	"konnect.konghq.com/konnectextensions:list",
	"konnect.konghq.com/konnectextensions:patch",
	"konnect.konghq.com/konnectextensions:watch",
	"konnect.konghq.com/konnectgatewaycontrolplanes/status:patch",
	"konnect.konghq.com/konnectgatewaycontrolplanes:list",
	"konnect.konghq.com/konnectgatewaycontrolplanes:patch",
	"konnect.konghq.com/konnectgatewaycontrolplanes:watch",
}

// caSecret is the default --cluster-ca-secret, in the controller's namespace.
const caSecret = "konnect-auth-controller-ca"

// caPermissions is what the namespaced controller has in its own namespace for the cluster CA
// Secret: read that one Secret (get, and list/watch with a metadata.name field selector) and
// create it (RBAC cannot restrict create by name). Cluster-wide, the ClusterRole covers it.
var caPermissions = []string{
	"/secrets/" + caSecret + ":get",
	"/secrets/" + caSecret + ":list",
	"/secrets/" + caSecret + ":watch",
	"/secrets:create",
}

// grantPermissions is what only the cluster-wide controller uses: the KongReferenceGrant
// informer. Confined to one namespace (--namespace), it refuses cross-namespace references and
// does not watch grants.
var grantPermissions = []string{
	"configuration.konghq.com/kongreferencegrants:list",
	"configuration.konghq.com/kongreferencegrants:watch",
}

// leasePermissions is what leader election uses in the controller's own namespace: create the
// Lease (RBAC cannot restrict create by name), then read and renew only that one.
var leasePermissions = []string{
	"coordination.k8s.io/leases/" + leaseName + ":get",
	"coordination.k8s.io/leases/" + leaseName + ":update",
	"coordination.k8s.io/leases:create",
}

// TestKustomizeRenders checks what `kubectl kustomize` makes of both variants, before any
// cluster sees them: the set of objects, the controller's RBAC (exactly its needs), the
// hardened Deployment (whose flags must all exist in the built binary), the
// PodDisruptionBudget and the user-facing ClusterRoles.
func TestKustomizeRenders(t *testing.T) {
	help := framework.ControllerHelp(t)
	for _, v := range []variant{clusterWide, namespaced} {
		t.Run(v.name, func(t *testing.T) {
			r := render(t, v)
			t.Logf("$ kubectl kustomize %s\n%s", v.dir, strings.Join(r.Keys(), "\n"))

			want := []string{
				"ClusterRole//konnect-auth-controller-admin",
				"ClusterRole//konnect-auth-controller-edit",
				"ClusterRole//konnect-auth-controller-viewer",
				"Deployment/konnect-system/konnect-auth-controller",
				"Namespace//konnect-system",
				"PodDisruptionBudget/konnect-system/konnect-auth-controller",
				"Role/konnect-system/konnect-auth-controller-leader-election",
				"RoleBinding/konnect-system/konnect-auth-controller-leader-election",
				"ServiceAccount/konnect-system/konnect-auth-controller",
			}
			if v.watched == "" {
				want = append(want,
					"ClusterRole//konnect-auth-controller",
					"ClusterRoleBinding//konnect-auth-controller",
					"CustomResourceDefinition//konnectapiauthconfigurations.konnect.konghq.com",
					"CustomResourceDefinition//konnectextensions.konnect.konghq.com",
					"CustomResourceDefinition//konnectgatewaycontrolplanes.konnect.konghq.com",
					"CustomResourceDefinition//kongreferencegrants.configuration.konghq.com")
			} else {
				// No ClusterRole for the controller; Roles in the watched namespace. (The CRD is
				// applied from manifests/crd/ first: see the overlay's kustomization.yaml.)
				// The cluster CA Secret stays in the controller's namespace.
				want = append(want,
					"Role/"+v.watched+"/konnect-auth-controller",
					"RoleBinding/"+v.watched+"/konnect-auth-controller",
					"Role/"+saNamespace+"/konnect-auth-controller-ca",
					"RoleBinding/"+saNamespace+"/konnect-auth-controller-ca")
			}
			sort.Strings(want)
			if got := r.Keys(); !slices.Equal(got, want) {
				t.Errorf("rendered objects:\n  got  %v\n  want %v", got, want)
			}

			checkControllerRBAC(t, r, v)
			checkDeployment(t, r, v, help)
			checkPDB(t, r)
			checkUserRoles(t, r)
		})
	}
}

// checkControllerRBAC: the controller's grants are exactly its needs, bound to its
// ServiceAccount, and the Lease grant is in its own namespace and names the Lease the binary
// uses by default.
func checkControllerRBAC(t *testing.T, r rendered, v variant) {
	t.Helper()
	var grants []rbacv1.PolicyRule
	var roleRef rbacv1.RoleRef
	var subjects []rbacv1.Subject
	if v.watched == "" {
		var role rbacv1.ClusterRole
		var binding rbacv1.ClusterRoleBinding
		r.Get(t, "ClusterRole", "", "konnect-auth-controller", &role)
		r.Get(t, "ClusterRoleBinding", "", "konnect-auth-controller", &binding)
		grants, roleRef, subjects = role.Rules, binding.RoleRef, binding.Subjects
		if roleRef.Kind != "ClusterRole" {
			t.Errorf("ClusterRoleBinding refers to a %s", roleRef.Kind)
		}
	} else {
		var role rbacv1.Role
		var binding rbacv1.RoleBinding
		r.Get(t, "Role", v.watched, "konnect-auth-controller", &role)
		r.Get(t, "RoleBinding", v.watched, "konnect-auth-controller", &binding)
		grants, roleRef, subjects = role.Rules, binding.RoleRef, binding.Subjects
		if roleRef.Kind != "Role" {
			t.Errorf("RoleBinding in %s refers to a %s, want its Role", v.watched, roleRef.Kind)
		}
	}
	wantPerms := controllerPermissions
	if v.watched == "" {
		wantPerms = union(controllerPermissions, grantPermissions)
	}
	if got := framework.Permissions(grants); !slices.Equal(got, wantPerms) {
		t.Errorf("controller permissions:\n  got  %v\n  want %v", got, wantPerms)
	}
	wantSubject := []rbacv1.Subject{{Kind: "ServiceAccount", Name: saName, Namespace: saNamespace}}
	if roleRef.Name != "konnect-auth-controller" || !slices.Equal(subjects, wantSubject) {
		t.Errorf("controller binding: roleRef %+v subjects %+v, want konnect-auth-controller and %+v", roleRef, subjects, wantSubject)
	}

	checkRole(t, r, "konnect-auth-controller-leader-election", "leader-election", leasePermissions, wantSubject)
	var sa corev1.ServiceAccount
	r.Get(t, "ServiceAccount", saNamespace, saName, &sa)

	if v.watched != "" {
		// The CA Secret's Role, in the controller's namespace, for the flag's default name (the
		// Deployment does not set --cluster-ca-secret or --cluster-ca-secret-namespace).
		checkRole(t, r, "konnect-auth-controller-ca", "CA Secret", caPermissions, wantSubject)
		var d appsv1.Deployment
		r.Get(t, "Deployment", saNamespace, "konnect-auth-controller", &d)
		for _, a := range d.Spec.Template.Spec.Containers[0].Args {
			if strings.HasPrefix(a, "--cluster-ca-secret") {
				t.Errorf("the Deployment sets %s: the CA Role names the default Secret in %s", a, saNamespace)
			}
		}
	}
}

// checkRole checks the Role name in the controller's namespace and the RoleBinding of the same
// name: the Role grants exactly perms, the binding refers to it and binds exactly subjects.
func checkRole(t *testing.T, r rendered, name, what string, perms []string, subjects []rbacv1.Subject) {
	t.Helper()
	var role rbacv1.Role
	var binding rbacv1.RoleBinding
	r.Get(t, "Role", saNamespace, name, &role)
	r.Get(t, "RoleBinding", saNamespace, name, &binding)
	if got := framework.Permissions(role.Rules); !slices.Equal(got, perms) {
		t.Errorf("%s permissions:\n  got  %v\n  want %v", what, got, perms)
	}
	if binding.RoleRef.Kind != "Role" || binding.RoleRef.Name != role.Name || !slices.Equal(binding.Subjects, subjects) {
		t.Errorf("%s RoleBinding: %+v %+v", what, binding.RoleRef, binding.Subjects)
	}
}

// checkDeployment: two replicas, leader election on with the Lease in the Pod's namespace,
// probes and metrics on the documented ports, hardened security context, resources, spread
// over nodes; every flag in args is one the binary knows.
func checkDeployment(t *testing.T, r rendered, v variant, help string) {
	t.Helper()
	var d appsv1.Deployment
	r.Get(t, "Deployment", saNamespace, "konnect-auth-controller", &d)
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 2 {
		t.Errorf("replicas = %v, want 2", d.Spec.Replicas)
	}
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil || !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
		t.Errorf("selector %v does not match the Pod template's labels %v (%v)", d.Spec.Selector, d.Spec.Template.Labels, err)
	}
	pod := d.Spec.Template.Spec
	if pod.ServiceAccountName != saName {
		t.Errorf("serviceAccountName = %q", pod.ServiceAccountName)
	}
	if pod.AutomountServiceAccountToken == nil || !*pod.AutomountServiceAccountToken {
		t.Errorf("automountServiceAccountToken must be true: the controller authenticates with it")
	}
	psc := pod.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser != 65532 ||
		psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod securityContext = %+v, want runAsNonRoot, runAsUser 65532, seccomp RuntimeDefault", psc)
	}
	spread := false
	for _, c := range pod.TopologySpreadConstraints {
		spread = spread || c.TopologyKey == "kubernetes.io/hostname"
	}
	if a := pod.Affinity; !spread && (a == nil || a.PodAntiAffinity == nil) {
		t.Errorf("the replicas are neither spread over nodes nor anti-affine")
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(pod.Containers))
	}
	c := pod.Containers[0]
	if c.Image != "konnect-auth-controller:dev" {
		t.Errorf("image = %q, want the kustomize placeholder konnect-auth-controller:dev", c.Image)
	}

	args := strings.Join(c.Args, " ")
	for _, want := range []string{"--leader-elect=true", "--leader-elect-namespace=$(POD_NAMESPACE)"} {
		if !slices.Contains(c.Args, want) {
			t.Errorf("args %q lack %s", args, want)
		}
	}
	if ns := slices.Contains(c.Args, "--namespace="+v.watched); v.watched != "" && !ns {
		t.Errorf("args %q lack --namespace=%s", args, v.watched)
	}
	if v.watched == "" && strings.Contains(args, "--namespace=") {
		t.Errorf("the cluster-wide Deployment passes --namespace: %q", args)
	}
	for _, a := range c.Args {
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !regexp.MustCompile(`(?m)^\s+-` + regexp.QuoteMeta(name) + `\b`).MatchString(help) {
			t.Errorf("arg %s: the binary has no flag %q", a, name)
		}
	}
	// The Lease the Role grants is the one the binary uses when --leader-elect-id is not given.
	if strings.Contains(args, "--leader-elect-id") {
		t.Errorf("args set --leader-elect-id; the Role's resourceNames must follow it")
	}
	if !regexp.MustCompile(`-leader-elect-id string\n[^\n]*\(default "` + leaseName + `"\)`).MatchString(help) {
		t.Errorf("the binary's default --leader-elect-id is not %q (the Lease the Role names):\n%s", leaseName, help)
	}
	envFrom := map[string]string{}
	for _, e := range c.Env {
		if e.ValueFrom != nil && e.ValueFrom.FieldRef != nil {
			envFrom[e.Name] = e.ValueFrom.FieldRef.FieldPath
		}
	}
	if envFrom["POD_NAMESPACE"] != "metadata.namespace" {
		t.Errorf("POD_NAMESPACE is not the downward API's metadata.namespace: %v", c.Env)
	}

	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	if ports["metrics"] != 8080 || ports["health"] != 8081 {
		t.Errorf("ports = %v, want metrics 8080 and health 8081", ports)
	}
	for _, probe := range []struct {
		name  string
		probe *corev1.Probe
		path  string
	}{{"liveness", c.LivenessProbe, "/healthz"}, {"readiness", c.ReadinessProbe, "/readyz"}} {
		if probe.probe == nil || probe.probe.HTTPGet == nil || probe.probe.HTTPGet.Path != probe.path ||
			(probe.probe.HTTPGet.Port.String() != "health" && probe.probe.HTTPGet.Port.IntValue() != 8081) {
			t.Errorf("%s probe = %+v, want GET %s on 8081", probe.name, probe.probe, probe.path)
		}
	}

	sc := c.SecurityContext
	if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
		sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
		sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) != 0 ||
		(sc.Privileged != nil && *sc.Privileged) {
		t.Errorf("container securityContext = %+v, want no privilege escalation, read-only root, capabilities drop ALL", sc)
	}
	for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		req, lim := c.Resources.Requests[res], c.Resources.Limits[res]
		if req.IsZero() || lim.IsZero() || req.Cmp(lim) > 0 {
			t.Errorf("%s: request %v, limit %v; want both, request ≤ limit", res, req.String(), lim.String())
		}
	}
}

// checkPDB: at least one replica stays through voluntary disruptions, and the budget selects
// the Deployment's Pods.
func checkPDB(t *testing.T, r rendered) {
	t.Helper()
	var pdb policyv1.PodDisruptionBudget
	var d appsv1.Deployment
	r.Get(t, "PodDisruptionBudget", saNamespace, "konnect-auth-controller", &pdb)
	r.Get(t, "Deployment", saNamespace, "konnect-auth-controller", &d)
	if pdb.Spec.MinAvailable == nil || pdb.Spec.MinAvailable.IntValue() != 1 {
		t.Errorf("minAvailable = %v, want 1", pdb.Spec.MinAvailable)
	}
	sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
	if err != nil || sel.Empty() || !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
		t.Errorf("the PodDisruptionBudget's selector %v does not select the controller's Pods %v", pdb.Spec.Selector, d.Spec.Template.Labels)
	}
}

// aggregationLabel is the label prefix the built-in admin/edit/view roles select on.
const aggregationLabel = "rbac.authorization.k8s.io/aggregate-to-"

// checkUserRoles: -admin aggregates to admin, -edit to edit, nothing to view (an inline token
// is readable by whoever may get the resource), and the viewer role aggregates nowhere.
func checkUserRoles(t *testing.T, r rendered) {
	t.Helper()
	for _, role := range []struct {
		name      string
		aggregate string // the only aggregate-to-* label it may carry; "" for none
		write     bool
	}{
		{"konnect-auth-controller-admin", "admin", true},
		{"konnect-auth-controller-edit", "edit", true},
		{"konnect-auth-controller-viewer", "", false},
	} {
		var cr rbacv1.ClusterRole
		r.Get(t, "ClusterRole", "", role.name, &cr)
		var aggregates []string
		for k, v := range cr.Labels {
			if strings.HasPrefix(k, aggregationLabel) && v == "true" {
				aggregates = append(aggregates, strings.TrimPrefix(k, aggregationLabel))
			}
		}
		want := []string{}
		if role.aggregate != "" {
			want = []string{role.aggregate}
		}
		if !slices.Equal(append([]string{}, aggregates...), want) {
			t.Errorf("%s aggregates to %v, want %v (never view)", role.name, aggregates, want)
		}
		perms := framework.Permissions(cr.Rules)
		for _, resource := range []string{"konnectapiauthconfigurations", "konnectgatewaycontrolplanes", "konnectextensions"} {
			for _, verb := range []string{"get", "list", "watch"} {
				if !slices.Contains(perms, "konnect.konghq.com/"+resource+":"+verb) {
					t.Errorf("%s cannot %s %s: %v", role.name, verb, resource, perms)
				}
			}
			if !slices.Contains(perms, "konnect.konghq.com/"+resource+"/status:get") {
				t.Errorf("%s cannot get the status of %s: %v", role.name, resource, perms)
			}
			for _, verb := range []string{"create", "update", "patch", "delete", "deletecollection"} {
				if has := slices.Contains(perms, "konnect.konghq.com/"+resource+":"+verb); has != role.write {
					t.Errorf("%s: %s %s = %v, want %v", role.name, verb, resource, has, role.write)
				}
			}
		}
		for _, p := range perms {
			if !strings.HasPrefix(p, "konnect.konghq.com/") {
				t.Errorf("%s grants more than the three kinds: %s", role.name, p)
			}
		}
		for _, p := range perms {
			if strings.Contains(p, "/status:") && !strings.HasSuffix(p, ":get") && !strings.HasSuffix(p, ":list") && !strings.HasSuffix(p, ":watch") {
				t.Errorf("%s may write the status, which only the controller writes: %s", role.name, p)
			}
		}
	}
}

// podFromTemplate is a Pod made from the Deployment's template, as the ReplicaSet controller
// would make it, for admission checks.
func podFromTemplate(t testing.TB, r rendered, name string, mutate func(*corev1.Pod)) string {
	t.Helper()
	var d appsv1.Deployment
	r.Get(t, "Deployment", saNamespace, "konnect-auth-controller", &d)
	pod := &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: saNamespace, Labels: d.Spec.Template.Labels},
		Spec:       *d.Spec.Template.Spec.DeepCopy(),
	}
	if mutate != nil {
		mutate(pod)
	}
	b, err := yaml.Marshal(pod)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// checkApplyOutput fails on any warning kubectl printed (deprecated APIs, Pod Security
// violations of the Deployment's template, unknown fields, …) and returns the applied lines.
func checkApplyOutput(t testing.TB, what, stdout, stderr string) {
	t.Helper()
	t.Logf("$ %s\n%s%s", what, stdout, stderr)
	if strings.Contains(stderr, "Warning") || strings.Contains(stdout, "Warning") {
		t.Errorf("%s printed warnings:\n%s%s", what, stdout, stderr)
	}
}

// applyVariant installs a variant on an empty control plane the way its documentation says
// (kubectl apply -k; for the namespaced overlay the CRD and the watched namespace first), and
// proves the apiserver accepted all of it, including a server-side dry run applied on top and
// a Pod from the Deployment's template under the namespace's "restricted" Pod Security level.
func applyVariant(t *testing.T, c *controlplane.ControlPlane, v variant) rendered {
	t.Helper()
	r := render(t, v)
	if v.watched != "" {
		crdDir, err := controlplane.CRDDir()
		if err != nil {
			t.Fatal(err)
		}
		out, stderr := framework.MustKubectl(t, c, "", "apply", "--server-side", "-f", crdDir)
		checkApplyOutput(t, "kubectl apply --server-side -f manifests/crd/", out, stderr)
		out, stderr = framework.MustKubectl(t, c, "", "create", "namespace", v.watched)
		checkApplyOutput(t, "kubectl create namespace "+v.watched, out, stderr)
	}

	// What the user types. kubectl validates strictly (unknown fields are errors) by default.
	out, stderr := framework.MustKubectl(t, c, "", "apply", "-k", v.path())
	checkApplyOutput(t, "kubectl apply -k "+v.dir, out, stderr)
	if n := strings.Count(strings.TrimSpace(out), "\n") + 1; n != len(r.Objects) {
		t.Errorf("kubectl apply -k applied %d objects, the kustomization renders %d", n, len(r.Objects))
	}
	// Every object is in the cluster as rendered.
	for _, u := range r.Objects {
		args := []string{"get", strings.ToLower(u.GetKind()), u.GetName(), "-o", "name"}
		if u.GetNamespace() != "" {
			args = append(args, "-n", u.GetNamespace())
		}
		framework.MustKubectl(t, c, "", args...)
	}

	// The same with server-side apply, as `kubectl apply --server-side` or a GitOps tool (Flux
	// applies server-side) would take over: no field conflicts with the client-side apply (the
	// manifests spell out what the apiserver defaults inside atomic fields), no warnings. Then
	// the server-side dry run, and the client-side apply once more: all accepted, all quiet.
	out, stderr = framework.MustKubectl(t, c, "", "apply", "-k", v.path(), "--server-side")
	checkApplyOutput(t, "kubectl apply -k "+v.dir+" --server-side", out, stderr)
	if n := strings.Count(out, " serverside-applied\n"); n != len(r.Objects) {
		t.Errorf("server-side apply applied %d of %d objects", n, len(r.Objects))
	}
	out, stderr = framework.MustKubectl(t, c, "", "apply", "-k", v.path(), "--server-side", "--dry-run=server")
	checkApplyOutput(t, "kubectl apply -k "+v.dir+" --server-side --dry-run=server", out, stderr)
	if n := strings.Count(out, "serverside-applied (server dry run)"); n != len(r.Objects) {
		t.Errorf("server-side dry run applied %d of %d objects", n, len(r.Objects))
	}
	out, stderr = framework.MustKubectl(t, c, "", "apply", "-k", v.path())
	checkApplyOutput(t, "kubectl apply -k "+v.dir+" (again)", out, stderr)

	// Nothing runs the Deployment here (no controller-manager, no kubelet), so ask the
	// apiserver to admit one of its Pods: Pod Security admission enforces "restricted" in
	// konnect-system. The negative control proves the enforcement is on, so the positive is
	// not vacuous.
	out, stderr = framework.MustKubectl(t, c, podFromTemplate(t, r, "from-template", nil), "create", "--dry-run=server", "-f", "-")
	checkApplyOutput(t, "kubectl create --dry-run=server -f pod-from-deployment-template.yaml", out, stderr)
	bad := podFromTemplate(t, r, "privilege-escalation", func(p *corev1.Pod) {
		yes := true
		p.Spec.Containers[0].SecurityContext.AllowPrivilegeEscalation = &yes
	})
	ctx, cancel := contextWithTimeout()
	defer cancel()
	if _, stderr, err := c.KubectlInput(ctx, strings.NewReader(bad), "create", "--dry-run=server", "-f", "-"); err == nil ||
		!strings.Contains(stderr, "violates PodSecurity") {
		t.Errorf("a Pod with allowPrivilegeEscalation: true was not refused by Pod Security admission in %s (err %v): %s", saNamespace, err, stderr)
	}
	return r
}

// deploymentArgs returns the controller container's args and env from the rendered
// Deployment, with $(VAR) references expanded as the kubelet does, given the Pod's namespace.
func deploymentArgs(t testing.TB, r rendered) (args, env []string) {
	t.Helper()
	var d appsv1.Deployment
	r.Get(t, "Deployment", saNamespace, "konnect-auth-controller", &d)
	c := d.Spec.Template.Spec.Containers[0]
	vars := map[string]string{}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.namespace":
			vars[e.Name] = saNamespace
		case e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.name":
			vars[e.Name] = "konnect-auth-controller-test"
		case e.ValueFrom == nil:
			vars[e.Name] = e.Value
		default:
			continue // resource limits (GOMEMLIMIT): not needed outside a container
		}
		env = append(env, e.Name+"="+vars[e.Name])
	}
	ref := regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)
	for _, a := range c.Args {
		args = append(args, ref.ReplaceAllStringFunc(a, func(m string) string {
			if v, ok := vars[m[2:len(m)-1]]; ok {
				return v
			}
			return m
		}))
	}
	return args, env
}
