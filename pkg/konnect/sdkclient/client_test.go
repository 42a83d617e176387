package sdkclient

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/konnect"
)

const (
	testToken     = "kpat_SECRETSECRET"
	testServerURL = "https://eu.api.konghq.com"
	testOrgID     = "3f1c1a9e-2b7d-4c55-9a1e-6f0e8d2b7c41"
	testUserAgent = "konnect-auth-controller/v0.0.0-test"
)

// fakeKonnect is a TLS server that answers /v3/organizations/me as the handler says and
// remembers what the last request carried.
type fakeKonnect struct {
	srv *httptest.Server

	mu      sync.Mutex
	handler http.HandlerFunc
	reqs    []*http.Request
}

func newFakeKonnect(t *testing.T) *fakeKonnect {
	t.Helper()
	f := &fakeKonnect{}
	f.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.reqs = append(f.reqs, r.Clone(context.Background()))
		h := f.handler
		f.mu.Unlock()
		if r.URL.Path != "/v3/organizations/me" {
			http.Error(w, "unexpected path "+r.URL.Path, http.StatusTeapot)
			return
		}
		if h == nil {
			writeOrg(w, r)
			return
		}
		h(w, r)
	}))
	// The TLS tests make handshakes fail on purpose; keep the server quiet about it.
	f.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	f.srv.StartTLS()
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeKonnect) set(h http.HandlerFunc) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.handler = h
	f.reqs = nil
}

func (f *fakeKonnect) requests() []*http.Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*http.Request(nil), f.reqs...)
}

// transport dials the fake whatever host the request names, and trusts its certificate.
// Only a unit test may do this; the SDK would otherwise send the token to the real Konnect.
func (f *fakeKonnect) transport() *http.Transport { return dialingTransport(f.srv) }

// dialingTransport dials srv whatever host a request names, and trusts srv's certificate.
func dialingTransport(srv *httptest.Server) *http.Transport {
	tr := srv.Client().Transport.(*http.Transport).Clone()
	tr.Proxy = nil
	addr := srv.Listener.Addr().String()
	tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
	// httptest's certificate names example.com; verify against that name.
	tr.TLSClientConfig.ServerName = "example.com"
	return tr
}

func (f *fakeKonnect) client(timeout time.Duration) *Client {
	return New(Options{Timeout: timeout, UserAgent: testUserAgent, Transport: f.transport()})
}

func writeOrg(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`{"id":"` + testOrgID + `","name":"Acme","owner_id":"8b0a5f43-1111-4e1e-9d9b-000000000000","login_path":"acme","created_at":"2024-01-01T00:00:00Z","updated_at":"2024-01-02T00:00:00Z","state":"active","retention_period_days":90}`))
}

func reply(status int, contentType, body string, headers ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if contentType != "" {
			w.Header().Set("Content-Type", contentType)
		}
		for i := 0; i+1 < len(headers); i += 2 {
			w.Header().Set(headers[i], headers[i+1])
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}
}

func problem(status int, title, detail string) string {
	return `{"status":` + itoa(status) + `,"title":"` + title + `","type":"https://httpstatuses.com/` + itoa(status) +
		`","instance":"kong:trace:1234567890","detail":"` + detail + `"}`
}

func itoa(i int) string { return strconv.Itoa(i) }

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// assertNoToken fails when any part of r could carry the token.
func assertNoToken(t *testing.T, r konnect.Result) {
	t.Helper()
	for _, s := range []string{r.Message, r.OrganizationID} {
		if strings.Contains(s, testToken) || strings.Contains(s, "SECRETSECRET") {
			t.Fatalf("result leaks the token: %+v", r)
		}
	}
}

func TestValidateStatuses(t *testing.T) {
	f := newFakeKonnect(t)
	c := f.client(5 * time.Second)
	echo := "your token " + testToken + " was refused; Authorization: Bearer " + testToken

	tests := []struct {
		name        string
		handler     http.HandlerFunc
		verdict     konnect.Verdict
		status      int
		message     string // exact, when set
		contains    string
		orgID       string
		retryAfter  time.Duration
		noRedirects bool
	}{
		{name: "200 ok", handler: writeOrg, verdict: konnect.VerdictValid, status: 200, orgID: testOrgID,
			message: "Konnect accepted the token"},
		{name: "200 with charset", handler: reply(200, "application/json; charset=utf-8", `{"id":"`+testOrgID+`"}`),
			verdict: konnect.VerdictValid, status: 200, orgID: testOrgID},
		{name: "200 empty object", handler: reply(200, "application/json", `{}`),
			verdict: konnect.VerdictInvalidResponse, status: 200, message: "Konnect answered 200 without an organization id"},
		{name: "200 empty id", handler: reply(200, "application/json", `{"id":""}`),
			verdict: konnect.VerdictInvalidResponse, status: 200, message: "Konnect answered 200 without an organization id"},
		{name: "200 null id", handler: reply(200, "application/json", `{"id":null}`),
			verdict: konnect.VerdictInvalidResponse, status: 200, message: "Konnect answered 200 without an organization id"},
		{name: "200 id echoes token", handler: reply(200, "application/json", `{"id":"`+testToken+`"}`),
			verdict: konnect.VerdictInvalidResponse, status: 200, contains: "malformed organization id"},
		{name: "200 id with control chars", handler: reply(200, "application/json", `{"id":"a\nb"}`),
			verdict: konnect.VerdictInvalidResponse, status: 200, contains: "malformed organization id"},
		{name: "200 bad json", handler: reply(200, "application/json", `{"id": "`+testToken),
			verdict: konnect.VerdictInvalidResponse, status: 200, message: "Konnect answered 200 with a body that is not a valid organization"},
		{name: "200 wrong type in json", handler: reply(200, "application/json", `{"id": 42, "created_at": "`+testToken+`"}`),
			verdict: konnect.VerdictInvalidResponse, status: 200},
		{name: "200 html", handler: reply(200, "text/html", "<html>"+echo+"</html>"),
			verdict: konnect.VerdictInvalidResponse, status: 200, message: `Konnect answered 200 with unexpected content type "text/html"`},
		{name: "200 content type echoes token", handler: reply(200, "text/"+testToken, "x"),
			verdict: konnect.VerdictInvalidResponse, status: 200, contains: "[redacted]"},
		{name: "200 huge body", handler: reply(200, "application/json", `{"id":"`+testOrgID+`","name":"`+strings.Repeat("a", 2<<20)+`"}`),
			verdict: konnect.VerdictInvalidResponse, status: 200, message: "Konnect answered 200 with a body larger than 1 MiB"},
		{name: "204", handler: reply(204, "", ""),
			verdict: konnect.VerdictInvalidResponse, status: 204, contains: "unexpected status 204"},
		{name: "302 not followed", handler: reply(302, "text/html", echo, "Location", "https://evil.example/steal"),
			verdict: konnect.VerdictInvalidResponse, status: 302, contains: "unexpected status 302 Found", noRedirects: true},
		{name: "401 problem", handler: reply(401, "application/problem+json", problem(401, "Unauthorized", "Invalid credentials")),
			verdict: konnect.VerdictInvalid, status: 401, message: "Konnect refused the token (401 Unauthorized): Invalid credentials"},
		{name: "401 problem title only", handler: reply(401, "application/problem+json", `{"status":401,"title":"Token expired"}`),
			verdict: konnect.VerdictInvalid, status: 401, message: "Konnect refused the token (401 Unauthorized): Token expired"},
		{name: "401 problem echoes token", handler: reply(401, "application/problem+json", problem(401, "Unauthorized", echo)),
			verdict: konnect.VerdictInvalid, status: 401, contains: "[redacted]"},
		{name: "401 problem not json", handler: reply(401, "application/problem+json", echo),
			verdict: konnect.VerdictInvalid, status: 401, message: "Konnect refused the token (401 Unauthorized)"},
		{name: "401 plain text", handler: reply(401, "text/plain", echo),
			verdict: konnect.VerdictInvalid, status: 401, message: "Konnect refused the token (401 Unauthorized)"},
		{name: "401 json problem", handler: reply(401, "application/json", problem(401, "Unauthorized", "Invalid credentials")),
			verdict: konnect.VerdictInvalid, status: 401, message: "Konnect refused the token (401 Unauthorized): Invalid credentials"},
		{name: "401 long detail", handler: reply(401, "application/problem+json", problem(401, "Unauthorized", strings.Repeat("x", 5000))),
			verdict: konnect.VerdictInvalid, status: 401, contains: "…"},
		{name: "403 problem", handler: reply(403, "application/problem+json", problem(403, "Forbidden", "Organization is inactive")),
			verdict: konnect.VerdictForbidden, status: 403, message: "Konnect refused the token (403 Forbidden): Organization is inactive"},
		{name: "403 echoes token", handler: reply(403, "text/plain", echo),
			verdict: konnect.VerdictForbidden, status: 403, message: "Konnect refused the token (403 Forbidden)"},
		{name: "404", handler: reply(404, "application/problem+json", problem(404, "Not Found", "No route")),
			verdict: konnect.VerdictInvalidResponse, status: 404, message: "Konnect answered 404 Not Found: No route"},
		{name: "400 echoes token", handler: reply(400, "text/plain", echo),
			verdict: konnect.VerdictInvalidResponse, status: 400, message: "Konnect answered 400 Bad Request"},
		{name: "408", handler: reply(408, "", ""),
			verdict: konnect.VerdictUnavailable, status: 408, message: "Konnect answered 408 Request Timeout"},
		{name: "429 seconds", handler: reply(429, "application/problem+json", problem(429, "Too Many Requests", ""), "Retry-After", "30"),
			verdict: konnect.VerdictUnavailable, status: 429, message: "Konnect answered 429 Too Many Requests", retryAfter: 30 * time.Second},
		{name: "429 capped", handler: reply(429, "", "", "Retry-After", "86400"),
			verdict: konnect.VerdictUnavailable, status: 429, retryAfter: time.Hour},
		{name: "429 garbage", handler: reply(429, "", "", "Retry-After", "soon"),
			verdict: konnect.VerdictUnavailable, status: 429, retryAfter: 0},
		{name: "429 no header", handler: reply(429, "text/plain", echo),
			verdict: konnect.VerdictUnavailable, status: 429, retryAfter: 0},
		{name: "500", handler: reply(500, "text/html", "<h1>"+echo+"</h1>"),
			verdict: konnect.VerdictUnavailable, status: 500, message: "Konnect answered 500 Internal Server Error"},
		{name: "502", handler: reply(502, "", ""),
			verdict: konnect.VerdictUnavailable, status: 502, message: "Konnect answered 502 Bad Gateway"},
		{name: "503 retry after", handler: reply(503, "text/plain", echo, "Retry-After", "7"),
			verdict: konnect.VerdictUnavailable, status: 503, message: "Konnect answered 503 Service Unavailable", retryAfter: 7 * time.Second},
		{name: "503 problem echoes token", handler: reply(503, "application/problem+json", problem(503, "Service Unavailable", echo)),
			verdict: konnect.VerdictUnavailable, status: 503, contains: "[redacted]"},
		{name: "504 huge body", handler: reply(504, "text/html", strings.Repeat("<p>", 1<<20)),
			verdict: konnect.VerdictUnavailable, status: 504, message: "Konnect answered 504 Gateway Timeout"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f.set(tc.handler)
			r := c.Validate(context.Background(), testToken, testServerURL)
			t.Logf("Message: %s", r.Message)
			assertNoToken(t, r)
			if r.Verdict != tc.verdict || r.StatusCode != tc.status {
				t.Fatalf("got %v/%d (%q), want %v/%d", r.Verdict, r.StatusCode, r.Message, tc.verdict, tc.status)
			}
			if tc.message != "" && r.Message != tc.message {
				t.Errorf("Message = %q, want %q", r.Message, tc.message)
			}
			if tc.contains != "" && !strings.Contains(r.Message, tc.contains) {
				t.Errorf("Message = %q, want it to contain %q", r.Message, tc.contains)
			}
			if r.Message == "" {
				t.Error("empty Message")
			}
			if len([]rune(r.Message)) > maxMessageRunes {
				t.Errorf("Message has %d runes", len([]rune(r.Message)))
			}
			if r.OrganizationID != tc.orgID {
				t.Errorf("OrganizationID = %q, want %q", r.OrganizationID, tc.orgID)
			}
			if r.RetryAfter != tc.retryAfter {
				t.Errorf("RetryAfter = %v, want %v", r.RetryAfter, tc.retryAfter)
			}
			if n := len(f.requests()); n != 1 {
				t.Errorf("%d requests reached the fake, want 1", n)
			}
		})
	}
}

func TestValidateRequest(t *testing.T) {
	f := newFakeKonnect(t)
	c := f.client(5 * time.Second)
	r := c.Validate(context.Background(), testToken, testServerURL)
	if r.Verdict != konnect.VerdictValid {
		t.Fatalf("got %+v", r)
	}
	reqs := f.requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want 1", len(reqs))
	}
	req := reqs[0]
	checks := map[string][2]string{
		"Authorization": {req.Header.Get("Authorization"), "Bearer " + testToken},
		"User-Agent":    {req.Header.Get("User-Agent"), testUserAgent},
		"Accept":        {req.Header.Get("Accept"), "application/json"},
		"method":        {req.Method, http.MethodGet},
		"path":          {req.URL.Path, "/v3/organizations/me"},
		// The SDK checks every token at the global API, whatever region serverURL names.
		"host": {req.Host, "global.api.konghq.com"},
	}
	for what, got := range checks {
		if got[0] != got[1] {
			t.Errorf("%s = %q, want %q", what, got[0], got[1])
		}
	}
	if req.TLS == nil {
		t.Error("request did not use TLS")
	}
}

func TestValidateSystemAccountToken(t *testing.T) {
	f := newFakeKonnect(t)
	c := f.client(5 * time.Second)
	const spat = "spat_SYSTEMACCOUNTTOKEN"
	if r := c.Validate(context.Background(), spat, "https://us.api.konghq.com"); r.Verdict != konnect.VerdictValid {
		t.Fatalf("got %+v", r)
	}
	if got := f.requests()[0].Header.Get("Authorization"); got != "Bearer "+spat {
		t.Fatalf("Authorization = %q", got)
	}
}

func TestValidateDefaultUserAgent(t *testing.T) {
	f := newFakeKonnect(t)
	c := New(Options{Transport: f.transport()})
	c.Validate(context.Background(), testToken, testServerURL)
	if got := f.requests()[0].Header.Get("User-Agent"); got != DefaultUserAgent {
		t.Fatalf("User-Agent = %q, want %q", got, DefaultUserAgent)
	}
}

func TestValidateMalformedTokenIsNotSent(t *testing.T) {
	f := newFakeKonnect(t)
	c := f.client(5 * time.Second)
	for _, tok := range []string{"", "kpat_abc\n", "kpat_a b", "kpat_\x00", "kpat_é"} {
		r := c.Validate(context.Background(), tok, testServerURL)
		if r.Verdict != konnect.VerdictInvalid || r.StatusCode != 0 || r.Message == "" {
			t.Errorf("token %q: got %+v, want Invalid without a call", tok, r)
		}
	}
	if n := len(f.requests()); n != 0 {
		t.Fatalf("%d requests were sent", n)
	}
}

func TestValidateRetryAfterHTTPDate(t *testing.T) {
	f := newFakeKonnect(t)
	c := f.client(5 * time.Second)
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	c.now = func() time.Time { return now }
	f.set(reply(429, "", "", "Retry-After", now.Add(2*time.Minute).Format(http.TimeFormat)))
	r := c.Validate(context.Background(), testToken, testServerURL)
	if r.Verdict != konnect.VerdictUnavailable || r.RetryAfter != 2*time.Minute {
		t.Fatalf("got %v RetryAfter %v, want Unavailable 2m", r.Verdict, r.RetryAfter)
	}
}

func TestValidateTimeout(t *testing.T) {
	f := newFakeKonnect(t)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	f.set(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	c := f.client(300 * time.Millisecond)
	start := time.Now()
	r := c.Validate(context.Background(), testToken, testServerURL)
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Fatalf("Validate took %v with a 300ms timeout", elapsed)
	}
	assertNoToken(t, r)
	if r.Verdict != konnect.VerdictUnavailable || r.StatusCode != 0 {
		t.Fatalf("got %+v, want Unavailable without status", r)
	}
	if want := "Konnect did not answer in time: timed out after 300ms"; r.Message != want {
		t.Fatalf("Message = %q, want %q", r.Message, want)
	}
}

func TestValidateSlowBodyTimesOut(t *testing.T) {
	f := newFakeKonnect(t)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	f.set(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(200)
		_, _ = w.Write([]byte(`{"id":`))
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	r := f.client(300*time.Millisecond).Validate(context.Background(), testToken, testServerURL)
	if r.Verdict != konnect.VerdictUnavailable || !strings.Contains(r.Message, "timed out") {
		t.Fatalf("got %+v, want Unavailable timeout", r)
	}
}

func TestValidateCallerContext(t *testing.T) {
	f := newFakeKonnect(t)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	f.set(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	c := f.client(10 * time.Second)

	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	r := c.Validate(ctx, testToken, testServerURL)
	if r.Verdict != konnect.VerdictUnavailable || !strings.Contains(r.Message, "canceled") {
		t.Fatalf("canceled: got %+v", r)
	}

	ctx, cancel = context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	r = c.Validate(ctx, testToken, testServerURL)
	if r.Verdict != konnect.VerdictUnavailable || !strings.Contains(r.Message, "deadline") {
		t.Fatalf("deadline: got %+v", r)
	}
}

func TestValidateNetworkErrors(t *testing.T) {
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := closed.Addr().String()
	_ = closed.Close()

	f := newFakeKonnect(t)
	dialTo := func(addr string) func(context.Context, string, string) (net.Conn, error) {
		return func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		}
	}

	// A server that closes every connection as soon as it is accepted.
	hangup, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = hangup.Close() })
	go func() {
		for {
			conn, err := hangup.Accept()
			if err != nil {
				return
			}
			_ = conn.Close()
		}
	}()

	// A server that speaks plain HTTP where TLS is expected.
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(plain.Close)

	// A proxy that refuses every CONNECT.
	refusingProxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "not allowed: "+r.Header.Get("Authorization"), http.StatusForbidden)
	}))
	t.Cleanup(refusingProxy.Close)

	tests := []struct {
		name      string
		transport func() *http.Transport
		contains  string
	}{
		{"connection refused", func() *http.Transport {
			tr := f.transport()
			tr.DialContext = dialTo(closedAddr)
			return tr
		}, "cannot reach Konnect: connection refused"},
		{"dns", func() *http.Transport {
			tr := f.transport()
			tr.DialContext = func(context.Context, string, string) (net.Conn, error) {
				return nil, &net.DNSError{Err: "no such host", Name: "global.api.konghq.com", IsNotFound: true}
			}
			return tr
		}, "cannot reach Konnect: DNS lookup of global.api.konghq.com failed: no such host"},
		{"untrusted certificate", func() *http.Transport {
			tr := f.transport()
			tr.TLSClientConfig = &tls.Config{ServerName: "example.com"} // system roots only
			return tr
		}, "TLS handshake with Konnect failed"},
		{"wrong host name", func() *http.Transport {
			tr := f.transport()
			tr.TLSClientConfig.ServerName = "" // the certificate is not for global.api.konghq.com
			return tr
		}, "TLS handshake with Konnect failed"},
		{"not TLS", func() *http.Transport {
			tr := f.transport()
			tr.DialContext = dialTo(plain.Listener.Addr().String())
			return tr
		}, "server gave HTTP response to HTTPS client"},
		{"hang up", func() *http.Transport {
			tr := f.transport()
			tr.DialContext = dialTo(hangup.Addr().String())
			return tr
		}, "cannot reach Konnect"},
		{"proxy refused", func() *http.Transport {
			tr := f.transport()
			tr.DialContext = nil
			tr.Proxy = http.ProxyURL(mustURL(t, "http://"+closedAddr))
			return tr
		}, "cannot reach the HTTPS proxy: connection refused"},
		{"proxy refuses CONNECT", func() *http.Transport {
			tr := f.transport()
			tr.DialContext = nil
			tr.Proxy = http.ProxyURL(mustURL(t, refusingProxy.URL))
			return tr
		}, "the HTTPS proxy refused to connect to Konnect: 403 Forbidden"},
		{"other error", func() *http.Transport {
			tr := f.transport()
			tr.DialContext = func(context.Context, string, string) (net.Conn, error) {
				return nil, errors.New("dialer says no to " + testToken)
			}
			return tr
		}, "dialer says no to [redacted]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := New(Options{Timeout: 5 * time.Second, Transport: tc.transport()})
			r := c.Validate(context.Background(), testToken, testServerURL)
			t.Logf("Message: %s", r.Message)
			assertNoToken(t, r)
			if r.Verdict != konnect.VerdictUnavailable || r.StatusCode != 0 {
				t.Fatalf("got %+v, want Unavailable without status", r)
			}
			if !strings.Contains(r.Message, tc.contains) {
				t.Fatalf("Message = %q, want it to contain %q", r.Message, tc.contains)
			}
			if strings.Contains(r.Message, "127.0.0.1") {
				t.Errorf("Message = %q names an address", r.Message)
			}
		})
	}
}

// TestDefaultTransportCapsConnections: a hundred calls at once (a start with a hundred tokens
// and the Konnect budget's default burst) share at most maxKonnectConns connections instead of
// dialing one TLS connection each, and every call still gets its answer.
func TestDefaultTransportCapsConnections(t *testing.T) {
	const calls = 100
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(20 * time.Millisecond) // long enough that the calls overlap
		writeOrg(w, r)
	}))
	srv.Config.ConnState = func(_ net.Conn, state http.ConnState) {
		if state == http.StateNew {
			conns.Add(1)
		}
	}
	srv.StartTLS()
	defer srv.Close()

	tr := dialingTransport(srv)
	limitConns(tr)
	c := New(Options{Timeout: 30 * time.Second, Transport: tr})
	var wg sync.WaitGroup
	results := make([]konnect.Result, calls)
	for i := range calls {
		wg.Go(func() { results[i] = c.Validate(context.Background(), testToken, testServerURL) })
	}
	wg.Wait()
	for i, r := range results {
		if r.Verdict != konnect.VerdictValid {
			t.Fatalf("call %d: verdict %v (%s), want valid", i, r.Verdict, r.Message)
		}
	}
	if n := conns.Load(); n > maxKonnectConns {
		t.Errorf("%d calls at once opened %d connections, want at most %d", calls, n, maxKonnectConns)
	}
	t.Logf("%d calls at once: %d connections", calls, conns.Load())

	// The production transport carries the same cap.
	if d := defaultTransport().(*http.Transport); d.MaxConnsPerHost != maxKonnectConns || d.MaxIdleConnsPerHost != maxKonnectConns {
		t.Errorf("default transport: MaxConnsPerHost %d, MaxIdleConnsPerHost %d, want %d", d.MaxConnsPerHost, d.MaxIdleConnsPerHost, maxKonnectConns)
	}
}
