package fakekonnect

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

const (
	meURL     = "https://global.api.konghq.com/v3/organizations/me"
	tokenA    = "kpat_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	tokenB    = "spat_bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	orgA      = "0f1e2d3c-4b5a-4697-8877-665544332211"
	orgB      = "11111111-2222-4333-8444-555555555555"
	testAgent = "fakekonnect-test/1.0"
)

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// start starts a fake Konnect with tokenA→orgA and tokenB→orgB registered, closed at the
// end of the test.
func start(t *testing.T, opts Options) *Server {
	t.Helper()
	if opts.Tokens == nil {
		opts.Tokens = map[string]string{tokenA: orgA, tokenB: orgB}
	}
	opts.Logf = t.Logf
	srv, err := Start(opts)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(srv.Close)
	return srv
}

// newClient builds the client a test drives the fake with, as the controller does: a clone
// of http.DefaultTransport, with the proxy and a trust pool holding only the CA file.
func newClient(t *testing.T, proxyURL, caFile string, timeout time.Duration) *http.Client {
	t.Helper()
	pemBytes, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatalf("reading the CA file: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		t.Fatalf("the CA file holds no certificate")
	}
	pu, err := url.Parse(proxyURL)
	if err != nil {
		t.Fatalf("parsing the proxy URL: %v", err)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = http.ProxyURL(pu)
	tr.TLSClientConfig = &tls.Config{RootCAs: pool}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: timeout}
}

func clientFor(t *testing.T, srv *Server) *http.Client {
	t.Helper()
	return newClient(t, srv.ProxyURL(), srv.CAFile(), 10*time.Second)
}

// getCallsReport asks the admin API at adminURL for GET /calls and decodes the answer.
func getCallsReport(t *testing.T, c *http.Client, adminURL string) CallsReport {
	t.Helper()
	resp, err := c.Get(adminURL + "/calls")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var report CallsReport
	if err := json.NewDecoder(resp.Body).Decode(&report); err != nil {
		t.Fatal(err)
	}
	return report
}

// getMe sends the SDK's token check and returns the answer with its body read.
func getMe(t *testing.T, c *http.Client, rawURL, token string) (*http.Response, []byte) {
	t.Helper()
	resp, err := doMe(context.Background(), c, rawURL, token)
	if err != nil {
		t.Fatalf("GET %s: %v", rawURL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the body: %v", err)
	}
	return resp, body
}

func doMe(ctx context.Context, c *http.Client, rawURL, token string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", testAgent)
	return c.Do(req)
}

func decodeObject(t *testing.T, body []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("decoding %q: %v", body, err)
	}
	return m
}

func checkProblem(t *testing.T, resp *http.Response, body []byte, wantStatus int) map[string]any {
	t.Helper()
	p := checkAnswer(t, resp, body, wantStatus, "application/problem+json")
	if p["status"] != float64(wantStatus) || p["title"] != http.StatusText(wantStatus) ||
		p["type"] != fmt.Sprintf("https://httpstatuses.com/%d", wantStatus) {
		t.Errorf("problem = %v", p)
	}
	if inst, _ := p["instance"].(string); !strings.HasPrefix(inst, "kong:trace:") {
		t.Errorf("instance = %q, want a kong:trace: ID", p["instance"])
	}
	if d, _ := p["detail"].(string); d == "" {
		t.Errorf("detail is empty")
	}
	return p
}

func checkOrg(t *testing.T, resp *http.Response, body []byte, wantID string) {
	t.Helper()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status = %d, want 200; body %s", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	org := decodeObject(t, body)
	if org["id"] != wantID {
		t.Errorf("id = %v, want %s", org["id"], wantID)
	}
	if name, _ := org["name"].(string); name == "" {
		t.Errorf("name is empty")
	}
	if owner, _ := org["owner_id"].(string); !uuidRE.MatchString(owner) {
		t.Errorf("owner_id = %v, want a UUID", org["owner_id"])
	}
	if lp, _ := org["login_path"].(string); lp == "" {
		t.Errorf("login_path is empty")
	}
	for _, k := range []string{"created_at", "updated_at"} {
		s, _ := org[k].(string)
		if _, err := time.Parse(time.RFC3339, s); err != nil {
			t.Errorf("%s = %v, want RFC 3339: %v", k, org[k], err)
		}
	}
	if org["state"] != "active" || org["retention_period_days"] != float64(90) {
		t.Errorf("state, retention = %v, %v", org["state"], org["retention_period_days"])
	}
}

func TestKnownTokenGetsItsOrganization(t *testing.T) {
	srv := start(t, Options{})
	c := clientFor(t, srv)

	resp, body := getMe(t, c, meURL, tokenA)
	checkOrg(t, resp, body, orgA)
	if got := srv.LastHost(); got != "global.api.konghq.com" {
		t.Errorf("LastHost = %q", got)
	}
	if got := srv.LastUserAgent(); got != testAgent {
		t.Errorf("LastUserAgent = %q", got)
	}

	// A second token, and a regional host: the certificate covers every *.api.konghq.com.
	resp, body = getMe(t, c, "https://us.api.konghq.com/v3/organizations/me", tokenB)
	checkOrg(t, resp, body, orgB)
	if got := srv.LastHost(); got != "us.api.konghq.com" {
		t.Errorf("LastHost = %q", got)
	}
	// The organization is stable across calls.
	_, again := getMe(t, c, meURL, tokenB)
	if string(again) != string(body) {
		t.Errorf("second answer %s differs from first %s", again, body)
	}
}

func TestUnknownTokenGets401(t *testing.T) {
	srv := start(t, Options{})
	c := clientFor(t, srv)

	resp, body := getMe(t, c, meURL, "kpat_unknown")
	if p := checkProblem(t, resp, body, http.StatusUnauthorized); p["detail"] != "Invalid credentials" {
		t.Errorf("detail = %v", p["detail"])
	}
	resp, body = getMe(t, c, meURL, "")
	checkProblem(t, resp, body, http.StatusUnauthorized)

	// Revoked, then registered again.
	srv.RevokeToken(tokenA)
	resp, body = getMe(t, c, meURL, tokenA)
	checkProblem(t, resp, body, http.StatusUnauthorized)
	srv.AddToken(tokenA, orgB)
	resp, body = getMe(t, c, meURL, tokenA)
	checkOrg(t, resp, body, orgB)
}

func TestUnknownPathAndMethod(t *testing.T) {
	srv := start(t, Options{})
	c := clientFor(t, srv)
	resp, body := getMe(t, c, "https://global.api.konghq.com/v2/nothing", tokenA)
	checkProblem(t, resp, body, http.StatusNotFound)

	req, _ := http.NewRequest(http.MethodPost, meURL, nil)
	req.Header.Set("Authorization", "Bearer "+tokenA)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	checkProblem(t, resp, body, http.StatusMethodNotAllowed)
}

func TestBehaviors(t *testing.T) {
	tests := []struct {
		name     string
		behavior Behavior
		check    func(t *testing.T, resp *http.Response, body []byte)
	}{
		{"forbidden", Behavior{Mode: ModeForbidden}, func(t *testing.T, resp *http.Response, body []byte) {
			checkProblem(t, resp, body, http.StatusForbidden)
		}},
		{"rate limited, default Retry-After", Behavior{Mode: ModeRateLimited}, func(t *testing.T, resp *http.Response, body []byte) {
			checkProblem(t, resp, body, http.StatusTooManyRequests)
			if got := resp.Header.Get("Retry-After"); got != "5" {
				t.Errorf("Retry-After = %q, want 5", got)
			}
		}},
		{"rate limited, Retry-After rounded up", Behavior{Mode: ModeRateLimited, RetryAfter: 6500 * time.Millisecond}, func(t *testing.T, resp *http.Response, body []byte) {
			checkProblem(t, resp, body, http.StatusTooManyRequests)
			if got := resp.Header.Get("Retry-After"); got != "7" {
				t.Errorf("Retry-After = %q, want 7", got)
			}
		}},
		{"server error, default 503", Behavior{Mode: ModeServerError}, func(t *testing.T, resp *http.Response, body []byte) {
			checkProblem(t, resp, body, http.StatusServiceUnavailable)
		}},
		{"server error 500", Behavior{Mode: ModeServerError, Status: 500}, func(t *testing.T, resp *http.Response, body []byte) {
			checkProblem(t, resp, body, http.StatusInternalServerError)
		}},
		{"empty 200", Behavior{Mode: ModeEmptyOK}, func(t *testing.T, resp *http.Response, body []byte) {
			if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" || string(body) != "{}" {
				t.Errorf("got %d %q %q, want 200 application/json {}", resp.StatusCode, resp.Header.Get("Content-Type"), body)
			}
		}},
		{"bad JSON", Behavior{Mode: ModeBadJSON}, func(t *testing.T, resp *http.Response, body []byte) {
			if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" || json.Valid(body) {
				t.Errorf("got %d %q %q, want 200 application/json with invalid JSON", resp.StatusCode, resp.Header.Get("Content-Type"), body)
			}
		}},
		{"wrong content type", Behavior{Mode: ModeWrongContentType}, func(t *testing.T, resp *http.Response, body []byte) {
			ct := resp.Header.Get("Content-Type")
			if resp.StatusCode != 200 || !strings.HasPrefix(ct, "text/html") || !strings.Contains(string(body), "<html>") {
				t.Errorf("got %d %q %q, want 200 text/html", resp.StatusCode, ct, body)
			}
		}},
		{"slow body", Behavior{Mode: ModeSlowBody, Delay: 300 * time.Millisecond}, func(t *testing.T, resp *http.Response, body []byte) {
			checkOrg(t, resp, body, orgA)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, scope := range []string{"token", "global"} {
				t.Run(scope, func(t *testing.T) {
					srv := start(t, Options{})
					c := clientFor(t, srv)
					if scope == "global" {
						srv.SetBehavior(tt.behavior)
					} else {
						srv.SetTokenBehavior(tokenA, tt.behavior)
					}
					began := time.Now()
					resp, body := getMe(t, c, meURL, tokenA)
					if tt.behavior.Mode == ModeSlowBody && time.Since(began) < tt.behavior.Delay {
						t.Errorf("slow body took %v, want at least %v", time.Since(began), tt.behavior.Delay)
					}
					tt.check(t, resp, body)

					// The other token is affected only by a global behavior.
					resp, body = getMe(t, c, meURL, tokenB)
					switch {
					case scope == "token", tt.behavior.Mode == ModeSlowBody:
						checkOrg(t, resp, body, orgB)
					default:
						tt.check(t, resp, body)
					}

					// BehaviorNormal clears it.
					srv.SetBehavior(BehaviorNormal)
					srv.SetTokenBehavior(tokenA, BehaviorNormal)
					resp, body = getMe(t, c, meURL, tokenA)
					checkOrg(t, resp, body, orgA)
				})
			}
		})
	}
}

func TestGlobalBehaviorWinsOverTokenBehavior(t *testing.T) {
	srv := start(t, Options{})
	c := clientFor(t, srv)

	srv.SetTokenBehavior(tokenA, Behavior{Mode: ModeForbidden})
	srv.SetBehavior(Behavior{Mode: ModeServerError}) // an outage
	resp, body := getMe(t, c, meURL, tokenA)
	checkProblem(t, resp, body, http.StatusServiceUnavailable)

	srv.SetBehavior(Behavior{}) // the outage ends; the token's own behavior is back
	resp, body = getMe(t, c, meURL, tokenA)
	checkProblem(t, resp, body, http.StatusForbidden)

	// A behavior applies to unregistered tokens too.
	srv.SetTokenBehavior("kpat_unknown", Behavior{Mode: ModeRateLimited, RetryAfter: time.Second})
	resp, body = getMe(t, c, meURL, "kpat_unknown")
	checkProblem(t, resp, body, http.StatusTooManyRequests)
}

func TestSlowBodySendsHeadersFirst(t *testing.T) {
	srv := start(t, Options{})
	c := clientFor(t, srv)
	srv.SetTokenBehavior(tokenA, Behavior{Mode: ModeSlowBody, Delay: 5 * time.Second})

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	resp, err := doMe(ctx, c, meURL, tokenA)
	if err != nil {
		t.Fatalf("the headers should arrive at once: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status = %d", resp.StatusCode)
	}
	// A client that gives up while the body trickles gets an error, not a short body.
	time.AfterFunc(200*time.Millisecond, cancel)
	if body, err := io.ReadAll(resp.Body); err == nil {
		t.Fatalf("reading the body succeeded with %q; want it cut off", body)
	}
}

func TestHang(t *testing.T) {
	t.Run("client timeout", func(t *testing.T) {
		srv := start(t, Options{})
		srv.SetTokenBehavior(tokenA, Behavior{Mode: ModeHang})
		c := newClient(t, srv.ProxyURL(), srv.CAFile(), 300*time.Millisecond)
		_, err := doMe(context.Background(), c, meURL, tokenA)
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Fatalf("err = %v, want a timeout", err)
		}
		// Other tokens are answered meanwhile.
		resp, body := getMe(t, clientFor(t, srv), meURL, tokenB)
		checkOrg(t, resp, body, orgB)
	})

	t.Run("unblocks on Close", func(t *testing.T) {
		srv := start(t, Options{})
		srv.SetBehavior(Behavior{Mode: ModeHang})
		c := newClient(t, srv.ProxyURL(), srv.CAFile(), 0) // no client timeout
		errc := make(chan error, 1)
		go func() {
			resp, err := doMe(context.Background(), c, meURL, tokenA)
			if err == nil {
				resp.Body.Close()
				err = fmt.Errorf("got an answer: %s", resp.Status)
			}
			errc <- err
		}()
		waitFor(t, "the request to arrive", func() bool { return srv.CallsFor(tokenA) == 1 })

		closed := make(chan struct{})
		go func() { srv.Close(); close(closed) }()
		select {
		case <-closed:
		case <-time.After(10 * time.Second):
			t.Fatal("Close did not return while a request hung")
		}
		select {
		case err := <-errc:
			if err == nil || strings.HasPrefix(err.Error(), "got an answer") {
				t.Fatalf("want the hanging request to fail, got %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the hanging request did not end after Close")
		}
		checkNoServerGoroutines(t)
	})
}

func TestCounts(t *testing.T) {
	srv := start(t, Options{})
	c := clientFor(t, srv)

	before := time.Now()
	for range 3 {
		getMe(t, c, meURL, tokenA)
	}
	getMe(t, c, meURL, tokenB)
	getMe(t, c, meURL, "kpat_unknown")
	getMe(t, c, meURL, "")
	after := time.Now()

	if got := srv.Calls(); got != 6 {
		t.Errorf("Calls = %d, want 6", got)
	}
	for token, want := range map[string]int64{tokenA: 3, tokenB: 1, "kpat_unknown": 1, "": 1, "kpat_never": 0} {
		if got := srv.CallsFor(token); got != want {
			t.Errorf("CallsFor(%.8s…) = %d, want %d", token, got, want)
		}
	}
	times := srv.CallTimes(tokenA)
	if len(times) != 3 || !slices.IsSortedFunc(times, time.Time.Compare) ||
		times[0].Before(before) || times[2].After(after) {
		t.Errorf("CallTimes = %v, want 3 ascending times within [%v, %v]", times, before, after)
	}
	// The counts are keyed by hash: no token is kept in the clear.
	for h := range srv.callCounts() {
		if len(h) != 64 {
			t.Errorf("count key %q is not a SHA-256 hex hash", h)
		}
	}

	srv.ResetCounts()
	if srv.Calls() != 0 || srv.CallsFor(tokenA) != 0 || len(srv.CallTimes(tokenA)) != 0 || srv.LastUserAgent() != "" || srv.LastHost() != "" {
		t.Errorf("ResetCounts left calls=%d callsFor=%d times=%v ua=%q host=%q",
			srv.Calls(), srv.CallsFor(tokenA), srv.CallTimes(tokenA), srv.LastUserAgent(), srv.LastHost())
	}
	resp, body := getMe(t, c, meURL, tokenA) // tokens survive a reset
	checkOrg(t, resp, body, orgA)
	if srv.CallsFor(tokenA) != 1 {
		t.Errorf("CallsFor after reset and one call = %d", srv.CallsFor(tokenA))
	}
}

func TestCallTimesShowRetryAfterIsHonoured(t *testing.T) {
	// How a controller test would use CallTimes: nothing before the Retry-After deadline.
	srv := start(t, Options{})
	c := clientFor(t, srv)
	srv.SetTokenBehavior(tokenA, Behavior{Mode: ModeRateLimited, RetryAfter: time.Second})
	resp, _ := getMe(t, c, meURL, tokenA)
	deadline := time.Now().Add(time.Second)
	time.Sleep(time.Until(deadline))
	srv.SetTokenBehavior(tokenA, BehaviorNormal)
	getMe(t, c, meURL, tokenA)

	times := srv.CallTimes(tokenA)
	if resp.Header.Get("Retry-After") != "1" || len(times) != 2 || times[1].Before(deadline) {
		t.Errorf("Retry-After %q, times %v, deadline %v", resp.Header.Get("Retry-After"), times, deadline)
	}
}

func TestProxyRefusesOtherDestinations(t *testing.T) {
	srv := start(t, Options{})

	// A bait server the proxy must never connect to, even when asked by address.
	bait, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer bait.Close()
	baitHit := make(chan struct{}, 1)
	go func() {
		if c, err := bait.Accept(); err == nil {
			c.Close()
			baitHit <- struct{}{}
		}
	}()

	refused := []string{
		"example.com:443",
		"global.api.konghq.com:80",
		"konghq.com:443",
		"global.api.konghq.com.example.com:443",
		"evilkonghq.com:443",
		bait.Addr().String(),
		srv.tlsLn.Addr().String(),
		"127.0.0.1:443",
		"[::1]:443",
	}
	for _, dest := range refused {
		if code := rawConnect(t, srv.ProxyURL(), "CONNECT "+dest+" HTTP/1.1\r\nHost: global.api.konghq.com:443\r\n\r\n"); code != http.StatusForbidden {
			t.Errorf("CONNECT %s: status %d, want 403", dest, code)
		}
	}
	if got := srv.RefusedConnects(); got != int64(len(refused)) {
		t.Errorf("RefusedConnects = %d, want %d", got, len(refused))
	}
	if code := rawConnect(t, srv.ProxyURL(), "GET http://global.api.konghq.com/v3/organizations/me HTTP/1.1\r\nHost: global.api.konghq.com\r\n\r\n"); code != http.StatusMethodNotAllowed {
		t.Errorf("plain GET through the proxy: status %d, want 405", code)
	}
	if code := rawConnect(t, srv.ProxyURL(), "CONNECT EU.API.KONGHQ.COM:443 HTTP/1.1\r\nHost: EU.API.KONGHQ.COM:443\r\n\r\n"); code != http.StatusOK {
		t.Errorf("CONNECT EU.API.KONGHQ.COM:443: status %d, want 200", code)
	}

	// Through a normal client, the refusal is an error.
	c := clientFor(t, srv)
	if _, err := c.Get("https://example.com/"); err == nil || !strings.Contains(err.Error(), "Forbidden") {
		t.Errorf("GET https://example.com/ through the proxy: err = %v, want a Forbidden proxy error", err)
	}

	select {
	case <-baitHit:
		t.Error("the proxy connected to a destination other than its TLS server")
	case <-time.After(100 * time.Millisecond):
	}
}

// rawConnect sends a raw request head to the proxy and returns the answer's status code.
func rawConnect(t *testing.T, proxyURL, head string) int {
	t.Helper()
	u, _ := url.Parse(proxyURL)
	conn, err := net.DialTimeout("tcp", u.Host, 5*time.Second)
	if err != nil {
		t.Fatalf("dialing the proxy: %v", err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(conn, head); err != nil {
		t.Fatalf("writing to the proxy: %v", err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: http.MethodConnect})
	if err != nil {
		t.Fatalf("reading the proxy's answer: %v", err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestCertificate(t *testing.T) {
	srv := start(t, Options{})
	block, _ := pem.Decode(srv.CAPEM())
	if block == nil {
		t.Fatal("CAPEM holds no PEM block")
	}
	ca, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := ca.PublicKey.(*ecdsa.PublicKey); !ok || !ca.IsCA {
		t.Errorf("CA: key %T, IsCA %t; want an ECDSA CA", ca.PublicKey, ca.IsCA)
	}

	c := clientFor(t, srv)
	for _, host := range []string{"global.api.konghq.com", "eu.api.konghq.com", "cloud.konghq.com"} {
		resp, _ := getMe(t, c, "https://"+host+"/v3/organizations/me", tokenA)
		leaf := resp.TLS.PeerCertificates[0]
		if !slices.Equal(leaf.DNSNames, servingNames) {
			t.Errorf("%s: DNS names %v, want %v", host, leaf.DNSNames, servingNames)
		}
		if err := leaf.CheckSignatureFrom(ca); err != nil {
			t.Errorf("%s: serving certificate not signed by the CA: %v", host, err)
		}
	}

	// Without the CA the fake is not trusted: it is no real Konnect.
	pu, _ := url.Parse(srv.ProxyURL())
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = http.ProxyURL(pu)
	tr.TLSClientConfig = &tls.Config{RootCAs: x509.NewCertPool()}
	defer tr.CloseIdleConnections()
	_, err = (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get(meURL)
	var unknown x509.UnknownAuthorityError
	if !errors.As(err, &unknown) {
		t.Errorf("err = %v, want an unknown-authority error", err)
	}
}

func TestCloseRemovesFilesAndStopsServing(t *testing.T) {
	t.Run("given dir", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "nested")
		srv := start(t, Options{Dir: dir})
		if want := filepath.Join(dir, CAFileName); srv.CAFile() != want {
			t.Fatalf("CAFile = %q, want %q", srv.CAFile(), want)
		}
		checkClose(t, srv)
		if _, err := os.Stat(dir); err != nil {
			t.Errorf("the given directory should stay: %v", err)
		}
	})
	t.Run("own temp dir", func(t *testing.T) {
		srv := start(t, Options{})
		dir := filepath.Dir(srv.CAFile())
		checkClose(t, srv)
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the temporary directory should be gone: %v", err)
		}
	})
}

// checkClose uses srv (leaving a kept-alive connection and a tunnel open), closes it, and
// checks that its file and ports are gone and none of its goroutines is left.
func checkClose(t *testing.T, srv *Server) {
	t.Helper()
	if _, err := os.Stat(srv.CAFile()); err != nil {
		t.Fatalf("CA file: %v", err)
	}
	resp, body := getMe(t, clientFor(t, srv), meURL, tokenA)
	checkOrg(t, resp, body, orgA)
	proxyAddr := strings.TrimPrefix(srv.ProxyURL(), "http://")
	tlsAddr := srv.tlsLn.Addr().String()

	srv.Close()
	srv.Close() // idempotent

	if _, err := os.Stat(srv.CAFile()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("CA file after Close: %v, want it removed", err)
	}
	for _, addr := range []string{proxyAddr, tlsAddr} {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			t.Errorf("%s still accepts connections after Close", addr)
		}
	}
	checkNoServerGoroutines(t)
}

// serverGoroutineMarkers are stack frames that only the fake's own serving goroutines have.
var serverGoroutineMarkers = []string{
	"fakekonnect.(*connectProxy)",
	"fakekonnect.(*Server).serveAPI",
	"fakekonnect.(*Server).trickle",
	"net/http.(*conn).serve",
	"net/http.(*http2serverConn)",
	"net/http.(*Server).Serve",
}

// checkNoServerGoroutines fails if goroutines serving a fake are left; they may take a
// moment to unwind after the WaitGroups they report to.
func checkNoServerGoroutines(t *testing.T) {
	t.Helper()
	var left []string
	deadline := time.Now().Add(5 * time.Second)
	for {
		left = left[:0]
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		for _, g := range strings.Split(string(buf), "\n\n") {
			for _, m := range serverGoroutineMarkers {
				if strings.Contains(g, m) {
					left = append(left, g)
					break
				}
			}
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d serving goroutines left after Close:\n%s", len(left), strings.Join(left, "\n\n"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestEnv(t *testing.T) {
	srv := start(t, Options{})
	want := []string{
		"HTTPS_PROXY=" + srv.ProxyURL(),
		"https_proxy=" + srv.ProxyURL(),
		"NO_PROXY=127.0.0.1,localhost",
		"no_proxy=127.0.0.1,localhost",
		"SSL_CERT_FILE=" + srv.CAFile(),
	}
	if got := srv.Env(); !slices.Equal(got, want) {
		t.Errorf("Env = %q, want %q", got, want)
	}
	if !regexp.MustCompile(`^http://127\.0\.0\.1:\d+$`).MatchString(srv.ProxyURL()) {
		t.Errorf("ProxyURL = %q", srv.ProxyURL())
	}
}

// TestEnvRoutesAChildProcess runs this test binary again as a child with Env appended:
// the child's plain http.DefaultClient must reach the fake, as the controller's will.
func TestEnvRoutesAChildProcess(t *testing.T) {
	srv := start(t, Options{})
	cmd := exec.Command(os.Args[0], "-test.run=^TestChildProcessClient$", "-test.v")
	cmd.Env = append(os.Environ(), srv.Env()...)
	cmd.Env = append(cmd.Env, "FAKEKONNECT_CHILD_TOKEN="+tokenA)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "child got org "+orgA) {
		t.Errorf("child output lacks the organization:\n%s", out)
	}
	if srv.CallsFor(tokenA) != 1 || srv.LastHost() != "global.api.konghq.com" {
		t.Errorf("CallsFor = %d, LastHost = %q", srv.CallsFor(tokenA), srv.LastHost())
	}
}

// TestChildProcessClient is the child half of TestEnvRoutesAChildProcess.
func TestChildProcessClient(t *testing.T) {
	token := os.Getenv("FAKEKONNECT_CHILD_TOKEN")
	if token == "" {
		t.Skip("only runs as the child of TestEnvRoutesAChildProcess")
	}
	c := &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone(), Timeout: 10 * time.Second}
	resp, body := getMe(t, c, meURL, token)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	fmt.Printf("child got org %s\n", decodeObject(t, body)["id"])
}

func TestHandlerInProcess(t *testing.T) {
	srv := start(t, Options{})
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	resp, body := getMe(t, hs.Client(), hs.URL+mePath, tokenA)
	checkOrg(t, resp, body, orgA)
	if srv.CallsFor(tokenA) != 1 {
		t.Errorf("CallsFor = %d, want 1", srv.CallsFor(tokenA))
	}
}

func TestTransport(t *testing.T) {
	srv := start(t, Options{})
	tr := srv.Transport()
	defer tr.CloseIdleConnections()
	resp, body := getMe(t, &http.Client{Transport: tr, Timeout: 10 * time.Second}, meURL, tokenB)
	checkOrg(t, resp, body, orgB)
}

func TestAdminHandler(t *testing.T) {
	srv := start(t, Options{Tokens: map[string]string{}})
	admin := httptest.NewServer(srv.AdminHandler())
	defer admin.Close()
	c := clientFor(t, srv)

	adminDo := func(method, path, body string) int {
		t.Helper()
		req, _ := http.NewRequest(method, admin.URL+path, strings.NewReader(body))
		resp, err := admin.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		msg, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(msg), tokenA) {
			t.Errorf("%s %s: the answer quotes the token", method, path)
		}
		return resp.StatusCode
	}
	expect := func(got, want int, what string) {
		t.Helper()
		if got != want {
			t.Errorf("%s: status %d, want %d", what, got, want)
		}
	}

	expect(adminDo("POST", "/tokens", `{"token":"`+tokenA+`","orgID":"`+orgA+`"}`), 204, "add token")
	resp, body := getMe(t, c, meURL, tokenA)
	checkOrg(t, resp, body, orgA)

	expect(adminDo("POST", "/behavior?mode=ratelimited&retryAfter=9", ""), 204, "global rate limit")
	resp, body = getMe(t, c, meURL, tokenA)
	checkProblem(t, resp, body, http.StatusTooManyRequests)
	if resp.Header.Get("Retry-After") != "9" {
		t.Errorf("Retry-After = %q, want 9", resp.Header.Get("Retry-After"))
	}
	expect(adminDo("POST", "/behavior?mode=outage&status=500", ""), 204, "outage")
	resp, body = getMe(t, c, meURL, tokenA)
	checkProblem(t, resp, body, http.StatusInternalServerError)
	expect(adminDo("POST", "/behavior?mode=normal", ""), 204, "outage over")
	expect(adminDo("POST", "/behavior?mode=forbidden", `{"token":"`+tokenA+`"}`), 204, "token forbidden")
	resp, body = getMe(t, c, meURL, tokenA)
	checkProblem(t, resp, body, http.StatusForbidden)
	expect(adminDo("POST", "/behavior?mode=normal", `{"token":"`+tokenA+`"}`), 204, "token normal")

	expect(adminDo("POST", "/behavior?mode=sideways", ""), 400, "unknown mode")
	expect(adminDo("POST", "/behavior?mode=servererror&status=404", ""), 400, "bad status")
	expect(adminDo("POST", "/tokens", `{"token":"`+tokenA+`"`), 400, "malformed body")
	expect(adminDo("POST", "/tokens", `{"token":"`+tokenA+`"}`), 400, "missing orgID")
	expect(adminDo("GET", "/tokens", ""), 405, "wrong method")

	expect(adminDo("DELETE", "/tokens", `{"token":"`+tokenA+`"}`), 204, "revoke")
	resp, body = getMe(t, c, meURL, tokenA)
	checkProblem(t, resp, body, http.StatusUnauthorized)

	report := getCallsReport(t, admin.Client(), admin.URL)
	if report.Total != 5 || report.PerToken[TokenHash(tokenA)] != 5 || report.LastHost != "global.api.konghq.com" || report.LastUserAgent != testAgent {
		t.Errorf("calls report = %+v", report)
	}

	expect(adminDo("POST", "/reset", ""), 204, "reset")
	if srv.Calls() != 0 {
		t.Errorf("Calls after /reset = %d", srv.Calls())
	}
}

func TestParseMode(t *testing.T) {
	for m := ModeNormal; m <= ModeSlowBody; m++ {
		got, err := ParseMode(m.String())
		if err != nil || got != m {
			t.Errorf("ParseMode(%q) = %v, %v; want %v", m.String(), got, err, m)
		}
	}
	for in, want := range map[string]Mode{"Rate-Limited": ModeRateLimited, "server_error": ModeServerError, "outage": ModeServerError, "": ModeNormal, "SlowBody": ModeSlowBody} {
		if got, err := ParseMode(in); err != nil || got != want {
			t.Errorf("ParseMode(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := ParseMode("sideways"); err == nil {
		t.Error("ParseMode(sideways) succeeded")
	}
}
