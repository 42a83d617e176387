package admission

import (
	"strings"
	"testing"

	"github.com/konnect-auth-controller/konnect-auth-controller/test/e2e/framework"
)

// TestUserGuide applies the user guide's manifests (testdata/userguide, with $KONNECT_TOKEN
// substituted) exactly as a reader of the guide would, in namespace kong: the type: token
// configuration, then the Secret and the type: secretRef configuration, which has the same name
// and so switches the first one over to the Secret; then the secretRef one again from scratch.
func TestUserGuide(t *testing.T) {
	const name = "konnect-api-auth"
	// The guide's previous page (installing the operator) leaves namespace kong behind.
	// (--dry-run | apply, so that a second run, as with -count=2, finds it fine.)
	nsYAML := framework.KubectlOutput(t, cp, "create", "namespace", "kong", "--dry-run=client", "-o", "yaml")
	if out, stderr, err := framework.Kubectl(cp, nsYAML, "apply", "-f", "-"); err != nil {
		t.Fatalf("creating namespace kong: %v\n%s%s", err, out, stderr)
	}
	t.Cleanup(func() {
		framework.Kubectl(cp, "", "delete", authConfigs.resource, name, "-n", "kong", "--ignore-not-found")
		framework.Kubectl(cp, "", "delete", "secret", "konnect-api-auth-secret", "-n", "kong", "--ignore-not-found")
	})
	created := authConfigs.resource + ".konnect.konghq.com/" + name + " created"

	t.Run("token", func(t *testing.T) {
		out := framework.KubectlOutput(t, cp, "apply", "-f", "testdata/userguide/token.yaml")
		if strings.TrimSpace(out) != created {
			t.Errorf("kubectl apply printed %q, want %q", out, created)
		}
		assertSpec(t, authConfigs, "kong", name, loadFixture(t, "testdata/userguide/token.yaml", "kong").spec)

		// The guide's "Validate" step.
		out = framework.KubectlOutput(t, cp, "get", authConfigs.resource, name, "-n", "kong")
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if got := strings.Join(strings.Fields(lines[0]), " "); got != "NAME VALID ORGID SERVERURL AGE" {
			t.Errorf("kubectl get header = %q, want NAME VALID ORGID SERVERURL AGE", got)
		}
		if len(lines) != 2 || strings.Fields(lines[1])[0] != name {
			t.Errorf("kubectl get printed:\n%s", out)
		}
	})

	t.Run("secret-as-printed-in-guide", func(t *testing.T) {
		// The page prints the label as `konghq.com/secret: true`: a YAML boolean, which no
		// Kubernetes label accepts; kubectl refuses it before it reaches the apiserver. Our
		// manifests (and testdata/userguide/secret.yaml) quote it, as the README's
		// "Giving it a token" does.
		stdout, stderr, err := framework.Kubectl(cp, "", "apply", "-f", "testdata/userguide/secret-as-printed.yaml")
		msg := assertRejected(t, stdout, stderr, err, []string{"cannot unmarshal bool", "labels"})
		t.Logf("the guide's Secret exactly as printed (label value true unquoted) is refused by kubectl: %s", msg)
	})

	t.Run("secretRef", func(t *testing.T) {
		out := framework.KubectlOutput(t, cp, "apply", "-f", "testdata/userguide/secret.yaml")
		if want := "secret/konnect-api-auth-secret created"; strings.TrimSpace(out) != want {
			t.Errorf("kubectl apply printed %q, want %q", out, want)
		}
		labels := framework.KubectlOutput(t, cp, "get", "secret", "konnect-api-auth-secret", "-n", "kong",
			"-o", `jsonpath={.metadata.labels.konghq\.com/credential} {.metadata.labels.konghq\.com/secret}`)
		if labels != "konnect true" {
			t.Errorf("Secret labels = %q, want konghq.com/credential=konnect konghq.com/secret=true", labels)
		}

		// Same name as the token one: kubectl apply switches it to the Secret, dropping the token.
		secretRef := loadFixture(t, "testdata/userguide/secretref.yaml", "kong")
		out = framework.KubectlOutput(t, cp, "apply", "-f", "testdata/userguide/secretref.yaml")
		if want := authConfigs.resource + ".konnect.konghq.com/" + name + " configured"; strings.TrimSpace(out) != want {
			t.Errorf("kubectl apply printed %q, want %q", out, want)
		}
		assertSpec(t, authConfigs, "kong", name, secretRef.spec)

		// And from scratch, as a reader who starts at this section would.
		framework.KubectlOutput(t, cp, "delete", authConfigs.resource, name, "-n", "kong", "--wait=true")
		out = framework.KubectlOutput(t, cp, "apply", "-f", "testdata/userguide/secretref.yaml")
		if strings.TrimSpace(out) != created {
			t.Errorf("kubectl apply printed %q, want %q", out, created)
		}
		assertSpec(t, authConfigs, "kong", name, secretRef.spec)
	})
}
