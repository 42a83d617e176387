package framework

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// CredentialLabels are the labels the user guide puts on a Secret that holds a token: the
// controller watches only Secrets labelled konghq.com/credential=konnect.
var CredentialLabels = map[string]string{"konghq.com/credential": "konnect", "konghq.com/secret": "true"}

// TokenConfigYAML is a KonnectAPIAuthConfiguration ns/name with an inline token, as a user
// would write it for `kubectl apply -f -`.
func TokenConfigYAML(ns, name, token, serverURL string) string {
	return configYAML(ns, name, "type: token\n  token: "+token, serverURL)
}

// SecretRefConfigYAML is a KonnectAPIAuthConfiguration ns/name that takes its token from the
// Secret secretName, in secretNamespace (omitted from the reference when "").
func SecretRefConfigYAML(ns, name, secretName, secretNamespace, serverURL string) string {
	nsLine := ""
	if secretNamespace != "" {
		nsLine = "\n    namespace: " + secretNamespace
	}
	return configYAML(ns, name, "type: secretRef\n  secretRef:\n    name: "+secretName+nsLine, serverURL)
}

// configYAML is a KonnectAPIAuthConfiguration ns/name whose spec is auth (the type and its
// fields, indented for spec) and serverURL.
func configYAML(ns, name, auth, serverURL string) string {
	return fmt.Sprintf(`apiVersion: konnect.konghq.com/v1alpha1
kind: KonnectAPIAuthConfiguration
metadata:
  name: %s
  namespace: %s
spec:
  %s
  serverURL: %s
`, name, ns, auth, serverURL)
}

// SecretYAML is a Secret ns/name with labels (none when nil) holding value under key (no
// data when key is "").
func SecretYAML(ns, name string, labels map[string]string, key, value string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: v1\nkind: Secret\nmetadata:\n  name: %s\n  namespace: %s\n", name, ns)
	if len(labels) > 0 {
		b.WriteString("  labels:\n")
		for _, k := range slices.Sorted(maps.Keys(labels)) {
			fmt.Fprintf(&b, "    %s: %q\n", k, labels[k])
		}
	}
	if key != "" {
		fmt.Fprintf(&b, "stringData:\n  %s: %q\n", key, value)
	}
	return b.String()
}
