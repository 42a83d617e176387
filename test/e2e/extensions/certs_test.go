package extensions_test

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"

	"github.com/konnect-auth-controller/konnect-auth-controller/test/fakekonnect"
)

// selfSigned generates a self-signed client certificate for cn, as a user would with openssl,
// writes tls.crt and tls.key into a fresh folder, and returns their paths and the DER.
func selfSigned(t *testing.T, cn string) (certFile, keyFile string, der []byte) {
	t.Helper()
	certPEM, keyPEM, der, err := fakekonnect.ClientCertificate(cn)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, der
}

// parsePEM parses the first certificate of a PEM text, failing the test if there is none.
func parsePEM(t testing.TB, what string, text []byte) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode(text)
	if block == nil || block.Type != "CERTIFICATE" {
		t.Fatalf("%s holds no PEM certificate", what)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return cert
}

// registeredDERs is the DER of each certificate the fake holds for the control plane.
func registeredDERs(t testing.TB, cpID string) [][]byte {
	t.Helper()
	var out [][]byte
	for _, c := range env.Konnect.Certificates(cpID) {
		out = append(out, parsePEM(t, "the certificate "+c.ID+" in the fake", []byte(c.Cert)).Raw)
	}
	return out
}

// holdsExactly reports whether the fake holds exactly the certificates ders for cpID.
func holdsExactly(t testing.TB, cpID string, ders ...[]byte) bool {
	got := registeredDERs(t, cpID)
	if len(got) != len(ders) {
		return false
	}
	for i := range ders {
		if !bytes.Equal(got[i], ders[i]) {
			return false
		}
	}
	return true
}

// certIDs is the ids of the fake's certificates for cpID, for messages.
func certIDs(cpID string) []string {
	var ids []string
	for _, c := range env.Konnect.Certificates(cpID) {
		ids = append(ids, c.ID)
	}
	return ids
}
