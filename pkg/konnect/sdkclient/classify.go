package sdkclient

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/Kong/sdk-konnect-go/models/sdkerrors"

	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/konnect"
)

const (
	// maxRetryAfter caps a Retry-After: a longer wait is more likely a broken header than a
	// real request, and the scheduled re-validation would come first anyway.
	maxRetryAfter = time.Hour
	// maxDetailRunes bounds the part of a Message quoted from Konnect.
	maxDetailRunes = 200
	// maxMessageRunes bounds a whole Message, which ends up in a status condition.
	maxMessageRunes = 400
	// maxOrgIDLen bounds an organization id (a UUID is 36 characters).
	maxOrgIDLen = 128
	// redacted replaces the token wherever it would otherwise appear.
	redacted = "[redacted]"
)

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

// proxyRefusal recognises net/http's report of a proxy that answered CONNECT with an error:
// a bare status text such as "Forbidden", which would otherwise read as Konnect's answer.
func proxyRefusal(err error) (string, bool) {
	var urlErr *url.Error
	if !errors.As(err, &urlErr) || urlErr.Err == nil {
		return "", false
	}
	text := urlErr.Err.Error()
	for code := 100; code <= 599; code++ {
		if t := http.StatusText(code); t != "" && t == text {
			return strconv.Itoa(code) + " " + t, true
		}
	}
	return "", false
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

// parseRetryAfter reads a Retry-After header: delay-seconds or an HTTP-date. Garbage, a
// negative delay or a date in the past give 0; anything beyond maxRetryAfter is capped.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if strings.Trim(v, "0123456789") == "" {
		v = strings.TrimLeft(v, "0")
		if v == "" {
			return 0
		}
		// More digits than an hour's worth of seconds can need is a cap, not an overflow.
		if len(v) > 6 {
			return maxRetryAfter
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			return 0
		}
		return min(time.Duration(n)*time.Second, maxRetryAfter)
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0
	}
	d := t.Sub(now)
	if d <= 0 {
		return 0
	}
	return min(d, maxRetryAfter)
}

// isTimeout reports whether err is a deadline or a network timeout.
func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// networkProblem recognises failures to reach Konnect and describes them in a few stable
// words. Stable matters: the message lands in a status condition, and the controller only
// writes status when it changes, so ephemeral ports or addresses must not appear.
func networkProblem(err error, token string) (string, bool) {
	var (
		certErr     *tls.CertificateVerificationError
		unknownCA   x509.UnknownAuthorityError
		hostErr     x509.HostnameError
		invalidCert x509.CertificateInvalidError
		recordErr   tls.RecordHeaderError
		alertErr    tls.AlertError
		dnsErr      *net.DNSError
		opErr       *net.OpError
	)
	switch {
	case errors.As(err, &unknownCA), errors.As(err, &hostErr), errors.As(err, &invalidCert):
		return "TLS handshake with Konnect failed: " + sanitize(innerTLS(err), token, maxDetailRunes), true
	case errors.As(err, &certErr):
		return "TLS handshake with Konnect failed: " + sanitize(certErr.Err.Error(), token, maxDetailRunes), true
	case errors.As(err, &recordErr):
		return "TLS handshake with Konnect failed: the server did not speak TLS", true
	case errors.As(err, &alertErr):
		return "TLS handshake with Konnect failed: " + sanitize(alertErr.Error(), token, maxDetailRunes), true
	case errors.As(err, &dnsErr):
		what := sanitize(dnsErr.Err, token, 80)
		if dnsErr.IsNotFound {
			what = "no such host"
		}
		return "cannot reach Konnect: DNS lookup of " + sanitize(dnsErr.Name, token, 100) + " failed: " + what, true
	case errors.Is(err, syscall.ECONNREFUSED):
		return prefixProxy(err) + "connection refused", true
	case errors.Is(err, syscall.ECONNRESET):
		return prefixProxy(err) + "connection reset by peer", true
	case errors.Is(err, syscall.EHOSTUNREACH):
		return prefixProxy(err) + "host unreachable", true
	case errors.Is(err, syscall.ENETUNREACH):
		return prefixProxy(err) + "network unreachable", true
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "cannot reach Konnect: the connection closed before Konnect answered", true
	case errors.As(err, &opErr):
		return prefixProxy(err) + sanitize(innerOpError(opErr), token, maxDetailRunes), true
	}
	return "", false
}

// prefixProxy says whether the failure was on the way to the HTTPS proxy, which tells the
// operator which hop to look at.
func prefixProxy(err error) string {
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Op == "proxyconnect" {
		return "cannot reach the HTTPS proxy: "
	}
	return "cannot reach Konnect: "
}

// innerOpError describes a net.OpError without its addresses (os.SyscallError messages
// carry none).
func innerOpError(e *net.OpError) string {
	if e.Err == nil {
		return e.Op + " failed"
	}
	return e.Op + ": " + e.Err.Error()
}

// innerTLS returns the message of the x509 error inside err.
func innerTLS(err error) string {
	var (
		unknownCA   x509.UnknownAuthorityError
		hostErr     x509.HostnameError
		invalidCert x509.CertificateInvalidError
	)
	switch {
	case errors.As(err, &unknownCA):
		return unknownCA.Error()
	case errors.As(err, &hostErr):
		return hostErr.Error()
	case errors.As(err, &invalidCert):
		return invalidCert.Error()
	}
	return "certificate problem"
}

// shortError renders an unrecognised error without the SDK's and net/http's wrapping (the
// URL adds nothing: it is always global.api.konghq.com/v3/organizations/me).
func shortError(err error, token string) string {
	var urlErr *url.Error
	if errors.As(err, &urlErr) && urlErr.Err != nil {
		err = urlErr.Err
	}
	return sanitize(err.Error(), token, maxDetailRunes)
}

// sanitize makes text from the outside safe for a Message: the token removed, control
// characters and runs of white space collapsed to single spaces, invalid UTF-8 dropped, and
// the result cut to maxRunes. The token is removed both before and after the clean-up, so
// that neither dropping characters nor cutting can reassemble it.
func sanitize(s, token string, maxRunes int) string {
	s = redact(s, token)
	var b strings.Builder
	space := false
	for _, r := range s {
		switch {
		case r == utf8.RuneError:
			continue
		case unicode.IsSpace(r) || unicode.IsControl(r):
			space = b.Len() > 0
			continue
		case !unicode.IsPrint(r):
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(r)
	}
	return truncate(redact(b.String(), token), maxRunes)
}

// redact replaces every occurrence of token in s.
func redact(s, token string) string {
	if token == "" {
		return s
	}
	return strings.ReplaceAll(s, token, redacted)
}

// truncate cuts s to at most maxRunes runes, marking the cut with an ellipsis.
func truncate(s string, maxRunes int) string {
	if utf8.RuneCountInString(s) <= maxRunes {
		return s
	}
	runes := []rune(s)
	return strings.TrimSpace(string(runes[:maxRunes-1])) + "…"
}

// finish is the last word on every Message: bounded, redacted and, should the token somehow
// still be in it (e.g. a token that is a substring of "[redacted]"), withheld altogether.
func finish(msg, token string) string {
	msg = truncate(redact(msg, token), maxMessageRunes)
	if token != "" && strings.Contains(msg, token) {
		msg = "(message withheld because it contained the token)"
		if strings.Contains(msg, token) {
			msg = ""
		}
	}
	return msg
}
