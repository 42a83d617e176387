package v1alpha2

// EntitySource says whether the controller owns a Konnect entity or only reads one.
// +kubebuilder:validation:Enum=Origin;Mirror
type EntitySource string

const (
	// EntitySourceOrigin: the controller creates the entity in Konnect, keeps it in line with
	// the spec and deletes it with the object.
	EntitySourceOrigin EntitySource = "Origin"
	// EntitySourceMirror: the entity exists in Konnect already; the controller only reads it.
	EntitySourceMirror EntitySource = "Mirror"
)

// KonnectIDType is the id of a Konnect entity: a lower-case UUID.
// +kubebuilder:validation:Pattern=`^[0-9a-f]{8}(?:\-[0-9a-f]{4}){3}-[0-9a-f]{12}$`
type KonnectIDType string

// KonnectConfiguration says which credentials a Konnect entity is managed with.
type KonnectConfiguration struct {
	// authRef names the KonnectAPIAuthConfiguration whose token and server URL are used.
	// +required
	APIAuthConfigurationRef KonnectAPIAuthConfigurationRef `json:"authRef"`
}

// KonnectAPIAuthConfigurationRef names a KonnectAPIAuthConfiguration.
type KonnectAPIAuthConfigurationRef struct {
	// name is the name of the KonnectAPIAuthConfiguration.
	// +required
	Name string `json:"name"`

	// namespace is the namespace of the KonnectAPIAuthConfiguration; it defaults to this
	// object's namespace. One in another namespace is used only when a KongReferenceGrant there
	// permits it: from {group: konnect.konghq.com, kind: <this kind>, namespace: <this
	// namespace>} to {group: konnect.konghq.com, kind: KonnectAPIAuthConfiguration}.
	// +optional
	Namespace *string `json:"namespace,omitempty"`
}

// KonnectEntityStatus is what the controller knows of the Konnect entity behind an object.
type KonnectEntityStatus struct {
	// id is the entity's id in Konnect; empty until it has been created or found.
	// +optional
	ID string `json:"id,omitempty"`

	// serverURL is the Konnect API the entity lives in (the auth configuration's, normalised).
	// +optional
	ServerURL string `json:"serverURL,omitempty"`

	// organizationID is the Konnect organization the entity belongs to.
	// +optional
	OrgID string `json:"organizationID,omitempty"`
}

// KonnectEndpoints are the addresses a data plane connects to.
type KonnectEndpoints struct {
	// telemetry is the control plane's telemetry endpoint (https://<id>.tp0.konghq.com).
	// +required
	TelemetryEndpoint string `json:"telemetry"`

	// controlPlane is the control plane's endpoint (https://<id>.cp.konghq.com).
	// +required
	ControlPlaneEndpoint string `json:"controlPlane"`
}

// NamespacedRef names an object, in this object's namespace unless namespace says otherwise.
type NamespacedRef struct {
	// name is the object's name.
	// +required
	Name string `json:"name"`

	// namespace is the object's namespace.
	// +optional
	Namespace *string `json:"namespace,omitempty"`
}
