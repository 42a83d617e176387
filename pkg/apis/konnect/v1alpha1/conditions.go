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
	// ReasonRefNotPermitted: spec.secretRef names another namespace (False).
	ReasonRefNotPermitted = "RefNotPermitted"
	// ReasonKonnectUnavailable: Konnect could not be reached, timed out, rate-limited the
	// call or failed with a 5xx (Unknown, or True kept from an earlier verdict).
	ReasonKonnectUnavailable = "KonnectUnavailable"
)

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
