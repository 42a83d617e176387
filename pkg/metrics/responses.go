package metrics

import (
	"errors"
	"net/http"
	"sync"

	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/konnect"
)

// Classes of Konnect's answers: what a person does about them, whichever call it was.
const (
	// classOK: Konnect did what was asked (a valid token, a control plane created, …).
	classOK = "ok"
	// classUnauthorized: 401, or a token that could not even be sent: fix the token.
	classUnauthorized = "unauthorized"
	// classForbidden: 403: the token does not permit the call.
	classForbidden = "forbidden"
	// classRateLimited: 429: Konnect asks the controller to slow down.
	classRateLimited = "rate_limited"
	// classTransient: no usable answer (network error, timeout, 408, 5xx): Konnect is
	// unreachable or failing, retried with backoff.
	classTransient = "transient"
	// classRejected: any other answer: 404, 409, another 4xx, or a 200 that could not be used.
	classRejected = "rejected"
)

// responseClasses are every class, in the order they are documented.
var responseClasses = []string{classOK, classUnauthorized, classForbidden, classRateLimited, classTransient, classRejected}

// unknownOrganization labels an answer for a token whose organization this process has not
// learnt from a valid check (a token Konnect refused from the start).
const unknownOrganization = "unknown"

// maxOrganizations bounds the memory of which token belongs to which organization: far more
// distinct tokens than one controller serves (the benchmark's 10,000 configurations share 100).
const maxOrganizations = 10000

// classOfVerdict is the class of a token check's answer.
func classOfVerdict(r konnect.Result) string {
	switch r.Verdict {
	case konnect.VerdictValid:
		return classOK
	case konnect.VerdictInvalid:
		return classUnauthorized
	case konnect.VerdictForbidden:
		return classForbidden
	case konnect.VerdictUnavailable:
		if r.StatusCode == http.StatusTooManyRequests {
			return classRateLimited
		}
		return classTransient
	default:
		return classRejected
	}
}

// classOfError is the class of a control-plane or certificate call's outcome (nil: ok).
// ErrorUnauthorized covers 401 and 403; the status code tells them apart.
func classOfError(err error) string {
	if err == nil {
		return classOK
	}
	var apiErr *konnect.APIError
	status := 0
	if errors.As(err, &apiErr) {
		status = apiErr.StatusCode
	}
	switch kind := konnect.KindOf(err); {
	case status == http.StatusTooManyRequests:
		return classRateLimited
	case kind == konnect.ErrorUnauthorized && status == http.StatusForbidden:
		return classForbidden
	case kind == konnect.ErrorUnauthorized:
		return classUnauthorized
	case kind == konnect.ErrorTransient:
		return classTransient
	default:
		return classRejected
	}
}

// organizations remembers which Konnect organization a token belongs to, as valid token
// checks reported it (the organizationID an auth configuration's status shows), so that every
// call made with that token is counted under its organization, never under the token. It is
// keyed by konnect.Hashed(token, serverURL): it holds no token.
type organizations struct {
	mu      sync.Mutex
	byToken map[string]string
}

func newOrganizations() *organizations {
	return &organizations{byToken: map[string]string{}}
}

// learn records the organization of a token that Konnect accepted.
func (o *organizations) learn(token, serverURL, org string) {
	if org == "" {
		return
	}
	key := konnect.Hashed(token, serverURL)
	o.mu.Lock()
	defer o.mu.Unlock()
	if _, known := o.byToken[key]; !known && len(o.byToken) >= maxOrganizations {
		// Forget one token at random: at worst its next answer is counted as "unknown" until
		// its next valid check.
		for k := range o.byToken {
			delete(o.byToken, k)
			break
		}
	}
	o.byToken[key] = org
}

// of returns the organization of a token, or "unknown". A token Konnect now refuses (revoked)
// keeps the organization it was last valid for: that is whose token was revoked.
func (o *organizations) of(token, serverURL string) string {
	key := konnect.Hashed(token, serverURL)
	o.mu.Lock()
	defer o.mu.Unlock()
	if org, ok := o.byToken[key]; ok {
		return org
	}
	return unknownOrganization
}
