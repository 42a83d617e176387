package apiauth

import (
	"context"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/controller"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/konnect"
)

// fakeKonnect is an in-memory Konnect: each token gets a scripted Result; unknown tokens
// are refused as by a 401. It counts calls per token.
type fakeKonnect struct {
	mu      sync.Mutex
	results map[string]konnect.Result
	calls   map[string]int
	// block, when set, holds every call until it is closed, so concurrent callers overlap.
	block chan struct{}
}

func newFakeKonnect() *fakeKonnect {
	return &fakeKonnect{
		results: map[string]konnect.Result{
			tokenValid:     {Verdict: konnect.VerdictValid, OrganizationID: orgID, StatusCode: 200},
			tokenValid2:    {Verdict: konnect.VerdictValid, OrganizationID: orgID, StatusCode: 200},
			tokenForbidden: {Verdict: konnect.VerdictForbidden, StatusCode: 403, Message: "Konnect refused the token (403 Forbidden): insufficient permissions"},
			tokenEmptyOrg:  {Verdict: konnect.VerdictInvalidResponse, StatusCode: 200, Message: "Konnect answered 200 without an organization id"},
			tokenDown:      {Verdict: konnect.VerdictUnavailable, StatusCode: 503, Message: "Konnect answered 503 Service Unavailable"},
		},
		calls: map[string]int{},
	}
}

func (f *fakeKonnect) Validate(ctx context.Context, token, serverURL string) konnect.Result {
	f.mu.Lock()
	f.calls[token]++
	block := f.block
	r, ok := f.results[token]
	f.mu.Unlock()
	if block != nil {
		<-block
	}
	if !ok {
		return konnect.Result{Verdict: konnect.VerdictInvalid, StatusCode: 401, Message: "Konnect refused the token (401 Unauthorized): Invalid credentials"}
	}
	return r
}

func (f *fakeKonnect) set(token string, r konnect.Result) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.results[token] = r
}

func (f *fakeKonnect) callsFor(token string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[token]
}

// syncChecker answers every check at once from a Validator, as a konnect.Checker does once it
// knows the answer, so that tests of sync's decisions need no background calls. An Unavailable
// answer says to look again after Konnect's Retry-After, or a second.
type syncChecker struct{ v konnect.Validator }

func (s syncChecker) Check(token, serverURL string, _ types.NamespacedName) konnect.Result {
	r := s.v.Validate(context.Background(), token, serverURL)
	if r.Verdict == konnect.VerdictUnavailable {
		r.NextCheck = max(r.RetryAfter, time.Second)
	}
	return r
}

// realChecker puts a konnect.Checker, as in production, on the fixture's clock in front of the
// fake Konnect, waking the controller.
func realChecker(ctx context.Context) func(f *fixture) controller.TokenChecker {
	return func(f *fixture) controller.TokenChecker {
		return konnect.NewChecker(ctx, f.konnect, konnect.CheckerOptions{TTL: time.Hour, Clock: f.Clock,
			Done: func(askers []types.NamespacedName) { f.ctrl.Wake(askers) }})
	}
}
