package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// KonnectAPIAuthType says where a KonnectAPIAuthConfiguration finds its token.
// +kubebuilder:validation:Enum=token;secretRef
type KonnectAPIAuthType string

const (
	// KonnectAPIAuthTypeToken means the token is inline, in spec.token.
	KonnectAPIAuthTypeToken KonnectAPIAuthType = "token"
	// KonnectAPIAuthTypeSecretRef means the token is the "token" key of the Secret named by spec.secretRef.
	KonnectAPIAuthTypeSecretRef KonnectAPIAuthType = "secretRef"
)

// +genclient
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Namespaced,categories=kong;konnect
// +kubebuilder:printcolumn:name="Valid",type=string,JSONPath=`.status.conditions[?(@.type=='APIAuthValid')].status`,description="Whether Konnect accepts the token (the APIAuthValid condition)"
// +kubebuilder:printcolumn:name="OrgID",type=string,JSONPath=`.status.organizationID`,description="The Konnect organization the token belongs to"
// +kubebuilder:printcolumn:name="ServerURL",type=string,JSONPath=`.status.serverURL`,description="The normalised Konnect server URL"
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// KonnectAPIAuthConfiguration gives the cluster a Kong Konnect API token, inline or from a
// Secret, and the Konnect server URL of its region. The controller checks the token against
// Konnect and reports the verdict in the APIAuthValid condition.
type KonnectAPIAuthConfiguration struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec says which token to check and against which Konnect server.
	// +required
	Spec KonnectAPIAuthConfigurationSpec `json:"spec"`

	// status is written by the controller: whether the token is valid, the organization it
	// belongs to and the normalised server URL.
	// +optional
	Status KonnectAPIAuthConfigurationStatus `json:"status,omitempty"`
}

// Cross-field admission rules of the spec. The token's own rules sit here rather than on the
// token field so that a refused token is not echoed back: the apiserver quotes a field's
// value in its error, but not an object's.
// +kubebuilder:validation:XValidation:rule="self.type != 'token' || has(self.token)",message="spec.token is required when type is token"
// +kubebuilder:validation:XValidation:rule="self.type != 'secretRef' || has(self.secretRef)",message="spec.secretRef is required when type is secretRef"
// +kubebuilder:validation:XValidation:rule="!(has(self.token) && has(self.secretRef))",message="spec.token and spec.secretRef cannot both be set: set only the one that type names"
// +kubebuilder:validation:XValidation:rule="!has(self.token) || self.token.startsWith('kpat_') || self.token.startsWith('spat_')",message="spec.token must be a Konnect token: it must start with kpat_ (personal access token) or spat_ (system account token)",fieldPath=".token"
// +kubebuilder:validation:XValidation:rule="!has(self.token) || !self.token.matches('\\\\s')",message="spec.token must not contain white space",fieldPath=".token"
// +kubebuilder:validation:XValidation:rule="oldSelf.type != 'token' || self.type != 'token' || has(self.token)",message="spec.token cannot be removed while type is token: to take the token from a Secret, change type to secretRef and set spec.secretRef"

// KonnectAPIAuthConfigurationSpec says where the Konnect token is and which server it is for.
type KonnectAPIAuthConfigurationSpec struct {
	// type says where the token is: "token" for an inline token in spec.token, or "secretRef"
	// for the "token" key of the Secret named by spec.secretRef.
	// +required
	Type KonnectAPIAuthType `json:"type"`

	// token is a Konnect personal access token (starting with kpat_) or system account access
	// token (starting with spat_), given inline. Anyone who can read this resource can read
	// the token: prefer type secretRef where that matters.
	// +kubebuilder:validation:MaxLength=1024
	// +optional
	Token string `json:"token,omitempty"`

	// secretRef names the Secret whose "token" key holds the Konnect token. The Secret must
	// carry the label konghq.com/credential=konnect. It is in this resource's namespace unless
	// secretRef.namespace names another one, where a KongReferenceGrant must permit the reference.
	// +optional
	SecretRef *SecretReference `json:"secretRef,omitempty"`

	// serverURL is the Konnect API of your region, as a host name (us.api.konghq.com) or an
	// https URL (https://eu.api.konghq.com), optionally with a port. The first label of the host
	// is the region: "global" or two lower-case letters (us, eu, au, me, in, ...). http:// is
	// refused. It cannot be changed after creation.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=268
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="spec.serverURL is immutable: delete and re-create the resource to use another server"
	// +kubebuilder:validation:XValidation:rule="!self.startsWith('http://')",message="spec.serverURL must not use http://: the token is only ever sent over https"
	// +kubebuilder:validation:XValidation:rule="self.startsWith('http://') || !self.contains('://') || self.startsWith('https://')",message="spec.serverURL must be a host name such as us.api.konghq.com or an https:// URL"
	// +kubebuilder:validation:XValidation:rule="(self.contains('://') && !self.startsWith('https://')) || self.matches('^(https://)?[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\\\\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)+(:([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?/?$')",message="spec.serverURL must be a lower-case RFC 1123 host name (letters, digits, '-' and '.'), optionally prefixed with https:// and followed by a :port (1-65535), with no path"
	// +kubebuilder:validation:XValidation:rule="(self.contains('://') && !self.startsWith('https://')) || self.matches('^(https://)?(global|[a-z]{2})\\\\.')",message="spec.serverURL must start with the region: the host's first label must be global or two lower-case letters, as in us.api.konghq.com (not api.us.konghq.com)"
	ServerURL string `json:"serverURL"`
}

// SecretReference names a Secret that holds a Konnect token under the key "token".
type SecretReference struct {
	// name is the name of the Secret.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')",message="spec.secretRef.name must be a valid Secret name: lower-case letters, digits, '-' and '.', starting and ending with a letter or digit"
	Name string `json:"name"`

	// namespace is the namespace of the Secret; it defaults to the namespace of this resource.
	// A Secret in another namespace is read only when a KongReferenceGrant in that namespace
	// permits it: from {group: konnect.konghq.com, kind: KonnectAPIAuthConfiguration, namespace:
	// <this resource's namespace>} to {group: core, kind: Secret, name: <the Secret, or unset>}.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",message="spec.secretRef.namespace must be a valid namespace name: lower-case letters, digits and '-', starting and ending with a letter or digit"
	Namespace string `json:"namespace,omitempty"`
}

// KonnectAPIAuthConfigurationStatus is what the controller observed about the token.
type KonnectAPIAuthConfigurationStatus struct {
	// organizationID is the id of the Konnect organization the token belongs to. It is empty
	// whenever the APIAuthValid condition is not True.
	// +optional
	OrganizationID string `json:"organizationID,omitempty"`

	// serverURL is spec.serverURL normalised to https://host[:port].
	// +optional
	ServerURL string `json:"serverURL,omitempty"`

	// conditions describe the configuration's state. APIAuthValid is True when Konnect
	// accepted the token, False when it refused it or the token could not be read, and Unknown
	// when Konnect could not be reached and no earlier verdict exists.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object
// +kubebuilder:object:root=true

// KonnectAPIAuthConfigurationList is a list of KonnectAPIAuthConfigurations.
type KonnectAPIAuthConfigurationList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`

	// items are the configurations.
	Items []KonnectAPIAuthConfiguration `json:"items"`
}
