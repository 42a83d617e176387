package fakekonnect

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"time"
)

// servingNames are the DNS names the fake's serving certificate covers: every host the
// Konnect SDK may be sent to, above all global.api.konghq.com where it checks tokens.
var servingNames = []string{"*.api.konghq.com", "global.api.konghq.com", "*.konghq.com"}

// certificates is a throwaway CA and a serving certificate it signed.
type certificates struct {
	caPEM   []byte
	serving tls.Certificate
}

// newCertificates generates a fresh ECDSA P-256 CA and a serving certificate for
// servingNames, both valid from an hour ago for a week. Nothing is written to disk here.
func newCertificates(now time.Time) (*certificates, error) {
	caTemplate := &x509.Certificate{
		SerialNumber:          randomSerial(),
		Subject:               pkix.Name{Organization: []string{"fakekonnect"}, CommonName: "fakekonnect throwaway test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(7 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	caKey, caCert, err := issue("CA", caTemplate, nil, nil)
	if err != nil {
		return nil, err
	}

	template := &x509.Certificate{
		SerialNumber: randomSerial(),
		Subject:      pkix.Name{Organization: []string{"fakekonnect"}, CommonName: "global.api.konghq.com"},
		DNSNames:     append([]string(nil), servingNames...),
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(7 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	key, leaf, err := issue("serving", template, caCert, caKey)
	if err != nil {
		return nil, err
	}

	return &certificates{
		caPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caCert.Raw}),
		serving: tls.Certificate{
			Certificate: [][]byte{leaf.Raw},
			PrivateKey:  key,
			Leaf:        leaf,
		},
	}, nil
}

// issue generates a P-256 key and a certificate of template for it, signed by signer with
// signerKey, or self-signed when signer is nil; what names the certificate in errors.
func issue(what string, template, signer *x509.Certificate, signerKey *ecdsa.PrivateKey) (*ecdsa.PrivateKey, *x509.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generating %s key: %w", what, err)
	}
	if signer == nil {
		signer, signerKey = template, key
	}
	der, err := x509.CreateCertificate(rand.Reader, template, signer, &key.PublicKey, signerKey)
	if err != nil {
		return nil, nil, fmt.Errorf("creating %s certificate: %w", what, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, fmt.Errorf("parsing %s certificate: %w", what, err)
	}
	return key, cert, nil
}

// ClientCertificate makes a self-signed client certificate for cn, as a data plane's is made
// (with openssl, or by Kong's operator): what the dp-client-certificates API takes, for tests
// that register one. It returns the certificate and its key in PEM, and the certificate's DER.
func ClientCertificate(cn string) (certPEM, keyPEM, der []byte, err error) {
	now := time.Now()
	template := &x509.Certificate{
		SerialNumber: randomSerial(),
		Subject:      pkix.Name{CommonName: cn, Organization: []string{"Kong, Inc."}},
		DNSNames:     []string{cn},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	key, cert, err := issue("client", template, nil, nil)
	if err != nil {
		return nil, nil, nil, err
	}
	der = cert.Raw
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("encoding client key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), der, nil
}

// randomSerial returns a random positive 128-bit serial number, as RFC 5280 recommends.
func randomSerial() *big.Int {
	// rand.Int never fails with crypto/rand.Reader since Go 1.24: the reader cannot fail.
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	return n.Add(n, big.NewInt(1))
}
