package controlplanes_test

// The control-plane scenarios of issue 18 (reliability), end to end: what happens to a control
// plane in Konnect when its grant is revoked, when the answer to its create is lost (and the
// user renames it meanwhile, or the controller crashes), when its token moves to another
// organization, and what admission refuses. Each one failed before the fixes of issue 18.
//
// The strings below (the skip-cleanup annotation, the OrganizationChanged reason) are written
// out rather than taken from pkg/, so that these tests also compile against the code before the
// fixes and show how it failed.

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	konnectv1alpha2 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha2"
	"github.com/konnect-auth-controller/konnect-auth-controller/test/controlplane"
	"github.com/konnect-auth-controller/konnect-auth-controller/test/e2e/framework"
	"github.com/konnect-auth-controller/konnect-auth-controller/test/fakekonnect"
)

const (
	// skipCleanup is the annotation that releases an object being deleted without touching
	// Konnect.
	skipCleanup = "konnect.konghq.com/skip-cleanup"
	// reasonOrganizationChanged is Programmed's reason when the token now belongs to another
	// organization than the one holding the control plane.
	reasonOrganizationChanged = "OrganizationChanged"
	// lostAnswerDelay is how long the fake trickles the answer to a create whose answer is to
	// be lost: far beyond --konnect-timeout (2s), so the controller gives up on it. The POST is
	// carried out at once; until the controller gives up, its worker for the object is busy,
	// which is the window in which a test stages what happens next.
	lostAnswerDelay = 60 * time.Second
)

// owned is what Konnect holds, in the tenant's organization, labelled with uid.
func (tn *tenant) owned(uid string) []fakekonnect.ControlPlane {
	var out []fakekonnect.ControlPlane
	for _, c := range tn.inKonnect() {
		if c.Labels["k8s-uid"] == uid {
			out = append(out, c)
		}
	}
	return out
}

// names lists the names and ids of control planes, for messages.
func names(cps []fakekonnect.ControlPlane) string {
	var out []string
	for _, c := range cps {
		out = append(out, c.Name+" ("+c.ID+")")
	}
	return "[" + strings.Join(out, ", ") + "]"
}

// loseCreateAnswer makes Konnect carry out the tenant's next create but lose its answer: the
// answer trickles for lostAnswerDelay, and the controller gives up after --konnect-timeout. It
// returns once the control plane exists in Konnect (the POST is then still in flight), with every
// further request on /v2/control-planes (the creates, and the lists by k8s-uid label that find
// our own) answered 503, so that the controller learns nothing more until tn.restore().
func (tn *tenant) loseCreateAnswer(apply func()) fakekonnect.ControlPlane {
	tn.t.Helper()
	env.Konnect.SetTokenBehavior(tn.token, fakekonnect.Behavior{Mode: fakekonnect.ModeSlowBody, Scope: fakekonnect.ScopeWrites,
		Path: "/v2/control-planes", Delay: lostAnswerDelay})
	apply()
	var made []fakekonnect.ControlPlane
	tn.waitFor("the create to reach Konnect", func() (bool, string) {
		made = tn.inKonnect()
		return len(made) == 1, names(made)
	})
	env.Konnect.SetTokenBehavior(tn.token, fakekonnect.Behavior{Mode: fakekonnect.ModeServerError, Path: "/v2/control-planes"})
	return made[0]
}

// TestReliabilityGrantRevokedThenDeleted (issue 18, scenario 2): a control plane whose auth
// configuration is in another namespace, permitted by a KongReferenceGrant; the grant is revoked,
// then the control plane is deleted: the DELETE still reaches Konnect (the revocation stops new
// use, not the clean-up that is owed) and the object goes.
func TestReliabilityGrantRevokedThenDeleted(t *testing.T) {
	t.Parallel()
	tn := newTenant(t)
	credentials := controlplane.NewNamespace(t, cp)
	tn.applyAuthIn(credentials)
	framework.Apply(t, cp, framework.GrantYAML(credentials, "allow-control-planes", framework.Grant{
		FromGroup: "konnect.konghq.com", FromKind: "KonnectGatewayControlPlane", FromNamespace: tn.ns,
		ToGroup: "konnect.konghq.com", ToKind: "KonnectAPIAuthConfiguration",
	}))
	tn.apply(strings.Replace(tn.originYAML(cpName), "name: "+authName+"\n", "name: "+authName+"\n      namespace: "+credentials+"\n", 1))
	obj := tn.waitProgrammed(condTrue, konnectv1alpha2.ReasonProgrammed)
	id := obj.Status.ID

	out := framework.KubectlOutput(t, cp, "delete", "kongreferencegrant", "allow-control-planes", "-n", credentials)
	t.Logf("$ kubectl delete kongreferencegrant allow-control-planes -n %s\n%s", credentials, out)
	// The controller has seen the revocation: the reference is no longer permitted.
	tn.waitFor("APIAuthResolvedRef False/RefNotPermitted after the revocation", func() (bool, string) {
		c := condition(tn.object(), konnectv1alpha2.ConditionAPIAuthResolvedRef)
		return c != nil && c.Status == condFalse && c.Reason == konnectv1alpha2.ReasonRefNotPermitted, describeCond(c)
	})
	if cps := tn.inKonnect(); len(cps) != 1 || cps[0].ID != id {
		t.Fatalf("after the revocation Konnect holds %s, want %s untouched", names(cps), id)
	}
	tn.table()

	out = tn.kubectl("delete", "konnectgatewaycontrolplane", cpName, "--wait=false")
	t.Logf("$ kubectl delete konnectgatewaycontrolplane %s -n %s --wait=false\n%s", cpName, tn.ns, out)
	tn.waitDeletedFromKonnect(id)
}

// TestReliabilityLostCreateThenRename (issue 18, scenario 4): Konnect creates the control
// plane but the answer is lost, and the user renames it (spec.createControlPlaneRequest.name)
// before the controller has seen the create succeed. Exactly one control plane carries the
// object's k8s-uid label afterwards, renamed; deleting the object leaves none.
//
// The answer is lost by trickling it past --konnect-timeout rather than by an emptyok answer:
// an emptyok answer comes back at once, and the status write that follows re-queues the object
// at once, so the user's rename could not be placed before the controller's next look. Here
// Konnect answers 503 on /v2/control-planes from the moment the control plane exists until the
// controller has seen the rename.
func TestReliabilityLostCreateThenRename(t *testing.T) {
	t.Parallel()
	tn := newTenant(t)
	tn.applyAuth()
	lost := tn.loseCreateAnswer(func() { tn.apply(tn.originYAML("before-rename")) })
	t.Logf("the create reached Konnect (%s, %q) and its answer is being lost", lost.ID, lost.Name)

	tn.apply(tn.originYAML("after-rename"))
	// The controller has looked at the renamed spec (and could not reach Konnect for it).
	tn.waitFor("Programmed observed at generation 2 during the outage", func() (bool, string) {
		obj := tn.object()
		c := condition(obj, programmed)
		return c != nil && c.ObservedGeneration == 2, describeCond(c) + " status.id " + obj.Status.ID
	})
	if obj := tn.object(); obj.Status.ID != "" {
		t.Fatalf("status.id %q before Konnect answered again: the lost answer reached the controller, so this proves nothing", obj.Status.ID)
	}
	tn.restore()

	var obj *konnectv1alpha2.KonnectGatewayControlPlane
	tn.waitFor("Programmed True at generation 2", func() (bool, string) {
		obj = tn.object()
		c := condition(obj, programmed)
		return c != nil && c.Status == condTrue && c.ObservedGeneration == 2, describeCond(c)
	})
	uid := string(obj.UID)
	check := func() string {
		own := tn.owned(uid)
		if len(own) != 1 || own[0].ID != lost.ID || own[0].Name != "after-rename" {
			return fmt.Sprintf("Konnect holds %s with k8s-uid %s, want only %s, renamed after-rename", names(own), uid, lost.ID)
		}
		return ""
	}
	if p := check(); p != "" {
		t.Fatal(p)
	}
	// And it stays so over the re-syncs.
	framework.Holds(t, 2*syncPeriod, check)
	if obj.Status.ID != lost.ID {
		t.Errorf("status.id %q, want %s", obj.Status.ID, lost.ID)
	}
	if n := tn.count("POST", "/v2/control-planes", succeeded); n != 1 {
		t.Errorf("%d POSTs succeeded in Konnect, want 1 (the lost one)", n)
	}
	if all := tn.inKonnect(); len(all) != 1 {
		t.Errorf("the organization holds %s, want one control plane", names(all))
	}
	t.Logf("fake Konnect, this token: writes %v; %d requests answered 503", tn.writes(),
		tn.count("", "/v2/control-planes", func(s int) bool { return s == 503 }))
	tn.table()

	tn.kubectl("delete", "konnectgatewaycontrolplane", cpName, "--wait=false")
	tn.waitGone()
	if own := tn.owned(uid); len(own) != 0 {
		t.Errorf("after the deletion Konnect still holds %s with k8s-uid %s", names(own), uid)
	}
}

// TestReliabilityOrganizationChanged (issue 18, scenario 5): the auth configuration's token is
// switched to a token of another Konnect organization. Nothing is created in the other
// organization; Programmed is False/OrganizationChanged. kubectl delete then waits (Programmed
// False, the message naming the skip-cleanup annotation) instead of orphaning the control plane;
// annotating konnect.konghq.com/skip-cleanup=true releases the object, with a Warning Event
// CleanupSkipped, and leaves the control plane in its organization.
func TestReliabilityOrganizationChanged(t *testing.T) {
	t.Parallel()
	tn := newTenant(t)
	obj := tn.programmedOrigin()
	id := obj.Status.ID
	otherOrg := framework.NewUUID()
	other := env.NewTokenFor(t, otherOrg)
	otherCPs := func() []fakekonnect.ControlPlane { return env.Konnect.ControlPlanes(other, region) }
	otherWrites := func() int {
		n := 0
		for _, r := range env.Konnect.RequestsMatching("", "") {
			if r.TokenHash == fakekonnect.ShortTokenHash(other) && r.Method != "GET" {
				n++
			}
		}
		return n
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the controller's log about %s, last lines:\n%s", tn.ns, framework.Tail(framework.Grep(ctrl.Log(), tn.ns), 40))
		}
		if !t.Failed() {
			framework.CheckNoTokenInNamespace(t, cp, tn.ns, "konnectgatewaycontrolplanes,konnectapiauthconfigurations", []string{other})
			if strings.Contains(ctrl.Log(), other) {
				t.Errorf("the controller's log contains the other organization's token")
			}
		}
	})

	// The user switches the token, as the guide's YAML holds it (stdin, never a command line).
	tn.apply(strings.ReplaceAll(tn.authYAML(), tn.token, other))
	tn.waitFor("the auth configuration Valid for the other organization", func() (bool, string) {
		out := tn.kubectl("get", "konnectapiauthconfiguration", authName, "-o",
			`jsonpath={.status.organizationID} {.status.conditions[?(@.type=="APIAuthValid")].reason}`)
		return out == otherOrg+" Valid", out
	})
	noneInOther := func() string {
		if cps := otherCPs(); len(cps) != 0 {
			return fmt.Sprintf("the other organization holds %s: a control plane was created there", names(cps))
		}
		if n := otherWrites(); n != 0 {
			return fmt.Sprintf("%d writes to Konnect with the other organization's token", n)
		}
		return ""
	}
	// (Stops early, to say so, if a control plane is created in the other organization.)
	tn.waitFor("Programmed False/"+reasonOrganizationChanged, func() (bool, string) {
		obj = tn.object()
		c := condition(obj, programmed)
		return noneInOther() != "" || c != nil && c.Status == condFalse && c.Reason == reasonOrganizationChanged, describeCond(c)
	})
	if p := noneInOther(); p != "" {
		t.Fatalf("%s (the first one is %s in organization %s; status.id now %s, Programmed %s)", p, id, tn.org, obj.Status.ID, describeCond(condition(obj, programmed)))
	}
	t.Logf("the control plane was %s in organization %s; now status.id %s, Programmed %s", id, tn.org, obj.Status.ID, describeCond(condition(obj, programmed)))
	framework.Holds(t, 2*syncPeriod, func() string {
		if p := noneInOther(); p != "" {
			return p
		}
		if c := condition(tn.object(), programmed); c == nil || c.Status != condFalse || c.Reason != reasonOrganizationChanged {
			return "Programmed " + describeCond(c) + ", want False/" + reasonOrganizationChanged
		}
		return ""
	})
	tn.table()

	out := tn.kubectl("delete", "konnectgatewaycontrolplane", cpName, "--wait=false")
	t.Logf("$ kubectl delete konnectgatewaycontrolplane %s -n %s --wait=false\n%s", cpName, tn.ns, out)
	tn.waitFor("the deletion waiting, Programmed False naming "+skipCleanup, func() (bool, string) {
		o := tn.object()
		c := condition(o, programmed)
		return o == nil || c != nil && c.Status == condFalse && strings.Contains(c.Message, skipCleanup), describeCond(c)
	})
	if tn.object() == nil {
		t.Fatalf("the object was released while its control plane %s is in Konnect", id)
	}
	framework.Holds(t, 2*syncPeriod, func() string {
		o := tn.object()
		if o == nil || o.DeletionTimestamp == nil || !slices.Contains(o.Finalizers, konnectv1alpha2.KonnectCleanupFinalizer) {
			return "the object was released while its control plane is in Konnect"
		}
		if cps := tn.inKonnect(); len(cps) != 1 || cps[0].ID != id {
			return "the first organization holds " + names(cps) + ", want " + id
		}
		return noneInOther()
	})
	c := condition(tn.object(), programmed)
	t.Logf("while the deletion waits: Programmed %s", describeCond(c))
	if n := tn.count("DELETE", "/v2/control-planes/*", nil); n != 0 {
		t.Errorf("%d DELETEs with the first organization's token: it is no longer the configuration's", n)
	}

	out = tn.kubectl("annotate", "konnectgatewaycontrolplane", cpName, skipCleanup+"=true")
	t.Logf("$ kubectl annotate konnectgatewaycontrolplane %s -n %s %s=true\n%s", cpName, tn.ns, skipCleanup, out)
	tn.waitGone()
	var event string
	tn.waitFor("a Warning Event CleanupSkipped", func() (bool, string) {
		event = warningEvent(t, tn.ns, "KonnectGatewayControlPlane", cpName, "CleanupSkipped")
		return event != "", ""
	})
	t.Logf("Event: %s", event)
	if cps := tn.inKonnect(); len(cps) != 1 || cps[0].ID != id {
		t.Errorf("after skip-cleanup the first organization holds %s, want %s left in place", names(cps), id)
	}
	if p := noneInOther(); p != "" {
		t.Error(p)
	}
}

// warningEvent returns the message of a Warning Event with reason about kind/name in ns, or "".
func warningEvent(t testing.TB, ns, kind, name, reason string) string {
	t.Helper()
	out := framework.KubectlOutput(t, cp, "get", "events", "-n", ns, "-o", "json")
	var list struct {
		Items []struct {
			Type           string `json:"type"`
			Reason         string `json:"reason"`
			Message        string `json:"message"`
			InvolvedObject struct {
				Kind string `json:"kind"`
				Name string `json:"name"`
			} `json:"involvedObject"`
		} `json:"items"`
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("kubectl get events: %v", err)
	}
	for _, e := range list.Items {
		if e.Type == "Warning" && e.Reason == reason && e.InvolvedObject.Kind == kind && e.InvolvedObject.Name == name {
			return e.Message
		}
	}
	return ""
}

// TestReliabilityCrashAfterCreate (issue 18, scenario 6): the controller is killed (SIGKILL)
// after its POST reached Konnect and before it recorded status.id; while it is down the
// credentials break (the Secret loses its token key) and the user deletes the object. The
// finalizer is not released while the control plane exists in Konnect: Programmed says why and
// names the skip-cleanup annotation. Fixing the credentials lets the controller find the control
// plane by its k8s-uid label, delete it, and release the object.
//
// It stops the suite's shared controller, so it does not run in parallel.
func TestReliabilityCrashAfterCreate(t *testing.T) {
	tn := newTenant(t)
	secretYAML := framework.SecretYAML(tn.ns, "konnect-token", framework.CredentialLabels, "token", tn.token)
	tn.apply(secretYAML)
	tn.apply(framework.SecretRefConfigYAML(tn.ns, authName, "konnect-token", "", "us.api.konghq.com"))
	tn.waitFor("auth configuration Valid", func() (bool, string) {
		out := tn.kubectl("get", "konnectapiauthconfiguration", authName, "-o", `jsonpath={.status.conditions[?(@.type=="APIAuthValid")].reason}`)
		return out == "Valid", out
	})

	made := tn.loseCreateAnswer(func() { tn.apply(tn.originYAML(cpName)) })
	ctrl.Kill()
	t.Logf("killed the controller with the create's answer in flight; Konnect holds %s", made.ID)
	tn.restore()
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			if err := suite.StartController(); err != nil {
				t.Errorf("restarting the controller: %v", err)
			}
		}
	})
	obj := tn.object()
	if obj.Status.ID != "" {
		t.Fatalf("status.id %q was recorded before the kill: the crash window was missed", obj.Status.ID)
	}
	if !slices.Contains(obj.Finalizers, konnectv1alpha2.KonnectCleanupFinalizer) {
		t.Fatalf("finalizers %v: the cleanup finalizer was not added before the create", obj.Finalizers)
	}

	// While it is down: the token key goes, and the user deletes the object.
	tn.kubectl("patch", "secret", "konnect-token", "--type=json", "-p", `[{"op":"remove","path":"/data/token"}]`)
	out := tn.kubectl("delete", "konnectgatewaycontrolplane", cpName, "--wait=false")
	t.Logf("$ kubectl delete konnectgatewaycontrolplane %s -n %s --wait=false\n%s", cpName, tn.ns, out)
	if err := suite.StartController(); err != nil {
		t.Fatal(err)
	}
	restarted = true

	// (Stops early, to say so, if the object is released.)
	tn.waitFor("Programmed False naming "+skipCleanup, func() (bool, string) {
		o := tn.object()
		c := condition(o, programmed)
		return o == nil || c != nil && c.Status == condFalse && strings.Contains(c.Message, skipCleanup), describeCond(c)
	})
	if tn.object() == nil {
		t.Fatalf("the object was released while Konnect holds %s, which it created", names(tn.inKonnect()))
	}
	framework.Holds(t, 3*syncPeriod, func() string {
		o := tn.object()
		if o == nil || !slices.Contains(o.Finalizers, konnectv1alpha2.KonnectCleanupFinalizer) {
			return fmt.Sprintf("the object was released while Konnect holds %s", names(tn.inKonnect()))
		}
		if cps := tn.inKonnect(); len(cps) != 1 || cps[0].ID != made.ID {
			return "Konnect holds " + names(cps) + ", want " + made.ID
		}
		return ""
	})
	c := condition(tn.object(), programmed)
	t.Logf("with broken credentials: Programmed %s", describeCond(c))
	if !strings.Contains(c.Message, "credentials") {
		t.Errorf("Programmed message %q does not say the credentials are why", c.Message)
	}
	tn.table()

	tn.apply(secretYAML)
	tn.waitDeletedFromKonnect(made.ID)
}

// TestReliabilityCloudGatewayImmutable (issue 18, scenario 10): kubectl apply changing
// spec.createControlPlaneRequest.cloud_gateway of an existing control plane is refused at
// admission, with a message naming the field; the object and Konnect keep the old value.
func TestReliabilityCloudGatewayImmutable(t *testing.T) {
	t.Parallel()
	tn := newTenant(t)
	tn.applyAuth()
	withCloudGateway := func(v bool) string {
		const name = "    name: " + cpName + "\n"
		s := tn.originYAML(cpName)
		if !strings.Contains(s, name) {
			t.Fatalf("the control plane's YAML has no %q", name)
		}
		return strings.Replace(s, name, name+fmt.Sprintf("    cloud_gateway: %t\n", v), 1)
	}
	tn.apply(withCloudGateway(false))
	obj := tn.waitProgrammed(condTrue, konnectv1alpha2.ReasonProgrammed)

	for _, manifest := range []struct{ what, yaml string }{
		{"cloud_gateway: false → true", withCloudGateway(true)},
		{"cloud_gateway removed", tn.originYAML(cpName)},
	} {
		stdout, stderr, err := framework.Kubectl(cp, manifest.yaml, "apply", "-f", "-")
		t.Logf("%s: $ kubectl apply -f -\n%s%s", manifest.what, stdout, stderr)
		if err == nil {
			t.Errorf("%s: kubectl apply was accepted, want it refused at admission", manifest.what)
			continue
		}
		if !strings.Contains(stderr, "spec.createControlPlaneRequest.cloud_gateway") {
			t.Errorf("%s: the refusal does not name spec.createControlPlaneRequest.cloud_gateway: %s", manifest.what, stderr)
		}
	}
	after := tn.object()
	if after.Generation != obj.Generation || after.Spec.CreateControlPlaneRequest.CloudGateway == nil || *after.Spec.CreateControlPlaneRequest.CloudGateway {
		t.Errorf("the object changed: generation %d (was %d), cloud_gateway %v", after.Generation, obj.Generation, after.Spec.CreateControlPlaneRequest.CloudGateway)
	}
	if cps := tn.inKonnect(); len(cps) != 1 || cps[0].Config.CloudGateway {
		t.Errorf("Konnect holds %+v, want one control plane with cloud_gateway false", cps)
	}
}

// waitDeletedFromKonnect waits for the object to be gone, then checks that its control plane id
// was deleted from Konnect by exactly one successful DELETE and that the organization holds none.
func (tn *tenant) waitDeletedFromKonnect(id string) {
	tn.t.Helper()
	tn.waitGone()
	if n := tn.count("DELETE", "/v2/control-planes/"+id, succeeded); n != 1 {
		tn.t.Errorf("%d successful DELETE /v2/control-planes/%s, want 1", n, id)
	}
	if cps := tn.inKonnect(); len(cps) != 0 {
		tn.t.Errorf("Konnect still holds %s", names(cps))
	}
	tn.t.Logf("fake Konnect, this token: writes %v", tn.writes())
}
