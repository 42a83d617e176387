package fakekonnect

import (
	"fmt"
	"strings"
	"time"
)

// Mode selects how the fake answers: GET /v3/organizations/me, and the control-plane and
// data-plane-certificate endpoints (see the Mode constants for how each applies to them).
type Mode int

// The first four modes after ModeNormal refuse a request before it does anything: a control
// plane or certificate is then neither created, changed nor deleted. The last four spoil the
// answer instead: on the control-plane and certificate endpoints the request is carried out
// as usual (a control plane is created, say) and only its successful answer is replaced, as
// when Konnect did the work but the answer was lost; error answers and 204s pass unchanged.
const (
	// ModeNormal answers as Konnect does: 200 with the organization for a registered
	// token, 401 problem+json for any other.
	ModeNormal Mode = iota
	// ModeForbidden answers 403 problem+json (on the certificate endpoints, 403
	// {"message": …} as application/json, as Konnect's older API there does).
	ModeForbidden
	// ModeRateLimited answers 429 problem+json with a Retry-After header (Behavior.RetryAfter).
	ModeRateLimited
	// ModeServerError answers 503 (or Behavior.Status, e.g. 500) problem+json; an outage.
	ModeServerError
	// ModeHang accepts the request and never answers, until the client gives up or the
	// server closes.
	ModeHang
	// ModeEmptyOK answers 200 application/json with the body {} (on the other endpoints:
	// the success status, e.g. 201, with the body {}).
	ModeEmptyOK
	// ModeBadJSON answers 200 application/json with a body that is not valid JSON (on the
	// other endpoints: the success status with the real body cut in half).
	ModeBadJSON
	// ModeWrongContentType answers 200 text/html (on the other endpoints: the success
	// status with an HTML page).
	ModeWrongContentType
	// ModeSlowBody answers 200 with an organization body whose bytes trickle out over
	// Behavior.Delay; the headers are sent at once (on the other endpoints: the real
	// answer, trickled the same way).
	ModeSlowBody
)

// modeNames are the names String returns and ParseMode accepts, in Mode order.
var modeNames = [...]string{
	ModeNormal:           "normal",
	ModeForbidden:        "forbidden",
	ModeRateLimited:      "ratelimited",
	ModeServerError:      "servererror",
	ModeHang:             "hang",
	ModeEmptyOK:          "emptyok",
	ModeBadJSON:          "badjson",
	ModeWrongContentType: "wrongcontenttype",
	ModeSlowBody:         "slowbody",
}

// String returns the mode's name as ParseMode accepts it, e.g. "ratelimited".
func (m Mode) String() string {
	if m >= 0 && int(m) < len(modeNames) {
		return modeNames[m]
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// ParseMode returns the Mode with the given name, case-insensitively and ignoring '-' and
// '_' (so "rate-limited" and "RateLimited" both work). "" and "outage" are accepted as
// ModeNormal and ModeServerError.
func ParseMode(name string) (Mode, error) {
	n := strings.ToLower(strings.NewReplacer("-", "", "_", "").Replace(strings.TrimSpace(name)))
	switch n {
	case "":
		return ModeNormal, nil
	case "outage":
		return ModeServerError, nil
	}
	for m, s := range modeNames {
		if s == n {
			return Mode(m), nil
		}
	}
	return ModeNormal, fmt.Errorf("unknown fake Konnect mode %q (want one of %s)", name, strings.Join(modeNames[:], ", "))
}

// Defaults used when a Behavior leaves a parameter at zero.
const (
	// DefaultRetryAfter is the Retry-After sent by ModeRateLimited when Behavior.RetryAfter is 0.
	DefaultRetryAfter = 5 * time.Second
	// DefaultServerErrorStatus is the status sent by ModeServerError when Behavior.Status is 0.
	DefaultServerErrorStatus = 503
	// DefaultBodyDelay is how long ModeSlowBody takes to send its body when Behavior.Delay is 0.
	DefaultBodyDelay = 2 * time.Second
)

// Behavior overrides how the fake answers, for one token (Server.SetTokenBehavior) or for
// every request (Server.SetBehavior). The zero value, BehaviorNormal, removes the override.
// Scope and Path narrow the requests it applies to; others are answered as if it were not
// set (for a global behavior: by the token's behavior, if any).
type Behavior struct {
	// Mode is what to answer.
	Mode Mode
	// Scope limits the behavior to reads or to writes; the zero value, ScopeAll, is every
	// method.
	Scope Scope
	// Path, when not empty, limits the behavior to requests whose path matches it, as
	// Server.CountRequests matches: "*" stands for one path segment, e.g.
	// "/v2/control-planes/*/dp-client-certificates".
	Path string
	// RetryAfter is sent in the Retry-After header by ModeRateLimited, in whole seconds
	// rounded up (at least 1). Zero means DefaultRetryAfter.
	RetryAfter time.Duration
	// Status is the status code of ModeServerError, 500 to 599. Zero (or anything outside
	// that range) means DefaultServerErrorStatus.
	Status int
	// Delay is how long ModeSlowBody spreads its body over. Zero means DefaultBodyDelay.
	Delay time.Duration
}

// BehaviorNormal is the zero Behavior: Konnect's normal answers, no override.
var BehaviorNormal = Behavior{}

// isOverride reports whether b changes anything, i.e. is not ModeNormal.
func (b Behavior) isOverride() bool { return b.Mode != ModeNormal }

// appliesTo reports whether b overrides the answer to a request with this method and path.
func (b Behavior) appliesTo(method, path string) bool {
	return b.isOverride() && b.Scope.includes(method) && (b.Path == "" || PathMatches(b.Path, path))
}

// refuses reports whether b answers with an error (or not at all) before the request does
// anything.
func (b Behavior) refuses() bool {
	switch b.Mode {
	case ModeForbidden, ModeRateLimited, ModeServerError, ModeHang:
		return true
	}
	return false
}

// Scope selects the requests a Behavior applies to by their method.
type Scope int

const (
	// ScopeAll applies to every request.
	ScopeAll Scope = iota
	// ScopeWrites applies to POST, PUT, PATCH and DELETE only: Konnect answers reads
	// (and the token check) but refuses every change.
	ScopeWrites
	// ScopeReads applies to GET and HEAD (and anything else that is not a write) only.
	ScopeReads
)

// scopeNames are the names String returns and ParseScope accepts, in Scope order.
var scopeNames = [...]string{ScopeAll: "all", ScopeWrites: "writes", ScopeReads: "reads"}

// String returns the scope's name as ParseScope accepts it, e.g. "writes".
func (sc Scope) String() string {
	if sc >= 0 && int(sc) < len(scopeNames) {
		return scopeNames[sc]
	}
	return fmt.Sprintf("Scope(%d)", int(sc))
}

// ParseScope returns the Scope with the given name, case-insensitively; "" is ScopeAll.
func ParseScope(name string) (Scope, error) {
	n := strings.ToLower(strings.TrimSpace(name))
	if n == "" {
		return ScopeAll, nil
	}
	for sc, s := range scopeNames {
		if s == n {
			return Scope(sc), nil
		}
	}
	return ScopeAll, fmt.Errorf("unknown fake Konnect scope %q (want one of %s)", name, strings.Join(scopeNames[:], ", "))
}

// includes reports whether a request with this method is in the scope.
func (sc Scope) includes(method string) bool {
	switch sc {
	case ScopeWrites:
		return isWrite(method)
	case ScopeReads:
		return !isWrite(method)
	}
	return true
}

// isWrite reports whether method changes something.
func isWrite(method string) bool {
	switch method {
	case "POST", "PUT", "PATCH", "DELETE":
		return true
	}
	return false
}

// retryAfterSeconds is the Retry-After header value for b.
func (b Behavior) retryAfterSeconds() int64 {
	d := b.RetryAfter
	if d <= 0 {
		d = DefaultRetryAfter
	}
	secs := int64((d + time.Second - 1) / time.Second)
	return max(secs, 1)
}

// serverErrorStatus is the status code ModeServerError sends for b.
func (b Behavior) serverErrorStatus() int {
	if b.Status >= 500 && b.Status <= 599 {
		return b.Status
	}
	return DefaultServerErrorStatus
}

// bodyDelay is how long ModeSlowBody takes for b.
func (b Behavior) bodyDelay() time.Duration {
	if b.Delay <= 0 {
		return DefaultBodyDelay
	}
	return b.Delay
}
