package fakekonnect

import (
	"fmt"
	"strings"
	"time"
)

// Mode selects how the fake answers GET /v3/organizations/me.
type Mode int

const (
	// ModeNormal answers as Konnect does: 200 with the organization for a registered
	// token, 401 problem+json for any other.
	ModeNormal Mode = iota
	// ModeForbidden answers 403 problem+json.
	ModeForbidden
	// ModeRateLimited answers 429 problem+json with a Retry-After header (Behavior.RetryAfter).
	ModeRateLimited
	// ModeServerError answers 503 (or Behavior.Status, e.g. 500) problem+json; an outage.
	ModeServerError
	// ModeHang accepts the request and never answers, until the client gives up or the
	// server closes.
	ModeHang
	// ModeEmptyOK answers 200 application/json with the body {}.
	ModeEmptyOK
	// ModeBadJSON answers 200 application/json with a body that is not valid JSON.
	ModeBadJSON
	// ModeWrongContentType answers 200 text/html.
	ModeWrongContentType
	// ModeSlowBody answers 200 with an organization body whose bytes trickle out over
	// Behavior.Delay; the headers are sent at once.
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
type Behavior struct {
	// Mode is what to answer.
	Mode Mode
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
