package indexes

import (
	"reflect"
	"strings"
	"testing"
	"unsafe"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/diff"
	"k8s.io/client-go/tools/cache"

	konnectv1alpha1 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha1"
	konnectv1alpha2 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha2"
)

const (
	namespace  = "kong"
	tokenValid = "kpat_VALIDvalidVALIDvalid0123456789abcdef"
)

// cluttered is metadata as the apiserver serves it, with what no reconciler reads.
func cluttered(name string) metav1.ObjectMeta {
	deleting := metav1.Now()
	return metav1.ObjectMeta{
		Name: name, Namespace: namespace, UID: types.UID("uid-" + name), ResourceVersion: "7", Generation: 3,
		DeletionTimestamp: &deleting,
		Finalizers:        []string{konnectv1alpha2.APIAuthInUseFinalizer},
		Labels:            map[string]string{"team": "red", konnectv1alpha1.SecretCredentialLabel: konnectv1alpha1.SecretCredentialLabelValue},
		Annotations: map[string]string{
			lastAppliedAnnotation:                          `{"spec":{"token":"` + tokenValid + `"}}`,
			"example.com/note":                             "hello",
			konnectv1alpha2.SkipCleanupAnnotation:          "true",
			konnectv1alpha2.DataPlaneCertificateAnnotation: "cp/cert",
		},
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "ConfigMap", Name: "owner", UID: "owner-uid"}},
		ManagedFields:   []metav1.ManagedFieldsEntry{{Manager: "kubectl"}},
	}
}

// kept is what a reconciler reads of cluttered metadata on this project's kinds.
func kept(name string, from metav1.ObjectMeta) metav1.ObjectMeta {
	return metav1.ObjectMeta{
		Name: name, Namespace: namespace, UID: types.UID("uid-" + name), ResourceVersion: "7", Generation: 3,
		DeletionTimestamp: from.DeletionTimestamp,
		Finalizers:        []string{konnectv1alpha2.APIAuthInUseFinalizer},
		Annotations: map[string]string{
			konnectv1alpha2.SkipCleanupAnnotation:          "true",
			konnectv1alpha2.DataPlaneCertificateAnnotation: "cp/cert",
		},
	}
}

func authConfig(name string) *konnectv1alpha1.KonnectAPIAuthConfiguration {
	return &konnectv1alpha1.KonnectAPIAuthConfiguration{
		ObjectMeta: cluttered(name),
		Spec: konnectv1alpha1.KonnectAPIAuthConfigurationSpec{
			Type: konnectv1alpha1.KonnectAPIAuthTypeToken, Token: tokenValid, ServerURL: "us.api.konghq.com",
		},
		Status: konnectv1alpha1.KonnectAPIAuthConfigurationStatus{
			OrganizationID: "org-1", ServerURL: "https://us.api.konghq.com",
			Conditions: []metav1.Condition{{
				Type: konnectv1alpha1.ConditionAPIAuthValid, Status: metav1.ConditionTrue, Reason: "Valid",
				Message: "the token is valid for organization org-1", ObservedGeneration: 3,
			}},
		},
	}
}

// Every field a reconciler reads survives; labels, owner references, managed fields and
// foreign annotations (the last-applied one with its copy of the token) do not.
func TestTrimForCache(t *testing.T) {
	cfg := authConfig("cfg")
	before := cfg.Annotations
	want := cfg.DeepCopy()
	want.ObjectMeta = kept("cfg", cfg.ObjectMeta)
	got, err := TrimForCache(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(want, got) {
		t.Errorf("trimmed auth configuration (-want +got):\n%s", diff.Diff(want, got))
	}
	if before[lastAppliedAnnotation] == "" || before["example.com/note"] == "" {
		t.Error("the original annotation map was changed in place")
	}

	ext := &konnectv1alpha2.KonnectExtension{ObjectMeta: cluttered("ext")}
	wantExt := ext.DeepCopy()
	wantExt.ObjectMeta = kept("ext", ext.ObjectMeta)
	if got, _ := TrimForCache(ext); !reflect.DeepEqual(wantExt, got) {
		t.Errorf("trimmed extension (-want +got):\n%s", diff.Diff(wantExt, got))
	}

	// A certificate Secret is written back whole on renewal: only managed fields and the
	// last-applied annotation go.
	certSecret := &corev1.Secret{ObjectMeta: cluttered("cert"), Data: map[string][]byte{"tls.crt": []byte("c"), "tls.key": []byte("k")}}
	wantCert := certSecret.DeepCopy()
	wantCert.ManagedFields = nil
	delete(wantCert.Annotations, lastAppliedAnnotation)
	if got, _ := TrimForCache(certSecret); !reflect.DeepEqual(wantCert, got) {
		t.Errorf("trimmed certificate Secret (-want +got):\n%s", diff.Diff(wantCert, got))
	}

	if _, err := TrimForCache("not an object"); err != nil {
		t.Errorf("a non-object: %v", err)
	}
}

// A credential Secret is cached as a CredentialSecret: its token key, its finalizers and its
// deletion; the rest of its data and metadata goes. Two Secrets holding the same token share one
// copy of it.
func TestTrimCredentialSecret(t *testing.T) {
	secret := &corev1.Secret{
		ObjectMeta: cluttered("creds"), Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{konnectv1alpha1.SecretTokenKey: []byte(tokenValid + "\n"), "ca.crt": []byte(strings.Repeat("x", 4096))},
	}
	want := &CredentialSecret{ObjectMeta: kept("creds", secret.ObjectMeta), Token: tokenValid + "\n", HasToken: true}
	want.Annotations = nil
	got, err := TrimCredentialSecret(secret.DeepCopy())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(want, got) {
		t.Errorf("trimmed credential Secret (-want +got):\n%s", diff.Diff(want, got))
	}
	again, _ := TrimCredentialSecret(secret.DeepCopy())
	if a, b := got.(*CredentialSecret).Token, again.(*CredentialSecret).Token; unsafe.StringData(a) != unsafe.StringData(b) {
		t.Errorf("two Secrets with the same token hold separate copies")
	}
	// The mutation detector and the informer's tombstones copy what the cache holds.
	if cp := got.(*CredentialSecret).DeepCopyObject(); !reflect.DeepEqual(cp, got) {
		t.Errorf("DeepCopyObject = %+v, want %+v", cp, got)
	}

	// Without the token key it holds none: the resolver says the key is missing, as before.
	other := &corev1.Secret{ObjectMeta: cluttered("other"), Data: map[string][]byte{"password": []byte("x")}}
	if got, _ := TrimCredentialSecret(other); got.(*CredentialSecret).HasToken || got.(*CredentialSecret).Token != "" {
		t.Errorf("a Secret without the token key has a token: %+v", got)
	}
}

// The credential Secrets' lister reads the trimmed Secrets, and says NotFound of a missing one.
func TestCredentialSecretLister(t *testing.T) {
	indexer := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})
	trimmed, _ := TrimCredentialSecret(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "creds", Namespace: "kong"},
		Data: map[string][]byte{konnectv1alpha1.SecretTokenKey: []byte(tokenValid)}})
	if err := indexer.Add(trimmed); err != nil {
		t.Fatal(err)
	}
	lister := NewCredentialSecretLister(indexer)
	if got, err := lister.Get("kong", "creds"); err != nil || got.Token != tokenValid {
		t.Errorf("Get = %+v, %v", got, err)
	}
	if _, err := lister.Get("kong", "missing"); !apierrors.IsNotFound(err) {
		t.Errorf("Get of a missing Secret: %v, want NotFound", err)
	}
}

// Equal strings decoded from many objects share one copy once trimmed.
func TestTrimForCacheInterns(t *testing.T) {
	a, b := authConfig("a"), authConfig("b")
	// Separate copies, as two decoded objects hold them.
	b.Status.Conditions[0].Message = strings.Clone(a.Status.Conditions[0].Message)
	b.Spec.Token = strings.Clone(a.Spec.Token)
	b.Namespace = strings.Clone(a.Namespace)
	_, _ = TrimForCache(a)
	_, _ = TrimForCache(b)
	for what, pair := range map[string][2]string{
		"condition message": {a.Status.Conditions[0].Message, b.Status.Conditions[0].Message},
		"token":             {a.Spec.Token, b.Spec.Token},
		"namespace":         {a.Namespace, b.Namespace},
	} {
		if pair[0] != pair[1] || unsafe.StringData(pair[0]) != unsafe.StringData(pair[1]) {
			t.Errorf("the two objects' %s are separate copies", what)
		}
	}
}
