package controlplane

import (
	"maps"
	"slices"

	konnectv1alpha2 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha2"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/konnect"
)

// setFromKonnect copies what Konnect says about a control plane into the status.
func setFromKonnect(status *konnectv1alpha2.KonnectGatewayControlPlaneStatus, cp *konnect.ControlPlane) {
	status.ID = cp.ID
	status.ClusterType = cp.ClusterType
	status.Endpoints = nil
	if cp.ControlPlaneEndpoint != "" || cp.TelemetryEndpoint != "" {
		status.Endpoints = &konnectv1alpha2.KonnectEndpoints{ControlPlaneEndpoint: cp.ControlPlaneEndpoint, TelemetryEndpoint: cp.TelemetryEndpoint}
	}
}

// desiredSpec is the control plane the spec asks for, with the ownership labels.
func desiredSpec(cp *konnectv1alpha2.KonnectGatewayControlPlane) konnect.ControlPlaneSpec {
	req := cp.Spec.CreateControlPlaneRequest
	spec := konnect.ControlPlaneSpec{Name: *req.Name, CloudGateway: req.CloudGateway, Labels: ownershipLabels(cp)}
	if req.Description != nil {
		spec.Description = *req.Description
	}
	if req.ClusterType != nil {
		spec.ClusterType = string(*req.ClusterType)
	}
	if req.AuthType != nil {
		spec.AuthType = string(*req.AuthType)
	}
	for _, u := range req.ProxyUrls {
		spec.ProxyURLs = append(spec.ProxyURLs, konnect.ProxyURL{Host: u.Host, Port: u.Port, Protocol: u.Protocol})
	}
	return spec
}

// matches reports whether Konnect's control plane has what an update would send: name,
// description, auth_type (when the spec sets one; else Konnect's default stands), proxy_urls
// and labels.
//
// An empty description or proxy_urls in the spec matches anything: Konnect's PATCH (the SDK's
// UpdateControlPlaneRequest) omits empty fields, so it cannot clear them, and comparing them
// would send the same PATCH on every sync.
func matches(cur *konnect.ControlPlane, want konnect.ControlPlaneSpec) bool {
	return cur.Name == want.Name &&
		(want.Description == "" || cur.Description == want.Description) &&
		(want.AuthType == "" || cur.AuthType == want.AuthType) &&
		(len(want.ProxyURLs) == 0 || slices.Equal(cur.ProxyURLs, want.ProxyURLs)) &&
		maps.Equal(nonNil(cur.Labels), nonNil(want.Labels))
}

func nonNil(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}
