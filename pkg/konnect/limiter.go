package konnect

// One Konnect budget with priorities (issue 19): every call waits on the process-wide rate
// limiter (--konnect-qps), and a re-sync's calls (Resync) give way to the user's: they take a
// token only when one is free now and no user-driven call is waiting, and none at all while
// Konnect asks for calm after a 429.

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// DefaultCalm is how long re-syncs hold back after a 429 that names no Retry-After.
const DefaultCalm = 15 * time.Second

// resyncPoll is how often a waiting re-sync call looks again for a free token.
const resyncPoll = 50 * time.Millisecond

type resyncKey struct{}

// Resync marks ctx as a re-sync's: its calls to Konnect (WithLimiter) give way to user-driven
// ones, and hold back while Konnect asks for calm.
func Resync(ctx context.Context) context.Context { return context.WithValue(ctx, resyncKey{}, true) }

func isResync(ctx context.Context) bool { v, _ := ctx.Value(resyncKey{}).(bool); return v }

// WithLimiter returns an api whose every call first waits on limiter: the process-wide rate
// limit that the token Checker waits on too, so control planes and certificates cannot crowd
// Konnect beyond --konnect-qps. A re-sync's calls (Resync) give way to the others. When Konnect
// answers 429, re-syncs hold back for its Retry-After (DefaultCalm when absent), and slowed, if
// set, is told how long. A nil limiter returns api unchanged.
func WithLimiter(api ControlPlaneAPI, limiter *rate.Limiter, slowed func(time.Duration)) ControlPlaneAPI {
	if limiter == nil {
		return api
	}
	return &limitedAPI{next: api, limiter: limiter, slowed: slowed}
}

type limitedAPI struct {
	next    ControlPlaneAPI
	limiter *rate.Limiter
	slowed  func(time.Duration)

	// waiting counts the user-driven calls waiting for a token; calmUntil is when re-syncs
	// may call again after a 429 (Unix nanoseconds).
	waiting   atomic.Int64
	calmUntil atomic.Int64
}

func (l *limitedAPI) wait(ctx context.Context, op string) error {
	notSent := func(err error) error {
		return &APIError{Op: op, Kind: ErrorTransient, Message: "not sent: " + err.Error()}
	}
	if !isResync(ctx) {
		l.waiting.Add(1)
		defer l.waiting.Add(-1)
		if err := l.limiter.Wait(ctx); err != nil {
			return notSent(err)
		}
		return nil
	}
	// A re-sync never reserves a token ahead: one reserved in the future would make a user's
	// call that comes after it wait behind it.
	for {
		if l.waiting.Load() == 0 && time.Now().UnixNano() >= l.calmUntil.Load() && l.limiter.Allow() {
			return nil
		}
		select {
		case <-ctx.Done():
			return notSent(ctx.Err())
		case <-time.After(resyncPoll):
		}
	}
}

// observe holds re-syncs back after a 429.
func (l *limitedAPI) observe(err error) {
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusTooManyRequests {
		return
	}
	calm := apiErr.RetryAfter
	if calm <= 0 {
		calm = DefaultCalm
	}
	until := time.Now().Add(calm).UnixNano()
	for {
		old := l.calmUntil.Load()
		if until <= old {
			return
		}
		if l.calmUntil.CompareAndSwap(old, until) {
			break
		}
	}
	if l.slowed != nil {
		l.slowed(calm)
	}
}

func (l *limitedAPI) CreateControlPlane(ctx context.Context, auth Auth, spec ControlPlaneSpec) (*ControlPlane, error) {
	if err := l.wait(ctx, "creating control plane"); err != nil {
		return nil, err
	}
	res, err := l.next.CreateControlPlane(ctx, auth, spec)
	l.observe(err)
	return res, err
}

func (l *limitedAPI) GetControlPlane(ctx context.Context, auth Auth, id string) (*ControlPlane, error) {
	if err := l.wait(ctx, "getting control plane"); err != nil {
		return nil, err
	}
	res, err := l.next.GetControlPlane(ctx, auth, id)
	l.observe(err)
	return res, err
}

func (l *limitedAPI) ListControlPlanes(ctx context.Context, auth Auth, filter ControlPlaneFilter) ([]ControlPlane, error) {
	if err := l.wait(ctx, "listing control planes"); err != nil {
		return nil, err
	}
	res, err := l.next.ListControlPlanes(ctx, auth, filter)
	l.observe(err)
	return res, err
}

func (l *limitedAPI) UpdateControlPlane(ctx context.Context, auth Auth, id string, spec ControlPlaneSpec) (*ControlPlane, error) {
	if err := l.wait(ctx, "updating control plane"); err != nil {
		return nil, err
	}
	res, err := l.next.UpdateControlPlane(ctx, auth, id, spec)
	l.observe(err)
	return res, err
}

func (l *limitedAPI) DeleteControlPlane(ctx context.Context, auth Auth, id string) error {
	if err := l.wait(ctx, "deleting control plane"); err != nil {
		return err
	}
	err := l.next.DeleteControlPlane(ctx, auth, id)
	l.observe(err)
	return err
}

func (l *limitedAPI) ListDataPlaneCertificates(ctx context.Context, auth Auth, controlPlaneID string) ([]DataPlaneCertificate, error) {
	if err := l.wait(ctx, "listing data-plane certificates"); err != nil {
		return nil, err
	}
	res, err := l.next.ListDataPlaneCertificates(ctx, auth, controlPlaneID)
	l.observe(err)
	return res, err
}

func (l *limitedAPI) CreateDataPlaneCertificate(ctx context.Context, auth Auth, controlPlaneID, certPEM, title string) (*DataPlaneCertificate, error) {
	if err := l.wait(ctx, "registering data-plane certificate"); err != nil {
		return nil, err
	}
	res, err := l.next.CreateDataPlaneCertificate(ctx, auth, controlPlaneID, certPEM, title)
	l.observe(err)
	return res, err
}

func (l *limitedAPI) DeleteDataPlaneCertificate(ctx context.Context, auth Auth, controlPlaneID, certID string) error {
	if err := l.wait(ctx, "deleting data-plane certificate"); err != nil {
		return err
	}
	err := l.next.DeleteDataPlaneCertificate(ctx, auth, controlPlaneID, certID)
	l.observe(err)
	return err
}

func (l *limitedAPI) ListGroupMembers(ctx context.Context, auth Auth, groupID string) ([]ControlPlane, error) {
	if err := l.wait(ctx, "listing control plane group members"); err != nil {
		return nil, err
	}
	res, err := l.next.ListGroupMembers(ctx, auth, groupID)
	l.observe(err)
	return res, err
}

func (l *limitedAPI) SetGroupMembers(ctx context.Context, auth Auth, groupID string, memberIDs []string) error {
	if err := l.wait(ctx, "setting control plane group members"); err != nil {
		return err
	}
	err := l.next.SetGroupMembers(ctx, auth, groupID, memberIDs)
	l.observe(err)
	return err
}
