package objpatch

import (
	"context"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

func version(uid, rv string) *metav1.ObjectMeta {
	return &metav1.ObjectMeta{UID: types.UID(uid), ResourceVersion: rv, Name: "n", Namespace: "ns"}
}

// TestEchoesOwn: only the update from the version a write was made on to the version it made is
// ours, once; any other update of the object (someone else's write before or after it) is not.
func TestEchoesOwn(t *testing.T) {
	e := NewEchoes()
	e.record("a", "10", "11")
	e.record("b", "20", "21")

	if e.Own(version("a", "9"), version("a", "10")) {
		t.Error("the update that led to the write's base was taken for the write")
	}
	if e.Own(version("a", "10"), version("a", "12")) {
		t.Error("someone else's write from the same base was taken for ours")
	}
	if e.Own(version("c", "10"), version("c", "11")) {
		t.Error("an object never written was taken for ours")
	}
	if !e.Own(version("a", "10"), version("a", "11")) {
		t.Error("the write's own update was not recognised")
	}
	if e.Own(version("a", "10"), version("a", "11")) {
		t.Error("the same echo was recognised twice")
	}
	// b's echo was lost (a relist delivered a later version): the first update past it forgets it.
	if e.Own(version("b", "21"), version("b", "22")) {
		t.Error("an update after the write was taken for it")
	}
	if n := e.Len(); n != 0 {
		t.Errorf("%d writes still remembered, want 0", n)
	}

	e.record("d", "30", "31")
	e.Forget(version("d", "31"))
	if e.Own(version("d", "30"), version("d", "31")) {
		t.Error("a forgotten write was recognised")
	}
}

type patcherFunc func(name string, data []byte) (*metav1.ObjectMeta, error)

func (f patcherFunc) Patch(_ context.Context, name string, _ types.PatchType, data []byte, _ metav1.PatchOptions, _ ...string) (*metav1.ObjectMeta, error) {
	return f(name, data)
}

// TestWriterRecordsEchoes: a Writer with Echoes remembers each successful status write under the
// version it was guarded by and the one the apiserver answered with; one without, nothing.
func TestWriterRecordsEchoes(t *testing.T) {
	answer := "8"
	client := patcherFunc(func(name string, _ []byte) (*metav1.ObjectMeta, error) {
		return &metav1.ObjectMeta{Name: name, Namespace: "ns", UID: "u", ResourceVersion: answer}, nil
	})
	w := Writer[*metav1.ObjectMeta]{Client: func(string) Patcher[*metav1.ObjectMeta] { return client }, FieldManager: "test", Echoes: NewEchoes()}

	if err := w.Status(context.Background(), version("u", "7"), map[string]any{"x": 1}); err != nil {
		t.Fatal(err)
	}
	if !w.Echoes.Own(version("u", "7"), version("u", "8")) {
		t.Error("the status write 7 → 8 was not remembered")
	}

	// A patch that changed nothing keeps the version: no event will come, nothing to remember.
	answer = "9"
	if err := w.Status(context.Background(), version("u", "9"), map[string]any{"x": 1}); err != nil {
		t.Fatal(err)
	}
	if n := w.Echoes.Len(); n != 0 {
		t.Errorf("a write that made no new version was remembered (%d)", n)
	}

	// Metadata writes (finalizers) are not status writes: their echo is not skipped.
	answer = "11"
	if _, err := w.Metadata(context.Background(), version("u", "10"), map[string]any{"finalizers": nil}); err != nil {
		t.Fatal(err)
	}
	if n := w.Echoes.Len(); n != 0 {
		t.Errorf("a metadata write was remembered (%d)", n)
	}
}
