package v1alpha2

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// +genclient
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object
// +kubebuilder:object:root=true
// +kubebuilder:storageversion
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Namespaced,categories=kong;konnect
// +kubebuilder:printcolumn:name="Programmed",type=string,JSONPath=`.status.conditions[?(@.type=='Programmed')].status`,description="Whether the control plane exists in Konnect as the spec says"
// +kubebuilder:printcolumn:name="ID",type=string,JSONPath=`.status.id`,description="The control plane's id in Konnect"
// +kubebuilder:printcolumn:name="OrgID",type=string,JSONPath=`.status.organizationID`,description="The Konnect organization the control plane belongs to"
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.status) || !has(oldSelf.status.conditions) || !oldSelf.status.conditions.exists(c, c.type == 'Programmed' && c.status == 'True') || (has(self.spec.konnect) == has(oldSelf.spec.konnect) && (!has(self.spec.konnect) || self.spec.konnect.authRef == oldSelf.spec.konnect.authRef))",message="spec.konnect.authRef cannot be changed once the control plane is Programmed in Konnect: delete and re-create the object to move it to other credentials"
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.status) || !has(oldSelf.status.conditions) || !oldSelf.status.conditions.exists(c, c.type == 'APIAuthValid' && c.status == 'True') || (has(self.spec.konnect) == has(oldSelf.spec.konnect) && (!has(self.spec.konnect) || self.spec.konnect.authRef == oldSelf.spec.konnect.authRef))",message="spec.konnect.authRef cannot be changed while it names a valid KonnectAPIAuthConfiguration: delete and re-create the object to use other credentials"

// KonnectGatewayControlPlane is a Kong Konnect gateway control plane: created and kept in line
// with the spec (source Origin) or looked up by id (source Mirror), with the token of a
// KonnectAPIAuthConfiguration. Its status gives the id and the endpoints data planes connect to.
type KonnectGatewayControlPlane struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec says which control plane to create or mirror, and with which credentials.
	// +required
	Spec KonnectGatewayControlPlaneSpec `json:"spec"`

	// status is written by the controller.
	// +optional
	// +kubebuilder:default={conditions: {{type: "Programmed", status: "Unknown", reason: "Pending", message: "Waiting for controller", lastTransitionTime: "1970-01-01T00:00:00Z"}}}
	Status KonnectGatewayControlPlaneStatus `json:"status,omitempty"`
}

// KonnectGatewayControlPlaneSpec says which control plane to create or mirror.
//
// +kubebuilder:validation:XValidation:rule="self.source == oldSelf.source",message="spec.source cannot be changed: delete and re-create the object to switch between Origin and Mirror"
// +kubebuilder:validation:XValidation:rule="self.source != 'Mirror' || !has(self.createControlPlaneRequest)",message="spec.createControlPlaneRequest cannot be set when spec.source is Mirror: a mirrored control plane is only read from Konnect"
// +kubebuilder:validation:XValidation:rule="self.source != 'Mirror' || has(self.mirror)",message="spec.mirror.konnect.id must be set when spec.source is Mirror: it names the control plane to mirror"
// +kubebuilder:validation:XValidation:rule="self.source != 'Origin' || !has(self.mirror)",message="spec.mirror can only be set when spec.source is Mirror"
// +kubebuilder:validation:XValidation:rule="self.source != 'Origin' || has(self.createControlPlaneRequest)",message="spec.createControlPlaneRequest.name must be set when spec.source is Origin (the default): it names the control plane to create in Konnect"
// +kubebuilder:validation:XValidation:rule="!has(self.members) || (has(self.createControlPlaneRequest) && has(self.createControlPlaneRequest.cluster_type) && self.createControlPlaneRequest.cluster_type == 'CLUSTER_TYPE_CONTROL_PLANE_GROUP')",message="spec.members can only be set for a control plane group: set spec.createControlPlaneRequest.cluster_type to CLUSTER_TYPE_CONTROL_PLANE_GROUP"
type KonnectGatewayControlPlaneSpec struct {
	// createControlPlaneRequest is the control plane to create in Konnect (source Origin), as
	// Konnect's API takes it.
	// +optional
	CreateControlPlaneRequest *CreateControlPlaneRequest `json:"createControlPlaneRequest,omitempty"`

	// mirror names the existing Konnect control plane to mirror (source Mirror).
	// +optional
	Mirror *MirrorSpec `json:"mirror,omitempty"`

	// source is Origin (the default: the controller creates, updates and deletes the control
	// plane in Konnect) or Mirror (the control plane exists in Konnect; it is only read).
	// +optional
	// +kubebuilder:default=Origin
	Source *EntitySource `json:"source,omitempty"`

	// members are the KonnectGatewayControlPlanes, in this namespace, that are the members of
	// a control plane group (cluster_type CLUSTER_TYPE_CONTROL_PLANE_GROUP): those Programmed
	// in the group's organization and region are set as the group's members in Konnect, and
	// the condition MembersReferenceResolved says whether all are.
	// +optional
	Members []corev1.LocalObjectReference `json:"members,omitempty"`

	// konnect says which KonnectAPIAuthConfiguration's token manages the control plane.
	// +optional
	KonnectConfiguration KonnectConfiguration `json:"konnect,omitempty"`
}

// ClusterType is a control plane's kind, as Konnect's API names it.
// +kubebuilder:validation:Enum=CLUSTER_TYPE_CONTROL_PLANE;CLUSTER_TYPE_K8S_INGRESS_CONTROLLER;CLUSTER_TYPE_CONTROL_PLANE_GROUP
type ClusterType string

// AuthType is how a control plane's data planes authenticate.
// +kubebuilder:validation:Enum=pinned_client_certs;pki_client_certs
type AuthType string

// ControlPlaneLabelValue is the value of a Konnect label.
// +kubebuilder:validation:MinLength=1
// +kubebuilder:validation:MaxLength=63
type ControlPlaneLabelValue string

// CreateControlPlaneRequest is the body of Konnect's POST /v2/control-planes.
//
// +kubebuilder:validation:XValidation:rule="has(self.cluster_type) == has(oldSelf.cluster_type) && (!has(self.cluster_type) || self.cluster_type == oldSelf.cluster_type)",message="spec.createControlPlaneRequest.cluster_type cannot be changed: Konnect does not change a control plane's type after creation"
// +kubebuilder:validation:XValidation:rule="has(self.cloud_gateway) == has(oldSelf.cloud_gateway) && (!has(self.cloud_gateway) || self.cloud_gateway == oldSelf.cloud_gateway)",message="spec.createControlPlaneRequest.cloud_gateway cannot be changed: it is sent when the control plane is created, and Konnect's update does not change it; delete and re-create the object to change it"
// +kubebuilder:validation:XValidation:rule="!has(self.cluster_type) || self.cluster_type != 'CLUSTER_TYPE_K8S_INGRESS_CONTROLLER' || !has(self.cloud_gateway)",message="spec.createControlPlaneRequest.cloud_gateway cannot be set when cluster_type is CLUSTER_TYPE_K8S_INGRESS_CONTROLLER"
type CreateControlPlaneRequest struct {
	// name is the control plane's name in Konnect, unique in the organization.
	// +required
	// +kubebuilder:validation:MinLength=1
	Name *string `json:"name"`

	// description is the control plane's description.
	// +optional
	Description *string `json:"description,omitempty"`

	// cluster_type is the kind of control plane: CLUSTER_TYPE_CONTROL_PLANE (Konnect's
	// default), CLUSTER_TYPE_K8S_INGRESS_CONTROLLER or CLUSTER_TYPE_CONTROL_PLANE_GROUP. It
	// cannot be changed.
	// +optional
	ClusterType *ClusterType `json:"cluster_type,omitempty"`

	// auth_type is how data planes authenticate: pinned_client_certs (Konnect's default) or
	// pki_client_certs.
	// +optional
	AuthType *AuthType `json:"auth_type,omitempty"`

	// cloud_gateway says whether the control plane serves Konnect's dedicated cloud gateways.
	// +optional
	CloudGateway *bool `json:"cloud_gateway,omitempty"`

	// proxy_urls are the addresses of the control plane's data planes, for Konnect's UI.
	// +optional
	ProxyUrls []ProxyURL `json:"proxy_urls,omitempty"`

	// labels are the control plane's labels in Konnect: at most 40; keys of 1-63 characters
	// made of letters, digits, '-', '_' and '.', beginning and ending with a letter or digit, and
	// not beginning with k8s, kong, konnect, mesh, kic, insomnia or _ (the controller adds its
	// own k8s-* labels); values of 1-63 characters.
	// +optional
	// +kubebuilder:validation:MaxProperties=40
	// +kubebuilder:validation:XValidation:rule="self.all(key, size(key) >= 1 && size(key) <= 63)",message="spec.createControlPlaneRequest.labels keys must be 1-63 characters long"
	// +kubebuilder:validation:XValidation:rule="self.all(key, key.matches('^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$'))",message="spec.createControlPlaneRequest.labels keys may hold only letters, digits, '-', '_' and '.', and must begin and end with a letter or digit"
	// +kubebuilder:validation:XValidation:rule="self.all(key, !key.startsWith('k8s') && !key.startsWith('kong') && !key.startsWith('konnect') && !key.startsWith('mesh') && !key.startsWith('kic') && !key.startsWith('insomnia') && !key.startsWith('_'))",message="spec.createControlPlaneRequest.labels keys must not begin with k8s, kong, konnect, mesh, kic, insomnia or _: Konnect and the controller reserve them"
	Labels map[string]ControlPlaneLabelValue `json:"labels,omitempty"`
}

// ProxyURL is an address of a control plane's data planes.
type ProxyURL struct {
	// host is the host name or IP address.
	// +required
	// +kubebuilder:validation:MinLength=1
	Host string `json:"host"`

	// port is the port.
	// +required
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	Port int64 `json:"port"`

	// protocol is the protocol, e.g. https.
	// +required
	// +kubebuilder:validation:MinLength=1
	Protocol string `json:"protocol"`
}

// MirrorSpec names the Konnect control plane a Mirror reads.
type MirrorSpec struct {
	// konnect holds the control plane's id in Konnect.
	// +required
	Konnect MirrorKonnect `json:"konnect"`
}

// MirrorKonnect holds the id of a mirrored control plane.
type MirrorKonnect struct {
	// id is the control plane's id in Konnect (a UUID).
	// +required
	ID KonnectIDType `json:"id"`
}

// KonnectGatewayControlPlaneStatus is what the controller knows of the control plane in Konnect.
type KonnectGatewayControlPlaneStatus struct {
	KonnectEntityStatus `json:",inline"`

	// clusterType is the control plane's cluster_type as Konnect reports it.
	// +optional
	ClusterType string `json:"clusterType,omitempty"`

	// konnectEndpoints are the addresses data planes connect to; set once the control plane
	// is Programmed.
	// +optional
	Endpoints *KonnectEndpoints `json:"konnectEndpoints,omitempty"`

	// conditions describe the control plane's state: APIAuthResolvedRef, APIAuthValid,
	// Programmed, Mirrored for a Mirror, and MembersReferenceResolved for a control plane
	// group.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object
// +kubebuilder:object:root=true

// KonnectGatewayControlPlaneList is a list of KonnectGatewayControlPlanes.
type KonnectGatewayControlPlaneList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`

	// items are the control planes.
	Items []KonnectGatewayControlPlane `json:"items"`
}
