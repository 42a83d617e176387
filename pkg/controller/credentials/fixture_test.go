package credentials_test

import (
	"context"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/cache"

	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/controller/controllertest"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/controller/credentials"
)

const (
	namespace       = controllertest.Namespace
	secretNamespace = "vault"
	tokenValid      = controllertest.TokenValid
)

// newResolver is the Resolver a controller builds, on fake apiservers and informer caches
// holding objects (Secrets, KongReferenceGrants); the cache of labelled Secrets is returned so
// that tests can change what it holds.
func newResolver(t testing.TB, objects ...runtime.Object) (*credentials.Resolver, cache.Indexer) {
	t.Helper()
	f := controllertest.NewFakes(t, context.Background(), objects...)
	f.Complete()
	f.Preload(objects...)
	return f.Context.Credentials, f.Context.CredentialSecrets.Core().V1().Secrets().Informer().GetIndexer()
}

// The grants the tests build.
var (
	referenceGrant = controllertest.ReferenceGrant
	toSecret       = controllertest.ToSecret
	fromKong       = controllertest.FromKong
	toAllSecrets   = controllertest.ToAllSecrets
)
