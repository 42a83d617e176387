package controlplane

import (
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	konnectv1alpha1 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha1"
	konnectv1alpha2 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha2"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/konnect"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/konnect/konnecttest"
)

const (
	cpName  = "gateway-control-plane"
	objName = "gateway-control-plane"
)

func TestSync(t *testing.T) {
	cases := []struct {
		name string
		// planes and configs are what the apiserver holds; when neither is set, the Origin
		// control plane objName and the valid auth configuration it names.
		planes  []*konnectv1alpha2.KonnectGatewayControlPlane
		configs []*konnectv1alpha1.KonnectAPIAuthConfiguration
		run     func(t *testing.T, f *fixture)
	}{{
		name: "Origin is created once, however many syncs",
		run: func(t *testing.T, f *fixture) {
			for range 5 {
				f.sync(objName)
			}
			if n := f.api.Count(konnecttest.OpCreateControlPlane); n != 1 {
				t.Fatalf("%d creates, want 1", n)
			}
			if n := f.api.Writes(); n != 1 {
				t.Fatalf("%d Konnect writes, want 1: %+v", n, f.api.Calls())
			}
			cp := f.get(objName)
			if !slices.Contains(cp.Finalizers, konnectv1alpha2.KonnectCleanupFinalizer) {
				t.Fatalf("no cleanup finalizer: %v", cp.Finalizers)
			}
			f.expectProgrammed(objName)
			f.expectCondition(objName, konnectv1alpha2.ConditionAPIAuthResolvedRef, metav1.ConditionTrue, konnectv1alpha2.ReasonResolvedRef, "")
			f.expectCondition(objName, konnectv1alpha2.ConditionAPIAuthValid, metav1.ConditionTrue, konnectv1alpha2.ReasonValid, "")
			planes := f.api.ControlPlanes(serverURL)
			if len(planes) != 1 || cp.Status.ID != planes[0].ID {
				t.Fatalf("status.id = %q, Konnect has %+v", cp.Status.ID, planes)
			}
			if cp.Status.OrgID != orgID || cp.Status.ServerURL != serverURL || cp.Status.ClusterType != konnect.ClusterTypeControlPlane {
				t.Fatalf("status = %+v", cp.Status)
			}
			if cp.Status.Endpoints == nil || cp.Status.Endpoints.ControlPlaneEndpoint != planes[0].ControlPlaneEndpoint ||
				cp.Status.Endpoints.TelemetryEndpoint != planes[0].TelemetryEndpoint {
				t.Fatalf("endpoints = %+v, want those of %+v", cp.Status.Endpoints, planes[0])
			}
			labels := planes[0].Labels
			for k, v := range map[string]string{labelUID: "uid-" + objName, labelName: objName, labelNamespace: namespace,
				labelKind: "KonnectGatewayControlPlane", labelGroup: "konnect.konghq.com", labelVersion: "v1alpha2", labelGeneration: "1", labelManagedBy: managedByValue} {
				if labels[k] != v {
					t.Errorf("label %s = %q, want %q", k, labels[k], v)
				}
			}
			// The finalizer was written before the create: the first action on the object
			// is the finalizer patch, and the create followed it.
			var first string
			for _, a := range f.Client.Actions() {
				if a.GetVerb() == "patch" && a.GetResource().Resource == "konnectgatewaycontrolplanes" {
					first = a.GetSubresource()
					break
				}
			}
			if first != "" {
				t.Fatalf("the first patch of the control plane was to %q, want the finalizer (metadata) patch", first)
			}
		},
	}, {
		name: "a sync on a stale copy (our finalizer patch, before our status write) does not create again",
		run: func(t *testing.T, f *fixture) {
			f.staleSync(objName)
			// The informer delivers the object of the finalizer patch first: it has the
			// finalizer but not yet the status that records the id.
			stale := f.get(objName).DeepCopy()
			stale.Status = konnectv1alpha2.KonnectGatewayControlPlaneStatus{}
			mustUpdate(t, f.Context.CRDInformers.Konnect().V1alpha2().KonnectGatewayControlPlanes().Informer().GetIndexer(), stale)
			f.staleSync(objName)
			if n := f.api.Count(konnecttest.OpCreateControlPlane); n != 1 {
				t.Fatalf("%d creates, want 1: %+v", n, f.api.Calls())
			}
			if n := len(f.api.ControlPlanes(serverURL)); n != 1 {
				t.Fatalf("Konnect holds %d control planes, want 1", n)
			}
		},
	}, {
		name: "deleted before its status recorded the id: the one it created is found by its k8s-uid label and deleted",
		run: func(t *testing.T, f *fixture) {
			// Made by an earlier process whose status write was lost.
			f.api.Seed(serverURL, konnect.ControlPlaneSpec{Name: cpName, Labels: map[string]string{labelUID: "uid-" + objName}})
			cp := f.get(objName).DeepCopy()
			cp.Finalizers = append(cp.Finalizers, konnectv1alpha2.KonnectCleanupFinalizer)
			if _, err := f.Client.KonnectV1alpha2().KonnectGatewayControlPlanes(namespace).Update(f.ctx, cp, metav1.UpdateOptions{}); err != nil {
				t.Fatal(err)
			}
			f.refresh(objName)
			f.markDeleted(objName)
			f.sync(objName)
			if n := len(f.api.ControlPlanes(serverURL)); n != 0 {
				t.Fatalf("Konnect still holds %d control planes, want the orphan deleted", n)
			}
			if slices.Contains(f.get(objName).Finalizers, konnectv1alpha2.KonnectCleanupFinalizer) {
				t.Fatalf("the cleanup finalizer is still there")
			}
		},
	}, {
		name: "no write when equal: the account's re-sync lists it once a sync period and queues nothing",
		run: func(t *testing.T, f *fixture) {
			if after := f.sync(objName).After; after != 0 {
				t.Fatalf("in line with Konnect, yet the next look is in %v: the account's re-sync should look at it", after)
			}
			f.api.ResetCalls()
			f.Client.ClearActions()
			for range 3 {
				f.Clock.Step(time.Minute + time.Second)
				after := f.resync()
				if after < time.Minute || after > 66*time.Second {
					t.Fatalf("account re-sync after %v, want the sync period with jitter", after)
				}
				if q := f.queued(); len(q) != 0 {
					t.Fatalf("queued %v, want nothing: nothing drifted", q)
				}
			}
			if f.api.Writes() != 0 || f.api.Count(konnecttest.OpGetControlPlane) != 0 || f.api.Count(konnecttest.OpListControlPlanes) != 3 {
				t.Fatalf("calls = %+v, want 3 listings and no GET", f.api.Calls())
			}
			if w := f.apiWrites(); len(w) != 0 {
				t.Fatalf("apiserver writes, want none: %v", w)
			}
		},
	}, {
		name: "adopts its own after a 409 (a create whose answer was lost)",
		run: func(t *testing.T, f *fixture) {
			id := f.api.Seed(serverURL, konnect.ControlPlaneSpec{Name: cpName, Labels: map[string]string{labelUID: "uid-" + objName}})
			f.sync(objName)
			f.expectProgrammed(objName)
			if got := f.get(objName).Status.ID; got != id {
				t.Fatalf("status.id = %q, want the adopted %q", got, id)
			}
			if n := len(f.api.ControlPlanes(serverURL)); n != 1 {
				t.Fatalf("%d control planes in Konnect, want 1", n)
			}
		},
	}, {
		name: "a foreign control plane of the same name is refused",
		run: func(t *testing.T, f *fixture) {
			f.api.Seed(serverURL, konnect.ControlPlaneSpec{Name: cpName, Labels: map[string]string{labelUID: "someone-else"}})
			after := f.sync(objName).After
			f.expectCondition(objName, konnectv1alpha2.ConditionProgrammed, metav1.ConditionFalse, konnectv1alpha2.ReasonFailedToCreate,
				`a control plane named "`+cpName+`" already exists in Konnect and was not created by this object`)
			if after < time.Minute {
				t.Fatalf("retry after %v: a definitive failure waits for the sync period", after)
			}
			if f.get(objName).Status.ID != "" || f.api.Count(konnecttest.OpUpdateControlPlane) != 0 {
				t.Fatalf("the foreign control plane was touched: %+v", f.api.Calls())
			}
			if ev := f.Events(); len(ev) != 1 || !strings.HasPrefix(ev[0], "Warning FailedToCreate") {
				t.Fatalf("events = %q", ev)
			}
			// The re-syncs look before they POST: while the name stays taken, reads only.
			for range 3 {
				f.sync(objName)
			}
			if n := f.api.Count(konnecttest.OpCreateControlPlane); n != 1 {
				t.Fatalf("%d creates over 4 syncs, want 1 (then lookups by name): %+v", n, f.api.Calls())
			}
			// The name is freed: the next sync creates it.
			f.api.Remove(serverURL, f.api.ControlPlanes(serverURL)[0].ID)
			f.sync(objName)
			f.expectProgrammed(objName)
		},
	}, {
		name: "a spec change is one PATCH",
		run: func(t *testing.T, f *fixture) {
			f.sync(objName)
			f.updateSpec(objName, func(cp *konnectv1alpha2.KonnectGatewayControlPlane) {
				cp.Spec.CreateControlPlaneRequest.Description = ptr.To("the new description")
				cp.Spec.CreateControlPlaneRequest.Labels = map[string]konnectv1alpha2.ControlPlaneLabelValue{"team": "edge"}
			})
			for range 4 {
				f.sync(objName)
			}
			if n := f.api.Count(konnecttest.OpUpdateControlPlane); n != 1 {
				t.Fatalf("%d updates, want 1: %+v", n, f.api.Calls())
			}
			got := f.api.ControlPlanes(serverURL)[0]
			if got.Description != "the new description" || got.Labels["team"] != "edge" || got.Labels[labelGeneration] != "2" {
				t.Fatalf("Konnect has %+v", got)
			}
			f.expectProgrammed(objName)
		},
	}, {
		name: "a description removed from the spec is one PATCH, not one per sync (Konnect's PATCH cannot clear it)",
		run: func(t *testing.T, f *fixture) {
			f.setDescription(objName, ptr.To("to be removed"))
			f.sync(objName)
			f.setDescription(objName, nil)
			for range 4 {
				f.sync(objName)
			}
			// One for the new generation's k8s-generation label; none after it.
			if n := f.api.Count(konnecttest.OpUpdateControlPlane); n != 1 {
				t.Fatalf("%d updates, want 1: %+v", n, f.api.Calls())
			}
			f.expectProgrammed(objName)
		},
	}, {
		name: "a PATCH Konnect rejects is FailedToUpdate",
		run: func(t *testing.T, f *fixture) {
			f.sync(objName)
			f.setDescription(objName, ptr.To("x"))
			f.api.Fail(konnecttest.OpUpdateControlPlane, &konnect.APIError{Op: "updating control plane", Kind: konnect.ErrorRejected, StatusCode: 400, Message: "Konnect answered 400: bad description"})
			f.sync(objName)
			f.expectCondition(objName, konnectv1alpha2.ConditionProgrammed, metav1.ConditionFalse, konnectv1alpha2.ReasonFailedToUpdate, "bad description")
			if f.get(objName).Status.ID == "" {
				t.Fatal("status.id was lost")
			}
		},
	}, {
		name: "deleted in Konnect: created again",
		run: func(t *testing.T, f *fixture) {
			f.sync(objName)
			first := f.get(objName).Status.ID
			f.api.Remove(serverURL, first)
			f.Clock.Step(time.Minute + time.Second) // the next sync period's listing
			f.sync(objName)
			second := f.get(objName).Status.ID
			if second == "" || second == first || f.api.Count(konnecttest.OpCreateControlPlane) != 2 {
				t.Fatalf("ids %q → %q, calls %+v", first, second, f.api.Calls())
			}
			f.expectProgrammed(objName)
		},
	}, {
		name:    "Mirror found: Programmed and Mirrored, no write",
		configs: []*konnectv1alpha1.KonnectAPIAuthConfiguration{validConfig(namespace, authName)},
		run: func(t *testing.T, f *fixture) {
			id := f.api.Seed(serverURL, konnect.ControlPlaneSpec{Name: "existing"})
			cp := mirror(objName, id)
			mustCreate(t, f, cp)
			for range 3 {
				f.sync(objName)
			}
			f.expectProgrammed(objName)
			f.expectCondition(objName, konnectv1alpha2.ConditionMirrored, metav1.ConditionTrue, konnectv1alpha2.ReasonMirrored, "")
			got := f.get(objName)
			if got.Status.ID != id || got.Status.Endpoints == nil || got.Status.OrgID != orgID {
				t.Fatalf("status = %+v", got.Status)
			}
			if f.api.Writes() != 0 || slices.Contains(got.Finalizers, konnectv1alpha2.KonnectCleanupFinalizer) {
				t.Fatalf("writes %d, finalizers %v", f.api.Writes(), got.Finalizers)
			}
		},
	}, {
		name:    "Mirror missing: Mirrored and Programmed False, no write",
		planes:  []*konnectv1alpha2.KonnectGatewayControlPlane{mirror(objName, "00000000-0000-4000-8000-999999999999")},
		configs: []*konnectv1alpha1.KonnectAPIAuthConfiguration{validConfig(namespace, authName)},
		run: func(t *testing.T, f *fixture) {
			f.sync(objName)
			msg := "no control plane with id 00000000-0000-4000-8000-999999999999 in Konnect"
			f.expectCondition(objName, konnectv1alpha2.ConditionMirrored, metav1.ConditionFalse, konnectv1alpha2.ReasonKonnectAPIOpFailed, msg)
			f.expectCondition(objName, konnectv1alpha2.ConditionProgrammed, metav1.ConditionFalse, konnectv1alpha2.ReasonKonnectAPIOpFailed, msg)
			if f.api.Writes() != 0 {
				t.Fatalf("Konnect writes: %+v", f.api.Calls())
			}
		},
	}, {
		name:   "auth configuration missing",
		planes: []*konnectv1alpha2.KonnectGatewayControlPlane{origin(objName, cpName)},
		run: func(t *testing.T, f *fixture) {
			f.sync(objName)
			f.expectCondition(objName, konnectv1alpha2.ConditionAPIAuthResolvedRef, metav1.ConditionFalse, konnectv1alpha2.ReasonRefNotFound, "kong/konnect-api-auth not found")
			f.expectCondition(objName, konnectv1alpha2.ConditionProgrammed, metav1.ConditionFalse, konnectv1alpha2.ReasonConditionWithStatusFalseExists, "APIAuthResolvedRef")
			if len(f.api.Calls()) != 0 || slices.Contains(f.get(objName).Finalizers, konnectv1alpha2.KonnectCleanupFinalizer) {
				t.Fatalf("Konnect calls %+v", f.api.Calls())
			}
		},
	}, {
		name:    "auth configuration in another namespace without a grant",
		planes:  []*konnectv1alpha2.KonnectGatewayControlPlane{withAuthNamespace(origin(objName, cpName), "other")},
		configs: []*konnectv1alpha1.KonnectAPIAuthConfiguration{validConfig("other", authName)},
		run: func(t *testing.T, f *fixture) {
			f.sync(objName)
			f.expectCondition(objName, konnectv1alpha2.ConditionAPIAuthResolvedRef, metav1.ConditionFalse, konnectv1alpha2.ReasonRefNotPermitted, "no KongReferenceGrant in namespace \"other\"")
			if len(f.api.Calls()) != 0 {
				t.Fatalf("Konnect calls %+v", f.api.Calls())
			}
		},
	}, {
		name:    "auth configuration not valid",
		planes:  []*konnectv1alpha2.KonnectGatewayControlPlane{origin(objName, cpName)},
		configs: []*konnectv1alpha1.KonnectAPIAuthConfiguration{invalidConfig(namespace, authName)},
		run: func(t *testing.T, f *fixture) {
			f.sync(objName)
			f.expectCondition(objName, konnectv1alpha2.ConditionAPIAuthResolvedRef, metav1.ConditionTrue, konnectv1alpha2.ReasonResolvedRef, "")
			f.expectCondition(objName, konnectv1alpha2.ConditionAPIAuthValid, metav1.ConditionFalse, konnectv1alpha2.ReasonInvalid, "Invalid credentials")
			f.expectCondition(objName, konnectv1alpha2.ConditionProgrammed, metav1.ConditionFalse, konnectv1alpha2.ReasonConditionWithStatusFalseExists, "APIAuthValid")
			if len(f.api.Calls()) != 0 {
				t.Fatalf("Konnect calls %+v", f.api.Calls())
			}
		},
	}, {
		name: "transient failure keeps Programmed True and waits for Retry-After",
		run: func(t *testing.T, f *fixture) {
			f.sync(objName)
			_ = f.Events()
			before := f.condition(objName, konnectv1alpha2.ConditionProgrammed)
			f.Clock.Step(time.Minute + time.Second) // the listing is due
			f.api.Fail(konnecttest.OpListControlPlanes, &konnect.APIError{Op: "listing control planes", Kind: konnect.ErrorTransient, StatusCode: 429, RetryAfter: 30 * time.Second, Message: "Konnect answered 429"})
			f.Client.ClearActions()
			after := f.process(objName)
			if after < 30*time.Second {
				t.Fatalf("retry after %v, want at least the 30s Retry-After", after)
			}
			got := f.condition(objName, konnectv1alpha2.ConditionProgrammed)
			if got.Status != metav1.ConditionTrue || got.Reason != before.Reason || len(f.apiWrites()) != 0 || len(f.Events()) != 0 {
				t.Fatalf("Programmed = %+v, writes %v", got, f.apiWrites())
			}
			// Without Retry-After: the per-object backoff grows from 1s.
			f.api.Fail(konnecttest.OpListControlPlanes, konnecttest.Transient("listing control planes"), konnecttest.Transient("listing control planes"))
			a1, a2 := f.process(objName), f.process(objName)
			if a1 < time.Second || a2 <= a1 {
				t.Fatalf("backoff %v then %v, want growing from 1s", a1, a2)
			}
			// Konnect is back: in line again, the object is left to its account's re-sync.
			if a := f.process(objName); a != 0 || !f.watched(objName) {
				t.Fatalf("after recovery the next look is in %v (watched %v), want none: the account's re-sync looks at it", a, f.watched(objName))
			}
		},
	}, {
		name: "transient failure of a first create: Unknown, never False",
		run: func(t *testing.T, f *fixture) {
			f.api.Fail(konnecttest.OpCreateControlPlane, konnecttest.Transient("creating control plane"))
			after := f.process(objName)
			f.expectCondition(objName, konnectv1alpha2.ConditionProgrammed, metav1.ConditionUnknown, konnectv1alpha2.ReasonKonnectAPIOpFailed, "503")
			if after < time.Second || after > 2*time.Second {
				t.Fatalf("retry after %v, want the first backoff step", after)
			}
			f.sync(objName)
			f.expectProgrammed(objName)
			if n := len(f.api.ControlPlanes(serverURL)); n != 1 {
				t.Fatalf("%d control planes", n)
			}
		},
	}, {
		name:    "deletion: DELETE, then the finalizer goes; a 404 counts as done",
		planes:  []*konnectv1alpha2.KonnectGatewayControlPlane{origin(objName, cpName), origin("second", "second")},
		configs: []*konnectv1alpha1.KonnectAPIAuthConfiguration{validConfig(namespace, authName)},
		run: func(t *testing.T, f *fixture) {
			f.sync(objName)
			f.sync("second")
			f.markDeleted(objName)
			f.sync(objName)
			if n := f.api.Count(konnecttest.OpDeleteControlPlane); n != 1 {
				t.Fatalf("%d deletes", n)
			}
			if slices.Contains(f.get(objName).Finalizers, konnectv1alpha2.KonnectCleanupFinalizer) {
				t.Fatal("finalizer kept after a successful delete")
			}
			// Gone from Konnect already: 404 is done.
			f.api.Remove(serverURL, f.get("second").Status.ID)
			f.markDeleted("second")
			f.sync("second")
			if slices.Contains(f.get("second").Finalizers, konnectv1alpha2.KonnectCleanupFinalizer) {
				t.Fatal("finalizer kept after a 404")
			}
		},
	}, {
		name: "deletion while Konnect is down keeps the finalizer and retries",
		run: func(t *testing.T, f *fixture) {
			f.sync(objName)
			f.markDeleted(objName)
			f.api.Fail(konnecttest.OpDeleteControlPlane, konnecttest.Transient("deleting control plane"), konnecttest.Transient("deleting control plane"))
			for range 2 {
				after := f.process(objName)
				if after < time.Second {
					t.Fatalf("retry after %v", after)
				}
				if !slices.Contains(f.get(objName).Finalizers, konnectv1alpha2.KonnectCleanupFinalizer) {
					t.Fatal("finalizer lost while Konnect is down")
				}
			}
			f.expectProgrammed(objName)
			f.sync(objName)
			if slices.Contains(f.get(objName).Finalizers, konnectv1alpha2.KonnectCleanupFinalizer) || len(f.api.ControlPlanes(serverURL)) != 0 {
				t.Fatal("not deleted once Konnect came back")
			}
		},
	}, {
		name: "deletion with unauthorized credentials keeps the finalizer and says why",
		run: func(t *testing.T, f *fixture) {
			f.sync(objName)
			f.markDeleted(objName)
			f.api.Fail(konnecttest.OpDeleteControlPlane, &konnect.APIError{Op: "deleting control plane", Kind: konnect.ErrorUnauthorized, StatusCode: 403, Message: "Konnect answered 403 Forbidden"})
			f.sync(objName)
			if !slices.Contains(f.get(objName).Finalizers, konnectv1alpha2.KonnectCleanupFinalizer) {
				t.Fatal("finalizer lost")
			}
			f.expectCondition(objName, konnectv1alpha2.ConditionProgrammed, metav1.ConditionFalse, konnectv1alpha2.ReasonKonnectAPIOpFailed, "403")
		},
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := fixtureOptions{planes: tc.planes, configs: tc.configs}
			if tc.planes == nil && tc.configs == nil {
				o = standardOptions()
			}
			f := newFixture(t, o)
			tc.run(t, f)
		})
	}
}

func withAuthNamespace(cp *konnectv1alpha2.KonnectGatewayControlPlane, ns string) *konnectv1alpha2.KonnectGatewayControlPlane {
	cp.Spec.KonnectConfiguration.APIAuthConfigurationRef.Namespace = ptr.To(ns)
	return cp
}

func mustCreate(t *testing.T, f *fixture, cp *konnectv1alpha2.KonnectGatewayControlPlane) {
	t.Helper()
	if _, err := f.Client.KonnectV1alpha2().KonnectGatewayControlPlanes(cp.Namespace).Create(f.ctx, cp, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	f.refresh(cp.Name)
}
