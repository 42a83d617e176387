package controlplanes_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	konnectv1alpha2 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha2"
	"github.com/konnect-auth-controller/konnect-auth-controller/test/controlplane"
	"github.com/konnect-auth-controller/konnect-auth-controller/test/e2e/framework"
	"github.com/konnect-auth-controller/konnect-auth-controller/test/fakekonnect"
)

const (
	programmed = konnectv1alpha2.ConditionProgrammed
	condTrue   = metav1.ConditionTrue
	condFalse  = metav1.ConditionFalse
)

// TestOriginCreatedOnce: the guide's auth configuration and Origin control plane become
// Programmed with what Konnect holds, created by one POST however many re-syncs follow.
func TestOriginCreatedOnce(t *testing.T) {
	t.Parallel()
	tn := newTenant(t)
	obj := tn.programmedOrigin()

	// The Programmed condition as the guide prints it.
	raw := tn.kubectl("get", "konnectgatewaycontrolplane", cpName, "-o", `jsonpath={.status.conditions[?(@.type=="Programmed")]}`)
	var c metav1.Condition
	if err := json.Unmarshal([]byte(raw), &c); err != nil {
		t.Fatalf("Programmed condition %q: %v", raw, err)
	}
	if c.ObservedGeneration != 1 || c.Reason != "Programmed" || c.Status != condTrue || c.Type != "Programmed" {
		t.Errorf("Programmed = %s, want observedGeneration 1, reason Programmed, status True", raw)
	}

	// The status is what Konnect holds.
	cps := tn.inKonnect()
	if len(cps) != 1 {
		t.Fatalf("Konnect holds %d control planes, want 1: %+v", len(cps), cps)
	}
	k := cps[0]
	st := obj.Status
	if st.ID != k.ID || k.Name != cpName {
		t.Errorf("status.id %q, Konnect has %q named %q", st.ID, k.ID, k.Name)
	}
	if st.OrgID != tn.org {
		t.Errorf("status.organizationID %q, want %q", st.OrgID, tn.org)
	}
	if st.ServerURL != serverURL {
		t.Errorf("status.serverURL %q, want %q", st.ServerURL, serverURL)
	}
	if st.ClusterType != k.Config.ClusterType || st.ClusterType != fakekonnect.DefaultClusterType {
		t.Errorf("status.clusterType %q, Konnect has %q", st.ClusterType, k.Config.ClusterType)
	}
	if st.Endpoints == nil || st.Endpoints.ControlPlaneEndpoint != k.Config.ControlPlaneEndpoint ||
		st.Endpoints.TelemetryEndpoint != k.Config.TelemetryEndpoint || k.Config.ControlPlaneEndpoint == "" {
		t.Errorf("status.konnectEndpoints %+v, Konnect has %q / %q", st.Endpoints, k.Config.ControlPlaneEndpoint, k.Config.TelemetryEndpoint)
	}

	// The ownership labels.
	want := map[string]string{
		"k8s-uid": string(obj.UID), "k8s-name": cpName, "k8s-namespace": tn.ns,
		"k8s-kind": "KonnectGatewayControlPlane", "k8s-group": "konnect.konghq.com", "k8s-version": "v1alpha2",
		"k8s-generation": "1", "managed-by": "konnect-auth-controller",
	}
	for key, v := range want {
		if k.Labels[key] != v {
			t.Errorf("label %s = %q in Konnect, want %q (labels %v)", key, k.Labels[key], v, k.Labels)
		}
	}

	// Finalizers.
	if !slices.Contains(obj.Finalizers, konnectv1alpha2.KonnectCleanupFinalizer) {
		t.Errorf("control plane finalizers %v, want %s", obj.Finalizers, konnectv1alpha2.KonnectCleanupFinalizer)
	}
	tn.waitFor("auth configuration in-use finalizer", func() (bool, string) {
		f := tn.kubectl("get", "konnectapiauthconfiguration", authName, "-o", "jsonpath={.metadata.finalizers}")
		return strings.Contains(f, konnectv1alpha2.APIAuthInUseFinalizer), f
	})

	// Several sync periods: still one POST, no PATCH; the re-syncs did look (one listing of the
	// account a sync period, not a GET per control plane).
	lists := tn.count("GET", "/v2/control-planes", nil)
	gets := tn.count("GET", "/v2/control-planes/*", nil)
	time.Sleep(4 * syncPeriod)
	if n := tn.count("POST", "/v2/control-planes", nil); n != 1 {
		t.Errorf("%d POST /v2/control-planes, want exactly 1", n)
	}
	if n := tn.count("PATCH", "/v2/control-planes/*", nil); n != 0 {
		t.Errorf("%d PATCH, want none", n)
	}
	if more := tn.count("GET", "/v2/control-planes", nil) - lists; more < 2 {
		t.Errorf("%d re-sync listings in %v, want at least 2 (is --konnect-sync-period honoured?)", more, 4*syncPeriod)
	}
	if more := tn.count("GET", "/v2/control-planes/*", nil) - gets; more != 0 {
		t.Errorf("%d re-sync GETs of the control plane in %v, want none: the listing answers them", more, 4*syncPeriod)
	}
	if len(tn.inKonnect()) != 1 {
		t.Errorf("Konnect holds %d control planes after the re-syncs, want 1", len(tn.inKonnect()))
	}
	t.Logf("fake Konnect, this token: %d POST, %d PATCH, %d GET /v2/control-planes/{id}",
		tn.count("POST", "/v2/control-planes", nil), tn.count("PATCH", "/v2/control-planes/*", nil), tn.count("GET", "/v2/control-planes/*", nil))
	tn.table()
	t.Logf("$ kubectl get konnectapiauthconfiguration %s -n %s -o jsonpath='{.metadata.finalizers}'\n%s",
		authName, tn.ns, tn.kubectl("get", "konnectapiauthconfiguration", authName, "-o", "jsonpath={.metadata.finalizers}"))
}

// TestAdoptionAfterLostResponse: Konnect creates the control plane but the answer is lost
// (badjson, emptyok); the controller must adopt that one by its k8s-uid label, which it looks
// for before every create (issue 18), and never create a second: one POST in all.
func TestAdoptionAfterLostResponse(t *testing.T) {
	for _, mode := range []fakekonnect.Mode{fakekonnect.ModeBadJSON, fakekonnect.ModeEmptyOK} {
		t.Run(mode.String(), func(t *testing.T) {
			t.Parallel()
			tn := newTenant(t)
			tn.applyAuth()
			env.Konnect.SetTokenBehavior(tn.token, fakekonnect.Behavior{Mode: mode, Scope: fakekonnect.ScopeWrites, Path: "/v2/control-planes"})
			tn.apply(tn.originYAML(cpName))
			tn.waitFor("the spoilt create to reach Konnect", func() (bool, string) {
				return len(tn.inKonnect()) == 1, ""
			})
			lost := tn.inKonnect()[0]
			// The controller's retry looks for its own by label first (a GET the spoiling does
			// not touch) and may already have adopted it; restoring changes nothing for it.
			tn.restore()

			obj := tn.waitProgrammed(condTrue, konnectv1alpha2.ReasonProgrammed)
			if obj.Status.ID != lost.ID {
				t.Errorf("status.id %q, want the control plane the lost create made, %q", obj.Status.ID, lost.ID)
			}
			time.Sleep(2 * syncPeriod)
			cps := tn.inKonnect()
			if len(cps) != 1 || cps[0].ID != lost.ID || cps[0].Labels["k8s-uid"] != string(obj.UID) {
				t.Errorf("Konnect holds %+v, want only %s with k8s-uid %s", cps, lost.ID, obj.UID)
			}
			// The adoption went through the label lookup, before any second POST.
			if n := tn.count("POST", "/v2/control-planes", func(s int) bool { return s == 409 }); n != 0 {
				t.Errorf("%d POSTs answered 409: the retry POSTed before looking for its own", n)
			}
			if n := tn.count("POST", "/v2/control-planes", succeeded); n != 1 {
				t.Errorf("%d POSTs succeeded in Konnect, want 1", n)
			}
			if n := tn.count("POST", "/v2/control-planes", nil); n != 1 {
				t.Errorf("%d POSTs, want 1: the spoilt create only", n)
			}
			// Found in a listing of the account taken after the lost answer: one before the
			// create, at least one after it.
			if n := tn.count("GET", "/v2/control-planes", nil); n < 2 {
				t.Errorf("%d listings of the account (GET /v2/control-planes), want one before the create and one after its lost answer", n)
			}
			t.Logf("fake Konnect, this token: writes %v, %d POST answered 409", tn.writes(),
				tn.count("POST", "/v2/control-planes", func(s int) bool { return s == 409 }))
			tn.table()
		})
	}
}

// TestForeignDuplicateName: a control plane of that name exists in Konnect and this object
// did not create it: Programmed False FailedToCreate, naming it, nothing created, no hot loop.
func TestForeignDuplicateName(t *testing.T) {
	t.Parallel()
	tn := newTenant(t)
	const name = "taken-by-someone-else"
	foreign, err := env.Konnect.AddControlPlane(tn.token, region, fakekonnect.ControlPlaneSpec{Name: name, Labels: map[string]string{"team": "other"}})
	if err != nil {
		t.Fatal(err)
	}
	tn.applyAuth()
	tn.apply(tn.originYAML(name))
	obj := tn.waitProgrammed(condFalse, konnectv1alpha2.ReasonFailedToCreate)
	c := condition(obj, programmed)
	if !strings.Contains(c.Message, `"`+name+`"`) {
		t.Errorf("message %q does not name %q", c.Message, name)
	}
	if obj.Status.ID != "" {
		t.Errorf("status.id %q, want none", obj.Status.ID)
	}
	start := tn.count("POST", "/v2/control-planes", nil)
	window := 5 * syncPeriod
	time.Sleep(window)
	posts := tn.count("POST", "/v2/control-planes", nil) - start
	// While the name stays taken, the re-syncs look it up (a read) rather than POST again.
	if posts != 0 {
		t.Errorf("%d POSTs in %v after the refusal, want none: the name is still taken", posts, window)
	}
	if reads := tn.count("GET", "/v2/control-planes", nil); reads == 0 {
		t.Errorf("no lookup of the name in %v: the re-sync did not run", window)
	}
	cps := tn.inKonnect()
	if len(cps) != 1 || cps[0].ID != foreign {
		t.Errorf("Konnect holds %+v, want only the foreign %s", cps, foreign)
	}
	if _, ok := cps[0].Labels["k8s-uid"]; ok || len(cps[0].Labels) != 1 {
		t.Errorf("the foreign control plane was changed: labels %v", cps[0].Labels)
	}
	if n := tn.count("PATCH", "/v2/control-planes/*", nil) + tn.count("DELETE", "/v2/control-planes/*", nil); n != 0 {
		t.Errorf("%d PATCH/DELETE on a control plane this object does not own", n)
	}
	if c := condition(tn.object(), programmed); c == nil || c.Status != condFalse {
		t.Errorf("Programmed %s after the window, want False", describeCond(c))
	}
	t.Logf("fake Konnect, this token: %d POST in all, %d in the %v window", tn.count("POST", "/v2/control-planes", nil), posts, window)
	tn.table()
}

// TestSpecChangeOnePatch: a description and a label set with kubectl patch reach Konnect by
// exactly one PATCH.
func TestSpecChangeOnePatch(t *testing.T) {
	t.Parallel()
	tn := newTenant(t)
	first := tn.programmedOrigin()
	tn.kubectl("patch", "konnectgatewaycontrolplane", cpName, "--type=merge",
		"-p", `{"spec":{"createControlPlaneRequest":{"description":"payments gateway","labels":{"team":"payments"}}}}`)
	tn.waitFor("the change in Konnect", func() (bool, string) {
		cps := tn.inKonnect()
		if len(cps) != 1 {
			return false, "no single control plane"
		}
		return cps[0].Description == "payments gateway" && cps[0].Labels["team"] == "payments", cps[0].Description
	})
	time.Sleep(3 * syncPeriod)
	if n := tn.count("PATCH", "/v2/control-planes/*", nil); n != 1 {
		t.Errorf("%d PATCH, want exactly 1", n)
	}
	if n := tn.count("POST", "/v2/control-planes", nil); n != 1 {
		t.Errorf("%d POST, want only the first create", n)
	}
	k := tn.inKonnect()[0]
	if k.ID != first.Status.ID || k.Labels["k8s-uid"] != string(first.UID) || k.Labels["k8s-generation"] != "2" {
		t.Errorf("Konnect holds %s with labels %v, want %s, its k8s-uid and k8s-generation 2", k.ID, k.Labels, first.Status.ID)
	}
	obj := tn.waitProgrammed(condTrue, konnectv1alpha2.ReasonProgrammed)
	if c := condition(obj, programmed); c.ObservedGeneration != 2 {
		t.Errorf("Programmed observedGeneration %d, want 2", c.ObservedGeneration)
	}
	t.Logf("fake Konnect, this token: writes %v", tn.writes())
	tn.table()
}

// TestDelete: kubectl delete deletes the control plane in Konnect, then the object, and the
// auth configuration's in-use finalizer goes with its last user.
func TestDelete(t *testing.T) {
	t.Parallel()
	tn := newTenant(t)
	obj := tn.programmedOrigin()
	inUse := func() string {
		return tn.kubectl("get", "konnectapiauthconfiguration", authName, "-o", "jsonpath={.metadata.finalizers}")
	}
	tn.waitFor("in-use finalizer", func() (bool, string) {
		f := inUse()
		return strings.Contains(f, konnectv1alpha2.APIAuthInUseFinalizer), f
	})
	tn.kubectl("delete", "konnectgatewaycontrolplane", cpName, "--timeout=30s")
	tn.waitGone()
	if n := tn.count("DELETE", "/v2/control-planes/"+obj.Status.ID, succeeded); n != 1 {
		t.Errorf("%d successful DELETE /v2/control-planes/%s, want 1", n, obj.Status.ID)
	}
	if cps := tn.inKonnect(); len(cps) != 0 {
		t.Errorf("Konnect still holds %+v", cps)
	}
	tn.waitFor("in-use finalizer removed", func() (bool, string) {
		f := inUse()
		return !strings.Contains(f, konnectv1alpha2.APIAuthInUseFinalizer), f
	})
	t.Logf("fake Konnect, this token: writes %v", tn.writes())
	out, stderr, _ := framework.Kubectl(cp, "", "get", "konnectgatewaycontrolplane", "-n", tn.ns)
	t.Logf("$ kubectl get konnectgatewaycontrolplane -n %s\n%s%s", tn.ns, out, stderr)
}

// TestDeletedInKonnectRecreated: a control plane deleted in Konnect's UI is created again
// within a couple of sync periods, and the status follows the new id.
func TestDeletedInKonnectRecreated(t *testing.T) {
	t.Parallel()
	tn := newTenant(t)
	old := tn.programmedOrigin().Status.ID
	if !env.Konnect.DeleteControlPlaneDirect(old) {
		t.Fatalf("no control plane %s in the fake", old)
	}
	var obj *konnectv1alpha2.KonnectGatewayControlPlane
	ctrl.WaitFor(t, 3*syncPeriod+5*time.Second, "a new id in the status", func() (bool, string) {
		obj = tn.object()
		c := condition(obj, programmed)
		return obj.Status.ID != "" && obj.Status.ID != old && c != nil && c.Status == condTrue, obj.Status.ID + " " + describeCond(c)
	})
	cps := tn.inKonnect()
	if len(cps) != 1 || cps[0].ID != obj.Status.ID || cps[0].Labels["k8s-uid"] != string(obj.UID) {
		t.Errorf("Konnect holds %+v, want one control plane %s", cps, obj.Status.ID)
	}
	if obj.Status.Endpoints == nil || obj.Status.Endpoints.ControlPlaneEndpoint != cps[0].Config.ControlPlaneEndpoint {
		t.Errorf("endpoints %+v, want the new control plane's %q", obj.Status.Endpoints, cps[0].Config.ControlPlaneEndpoint)
	}
	if n := tn.count("POST", "/v2/control-planes", nil); n != 2 {
		t.Errorf("%d POST, want 2 (the create and the re-create)", n)
	}
	t.Logf("re-created: %s -> %s; fake Konnect, this token: writes %v", old, obj.Status.ID, tn.writes())
	tn.table()
}

// TestMirror: a Mirror of an existing id is Programmed and Mirrored and never written to, not
// even by kubectl delete; a Mirror of a missing id says so, and writes nothing either.
func TestMirror(t *testing.T) {
	t.Run("existing", func(t *testing.T) {
		t.Parallel()
		tn := newTenant(t)
		id, err := env.Konnect.AddControlPlane(tn.token, region, fakekonnect.ControlPlaneSpec{Name: "made-in-konnect"})
		if err != nil {
			t.Fatal(err)
		}
		tn.applyAuth()
		tn.apply(tn.mirrorYAML(id))
		obj := tn.waitProgrammed(condTrue, konnectv1alpha2.ReasonProgrammed)
		if m := condition(obj, konnectv1alpha2.ConditionMirrored); m == nil || m.Status != condTrue || m.Reason != konnectv1alpha2.ReasonMirrored {
			t.Errorf("Mirrored %s, want True/Mirrored", describeCond(m))
		}
		k := tn.inKonnect()[0]
		if obj.Status.ID != id || obj.Status.Endpoints == nil || obj.Status.Endpoints.ControlPlaneEndpoint != k.Config.ControlPlaneEndpoint {
			t.Errorf("status id %q endpoints %+v, want %s and %q", obj.Status.ID, obj.Status.Endpoints, id, k.Config.ControlPlaneEndpoint)
		}
		time.Sleep(2 * syncPeriod)
		tn.table()
		tn.t.Logf("$ kubectl get konnectgatewaycontrolplane %s -n %s -o jsonpath='{.status.conditions[?(@.type==\"Mirrored\")]}'\n%s",
			cpName, tn.ns, tn.kubectl("get", "konnectgatewaycontrolplane", cpName, "-o", `jsonpath={.status.conditions[?(@.type=="Mirrored")]}`))
		tn.kubectl("delete", "konnectgatewaycontrolplane", cpName, "--timeout=30s")
		tn.waitGone()
		time.Sleep(syncPeriod)
		if w := tn.writes(); len(w) != 0 {
			t.Errorf("writes to Konnect for a Mirror: %v", w)
		}
		if cps := tn.inKonnect(); len(cps) != 1 || cps[0].ID != id {
			t.Errorf("Konnect holds %+v, want the mirrored %s untouched", cps, id)
		}
		t.Logf("fake Konnect, this token: writes %v, %d GET /v2/control-planes/%s", tn.writes(), tn.count("GET", "/v2/control-planes/"+id, nil), id)
	})
	t.Run("missing", func(t *testing.T) {
		t.Parallel()
		tn := newTenant(t)
		id := framework.NewUUID()
		tn.applyAuth()
		tn.apply(tn.mirrorYAML(id))
		obj := tn.waitProgrammed(condFalse, konnectv1alpha2.ReasonKonnectAPIOpFailed)
		m := condition(obj, konnectv1alpha2.ConditionMirrored)
		if m == nil || m.Status != condFalse || !strings.Contains(m.Message, id) {
			t.Errorf("Mirrored %s, want False naming %s", describeCond(m), id)
		}
		if c := condition(obj, programmed); !strings.Contains(c.Message, id) {
			t.Errorf("Programmed message %q does not name %s", c.Message, id)
		}
		if obj.Status.ID != "" {
			t.Errorf("status.id %q for a missing control plane", obj.Status.ID)
		}
		time.Sleep(2 * syncPeriod)
		if w := tn.writes(); len(w) != 0 {
			t.Errorf("writes to Konnect for a Mirror: %v", w)
		}
		if cps := tn.inKonnect(); len(cps) != 0 {
			t.Errorf("Konnect holds %+v, want nothing", cps)
		}
		tn.table()
		tn.t.Logf("$ kubectl get konnectgatewaycontrolplane %s -n %s -o jsonpath='{.status.conditions[?(@.type==\"Mirrored\")]}'\n%s",
			cpName, tn.ns, tn.kubectl("get", "konnectgatewaycontrolplane", cpName, "-o", `jsonpath={.status.conditions[?(@.type=="Mirrored")]}`))
	})
}

// TestKonnectDown: an outage (503 to everything the token asks) during a create, a delete and
// a steady state loses nothing and turns nothing False.
func TestKonnectDown(t *testing.T) {
	t.Run("create", func(t *testing.T) {
		t.Parallel()
		tn := newTenant(t)
		tn.applyAuth()
		tn.outage()
		tn.apply(tn.originYAML(cpName))
		seenUnknown := false
		deadline := time.Now().Add(3 * syncPeriod)
		for time.Now().Before(deadline) {
			c := condition(tn.object(), programmed)
			if c != nil && c.Status == condFalse {
				t.Fatalf("Programmed %s during the outage, want never False", describeCond(c))
			}
			if c != nil && c.Status == metav1.ConditionUnknown && c.Reason == konnectv1alpha2.ReasonKonnectAPIOpFailed {
				seenUnknown = true
			}
			time.Sleep(100 * time.Millisecond)
		}
		if !seenUnknown {
			t.Errorf("Programmed never Unknown/KonnectAPIOpFailed during the outage: %s", describeCond(condition(tn.object(), programmed)))
		}
		// A create looks for its own by label first: during the outage that lookup is what
		// meets the 503, and no POST goes out.
		if n := tn.count("GET", "/v2/control-planes", func(s int) bool { return s == 503 }); n < 1 {
			t.Errorf("no create attempted during the outage (no lookup answered 503): the outage was not exercised")
		}
		t.Logf("during the outage: %s", describeCond(condition(tn.object(), programmed)))
		tn.restore()
		obj := tn.waitProgrammed(condTrue, konnectv1alpha2.ReasonProgrammed)
		if n := tn.count("POST", "/v2/control-planes", succeeded); n != 1 {
			t.Errorf("%d successful POST, want 1", n)
		}
		if cps := tn.inKonnect(); len(cps) != 1 || cps[0].ID != obj.Status.ID {
			t.Errorf("Konnect holds %+v, want one control plane %s", cps, obj.Status.ID)
		}
		t.Logf("fake Konnect, this token: %d POST (%d answered 503, %d succeeded)", tn.count("POST", "/v2/control-planes", nil),
			tn.count("POST", "/v2/control-planes", func(s int) bool { return s == 503 }), tn.count("POST", "/v2/control-planes", succeeded))
		tn.table()
	})
	t.Run("delete", func(t *testing.T) {
		t.Parallel()
		tn := newTenant(t)
		id := tn.programmedOrigin().Status.ID
		tn.outage()
		tn.kubectl("delete", "konnectgatewaycontrolplane", cpName, "--wait=false")
		time.Sleep(2 * syncPeriod)
		obj := tn.object()
		if obj == nil || obj.DeletionTimestamp == nil || !slices.Contains(obj.Finalizers, konnectv1alpha2.KonnectCleanupFinalizer) {
			t.Fatalf("during the outage the object is %+v, want it terminating with the cleanup finalizer", obj)
		}
		if len(tn.inKonnect()) != 1 {
			t.Fatalf("the control plane is gone from Konnect during the outage")
		}
		if n := tn.count("DELETE", "/v2/control-planes/"+id, func(s int) bool { return s == 503 }); n < 1 {
			t.Errorf("no DELETE attempted during the outage: the outage was not exercised")
		}
		t.Logf("during the outage: deletionTimestamp %v, finalizers %v", obj.DeletionTimestamp, obj.Finalizers)
		tn.restore()
		tn.waitGone()
		if cps := tn.inKonnect(); len(cps) != 0 {
			t.Errorf("Konnect still holds %+v", cps)
		}
		if n := tn.count("DELETE", "/v2/control-planes/"+id, succeeded); n != 1 {
			t.Errorf("%d successful DELETE, want 1", n)
		}
		t.Logf("fake Konnect, this token: %d DELETE (%d answered 503)", tn.count("DELETE", "/v2/control-planes/*", nil),
			tn.count("DELETE", "/v2/control-planes/*", func(s int) bool { return s == 503 }))
	})
	t.Run("steady", func(t *testing.T) {
		t.Parallel()
		tn := newTenant(t)
		before := tn.programmedOrigin()
		// The re-syncs' reads: the account's listing (GET /v2/control-planes).
		failedBefore := tn.count("GET", "/v2/control-planes", func(s int) bool { return s == 503 })
		tn.outage()
		deadline := time.Now().Add(4 * syncPeriod)
		for time.Now().Before(deadline) {
			obj := tn.object()
			c := condition(obj, programmed)
			if c == nil || c.Status != condTrue || obj.Status.ID != before.Status.ID {
				t.Fatalf("Programmed %s, id %q during the outage, want True and %s", describeCond(c), obj.Status.ID, before.Status.ID)
			}
			time.Sleep(100 * time.Millisecond)
		}
		if n := tn.count("GET", "/v2/control-planes", func(s int) bool { return s == 503 }) - failedBefore; n < 1 {
			t.Errorf("no re-sync reached Konnect during the outage: the outage was not exercised")
		}
		tn.restore()
		time.Sleep(syncPeriod)
		if c := condition(tn.object(), programmed); c == nil || c.Status != condTrue {
			t.Errorf("Programmed %s after the outage", describeCond(c))
		}
		if w := tn.writes(); w["POST"] != 1 || len(w) != 1 {
			t.Errorf("writes %v, want the one POST", w)
		}
		t.Logf("fake Konnect, this token: %d listings answered 503 during the outage; writes %v",
			tn.count("GET", "/v2/control-planes", func(s int) bool { return s == 503 })-failedBefore, tn.writes())
		tn.table()
	})
}

// TestNoTokenAtV5: the controller runs at -v=5 (its V(4) lines are there), and no token of
// any test is in its log so far; every test checks its own conditions and Events too, and
// TestMain's teardown checks the whole log once more.
func TestNoTokenAtV5(t *testing.T) {
	tn := newTenant(t)
	tn.programmedOrigin()
	// The log trails the status the controller wrote: wait for it.
	ctx, cancel := context.WithTimeout(context.Background(), framework.VerdictTimeout)
	defer cancel()
	if err := ctrl.WaitForLog(ctx, "Started syncing"); err != nil {
		t.Fatalf("the controller's log has no V(4) line: is it at -v=5? (%v)", err)
	}
	if err := ctrl.WaitForLog(ctx, tn.ns); err != nil {
		t.Fatalf("the controller's log never names this test's namespace %s (%v)", tn.ns, err)
	}
	tn.assertTokenNotExposed()
}

// TestCrossNamespaceAuthRef: a control plane may use an auth configuration in another namespace
// only once a KongReferenceGrant there permits it. Before the grant: APIAuthResolvedRef False
// RefNotPermitted, naming the grant to create, and nothing sent to Konnect; with it: Programmed
// with one POST, the in-use finalizer on the other namespace's configuration, and a deletion
// that still reaches Konnect.
func TestCrossNamespaceAuthRef(t *testing.T) {
	t.Parallel()
	tn := newTenant(t)
	credentials := controlplane.NewNamespace(t, cp)
	tn.applyAuthIn(credentials)
	tn.apply(strings.Replace(tn.originYAML(cpName), "name: "+authName+"\n", "name: "+authName+"\n      namespace: "+credentials+"\n", 1))

	obj := tn.waitProgrammed(condFalse, konnectv1alpha2.ReasonConditionWithStatusFalseExists)
	ref := condition(obj, konnectv1alpha2.ConditionAPIAuthResolvedRef)
	if ref == nil || ref.Status != condFalse || ref.Reason != konnectv1alpha2.ReasonRefNotPermitted ||
		!strings.Contains(ref.Message, "KongReferenceGrant") || !strings.Contains(ref.Message, credentials) {
		t.Fatalf("APIAuthResolvedRef %s, want False/RefNotPermitted naming a KongReferenceGrant in %s", describeCond(ref), credentials)
	}
	t.Logf("without a grant: APIAuthResolvedRef %s", describeCond(ref))
	if n := tn.count("POST", "/v2/control-planes", nil); n != 0 {
		t.Errorf("%d POSTs before the grant, want none", n)
	}

	framework.Apply(t, cp, framework.GrantYAML(credentials, "allow-control-planes", framework.Grant{
		FromGroup: "konnect.konghq.com", FromKind: "KonnectGatewayControlPlane", FromNamespace: tn.ns,
		ToGroup: "konnect.konghq.com", ToKind: "KonnectAPIAuthConfiguration",
	}))
	obj = tn.waitProgrammed(condTrue, konnectv1alpha2.ReasonProgrammed)
	t.Logf("with the grant: APIAuthResolvedRef %s", describeCond(condition(obj, konnectv1alpha2.ConditionAPIAuthResolvedRef)))
	if n := tn.count("POST", "/v2/control-planes", succeeded); n != 1 {
		t.Errorf("%d successful POSTs, want 1", n)
	}
	tn.waitFor("in-use finalizer on the other namespace's configuration", func() (bool, string) {
		out := framework.KubectlOutput(t, cp, "get", "konnectapiauthconfiguration", authName, "-n", credentials, "-o", "jsonpath={.metadata.finalizers}")
		return strings.Contains(out, konnectv1alpha2.APIAuthInUseFinalizer), out
	})
	tn.table()

	tn.kubectl("delete", "konnectgatewaycontrolplane", cpName, "--timeout=30s")
	tn.waitGone()
	if n := tn.count("DELETE", "/v2/control-planes/"+obj.Status.ID, succeeded); n != 1 {
		t.Errorf("%d successful DELETEs of %s, want 1", n, obj.Status.ID)
	}
}
