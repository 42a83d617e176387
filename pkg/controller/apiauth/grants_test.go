package apiauth

import (
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2/ktesting"

	configurationv1alpha1 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/configuration/v1alpha1"
	konnectv1alpha1 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha1"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/controller/controllertest"
)

// secretNamespace is where the cross-namespace tests keep their Secrets and grants.
const secretNamespace = "vault"

var (
	referenceGrant = controllertest.ReferenceGrant
	toSecret       = controllertest.ToSecret
	fromKong       = controllertest.FromKong
	toAllSecrets   = controllertest.ToAllSecrets
)

// crossConfig is a configuration in namespace kong taking its token from vault/secretName.
func crossConfig(name, secretName string) *konnectv1alpha1.KonnectAPIAuthConfiguration {
	cfg := secretConfig(name, secretName)
	cfg.Spec.SecretRef.Namespace = secretNamespace
	return cfg
}

func vaultSecret(name, token string) *corev1.Secret {
	s := tokenSecret(name, map[string][]byte{"token": []byte(token)})
	s.Namespace = secretNamespace
	return s
}

// addGrants puts grants into the controller's grant lister.
func (f *fixture) addGrants(grants ...*configurationv1alpha1.KongReferenceGrant) {
	f.T.Helper()
	f.Preload(controllertest.Objects(grants)...)
}

func TestSyncCrossNamespace(t *testing.T) {
	for _, tc := range []struct {
		name        string
		grant       *configurationv1alpha1.KongReferenceGrant
		wantVerdict string
		wantRefs    metav1.ConditionStatus
		wantMessage string
	}{
		{"no grant", nil, konnectv1alpha1.ReasonRefNotPermitted, metav1.ConditionFalse,
			`no KongReferenceGrant in namespace "vault" permits it: create one there with from {group: konnect.konghq.com, kind: KonnectAPIAuthConfiguration, namespace: kong} and to {group: core, kind: Secret, name: creds}`},
		{"grant in the configuration's namespace", referenceGrant(namespace, "wrong-place", fromKong, toSecret("creds")),
			konnectv1alpha1.ReasonRefNotPermitted, metav1.ConditionFalse, `no KongReferenceGrant in namespace "vault"`},
		{"grant for another Secret", referenceGrant(secretNamespace, "other", fromKong, toSecret("other")),
			konnectv1alpha1.ReasonRefNotPermitted, metav1.ConditionFalse, `no KongReferenceGrant in namespace "vault"`},
		{"grant", referenceGrant(secretNamespace, "allow-kong", fromKong, toSecret("creds")),
			konnectv1alpha1.ReasonValid, metav1.ConditionTrue, "KongReferenceGrant vault/allow-kong permits the reference to Secret vault/creds"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, ctx := ktesting.NewTestContext(t)
			cfg := crossConfig("cross", "creds")
			f := newFixture(t, ctx, fixtureOptions{configs: []*konnectv1alpha1.KonnectAPIAuthConfiguration{cfg},
				secrets: []*corev1.Secret{vaultSecret("creds", tokenValid)}})
			if tc.grant != nil {
				f.addGrants(tc.grant)
			}
			if _, err := f.ctrl.sync(ctx, cache.MetaObjectToName(cfg)); err != nil {
				t.Fatal(err)
			}
			got := f.get("cross")
			verdict := conditionOf(got)
			refs := meta.FindStatusCondition(got.Status.Conditions, konnectv1alpha1.ConditionResolvedRefs)
			if verdict == nil || verdict.Reason != tc.wantVerdict {
				t.Fatalf("APIAuthValid = %+v, want reason %s", verdict, tc.wantVerdict)
			}
			if refs == nil || refs.Status != tc.wantRefs || refs.ObservedGeneration != cfg.Generation {
				t.Fatalf("ResolvedRefs = %+v, want %s", refs, tc.wantRefs)
			}
			if !strings.Contains(refs.Message, tc.wantMessage) {
				t.Errorf("ResolvedRefs message = %q, want it to contain %q", refs.Message, tc.wantMessage)
			}
			calls := f.konnect.callsFor(tokenValid)
			if tc.wantVerdict == konnectv1alpha1.ReasonValid {
				if verdict.Message != "Token from Secret vault/creds is valid" || refs.Reason != konnectv1alpha1.ReasonResolvedRefs || calls != 1 {
					t.Errorf("APIAuthValid %q, ResolvedRefs reason %s, %d calls", verdict.Message, refs.Reason, calls)
				}
			} else {
				if verdict.Message != refs.Message || refs.Reason != konnectv1alpha1.ReasonRefNotPermitted {
					t.Errorf("APIAuthValid message %q, ResolvedRefs %s %q", verdict.Message, refs.Reason, refs.Message)
				}
				if calls != 0 {
					t.Errorf("the token was sent to Konnect %d times without a grant", calls)
				}
			}
			assertNoToken(t, "conditions", verdict.Message+refs.Message)
		})
	}
}

// TestNoResolvedRefsForLocalReferences: same-namespace references and inline tokens have no
// ResolvedRefs condition, and one left from an earlier cross-namespace reference is removed.
func TestNoResolvedRefsForLocalReferences(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	explicit := secretConfig("explicit", "creds")
	explicit.Spec.SecretRef.Namespace = namespace
	moved := withCondition(secretConfig("moved", "creds"), metav1.ConditionFalse, konnectv1alpha1.ReasonRefNotPermitted, 1)
	meta.SetStatusCondition(&moved.Status.Conditions, metav1.Condition{Type: konnectv1alpha1.ConditionResolvedRefs,
		Status: metav1.ConditionFalse, Reason: konnectv1alpha1.ReasonRefNotPermitted, Message: "old"})
	configs := []*konnectv1alpha1.KonnectAPIAuthConfiguration{secretConfig("implicit", "creds"), explicit, moved, inlineConfig("inline", tokenValid)}
	f := newFixture(t, ctx, fixtureOptions{configs: configs, secrets: []*corev1.Secret{tokenSecret("creds", map[string][]byte{"token": []byte(tokenValid)})}})
	for _, cfg := range configs {
		if _, err := f.ctrl.sync(ctx, cache.MetaObjectToName(cfg)); err != nil {
			t.Fatal(err)
		}
		got := f.get(cfg.Name)
		if c := meta.FindStatusCondition(got.Status.Conditions, konnectv1alpha1.ConditionResolvedRefs); c != nil {
			t.Errorf("%s: ResolvedRefs %+v, want none", cfg.Name, c)
		}
		if c := conditionOf(got); c == nil || c.Reason != konnectv1alpha1.ReasonValid {
			t.Errorf("%s: APIAuthValid %+v", cfg.Name, c)
		}
	}
}

// TestGrantEventRequeuesExactlyItsConfigurations: a grant event queues the configurations in
// the namespaces its from list names whose Secret is in the grant's namespace and matches its
// to list (before and after an update), and no other.
func TestGrantEventRequeuesExactlyItsConfigurations(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	elsewhere := crossConfig("elsewhere", "creds")
	elsewhere.Namespace = "team-b"
	otherVault := secretConfig("other-vault", "creds")
	otherVault.Spec.SecretRef.Namespace = "vault-2"
	configs := []*konnectv1alpha1.KonnectAPIAuthConfiguration{
		crossConfig("a", "creds"), crossConfig("b", "creds"), crossConfig("c", "other"),
		elsewhere, otherVault, secretConfig("local", "creds"), inlineConfig("inline", tokenValid),
	}
	f := newFixture(t, ctx, fixtureOptions{configs: configs})
	drain := func() []string {
		var got []string
		for f.ctrl.loop.Len() > 0 {
			key, _ := f.ctrl.loop.Get()
			got = append(got, key.Namespace+"/"+key.Name)
			f.ctrl.loop.Done(key)
			f.ctrl.loop.Forget(key)
		}
		for f.ctrl.finalizers.loop.Len() > 0 {
			key, _ := f.ctrl.finalizers.loop.Get()
			got = append(got, "secret:"+key.Namespace+"/"+key.Name)
			f.ctrl.finalizers.loop.Done(key)
		}
		slices.Sort(got)
		return got
	}
	drain()

	g := referenceGrant(secretNamespace, "g", fromKong, toSecret("creds"))
	f.ctrl.enqueueGrantUsers(g)
	if got, want := strings.Join(drain(), " "), "kong/a kong/b secret:vault/creds"; got != want {
		t.Errorf("grant for vault/creds queued %q, want %q", got, want)
	}

	all := referenceGrant(secretNamespace, "g", fromKong, toAllSecrets)
	f.ctrl.enqueueGrantUsers(g, all) // an update: both versions
	if got, want := strings.Join(drain(), " "), "kong/a kong/b kong/c secret:vault/creds secret:vault/other"; got != want {
		t.Errorf("update to every Secret queued %q, want %q", got, want)
	}

	f.ctrl.enqueueGrantUsers(cache.DeletedFinalStateUnknown{Key: "vault/g", Obj: referenceGrant(secretNamespace, "g",
		configurationv1alpha1.ReferenceGrantFrom{Group: "konnect.konghq.com", Kind: "KonnectGatewayControlPlane", Namespace: namespace}, toAllSecrets)})
	if got := drain(); len(got) != 0 {
		t.Errorf("a grant for another kind queued %v", got)
	}
}
