package credentials_test

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	configurationv1alpha1 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/configuration/v1alpha1"
	konnectv1alpha1 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha1"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/controller/controllertest"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/controller/credentials"
)

func TestResolve(t *testing.T) {
	crossCfg := func() *konnectv1alpha1.KonnectAPIAuthConfiguration {
		cfg := controllertest.SecretConfig("cross", "creds")
		cfg.Spec.SecretRef.Namespace = secretNamespace
		return cfg
	}
	vaultCreds := controllertest.TokenSecret("creds", map[string][]byte{"token": []byte(tokenValid)})
	vaultCreds.Namespace = secretNamespace
	unlabelled := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "plain", Namespace: namespace}}

	for _, tc := range []struct {
		name        string
		cfg         *konnectv1alpha1.KonnectAPIAuthConfiguration
		grants      []*configurationv1alpha1.KongReferenceGrant
		noGrants    bool
		wantToken   string
		wantSecret  string
		wantReason  string
		wantMessage string
	}{
		{name: "inline", cfg: controllertest.InlineConfig("inline", tokenValid), wantToken: tokenValid},
		{name: "inline, malformed", cfg: controllertest.InlineConfig("inline", "xpat_abc"),
			wantReason: konnectv1alpha1.ReasonInvalidToken, wantMessage: "spec.token must start with kpat_"},
		{name: "Secret", cfg: controllertest.SecretConfig("local", "creds"), wantToken: tokenValid, wantSecret: namespace + "/creds"},
		{name: "Secret without the label", cfg: controllertest.SecretConfig("plain", "plain"),
			wantReason: konnectv1alpha1.ReasonSecretNotFound, wantMessage: "Secret kong/plain exists but is not labelled konghq.com/credential=konnect"},
		{name: "no Secret", cfg: controllertest.SecretConfig("missing", "missing"),
			wantReason: konnectv1alpha1.ReasonSecretNotFound, wantMessage: "Secret kong/missing not found among Secrets labelled konghq.com/credential=konnect"},
		{name: "unsupported type", cfg: &konnectv1alpha1.KonnectAPIAuthConfiguration{Spec: konnectv1alpha1.KonnectAPIAuthConfigurationSpec{Type: "oauth"}},
			wantReason: konnectv1alpha1.ReasonInvalidToken, wantMessage: `spec.type "oauth" is not supported`},
		{name: "cross-namespace, no grant", cfg: crossCfg(), wantReason: konnectv1alpha1.ReasonRefNotPermitted,
			wantMessage: `no KongReferenceGrant in namespace "vault" permits it: create one there with from {group: konnect.konghq.com, kind: KonnectAPIAuthConfiguration, namespace: kong} and to {group: core, kind: Secret, name: creds}`},
		{name: "cross-namespace, grants not watched", cfg: crossCfg(), noGrants: true, wantReason: konnectv1alpha1.ReasonRefNotPermitted,
			wantMessage: `this controller watches only namespace "kong" (--namespace)`},
		{name: "cross-namespace, granted", cfg: crossCfg(),
			grants:    []*configurationv1alpha1.KongReferenceGrant{referenceGrant(secretNamespace, "allow", fromKong, toSecret("creds"))},
			wantToken: tokenValid, wantSecret: secretNamespace + "/creds"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resolver, _ := newResolver(t, append(controllertest.Objects(tc.grants),
				controllertest.TokenSecret("creds", map[string][]byte{"token": []byte(tokenValid + "\n")}), vaultCreds, unlabelled)...)
			if tc.noGrants {
				resolver.Grants.Lister = nil
			}

			source, problem := resolver.Resolve(context.Background(), tc.cfg)
			if tc.wantReason == "" {
				if problem != nil {
					t.Fatalf("problem %+v, want token", problem)
				}
				if source != (credentials.TokenSource{Token: tc.wantToken, Secret: tc.wantSecret}) {
					t.Errorf("source = %+v, want token from %q", source, tc.wantSecret)
				}
				return
			}
			if problem == nil {
				t.Fatalf("resolved %+v, want %s", source, tc.wantReason)
			}
			if problem.Reason != tc.wantReason || !strings.Contains(problem.Message, tc.wantMessage) {
				t.Errorf("problem = %+v, want %s containing %q", problem, tc.wantReason, tc.wantMessage)
			}
			if source != (credentials.TokenSource{}) {
				t.Errorf("a problem came with a token source %+v", source)
			}
		})
	}
}

func TestCheckSecretRef(t *testing.T) {
	cfg := controllertest.SecretConfig("cross", "creds")
	cfg.Spec.SecretRef.Namespace = secretNamespace
	resolver, _ := newResolver(t, referenceGrant(secretNamespace, "allow-kong", fromKong, toSecret("creds")))
	p := resolver.CheckSecretRef(cfg)
	want := credentials.SecretRefPermission{Permitted: true, Grant: "vault/allow-kong",
		Message: "KongReferenceGrant vault/allow-kong permits the reference to Secret vault/creds"}
	if p != want {
		t.Errorf("CheckSecretRef = %+v, want %+v", p, want)
	}
}

func TestSecretRefOf(t *testing.T) {
	cross := controllertest.SecretConfig("cross", "creds")
	cross.Spec.SecretRef.Namespace = secretNamespace
	explicit := controllertest.SecretConfig("explicit", "creds")
	explicit.Spec.SecretRef.Namespace = namespace
	for _, tc := range []struct {
		name              string
		cfg               *konnectv1alpha1.KonnectAPIAuthConfiguration
		wantSecret        string
		wantCross, wantOK bool
	}{
		{"implicit namespace", controllertest.SecretConfig("local", "creds"), "kong/creds", false, true},
		{"explicit own namespace", explicit, "kong/creds", false, true},
		{"another namespace", cross, "vault/creds", true, true},
		{"inline token", controllertest.InlineConfig("inline", tokenValid), "", false, false},
		{"no name", controllertest.SecretConfig("unnamed", ""), "", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			secret, cross, ok := credentials.SecretRefOf(tc.cfg)
			if ok != tc.wantOK || cross != tc.wantCross || (ok && secret.String() != tc.wantSecret) {
				t.Errorf("SecretRefOf = %v, %v, %v; want %s, %v, %v", secret, cross, ok, tc.wantSecret, tc.wantCross, tc.wantOK)
			}
		})
	}
}
