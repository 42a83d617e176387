package indexes

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"

	konnectv1alpha2 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha2"
)

func controlPlane(ns, name, authName string, authNamespace *string) *konnectv1alpha2.KonnectGatewayControlPlane {
	return &konnectv1alpha2.KonnectGatewayControlPlane{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: konnectv1alpha2.KonnectGatewayControlPlaneSpec{KonnectConfiguration: konnectv1alpha2.KonnectConfiguration{
			APIAuthConfigurationRef: konnectv1alpha2.KonnectAPIAuthConfigurationRef{Name: authName, Namespace: authNamespace}}},
	}
}

// TestControlPlaneAuthRefIndex: both reconcilers ask for the index on the one shared informer;
// the second call finds it, and it maps auth configurations (same or other namespace) to the
// control planes that name them.
func TestControlPlaneAuthRefIndex(t *testing.T) {
	informer := cache.NewSharedIndexInformer(&cache.ListWatch{}, &konnectv1alpha2.KonnectGatewayControlPlane{}, 0, cache.Indexers{})
	for range 2 {
		if err := AddControlPlaneAuthRefIndex(informer); err != nil {
			t.Fatalf("adding the index: %v", err)
		}
	}
	indexer := informer.GetIndexer()
	for _, cp := range []*konnectv1alpha2.KonnectGatewayControlPlane{
		controlPlane("kong", "a", "auth", nil),
		controlPlane("kong", "b", "auth", ptr.To("")),
		controlPlane("team", "c", "auth", ptr.To("kong")),
		controlPlane("team", "d", "auth", nil),
		controlPlane("team", "e", "", nil),
	} {
		if err := indexer.Add(cp); err != nil {
			t.Fatal(err)
		}
	}
	for key, want := range map[string]int{"kong/auth": 3, "team/auth": 1, "team/": 0} {
		got, err := indexer.ByIndex(ControlPlaneAuthRefIndex, key)
		if err != nil || len(got) != want {
			t.Errorf("ByIndex(%q) = %d objects (%v), want %d", key, len(got), err, want)
		}
	}
}

// TestOnChange: adds and deletes enqueue the object; an update enqueues both versions, unless
// the resource version is unchanged (a relist).
func TestOnChange(t *testing.T) {
	var got [][]any
	h := OnChange(func(objs ...any) { got = append(got, objs) })
	v1 := &metav1.ObjectMeta{ResourceVersion: "1"}
	v2 := &metav1.ObjectMeta{ResourceVersion: "2"}
	h.OnAdd(v1, false)
	h.OnUpdate(v1, v1)
	h.OnUpdate(v1, v2)
	h.OnDelete(v2)
	if len(got) != 3 || len(got[0]) != 1 || len(got[1]) != 2 || got[1][0] != v1 || got[1][1] != v2 || got[2][0] != v2 {
		t.Fatalf("enqueued %v, want [v1] [v1 v2] [v2]", got)
	}
}
