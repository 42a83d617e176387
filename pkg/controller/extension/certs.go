package extension

// Certificates: the controller's cluster CA and the client certificates it signs for
// extensions with provisioning Automatic. Everything here is pure: no API calls, no clock of
// its own, and nothing panics on whatever bytes a Secret holds.

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
)

const (
	// caValidity is the cluster CA's lifetime.
	caValidity = 10 * 365 * 24 * time.Hour
	// clientValidity is a generated client certificate's lifetime.
	clientValidity = 365 * 24 * time.Hour
	// clientOrganization is the subject's O, as Kong's operator sets it.
	clientOrganization = "Kong, Inc."
	// caCommonName is the cluster CA's subject CN.
	caCommonName = "konnect-auth-controller cluster CA"
	// backdate keeps a certificate valid on machines whose clock is a little behind ours.
	backdate = 5 * time.Minute
)

// keyPair is a parsed certificate and its private key, with the PEM they came from.
type keyPair struct {
	cert    *x509.Certificate
	key     crypto.Signer
	certPEM []byte
	keyPEM  []byte
}

// newCA generates the cluster CA: ECDSA P-256, valid for ten years from now.
func newCA(now time.Time) (*keyPair, error) {
	return issue(&x509.Certificate{
		Subject:               pkix.Name{CommonName: caCommonName, Organization: []string{clientOrganization}},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(caValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}, nil)
}

// newClientCertificate generates a data plane's client certificate for commonName, signed by ca:
// ECDSA P-256, subject CN commonName and O "Kong, Inc.", DNS SAN commonName, client auth only,
// valid for a year from now.
func newClientCertificate(ca *keyPair, commonName string, now time.Time) (*keyPair, error) {
	return issue(&x509.Certificate{
		Subject:               pkix.Name{CommonName: commonName, Organization: []string{clientOrganization}},
		DNSNames:              []string{commonName},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(clientValidity),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
	}, ca)
}

// issue generates an ECDSA P-256 key and a certificate for it from tmpl with a random serial,
// signed by parent, or self-signed when parent is nil.
func issue(tmpl *x509.Certificate, parent *keyPair) (*keyPair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	if tmpl.SerialNumber, err = randomSerial(); err != nil {
		return nil, err
	}
	signer, signerKey := tmpl, crypto.Signer(key)
	if parent != nil {
		signer, signerKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, key.Public(), signerKey)
	if err != nil {
		return nil, err
	}
	return pairFromDER(der, key)
}

func randomSerial() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
}

func pairFromDER(der []byte, key *ecdsa.PrivateKey) (*keyPair, error) {
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return &keyPair{
		cert:    cert,
		key:     key,
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
	}, nil
}

// parseKeyPair reads tls.crt and tls.key of a kubernetes.io/tls Secret's data. It says what is
// wrong in words fit for a condition, never quoting the data.
func parseKeyPair(data map[string][]byte) (*keyPair, error) {
	cert, err := parseCertificatePEM(data[corev1.TLSCertKey])
	if err != nil {
		return nil, err
	}
	key, err := parsePrivateKeyPEM(data[corev1.TLSPrivateKeyKey])
	if err != nil {
		return nil, err
	}
	if !publicKeysEqual(cert.PublicKey, key.Public()) {
		return nil, errors.New("tls.key is not the private key of the certificate in tls.crt")
	}
	return &keyPair{cert: cert, key: key, certPEM: data[corev1.TLSCertKey], keyPEM: data[corev1.TLSPrivateKeyKey]}, nil
}

// parseCertificatePEM parses the first CERTIFICATE block of a PEM bundle.
func parseCertificatePEM(data []byte) (*x509.Certificate, error) {
	if len(data) == 0 {
		return nil, errors.New("tls.crt is missing or empty")
	}
	rest := data
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, errors.New("tls.crt holds no PEM CERTIFICATE block")
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("tls.crt does not parse as an X.509 certificate: %v", err)
		}
		return cert, nil
	}
}

// parsePrivateKeyPEM parses a PKCS#8, SEC 1 (EC) or PKCS#1 (RSA) private key.
func parsePrivateKeyPEM(data []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("tls.key holds no PEM block")
	}
	if key, err := x509.ParsePKCS8PrivateKey(block.Bytes); err == nil {
		if signer, ok := key.(crypto.Signer); ok {
			return signer, nil
		}
		return nil, errors.New("tls.key is not a signing key")
	}
	if key, err := x509.ParseECPrivateKey(block.Bytes); err == nil {
		return key, nil
	}
	if key, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return key, nil
	}
	// The parse errors are not quoted: they could echo key material.
	return nil, errors.New("tls.key does not parse as a private key")
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	e, ok := a.(equaler)
	return ok && e.Equal(b)
}

// certificatePEM is the one certificate sent to Konnect: cert re-encoded, whatever else the
// Secret's PEM held (a chain, comments).
func certificatePEM(cert *x509.Certificate) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}))
}

// fingerprint is the SHA-256 of a certificate's DER, in hex: what "the same certificate" means.
func fingerprint(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return hex.EncodeToString(sum[:])
}

// sameCertificate reports whether pemText (as Konnect stores it) holds cert, comparing the
// parsed DER, not the text: Konnect may re-wrap or re-encode what it was sent.
func sameCertificate(pemText string, cert *x509.Certificate) bool {
	other, err := parseCertificatePEM([]byte(pemText))
	return err == nil && bytes.Equal(other.Raw, cert.Raw)
}

// renewAt is when a certificate is renewed: once less than a third of its validity remains.
func renewAt(cert *x509.Certificate) time.Time {
	lifetime := cert.NotAfter.Sub(cert.NotBefore)
	return cert.NotAfter.Add(-lifetime / 3)
}

// clientCertificateProblem says why a generated Secret's certificate must be replaced, or ""
// when it may stay: it must parse with its key, be signed by the current CA, name the
// extension, carry the CA, and have more than a third of its validity left.
func clientCertificateProblem(data map[string][]byte, ca *keyPair, commonName string, now time.Time) (string, *keyPair) {
	pair, err := parseKeyPair(data)
	if err != nil {
		return err.Error(), nil
	}
	cert := pair.cert
	switch {
	case cert.CheckSignatureFrom(ca.cert) != nil:
		return "it is not signed by the current cluster CA", nil
	case cert.Subject.CommonName != commonName || !slices.Equal(cert.DNSNames, []string{commonName}):
		return fmt.Sprintf("it does not name %s", commonName), nil
	case !bytes.Equal(data[corev1.ServiceAccountRootCAKey], ca.certPEM):
		return "ca.crt is not the current cluster CA", nil
	case !now.Before(renewAt(cert)):
		return fmt.Sprintf("less than a third of its validity remains (expires %s)", cert.NotAfter.UTC().Format(time.RFC3339)), nil
	}
	return "", pair
}
