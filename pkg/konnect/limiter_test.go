package konnect_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/konnect"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/konnect/konnecttest"
)

var auth = konnect.Auth{Token: "kpat_" + "x", ServerURL: "https://us.api.konghq.com"}

// TestResyncGivesWayToUserCalls: with the budget spent, a re-sync's call that asks first still
// goes after a user-driven one that asks later.
func TestResyncGivesWayToUserCalls(t *testing.T) {
	limiter := rate.NewLimiter(rate.Every(300*time.Millisecond), 1)
	api := konnect.WithLimiter(konnecttest.New(), limiter, nil)
	limiter.Allow() // the budget is spent for 300ms
	var mu sync.Mutex
	var order []string
	var wg sync.WaitGroup
	call := func(name string, ctx context.Context) {
		defer wg.Done()
		if _, err := api.ListControlPlanes(ctx, auth, konnect.ControlPlaneFilter{}); err != nil {
			t.Error(err)
		}
		mu.Lock()
		order = append(order, name)
		mu.Unlock()
	}
	wg.Add(2)
	go call("re-sync", konnect.Resync(context.Background()))
	time.Sleep(50 * time.Millisecond)
	go call("user", context.Background())
	wg.Wait()
	if len(order) != 2 || order[0] != "user" {
		t.Fatalf("calls went in the order %v, want the user's first", order)
	}
}

// TestResyncsHoldBackAfter429: a 429 holds re-syncs back for its Retry-After (15s when absent)
// and says so, and leaves user-driven calls alone.
func TestResyncsHoldBackAfter429(t *testing.T) {
	tooMany := func(retryAfter time.Duration) error {
		return &konnect.APIError{Op: "listing control planes", Kind: konnect.ErrorTransient, StatusCode: 429, RetryAfter: retryAfter, Message: "Konnect answered 429"}
	}
	list := func(api konnect.ControlPlaneAPI, ctx context.Context) error {
		_, err := api.ListControlPlanes(ctx, auth, konnect.ControlPlaneFilter{})
		return err
	}
	for _, tc := range []struct {
		name       string
		retryAfter time.Duration
		want       time.Duration
	}{
		{"Retry-After", time.Hour, time.Hour},
		{"no Retry-After", 0, konnect.DefaultCalm},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := konnecttest.New()
			var slowed []time.Duration
			api := konnect.WithLimiter(fake, rate.NewLimiter(rate.Inf, 1), func(d time.Duration) { slowed = append(slowed, d) })
			fake.Fail(konnecttest.OpListControlPlanes, tooMany(tc.retryAfter))
			if err := list(api, context.Background()); !konnect.IsTransient(err) {
				t.Fatalf("the 429 was not passed on: %v", err)
			}
			if len(slowed) != 1 || slowed[0] != tc.want {
				t.Fatalf("slowed %v, want [%v]", slowed, tc.want)
			}
			if err := list(api, context.Background()); err != nil {
				t.Fatalf("a user-driven call after the 429: %v", err)
			}
			// A re-sync waits for the calm to end, past this one's deadline: it is not sent.
			ctx, cancel := context.WithTimeout(konnect.Resync(context.Background()), 100*time.Millisecond)
			defer cancel()
			if err := list(api, ctx); !konnect.IsTransient(err) {
				t.Fatalf("a re-sync during the calm: %v, want not sent", err)
			}
			if n := fake.Count(konnecttest.OpListControlPlanes); n != 2 {
				t.Errorf("Konnect got %d listings, want the 429's and the user's", n)
			}
		})
	}
}
