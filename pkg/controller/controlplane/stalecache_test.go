package controlplane

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"

	konnectv1alpha2 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha2"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/konnect/konnecttest"
)

// staleSync runs a sync without copying its writes into the lister: the next sync reads the
// object as the informer had it before, as happens when the sync queued by the controller's
// own finalizer patch runs before the watch delivers its status write.
func (f *fixture) staleSync(name string) {
	f.T.Helper()
	if _, err := f.ctrl.reconcile(f.ctx, cache.ObjectName{Namespace: namespace, Name: name}); err != nil {
		f.T.Fatalf("sync %s: %v", name, err)
	}
}

func newStaleFixture(t *testing.T) *fixture {
	return newFixture(t, standardOptions())
}

// A sync that reads a cache older than the status write of the sync that created the control
// plane must not POST again (seen end to end by test/e2e/controlplanes before the fix: two
// POSTs, the second answered 409 and adopted).
func TestStaleCacheAfterCreateDoesNotCreateAgain(t *testing.T) {
	f := newStaleFixture(t)
	f.staleSync(objName)
	// The create looked for its own by label first (one list), then POSTed.
	lists := f.api.Count(konnecttest.OpListControlPlanes)
	f.staleSync(objName) // the lister still has no status.id
	if n := f.api.Count(konnecttest.OpCreateControlPlane); n != 1 {
		t.Fatalf("%d creates, want 1: %+v", n, f.api.Calls())
	}
	if n := f.api.Count(konnecttest.OpListControlPlanes) - lists; n != 0 {
		t.Fatalf("%d lists: the second sync looked in Konnect instead of remembering the create", n)
	}
	f.refresh(objName)
	f.sync(objName)
	if n := f.api.Writes(); n != 1 {
		t.Fatalf("%d Konnect writes, want the one create: %+v", n, f.api.Calls())
	}
	planes := f.api.ControlPlanes(serverURL)
	if got := f.get(objName).Status.ID; len(planes) != 1 || got != planes[0].ID {
		t.Fatalf("status.id %q, Konnect has %+v", got, planes)
	}
	f.expectProgrammed(objName)
}

// A control plane re-created after it was deleted in Konnect: a sync on the cache that still
// shows the old id must not POST a third time.
func TestStaleCacheAfterRecreateDoesNotCreateAgain(t *testing.T) {
	f := newStaleFixture(t)
	f.sync(objName)
	old := f.get(objName).Status.ID
	f.api.Remove(serverURL, old)
	f.Clock.Step(time.Minute + time.Second) // the next sync period's listing
	f.staleSync(objName)                    // re-creates; the lister still says old
	f.staleSync(objName)
	if n := f.api.Count(konnecttest.OpCreateControlPlane); n != 2 {
		t.Fatalf("%d creates, want 2 (the create and the re-create): %+v", n, f.api.Calls())
	}
	planes := f.api.ControlPlanes(serverURL)
	if len(planes) != 1 || planes[0].ID == old || f.get(objName).Status.ID != planes[0].ID {
		t.Fatalf("status.id %q, Konnect has %+v (old %s)", f.get(objName).Status.ID, planes, old)
	}
}

// A deletion seen on a cached object that does not show the id yet (or whose status write
// lost the race with the deletion) must delete the control plane in Konnect, not release the
// finalizer with it still there.
func TestDeletionOnStaleCacheDeletesInKonnect(t *testing.T) {
	f := newStaleFixture(t)
	f.staleSync(objName)
	planes := f.api.ControlPlanes(serverURL)
	if len(planes) != 1 {
		t.Fatalf("Konnect has %+v, want 1", planes)
	}
	// The object as the informer has it: the finalizer, the deletion, no status.id.
	stale := f.get(objName).DeepCopy()
	stale.Status = konnectv1alpha2.KonnectGatewayControlPlaneStatus{}
	stale.DeletionTimestamp = ptr.To(metav1.NewTime(f.Clock.Now()))
	f.Preload(stale)
	f.staleSync(objName)
	if n := f.api.Count(konnecttest.OpDeleteControlPlane); n != 1 {
		t.Fatalf("%d deletes, want 1: %+v", n, f.api.Calls())
	}
	if left := f.api.ControlPlanes(serverURL); len(left) != 0 {
		t.Fatalf("Konnect still has %+v after the object let go", left)
	}
}
