package framework

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"testing"

	"github.com/konnect-auth-controller/konnect-auth-controller/test/controlplane"
)

// UserGuideOrgID is the organization ID the user guide shows (README.md): the fake Konnect
// reports it for the tokens Env.NewToken issues, unless the Suite names another.
const UserGuideOrgID = "5ca26716-02f7-4430-9117-1d1a7a2695e7"

// RandomToken returns a fresh, well-formed Konnect personal access token (kpat_ and 40 hex
// characters) for a test to register with the fake Konnect.
func RandomToken() string {
	b := make([]byte, 20)
	_, _ = rand.Read(b)
	return "kpat_" + hex.EncodeToString(b)
}

// CheckNoTokenInNamespace fails the test (without stopping it) if any of tokens appears in the
// status of an object of resources (as kubectl takes them: "a,b") in ns, or in one of the
// namespace's Events.
func CheckNoTokenInNamespace(t testing.TB, c *controlplane.ControlPlane, ns, resources string, tokens []string) {
	t.Helper()
	statuses := KubectlOutput(t, c, "get", resources, "-n", ns, "-o", "jsonpath={.items[*].status}")
	events := KubectlOutput(t, c, "get", "events", "-n", ns, "-o", "yaml")
	if found := ContainsAny([]byte(statuses), tokens...); len(found) > 0 {
		t.Errorf("statuses in %s contain tokens %v", ns, found)
	}
	if found := ContainsAny([]byte(events), tokens...); len(found) > 0 {
		t.Errorf("events in %s contain tokens %v", ns, found)
	}
}

// NewUUID returns a random version-4 UUID: a Konnect organization or control-plane id.
func NewUUID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
