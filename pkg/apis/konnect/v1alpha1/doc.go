// Package v1alpha1 holds the konnect.konghq.com/v1alpha1 API: KonnectAPIAuthConfiguration,
// the resource that gives a cluster a Kong Konnect API token and reports whether Konnect accepts it.
//
// +k8s:deepcopy-gen=package
// +groupName=konnect.konghq.com
package v1alpha1
