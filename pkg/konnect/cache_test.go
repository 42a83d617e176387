package konnect

import (
	"context"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/time/rate"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"
)

const (
	testToken  = "kpat_SECRETSECRET"
	testServer = "https://us.api.konghq.com"
)

var (
	epoch = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	alice = types.NamespacedName{Namespace: "kong", Name: "alice"}
	bob   = types.NamespacedName{Namespace: "kong", Name: "bob"}
)

// fakeValidator counts calls and answers from a script (the last entry repeats). When block
// is set, every call waits on it (or on its context), so that checks overlap with it.
type fakeValidator struct {
	mu     sync.Mutex
	calls  int
	script []Result
	block  chan struct{}
	tokens []string
}

func (f *fakeValidator) Validate(ctx context.Context, token, serverURL string) Result {
	f.mu.Lock()
	f.calls++
	n := f.calls
	f.tokens = append(f.tokens, token)
	block := f.block
	f.mu.Unlock()
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return Result{Verdict: VerdictUnavailable, Message: "canceled"}
		}
	}
	if len(f.script) == 0 {
		return Result{Verdict: VerdictValid, OrganizationID: "org-1", StatusCode: 200}
	}
	return f.script[min(n, len(f.script))-1]
}

func (f *fakeValidator) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

// harness is a Checker on a fake clock whose Done callback feeds a channel.
type harness struct {
	*Checker
	clk  *clocktesting.FakeClock
	done chan []types.NamespacedName
}

func newHarness(t *testing.T, next Validator, opts CheckerOptions) *harness {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	h := &harness{clk: clocktesting.NewFakeClock(epoch), done: make(chan []types.NamespacedName, 100)}
	opts.Clock = h.clk
	opts.Done = func(askers []types.NamespacedName) { h.done <- askers }
	h.Checker = NewChecker(ctx, next, opts)
	return h
}

func (h *harness) step(d time.Duration) { h.clk.SetTime(h.clk.Now().Add(d)) }

// wait returns the askers of the next call to end.
func (h *harness) wait(t *testing.T) []types.NamespacedName {
	t.Helper()
	select {
	case askers := <-h.done:
		return askers
	case <-time.After(10 * time.Second):
		t.Fatal("no check ended within 10s")
		return nil
	}
}

// settle checks once as asker and, if that started a call, waits for it and checks again.
func (h *harness) settle(t *testing.T, token, server string, asker types.NamespacedName) Result {
	t.Helper()
	r := h.Check(token, server, asker)
	if r.Verdict != VerdictPending {
		return r
	}
	h.wait(t)
	r = h.Check(token, server, asker)
	if r.Verdict == VerdictPending {
		t.Fatalf("still pending after the call ended")
	}
	return r
}

func TestCheckNeverWaitsAndWakesTheAsker(t *testing.T) {
	fake := &fakeValidator{block: make(chan struct{})}
	h := newHarness(t, fake, CheckerOptions{TTL: time.Minute})

	start := time.Now()
	if r := h.Check(testToken, testServer, alice); r.Verdict != VerdictPending {
		t.Fatalf("first check = %v, want pending", r.Verdict)
	}
	if r := h.Check(testToken, testServer, bob); r.Verdict != VerdictPending {
		t.Fatalf("check during the call = %v, want pending", r.Verdict)
	}
	if waited := time.Since(start); waited > time.Second {
		t.Errorf("Check waited %v on a call that does not answer", waited)
	}
	select {
	case <-h.done:
		t.Fatal("Done was called before the call ended")
	case <-time.After(50 * time.Millisecond):
	}
	close(fake.block)
	askers := h.wait(t)
	if len(askers) != 2 || !contains(askers, alice) || !contains(askers, bob) {
		t.Errorf("Done named %v, want alice and bob", askers)
	}
	if r := h.Check(testToken, testServer, alice); r.Verdict != VerdictValid || r.OrganizationID != "org-1" {
		t.Errorf("after the call: %+v, want valid org-1", r)
	}
	if n := fake.count(); n != 1 {
		t.Errorf("%d calls, want 1", n)
	}
}

func TestCheckWakesOnlyItsOwnAskers(t *testing.T) {
	fake := &fakeValidator{}
	h := newHarness(t, fake, CheckerOptions{TTL: time.Minute})
	h.Check("kpat_one", testServer, alice)
	if askers := h.wait(t); len(askers) != 1 || askers[0] != alice {
		t.Fatalf("Done named %v, want only alice", askers)
	}
	h.Check("kpat_two", testServer, bob)
	if askers := h.wait(t); len(askers) != 1 || askers[0] != bob {
		t.Fatalf("Done named %v, want only bob", askers)
	}
}

func TestCheckHitWithinTTLAndMissAfter(t *testing.T) {
	fake := &fakeValidator{}
	h := newHarness(t, fake, CheckerOptions{TTL: time.Minute})
	h.settle(t, testToken, testServer, alice)
	h.step(59 * time.Second)
	if r := h.Check(testToken, testServer, bob); r.Verdict != VerdictValid {
		t.Errorf("within TTL: %v, want valid from memory", r.Verdict)
	}
	h.step(time.Second)
	if r := h.Check(testToken, testServer, bob); r.Verdict != VerdictPending {
		t.Errorf("at TTL: %v, want pending (a new call)", r.Verdict)
	}
	h.wait(t)
	if n := fake.count(); n != 2 {
		t.Errorf("%d calls, want 2", n)
	}
	if hits, misses := h.Stats(); hits != 2 || misses != 2 { // settle answers once from memory too
		t.Errorf("stats = %d hits, %d misses; want 2, 2", hits, misses)
	}
}

func TestCheckDefinitiveVerdictsAreReused(t *testing.T) {
	for _, v := range []Verdict{VerdictValid, VerdictInvalid, VerdictForbidden, VerdictInvalidResponse} {
		t.Run(v.String(), func(t *testing.T) {
			fake := &fakeValidator{script: []Result{{Verdict: v, RetryAfter: 7 * time.Second}}}
			h := newHarness(t, fake, CheckerOptions{TTL: time.Hour})
			h.settle(t, testToken, testServer, alice)
			for range 5 {
				h.step(time.Minute)
				if r := h.Check(testToken, testServer, alice); r.Verdict != v || r.NextCheck != 0 {
					t.Fatalf("got %+v, want %v from memory with no NextCheck", r, v)
				}
			}
			if n := fake.count(); n != 1 {
				t.Errorf("%d calls, want 1", n)
			}
		})
	}
}

func TestCheckZeroTTLMeansDefault(t *testing.T) {
	h := newHarness(t, &fakeValidator{}, CheckerOptions{})
	h.settle(t, testToken, testServer, alice)
	h.step(DefaultTTL - time.Second)
	if r := h.Check(testToken, testServer, alice); r.Verdict != VerdictValid {
		t.Errorf("a second before DefaultTTL: %v, want valid", r.Verdict)
	}
}

func TestCheckDifferentServersAreDifferentKeys(t *testing.T) {
	fake := &fakeValidator{}
	h := newHarness(t, fake, CheckerOptions{TTL: time.Hour})
	h.settle(t, testToken, "https://us.api.konghq.com", alice)
	h.settle(t, testToken, "https://eu.api.konghq.com", alice)
	h.settle(t, testToken, "https://us.api.konghq.com", bob)
	if n := fake.count(); n != 2 {
		t.Errorf("%d calls, want 2 (one per server URL)", n)
	}
}

func TestHashed(t *testing.T) {
	a := Hashed(testToken, "https://us.api.konghq.com")
	if len(a) != 64 || strings.Contains(a, "SECRET") {
		t.Errorf("Hashed = %q: want 64 hex digits without the token", a)
	}
	if a != Hashed(testToken, "https://us.api.konghq.com") {
		t.Error("Hashed is not deterministic")
	}
	for _, other := range []string{Hashed(testToken, "https://eu.api.konghq.com"), Hashed(testToken+"x", "https://us.api.konghq.com"), Hashed("", "")} {
		if other == a {
			t.Errorf("Hashed collides: %q", other)
		}
	}
}

// TestCheckUnavailableBacksOffPerToken: consecutive Unavailable results are reused for 1s, 2s,
// 4s … whoever asks, and a definitive answer resets the backoff.
func TestCheckUnavailableBacksOffPerToken(t *testing.T) {
	down := Result{Verdict: VerdictUnavailable, StatusCode: 503, Message: "Konnect answered 503"}
	fake := &fakeValidator{script: []Result{down, down, down, down, {Verdict: VerdictValid, OrganizationID: "org-1"}, down}}
	h := newHarness(t, fake, CheckerOptions{TTL: time.Hour, MinUnavailableBackoff: time.Second, MaxUnavailableBackoff: time.Minute})

	for i, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second} {
		r := h.settle(t, testToken, testServer, alice)
		if r.Verdict != VerdictUnavailable || r.NextCheck != want {
			t.Fatalf("failure %d: %v NextCheck %v, want unavailable, %v", i+1, r.Verdict, r.NextCheck, want)
		}
		// Anyone asking during the backoff is answered from memory, with the time left.
		h.step(want / 2)
		if r := h.Check(testToken, testServer, bob); r.Verdict != VerdictUnavailable || r.NextCheck != want-want/2 {
			t.Fatalf("during backoff %d: %v NextCheck %v, want unavailable, %v", i+1, r.Verdict, r.NextCheck, want-want/2)
		}
		h.step(want - want/2)
	}
	if r := h.settle(t, testToken, testServer, alice); r.Verdict != VerdictValid {
		t.Fatalf("after recovery: %v, want valid", r.Verdict)
	}
	h.step(2 * time.Hour)
	if r := h.settle(t, testToken, testServer, alice); r.Verdict != VerdictUnavailable || r.NextCheck != time.Second {
		t.Errorf("first failure after a success: NextCheck %v, want the backoff to start again at 1s", r.NextCheck)
	}
	if n := fake.count(); n != 6 {
		t.Errorf("%d calls, want 6", n)
	}
}

// TestCheckOutageBound: during a 60s outage a token is checked every 100ms (as a
// configuration's own status writes would trigger); Konnect is asked no more often than the
// backoff allows: calls at 0, 1, 3, 7, 15, 31s (and 63s after the end).
func TestCheckOutageBound(t *testing.T) {
	fake := &fakeValidator{script: []Result{{Verdict: VerdictUnavailable, StatusCode: 503}}}
	h := newHarness(t, fake, CheckerOptions{TTL: time.Hour, MinUnavailableBackoff: time.Second, MaxUnavailableBackoff: 5 * time.Minute})
	const outage = 60 * time.Second
	for elapsed := time.Duration(0); elapsed < outage; elapsed += 100 * time.Millisecond {
		if r := h.Check(testToken, testServer, alice); r.Verdict == VerdictPending {
			h.wait(t)
		}
		h.step(100 * time.Millisecond)
	}
	bound := int(math.Floor(math.Log2(outage.Seconds()+1))) + 1
	if n := fake.count(); n > bound || n < bound-1 {
		t.Errorf("%d calls during a %v outage checked every 100ms; the backoff allows %d", n, outage, bound)
	}
	t.Logf("%d calls in a %v outage (bound %d)", fake.count(), outage, bound)
}

func TestCheckHonoursRetryAfter(t *testing.T) {
	fake := &fakeValidator{script: []Result{{Verdict: VerdictUnavailable, StatusCode: 429, RetryAfter: 30 * time.Second}, {Verdict: VerdictValid}}}
	h := newHarness(t, fake, CheckerOptions{TTL: time.Hour})
	r := h.settle(t, testToken, testServer, alice)
	if r.NextCheck != 30*time.Second || r.RetryAfter != 30*time.Second {
		t.Fatalf("NextCheck %v RetryAfter %v, want 30s and 30s", r.NextCheck, r.RetryAfter)
	}
	h.step(29 * time.Second)
	if r := h.Check(testToken, testServer, alice); r.Verdict != VerdictUnavailable || r.NextCheck != time.Second {
		t.Errorf("before Retry-After: %v NextCheck %v, want unavailable, 1s", r.Verdict, r.NextCheck)
	}
	h.step(time.Second)
	if r := h.settle(t, testToken, testServer, alice); r.Verdict != VerdictValid {
		t.Errorf("after Retry-After: %v, want valid", r.Verdict)
	}
}

func TestCheckRetryAfterShorterThanBackoff(t *testing.T) {
	fake := &fakeValidator{script: []Result{{Verdict: VerdictUnavailable, StatusCode: 429, RetryAfter: time.Millisecond}}}
	h := newHarness(t, fake, CheckerOptions{TTL: time.Hour, MinUnavailableBackoff: 2 * time.Second})
	if r := h.settle(t, testToken, testServer, alice); r.NextCheck != 2*time.Second {
		t.Errorf("NextCheck %v, want the 2s backoff", r.NextCheck)
	}
}

func TestCheckLimiterConsultedOnlyOnCalls(t *testing.T) {
	// A burst of 1 and a rate of one per hour: a second call could only be granted in an hour.
	limiter := rate.NewLimiter(rate.Every(time.Hour), 1)
	fake := &fakeValidator{}
	h := newHarness(t, fake, CheckerOptions{TTL: time.Hour, Limiter: limiter})
	h.settle(t, testToken, testServer, alice)
	for range 10 {
		if r := h.Check(testToken, testServer, bob); r.Verdict != VerdictValid {
			t.Fatalf("answer from memory: %v, want valid", r.Verdict)
		}
	}
	// A new token must wait for the limiter, and is pending meanwhile without blocking.
	if r := h.Check("kpat_other", testServer, bob); r.Verdict != VerdictPending {
		t.Fatalf("new token: %v, want pending", r.Verdict)
	}
	select {
	case <-h.done:
		t.Fatal("a call went past the limiter")
	case <-time.After(100 * time.Millisecond):
	}
	if n := fake.count(); n != 1 {
		t.Errorf("%d calls, want 1", n)
	}
}

// TestCheckStopEndsCallsWithoutAnAnswer: when the process stops, a call in flight ends, nothing
// is remembered about the token, nobody is woken, and nothing is left in flight.
func TestCheckStopEndsCallsWithoutAnAnswer(t *testing.T) {
	fake := &fakeValidator{block: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan []types.NamespacedName, 1)
	c := NewChecker(ctx, fake, CheckerOptions{TTL: time.Hour, Done: func(a []types.NamespacedName) { done <- a }})
	c.Check(testToken, testServer, alice)
	deadline := time.Now().Add(5 * time.Second)
	for fake.count() == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	cancel()
	for time.Now().Before(deadline) {
		c.mu.Lock()
		n := len(c.entries)
		c.mu.Unlock()
		if n == 0 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) != 0 {
		t.Errorf("%d entries after stopping, want none", len(c.entries))
	}
	select {
	case a := <-done:
		t.Errorf("Done called with %v for a call cut short by the stop", a)
	default:
	}
}

func TestCheckNeverStoresToken(t *testing.T) {
	fake := &fakeValidator{script: []Result{
		{Verdict: VerdictValid, OrganizationID: "org-1"},
		{Verdict: VerdictUnavailable, StatusCode: 503},
		{Verdict: VerdictInvalid, StatusCode: 401},
	}}
	h := newHarness(t, fake, CheckerOptions{TTL: time.Minute})
	servers := []string{"https://us.api.konghq.com", "https://eu.api.konghq.com", "https://au.api.konghq.com"}
	for _, s := range servers {
		h.settle(t, testToken, s, alice)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.entries) != len(servers) {
		t.Fatalf("%d entries, want %d", len(h.entries), len(servers))
	}
	for k, e := range h.entries {
		if dump := fmt.Sprintf("%s %#v", k, *e); strings.Contains(dump, "SECRET") {
			t.Errorf("entry holds the token: %s", dump)
		}
	}
	for _, s := range servers {
		if _, ok := h.entries[Hashed(testToken, s)]; !ok {
			t.Errorf("no entry under Hashed(token, %q)", s)
		}
	}
}

func TestCheckSweepRemovesExpiredEntries(t *testing.T) {
	h := newHarness(t, &fakeValidator{}, CheckerOptions{TTL: time.Minute})
	for i := range 10 {
		h.settle(t, fmt.Sprintf("kpat_token%d", i), testServer, alice)
	}
	h.step(2 * time.Minute)
	h.settle(t, "kpat_late", testServer, alice)
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.entries) != 1 {
		t.Errorf("%d entries after the sweep, want 1 (the fresh one)", len(h.entries))
	}
}

func TestCheckConcurrentMixedTokens(t *testing.T) {
	fake := &fakeValidator{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	woken := map[types.NamespacedName]int{}
	c := NewChecker(ctx, fake, CheckerOptions{TTL: time.Hour, Done: func(askers []types.NamespacedName) {
		mu.Lock()
		defer mu.Unlock()
		for _, a := range askers {
			woken[a]++
		}
	}})
	const tokens, askersPerToken = 20, 50
	var wg sync.WaitGroup
	var pendingMu sync.Mutex
	var pending []types.NamespacedName
	for i := range tokens * askersPerToken {
		wg.Go(func() {
			asker := types.NamespacedName{Namespace: "ns", Name: fmt.Sprint(i)}
			if r := c.Check(fmt.Sprintf("kpat_t%d", i%tokens), testServer, asker); r.Verdict == VerdictPending {
				pendingMu.Lock()
				pending = append(pending, asker)
				pendingMu.Unlock()
			}
		})
	}
	wg.Wait()
	allWoken := func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, a := range pending {
			if woken[a] == 0 {
				return false
			}
		}
		return true
	}
	for deadline := time.Now().Add(10 * time.Second); !allWoken() && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	if !allWoken() {
		t.Errorf("not every asker told pending was woken")
	}
	if n := fake.count(); n != tokens {
		t.Errorf("%d calls for %d tokens, want one each", n, tokens)
	}
	// Every asker that was told pending was woken exactly once; the rest were answered.
	mu.Lock()
	defer mu.Unlock()
	for a, n := range woken {
		if n != 1 {
			t.Errorf("%v woken %d times", a, n)
		}
	}
	for i := range tokens * askersPerToken {
		r := c.Check(fmt.Sprintf("kpat_t%d", i%tokens), testServer, alice)
		if r.Verdict != VerdictValid {
			t.Fatalf("token %d: %v after every call ended, want valid", i%tokens, r.Verdict)
		}
	}
}

func contains(list []types.NamespacedName, x types.NamespacedName) bool {
	for _, y := range list {
		if y == x {
			return true
		}
	}
	return false
}
