package sdkclient

// API errors: what the outcome of a control-plane or certificate call means, as a
// *konnect.APIError. The failure is examined exactly as for the token check (examine in
// classify.go) and a status means the same (statusKind); only the wording differs.

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/konnect"
)

const (
	// maxIDLen bounds an id sent in a path (Konnect's ids are 36-character UUIDs).
	maxIDLen = 128
	// maxQuotedParameters bounds how many of a 400's invalid_parameters a Message names.
	maxQuotedParameters = 3
)

// unusableAnswer is returned by a call's own decoding when the SDK decoded the success
// status but the model cannot be used (no id, a malformed one). what completes
// "Konnect answered 201 …", e.g. "without a control plane id".
type unusableAnswer struct{ what string }

// Error implements error; classifyCall words the APIError itself.
func (u *unusableAnswer) Error() string { return "unusable answer: " + u.what }

// classifyCall turns the outcome of a failed call (o.err is not nil) into an APIError. Like
// classify, it is pure and total, and its Message has been through finish.
func classifyCall(r request, token string, o outcome) *konnect.APIError {
	e := apiErrorOf(r, token, o)
	e.Message = finish(e.Message, token)
	e.RetryAfter = max(e.RetryAfter, 0)
	return e
}

// apiErrorOf is classifyCall before the Message is finished.
func apiErrorOf(r request, token string, o outcome) *konnect.APIError {
	// A success whose body cannot be used (HTML from a proxy, "{}", no id) says nothing
	// definitive: the change may or may not have taken effect. It is transient — retried, and
	// a create then finds its own by label — never a verdict that turns True into False.
	var unusable *unusableAnswer
	if errors.As(o.err, &unusable) {
		return &konnect.APIError{Op: r.op, Kind: konnect.ErrorTransient, StatusCode: o.status,
			Message: "Konnect answered " + strconv.Itoa(o.status) + " " + unusable.what}
	}
	w := wording{call: "the request", answer: r.answer, explain: explanation.text}
	f := examine(o, token, w)
	switch f.kind {
	case findingStatus:
		return apiFromStatus(r.op, f.status, f.header, f.text, o.now)
	case findingBadBody:
		if f.status >= 200 && f.status <= 299 {
			return &konnect.APIError{Op: r.op, Kind: konnect.ErrorTransient, StatusCode: f.status, Message: f.text}
		}
		return &konnect.APIError{Op: r.op, Kind: konnect.ErrorRejected, StatusCode: f.status, Message: f.text}
	default:
		return &konnect.APIError{Op: r.op, Kind: konnect.ErrorTransient, StatusCode: f.status, Message: f.text}
	}
}

// apiFromStatus classifies a complete answer that is not the call's success. detail is
// Konnect's explanation, already sanitised, or "".
func apiFromStatus(op string, status int, header http.Header, detail string, now time.Time) *konnect.APIError {
	kind := apiStatusKind(status)
	_, unexpected := statusKind(status)
	msg := "Konnect answered " + statusString(status)
	if unexpected {
		msg = "Konnect answered with unexpected status " + statusString(status)
	}
	if detail != "" {
		msg += ": " + detail
	}
	return &konnect.APIError{Op: op, Kind: kind, StatusCode: status, Message: msg,
		RetryAfter: retryAfterFor(kind, header, now)}
}

// notSent is the error of a call refused before it was sent.
func notSent(r request, kind konnect.ErrorKind, msg string) *konnect.APIError {
	return &konnect.APIError{Op: r.op, Kind: kind, Message: "not sent: " + msg}
}

// sdkPanic is the error of a call during which the SDK panicked. The panic value is not
// reported: it could quote the answer, and the answer could quote the token.
func sdkPanic(r request, status int) *konnect.APIError {
	e := &konnect.APIError{Op: r.op, Kind: konnect.ErrorTransient, StatusCode: status,
		Message: "the Konnect SDK failed while handling Konnect's answer"}
	if status != 0 {
		// An answer arrived and the SDK could not handle it: sending again will not help.
		e.Kind = konnect.ErrorRejected
	}
	return e
}

// text words an explanation for an APIError: the detail (or else the title, unless it only
// repeats the status text, or else the message), followed by the first few invalid
// parameters as "field: reason".
func (p explanation) text(status int, token string) string {
	s := problemText(p.detail, p.title, status, token)
	if s == "" {
		s = problemText(p.message, nil, status, token)
		if strings.EqualFold(s, http.StatusText(status)) {
			s = ""
		}
	}
	params := p.paramsText(token)
	switch {
	case params == "":
		return s
	case s == "":
		return params
	default:
		return s + " (" + params + ")"
	}
}

// paramsText names the first maxQuotedParameters invalid parameters and how many others
// there are, e.g. "name: must not be empty; labels: too many; and 2 more".
func (p explanation) paramsText(token string) string {
	var parts []string
	for i, param := range p.params {
		if i == maxQuotedParameters {
			parts = append(parts, "and "+strconv.Itoa(len(p.params)-i)+" more")
			break
		}
		field, _ := param.field.(string)
		reason, _ := param.reason.(string)
		field, reason = sanitize(field, token, 60), sanitize(reason, token, 100)
		switch {
		case field != "" && reason != "":
			parts = append(parts, field+": "+reason)
		case field != "":
			parts = append(parts, field)
		case reason != "":
			parts = append(parts, reason)
		}
	}
	return truncate(strings.Join(parts, "; "), maxDetailRunes)
}

// checkAnswerID refuses an id in a decoded answer that later calls could not send as a path
// segment, or that holds the token (it ends up in status fields and log lines).
func checkAnswerID(what, id, token string) error {
	if id == "" {
		return &unusableAnswer{"without a " + what + " id"}
	}
	if idProblem(what, id) != "" || (token != "" && strings.Contains(id, token)) {
		return &unusableAnswer{"with a malformed " + what + " id"}
	}
	return nil
}

// idProblem says why id cannot be sent as a path segment, or "" when it can. The SDK puts
// path parameters into the URL unescaped, so "", "..", "a/b" or "a?b" would change which
// resource the request names; Konnect's ids are UUIDs.
func idProblem(what, id string) string {
	if id == "" {
		return "the " + what + " id is empty"
	}
	if len(id) > maxIDLen {
		return "the " + what + " id is longer than " + strconv.Itoa(maxIDLen) + " characters"
	}
	for i := 0; i < len(id); i++ {
		if b := id[i]; !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '-' || b == '_') {
			return "the " + what + " id may only hold letters, digits, '-' and '_'"
		}
	}
	return ""
}

// serverURLProblem says why serverURL is not a regional API base (https://host[:port]), or
// "" when it is. The SDK joins the operation's path to whatever it is given.
func serverURLProblem(serverURL string) string {
	u, err := url.Parse(serverURL)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return "the server URL is not of the form https://host[:port]"
	}
	return ""
}

// apiStatusKind is statusKind for the control-plane and certificate calls, where a success
// status the call does not define (a 200 to a create) is transient like an unusable success:
// the change may have taken effect, and only a second look can tell.
func apiStatusKind(status int) konnect.ErrorKind {
	if status >= 200 && status <= 299 {
		return konnect.ErrorTransient
	}
	kind, _ := statusKind(status)
	return kind
}
