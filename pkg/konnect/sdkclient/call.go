package sdkclient

// One call to Konnect's regional API (control planes, data-plane certificates): checked
// before it is sent, made through the SDK with the token in the context, classified as a
// *konnect.APIError and logged. Every method of ControlPlaneAPI goes through send.

import (
	"context"
	"errors"
	"time"

	"github.com/Kong/sdk-konnect-go/models/operations"
	"k8s.io/klog/v2"

	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/konnect"
)

var _ konnect.ControlPlaneAPI = (*Client)(nil)

// request describes one call for send.
type request struct {
	// op names the call for a person, as in konnect.APIError.Op.
	op string
	// success is the status the SDK decodes as this operation's success.
	success int
	// answer names what a success carries, for the message about a body that does not
	// decode, e.g. "control plane".
	answer string
	// controlPlaneID is logged; "" for calls that name none.
	controlPlaneID string
	// pathIDs are the ids the path names, checked before sending.
	pathIDs []pathID
	// page is the page number of a listing, logged when not 0.
	page int64
	// invalid, when not "", is why the request was found unfit to send while it was built.
	invalid string
}

// pathID is an id that goes into a request's path, and what it identifies ("control plane").
type pathID struct{ what, id string }

// sdkCall is the SDK call of one request: it is given the call's context (token,
// observation, timeout) and its options (the server URL), and decodes what it needs of the
// answer before returning.
type sdkCall func(ctx context.Context, opts []operations.Option) error

// send makes one call to auth.ServerURL and returns nil or the *konnect.APIError that its
// outcome means. It never sends a request that would carry a malformed token or id, never
// lets a panic in the SDK escape, and logs the call at V(4) without the token.
func (c *Client) send(ctx context.Context, auth konnect.Auth, r request, call sdkCall) error {
	start := time.Now()
	status := 0
	apiErr := refuse(auth, r)
	if apiErr == nil {
		status, apiErr = c.exchange(ctx, auth, r, call)
	}
	logCall(ctx, auth, r, status, time.Since(start), apiErr)
	if apiErr != nil {
		return apiErr
	}
	return nil
}

// refuse says why r must not be sent with auth, or nil.
func refuse(auth konnect.Auth, r request) *konnect.APIError {
	if msg := tokenProblem(auth.Token); msg != "" {
		return notSent(r, konnect.ErrorUnauthorized, msg)
	}
	if msg := serverURLProblem(auth.ServerURL); msg != "" {
		return notSent(r, konnect.ErrorRejected, msg)
	}
	if r.invalid != "" {
		return notSent(r, konnect.ErrorRejected, r.invalid)
	}
	for _, p := range r.pathIDs {
		if msg := idProblem(p.what, p.id); msg != "" {
			return notSent(r, konnect.ErrorRejected, msg)
		}
	}
	return nil
}

// exchange runs call and classifies its outcome. It returns the status the transport saw
// arrive (0 when none did).
func (c *Client) exchange(ctx context.Context, auth konnect.Auth, r request, call sdkCall) (status int, apiErr *konnect.APIError) {
	callCtx, obs, cancel := c.callContext(ctx, auth.Token)
	defer cancel()
	// The SDK parses whatever the network hands it; a bug there must not take the controller
	// down.
	defer func() {
		if recover() != nil {
			status, _ = obs.get()
			apiErr = sdkPanic(r, status)
		}
	}()

	err := call(callCtx, []operations.Option{operations.WithServerURL(auth.ServerURL)})
	status, header := obs.get()
	if err == nil {
		return status, nil
	}
	return status, classifyCall(r, auth.Token, outcome{
		success:   r.success,
		err:       err,
		status:    status,
		header:    header,
		callerErr: ctx.Err(),
		timedOut:  errors.Is(callCtx.Err(), context.DeadlineExceeded),
		timeout:   c.timeout,
		now:       c.now(),
	})
}

// logCall logs one call at V(4): what it was, what Konnect answered and how long it took.
// The token appears only as a hash prefix, as in Validate's log line; the message is left
// out because it quotes Konnect's answer.
func logCall(ctx context.Context, auth konnect.Auth, r request, status int, d time.Duration, apiErr *konnect.APIError) {
	logger := klog.FromContext(ctx).V(4)
	if !logger.Enabled() {
		return
	}
	kv := []any{
		"op", r.op,
		"controlPlaneID", r.controlPlaneID,
		"tokenHash", konnect.Hashed(auth.Token, auth.ServerURL)[:16],
		"serverURL", auth.ServerURL,
		"statusCode", status,
		"duration", d,
	}
	if r.page != 0 {
		kv = append(kv, "page", r.page)
	}
	if apiErr != nil {
		kv = append(kv, "errorKind", apiErr.Kind.String(), "retryAfter", apiErr.RetryAfter)
	}
	logger.Info("Called Konnect", kv...)
}
