package framework

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/konnect-auth-controller/konnect-auth-controller/test/controlplane"
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
	return ObjectYAML("konnect.konghq.com/v1alpha1", "KonnectAPIAuthConfiguration", ns, name,
		"  "+auth+"\n  serverURL: "+serverURL+"\n")
}

// ObjectYAML is a manifest of the object kind ns/name whose spec is the lines of spec, each
// indented by two spaces and ending in a newline.
func ObjectYAML(apiVersion, kind, ns, name, spec string) string {
	return fmt.Sprintf("apiVersion: %s\nkind: %s\nmetadata:\n  name: %s\n  namespace: %s\nspec:\n%s", apiVersion, kind, name, ns, spec)
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

// Grant is the spec of a KongReferenceGrant: it lets objects of one kind in FromNamespace refer
// to objects of one kind in the grant's namespace, named ToName (any name when "").
type Grant struct {
	FromGroup, FromKind, FromNamespace string
	ToGroup, ToKind, ToName            string
}

// SecretGrant is the grant that lets KonnectAPIAuthConfigurations in fromNS read the Secret
// secret ("" for every Secret) in the grant's namespace.
func SecretGrant(fromNS, secret string) Grant {
	return Grant{"konnect.konghq.com", "KonnectAPIAuthConfiguration", fromNS, "core", "Secret", secret}
}

// GrantYAML is a KongReferenceGrant ns/name with spec g.
func GrantYAML(ns, name string, g Grant) string {
	nameLine := ""
	if g.ToName != "" {
		nameLine = "\n      name: " + g.ToName
	}
	return ObjectYAML("configuration.konghq.com/v1alpha1", "KongReferenceGrant", ns, name, fmt.Sprintf(`  from:
    - group: %s
      kind: %s
      namespace: %s
  to:
    - group: %s
      kind: %s%s
`, g.FromGroup, g.FromKind, g.FromNamespace, g.ToGroup, g.ToKind, nameLine))
}

// exampleToken is the placeholder the user guide's examples hold where the user's token goes.
const exampleToken = "kpat_REPLACE_WITH_YOUR_TOKEN"

// Example returns the user guide's manifests/examples/<path> as a user would apply it: with
// token in place of the placeholder kpat_REPLACE_WITH_YOUR_TOKEN (unless token is ""), and
// in namespace ns instead of kong (unless ns is ""). It fails the test if the file is missing
// or no longer holds what is to be replaced.
func Example(t testing.TB, path, ns, token string) string {
	t.Helper()
	root, err := controlplane.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(root, "manifests", "examples", filepath.FromSlash(path)))
	if err != nil {
		t.Fatal(err)
	}
	s := string(raw)
	if token != "" {
		if !strings.Contains(s, exampleToken) {
			t.Fatalf("manifests/examples/%s no longer holds %s", path, exampleToken)
		}
		s = strings.ReplaceAll(s, exampleToken, token)
	}
	if ns != "" {
		if !strings.Contains(s, "namespace: kong\n") {
			t.Fatalf("manifests/examples/%s no longer says namespace: kong", path)
		}
		s = strings.ReplaceAll(s, "namespace: kong\n", "namespace: "+ns+"\n")
	}
	return s
}
