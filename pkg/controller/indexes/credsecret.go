package indexes

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/cache"

	konnectv1alpha1 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha1"
)

// CredentialSecret is what the cache of credential Secrets (konghq.com/credential=konnect) keeps
// of one: its metadata, trimmed as every cached object's, and the value of its "token" key, the
// one key the resolver reads. A Secret's data map costs about 400 bytes even for one key; the
// token is a string here, one copy shared by every Secret that holds the same token (intern).
type CredentialSecret struct {
	metav1.ObjectMeta
	// Token is the value of the "token" key, as stored (not trimmed); HasToken says whether
	// the Secret has that key at all.
	Token    string
	HasToken bool
}

// GetObjectKind implements runtime.Object: a cached credential Secret carries no type meta.
func (s *CredentialSecret) GetObjectKind() schema.ObjectKind { return schema.EmptyObjectKind }

// DeepCopyObject implements runtime.Object (client-go's cache mutation detector copies what the
// cache holds).
func (s *CredentialSecret) DeepCopyObject() runtime.Object {
	out := *s
	s.ObjectMeta.DeepCopyInto(&out.ObjectMeta)
	return &out
}

// TrimCredentialSecret is the transform of the credential Secrets: a Secret becomes a
// CredentialSecret. The resolver reads only the "token" key, and the in-use finalizer is set
// by a patch; labels (the informer already selects by them), annotations, owner references,
// the type and every other key go.
func TrimCredentialSecret(obj any) (any, error) {
	secret, ok := obj.(*corev1.Secret)
	if !ok {
		return TrimForCache(obj)
	}
	trimMeta(secret)
	out := &CredentialSecret{ObjectMeta: secret.ObjectMeta}
	out.Labels, out.Annotations, out.OwnerReferences = nil, nil, nil
	if token, ok := secret.Data[konnectv1alpha1.SecretTokenKey]; ok {
		out.Token, out.HasToken = string(token), true
		intern(&out.Token)
	}
	return out, nil
}

// CredentialSecretLister reads the credential Secrets' cache.
type CredentialSecretLister struct {
	indexer cache.Indexer
}

// NewCredentialSecretLister reads indexer, the cache of an informer whose transform is
// TrimCredentialSecret.
func NewCredentialSecretLister(indexer cache.Indexer) CredentialSecretLister {
	return CredentialSecretLister{indexer: indexer}
}

// Get returns the cached Secret namespace/name, or a NotFound error.
func (l CredentialSecretLister) Get(namespace, name string) (*CredentialSecret, error) {
	obj, ok, err := l.indexer.GetByKey(namespace + "/" + name)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, apierrors.NewNotFound(corev1.Resource("secrets"), name)
	}
	secret, ok := obj.(*CredentialSecret)
	if !ok {
		return nil, fmt.Errorf("the credential Secrets' cache holds a %T, not a trimmed Secret", obj)
	}
	return secret, nil
}
