package v1alpha1

// KonnectGatewayControlPlane and KonnectExtension at v1alpha1: the shapes Kong's operator served
// before v1alpha2, listed in our CRDs only so that they apply over Kong's in a cluster whose
// CRDs' status.storedVersions still holds v1alpha1 (the apiserver refuses a CRD that drops a
// stored version). Neither is served, so no client, lister or informer is generated for them
// and nothing registers them in a scheme: v1alpha2 (pkg/apis/konnect/v1alpha2) is the one
// version the controller reads and writes. Why KonnectGatewayControlPlane v1alpha1 is not
// served as Kong serves it: README.md, "How it differs from Kong's operator".

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha2"
)

// +kubebuilder:object:root=true
// +kubebuilder:unservedversion
// +kubebuilder:deprecatedversion:warning="This API version has been deprecated in favor of v1alpha2 and it will be removed in the future."
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Namespaced,categories=kong;konnect
// +kubebuilder:printcolumn:name="Programmed",type=string,JSONPath=`.status.conditions[?(@.type=='Programmed')].status`,description="Whether the control plane exists in Konnect as the spec says"
// +kubebuilder:printcolumn:name="ID",type=string,JSONPath=`.status.id`,description="The control plane's id in Konnect"
// +kubebuilder:printcolumn:name="OrgID",type=string,JSONPath=`.status.organizationID`,description="The Konnect organization the control plane belongs to"

// KonnectGatewayControlPlane at v1alpha1 is Kong's deprecated shape of a Konnect control plane,
// with Konnect's create request flat in the spec. Not served: use v1alpha2.
type KonnectGatewayControlPlane struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec says which control plane to create or mirror, and with which credentials.
	// +optional
	Spec KonnectGatewayControlPlaneSpec `json:"spec,omitempty"`

	// status is what the controller knew of the control plane in Konnect.
	// +optional
	Status KonnectGatewayControlPlaneStatus `json:"status,omitempty"`
}

// KonnectGatewayControlPlaneSpec is v1alpha2's spec with createControlPlaneRequest's fields
// at its top.
type KonnectGatewayControlPlaneSpec struct {
	// name is the control plane's name in Konnect.
	// +optional
	Name *string `json:"name,omitempty"`
	// description is the control plane's description.
	// +optional
	Description *string `json:"description,omitempty"`
	// cluster_type is the kind of control plane.
	// +optional
	ClusterType *v1alpha2.ClusterType `json:"cluster_type,omitempty"`
	// auth_type is how data planes authenticate.
	// +optional
	AuthType *v1alpha2.AuthType `json:"auth_type,omitempty"`
	// cloud_gateway says whether the control plane serves Konnect's dedicated cloud gateways.
	// +optional
	CloudGateway *bool `json:"cloud_gateway,omitempty"`
	// proxy_urls are the addresses of the control plane's data planes.
	// +optional
	ProxyUrls []v1alpha2.ProxyURL `json:"proxy_urls,omitempty"`
	// labels are the control plane's labels in Konnect.
	// +optional
	Labels map[string]v1alpha2.ControlPlaneLabelValue `json:"labels,omitempty"`
	// mirror names the existing Konnect control plane to mirror (source Mirror).
	// +optional
	Mirror *v1alpha2.MirrorSpec `json:"mirror,omitempty"`
	// source is Origin or Mirror.
	// +optional
	Source *v1alpha2.EntitySource `json:"source,omitempty"`
	// members are the KonnectGatewayControlPlanes of a control plane group.
	// +optional
	Members []corev1.LocalObjectReference `json:"members,omitempty"`
	// konnect says which KonnectAPIAuthConfiguration's token manages the control plane.
	// +optional
	KonnectConfiguration v1alpha2.KonnectConfiguration `json:"konnect,omitempty"`
}

// KonnectGatewayControlPlaneStatus is v1alpha2's status without clusterType.
type KonnectGatewayControlPlaneStatus struct {
	v1alpha2.KonnectEntityStatus `json:",inline"`
	// konnectEndpoints are the addresses data planes connect to.
	// +optional
	Endpoints *v1alpha2.KonnectEndpoints `json:"konnectEndpoints,omitempty"`
	// conditions describe the control plane's state.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:unservedversion
// +kubebuilder:deprecatedversion:warning="This API has been deprecated in favor of v1alpha2 konnectextensions.konnect.konghq.com and it will be removed in future version."
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Namespaced,categories=kong;konnect
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=='Ready')].status`,description="Whether a data plane can use the extension to join its control plane"

// KonnectExtension at v1alpha1 is Kong's deprecated shape of an extension, which could also
// name its credentials itself. Not served (as in Kong's CRD): use v1alpha2.
type KonnectExtension struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec names the control plane and says how the client certificate is provisioned.
	// +optional
	Spec KonnectExtensionSpec `json:"spec,omitempty"`

	// status is what the controller knew of the extension.
	// +optional
	Status v1alpha2.KonnectExtensionStatus `json:"status,omitempty"`
}

// KonnectExtensionSpec is v1alpha2's spec, whose konnect may also name the credentials.
type KonnectExtensionSpec struct {
	// konnect names the control plane the data plane joins.
	// +optional
	Konnect KonnectExtensionKonnectSpec `json:"konnect,omitempty"`
	// clientAuth says how the data plane's client certificate is provisioned.
	// +optional
	ClientAuth *v1alpha2.KonnectExtensionClientAuth `json:"clientAuth,omitempty"`
}

// KonnectExtensionKonnectSpec is v1alpha2's, plus the credentials.
type KonnectExtensionKonnectSpec struct {
	// controlPlane is the control plane the data plane joins.
	// +optional
	ControlPlane v1alpha2.KonnectExtensionControlPlane `json:"controlPlane,omitempty"`
	// configuration names the KonnectAPIAuthConfiguration to use.
	// +optional
	Configuration *v1alpha2.KonnectConfiguration `json:"configuration,omitempty"`
	// dataPlane holds what the data plane reports to Konnect.
	// +optional
	DataPlane *v1alpha2.KonnectExtensionDataPlane `json:"dataPlane,omitempty"`
}
