package v1alpha2

// Conditions of KonnectGatewayControlPlanes and KonnectExtensions, and their reasons: README.md,
// "Connect a data plane", and docs/troubleshooting.md.
const (
	// ConditionAPIAuthResolvedRef says whether the KonnectAPIAuthConfiguration the object
	// uses exists and may be used.
	ConditionAPIAuthResolvedRef = "APIAuthResolvedRef"
	// ReasonResolvedRef: the auth configuration exists and may be used (True).
	ReasonResolvedRef = "ResolvedRef"
	// ReasonRefNotFound: no such auth configuration (or control plane, or Secret) (False).
	ReasonRefNotFound = "RefNotFound"
	// ReasonRefNotPermitted: the auth configuration is in another namespace and no
	// KongReferenceGrant there permits it (False).
	ReasonRefNotPermitted = "RefNotPermitted"
	// ReasonRefInvalid: the reference is malformed, e.g. names nothing (False).
	ReasonRefInvalid = "RefInvalid"

	// ConditionAPIAuthValid mirrors the auth configuration's APIAuthValid: whether its
	// token is valid.
	ConditionAPIAuthValid = "APIAuthValid"
	// ReasonValid: the auth configuration's APIAuthValid is True with reason Valid (True).
	ReasonValid = "Valid"
	// ReasonInvalid: it is not (False).
	ReasonInvalid = "Invalid"

	// ConditionProgrammed says whether the control plane exists in Konnect as the spec says.
	ConditionProgrammed = "Programmed"
	// ReasonProgrammed: it does (True).
	ReasonProgrammed = "Programmed"
	// ReasonPending: the controller has not acted yet (Unknown; the CRD's default).
	ReasonPending = "Pending"
	// ReasonFailedToCreate: Konnect refused to create it, e.g. its name is taken (False).
	ReasonFailedToCreate = "FailedToCreate"
	// ReasonFailedToUpdate: Konnect refused the spec change (False).
	ReasonFailedToUpdate = "FailedToUpdate"
	// ReasonKonnectAPIOpFailed: a Konnect call failed and will be retried; a True
	// condition is kept True meanwhile (Unknown, or False for a Mirror whose id Konnect does
	// not know).
	ReasonKonnectAPIOpFailed = "KonnectAPIOpFailed"
	// ReasonConditionWithStatusFalseExists: another condition is False, so nothing was sent
	// to Konnect (False).
	ReasonConditionWithStatusFalseExists = "ConditionWithStatusFalseExists"
	// ReasonFailedToSetControlPlaneGroupMembers: the group exists in Konnect, but its
	// members are not all set as spec.members says; MembersReferenceResolved says why (False).
	ReasonFailedToSetControlPlaneGroupMembers = "FailedToSetControlPlaneGroupMembers"

	// ConditionMembersReferenceResolved says, for a control plane group, whether every
	// KonnectGatewayControlPlane spec.members names is a member of the group in Konnect.
	ConditionMembersReferenceResolved = "MembersReferenceResolved"
	// ReasonResolved: every one is (True).
	ReasonResolved = "Resolved"
	// ReasonSomeMemberNotResolved: a member is missing, not Programmed, being deleted, a group
	// itself, or of another organization or region; the others are set (False).
	ReasonSomeMemberNotResolved = "SomeMemberNotResolved"
	// ReasonSetGroupMemberFailed: Konnect refused the member set (False).
	ReasonSetGroupMemberFailed = "SetGroupMemberFailed"

	// ConditionMirrored says, for a Mirror, whether the control plane was found in Konnect.
	ConditionMirrored = "Mirrored"
	// ReasonMirrored: it was (True).
	ReasonMirrored = "Mirrored"
)

// Conditions of KonnectExtensions only.
const (
	// ConditionReady says whether a data plane can use the extension.
	ConditionReady = "Ready"
	// ReasonReady: every other condition is True (True).
	ReasonReady = "Ready"
	// ReasonProvisioning: the certificate is on its way (False).
	ReasonProvisioning = "Provisioning"

	// ConditionControlPlaneRefValid says whether the control plane exists and is Programmed.
	ConditionControlPlaneRefValid = "ControlPlaneRefValid"
	// ReasonNotProgrammed: the control plane exists but is not Programmed (False).
	ReasonNotProgrammed = "NotProgrammed"

	// ConditionDataPlaneCertificateProvisioned says whether the client certificate is in its
	// Secret and registered with the control plane.
	ConditionDataPlaneCertificateProvisioned = "DataPlaneCertificateProvisioned"
	// ReasonProvisioned: it is (True).
	ReasonProvisioned = "Provisioned"
	// ReasonInvalidSecret: the Manual Secret has no parseable tls.crt (False).
	ReasonInvalidSecret = "InvalidSecret"
)

// Finalizers and labels of Kong's operator, kept so that objects move between the two.
const (
	// KonnectCleanupFinalizer is on every control plane (Origin) and extension the controller
	// has touched Konnect for; it is removed once Konnect no longer holds what the object made.
	KonnectCleanupFinalizer = "gateway.konghq.com/konnect-cleanup"
	// APIAuthInUseFinalizer is on every KonnectAPIAuthConfiguration a control plane names.
	APIAuthInUseFinalizer = "konnect.konghq.com/konnectapiauth-in-use"

	// DataPlaneCertificateAnnotation records, on a KonnectExtension, the certificate registered
	// with Konnect for it: "<control plane id>/<certificate id>/<sha256 of the certificate's
	// DER>". It lives in metadata rather than status because status can be wiped (a restore, a
	// status-less re-apply) and a lost id would leave a certificate pinned in Konnect for good.
	DataPlaneCertificateAnnotation = "konnect.konghq.com/dp-certificate"
	// DataPlaneCertificateAuthAnnotation records, beside DataPlaneCertificateAnnotation, the
	// KonnectAPIAuthConfiguration ("namespace/name") whose token registered the certificate: the
	// credentials its removal needs, also once the control plane object (a Mirror) is gone.
	DataPlaneCertificateAuthAnnotation = "konnect.konghq.com/dp-certificate-auth"

	// SkipCleanupAnnotation, set to "true" on a KonnectGatewayControlPlane or KonnectExtension
	// being deleted, releases it without touching Konnect: the escape hatch for a deletion that
	// nothing can complete (credentials gone for good). What the object made in Konnect is left
	// there; an Event records that it was.
	SkipCleanupAnnotation = "konnect.konghq.com/skip-cleanup"

	// DataPlaneCertificateLabel marks a Secret that holds a data plane's client certificate:
	// the ones the controller generates and the Manual ones it may read.
	DataPlaneCertificateLabel = "konghq.com/konnect-dp-cert"
	// SecretLabel is Kong's marker of Secrets its operator reads.
	SecretLabel = "konghq.com/secret"
)

// Messages of True conditions, word for word as Kong's operator 2.x writes them (its
// controller/konnect/handle_status_conditions.go, ops/conditions.go and
// konnectextension_controller.go), so that objects Kong's operator Programmed are taken over
// without a status write (docs/migrating-from-kong-operator.md). What is worth knowing beyond
// them is in the status fields (id, endpoints, the certificate Secret) and, for a registered
// certificate, in the DataPlaneCertificateAnnotation. The %s of the first two is the auth
// configuration's namespace/name.
const (
	MessageAPIAuthResolvedRef   = "KonnectAPIAuthConfiguration reference %s is resolved"
	MessageAPIAuthValid         = "referenced KonnectAPIAuthConfiguration %s is valid"
	MessageProgrammed           = ""
	MessageMirrored             = ""
	MessageReady                = "KonnectExtension is ready"
	MessageControlPlaneRefValid = "ControlPlaneRef is valid"
	MessageProvisioned          = "DataPlane client certificate provisioned successfully"
)
