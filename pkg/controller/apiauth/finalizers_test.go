package apiauth

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2/ktesting"

	configurationv1alpha1 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/configuration/v1alpha1"
	konnectv1alpha1 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha1"
	konnectv1alpha2 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha2"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/controller/controllertest"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/controller/objpatch"
)

// TestSecretFinalizerDecisions: the in-use finalizer is added while a configuration uses the
// Secret (same namespace, or permitted by a grant) and removed when none does; a Secret being
// deleted never gets it newly; other finalizers are kept; the patch touches metadata.finalizers
// only, with the cached resourceVersion as precondition.
func TestSecretFinalizerDecisions(t *testing.T) {
	terminating := func(c *konnectv1alpha1.KonnectAPIAuthConfiguration) *konnectv1alpha1.KonnectAPIAuthConfiguration {
		c.DeletionTimestamp = &metav1.Time{}
		c.Finalizers = []string{"example.com/hold"}
		return c
	}
	type tc struct {
		name       string
		secret     *corev1.Secret // in vault
		configs    []*konnectv1alpha1.KonnectAPIAuthConfiguration
		grants     []*configurationv1alpha1.KongReferenceGrant
		want       []string // finalizers after the sync; nil: no patch expected
		wantNoSync bool
	}
	withFinalizers := func(s *corev1.Secret, f ...string) *corev1.Secret { s.Finalizers = f; return s }
	heldForCleanup := func(c *konnectv1alpha1.KonnectAPIAuthConfiguration) *konnectv1alpha1.KonnectAPIAuthConfiguration {
		c.Finalizers = append(c.Finalizers, konnectv1alpha2.APIAuthInUseFinalizer)
		return c
	}
	deleting := func(s *corev1.Secret) *corev1.Secret { s.DeletionTimestamp = &metav1.Time{}; return s }
	local := func(name string) *konnectv1alpha1.KonnectAPIAuthConfiguration {
		c := secretConfig(name, "creds")
		c.Namespace = secretNamespace
		return c
	}
	permit := referenceGrant(secretNamespace, "g", fromKong, toSecret("creds"))
	for _, c := range []tc{
		{name: "same-namespace user: added", secret: vaultSecret("creds", tokenValid), configs: []*konnectv1alpha1.KonnectAPIAuthConfiguration{local("a")},
			want: []string{konnectv1alpha1.SecretInUseFinalizer}},
		{name: "permitted cross-namespace user: added", secret: vaultSecret("creds", tokenValid),
			configs: []*konnectv1alpha1.KonnectAPIAuthConfiguration{crossConfig("a", "creds")}, grants: []*configurationv1alpha1.KongReferenceGrant{permit},
			want: []string{konnectv1alpha1.SecretInUseFinalizer}},
		{name: "other finalizers are kept when adding", secret: withFinalizers(vaultSecret("creds", tokenValid), "example.com/keep"),
			configs: []*konnectv1alpha1.KonnectAPIAuthConfiguration{local("a")},
			want:    []string{"example.com/keep", konnectv1alpha1.SecretInUseFinalizer}},
		{name: "cross-namespace user without a grant: nothing to add", secret: vaultSecret("creds", tokenValid),
			configs: []*konnectv1alpha1.KonnectAPIAuthConfiguration{crossConfig("a", "creds")}},
		{name: "no user: removed, other finalizers kept", secret: withFinalizers(vaultSecret("creds", tokenValid), "example.com/keep", konnectv1alpha1.SecretInUseFinalizer),
			want: []string{"example.com/keep"}},
		{name: "grant revoked: removed", secret: withFinalizers(vaultSecret("creds", tokenValid), konnectv1alpha1.SecretInUseFinalizer),
			configs: []*konnectv1alpha1.KonnectAPIAuthConfiguration{crossConfig("a", "creds")}, want: []string{}},
		{name: "only user terminating: removed", secret: withFinalizers(vaultSecret("creds", tokenValid), konnectv1alpha1.SecretInUseFinalizer),
			configs: []*konnectv1alpha1.KonnectAPIAuthConfiguration{terminating(local("a"))}, want: []string{}},
		// A configuration a control plane or an extension still needs for its clean-up in
		// Konnect (it carries the in-use finalizer) holds its Secret, also during a namespace
		// deletion, and also after the grant that permitted it is revoked.
		{name: "only user terminating but held for a clean-up: kept", secret: withFinalizers(vaultSecret("creds", tokenValid), konnectv1alpha1.SecretInUseFinalizer),
			configs: []*konnectv1alpha1.KonnectAPIAuthConfiguration{heldForCleanup(terminating(local("a")))}},
		{name: "held for a clean-up, grant revoked: kept", secret: withFinalizers(vaultSecret("creds", tokenValid), konnectv1alpha1.SecretInUseFinalizer),
			configs: []*konnectv1alpha1.KonnectAPIAuthConfiguration{heldForCleanup(terminating(crossConfig("a", "creds")))}},
		// Also while the configuration lives: the grant revoked (the Secret's namespace being
		// deleted, say) stops its new use, but a control plane that uses it may be deleted later.
		{name: "live user that owes a clean-up, grant revoked: kept", secret: withFinalizers(vaultSecret("creds", tokenValid), konnectv1alpha1.SecretInUseFinalizer),
			configs: []*konnectv1alpha1.KonnectAPIAuthConfiguration{heldForCleanup(crossConfig("a", "creds"))}},
		{name: "one user terminating, one not: kept", secret: withFinalizers(vaultSecret("creds", tokenValid), konnectv1alpha1.SecretInUseFinalizer),
			configs: []*konnectv1alpha1.KonnectAPIAuthConfiguration{terminating(local("a")), local("b")}},
		{name: "Secret being deleted, still used: kept", secret: deleting(withFinalizers(vaultSecret("creds", tokenValid), konnectv1alpha1.SecretInUseFinalizer)),
			configs: []*konnectv1alpha1.KonnectAPIAuthConfiguration{local("a")}},
		{name: "Secret being deleted, no user: removed", secret: deleting(withFinalizers(vaultSecret("creds", tokenValid), konnectv1alpha1.SecretInUseFinalizer)),
			want: []string{}},
		{name: "Secret being deleted without it: never added", secret: deleting(withFinalizers(vaultSecret("creds", tokenValid), "example.com/keep")),
			configs: []*konnectv1alpha1.KonnectAPIAuthConfiguration{local("a")}},
		{name: "user of another Secret: nothing", secret: vaultSecret("creds", tokenValid),
			configs: []*konnectv1alpha1.KonnectAPIAuthConfiguration{func() *konnectv1alpha1.KonnectAPIAuthConfiguration {
				c := local("a")
				c.Spec.SecretRef.Name = "other"
				return c
			}()}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, ctx := ktesting.NewTestContext(t)
			c.secret.ResourceVersion = "42"
			f := newFixture(t, ctx, fixtureOptions{configs: c.configs, secrets: []*corev1.Secret{c.secret}})
			f.addGrants(c.grants...)
			// Patch through the kube clientset, whose actions the test reads.
			f.ctrl.finalizers.metadata = nil
			f.Kube.ClearActions()

			if err := f.ctrl.syncSecretFinalizer(ctx, cache.MetaObjectToName(c.secret)); err != nil {
				t.Fatal(err)
			}
			var patches []clienttesting.PatchAction
			for _, a := range f.Kube.Actions() {
				if p, ok := a.(clienttesting.PatchAction); ok {
					patches = append(patches, p)
				} else if a.GetVerb() != "get" && a.GetVerb() != "list" && a.GetVerb() != "watch" {
					t.Errorf("unexpected %s of %s", a.GetVerb(), a.GetResource().Resource)
				}
			}
			if c.want == nil {
				if len(patches) != 0 {
					t.Fatalf("patched %s, want no change", patches[0].GetPatch())
				}
				return
			}
			if len(patches) != 1 {
				t.Fatalf("%d patches, want 1", len(patches))
			}
			var body map[string]map[string]any
			if err := json.Unmarshal(patches[0].GetPatch(), &body); err != nil {
				t.Fatal(err)
			}
			if len(body) != 1 || len(body["metadata"]) != 2 || body["metadata"]["resourceVersion"] != "42" {
				t.Errorf("patch %s: want only metadata.finalizers and metadata.resourceVersion 42", patches[0].GetPatch())
			}
			var got []string
			if fs, ok := body["metadata"]["finalizers"].([]any); ok {
				for _, f := range fs {
					got = append(got, f.(string))
				}
			}
			if !slices.Equal(got, c.want) && !(len(got) == 0 && len(c.want) == 0) {
				t.Errorf("finalizers patched to %v, want %v", got, c.want)
			}
		})
	}
}

// TestSecretFinalizerConflict: a patch refused with a Conflict (the Secret changed since the
// cache saw it) is retried soon, without backoff and without being reported as a failure.
func TestSecretFinalizerConflict(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	cfg := secretConfig("a", "creds")
	f := newFixture(t, ctx, fixtureOptions{configs: []*konnectv1alpha1.KonnectAPIAuthConfiguration{cfg},
		secrets: []*corev1.Secret{tokenSecret("creds", map[string][]byte{"token": []byte(tokenValid)})}})
	f.ctrl.finalizers.metadata = nil
	controllertest.ConflictOnPatch(f.Kube, corev1.Resource("secrets"), "creds")
	key := cache.ObjectName{Namespace: namespace, Name: "creds"}
	for f.ctrl.finalizers.loop.Len() > 0 { // what the informer set-up queued
		k, _ := f.ctrl.finalizers.loop.Get()
		f.ctrl.finalizers.loop.Done(k)
	}
	f.ctrl.finalizers.loop.Add(key)
	if !f.ctrl.finalizers.loop.ProcessNextWorkItem(ctx) {
		t.Fatal("queue shut down")
	}
	if n := f.ctrl.finalizers.loop.NumRequeues(key); n != 0 {
		t.Errorf("a Conflict counted towards the backoff (%d requeues)", n)
	}
	f.Clock.Step(objpatch.ConflictRetryDelay)
	for range 200 {
		if slices.Contains(queued(f), "kong/creds") {
			return
		}
		sleepBriefly()
	}
	t.Errorf("the Secret was not queued again after the conflict delay")
}

// queued drains the finalizer queue without blocking.
func queued(f *fixture) []string {
	var out []string
	for f.ctrl.finalizers.loop.Len() > 0 {
		k, _ := f.ctrl.finalizers.loop.Get()
		out = append(out, k.Namespace+"/"+k.Name)
		f.ctrl.finalizers.loop.Done(k)
	}
	return out
}

// TestConfigurationEventsQueueTheirSecrets: creating, changing the secretRef of, or deleting a
// configuration queues the Secrets it names before and after; a status write does not.
func TestConfigurationEventsQueueTheirSecrets(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // before the factories' Shutdown, which waits for their informers
	f := newFixture(t, ctx, fixtureOptions{informers: true})
	configs := f.Client.KonnectV1alpha1().KonnectAPIAuthConfigurations(namespace)
	waitQueued := func(want ...string) {
		t.Helper()
		slices.Sort(want)
		var got []string
		for range 200 {
			got = append(got, queued(f)...)
			slices.Sort(got)
			got = slices.Compact(got)
			if slices.Equal(got, want) {
				return
			}
			sleepBriefly()
		}
		t.Fatalf("queued %v, want %v", got, want)
	}
	cfg, err := configs.Create(ctx, secretConfig("a", "first"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	waitQueued("kong/first")
	cfg.Spec.SecretRef.Name = "second"
	cfg.Generation++
	if cfg, err = configs.Update(ctx, cfg, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitQueued("kong/first", "kong/second")
	cfg.Status.OrganizationID = orgID
	if _, err = configs.UpdateStatus(ctx, cfg, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	sleepBriefly()
	if got := queued(f); len(got) != 0 {
		t.Errorf("a status write queued %v", got)
	}
	if err := configs.Delete(ctx, "a", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitQueued("kong/second")
}

func sleepBriefly() { time.Sleep(10 * time.Millisecond) }
