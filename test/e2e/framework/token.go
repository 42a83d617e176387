package framework

import (
	"crypto/rand"
	"encoding/hex"
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
