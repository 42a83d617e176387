package controlplane

import (
	"maps"
	"strconv"
	"strings"

	konnectv1alpha2 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha2"
)

// The labels every Origin control plane carries in Konnect, as Kong's operator sets them:
// k8s-uid lets a lost create be adopted, the others tell a person in Konnect's UI where the
// control plane is managed from.
const (
	labelUID        = "k8s-uid"
	labelName       = "k8s-name"
	labelNamespace  = "k8s-namespace"
	labelKind       = "k8s-kind"
	labelGroup      = "k8s-group"
	labelVersion    = "k8s-version"
	labelGeneration = "k8s-generation"
	labelManagedBy  = "managed-by"

	managedByValue = "konnect-auth-controller"

	// maxLabelValue is Konnect's limit on a label value.
	maxLabelValue = 63
)

// ownershipLabels returns the user's labels plus the ownership labels, every value cut to
// Konnect's length and character set.
func ownershipLabels(cp *konnectv1alpha2.KonnectGatewayControlPlane) map[string]string {
	labels := map[string]string{}
	if req := cp.Spec.CreateControlPlaneRequest; req != nil {
		for k, v := range req.Labels {
			labels[k] = string(v)
		}
	}
	maps.Copy(labels, map[string]string{
		labelUID:        string(cp.UID),
		labelName:       cp.Name,
		labelNamespace:  cp.Namespace,
		labelKind:       planeKind,
		labelGroup:      konnectv1alpha2.GroupName,
		labelVersion:    konnectv1alpha2.SchemeGroupVersion.Version,
		labelGeneration: strconv.FormatInt(cp.Generation, 10),
		labelManagedBy:  managedByValue,
	})
	for k, v := range labels {
		labels[k] = sanitizeLabelValue(v)
	}
	return labels
}

// sanitizeLabelValue fits a value to Konnect's label values: at most 63 characters of letters,
// digits, '-', '_' and '.', beginning and ending with a letter or digit. Other characters
// become '-'.
func sanitizeLabelValue(v string) string {
	var b strings.Builder
	for _, r := range v {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	s := b.String()
	if len(s) > maxLabelValue {
		s = s[:maxLabelValue]
	}
	isAlnum := func(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' }
	for len(s) > 0 && !isAlnum(s[0]) {
		s = s[1:]
	}
	for len(s) > 0 && !isAlnum(s[len(s)-1]) {
		s = s[:len(s)-1]
	}
	return s
}
