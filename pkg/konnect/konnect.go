// Package konnect is the controller's view of Kong Konnect, for every reconciler:
//   - token checks (this file, cache.go): what a check can conclude (Result), the Validator
//     interface of the real client, and the Checker the auth configurations' reconciler calls,
//     which answers from memory and asks Konnect in the background, once per token;
//   - control planes and data-plane certificates (api.go): ControlPlaneAPI, what its errors mean
//     (not found, conflict, transient, Retry-After), and the process-wide limiter every call
//     waits on (WithLimiter).
//
// The real client lives in the leaf package pkg/konnect/sdkclient, the only importer of the
// Konnect SDK, so that nothing else pays for compiling it.
package konnect

import (
	"context"
	"time"
)

// Verdict is what a token check concluded.
type Verdict int

const (
	// VerdictValid: Konnect accepted the token and named its organization.
	VerdictValid Verdict = iota
	// VerdictInvalid: Konnect answered 401.
	VerdictInvalid
	// VerdictForbidden: Konnect answered 403.
	VerdictForbidden
	// VerdictInvalidResponse: Konnect answered 200 without an organization id, a body that
	// could not be decoded, or a status that says neither yes nor no (e.g. 404).
	VerdictInvalidResponse
	// VerdictUnavailable: Konnect could not be asked: timeout, connection error, 429 or 5xx.
	// It says nothing about the token.
	VerdictUnavailable
	// VerdictPending: a check of this token is on its way to Konnect (Checker.Check); the
	// asker is told when it ends. It says nothing about the token.
	VerdictPending
)

// String returns the verdict's name, as used in logs and metric labels.
func (v Verdict) String() string {
	switch v {
	case VerdictValid:
		return "valid"
	case VerdictInvalid:
		return "invalid"
	case VerdictForbidden:
		return "forbidden"
	case VerdictInvalidResponse:
		return "invalid_response"
	case VerdictUnavailable:
		return "unavailable"
	case VerdictPending:
		return "pending"
	default:
		return "unknown"
	}
}

// Result is the outcome of checking one token against one Konnect host.
type Result struct {
	// Verdict is what the check concluded.
	Verdict Verdict
	// OrganizationID is the organization the token belongs to; set only for VerdictValid.
	OrganizationID string
	// Message says, for a person, what Konnect answered or what went wrong. It never holds
	// the token.
	Message string
	// StatusCode is Konnect's HTTP status, or 0 when no answer arrived.
	StatusCode int
	// RetryAfter is how long Konnect asked us to wait (Retry-After of a 429 or 5xx), or 0.
	RetryAfter time.Duration
	// NextCheck, on an Unavailable result from a Checker, is the time left until a check of
	// this token would ask Konnect again (its backoff, or RetryAfter if that is later):
	// looking again sooner would only be answered from memory. Zero otherwise.
	NextCheck time.Duration
}

// Validator checks a token against Konnect, synchronously: the real client. serverURL is the
// normalised https://host[:port] of the configuration (serverurl.Normalize). Implementations
// never return the token in a Result and never log it.
type Validator interface {
	Validate(ctx context.Context, token, serverURL string) Result
}

// ValidatorFunc adapts a function to Validator.
type ValidatorFunc func(ctx context.Context, token, serverURL string) Result

// Validate calls f.
func (f ValidatorFunc) Validate(ctx context.Context, token, serverURL string) Result {
	return f(ctx, token, serverURL)
}
