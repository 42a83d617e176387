package indexes

import (
	"maps"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const (
	namespace  = "kong"
	tokenValid = "kpat_VALIDvalidVALIDvalid0123456789abcdef"
)

func TestTrimForCache(t *testing.T) {
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{
		Name: "creds", Namespace: namespace,
		Annotations:   map[string]string{lastAppliedAnnotation: `{"stringData":{"token":"` + tokenValid + `"}}`, "keep": "me"},
		ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl"}},
	}}
	before := secret.Annotations
	got, err := TrimForCache(secret)
	if err != nil {
		t.Fatal(err)
	}
	trimmed := got.(*corev1.Secret)
	if trimmed.ManagedFields != nil {
		t.Errorf("managed fields kept: %+v", trimmed.ManagedFields)
	}
	if want := map[string]string{"keep": "me"}; !maps.Equal(trimmed.Annotations, want) {
		t.Errorf("annotations = %v, want %v", trimmed.Annotations, want)
	}
	if before[lastAppliedAnnotation] == "" {
		t.Error("the original annotation map was changed in place")
	}
	if _, err := TrimForCache("not an object"); err != nil {
		t.Errorf("a non-object: %v", err)
	}
}
