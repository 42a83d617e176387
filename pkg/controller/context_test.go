package controller_test

import (
	"context"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/controller/controllertest"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/controller/indexes"
)

// The caches nothing lists by namespace carry no namespace index (at 10,000 auth
// configurations it held 10,000 keys for nothing); those listed by namespace keep it. The
// informers built in its place still list through the Secret selector and cache through the
// transform.
func TestCachesIndexOnlyWhatIsListedByNamespace(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	token := controllertest.TokenSecret("token", map[string][]byte{"token": []byte(controllertest.TokenValid)})
	unlabelled := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "other", Namespace: controllertest.Namespace}}
	cfg := controllertest.InlineConfig("config", controllertest.TokenValid)
	f := controllertest.NewFakes(t, ctx, token, unlabelled, cfg)
	f.Complete()
	c := f.Context

	configs := c.CRDInformers.Konnect().V1alpha1().KonnectAPIAuthConfigurations().Informer()
	credentials := c.CredentialSecrets.Core().V1().Secrets().Informer()
	certificates := c.CertificateSecrets.Core().V1().Secrets().Informer()
	planes := c.CRDInformers.Konnect().V1alpha2().KonnectGatewayControlPlanes().Informer()
	extensions := c.CRDInformers.Konnect().V1alpha2().KonnectExtensions().Informer()
	for name, informer := range map[string]cache.SharedIndexInformer{"auth configurations": configs, "credential Secrets": credentials, "certificate Secrets": certificates} {
		if _, ok := informer.GetIndexer().GetIndexers()[cache.NamespaceIndex]; ok {
			t.Errorf("the %s' cache has a namespace index", name)
		}
	}
	for name, informer := range map[string]cache.SharedIndexInformer{"control planes": planes, "extensions": extensions} {
		if _, ok := informer.GetIndexer().GetIndexers()[cache.NamespaceIndex]; !ok {
			t.Errorf("the %s' cache lost its namespace index, which their reconcilers read", name)
		}
	}

	c.Start(ctx.Done())
	t.Cleanup(c.Shutdown)
	if !cache.WaitForCacheSync(ctx.Done(), configs.HasSynced, credentials.HasSynced, certificates.HasSynced) {
		t.Fatal("caches did not sync")
	}
	if keys := configs.GetStore().ListKeys(); !slices.Equal(keys, []string{controllertest.Namespace + "/config"}) {
		t.Errorf("auth configurations cached: %v", keys)
	}
	// Only the labelled Secret, and cached as the transform makes it.
	cached := credentials.GetStore().List()
	if len(cached) != 1 {
		t.Fatalf("credential Secrets cached: %d, want 1 (the unlabelled one is not listed)", len(cached))
	}
	if _, ok := cached[0].(*indexes.CredentialSecret); !ok {
		t.Errorf("the credential Secret is cached as %T, not through its transform", cached[0])
	}
	if n := len(certificates.GetStore().List()); n != 0 {
		t.Errorf("certificate Secrets cached: %d, want 0", n)
	}
}
