package v1alpha1

// The condition the controller sets, and its reasons: README.md, "Status and reasons", and
// docs/troubleshooting.md, one section per reason.
const (
	// ConditionAPIAuthValid says whether Konnect accepts the configuration's token.
	ConditionAPIAuthValid = "APIAuthValid"

	// ReasonValid: Konnect accepted the token (True).
	ReasonValid = "Valid"
	// ReasonInvalid: Konnect answered 401 (False).
	ReasonInvalid = "Invalid"
	// ReasonForbidden: Konnect answered 403 (False).
	ReasonForbidden = "Forbidden"
	// ReasonInvalidResponse: Konnect answered 200 without an organization id, or a body that
	// could not be decoded (False).
	ReasonInvalidResponse = "InvalidResponse"
	// ReasonInvalidToken: the token is empty or does not start with kpat_ or spat_ (False).
	ReasonInvalidToken = "InvalidToken"
	// ReasonSecretNotFound: no Secret with that name carries the credential label (False).
	ReasonSecretNotFound = "SecretNotFound"
	// ReasonInvalidSecret: the Secret has no "token" key, or it is empty (False).
	ReasonInvalidSecret = "InvalidSecret"
	// ReasonRefNotPermitted: spec.secretRef names a Secret in another namespace and no
	// KongReferenceGrant there permits it (False, on APIAuthValid and on ResolvedRefs).
	ReasonRefNotPermitted = "RefNotPermitted"
	// ReasonKonnectUnavailable: Konnect could not be reached, timed out, rate-limited the
	// call or failed with a 5xx (Unknown, or True kept from an earlier verdict).
	ReasonKonnectUnavailable = "KonnectUnavailable"
)

// The condition set on configurations whose spec.secretRef names a Secret in another namespace
// (and only on those, as Kong's operator does).
const (
	// ConditionResolvedRefs says whether a KongReferenceGrant permits the cross-namespace
	// reference: True with ReasonResolvedRefs, or False with ReasonRefNotPermitted.
	ConditionResolvedRefs = "ResolvedRefs"
	// ReasonResolvedRefs: a KongReferenceGrant in the Secret's namespace permits the reference.
	ReasonResolvedRefs = "ResolvedRefs"
)

// SecretInUseFinalizer is on every token Secret that at least one configuration references
// (in its own namespace, or in another one with a KongReferenceGrant), so that the Secret is not
// deleted from under its users; the controller removes it when the last one lets go. It is
// the finalizer Kong's operator uses.
const SecretInUseFinalizer = "gateway.konghq.com/secret-in-use-by-konnect-resource"

// Labels and keys that a token Secret carries.
const (
	// SecretCredentialLabel must be set to SecretCredentialLabelValue on every Secret that a
	// configuration references; the controller watches no other Secrets.
	SecretCredentialLabel = "konghq.com/credential"
	// SecretCredentialLabelValue is the value of SecretCredentialLabel for Konnect tokens.
	SecretCredentialLabelValue = "konnect"
	// SecretTokenKey is the key of a Secret's data that holds the token.
	SecretTokenKey = "token"
)
