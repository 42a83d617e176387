package controlplane

import (
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/tools/cache"

	konnectv1alpha1 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha1"
	konnectv1alpha2 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha2"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/konnect"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/konnect/konnecttest"
)

// watched says whether the control plane name is left to its account's re-sync.
func (f *fixture) watched(name string) bool {
	f.ctrl.listings.mu.Lock()
	defer f.ctrl.listings.mu.Unlock()
	_, ok := f.ctrl.listings.watchedIn[cache.ObjectName{Namespace: namespace, Name: name}]
	return ok
}

// standardAccount is the re-sync loop's key of the fixture's account (token, server URL).
func standardAccount() cache.ObjectName {
	return cache.ObjectName{Name: accountKey(konnect.Auth{Token: token, ServerURL: serverURL})}
}

// resync runs the re-sync of the fixture's account once and returns when it asks to run again
// (0: it ended); a transient failure fails the test.
func (f *fixture) resync() time.Duration {
	f.T.Helper()
	res, err := f.ctrl.resync(f.ctx, standardAccount())
	if err != nil || res.Transient != nil {
		f.T.Fatalf("re-sync: %v %v", err, res.Transient)
	}
	return res.After
}

func names(keys []cache.ObjectName) []string {
	var out []string
	for _, k := range keys {
		out = append(out, k.Name)
	}
	slices.Sort(out)
	return out
}

// TestResyncQueuesOnlyWhatDrifted: control planes in line with Konnect are not queued every
// sync period; one listing of the account a period compares them all and queues only those
// deleted, changed or gone in Konnect. A vanished one is confirmed by a GET before it is
// created again.
func TestResyncQueuesOnlyWhatDrifted(t *testing.T) {
	auth := konnect.Auth{Token: token, ServerURL: serverURL}
	f := newFixture(t, fixtureOptions{
		planes: []*konnectv1alpha2.KonnectGatewayControlPlane{
			origin("gone", "gone"), origin("renamed", "renamed"), origin("steady", "steady"), mirror("mirror", "")},
		configs: []*konnectv1alpha1.KonnectAPIAuthConfiguration{validConfig(namespace, authName)},
	})
	mirroredID := f.api.Seed(serverURL, konnect.ControlPlaneSpec{Name: "made-elsewhere"})
	f.updateSpec("mirror", func(cp *konnectv1alpha2.KonnectGatewayControlPlane) {
		cp.Spec.Mirror.Konnect.ID = konnectv1alpha2.KonnectIDType(mirroredID)
	})
	all := []string{"gone", "mirror", "renamed", "steady"}
	for _, name := range all {
		if after := f.sync(name).After; after != 0 || !f.watched(name) {
			t.Fatalf("%s: next look in %v, watched %v: want none, left to the account's re-sync", name, after, f.watched(name))
		}
		f.expectProgrammed(name)
	}
	if q := f.queued(); len(q) != 0 {
		t.Fatalf("queued before any drift: %v", q)
	}

	// Nothing changed: a period's re-sync is one listing, and nothing is queued.
	f.api.ResetCalls()
	f.Clock.Step(time.Minute + time.Second)
	f.resync()
	if q := f.queued(); len(q) != 0 || len(f.api.Calls()) != 1 || f.api.Count(konnecttest.OpListControlPlanes) != 1 {
		t.Fatalf("queued %v, calls %+v: want nothing queued and one listing", q, f.api.Calls())
	}

	// Behind the controller's back: one deleted, one renamed, the mirrored one deleted.
	f.api.Remove(serverURL, f.get("gone").Status.ID)
	if _, err := f.api.UpdateControlPlane(f.ctx, auth, f.get("renamed").Status.ID, konnect.ControlPlaneSpec{Name: "someone-else"}); err != nil {
		t.Fatal(err)
	}
	f.api.Remove(serverURL, mirroredID)
	f.api.ResetCalls()
	// Before the listing is due, the re-sync compares with the listing it has: nothing seen.
	f.resync()
	if q := f.queued(); len(q) != 0 || len(f.api.Calls()) != 0 {
		t.Fatalf("queued %v, calls %+v before the listing was due", q, f.api.Calls())
	}
	f.Clock.Step(time.Minute + time.Second)
	f.resync()
	queued := f.queued()
	if got := names(queued); !slices.Equal(got, []string{"gone", "mirror", "renamed"}) {
		t.Fatalf("queued %v, want the three that drifted (not steady)", got)
	}
	if len(f.api.Calls()) != 1 {
		t.Fatalf("calls %+v, want the one listing", f.api.Calls())
	}
	for _, name := range []string{"gone", "mirror", "renamed"} {
		if f.watched(name) {
			t.Fatalf("%s still watched once queued", name)
		}
	}

	// Their reconciles repair them: the vanished one is confirmed by a GET, then created again.
	f.api.ResetCalls()
	for _, key := range queued {
		f.sync(key.Name)
	}
	if n, c, u := f.api.Count(konnecttest.OpGetControlPlane), f.api.Count(konnecttest.OpCreateControlPlane), f.api.Count(konnecttest.OpUpdateControlPlane); n != 2 || c != 1 || u != 1 {
		t.Fatalf("GETs %d (want 2: the vanished one and the mirror), creates %d (1), updates %d (1): %+v", n, c, u, f.api.Calls())
	}
	f.expectProgrammed("gone")
	f.expectProgrammed("renamed")
	f.expectCondition("mirror", konnectv1alpha2.ConditionProgrammed, "False", konnectv1alpha2.ReasonKonnectAPIOpFailed, "no control plane with id")
	if f.watched("mirror") {
		t.Fatalf("a mirror of nothing is left to the re-sync; want its own sync period")
	}
	for _, cp := range f.api.ControlPlanes(serverURL) {
		if strings.Contains(cp.Name, "someone-else") {
			t.Fatalf("the rename in Konnect was not undone: %+v", cp)
		}
	}

	// Back in line: the next listing queues nothing.
	f.Clock.Step(time.Minute + time.Second)
	f.resync()
	if q := f.queued(); len(q) != 0 {
		t.Fatalf("queued %v after the repairs", q)
	}
}

// TestResyncLetsGo: a deleted control plane leaves its account's re-sync, which ends once it
// watches nothing and starts again with the next control plane in line; a group, whose members
// no listing shows, keeps its own sync period.
func TestResyncLetsGo(t *testing.T) {
	f := groupFixture(t, []string{"m1"}, "m1")
	f.sync(groupName)
	f.expectProgrammed(groupName)
	if f.watched(groupName) {
		t.Fatalf("the group is left to the re-sync, which cannot see its members")
	}
	if after := f.sync(groupName).After; after < time.Minute {
		t.Fatalf("the group's next look in %v, want its sync period", after)
	}
	f.markDeleted("m1")
	f.sync("m1")
	if f.watched("m1") {
		t.Fatalf("a control plane being deleted is still watched")
	}
	if after := f.resync(); after != 0 {
		t.Fatalf("an account with nothing to re-sync asks to run again in %v", after)
	}
	// The next one in line schedules the account's re-sync again.
	if _, first := f.ctrl.listings.watch(cache.ObjectName{Namespace: namespace, Name: "next"}, konnect.Auth{Token: token, ServerURL: serverURL}); !first {
		t.Fatalf("the account's re-sync was not scheduled again")
	}
}

// TestResyncBacksOffOnTransient: a listing Konnect refuses for now (429 with Retry-After) queues
// nothing and hands the loop the error, so that it waits at least the Retry-After.
func TestResyncBacksOffOnTransient(t *testing.T) {
	f := newFixture(t, standardOptions())
	f.sync(objName)
	f.Clock.Step(time.Minute + time.Second)
	f.api.Fail(konnecttest.OpListControlPlanes, &konnect.APIError{Op: "listing control planes", Kind: konnect.ErrorTransient, StatusCode: 429, RetryAfter: 30 * time.Second, Message: "Konnect answered 429"})
	res, err := f.ctrl.resync(f.ctx, standardAccount())
	if err != nil || konnect.RetryAfterOf(res.Transient) < 30*time.Second {
		t.Fatalf("re-sync = %+v, %v: want a transient error with its 30s Retry-After", res, err)
	}
	if q := f.queued(); len(q) != 0 || !f.watched(objName) {
		t.Fatalf("queued %v (watched %v): a failed listing says nothing of drift", q, f.watched(objName))
	}
}

// TestWatchMovesWithTheToken: a control plane re-synced under a rotated token leaves the old
// account's re-sync.
func TestWatchMovesWithTheToken(t *testing.T) {
	l := newListings(konnecttest.New(), nil, time.Minute, 0)
	key := cache.ObjectName{Namespace: namespace, Name: objName}
	old, first := l.watch(key, konnect.Auth{Token: "old", ServerURL: serverURL})
	if !first {
		t.Fatalf("the first watch did not schedule the account")
	}
	if _, first := l.watch(key, konnect.Auth{Token: "new", ServerURL: serverURL}); !first {
		t.Fatalf("the new account was not scheduled")
	}
	if _, _, ok := l.resyncDue(old); ok {
		t.Fatalf("the old account still re-syncs the control plane")
	}
}

// TestResyncReleasesOnRefusal: a listing Konnect refuses (403: the token may no longer read
// control planes) says nothing of the account's control planes, so each goes back to its own
// reconcile, which asks Konnect, reports the refusal as Programmed False, and keeps its own
// sync period; the re-sync ends until one is in line again.
func TestResyncReleasesOnRefusal(t *testing.T) {
	f := newFixture(t, standardOptions())
	f.sync(objName)
	f.expectProgrammed(objName)
	if !f.watched(objName) {
		t.Fatalf("a control plane in line is not left to its account's re-sync")
	}
	forbidden := func(op string) error {
		return &konnect.APIError{Op: op, Kind: konnect.ErrorUnauthorized, StatusCode: 403, Message: "Konnect answered 403 Forbidden"}
	}
	f.Clock.Step(time.Minute + time.Second)
	f.api.Fail(konnecttest.OpListControlPlanes, forbidden("listing control planes"), forbidden("listing control planes"))
	f.api.Fail(konnecttest.OpGetControlPlane, forbidden("getting control plane"))
	if after := f.resync(); after != 0 {
		t.Fatalf("the refused re-sync asks to run again in %v; want it ended, its control planes handed back", after)
	}
	if got := names(f.queued()); !slices.Equal(got, []string{objName}) || f.watched(objName) {
		t.Fatalf("queued %v (still watched %v): want %s handed back to its reconcile", got, f.watched(objName), objName)
	}
	if after := f.sync(objName).After; after < time.Minute || f.watched(objName) {
		t.Fatalf("the refused control plane's next look in %v (watched %v): want its own sync period", after, f.watched(objName))
	}
	f.expectCondition(objName, konnectv1alpha2.ConditionProgrammed, "False", konnectv1alpha2.ReasonKonnectAPIOpFailed, "403")
	if _, _, ok := f.ctrl.listings.resyncDue(standardAccount().Name); ok {
		t.Fatalf("the account's re-sync goes on with nothing to watch")
	}

	// Konnect reads again: the next reconcile puts it back in line, under the re-sync.
	if after := f.sync(objName).After; after != 0 || !f.watched(objName) {
		t.Fatalf("next look in %v, watched %v: want it back under the account's re-sync", after, f.watched(objName))
	}
	f.expectProgrammed(objName)
}
