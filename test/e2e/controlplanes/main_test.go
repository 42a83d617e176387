// Package controlplanes_test proves, end to end, that KonnectGatewayControlPlanes behave as
// CONTROLPLANES.md says Kong's operator makes them behave, against a real kube-apiserver and
// etcd, with the built controller binary (--konnect-sync-period=2s, -v=5) reaching a fake
// Konnect only through HTTPS_PROXY, and driven with kubectl and the user guide's YAML
// (manifests/examples/01-token.yaml and manifests/examples/connect/01-control-plane.yaml):
//
//   - an Origin is created in Konnect exactly once however many re-syncs follow, with the
//     ownership labels, and its status carries the id, organization, server URL, cluster type
//     and endpoints Konnect holds;
//   - a create whose answer was lost is adopted (by its k8s-uid label) after the 409, never
//     duplicated; a name taken by a control plane this object did not create is refused
//     (FailedToCreate) without a hot loop;
//   - a spec change is one PATCH; kubectl delete deletes it in Konnect and releases the auth
//     configuration's in-use finalizer; one deleted in Konnect is re-created;
//   - a Mirror of an existing id is Programmed and Mirrored and never written, also when
//     deleted; a Mirror of a missing id says so and writes nothing;
//   - Konnect down during a create, a delete or a steady state loses nothing and turns nothing
//     False that was True;
//   - no token appears in the controller's log at -v=5, in a condition or in an Event.
//
// Every test has its own namespace and its own token in its own Konnect organization, so the
// fake's request log is counted per token and the tests run in parallel.
//
// It needs bin/etcd, bin/kube-apiserver and bin/kubectl (`make tools`).
package controlplanes_test

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	konnectv1alpha2 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha2"
	"github.com/konnect-auth-controller/konnect-auth-controller/test/controlplane"
	"github.com/konnect-auth-controller/konnect-auth-controller/test/e2e/framework"
	"github.com/konnect-auth-controller/konnect-auth-controller/test/fakekonnect"
)

var (
	cp   *controlplane.ControlPlane
	env  *framework.Env
	ctrl *framework.Controller
)

const (
	// syncPeriod is the controller's --konnect-sync-period.
	syncPeriod = 2 * time.Second
	// region is the region of the guide's serverURL, us.api.konghq.com.
	region = "us"
	// serverURL is what status.serverURL says for it.
	serverURL = "https://us.api.konghq.com"
	// cpName is the guide's object name and Konnect name.
	cpName = "gateway-control-plane"
	// authName is the guide's auth configuration.
	authName = "konnect-api-auth"
)

var suite = &framework.Suite{
	Name: "controlplanes", OrgID: framework.NewUUID(),
	CP: &cp, Env: &env, Controller: &ctrl,
	// The tests count re-sync listings within a few sync periods. The listings may take 2.5 % of
	// --konnect-qps, and every test is an account of its own (one page each, some twenty at
	// once): at the default 20/s they would be spread over 40 s rather than 2 s. 1,000/s lets
	// every account be listed every sync period.
	ControllerArgs: []string{"-v=5", "--konnect-sync-period=" + syncPeriod.String(), "--konnect-certificate-sync-period=" + syncPeriod.String(),
		"--konnect-timeout=2s", "--konnect-qps=1000"},
}

func TestMain(m *testing.M) { os.Exit(suite.RunTestMain(m)) }

// tenant is one test's Konnect organization, token and namespace.
type tenant struct {
	t     *testing.T
	ns    string
	token string
	org   string
}

// newTenant makes a namespace, and a token the fake Konnect accepts for an organization of
// its own (control-plane names are unique per organization, and the request log is counted
// per token).
func newTenant(t *testing.T) *tenant {
	t.Helper()
	tn := &tenant{t: t, ns: controlplane.NewNamespace(t, cp), org: framework.NewUUID()}
	tn.token = env.NewTokenFor(t, tn.org)
	t.Cleanup(func() {
		env.Konnect.SetTokenBehavior(tn.token, fakekonnect.BehaviorNormal)
		if !t.Failed() {
			tn.assertTokenNotExposed()
		}
	})
	return tn
}

// example reads a file of manifests/examples and puts it in the tenant's namespace.
func (tn *tenant) example(path string) string {
	tn.t.Helper()
	return framework.Example(tn.t, path, tn.ns, "")
}

// authYAML is the guide's 01-token.yaml with the tenant's token in place of the placeholder.
func (tn *tenant) authYAML() string {
	tn.t.Helper()
	return framework.Example(tn.t, "01-token.yaml", tn.ns, tn.token)
}

// originYAML is the guide's connect/01-control-plane.yaml asking Konnect for konnectName.
func (tn *tenant) originYAML(konnectName string) string {
	tn.t.Helper()
	s := tn.example("connect/01-control-plane.yaml")
	const req = "createControlPlaneRequest:\n    name: " + cpName + "\n"
	if !strings.Contains(s, req) {
		tn.t.Fatalf("connect/01-control-plane.yaml no longer asks for %s", cpName)
	}
	return strings.Replace(s, req, "createControlPlaneRequest:\n    name: "+konnectName+"\n", 1)
}

// mirrorYAML is CONTROLPLANES.md's example 1b.
func (tn *tenant) mirrorYAML(id string) string {
	return fmt.Sprintf(`kind: KonnectGatewayControlPlane
apiVersion: konnect.konghq.com/v1alpha2
metadata: {name: %s, namespace: %s}
spec:
  source: Mirror
  mirror: {konnect: {id: "%s"}}
  konnect: {authRef: {name: %s}}
`, cpName, tn.ns, id, authName)
}

func (tn *tenant) apply(manifest string) {
	tn.t.Helper()
	framework.Apply(tn.t, cp, manifest)
}

func (tn *tenant) kubectl(args ...string) string {
	tn.t.Helper()
	return framework.KubectlOutput(tn.t, cp, append(args, "-n", tn.ns)...)
}

// applyAuth applies the auth configuration and waits until the auth reconciler says Valid
// (the control-plane reconciler needs that verdict).
func (tn *tenant) applyAuth() {
	tn.t.Helper()
	tn.applyAuthIn(tn.ns)
}

// applyAuthIn is applyAuth into namespace ns.
func (tn *tenant) applyAuthIn(ns string) {
	tn.t.Helper()
	framework.Apply(tn.t, cp, strings.ReplaceAll(tn.authYAML(), "namespace: "+tn.ns+"\n", "namespace: "+ns+"\n"))
	tn.waitFor("auth configuration Valid in "+ns, func() (bool, string) {
		out, stderr, err := framework.Kubectl(cp, "", "get", "konnectapiauthconfiguration", authName, "-n", ns,
			"-o", `jsonpath={.status.conditions[?(@.type=="APIAuthValid")].reason}`)
		return err == nil && out == "Valid", out + stderr
	})
}

// waitFor polls cond every 100ms up to framework.VerdictTimeout.
func (tn *tenant) waitFor(what string, cond func() (bool, string)) {
	tn.t.Helper()
	ctrl.WaitFor(tn.t, framework.VerdictTimeout, what, cond)
}

// object reads the control plane as `kubectl get -o json` prints it; nil when NotFound.
func (tn *tenant) object() *konnectv1alpha2.KonnectGatewayControlPlane {
	tn.t.Helper()
	return tn.objectNamed(cpName)
}

// objectNamed reads the control plane name as `kubectl get -o json` prints it; nil when
// NotFound.
func (tn *tenant) objectNamed(name string) *konnectv1alpha2.KonnectGatewayControlPlane {
	tn.t.Helper()
	out, stderr, err := framework.Kubectl(cp, "", "get", "konnectgatewaycontrolplane", name, "-n", tn.ns, "-o", "json")
	if err != nil {
		if strings.Contains(stderr, "NotFound") {
			return nil
		}
		tn.t.Fatalf("kubectl get: %v\n%s", err, stderr)
	}
	var obj konnectv1alpha2.KonnectGatewayControlPlane
	if err := json.Unmarshal([]byte(out), &obj); err != nil {
		tn.t.Fatal(err)
	}
	return &obj
}

// condition returns the control plane's condition of type typ, or nil.
func condition(obj *konnectv1alpha2.KonnectGatewayControlPlane, typ string) *metav1.Condition {
	if obj == nil {
		return nil
	}
	for i := range obj.Status.Conditions {
		if obj.Status.Conditions[i].Type == typ {
			return &obj.Status.Conditions[i]
		}
	}
	return nil
}

func describeCond(c *metav1.Condition) string {
	if c == nil {
		return "<none>"
	}
	return fmt.Sprintf("%s/%s %q (gen %d)", c.Status, c.Reason, c.Message, c.ObservedGeneration)
}

// waitProgrammed waits until Programmed has status and reason, and returns the object.
func (tn *tenant) waitProgrammed(status metav1.ConditionStatus, reason string) *konnectv1alpha2.KonnectGatewayControlPlane {
	tn.t.Helper()
	return tn.waitCondition(cpName, konnectv1alpha2.ConditionProgrammed, status, reason)
}

// waitCondition waits until the control plane name's condition typ has status and reason, and
// returns the object.
func (tn *tenant) waitCondition(name, typ string, status metav1.ConditionStatus, reason string) *konnectv1alpha2.KonnectGatewayControlPlane {
	tn.t.Helper()
	var obj *konnectv1alpha2.KonnectGatewayControlPlane
	tn.waitFor(fmt.Sprintf("%s %s %s/%s", name, typ, status, reason), func() (bool, string) {
		obj = tn.objectNamed(name)
		c := condition(obj, typ)
		return c != nil && c.Status == status && c.Reason == reason, describeCond(c)
	})
	return obj
}

// programmedOrigin applies the guide's auth configuration and Origin control plane, and waits
// until the control plane is Programmed True.
func (tn *tenant) programmedOrigin() *konnectv1alpha2.KonnectGatewayControlPlane {
	tn.t.Helper()
	tn.applyAuth()
	tn.apply(tn.originYAML(cpName))
	return tn.waitProgrammed(condTrue, konnectv1alpha2.ReasonProgrammed)
}

// waitGone waits until kubectl says NotFound.
func (tn *tenant) waitGone() {
	tn.t.Helper()
	tn.waitGoneNamed(cpName)
}

// waitGoneNamed waits until kubectl says the control plane name is NotFound.
func (tn *tenant) waitGoneNamed(name string) {
	tn.t.Helper()
	tn.waitFor("the control plane object "+name+" gone", func() (bool, string) {
		obj := tn.objectNamed(name)
		if obj == nil {
			return true, ""
		}
		return false, fmt.Sprintf("finalizers %v, deletionTimestamp %v", obj.Finalizers, obj.DeletionTimestamp)
	})
}

// count is the number of requests with the tenant's token matching method and pathPattern
// ("*" = one path segment), whose status is accepted by ok (nil: any).
func (tn *tenant) count(method, pathPattern string, ok func(status int) bool) int {
	hash := fakekonnect.ShortTokenHash(tn.token)
	n := 0
	for _, r := range env.Konnect.RequestsMatching(method, pathPattern) {
		if r.TokenHash == hash && (ok == nil || ok(r.Status)) {
			n++
		}
	}
	return n
}

func succeeded(status int) bool { return status >= 200 && status < 300 }

// writes counts the tenant's POST, PATCH, PUT and DELETE requests on control planes.
func (tn *tenant) writes() map[string]int {
	out := map[string]int{}
	for _, m := range []string{"POST", "PATCH", "PUT", "DELETE"} {
		n := tn.count(m, "/v2/control-planes", nil) + tn.count(m, "/v2/control-planes/*", nil)
		if n > 0 {
			out[m] = n
		}
	}
	return out
}

// inKonnect is what the fake holds for the tenant in region us.
func (tn *tenant) inKonnect() []fakekonnect.ControlPlane {
	return env.Konnect.ControlPlanes(tn.token, region)
}

// table logs `kubectl get konnectgatewaycontrolplane -n NS` and the Programmed condition.
func (tn *tenant) table() {
	tn.t.Helper()
	tn.t.Logf("$ kubectl get konnectgatewaycontrolplane -n %s\n%s", tn.ns, tn.kubectl("get", "konnectgatewaycontrolplane"))
	tn.t.Logf("$ kubectl get konnectgatewaycontrolplane %s -n %s -o jsonpath='{.status.conditions[?(@.type==\"Programmed\")]}'\n%s",
		cpName, tn.ns, tn.kubectl("get", "konnectgatewaycontrolplane", cpName, "-o", `jsonpath={.status.conditions[?(@.type=="Programmed")]}`))
}

// outage makes Konnect answer 503 to every request of the tenant's token.
func (tn *tenant) outage() {
	env.Konnect.SetTokenBehavior(tn.token, fakekonnect.Behavior{Mode: fakekonnect.ModeServerError})
}

func (tn *tenant) restore() { env.Konnect.SetTokenBehavior(tn.token, fakekonnect.BehaviorNormal) }

// assertTokenNotExposed fails if the token is in the controller's log, in the status of the
// namespace's control planes or auth configurations, or in one of its Events.
func (tn *tenant) assertTokenNotExposed() {
	tn.t.Helper()
	if strings.Contains(ctrl.Log(), tn.token) {
		tn.t.Errorf("the controller's log contains the token")
	}
	framework.CheckNoTokenInNamespace(tn.t, cp, tn.ns, "konnectgatewaycontrolplanes,konnectapiauthconfigurations", []string{tn.token})
}
