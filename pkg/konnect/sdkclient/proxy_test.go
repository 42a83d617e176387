package sdkclient

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/konnect"
)

// childEnv marks the re-executed test binary of TestDefaultTransportUsesProxyAndTrustStore.
const childEnv = "SDKCLIENT_PROXY_CHILD_EXPECT_PROXY"

const childToken = "kpat_CHILDPROCESSTOKEN"

// TestDefaultTransportUsesProxyAndTrustStore checks the path production takes: no Transport
// option, so the proxy comes from HTTPS_PROXY and trust from SSL_CERT_FILE, exactly as for a
// user behind a corporate proxy and for the end-to-end tests. Go reads both variables once
// per process, so the check runs in a child process with its own environment.
func TestDefaultTransportUsesProxyAndTrustStore(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	caPEM, leaf := newTestCA(t, "*.api.konghq.com", "global.api.konghq.com")

	var mu sync.Mutex
	var seenAuth, seenHost string
	konnectSrv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seenAuth, seenHost = r.Header.Get("Authorization"), r.Host
		mu.Unlock()
		writeOrg(w, r)
	}))
	konnectSrv.TLS = &tls.Config{Certificates: []tls.Certificate{leaf}}
	konnectSrv.StartTLS()
	t.Cleanup(konnectSrv.Close)

	var connectTarget string
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodConnect {
			http.Error(w, "CONNECT only", http.StatusMethodNotAllowed)
			return
		}
		mu.Lock()
		connectTarget = r.Host
		mu.Unlock()
		upstream, err := net.Dial("tcp", konnectSrv.Listener.Addr().String())
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		conn, buf, err := w.(http.Hijacker).Hijack()
		if err != nil {
			_ = upstream.Close()
			return
		}
		_, _ = conn.Write([]byte("HTTP/1.1 200 Connection Established\r\n\r\n"))
		go pipe(upstream, buf) // buf holds anything the client sent after CONNECT
		go pipe(conn, upstream)
	}))
	t.Cleanup(proxy.Close)

	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	emptyDir := filepath.Join(dir, "certs")
	if err := os.Mkdir(emptyDir, 0o700); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestDefaultTransportChild$", "-test.v")
	cmd.Env = append(envWithout("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy",
		"SSL_CERT_FILE", "SSL_CERT_DIR", "KONNECT_SDK_HTTP_DUMP_REQUEST", "KONG_CUSTOM_DOMAIN", childEnv),
		"HTTPS_PROXY="+proxy.URL, "https_proxy="+proxy.URL,
		"SSL_CERT_FILE="+caFile, "SSL_CERT_DIR="+emptyDir,
		childEnv+"="+proxy.URL)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestDefaultTransportChild") {
		t.Fatalf("child failed: %v\n%s", err, out)
	}
	if strings.Contains(string(out), childToken) {
		t.Fatalf("child output holds the token:\n%s", out)
	}

	mu.Lock()
	defer mu.Unlock()
	if connectTarget != "global.api.konghq.com:443" {
		t.Errorf("proxy was asked to CONNECT %q, want global.api.konghq.com:443", connectTarget)
	}
	if seenHost != "global.api.konghq.com" || seenAuth != "Bearer "+childToken {
		t.Errorf("fake Konnect saw Host %q and Authorization %q", seenHost, seenAuth)
	}
}

// TestDefaultTransportChild is the child half of TestDefaultTransportUsesProxyAndTrustStore.
func TestDefaultTransportChild(t *testing.T) {
	wantProxy := os.Getenv(childEnv)
	if wantProxy == "" {
		t.Skip("runs only as the child of TestDefaultTransportUsesProxyAndTrustStore")
	}
	// Never let a test token reach the real Konnect: refuse to call unless the request
	// would go through the local proxy.
	req, _ := http.NewRequest(http.MethodGet, "https://global.api.konghq.com/v3/organizations/me", nil)
	if got, err := http.ProxyFromEnvironment(req); err != nil || got == nil || got.String() != wantProxy {
		t.Fatalf("proxy from environment = %v, %v; want %s", got, err, wantProxy)
	}
	r := New(Options{Timeout: 20 * time.Second}).Validate(context.Background(), childToken, "https://eu.api.konghq.com")
	if r.Verdict != konnect.VerdictValid || r.OrganizationID != testOrgID {
		t.Fatalf("got %v %q (%s)", r.Verdict, r.OrganizationID, r.Message)
	}
}

func pipe(dst io.WriteCloser, src io.Reader) {
	_, _ = io.Copy(dst, src)
	_ = dst.Close()
}

func envWithout(names ...string) []string {
	drop := map[string]bool{}
	for _, n := range names {
		drop[n] = true
	}
	var env []string
	for _, kv := range os.Environ() {
		if name, _, _ := strings.Cut(kv, "="); !drop[name] {
			env = append(env, kv)
		}
	}
	return env
}

// newTestCA makes a throwaway CA and a server certificate for names, signed by it.
func newTestCA(t *testing.T, names ...string) ([]byte, tls.Certificate) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "sdkclient test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: names[0]},
		DNSNames:     names,
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	return caPEM, tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}
