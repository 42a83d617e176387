package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// +genclient
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object
// +kubebuilder:object:root=true
// +kubebuilder:storageversion
// +kubebuilder:resource:scope=Namespaced,categories=kong
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// KongReferenceGrant lists the kinds of resources in other namespaces that may reference the
// listed kinds of resources in the grant's own namespace. A cross-namespace reference is
// permitted only when a grant in the namespace of the referenced object allows it; every entry
// of from and of to adds to what is allowed. For this controller: a KonnectAPIAuthConfiguration
// may take its token from a Secret in another namespace when a grant there has a from entry
// {group: konnect.konghq.com, kind: KonnectAPIAuthConfiguration, namespace: <the
// configuration's namespace>} and a to entry {group: core, kind: Secret} (with the Secret's
// name, or no name for every Secret of the namespace).
type KongReferenceGrant struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec says which references into this namespace are trusted.
	// +optional
	Spec KongReferenceGrantSpec `json:"spec,omitempty"`

	// No status: like Kong's, the resource only states a trust relationship.
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object
// +kubebuilder:object:root=true

// KongReferenceGrantList is a list of KongReferenceGrants.
type KongReferenceGrantList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`

	Items []KongReferenceGrant `json:"items"`
}

// KongReferenceGrantSpec is a trusted cross-namespace relationship: anything matching an entry
// of from may reference anything in the grant's namespace matching an entry of to.
type KongReferenceGrantSpec struct {
	// from lists the namespaces and kinds that may reference the resources described in to.
	// The entries are combined with OR: each one is another place references may come from.
	// +required
	// +listType=atomic
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	From []ReferenceGrantFrom `json:"from"`

	// to lists the resources in this namespace that the resources described in from may
	// reference. The entries are combined with OR: each one is another kind of resource that
	// may be referenced.
	// +required
	// +listType=atomic
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	To []ReferenceGrantTo `json:"to"`
}

// ReferenceGrantFrom is a kind of resource, in one namespace, that is trusted to reference.
// +kubebuilder:validation:XValidation:rule="self.group != 'configuration.konghq.com' || self.kind in ['KongConsumer', 'KongConsumerGroup', 'KongRoute', 'KongService', 'KongCertificate', 'KongCACertificate', 'KongDataPlaneClientCertificate', 'KongUpstream', 'KongTarget', 'KongKey', 'KongKeySet', 'KongVault', 'KongPluginBinding', 'KongSNI']",message="for group configuration.konghq.com, kind must be one of KongConsumer, KongConsumerGroup, KongRoute, KongService, KongCertificate, KongCACertificate, KongDataPlaneClientCertificate, KongUpstream, KongTarget, KongKey, KongKeySet, KongVault, KongPluginBinding, KongSNI"
// +kubebuilder:validation:XValidation:rule="self.group != 'gateway-operator.konghq.com' || self.kind in ['GatewayConfiguration']",message="for group gateway-operator.konghq.com, kind must be GatewayConfiguration"
// +kubebuilder:validation:XValidation:rule="self.kind == 'KongVault' ? self.__namespace__ == \"\" : self.__namespace__ != \"\"",message="namespace must be empty for kind KongVault (it is cluster-scoped) and set for every other kind"
type ReferenceGrantFrom struct {
	// group is the API group of the referencing resource, e.g. konnect.konghq.com.
	// +required
	Group Group `json:"group"`

	// kind is the kind of the referencing resource, e.g. KonnectAPIAuthConfiguration.
	// +required
	Kind Kind `json:"kind"`

	// namespace is the namespace of the referencing resources (empty only for the
	// cluster-scoped KongVault).
	// +required
	Namespace Namespace `json:"namespace"`
}

// ReferenceGrantTo is a kind of resource in the grant's namespace, optionally one object of it,
// that may be referenced.
// +kubebuilder:validation:XValidation:rule="self.group != 'core' || self.kind == 'Secret'",message="for group core, kind must be Secret"
// +kubebuilder:validation:XValidation:rule="self.group != 'konnect.konghq.com' || self.kind in ['KonnectGatewayControlPlane', 'KonnectAPIAuthConfiguration', 'Portal', 'KonnectEventGateway', 'EventGatewayBackendCluster', 'EventGatewayListener', 'EventGatewayVirtualCluster', 'KonnectConfigStore', 'KonnectAIGateway', 'AIGatewayConsumerGroup']",message="for group konnect.konghq.com, kind must be one of KonnectGatewayControlPlane, KonnectAPIAuthConfiguration, Portal, KonnectEventGateway, EventGatewayBackendCluster, EventGatewayListener, EventGatewayVirtualCluster, KonnectConfigStore, KonnectAIGateway, AIGatewayConsumerGroup"
// +kubebuilder:validation:XValidation:rule="self.group != 'configuration.konghq.com' || self.kind in ['KongPlugin', 'KongService', 'KongCertificate', 'KongCACertificate', 'KongUpstream']",message="for group configuration.konghq.com, kind must be one of KongPlugin, KongService, KongCertificate, KongCACertificate, KongUpstream"
type ReferenceGrantTo struct {
	// group is the API group of the referenced resource; "core" for Secrets.
	// +required
	Group Group `json:"group"`

	// kind is the kind of the referenced resource, e.g. Secret.
	// +required
	Kind Kind `json:"kind"`

	// name is the name of the one referenced object this entry allows. When it is not set,
	// every object of that group and kind in the grant's namespace may be referenced.
	// +optional
	Name *ObjectName `json:"name,omitempty"`
}

// Group is an API group name: a DNS subdomain, or empty.
// +kubebuilder:validation:MaxLength=253
// +kubebuilder:validation:Pattern=`^$|^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
type Group string

// Kind is the kind of a resource, e.g. Secret.
// +kubebuilder:validation:MinLength=1
// +kubebuilder:validation:MaxLength=63
// +kubebuilder:validation:Pattern=`^[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?$`
type Kind string

// Namespace is a namespace name: a DNS label, or empty.
// +kubebuilder:validation:MaxLength=63
// +kubebuilder:validation:Pattern=`^$|^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
type Namespace string

// ObjectName is the name of an object.
// +kubebuilder:validation:MinLength=1
// +kubebuilder:validation:MaxLength=253
type ObjectName string
