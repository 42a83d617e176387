package fakekonnect

import (
	"net/http"
	"net/url"
	"strings"
	"time"
)

// DefaultMaxLoggedRequests is the request log's size when Options.MaxLoggedRequests is 0:
// once it is full, the oldest tenth is dropped (and counted, see DroppedRequests), so a
// long-running fake cannot grow without limit. An entry costs about 250 bytes.
const DefaultMaxLoggedRequests = 100_000

// Request is one API request as the fake's request log keeps it (Server.Requests). It holds
// no header and no body, and the token only as ShortTokenHash.
type Request struct {
	// At is when the request arrived.
	At time.Time `json:"at"`
	// Method is the HTTP method, e.g. "POST".
	Method string `json:"method"`
	// Host is the Host header (HTTP/2 :authority), e.g. "us.api.konghq.com".
	Host string `json:"host"`
	// Path is the URL path, e.g. "/v2/control-planes".
	Path string `json:"path"`
	// Query is the raw (encoded) query string, e.g. "labels=k8s-uid%3Aabc"; Params decodes it.
	Query string `json:"query"`
	// TokenHash is ShortTokenHash of the bearer token (of "" when there was none).
	TokenHash string `json:"tokenHash"`
	// Status is the status code of the answer, or 0 while none has been sent (a request
	// still in progress, hanging, or cut off before its headers).
	Status int `json:"status"`
}

// Params decodes Query; a malformed query gives what url.ParseQuery could read.
func (r Request) Params() url.Values {
	v, _ := url.ParseQuery(r.Query)
	return v
}

// ShortTokenHash is the form in which the request log and the log lines name a token:
// "sha256:" and the first 12 hex digits of TokenHash(token).
func ShortTokenHash(token string) string { return shortHash(TokenHash(token)) }

// logRequest appends a request to the log and returns its entry, to be completed by
// finishRequest; with the log disabled the entry is not kept. The caller holds s.mu.
func (s *Server) logRequest(r *http.Request, hash string, at time.Time) *Request {
	e := &Request{At: at, Method: r.Method, Host: r.Host, Path: r.URL.Path, Query: r.URL.RawQuery}
	if s.maxLogged <= 0 {
		return e
	}
	if len(s.requests) >= s.maxLogged {
		drop := max(s.maxLogged/10, 1)
		s.droppedRequests += int64(drop)
		n := copy(s.requests, s.requests[drop:])
		clear(s.requests[n:])
		s.requests = s.requests[:n]
	}
	// Copies, so a kept entry does not pin the buffers the request was parsed from.
	e.Method = strings.Clone(e.Method)
	e.Host = strings.Clone(e.Host)
	e.Path = strings.Clone(e.Path)
	e.Query = strings.Clone(e.Query)
	e.TokenHash = shortHash(hash)
	s.requests = append(s.requests, e)
	return e
}

// finishRequest records the status an answer went out with. An entry dropped by
// ResetRequests meanwhile is updated harmlessly.
func (s *Server) finishRequest(e *Request, status int) {
	s.mu.Lock()
	e.Status = status
	s.mu.Unlock()
}

// Requests returns every API request received since Start, the last ResetRequests or
// ResetCounts, oldest first (at most Options.MaxLoggedRequests of them). Requests refused by
// the proxy, and admin requests, are not API requests.
func (s *Server) Requests() []Request {
	return s.RequestsMatching("", "")
}

// RequestsMatching returns the logged requests with this method ("" for any) whose path
// matches pathPattern ("" for any), oldest first. In a pattern "*" stands for exactly one
// path segment: "/v2/control-planes/*" matches "/v2/control-planes/<id>" but neither
// "/v2/control-planes" nor "/v2/control-planes/<id>/dp-client-certificates". The query is
// not part of the path.
func (s *Server) RequestsMatching(method, pathPattern string) []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Request
	for _, e := range s.requests {
		if e.matches(method, pathPattern) {
			out = append(out, *e)
		}
	}
	return out
}

// CountRequests is how many logged requests have this method ("" for any) and a path that
// matches pathPattern as RequestsMatching matches, e.g.
// CountRequests("POST", "/v2/control-planes") or
// CountRequests("DELETE", "/v2/control-planes/*/dp-client-certificates/*").
func (s *Server) CountRequests(method, pathPattern string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, e := range s.requests {
		if e.matches(method, pathPattern) {
			n++
		}
	}
	return n
}

// RequestKind is what an API request does, as a benchmark counts Konnect's cost (Request.Kind).
type RequestKind string

// The kinds of request the controller makes, and KindOther for the rest.
const (
	KindTokenCheck   RequestKind = "token-check"  // GET /v3/organizations/me
	KindCreate       RequestKind = "create"       // POST /v2/control-planes
	KindListPage     RequestKind = "list-page"    // GET /v2/control-planes: one page of the list
	KindGet          RequestKind = "get"          // GET /v2/control-planes/{id}
	KindUpdate       RequestKind = "update"       // PATCH /v2/control-planes/{id}
	KindDelete       RequestKind = "delete"       // DELETE /v2/control-planes/{id}
	KindRegistration RequestKind = "registration" // POST …/{id}/dp-client-certificates
	KindCertList     RequestKind = "cert-list"    // GET …/{id}/dp-client-certificates
	KindCertDelete   RequestKind = "cert-delete"  // DELETE …/{id}/dp-client-certificates/{certId}
	KindOther        RequestKind = "other"        // anything else (a certificate's GET, a wrong path)
)

// requestKinds maps a method and path pattern (as RequestsMatching matches them) to a kind.
var requestKinds = []struct {
	method, pattern string
	kind            RequestKind
}{
	{"GET", mePath, KindTokenCheck},
	{"POST", controlPlanesPath, KindCreate},
	{"GET", controlPlanesPath, KindListPage},
	{"GET", controlPlanesPath + "/*", KindGet},
	{"PATCH", controlPlanesPath + "/*", KindUpdate},
	{"DELETE", controlPlanesPath + "/*", KindDelete},
	{"POST", controlPlanesPath + "/*/" + certificatesSegment, KindRegistration},
	{"GET", controlPlanesPath + "/*/" + certificatesSegment, KindCertList},
	{"DELETE", controlPlanesPath + "/*/" + certificatesSegment + "/*", KindCertDelete},
}

// Kind says what the request does, from its method and path.
func (r Request) Kind() RequestKind {
	for _, k := range requestKinds {
		if r.matches(k.method, k.pattern) {
			return k.kind
		}
	}
	return KindOther
}

// IsWrite reports whether the request asks Konnect to change something (any method but GET
// and HEAD).
func (r Request) IsWrite() bool {
	return r.Method != http.MethodGet && r.Method != http.MethodHead
}

// CountByKind counts the logged requests of each kind; a kind with none is absent.
func (s *Server) CountByKind() map[RequestKind]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[RequestKind]int{}
	for _, e := range s.requests {
		out[e.Kind()]++
	}
	return out
}

// ResetRequests empties the request log. Counts (Calls, CallsFor, CallTimes) are kept;
// ResetCounts empties both.
func (s *Server) ResetRequests() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.resetRequestsLocked()
}

func (s *Server) resetRequestsLocked() {
	s.requests = nil
	s.droppedRequests = 0
}

// DroppedRequests is how many requests the log dropped since it was last reset because it
// was full.
func (s *Server) DroppedRequests() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.droppedRequests
}

func (e *Request) matches(method, pathPattern string) bool {
	return (method == "" || strings.EqualFold(method, e.Method)) &&
		(pathPattern == "" || PathMatches(pathPattern, e.Path))
}

// PathMatches reports whether path matches pattern segment by segment, "*" matching any one
// non-empty segment.
func PathMatches(pattern, path string) bool {
	ps, xs := strings.Split(pattern, "/"), strings.Split(path, "/")
	if len(ps) != len(xs) {
		return false
	}
	for i := range ps {
		if ps[i] == "*" && xs[i] != "" {
			continue
		}
		if ps[i] != xs[i] {
			return false
		}
	}
	return true
}

// StatusWriter remembers the status code of the answer written through it (the request log's,
// and a harness's that wraps the API: Options.Wrap).
type StatusWriter struct {
	http.ResponseWriter
	status int
}

// Status is the status code written so far, 0 before any.
func (w *StatusWriter) Status() int { return w.status }

func (w *StatusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *StatusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the connection's writer, to flush.
func (w *StatusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
