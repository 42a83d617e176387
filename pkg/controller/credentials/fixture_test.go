package credentials

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	configurationv1alpha1 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/configuration/v1alpha1"
	konnectv1alpha1 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha1"
	configurationlisters "github.com/konnect-auth-controller/konnect-auth-controller/pkg/generated/listers/configuration/v1alpha1"
)

const (
	namespace       = "kong"
	secretNamespace = "vault"
	tokenValid      = "kpat_VALIDvalidVALIDvalid0123456789abcdef"
)

// newResolver is a Resolver on a Secret indexer preloaded with secrets, without grants
// or metadata; the indexer is returned so that tests can change what it holds.
func newResolver(t testing.TB, secrets ...*corev1.Secret) (*Resolver, cache.Indexer) {
	t.Helper()
	indexer := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	for _, s := range secrets {
		mustAdd(t, indexer, s)
	}
	return &Resolver{Secrets: corelisters.NewSecretLister(indexer)}, indexer
}

// grantLister is a grant lister holding grants.
func grantLister(t testing.TB, grants ...*configurationv1alpha1.KongReferenceGrant) configurationlisters.KongReferenceGrantLister {
	t.Helper()
	indexer := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	for _, g := range grants {
		mustAdd(t, indexer, g)
	}
	return configurationlisters.NewKongReferenceGrantLister(indexer)
}

func mustAdd(t testing.TB, indexer cache.Indexer, obj any) {
	t.Helper()
	if err := indexer.Add(obj); err != nil {
		t.Fatal(err)
	}
}

func ptrTo[T any](v T) *T { return &v }

func inlineConfig(name, token string) *konnectv1alpha1.KonnectAPIAuthConfiguration {
	return &konnectv1alpha1.KonnectAPIAuthConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace, Generation: 1, ResourceVersion: "1"},
		Spec: konnectv1alpha1.KonnectAPIAuthConfigurationSpec{
			Type: konnectv1alpha1.KonnectAPIAuthTypeToken, Token: token, ServerURL: "us.api.konghq.com",
		},
	}
}

func secretConfig(name, secretName string) *konnectv1alpha1.KonnectAPIAuthConfiguration {
	return &konnectv1alpha1.KonnectAPIAuthConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace, Generation: 1, ResourceVersion: "1"},
		Spec: konnectv1alpha1.KonnectAPIAuthConfigurationSpec{
			Type: konnectv1alpha1.KonnectAPIAuthTypeSecretRef, SecretRef: &konnectv1alpha1.SecretReference{Name: secretName}, ServerURL: "us.api.konghq.com",
		},
	}
}

func tokenSecret(name string, data map[string][]byte) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace, ResourceVersion: "1", Labels: map[string]string{
			konnectv1alpha1.SecretCredentialLabel: konnectv1alpha1.SecretCredentialLabelValue,
		}},
		Data: data,
	}
}

// referenceGrant is a grant in ns with one from and one to entry.
func referenceGrant(ns, name string, from configurationv1alpha1.ReferenceGrantFrom, to configurationv1alpha1.ReferenceGrantTo) *configurationv1alpha1.KongReferenceGrant {
	return &configurationv1alpha1.KongReferenceGrant{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, ResourceVersion: "1"},
		Spec: configurationv1alpha1.KongReferenceGrantSpec{
			From: []configurationv1alpha1.ReferenceGrantFrom{from},
			To:   []configurationv1alpha1.ReferenceGrantTo{to},
		},
	}
}

var (
	fromKong     = configurationv1alpha1.ReferenceGrantFrom{Group: "konnect.konghq.com", Kind: "KonnectAPIAuthConfiguration", Namespace: namespace}
	toAllSecrets = configurationv1alpha1.ReferenceGrantTo{Group: "core", Kind: "Secret"}
)

func toSecret(name string) configurationv1alpha1.ReferenceGrantTo {
	return configurationv1alpha1.ReferenceGrantTo{Group: "core", Kind: "Secret", Name: ptrTo(configurationv1alpha1.ObjectName(name))}
}
