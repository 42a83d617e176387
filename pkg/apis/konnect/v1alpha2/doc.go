// Package v1alpha2 holds the konnect.konghq.com/v1alpha2 API: KonnectGatewayControlPlane, a
// Kong Konnect control plane created (Origin) or looked up (Mirror) with a
// KonnectAPIAuthConfiguration's token, and KonnectExtension, what a data plane needs to join
// one: its endpoints and a client certificate registered with it. The schemas are those of
// Kong's operator 2.3, so its manifests apply unchanged.
//
// +k8s:deepcopy-gen=package
// +groupName=konnect.konghq.com
package v1alpha2
