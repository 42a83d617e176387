package sdkclient

// Classification: what one call's outcome (a decoded answer, a typed SDK error, or what the
// transport observed) means. A failed call is first examined the same way whatever it was
// (examine, a finding), and a complete answer's status means the same for every call
// (statusKind); the token check then words it as a konnect.Result here, the control-plane and
// certificate calls as a *konnect.APIError in apierror.go. How network failures are worded is
// in neterr.go, how text from outside is made safe for a Message in sanitize.go, and how a
// Retry-After header is read in retryafter.go.

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/Kong/sdk-konnect-go/models/sdkerrors"

	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/konnect"
)

// maxOrgIDLen bounds an organization id (a UUID is 36 characters).
const maxOrgIDLen = 128

// outcome is everything classify needs to know about one call, gathered from the SDK's
// return values and from what the transport observed.
type outcome struct {
	// success is the status the SDK decodes as this call's success (200, 201 or 204): the only
	// status for which it checks the content type and decodes a model.
	success int
	// answered is true when the SDK returned a decoded 200 answer (err is nil).
	answered bool
	// orgID is the decoded organization id, when answered.
	orgID *string
	// err is the SDK's error.
	err error
	// status and header are what the transport saw arrive (0 and nil when nothing did).
	status int
	header http.Header
	// callerErr is the caller's context error after the call: the difference between
	// "we gave up" and "Konnect did not answer".
	callerErr error
	// timedOut is true when the call's own deadline (the client's timeout) had passed when
	// the SDK returned. An answer cut short by it can surface as a truncated body that fails
	// to decode; that is a timeout, not a bad answer.
	timedOut bool
	// timeout is the client's own timeout, for the message.
	timeout time.Duration
	// now is used to turn an HTTP-date Retry-After into a duration.
	now time.Time
}

// classify turns one call's outcome into a Result. It is pure, total and never panics; every
// Message it returns has been through finish, so it never holds the token.
func classify(token string, o outcome) konnect.Result {
	r := classifyRaw(token, o)
	r.Message = finish(r.Message, token)
	if r.Verdict != konnect.VerdictValid {
		r.OrganizationID = ""
	}
	if r.RetryAfter < 0 {
		r.RetryAfter = 0
	}
	return r
}

func classifyRaw(token string, o outcome) konnect.Result {
	if o.err == nil {
		status := o.status
		if status == 0 {
			status = http.StatusOK
		}
		if !o.answered {
			return konnect.Result{Verdict: konnect.VerdictInvalidResponse, StatusCode: status,
				Message: "Konnect answered " + statusString(status) + " without a body"}
		}
		return classifyOrganization(token, o.orgID, status)
	}

	return resultOf(examine(o, token, tokenCheckWording), o.now)
}

// tokenCheckWording is how the token check words what examine found.
var tokenCheckWording = wording{
	call:   "the token check",
	answer: "organization",
	explain: func(p explanation, status int, token string) string {
		return problemText(p.detail, p.title, status, token)
	},
}

// resultOf words a failed token check as a Result.
func resultOf(f finding, now time.Time) konnect.Result {
	switch f.kind {
	case findingStatus:
		return fromStatus(f.status, f.header, f.text, now)
	case findingBadBody:
		return konnect.Result{Verdict: konnect.VerdictInvalidResponse, StatusCode: f.status, Message: f.text}
	default:
		return konnect.Result{Verdict: konnect.VerdictUnavailable, StatusCode: f.status, Message: f.text}
	}
}

// findingKind says which of three things went wrong with a call.
type findingKind int

const (
	// findingNoAnswer: nothing usable arrived (network error, timeout, cancellation).
	findingNoAnswer findingKind = iota
	// findingStatus: a complete answer whose status is not the call's success; the status
	// decides (statusKind).
	findingStatus
	// findingBadBody: the call's success status, with a body that cannot be used.
	findingBadBody
)

// finding is what a failed call amounts to, before it is worded for the token check or for a
// control-plane or certificate call.
type finding struct {
	kind findingKind
	// status is Konnect's HTTP status, or 0 when no answer arrived.
	status int
	// header holds the answer's Content-Type and Retry-After, for findingStatus.
	header http.Header
	// text is Konnect's own explanation (sanitised, possibly "") for findingStatus, and the
	// whole message otherwise.
	text string
}

// wording is what differs between calls in how examine describes a failure.
type wording struct {
	// call names the call in the message about its cancellation, e.g. "the token check".
	call string
	// answer names what a success carries, e.g. "organization", for a body that does not
	// decode.
	answer string
	// explain quotes Konnect's explanation of an error answer for a message.
	explain func(p explanation, status int, token string) string
}

// examine works out what a failed call (o.err is not nil) amounts to. It is pure and total.
func examine(o outcome, token string, w wording) finding {
	// A typed SDK error means a complete answer arrived; its status decides.
	if p, ok := decodedProblem(o.err); ok {
		return finding{kind: findingStatus, status: o.status, header: o.header, text: w.explain(p, o.status, token)}
	}
	var sdkErr *sdkerrors.SDKError
	if errors.As(o.err, &sdkErr) {
		status := sdkErr.StatusCode
		header := o.header
		if sdkErr.RawResponse != nil && sdkErr.RawResponse.Header != nil {
			header = sdkErr.RawResponse.Header
		}
		if status == o.success {
			// The SDK only refuses its success status for the content type.
			return finding{kind: findingBadBody, status: status,
				text: "Konnect answered " + strconv.Itoa(status) + " with " + describeContentType(header.Get("Content-Type"), token)}
		}
		p, _ := problemFromBody(sdkErr.Body)
		return finding{kind: findingStatus, status: status, header: header, text: w.explain(p, status, token)}
	}

	// From here on the SDK gave no typed answer: either nothing arrived, or reading or
	// decoding the answer failed.
	noAnswer := func(msg string) finding { return finding{kind: findingNoAnswer, status: o.status, text: msg} }
	if errors.Is(o.callerErr, context.Canceled) {
		return noAnswer(w.call + " was canceled before Konnect answered")
	}
	if isTimeout(o.err) || o.callerErr != nil || o.timedOut {
		if o.callerErr != nil {
			return noAnswer("Konnect did not answer in time: the caller's deadline passed")
		}
		return noAnswer("Konnect did not answer in time: timed out after " + o.timeout.String())
	}
	if errors.Is(o.err, errBodyTooLarge) && o.status != 0 {
		if o.status == o.success {
			return finding{kind: findingBadBody, status: o.status,
				text: "Konnect answered " + strconv.Itoa(o.status) + " with a body larger than 1 MiB"}
		}
		return finding{kind: findingStatus, status: o.status, header: o.header}
	}
	if msg, ok := networkProblem(o.err, token); ok {
		return noAnswer(msg)
	}
	if o.status != 0 {
		// The answer arrived but could not be decoded (e.g. a 200 that is not an
		// organization, or a 401 problem that is not JSON).
		if o.status == o.success {
			return finding{kind: findingBadBody, status: o.status,
				text: "Konnect answered " + strconv.Itoa(o.status) + " with a body that is not a valid " + w.answer}
		}
		return finding{kind: findingStatus, status: o.status, header: o.header}
	}
	if text, ok := proxyRefusal(o.err); ok {
		return noAnswer("the HTTPS proxy refused to connect to Konnect: " + text)
	}
	return noAnswer("the request to Konnect failed: " + shortError(o.err, token))
}

// classifyOrganization judges a decoded 200 answer.
func classifyOrganization(token string, id *string, status int) konnect.Result {
	if id == nil || strings.TrimSpace(*id) == "" {
		return konnect.Result{Verdict: konnect.VerdictInvalidResponse, StatusCode: status,
			Message: "Konnect answered 200 without an organization id"}
	}
	if !wellFormedOrgID(*id, token) {
		return konnect.Result{Verdict: konnect.VerdictInvalidResponse, StatusCode: status,
			Message: "Konnect answered 200 with a malformed organization id"}
	}
	return konnect.Result{Verdict: konnect.VerdictValid, OrganizationID: *id, StatusCode: status,
		Message: "Konnect accepted the token"}
}

// wellFormedOrgID accepts what can safely go into a status field and a log line: a short run
// of printable ASCII that does not contain the token (Konnect sends a UUID).
func wellFormedOrgID(id, token string) bool {
	if len(id) > maxOrgIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] <= ' ' || id[i] >= 0x7f {
			return false
		}
	}
	return token == "" || !strings.Contains(id, token)
}

// statusKind is the one table of what a complete answer's status means, for the token check
// (fromStatus) and for every other call (apiFromStatus) alike. unexpected is true for a status
// that is neither 4xx nor 5xx, such as a redirect or a success the call does not define.
func statusKind(status int) (kind konnect.ErrorKind, unexpected bool) {
	switch {
	case status == http.StatusUnauthorized, status == http.StatusForbidden:
		return konnect.ErrorUnauthorized, false
	case status == http.StatusNotFound:
		return konnect.ErrorNotFound, false
	case status == http.StatusConflict:
		return konnect.ErrorConflict, false
	case status == http.StatusTooManyRequests,
		status == http.StatusRequestTimeout,
		status >= 500 && status <= 599:
		// Transient by definition: nothing is learned about the request.
		return konnect.ErrorTransient, false
	case status >= 400 && status <= 499:
		return konnect.ErrorRejected, false
	default:
		return konnect.ErrorRejected, true
	}
}

// retryAfterFor reads the Retry-After of a transient answer (429, 408, 5xx), or 0.
func retryAfterFor(kind konnect.ErrorKind, header http.Header, now time.Time) time.Duration {
	if kind != konnect.ErrorTransient || header == nil {
		return 0
	}
	return parseRetryAfter(header.Get("Retry-After"), now)
}

// fromStatus classifies a complete answer to the token check that is not its success. detail
// is Konnect's own explanation, already sanitised, or "".
func fromStatus(status int, header http.Header, detail string, now time.Time) konnect.Result {
	suffix := ""
	if detail != "" {
		suffix = ": " + detail
	}
	kind, unexpected := statusKind(status)
	r := konnect.Result{Verdict: konnect.VerdictInvalidResponse, StatusCode: status,
		RetryAfter: retryAfterFor(kind, header, now),
		Message:    "Konnect answered " + statusString(status) + suffix}
	switch {
	case unexpected:
		r.Message = "Konnect answered with unexpected status " + statusString(status) + suffix
	case kind == konnect.ErrorUnauthorized:
		r.Verdict = konnect.VerdictInvalid
		if status == http.StatusForbidden {
			r.Verdict = konnect.VerdictForbidden
		}
		r.Message = "Konnect refused the token (" + statusString(status) + ")" + suffix
	case kind == konnect.ErrorTransient:
		r.Verdict = konnect.VerdictUnavailable
	}
	// 404, 409 and any other 4xx say nothing about the token: an answer not understood.
	return r
}

// statusString renders "503 Service Unavailable", or just the number for unknown codes.
func statusString(status int) string {
	if text := http.StatusText(status); text != "" {
		return strconv.Itoa(status) + " " + text
	}
	return strconv.Itoa(status)
}

// describeContentType says what was wrong with a 200's content type.
func describeContentType(ct, token string) string {
	ct = sanitize(ct, token, 80)
	if ct == "" {
		return "no content type"
	}
	return "unexpected content type " + strconv.Quote(ct)
}

// explanation is Konnect's explanation of an error answer, in whichever of its shapes it came:
// a problem document (title, detail and, on a 400, invalid_parameters) or the certificate
// endpoints' {"message": …}. Fields are kept as decoded (any), so that an odd type is ignored
// rather than failing the whole decode.
type explanation struct {
	title, detail, message any
	params                 []invalidParameter
}

// invalidParameter is one entry of a 400's invalid_parameters.
type invalidParameter struct {
	field, reason any
}

// problemFromBody decodes Konnect's explanation from an error body. Only the fields of
// explanation are read: the raw body could echo the request, and with it the token.
func problemFromBody(body string) (explanation, bool) {
	if body == "" || len(body) > maxBodyBytes {
		return explanation{}, false
	}
	var raw struct {
		Title             any `json:"title"`
		Detail            any `json:"detail"`
		Message           any `json:"message"`
		InvalidParameters any `json:"invalid_parameters"`
	}
	if err := json.Unmarshal([]byte(body), &raw); err != nil {
		return explanation{}, false
	}
	p := explanation{title: raw.Title, detail: raw.Detail, message: raw.Message}
	list, _ := raw.InvalidParameters.([]any)
	for _, item := range list {
		if m, ok := item.(map[string]any); ok {
			p.params = append(p.params, invalidParameter{field: m["field"], reason: m["reason"]})
		}
	}
	return p, true
}

// decodedProblem returns the explanation of an error answer that the SDK decoded into one of
// its typed errors. They are all plain JSON structs, so they are re-encoded and read by the
// same problemFromBody as the bodies the SDK leaves raw.
func decodedProblem(err error) (explanation, bool) {
	for _, find := range decodedErrors {
		if typed, ok := find(err); ok {
			body, mErr := json.Marshal(typed)
			if mErr != nil {
				return explanation{}, true
			}
			p, _ := problemFromBody(string(body))
			return p, true
		}
	}
	return explanation{}, false
}

// decodedErrors finds each of the typed errors the SDK decodes Konnect's error answers into,
// for the operations this package calls.
var decodedErrors = []func(error) (error, bool){
	findError[*sdkerrors.BadRequestError],
	findError[*sdkerrors.UnauthorizedError],
	findError[*sdkerrors.ForbiddenError],
	findError[*sdkerrors.NotFoundError],
	findError[*sdkerrors.ConflictError],
	findError[*sdkerrors.BaseError],
	findError[*sdkerrors.InternalServerError],
	findError[*sdkerrors.ServiceUnavailable],
	findError[*sdkerrors.KonnectCPLegacyBadRequestError],
	findError[*sdkerrors.KonnectCPLegacyUnauthorizedError],
	findError[*sdkerrors.KonnectCPLegacyForbiddenError],
	findError[*sdkerrors.KonnectCPLegacyNotFoundError],
	findError[*sdkerrors.KonnectCPLegacyConflictError],
}

// findError is errors.As for one type.
func findError[T error](err error) (error, bool) {
	var target T
	if errors.As(err, &target) {
		return target, true
	}
	return nil, false
}

// problemText picks the most useful of a problem's detail and title. A title that only
// repeats the status text adds nothing to "(401 Unauthorized)" and is dropped.
func problemText(detail, title any, status int, token string) string {
	if s, ok := detail.(string); ok {
		if s = sanitize(s, token, maxDetailRunes); s != "" {
			return s
		}
	}
	if s, ok := title.(string); ok {
		s = sanitize(s, token, maxDetailRunes)
		if s != "" && !strings.EqualFold(s, http.StatusText(status)) {
			return s
		}
	}
	return ""
}
