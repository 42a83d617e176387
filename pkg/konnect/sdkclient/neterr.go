package sdkclient

// Network errors: failures to reach Konnect (TLS, DNS, refused or reset connections, the
// HTTPS proxy, timeouts), described in a few stable words for a status condition.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"syscall"
)

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
