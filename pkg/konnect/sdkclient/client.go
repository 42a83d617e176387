// Package sdkclient is the real konnect.Validator and konnect.ControlPlaneAPI: through the
// Konnect Go SDK it asks Konnect who owns a token, and creates, reads, lists, updates and
// deletes control planes and their data-plane certificates, turning every possible answer
// into a konnect.Result or a *konnect.APIError.
//
// It is the only package of the project that imports github.com/Kong/sdk-konnect-go, which
// costs about a minute and 1.5 GB to compile; keeping it in this leaf means no other package's
// tests pay for it.
//
// The SDK sends the token check to global.api.konghq.com whatever server URL it is given (a hook
// rewrites the host), so the only way to point it elsewhere is below the SDK: the HTTP client.
// The control-plane and certificate calls go to the configuration's regional server URL.
// The default client is built on a clone of http.DefaultTransport, so the standard proxy
// environment (HTTPS_PROXY, NO_PROXY) and trust store (SSL_CERT_FILE, SSL_CERT_DIR) apply,
// which is both what users behind a corporate proxy need and how end-to-end tests reach a fake
// Konnect.
//
// Security: the token is sent only in the Authorization header. It is never logged, never put
// in a Result or an error, and any text that Konnect sends back is reduced to the problem
// detail or title (or message, and the names of invalid parameters), shortened, and scrubbed
// of the token before it reaches a Message.
package sdkclient

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	sdk "github.com/Kong/sdk-konnect-go"
	"github.com/Kong/sdk-konnect-go/models/components"
	"github.com/Kong/sdk-konnect-go/models/operations"
	"k8s.io/klog/v2"

	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/konnect"
)

// DefaultTimeout bounds one call when Options.Timeout is zero. It matches the
// controller's --konnect-timeout default.
const DefaultTimeout = 10 * time.Second

// DefaultUserAgent identifies the controller to Konnect when Options.UserAgent is empty, so
// that Kong can tell our traffic from the SDK's other users.
const DefaultUserAgent = "konnect-auth-controller"

// maxBodyBytes caps how much of an answer is read. /v3/organizations/me answers a few hundred
// bytes and a page of 100 control planes some tens of kilobytes; anything far larger is not
// Konnect speaking, and reading it whole would let a broken proxy exhaust the controller's
// memory.
const maxBodyBytes = 1 << 20

// Options configures a Client. The zero value is ready to use.
type Options struct {
	// Timeout bounds one call (one request: each page of a listing is one), from sending the
	// request to reading the whole answer, so that a Konnect that accepts connections but
	// never answers cannot hold a worker. Zero means DefaultTimeout.
	Timeout time.Duration

	// UserAgent is sent as the User-Agent header, e.g. "konnect-auth-controller/v1.2.3", so
	// that Konnect's operators can attribute the traffic. Empty means DefaultUserAgent.
	UserAgent string

	// Transport carries the requests. Nil means a clone of http.DefaultTransport, which
	// honours HTTPS_PROXY/NO_PROXY and the system trust store; tests set it to reach a local
	// fake Konnect. Whatever is set here, the token only ever leaves in the Authorization
	// header of requests the SDK builds.
	Transport http.RoundTripper
}

// Client calls Konnect with the Konnect SDK. It implements konnect.Validator and
// konnect.ControlPlaneAPI and is safe for concurrent use. It does no caching, merging or rate
// limiting of its own: put a konnect.Checker in front of Validate, and konnect.WithLimiter in
// front of the rest.
type Client struct {
	sdk     *sdk.SDK
	timeout time.Duration
	// now is the clock used to turn an HTTP-date Retry-After into a duration.
	now func() time.Time
}

var _ konnect.Validator = (*Client)(nil)

// New returns a Client. It never fails: nothing is contacted until a call.
func New(opts Options) *Client {
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	userAgent := strings.TrimSpace(opts.UserAgent)
	if userAgent == "" {
		userAgent = DefaultUserAgent
	}
	next := opts.Transport
	if next == nil {
		next = defaultTransport()
	}
	httpClient := &http.Client{
		Transport: &transport{next: next, userAgent: userAgent},
		Timeout:   timeout,
		// Konnect does not redirect this call. Following a redirect would at best hide a
		// misrouted request and at worst carry the token somewhere else, so a 3xx is
		// reported as the unexpected answer it is.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return &Client{
		sdk: sdk.New(
			sdk.WithClient(httpClient),
			// The token travels in the call's context rather than in the SDK's
			// configuration, so one SDK instance serves every token.
			sdk.WithSecuritySource(securityFromContext),
		),
		timeout: timeout,
		now:     time.Now,
	}
}

// maxKonnectConns caps the connections open to one Konnect host. The Konnect budget's burst
// (--konnect-burst, 100 by default) lets a start with many tokens ask about all of them at
// once; without a cap each call would dial its own TLS connection (its handshake, buffers and
// goroutines live at the moment the caches fill, the controller's memory peak), only for all
// but two to be closed again afterwards. Calls beyond the cap wait for a connection; at
// Konnect's usual latencies 16 connections carry far more than the default 20 calls a second.
const maxKonnectConns = 16

// defaultTransport clones http.DefaultTransport, keeping its proxy-from-environment and
// system-trust-store behaviour while leaving the process-wide default untouched, and caps its
// connections per host.
func defaultTransport() http.RoundTripper {
	t, ok := http.DefaultTransport.(*http.Transport)
	if ok {
		t = t.Clone()
	} else {
		// Someone replaced the process default; build the equivalent of Go's own default.
		t = &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			ForceAttemptHTTP2:     true,
			MaxIdleConns:          100,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   10 * time.Second,
			ExpectContinueTimeout: time.Second,
		}
	}
	limitConns(t)
	return t
}

// limitConns caps t at maxKonnectConns connections per host, and keeps as many idle between
// calls (Go's default keeps two and closes the rest, to dial them again under a steady rate).
func limitConns(t *http.Transport) {
	t.MaxConnsPerHost = maxKonnectConns
	t.MaxIdleConnsPerHost = maxKonnectConns
}

// Validate asks Konnect which organization the token belongs to (GET /v3/organizations/me)
// and classifies the answer. serverURL is the configuration's https://host[:port]; the SDK
// sends this call to global.api.konghq.com whatever host it names, so it only chooses the
// scheme (always https). Validate never returns the token in the Result and never logs it.
func (c *Client) Validate(ctx context.Context, token, serverURL string) konnect.Result {
	start := time.Now()
	result := c.validate(ctx, token, serverURL)
	klog.FromContext(ctx).V(4).Info("Checked token with Konnect",
		"tokenHash", konnect.Hashed(token, serverURL)[:16],
		"verdict", result.Verdict.String(),
		"statusCode", result.StatusCode,
		"retryAfter", result.RetryAfter,
		"duration", time.Since(start))
	return result
}

func (c *Client) validate(ctx context.Context, token, serverURL string) (result konnect.Result) {
	if msg := tokenProblem(token); msg != "" {
		// Sending it would either be refused by net/http or answered 401; say why up front.
		return konnect.Result{Verdict: konnect.VerdictInvalid, Message: msg}
	}

	callCtx, obs, cancel := c.callContext(ctx, token)
	defer cancel()

	// The SDK parses whatever the network hands it; a bug there must not take the controller
	// down. The panic value is not reported: it could quote the answer, and the answer could
	// quote the token.
	defer func() {
		if recover() != nil {
			status, _ := obs.get()
			result = konnect.Result{
				Verdict:    konnect.VerdictUnavailable,
				Message:    "the Konnect SDK failed while handling Konnect's answer",
				StatusCode: status,
			}
			if status != 0 {
				result.Verdict = konnect.VerdictInvalidResponse
			}
		}
	}()

	// serverURL is already normalised (https://host[:port]); the SDK rewrites the host of
	// this operation to global.api.konghq.com anyway.
	var callOpts []operations.Option
	if serverURL != "" {
		callOpts = append(callOpts, operations.WithServerURL(serverURL))
	}
	res, err := c.sdk.Me.GetOrganizationsMe(callCtx, callOpts...)

	status, header := obs.get()
	o := outcome{
		success:   http.StatusOK,
		err:       err,
		status:    status,
		header:    header,
		callerErr: ctx.Err(),
		timedOut:  errors.Is(callCtx.Err(), context.DeadlineExceeded),
		timeout:   c.timeout,
		now:       c.now(),
	}
	if err == nil && res != nil {
		o.answered = true
		if res.StatusCode != 0 {
			o.status = res.StatusCode
		}
		if res.MeOrganization != nil {
			o.orgID = res.MeOrganization.ID
		}
	}
	return classify(token, o)
}

// callContext returns the context of one call to Konnect: bounded by the client's timeout,
// carrying the token to securityFromContext and the observation that the transport fills in.
func (c *Client) callContext(ctx context.Context, token string) (context.Context, *observation, context.CancelFunc) {
	obs := &observation{}
	callCtx, cancel := context.WithTimeout(ctx, c.timeout)
	callCtx = context.WithValue(callCtx, secretKey{}, secret{token: token})
	callCtx = context.WithValue(callCtx, observationKey{}, obs)
	return callCtx, obs, cancel
}

// tokenProblem says why token cannot be sent as a bearer token, or "" when it can. The
// controller rejects malformed tokens before calling; this keeps the client safe on its own.
func tokenProblem(token string) string {
	if token == "" {
		return "the token is empty"
	}
	for i := 0; i < len(token); i++ {
		if b := token[i]; b <= ' ' || b >= 0x7f {
			return "the token contains white space or characters that cannot be sent in an HTTP header"
		}
	}
	return ""
}

// secretKey is the context key under which callContext hands the token to the SDK's security
// source.
type secretKey struct{}

// secret holds the token in a context. A named struct rather than a bare string, because a
// context prints string values verbatim (e.g. in a %v of the context) but only the type name of
// other values.
type secret struct{ token string }

// String keeps the token out of any accidental formatting.
func (secret) String() string { return "[redacted]" }

// GoString keeps the token out of %#v.
func (secret) GoString() string { return "[redacted]" }

// securityFromContext is the SDK's security source: the token of the call in progress, as a
// personal access token (which sends "Authorization: Bearer TOKEN", right for kpat_ and spat_
// tokens alike).
func securityFromContext(ctx context.Context) (components.Security, error) {
	s, ok := ctx.Value(secretKey{}).(secret)
	if !ok || s.token == "" {
		return components.Security{}, nil
	}
	token := s.token
	return components.Security{PersonalAccessToken: &token}, nil
}
