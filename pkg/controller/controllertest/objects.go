package controllertest

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	configurationv1alpha1 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/configuration/v1alpha1"
	konnectv1alpha1 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha1"
)

const (
	// Namespace is where the tests' objects are, unless a test says otherwise.
	Namespace = "kong"
	// OrgID is the organization the fake Konnects answer for.
	OrgID = "5ca26716-02f7-4430-9117-1d1a7a2695e7"
	// ServerURL is the region's URL as a status records it; an auth configuration's spec names
	// the region without the scheme.
	ServerURL = "https://us.api.konghq.com"
)

// Tokens used by the tests; none of them may ever show up in a log line, an Event or a status.
const (
	TokenValid     = "kpat_VALIDvalidVALIDvalid0123456789abcdef"
	TokenValid2    = "spat_SECONDsecondSECONDsecond0123456789ab"
	TokenRevoked   = "kpat_REVOKEDrevokedREVOKED0123456789abcdef"
	TokenForbidden = "kpat_FORBIDDENforbidden0123456789abcdefgh"
	TokenEmptyOrg  = "kpat_NOORGnoorgNOORG0123456789abcdefghijkl"
	TokenDown      = "kpat_DOWNdownDOWNdown0123456789abcdefghijk"
	TokenBadPrefix = "xpat_BADPREFIXbadprefix0123456789abcdefgh"
)

// AllTokens lists every test token.
var AllTokens = []string{TokenValid, TokenValid2, TokenRevoked, TokenForbidden, TokenEmptyOrg, TokenDown, TokenBadPrefix}

// AssertNoToken fails if any test token, or a token without its prefix, appears in s.
func AssertNoToken(t testing.TB, what, s string) {
	t.Helper()
	for _, token := range AllTokens {
		if strings.Contains(s, token[5:]) {
			t.Errorf("%s contains the token %s...: %q", what, token[:5], s)
		}
	}
}

// InlineConfig is an auth configuration in Namespace with an inline token.
func InlineConfig(name, token string) *konnectv1alpha1.KonnectAPIAuthConfiguration {
	return &konnectv1alpha1.KonnectAPIAuthConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: Namespace, Generation: 1, ResourceVersion: "1"},
		Spec: konnectv1alpha1.KonnectAPIAuthConfigurationSpec{
			Type: konnectv1alpha1.KonnectAPIAuthTypeToken, Token: token, ServerURL: "us.api.konghq.com",
		},
	}
}

// SecretConfig is an auth configuration in Namespace taking its token from Secret secretName.
func SecretConfig(name, secretName string) *konnectv1alpha1.KonnectAPIAuthConfiguration {
	cfg := InlineConfig(name, "")
	cfg.Spec.Type = konnectv1alpha1.KonnectAPIAuthTypeSecretRef
	cfg.Spec.SecretRef = &konnectv1alpha1.SecretReference{Name: secretName}
	return cfg
}

// ValidConfig is an auth configuration in ns with an inline token, found valid for OrgID.
func ValidConfig(ns, name, token string) *konnectv1alpha1.KonnectAPIAuthConfiguration {
	cfg := InlineConfig(name, token)
	cfg.Namespace = ns
	cfg.Status = konnectv1alpha1.KonnectAPIAuthConfigurationStatus{OrganizationID: OrgID, ServerURL: ServerURL}
	meta.SetStatusCondition(&cfg.Status.Conditions, metav1.Condition{Type: konnectv1alpha1.ConditionAPIAuthValid,
		Status: metav1.ConditionTrue, Reason: konnectv1alpha1.ReasonValid, Message: "Token is valid", ObservedGeneration: 1})
	return cfg
}

// TokenSecret is a Secret in Namespace labelled as a Konnect credential, holding data.
func TokenSecret(name string, data map[string][]byte) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: Namespace, ResourceVersion: "1", Labels: map[string]string{
			konnectv1alpha1.SecretCredentialLabel: konnectv1alpha1.SecretCredentialLabelValue,
			"konghq.com/secret":                   "true",
		}},
		Data: data,
	}
}

// ReferenceGrant is a grant in ns with one from and one to entry.
func ReferenceGrant(ns, name string, from configurationv1alpha1.ReferenceGrantFrom, to configurationv1alpha1.ReferenceGrantTo) *configurationv1alpha1.KongReferenceGrant {
	return &configurationv1alpha1.KongReferenceGrant{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, ResourceVersion: "1"},
		Spec: configurationv1alpha1.KongReferenceGrantSpec{
			From: []configurationv1alpha1.ReferenceGrantFrom{from},
			To:   []configurationv1alpha1.ReferenceGrantTo{to},
		},
	}
}

var (
	// FromKong is a grant's from entry for the auth configurations in Namespace.
	FromKong = configurationv1alpha1.ReferenceGrantFrom{Group: "konnect.konghq.com", Kind: "KonnectAPIAuthConfiguration", Namespace: Namespace}
	// ToAllSecrets is a grant's to entry for every Secret.
	ToAllSecrets = configurationv1alpha1.ReferenceGrantTo{Group: "core", Kind: "Secret"}
)

// ToSecret is a grant's to entry for one Secret.
func ToSecret(name string) configurationv1alpha1.ReferenceGrantTo {
	return configurationv1alpha1.ReferenceGrantTo{Group: "core", Kind: "Secret", Name: ptr.To(configurationv1alpha1.ObjectName(name))}
}
