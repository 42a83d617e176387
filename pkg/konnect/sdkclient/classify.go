package sdkclient

// Classification: what one call's outcome (a decoded answer, a typed SDK error, or what the
// transport observed) means for the token, as a konnect.Result. How network failures are
// worded is in neterr.go, how text from outside is made safe for a Message in sanitize.go,
// and how a Retry-After header is read in retryafter.go.

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

	// A typed SDK error means a complete answer arrived; its status decides.
	var unauthorized *sdkerrors.UnauthorizedError
	if errors.As(o.err, &unauthorized) {
		return fromStatus(http.StatusUnauthorized, o.header,
			problemText(unauthorized.Detail, unauthorized.Title, http.StatusUnauthorized, token), o.now)
	}
	var sdkErr *sdkerrors.SDKError
	if errors.As(o.err, &sdkErr) {
		status := sdkErr.StatusCode
		header := o.header
		if sdkErr.RawResponse != nil && sdkErr.RawResponse.Header != nil {
			header = sdkErr.RawResponse.Header
		}
		if status == http.StatusOK {
			// The SDK only refuses a 200 for its content type.
			return konnect.Result{Verdict: konnect.VerdictInvalidResponse, StatusCode: status,
				Message: "Konnect answered 200 with " + describeContentType(header.Get("Content-Type"), token)}
		}
		return fromStatus(status, header, problemFromBody(sdkErr.Body, status, token), o.now)
	}

	// From here on the SDK gave no typed answer: either nothing arrived, or reading or
	// decoding the answer failed.
	if errors.Is(o.callerErr, context.Canceled) {
		return konnect.Result{Verdict: konnect.VerdictUnavailable, StatusCode: o.status,
			Message: "the token check was canceled before Konnect answered"}
	}
	if isTimeout(o.err) || o.callerErr != nil {
		msg := "Konnect did not answer in time: timed out after " + o.timeout.String()
		if o.callerErr != nil {
			msg = "Konnect did not answer in time: the caller's deadline passed"
		}
		return konnect.Result{Verdict: konnect.VerdictUnavailable, StatusCode: o.status, Message: msg}
	}
	if errors.Is(o.err, errBodyTooLarge) && o.status != 0 {
		if o.status == http.StatusOK {
			return konnect.Result{Verdict: konnect.VerdictInvalidResponse, StatusCode: o.status,
				Message: "Konnect answered 200 with a body larger than 1 MiB"}
		}
		return fromStatus(o.status, o.header, "", o.now)
	}
	if msg, ok := networkProblem(o.err, token); ok {
		return konnect.Result{Verdict: konnect.VerdictUnavailable, StatusCode: o.status, Message: msg}
	}
	if o.status != 0 {
		// The answer arrived but could not be decoded (e.g. a 200 that is not an
		// organization, or a 401 problem that is not JSON).
		if o.status == http.StatusOK {
			return konnect.Result{Verdict: konnect.VerdictInvalidResponse, StatusCode: o.status,
				Message: "Konnect answered 200 with a body that is not a valid organization"}
		}
		return fromStatus(o.status, o.header, "", o.now)
	}
	if text, ok := proxyRefusal(o.err); ok {
		return konnect.Result{Verdict: konnect.VerdictUnavailable,
			Message: "the HTTPS proxy refused to connect to Konnect: " + text}
	}
	return konnect.Result{Verdict: konnect.VerdictUnavailable,
		Message: "the request to Konnect failed: " + shortError(o.err, token)}
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

// fromStatus classifies a complete non-200 answer. detail is Konnect's own explanation,
// already sanitised, or "".
func fromStatus(status int, header http.Header, detail string, now time.Time) konnect.Result {
	suffix := ""
	if detail != "" {
		suffix = ": " + detail
	}
	switch {
	case status == http.StatusUnauthorized:
		return konnect.Result{Verdict: konnect.VerdictInvalid, StatusCode: status,
			Message: "Konnect refused the token (" + statusString(status) + ")" + suffix}
	case status == http.StatusForbidden:
		return konnect.Result{Verdict: konnect.VerdictForbidden, StatusCode: status,
			Message: "Konnect refused the token (" + statusString(status) + ")" + suffix}
	case status == http.StatusTooManyRequests,
		status == http.StatusRequestTimeout,
		status >= 500 && status <= 599:
		// Transient by definition: nothing is learned about the token.
		var retryAfter time.Duration
		if header != nil {
			retryAfter = parseRetryAfter(header.Get("Retry-After"), now)
		}
		return konnect.Result{Verdict: konnect.VerdictUnavailable, StatusCode: status,
			RetryAfter: retryAfter,
			Message:    "Konnect answered " + statusString(status) + suffix}
	case status >= 400 && status <= 499:
		return konnect.Result{Verdict: konnect.VerdictInvalidResponse, StatusCode: status,
			Message: "Konnect answered " + statusString(status) + suffix}
	default:
		return konnect.Result{Verdict: konnect.VerdictInvalidResponse, StatusCode: status,
			Message: "Konnect answered with unexpected status " + statusString(status) + suffix}
	}
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

// problemFromBody extracts Konnect's explanation from an error body. Only the detail and
// title of a JSON problem document are used: the raw body could echo the request, and with
// it the token.
func problemFromBody(body string, status int, token string) string {
	if body == "" || len(body) > maxBodyBytes {
		return ""
	}
	var p struct {
		Title  any `json:"title"`
		Detail any `json:"detail"`
	}
	if err := json.Unmarshal([]byte(body), &p); err != nil {
		return ""
	}
	return problemText(p.Detail, p.Title, status, token)
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
