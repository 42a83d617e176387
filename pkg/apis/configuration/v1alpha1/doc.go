// Package v1alpha1 holds the configuration.konghq.com/v1alpha1 API that this controller serves:
// KongReferenceGrant, a drop-in for the resource of the same name in Kong's operator, which lets
// resources in one namespace reference resources in the grant's namespace.
//
// +k8s:deepcopy-gen=package
// +groupName=configuration.konghq.com
package v1alpha1
