// Package fakekonnect is a fake Kong Konnect for tests that must reach it through the real
// code path: the Konnect SDK always sends its token check, GET /v3/organizations/me, to
// https://global.api.konghq.com, so the fake is reached below the SDK, through the standard
// proxy environment.
//
// Start generates a throwaway CA and a serving certificate for *.konghq.com, serves the
// Konnect API over TLS on loopback, and runs a CONNECT proxy on loopback that tunnels
// *.konghq.com:443 (and nothing else) to that TLS server. A process started with Env()
// appended to its environment (HTTPS_PROXY and SSL_CERT_FILE) then talks to the fake
// when it believes it talks to Konnect. In-process clients use Transport instead, because
// net/http and crypto/x509 read those variables only once per process.
//
// The fake answers registered tokens (AddToken) with their organization and everything
// else with 401, can be switched to other answers (SetBehavior, SetTokenBehavior), and
// counts the requests it receives per token. Tokens are only ever stored, logged or
// reported as their SHA-256 hash (TokenHash, ShortTokenHash).
//
// On the regional hosts (us.api.konghq.com and the other Regions) it also serves Konnect's
// control planes, their data-plane client certificates and control-plane groups' members under
// /v2/control-planes, per organization and region (controlplanes.go, dpcertificates.go,
// groups.go); tests seed and inspect them with AddControlPlane, ControlPlanes,
// DeleteControlPlaneDirect, AddCertificate, Certificates, GroupMembers and
// SetGroupMembersDirect. Every API request is logged (Requests, CountRequests) with its method, host,
// path, query, token hash and status.
package fakekonnect

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// CAFileName is the name of the CA certificate file Start writes into Options.Dir.
const CAFileName = "ca.pem"

// Options configure Start.
type Options struct {
	// Dir is the directory CAFileName is written to (made absolute); it is created if
	// missing and left in place by Close, which removes only the file. Empty means a new temporary
	// directory that Close removes entirely.
	Dir string
	// Tokens are registered before the server starts, as if by AddToken: token → org ID.
	Tokens map[string]string
	// Logf, when set, receives one line per request and per refused proxy request. Tokens
	// appear only as a short hash prefix.
	Logf func(format string, args ...any)
	// MaxLoggedRequests bounds the request log (Requests); 0 means
	// DefaultMaxLoggedRequests, a negative number keeps no log (counts are kept anyway).
	MaxLoggedRequests int
	// Wrap, when set, wraps the API handler the TLS server serves behind the proxy, for a
	// harness that records or spoils what passes (Handler stays the unwrapped API).
	Wrap func(api http.Handler) http.Handler
}

// Server is a running fake Konnect: a TLS server for the Konnect API and a CONNECT proxy
// in front of it, both on loopback. All methods are safe for concurrent use.
type Server struct {
	logf    func(format string, args ...any)
	started time.Time

	dir     string
	ownsDir bool
	caFile  string
	caPEM   []byte

	tlsLn     net.Listener
	httpSrv   *http.Server
	serveDone chan struct{}
	connWG    sync.WaitGroup // one per TLS connection, until its goroutine ends
	proxy     *connectProxy
	api       http.Handler

	closeOnce sync.Once
	closing   chan struct{} // closed when Close starts; unblocks hanging and slow answers

	total atomic.Int64

	mu             sync.Mutex
	closed         bool
	handlers       sync.WaitGroup // API requests in progress
	orgs           map[string]organization
	tokenBehaviors map[string]Behavior
	global         Behavior
	calls          map[string]int64
	callTimes      map[string][]time.Time
	lastUserAgent  string
	lastHost       string

	requests        []*Request // the request log, oldest first
	droppedRequests int64
	maxLogged       int // the log's size; 0 or less: no log

	controlPlanes map[string]*cpRecord     // by ID, across organizations and regions
	cpSeq         int64                    // the last control plane's creation number
	certificates  map[string][]*certRecord // by control-plane ID, oldest first
	groupMembers  map[string][]string      // member IDs by group ID, sorted (groups.go)
}

// Start generates the certificates, writes the CA file and starts the TLS server and the
// proxy. Close the returned Server when done.
func Start(opts Options) (_ *Server, err error) {
	now := time.Now()
	certs, err := newCertificates(now)
	if err != nil {
		return nil, err
	}

	s := &Server{
		logf:           opts.Logf,
		started:        now,
		caPEM:          certs.caPEM,
		serveDone:      make(chan struct{}),
		closing:        make(chan struct{}),
		orgs:           map[string]organization{},
		tokenBehaviors: map[string]Behavior{},
		calls:          map[string]int64{},
		callTimes:      map[string][]time.Time{},
		controlPlanes:  map[string]*cpRecord{},
		certificates:   map[string][]*certRecord{},
		groupMembers:   map[string][]string{},
		maxLogged:      opts.MaxLoggedRequests,
	}
	if s.maxLogged == 0 {
		s.maxLogged = DefaultMaxLoggedRequests
	}
	if s.logf == nil {
		s.logf = func(string, ...any) {}
	}
	s.api = http.HandlerFunc(s.serveAPI)
	for token, orgID := range opts.Tokens {
		s.AddToken(token, orgID)
	}

	if opts.Dir == "" {
		if s.dir, err = os.MkdirTemp("", "fakekonnect-"); err != nil {
			return nil, fmt.Errorf("creating a directory for the CA file: %w", err)
		}
		s.ownsDir = true
	} else {
		// Absolute, so that SSL_CERT_FILE means the same file in a child with another cwd.
		if s.dir, err = filepath.Abs(opts.Dir); err != nil {
			return nil, fmt.Errorf("resolving the directory for the CA file: %w", err)
		}
		if err := os.MkdirAll(s.dir, 0o755); err != nil {
			return nil, fmt.Errorf("creating the directory for the CA file: %w", err)
		}
	}
	s.caFile = filepath.Join(s.dir, CAFileName)
	defer func() {
		if err != nil {
			s.removeFiles()
		}
	}()
	if err := os.WriteFile(s.caFile, s.caPEM, 0o644); err != nil {
		return nil, fmt.Errorf("writing the CA file: %w", err)
	}

	if s.tlsLn, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		return nil, fmt.Errorf("listening for the TLS server: %w", err)
	}
	if s.proxy, err = newConnectProxy(s.tlsLn.Addr().String(), s.logf); err != nil {
		s.tlsLn.Close()
		return nil, err
	}

	served := s.api
	if opts.Wrap != nil {
		served = opts.Wrap(s.api)
	}
	s.httpSrv = &http.Server{
		Handler: served,
		TLSConfig: &tls.Config{
			Certificates: []tls.Certificate{certs.serving},
			MinVersion:   tls.VersionTLS12,
		},
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          log.New(logfWriter(s.logf), "tls server: ", 0),
		ConnState:         s.trackConn,
	}
	go func() {
		defer close(s.serveDone)
		// ServeTLS (rather than Serve on a tls.Listener) also offers HTTP/2, as Konnect does.
		_ = s.httpSrv.ServeTLS(s.tlsLn, "", "")
	}()
	s.proxy.start()
	return s, nil
}

// trackConn counts the TLS server's connection goroutines so Close can wait for them.
func (s *Server) trackConn(_ net.Conn, state http.ConnState) {
	switch state {
	case http.StateNew:
		s.connWG.Add(1)
	case http.StateHijacked, http.StateClosed:
		s.connWG.Done()
	}
}

// Close stops the proxy and the TLS server, aborts hanging and slow answers, waits for
// every goroutine the Server started, and removes its files. It is safe to call more than
// once.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		close(s.closing)
		s.mu.Unlock()

		s.proxy.close()
		_ = s.httpSrv.Close()
		<-s.serveDone
		// Serve has returned, so no connection can be added any more; ServeTLS may not have
		// reached Serve (which closes the listener) if Close came very early.
		s.tlsLn.Close()
		s.connWG.Wait()
		s.handlers.Wait()
		s.removeFiles()
	})
}

// removeFiles removes the CA file, and the directory too when the Server created it.
func (s *Server) removeFiles() {
	if s.ownsDir {
		_ = os.RemoveAll(s.dir)
		return
	}
	if s.caFile != "" {
		_ = os.Remove(s.caFile)
	}
}

// CAFile is the path of the PEM file holding the throwaway CA that signed the serving
// certificate: the value for SSL_CERT_FILE.
func (s *Server) CAFile() string { return s.caFile }

// CAPEM returns the throwaway CA certificate in PEM form, for building an in-process trust
// pool without reading CAFile.
func (s *Server) CAPEM() []byte { return append([]byte(nil), s.caPEM...) }

// ProxyURL is the CONNECT proxy's URL, e.g. http://127.0.0.1:41234: the value for
// HTTPS_PROXY.
func (s *Server) ProxyURL() string { return "http://" + s.proxy.ln.Addr().String() }

// Env returns the environment entries that route a child process's Konnect traffic to the
// fake: HTTPS_PROXY and https_proxy (the proxy), NO_PROXY and no_proxy (loopback, so that
// kube-apiserver traffic is not proxied) and SSL_CERT_FILE (the CA file). Append them to
// os.Environ() for exec.Cmd.Env; os/exec uses the last value of a repeated key.
func (s *Server) Env() []string {
	const noProxy = "127.0.0.1,localhost"
	return []string{
		"HTTPS_PROXY=" + s.ProxyURL(),
		"https_proxy=" + s.ProxyURL(),
		"NO_PROXY=" + noProxy,
		"no_proxy=" + noProxy,
		"SSL_CERT_FILE=" + s.caFile,
	}
}

// Transport returns a new clone of http.DefaultTransport that goes through the fake's proxy
// and trusts only its CA, for in-process clients (the environment is read once per process,
// so Env cannot redirect the calling process).
func (s *Server) Transport() *http.Transport {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(s.caPEM)
	proxyURL, _ := url.Parse(s.ProxyURL())
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.Proxy = http.ProxyURL(proxyURL)
	t.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return t
}

// Handler returns the fake Konnect API as a plain handler, for serving it in-process (for
// example with httptest) without TLS or the proxy. Its requests are counted and controlled
// like those that arrive over TLS. The control-plane endpoints need a regional Host header
// (e.g. req.Host = "us.api.konghq.com"). After Close it answers 503.
func (s *Server) Handler() http.Handler { return s.api }

// AddToken registers token as valid for the organization orgID, replacing any earlier
// registration. The organization's other fields are made up: name "Fake Org <orgID>", a
// fixed owner ID derived from orgID, state "active", 90 days of retention.
func (s *Server) AddToken(token, orgID string) {
	org := s.newOrganization(orgID)
	s.mu.Lock()
	s.orgs[TokenHash(token)] = org
	s.mu.Unlock()
}

// RevokeToken makes token unknown again, so that it gets 401. Counts are kept.
func (s *Server) RevokeToken(token string) {
	s.mu.Lock()
	delete(s.orgs, TokenHash(token))
	s.mu.Unlock()
}

// SetTokenBehavior overrides the answers to token, whether registered or not.
// BehaviorNormal removes the override. A global behavior (SetBehavior) takes precedence.
func (s *Server) SetTokenBehavior(token string, b Behavior) {
	h := TokenHash(token)
	s.mu.Lock()
	defer s.mu.Unlock()
	if b.isOverride() {
		s.tokenBehaviors[h] = b
	} else {
		delete(s.tokenBehaviors, h)
	}
}

// SetBehavior overrides the answers to every request, ahead of per-token behaviors; an
// outage is SetBehavior(Behavior{Mode: ModeServerError}). BehaviorNormal removes the
// override. Requests already hanging keep hanging.
func (s *Server) SetBehavior(b Behavior) {
	s.mu.Lock()
	s.global = b
	s.mu.Unlock()
}

// Calls is the number of requests the fake Konnect API received since Start or the last
// ResetCounts, whatever their token, path or answer.
func (s *Server) Calls() int64 { return s.total.Load() }

// CallsFor is the number of those requests that carried token as their bearer token ("" for
// none).
func (s *Server) CallsFor(token string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[TokenHash(token)]
}

// CallTimes returns when each request carrying token arrived, oldest first, e.g. to assert
// that no call came before a Retry-After deadline.
func (s *Server) CallTimes(token string) []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Time(nil), s.callTimes[TokenHash(token)]...)
}

// ResetCounts forgets every request seen so far: counts, call times, the last User-Agent and
// Host, and the request log (ResetRequests empties only the log). Tokens, behaviors,
// control planes and certificates stay.
func (s *Server) ResetCounts() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.total.Store(0)
	clear(s.calls)
	clear(s.callTimes)
	s.lastUserAgent, s.lastHost = "", ""
	s.resetRequestsLocked()
}

// LastUserAgent is the User-Agent header of the latest request, "" before any.
func (s *Server) LastUserAgent() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastUserAgent
}

// LastHost is the Host header (HTTP/2 :authority) of the latest request, which the SDK
// sets to global.api.konghq.com; "" before any.
func (s *Server) LastHost() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastHost
}

// RefusedConnects is how many CONNECT requests the proxy refused because they named a
// destination other than *.konghq.com:443.
func (s *Server) RefusedConnects() int64 { return s.proxy.refused.Load() }

// TokenHash is the hex SHA-256 of token: the only form in which the fake keeps, logs or
// reports tokens (for example as the keys of the admin /calls answer).
func TokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// shortHash abbreviates a token hash for log lines.
func shortHash(h string) string { return "sha256:" + h[:12] }

// callCounts returns a snapshot of the per-token-hash counts.
func (s *Server) callCounts() map[string]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int64, len(s.calls))
	for h, n := range s.calls {
		out[h] = n
	}
	return out
}

// logfWriter adapts a Logf function to the io.Writer a log.Logger needs.
type logfWriter func(format string, args ...any)

func (f logfWriter) Write(p []byte) (int, error) {
	f("%s", strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
