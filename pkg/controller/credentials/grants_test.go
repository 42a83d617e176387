package credentials_test

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	configurationv1alpha1 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/configuration/v1alpha1"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/controller/controllertest"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/controller/credentials"
)

// authConfigsIn is the from side of an auth configuration's Secret reference.
func authConfigsIn(ns string) credentials.RefFrom {
	return credentials.RefFrom{Group: credentials.AuthConfigGroup, Kind: credentials.AuthConfigKind, Namespace: ns}
}

// secretTo is a Secret in secretNamespace, where the grants live.
func secretTo(name string) credentials.RefTo {
	return credentials.RefTo{Group: credentials.SecretGroup, Kind: credentials.SecretKind, Namespace: secretNamespace, Name: name}
}

func TestGrantPermits(t *testing.T) {
	deleting := referenceGrant(secretNamespace, "g", fromKong, toAllSecrets)
	deleting.DeletionTimestamp = &metav1.Time{}
	several := referenceGrant(secretNamespace, "g", configurationv1alpha1.ReferenceGrantFrom{Group: "configuration.konghq.com", Kind: "KongService", Namespace: namespace}, toSecret("other"))
	several.Spec.From = append(several.Spec.From, fromKong)
	several.Spec.To = append(several.Spec.To, toSecret("creds"))

	for _, tc := range []struct {
		name  string
		grant *configurationv1alpha1.KongReferenceGrant
		want  bool
	}{
		{"that Secret", referenceGrant(secretNamespace, "g", fromKong, toSecret("creds")), true},
		{"every Secret", referenceGrant(secretNamespace, "g", fromKong, toAllSecrets), true},
		{"one entry of several on each side", several, true},
		{"another Secret", referenceGrant(secretNamespace, "g", fromKong, toSecret("other")), false},
		{"another from namespace", referenceGrant(secretNamespace, "g",
			configurationv1alpha1.ReferenceGrantFrom{Group: "konnect.konghq.com", Kind: "KonnectAPIAuthConfiguration", Namespace: "elsewhere"}, toAllSecrets), false},
		{"another from kind", referenceGrant(secretNamespace, "g",
			configurationv1alpha1.ReferenceGrantFrom{Group: "konnect.konghq.com", Kind: "KonnectGatewayControlPlane", Namespace: namespace}, toAllSecrets), false},
		{"another from group", referenceGrant(secretNamespace, "g",
			configurationv1alpha1.ReferenceGrantFrom{Group: "configuration.konghq.com", Kind: "KonnectAPIAuthConfiguration", Namespace: namespace}, toAllSecrets), false},
		{"to the empty core group", referenceGrant(secretNamespace, "g", fromKong, configurationv1alpha1.ReferenceGrantTo{Group: "", Kind: "Secret"}), false},
		{"to another kind", referenceGrant(secretNamespace, "g", fromKong, configurationv1alpha1.ReferenceGrantTo{Group: "core", Kind: "ConfigMap"}), false},
		{"being deleted", deleting, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := credentials.GrantPermits(tc.grant, authConfigsIn(namespace), secretTo("creds")); got != tc.want {
				t.Errorf("grantPermits = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestReferenceGrantsPermits(t *testing.T) {
	deleting := referenceGrant(secretNamespace, "a-deleting", fromKong, toAllSecrets)
	deleting.DeletionTimestamp = &metav1.Time{}
	controlPlanes := configurationv1alpha1.ReferenceGrantFrom{Group: "konnect.konghq.com", Kind: "KonnectGatewayControlPlane", Namespace: namespace}
	toAuth := configurationv1alpha1.ReferenceGrantTo{Group: "konnect.konghq.com", Kind: "KonnectAPIAuthConfiguration",
		Name: ptr.To(configurationv1alpha1.ObjectName("auth"))}

	for _, tc := range []struct {
		name      string
		grants    []*configurationv1alpha1.KongReferenceGrant
		noLister  bool
		from      credentials.RefFrom
		to        credentials.RefTo
		wantGrant string
		wantOK    bool
	}{
		{name: "no lister: confined to one namespace", noLister: true, from: authConfigsIn(namespace), to: secretTo("creds")},
		{name: "no grant", from: authConfigsIn(namespace), to: secretTo("creds")},
		{name: "a grant", grants: []*configurationv1alpha1.KongReferenceGrant{referenceGrant(secretNamespace, "g", fromKong, toSecret("creds"))},
			from: authConfigsIn(namespace), to: secretTo("creds"), wantGrant: "g", wantOK: true},
		{name: "a grant in another namespace", grants: []*configurationv1alpha1.KongReferenceGrant{referenceGrant(namespace, "g", fromKong, toSecret("creds"))},
			from: authConfigsIn(namespace), to: secretTo("creds")},
		{name: "the first by name", grants: []*configurationv1alpha1.KongReferenceGrant{
			referenceGrant(secretNamespace, "c", fromKong, toAllSecrets),
			referenceGrant(secretNamespace, "b", fromKong, toSecret("creds")),
			referenceGrant(secretNamespace, "a", fromKong, toSecret("other")),
		}, from: authConfigsIn(namespace), to: secretTo("creds"), wantGrant: "b", wantOK: true},
		{name: "a grant being deleted permits nothing", grants: []*configurationv1alpha1.KongReferenceGrant{deleting},
			from: authConfigsIn(namespace), to: secretTo("creds")},
		{name: "a grant being deleted is skipped", grants: []*configurationv1alpha1.KongReferenceGrant{deleting,
			referenceGrant(secretNamespace, "b-live", fromKong, toAllSecrets)},
			from: authConfigsIn(namespace), to: secretTo("creds"), wantGrant: "b-live", wantOK: true},
		{name: "control plane to auth configuration", grants: []*configurationv1alpha1.KongReferenceGrant{referenceGrant(secretNamespace, "cp", controlPlanes, toAuth)},
			from: credentials.RefFrom{Group: "konnect.konghq.com", Kind: "KonnectGatewayControlPlane", Namespace: namespace},
			to:   credentials.RefTo{Group: credentials.AuthConfigGroup, Kind: credentials.AuthConfigKind, Namespace: secretNamespace, Name: "auth"}, wantGrant: "cp", wantOK: true},
		{name: "control plane to another auth configuration", grants: []*configurationv1alpha1.KongReferenceGrant{referenceGrant(secretNamespace, "cp", controlPlanes, toAuth)},
			from: credentials.RefFrom{Group: "konnect.konghq.com", Kind: "KonnectGatewayControlPlane", Namespace: namespace},
			to:   credentials.RefTo{Group: credentials.AuthConfigGroup, Kind: credentials.AuthConfigKind, Namespace: secretNamespace, Name: "other"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var grants credentials.ReferenceGrants
			if !tc.noLister {
				resolver, _ := newResolver(t, controllertest.Objects(tc.grants)...)
				grants = resolver.Grants
			}
			grant, ok := grants.Permits(tc.from, tc.to)
			if grant != tc.wantGrant || ok != tc.wantOK {
				t.Errorf("Permits = %q, %v; want %q, %v", grant, ok, tc.wantGrant, tc.wantOK)
			}
		})
	}
}
