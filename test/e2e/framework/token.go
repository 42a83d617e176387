package framework

import (
	"crypto/rand"
	"encoding/hex"
)

// RandomToken returns a fresh, well-formed Konnect personal access token (kpat_ and 40 hex
// characters) for a test to register with the fake Konnect.
func RandomToken() string {
	b := make([]byte, 20)
	_, _ = rand.Read(b)
	return "kpat_" + hex.EncodeToString(b)
}
