package v1alpha2

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// +genclient
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object
// +kubebuilder:object:root=true
// +kubebuilder:storageversion
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Namespaced,categories=kong;konnect
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=='Ready')].status`,description="Whether a data plane can use the extension to join its control plane"
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="oldSelf.spec.konnect.controlPlane.ref == self.spec.konnect.controlPlane.ref",message="spec.konnect.controlPlane.ref cannot be changed: create another KonnectExtension for another control plane"

// KonnectExtension is what a data plane needs to join a Konnect control plane: the control
// plane's endpoints and a client certificate registered with it, in a Secret. The controller
// generates the certificate (provisioning Automatic) or takes it from a Secret you name (Manual).
type KonnectExtension struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec names the control plane and says how the client certificate is provisioned.
	// +required
	Spec KonnectExtensionSpec `json:"spec"`

	// status is written by the controller.
	// +optional
	// +kubebuilder:default={conditions: {{type: "Ready", status: "Unknown", reason: "Pending", message: "Waiting for controller", lastTransitionTime: "1970-01-01T00:00:00Z"}}}
	Status KonnectExtensionStatus `json:"status,omitempty"`
}

// KonnectExtensionSpec names the control plane and the client certificate.
type KonnectExtensionSpec struct {
	// konnect names the control plane the data plane joins.
	// +required
	Konnect KonnectExtensionKonnectSpec `json:"konnect"`

	// clientAuth says how the data plane's client certificate is provisioned.
	// +optional
	// +kubebuilder:default={certificateSecret: {provisioning: Automatic}}
	ClientAuth *KonnectExtensionClientAuth `json:"clientAuth,omitempty"`
}

// KonnectExtensionKonnectSpec names the control plane and the data plane's labels.
type KonnectExtensionKonnectSpec struct {
	// controlPlane is the control plane the data plane joins.
	// +required
	ControlPlane KonnectExtensionControlPlane `json:"controlPlane"`

	// dataPlane holds what the data plane reports to Konnect.
	// +optional
	DataPlane *KonnectExtensionDataPlane `json:"dataPlane,omitempty"`
}

// KonnectExtensionControlPlane refers to a control plane.
type KonnectExtensionControlPlane struct {
	// ref names the control plane. It cannot be changed.
	// +required
	Ref ControlPlaneRef `json:"ref"`
}

// ControlPlaneRefType says how a control plane is referenced.
// +kubebuilder:validation:Enum=konnectNamespacedRef
type ControlPlaneRefType string

// ControlPlaneRefKonnectNamespacedRef refers to a KonnectGatewayControlPlane in the cluster.
const ControlPlaneRefKonnectNamespacedRef ControlPlaneRefType = "konnectNamespacedRef"

// ControlPlaneRef refers to a control plane.
//
// +kubebuilder:validation:XValidation:rule="self.type != 'konnectNamespacedRef' || has(self.konnectNamespacedRef)",message="spec.konnect.controlPlane.ref.konnectNamespacedRef.name must be set when type is konnectNamespacedRef: it names the KonnectGatewayControlPlane"
type ControlPlaneRef struct {
	// type is konnectNamespacedRef (the default): a KonnectGatewayControlPlane in the
	// extension's namespace.
	// +optional
	// +kubebuilder:default=konnectNamespacedRef
	Type ControlPlaneRefType `json:"type,omitempty"`

	// konnectNamespacedRef names the KonnectGatewayControlPlane.
	// +optional
	KonnectNamespacedRef *KonnectNamespacedRef `json:"konnectNamespacedRef,omitempty"`
}

// KonnectNamespacedRef names a KonnectGatewayControlPlane.
type KonnectNamespacedRef struct {
	// name is the KonnectGatewayControlPlane's name.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
}

// DataPlaneLabelValue is the value of a data plane's label.
// +kubebuilder:validation:MinLength=1
// +kubebuilder:validation:MaxLength=63
// +kubebuilder:validation:Pattern=`^[a-zA-Z0-9]([a-zA-Z0-9._-]*[a-zA-Z0-9])?$`
type DataPlaneLabelValue string

// KonnectExtensionDataPlane holds what the data plane reports to Konnect.
type KonnectExtensionDataPlane struct {
	// labels are set on the data plane in Konnect: keys of 1-63 letters, digits, '.', '_'
	// and '-', beginning and ending with a letter or digit, not beginning with kong, konnect,
	// insomnia, mesh, kic or _.
	// +optional
	// +kubebuilder:validation:MaxProperties=40
	// +kubebuilder:validation:XValidation:rule="self.all(key, size(key) >= 1 && size(key) <= 63)",message="spec.konnect.dataPlane.labels keys must be 1-63 characters long"
	// +kubebuilder:validation:XValidation:rule="self.all(key, key.matches('^[a-zA-Z0-9]([a-zA-Z0-9._-]*[a-zA-Z0-9])?$'))",message="spec.konnect.dataPlane.labels keys may hold only letters, digits, '.', '_' and '-', and must begin and end with a letter or digit"
	// +kubebuilder:validation:XValidation:rule="self.all(key, !key.startsWith('kong') && !key.startsWith('konnect') && !key.startsWith('insomnia') && !key.startsWith('mesh') && !key.startsWith('kic') && !key.startsWith('_'))",message="spec.konnect.dataPlane.labels keys must not begin with kong, konnect, insomnia, mesh, kic or _: Konnect reserves them"
	Labels map[string]DataPlaneLabelValue `json:"labels,omitempty"`
}

// ProvisioningMethod says who provides the client certificate.
// +kubebuilder:validation:Enum=Manual;Automatic
type ProvisioningMethod string

const (
	// ProvisioningManual: you provide the certificate, in the Secret certificateSecret.secretRef names.
	ProvisioningManual ProvisioningMethod = "Manual"
	// ProvisioningAutomatic: the controller generates the certificate and keeps it renewed.
	ProvisioningAutomatic ProvisioningMethod = "Automatic"
)

// KonnectExtensionClientAuth says how the data plane authenticates to the control plane.
//
// +kubebuilder:validation:XValidation:rule="self.certificateSecret.provisioning != 'Manual' || has(self.certificateSecret.secretRef)",message="spec.clientAuth.certificateSecret.secretRef must be set when provisioning is Manual: it names the kubernetes.io/tls Secret that holds your certificate"
// +kubebuilder:validation:XValidation:rule="self.certificateSecret.provisioning != 'Automatic' || !has(self.certificateSecret.secretRef)",message="spec.clientAuth.certificateSecret.secretRef cannot be set when provisioning is Automatic: the controller generates the Secret; set provisioning to Manual to use your own"
type KonnectExtensionClientAuth struct {
	// certificateSecret says where the client certificate comes from.
	// +required
	CertificateSecret CertificateSecret `json:"certificateSecret"`
}

// CertificateSecret says where the client certificate comes from.
type CertificateSecret struct {
	// provisioning is Automatic (the default: the controller generates the certificate) or
	// Manual (you provide it in the Secret secretRef names).
	// +optional
	// +kubebuilder:default=Automatic
	Provisioning *ProvisioningMethod `json:"provisioning,omitempty"`

	// secretRef names the Secret, in the extension's namespace, that holds your certificate
	// (Manual only): a kubernetes.io/tls Secret labelled konghq.com/konnect-dp-cert=true.
	// +optional
	CertificateSecretRef *SecretRef `json:"secretRef,omitempty"`
}

// SecretRef names a Secret in the object's namespace.
type SecretRef struct {
	// name is the Secret's name.
	// +required
	Name string `json:"name"`
}

// ExtensionClusterType is the kind of control plane an extension joins.
// +kubebuilder:validation:Enum=ControlPlane;K8SIngressController;ControlPlaneGroup
type ExtensionClusterType string

const (
	// ExtensionClusterTypeControlPlane is CLUSTER_TYPE_CONTROL_PLANE.
	ExtensionClusterTypeControlPlane ExtensionClusterType = "ControlPlane"
	// ExtensionClusterTypeK8sIngressController is CLUSTER_TYPE_K8S_INGRESS_CONTROLLER.
	ExtensionClusterTypeK8sIngressController ExtensionClusterType = "K8SIngressController"
	// ExtensionClusterTypeControlPlaneGroup is CLUSTER_TYPE_CONTROL_PLANE_GROUP.
	ExtensionClusterTypeControlPlaneGroup ExtensionClusterType = "ControlPlaneGroup"
)

// KonnectExtensionStatus is what a data plane's configuration needs, as the controller found it.
type KonnectExtensionStatus struct {
	// dataPlaneRefs are the data planes that use this extension (set by the data plane's
	// controller; kept as written).
	// +optional
	// +kubebuilder:validation:MaxItems=16
	DataPlaneRefs []NamespacedRef `json:"dataPlaneRefs,omitempty"`

	// controlPlaneRefs are the ingress controllers that use this extension (set by their
	// controller; kept as written).
	// +optional
	// +kubebuilder:validation:MaxItems=16
	ControlPlaneRefs []NamespacedRef `json:"controlPlaneRefs,omitempty"`

	// dataPlaneClientAuth names the Secret that holds the data plane's client certificate.
	// +optional
	DataPlaneClientAuth *DataPlaneClientAuthStatus `json:"dataPlaneClientAuth,omitempty"`

	// konnect is the control plane the data plane joins: its id, kind, endpoints and the
	// auth configuration it is managed with.
	// +optional
	Konnect *KonnectExtensionControlPlaneStatus `json:"konnect,omitempty"`

	// conditions describe the extension's state: Ready, ControlPlaneRefValid,
	// APIAuthResolvedRef, APIAuthValid and DataPlaneCertificateProvisioned.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// KonnectExtensionControlPlaneStatus is the control plane an extension joins.
type KonnectExtensionControlPlaneStatus struct {
	// controlPlaneID is the control plane's id in Konnect.
	// +required
	ControlPlaneID string `json:"controlPlaneID"`

	// clusterType is the control plane's kind.
	// +required
	ClusterType ExtensionClusterType `json:"clusterType"`

	// endpoints are the addresses the data plane connects to.
	// +required
	Endpoints KonnectEndpoints `json:"endpoints"`

	// authRef is the KonnectAPIAuthConfiguration the control plane is managed with.
	// +optional
	AuthRef *NamespacedRef `json:"authRef,omitempty"`
}

// DataPlaneClientAuthStatus names the Secret of the data plane's client certificate.
type DataPlaneClientAuthStatus struct {
	// certificateSecretRef names the kubernetes.io/tls Secret (keys tls.crt, tls.key, ca.crt).
	// +optional
	CertificateSecretRef *SecretRef `json:"certificateSecretRef,omitempty"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object
// +kubebuilder:object:root=true

// KonnectExtensionList is a list of KonnectExtensions.
type KonnectExtensionList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`

	// items are the extensions.
	Items []KonnectExtension `json:"items"`
}
