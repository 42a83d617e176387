package fakekonnect

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// mePath is the only path Konnect's token check uses.
const mePath = "/v3/organizations/me"

// unknownOrgID is the organization ID in 200 answers forced on a token that is not
// registered (ModeSlowBody).
const unknownOrgID = "00000000-0000-0000-0000-000000000000"

// organization is Konnect's answer to GET /v3/organizations/me, fields in Konnect's order.
type organization struct {
	ID                  string `json:"id"`
	Name                string `json:"name"`
	OwnerID             string `json:"owner_id"`
	LoginPath           string `json:"login_path"`
	CreatedAt           string `json:"created_at"`
	UpdatedAt           string `json:"updated_at"`
	State               string `json:"state"`
	RetentionPeriodDays int    `json:"retention_period_days"`
}

// problem is Konnect's application/problem+json error body.
type problem struct {
	Status   int    `json:"status"`
	Title    string `json:"title"`
	Type     string `json:"type"`
	Instance string `json:"instance"`
	Detail   string `json:"detail"`
}

// newOrganization makes up a plausible, stable organization for orgID.
func (s *Server) newOrganization(orgID string) organization {
	login := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-':
			return r
		case r >= 'A' && r <= 'Z':
			return r - 'A' + 'a'
		}
		return -1
	}, orgID)
	if len(login) > 8 {
		login = login[:8]
	}
	created := s.started.UTC().Add(-30 * 24 * time.Hour).Truncate(time.Second)
	return organization{
		ID:                  orgID,
		Name:                "Fake Org " + orgID,
		OwnerID:             uuidFrom("owner/" + orgID),
		LoginPath:           "fake-org-" + login,
		CreatedAt:           created.Format(time.RFC3339),
		UpdatedAt:           created.Add(29 * 24 * time.Hour).Format(time.RFC3339),
		State:               "active",
		RetentionPeriodDays: 90,
	}
}

// uuidFrom derives a version-4-shaped UUID from seed, so the same seed always gives the
// same ID.
func uuidFrom(seed string) string {
	b := sha256.Sum256([]byte(seed))
	return formatUUID(b[:16])
}

// formatUUID marks 16 bytes as a version-4 UUID and formats them.
func formatUUID(b []byte) string {
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:16])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// enter registers an API request in progress so Close can wait for it; it reports false
// once Close has started.
func (s *Server) enter() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.handlers.Add(1)
	return true
}

// record counts and logs a request and returns the behavior that applies to it, the
// token's organization if registered, and the request's log entry.
func (s *Server) record(hash string, r *http.Request, at time.Time) (Behavior, organization, bool, *Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.total.Add(1)
	s.calls[hash]++
	s.callTimes[hash] = append(s.callTimes[hash], at)
	s.lastUserAgent = r.UserAgent()
	s.lastHost = r.Host
	entry := s.logRequest(r, hash, at)

	// A global behavior wins where it applies; elsewhere the token's own applies.
	b := s.global
	if !b.appliesTo(r.Method, r.URL.Path) {
		b = s.tokenBehaviors[hash]
		if !b.appliesTo(r.Method, r.URL.Path) {
			b = BehaviorNormal
		}
	}
	org, known := s.orgs[hash]
	return b, org, known, entry
}

// serveAPI is the fake Konnect API: it counts and logs every request, then routes it to
// the token check or to the regional control-plane endpoints (controlplanes.go).
func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	if !s.enter() {
		writeProblem(w, http.StatusServiceUnavailable, "The fake Konnect is shutting down")
		return
	}
	defer s.handlers.Done()

	hash := TokenHash(BearerToken(r.Header.Get("Authorization")))
	b, org, known, entry := s.record(hash, r, time.Now())
	sw := &StatusWriter{ResponseWriter: w}
	defer func() {
		// Also on a panic(http.ErrAbortHandler): the entry then keeps status 0.
		s.finishRequest(entry, sw.status)
		if r.URL.Path != mePath {
			s.logf("api: %s %s host=%s token=%s mode=%s: %d", r.Method, r.URL.Path, r.Host, shortHash(hash), b.Mode, sw.status)
		}
	}()
	w = sw
	w.Header().Set("X-Kong-Request-Id", randomHex(16))

	switch {
	case r.URL.Path == mePath:
		s.serveMe(w, r, hash, b, org, known)
	case isControlPlanePath(r.URL.Path):
		s.serveRegional(w, r, b, org, known)
	default:
		writeProblem(w, http.StatusNotFound, "Not found")
	}
}

// serveMe answers GET /v3/organizations/me, on any host.
func (s *Server) serveMe(w http.ResponseWriter, r *http.Request, hash string, b Behavior, org organization, known bool) {
	if r.Method != http.MethodGet {
		s.logf("api: %s %s token=%s: 405", r.Method, r.URL.Path, shortHash(hash))
		w.Header().Set("Allow", http.MethodGet)
		writeProblem(w, http.StatusMethodNotAllowed, "Method not allowed")
		return
	}
	s.logf("api: GET %s token=%s known=%t mode=%s", mePath, shortHash(hash), known, b.Mode)

	switch b.Mode {
	case ModeForbidden, ModeRateLimited, ModeServerError, ModeHang:
		s.refuse(w, r, b, false)
	case ModeEmptyOK:
		writeBody(w, "application/json", []byte("{}"))
	case ModeBadJSON:
		writeBody(w, "application/json", []byte(`{"id": "`+org.ID+`", "name": `))
	case ModeWrongContentType:
		writeBody(w, "text/html; charset=utf-8", maintenancePage)
	case ModeSlowBody:
		if !known {
			org = s.newOrganization(unknownOrgID)
		}
		s.trickle(w, r, http.StatusOK, mustJSON(org), b.bodyDelay())
	default:
		if !known {
			writeProblem(w, http.StatusUnauthorized, "Invalid credentials")
			return
		}
		writeBody(w, "application/json", mustJSON(org))
	}
}

// maintenancePage is the HTML answer of ModeWrongContentType.
var maintenancePage = []byte("<!DOCTYPE html>\n<html><head><title>Kong Konnect</title></head><body><h1>Scheduled maintenance</h1></body></html>\n")

// refuse answers as one of b's refusing modes says (Behavior.refuses). legacy selects the
// {"message": …} body of Konnect's certificate endpoints for the 403.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, b Behavior, legacy bool) {
	switch b.Mode {
	case ModeForbidden:
		const detail = "You do not have permission to perform this action"
		if legacy {
			writeMessage(w, http.StatusForbidden, detail)
		} else {
			writeProblem(w, http.StatusForbidden, detail)
		}
	case ModeRateLimited:
		w.Header().Set("Retry-After", strconv.FormatInt(b.retryAfterSeconds(), 10))
		w.Header().Set("RateLimit-Remaining", "0")
		writeProblem(w, http.StatusTooManyRequests, "API rate limit exceeded")
	case ModeServerError:
		code := b.serverErrorStatus()
		detail := "An unexpected error occurred"
		if code == http.StatusServiceUnavailable {
			detail = "The service is temporarily unavailable"
		}
		writeProblem(w, code, detail)
	case ModeHang:
		select {
		case <-r.Context().Done():
		case <-s.closing:
			// Drop the request without an answer, as a dead server would.
			panic(http.ErrAbortHandler)
		}
	}
}

// trickle sends an application/json answer whose headers go out at once and whose body
// goes out in pieces spread over delay. If the server closes meanwhile the answer is cut.
func (s *Server) trickle(w http.ResponseWriter, r *http.Request, code int, body []byte, delay time.Duration) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(code)
	rc := http.NewResponseController(w)
	_ = rc.Flush()

	pieces := min(len(body), 10)
	step := delay / time.Duration(pieces)
	timer := time.NewTimer(step)
	defer timer.Stop()
	for i := range pieces {
		select {
		case <-timer.C:
		case <-r.Context().Done():
			return
		case <-s.closing:
			panic(http.ErrAbortHandler)
		}
		from, to := i*len(body)/pieces, (i+1)*len(body)/pieces
		if _, err := w.Write(body[from:to]); err != nil {
			return
		}
		_ = rc.Flush()
		timer.Reset(step)
	}
}

// BearerToken extracts the token from an Authorization header, "" if there is none.
func BearerToken(header string) string {
	scheme, token, ok := strings.Cut(strings.TrimSpace(header), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(token)
}

// writeProblem writes a Konnect-style application/problem+json error.
func writeProblem(w http.ResponseWriter, code int, detail string) {
	writeStatusBody(w, code, "application/problem+json", mustJSON(newProblem(code, detail)))
}

// newProblem fills in a problem for status code with a fresh trace ID.
func newProblem(code int, detail string) problem {
	return problem{
		Status:   code,
		Title:    http.StatusText(code),
		Type:     "https://httpstatuses.com/" + strconv.Itoa(code),
		Instance: "kong:trace:" + randomDigits(19),
		Detail:   detail,
	}
}

// legacyMessage is the error body of Konnect's certificate endpoints, application/json.
type legacyMessage struct {
	Message string `json:"message"`
}

// writeMessage writes a {"message": …} error, as the certificate endpoints answer 4xx.
func writeMessage(w http.ResponseWriter, code int, msg string) {
	writeStatusBody(w, code, "application/json", mustJSON(legacyMessage{Message: msg}))
}

// writeBody writes a 200 answer.
func writeBody(w http.ResponseWriter, contentType string, body []byte) {
	writeStatusBody(w, http.StatusOK, contentType, body)
}

func writeStatusBody(w http.ResponseWriter, code int, contentType string, body []byte) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(code)
	_, _ = w.Write(body)
}

// mustJSON marshals values that cannot fail to marshal.
func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("fakekonnect: marshalling %T: %v", v, err))
	}
	return b
}

// randomHex returns n random bytes in hex.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// randomDigits returns n random decimal digits, like the trace IDs in Konnect's errors.
func randomDigits(n int) string {
	var sb strings.Builder
	for range n {
		d, _ := rand.Int(rand.Reader, big.NewInt(10))
		sb.WriteByte(byte('0' + d.Int64()))
	}
	return sb.String()
}
