package konnect

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/time/rate"
	clocktesting "k8s.io/utils/clock/testing"
)

const (
	testToken  = "kpat_SECRETSECRET"
	testServer = "https://us.api.konghq.com"
)

// fakeValidator counts calls and answers from a script (the last entry repeats). When block
// is set, every call waits on it, so that concurrent callers are forced to overlap.
type fakeValidator struct {
	mu      sync.Mutex
	calls   int
	script  []Result
	block   chan struct{}
	started chan struct{}
	tokens  []string
}

func (f *fakeValidator) Validate(ctx context.Context, token, serverURL string) Result {
	f.mu.Lock()
	f.calls++
	n := f.calls
	f.tokens = append(f.tokens, token)
	f.mu.Unlock()
	if f.started != nil {
		f.started <- struct{}{}
	}
	if f.block != nil {
		select {
		case <-f.block:
		case <-ctx.Done():
			return Result{Verdict: VerdictUnavailable, Message: "canceled"}
		}
	}
	if len(f.script) == 0 {
		return Result{Verdict: VerdictValid, OrganizationID: "org-1", StatusCode: 200}
	}
	if n > len(f.script) {
		n = len(f.script)
	}
	return f.script[n-1]
}

func (f *fakeValidator) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

var epoch = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func newTestCache(next Validator, opts CacheOptions) (*CachingValidator, *clocktesting.FakePassiveClock) {
	clk := clocktesting.NewFakePassiveClock(epoch)
	opts.Clock = clk
	return NewCachingValidator(next, opts), clk
}

func step(clk *clocktesting.FakePassiveClock, d time.Duration) { clk.SetTime(clk.Now().Add(d)) }

func TestCacheHitWithinTTLAndMissAfter(t *testing.T) {
	fake := &fakeValidator{}
	c, clk := newTestCache(fake, CacheOptions{TTL: time.Minute})
	ctx := context.Background()

	for i := range 5 {
		r := c.Validate(ctx, testToken, testServer)
		if r.Verdict != VerdictValid || r.OrganizationID != "org-1" {
			t.Fatalf("call %d: got %+v", i, r)
		}
		step(clk, 10*time.Second) // 0,10,20,30,40s: all within the minute
	}
	if got := fake.count(); got != 1 {
		t.Fatalf("within TTL: %d real calls, want 1", got)
	}
	step(clk, 20*time.Second) // 60s after the call: expired
	c.Validate(ctx, testToken, testServer)
	if got := fake.count(); got != 2 {
		t.Fatalf("after TTL: %d real calls, want 2", got)
	}
	hits, misses := c.Stats()
	if hits != 4 || misses != 2 {
		t.Fatalf("Stats() = %d hits, %d misses; want 4, 2", hits, misses)
	}
}

func TestCacheDefinitiveVerdictsAreCached(t *testing.T) {
	for _, v := range []Verdict{VerdictValid, VerdictInvalid, VerdictForbidden, VerdictInvalidResponse} {
		t.Run(v.String(), func(t *testing.T) {
			fake := &fakeValidator{script: []Result{{Verdict: v, StatusCode: 401, Message: "m"}}}
			c, _ := newTestCache(fake, CacheOptions{TTL: time.Hour})
			for range 3 {
				if r := c.Validate(context.Background(), testToken, testServer); r.Verdict != v {
					t.Fatalf("got %v, want %v", r.Verdict, v)
				}
			}
			if got := fake.count(); got != 1 {
				t.Fatalf("%d real calls, want 1", got)
			}
		})
	}
}

func TestCacheZeroTTLDoesNotReuseDefinitiveVerdicts(t *testing.T) {
	fake := &fakeValidator{}
	c, _ := newTestCache(fake, CacheOptions{})
	for range 3 {
		c.Validate(context.Background(), testToken, testServer)
	}
	if got := fake.count(); got != 3 {
		t.Fatalf("%d real calls, want 3", got)
	}
}

func TestCacheMergesConcurrentCalls(t *testing.T) {
	fake := &fakeValidator{block: make(chan struct{}), started: make(chan struct{}, 100)}
	c, _ := newTestCache(fake, CacheOptions{TTL: time.Minute})

	const n = 40
	var wg sync.WaitGroup
	var entered sync.WaitGroup
	results := make([]Result, n)
	entered.Add(n)
	for i := range n {
		wg.Go(func() {
			entered.Done()
			results[i] = c.Validate(context.Background(), testToken, testServer)
		})
	}
	entered.Wait()
	<-fake.started // the one real call is under way and blocked
	// Give the other 39 goroutines time to join the flight before it completes.
	time.Sleep(100 * time.Millisecond)
	close(fake.block)
	wg.Wait()

	if got := fake.count(); got != 1 {
		t.Fatalf("%d real calls for %d concurrent Validate calls, want 1", got, n)
	}
	for i, r := range results {
		if r.Verdict != VerdictValid || r.OrganizationID != "org-1" {
			t.Fatalf("caller %d got %+v", i, r)
		}
	}
	hits, misses := c.Stats()
	if hits != n-1 || misses != 1 {
		t.Fatalf("Stats() = %d hits, %d misses; want %d, 1", hits, misses, n-1)
	}
}

func TestCacheCallerCancellationDoesNotPoisonOthers(t *testing.T) {
	fake := &fakeValidator{block: make(chan struct{}), started: make(chan struct{}, 10)}
	c, _ := newTestCache(fake, CacheOptions{TTL: time.Minute})

	ctx1, cancel1 := context.WithCancel(context.Background())
	done1 := make(chan Result, 1)
	go func() { done1 <- c.Validate(ctx1, testToken, testServer) }()
	<-fake.started // caller 1 owns the flight

	done2 := make(chan Result, 1)
	go func() { done2 <- c.Validate(context.Background(), testToken, testServer) }()
	time.Sleep(50 * time.Millisecond) // caller 2 joins caller 1's flight

	cancel1()
	if r := <-done1; r.Verdict != VerdictUnavailable {
		t.Fatalf("canceled caller got %+v, want Unavailable", r)
	}
	<-fake.started // caller 2 retried with its own, live context
	close(fake.block)
	if r := <-done2; r.Verdict != VerdictValid {
		t.Fatalf("surviving caller got %+v, want Valid", r)
	}
	if got := fake.count(); got != 2 {
		t.Fatalf("%d real calls, want 2", got)
	}
	// The canceled call was not cached as a failure: the Valid answer is.
	if r := c.Validate(context.Background(), testToken, testServer); r.Verdict != VerdictValid {
		t.Fatalf("after: got %+v", r)
	}
	if got := fake.count(); got != 2 {
		t.Fatalf("%d real calls, want 2", got)
	}
}

func TestCacheDifferentHostsAreDifferentKeys(t *testing.T) {
	fake := &fakeValidator{}
	c, _ := newTestCache(fake, CacheOptions{TTL: time.Minute})
	ctx := context.Background()
	c.Validate(ctx, testToken, "https://us.api.konghq.com")
	c.Validate(ctx, testToken, "https://eu.api.konghq.com")
	c.Validate(ctx, testToken+"X", "https://us.api.konghq.com")
	if got := fake.count(); got != 3 {
		t.Fatalf("%d real calls, want 3", got)
	}
	// Same host, spelled differently, is the same key.
	c.Validate(ctx, testToken, "us.api.konghq.com")
	c.Validate(ctx, testToken, "https://US.api.konghq.com:443")
	if got := fake.count(); got != 3 {
		t.Fatalf("%d real calls after same-host spellings, want 3", got)
	}
}

func TestHashed(t *testing.T) {
	k := Hashed(testToken, testServer)
	if len(k) != 64 || strings.Trim(k, "0123456789abcdef") != "" {
		t.Fatalf("Hashed = %q, want 64 hex digits", k)
	}
	if strings.Contains(k, testToken) || strings.Contains(k, "SECRET") {
		t.Fatalf("Hashed leaks the token: %q", k)
	}
	if Hashed(testToken, "https://eu.api.konghq.com") == k {
		t.Fatal("different hosts hash alike")
	}
	if Hashed("kpat_other", testServer) == k {
		t.Fatal("different tokens hash alike")
	}
	// The separator keeps host/token boundaries apart.
	if Hashed("b", "a") == Hashed("", "ab") {
		t.Fatal("ambiguous key")
	}
}

func TestCacheUnavailableBackoffGrowsAndResets(t *testing.T) {
	unavailable := Result{Verdict: VerdictUnavailable, StatusCode: 503, Message: "Konnect answered 503"}
	valid := Result{Verdict: VerdictValid, OrganizationID: "org-1", StatusCode: 200}
	fake := &fakeValidator{script: []Result{unavailable, unavailable, unavailable, unavailable, valid, unavailable}}
	c, clk := newTestCache(fake, CacheOptions{
		TTL:                   time.Minute,
		MinUnavailableBackoff: time.Second,
		MaxUnavailableBackoff: 5 * time.Second,
	})
	ctx := context.Background()

	// The n-th consecutive failure is reused for 1s, 2s, 4s, then capped at 5s.
	for i, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second} {
		calls := fake.count()
		r := c.Validate(ctx, testToken, testServer)
		if r.Verdict != VerdictUnavailable || r.RetryAfter != want {
			t.Fatalf("failure %d: got %v RetryAfter %v, want Unavailable %v", i+1, r.Verdict, r.RetryAfter, want)
		}
		// Hammering during the backoff makes no call, and RetryAfter counts down.
		step(clk, want/2)
		for range 10 {
			r = c.Validate(ctx, testToken, testServer)
		}
		if r.Verdict != VerdictUnavailable || r.RetryAfter != want-want/2 {
			t.Fatalf("failure %d, cached: got %v RetryAfter %v, want %v", i+1, r.Verdict, r.RetryAfter, want-want/2)
		}
		if got := fake.count(); got != calls+1 {
			t.Fatalf("failure %d: %d real calls during the backoff, want %d", i+1, got, calls+1)
		}
		step(clk, want-want/2-time.Nanosecond)
		c.Validate(ctx, testToken, testServer)
		if got := fake.count(); got != calls+1 {
			t.Fatalf("failure %d: called before the backoff ended", i+1)
		}
		step(clk, time.Nanosecond)
	}

	// A definitive answer resets the backoff.
	if r := c.Validate(ctx, testToken, testServer); r.Verdict != VerdictValid || r.RetryAfter != 0 {
		t.Fatalf("got %+v, want Valid", r)
	}
	step(clk, time.Minute)
	if r := c.Validate(ctx, testToken, testServer); r.Verdict != VerdictUnavailable || r.RetryAfter != time.Second {
		t.Fatalf("after reset: got %v RetryAfter %v, want Unavailable 1s", r.Verdict, r.RetryAfter)
	}
}

func TestCacheHonoursRetryAfter(t *testing.T) {
	limited := Result{Verdict: VerdictUnavailable, StatusCode: 429, RetryAfter: 90 * time.Second}
	fake := &fakeValidator{script: []Result{limited, {Verdict: VerdictValid, OrganizationID: "org-1"}}}
	c, clk := newTestCache(fake, CacheOptions{TTL: time.Minute})
	ctx := context.Background()

	r := c.Validate(ctx, testToken, testServer)
	if r.StatusCode != 429 || r.RetryAfter != 90*time.Second {
		t.Fatalf("got %+v, want the 429 with RetryAfter 90s", r)
	}
	// Every configuration sharing the token asks during those 90s: no call.
	for i := range 89 {
		step(clk, time.Second)
		r = c.Validate(ctx, testToken, testServer)
		if r.Verdict != VerdictUnavailable || r.RetryAfter != time.Duration(89-i)*time.Second {
			t.Fatalf("second %d: got %v RetryAfter %v", i+1, r.Verdict, r.RetryAfter)
		}
	}
	step(clk, time.Second-time.Nanosecond)
	c.Validate(ctx, testToken, testServer)
	if got := fake.count(); got != 1 {
		t.Fatalf("%d real calls before Retry-After passed, want 1", got)
	}
	step(clk, time.Nanosecond)
	if r := c.Validate(ctx, testToken, testServer); r.Verdict != VerdictValid {
		t.Fatalf("after Retry-After: got %+v", r)
	}
}

func TestCacheRetryAfterShorterThanBackoff(t *testing.T) {
	limited := Result{Verdict: VerdictUnavailable, StatusCode: 429, RetryAfter: time.Second}
	fake := &fakeValidator{script: []Result{limited}}
	c, _ := newTestCache(fake, CacheOptions{TTL: time.Minute, MinUnavailableBackoff: 10 * time.Second})
	if r := c.Validate(context.Background(), testToken, testServer); r.RetryAfter != 10*time.Second {
		t.Fatalf("RetryAfter = %v, want the 10s backoff", r.RetryAfter)
	}
}

func TestCacheLimiterConsultedOnlyOnMisses(t *testing.T) {
	// A limiter that grants exactly one call, ever.
	lim := rate.NewLimiter(0, 1)
	fake := &fakeValidator{}
	c, _ := newTestCache(fake, CacheOptions{TTL: time.Minute, Limiter: lim})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	for range 10 { // one miss, nine hits
		if r := c.Validate(ctx, testToken, testServer); r.Verdict != VerdictValid {
			t.Fatalf("got %+v", r)
		}
	}
	if got := fake.count(); got != 1 {
		t.Fatalf("%d real calls, want 1", got)
	}
	// The hits did not consume the limiter: its one grant went to the miss, and a second
	// miss is refused without calling.
	r := c.Validate(ctx, "kpat_other", testServer)
	if r.Verdict != VerdictUnavailable || !strings.Contains(r.Message, "rate limit") {
		t.Fatalf("second miss: got %+v, want Unavailable from the rate limit", r)
	}
	if got := fake.count(); got != 1 {
		t.Fatalf("%d real calls, want 1", got)
	}
	// A refusal by the limiter is not cached: Konnect was never asked.
	if len(c.entries) != 1 {
		t.Fatalf("%d entries, want 1", len(c.entries))
	}
}

func TestCacheLimiterWaitEndsWithContext(t *testing.T) {
	lim := rate.NewLimiter(rate.Every(time.Hour), 1)
	lim.Allow() // exhaust the burst: the next grant is an hour away
	fake := &fakeValidator{}
	c, _ := newTestCache(fake, CacheOptions{TTL: time.Minute, Limiter: lim})

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan Result, 1)
	go func() { done <- c.Validate(ctx, testToken, testServer) }()
	time.Sleep(20 * time.Millisecond)
	cancel()
	select {
	case r := <-done:
		if r.Verdict != VerdictUnavailable {
			t.Fatalf("got %+v, want Unavailable", r)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Validate did not return when its context ended")
	}
	if got := fake.count(); got != 0 {
		t.Fatalf("%d real calls, want 0", got)
	}
}

func TestCacheCanceledContext(t *testing.T) {
	fake := &fakeValidator{}
	c, _ := newTestCache(fake, CacheOptions{TTL: time.Minute})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if r := c.Validate(ctx, testToken, testServer); r.Verdict != VerdictUnavailable {
		t.Fatalf("got %+v, want Unavailable", r)
	}
	if got := fake.count(); got != 0 {
		t.Fatalf("%d real calls, want 0", got)
	}
	// A hit is still served to a caller whose context has ended.
	c.Validate(context.Background(), testToken, testServer)
	if r := c.Validate(ctx, testToken, testServer); r.Verdict != VerdictValid {
		t.Fatalf("got %+v, want the cached Valid", r)
	}
}

func TestCacheNeverStoresToken(t *testing.T) {
	fake := &fakeValidator{script: []Result{
		{Verdict: VerdictValid, OrganizationID: "org-1"},
		{Verdict: VerdictUnavailable, StatusCode: 503},
		{Verdict: VerdictInvalid, StatusCode: 401},
	}}
	c, _ := newTestCache(fake, CacheOptions{TTL: time.Minute})
	ctx := context.Background()
	servers := []string{"https://us.api.konghq.com", "https://eu.api.konghq.com", "https://au.api.konghq.com"}
	for _, s := range servers {
		c.Validate(ctx, testToken, s)
	}
	if len(c.entries) != len(servers) {
		t.Fatalf("%d entries, want %d", len(c.entries), len(servers))
	}
	for k, e := range c.entries {
		if strings.Contains(k, "SECRET") || strings.Contains(k, testToken) {
			t.Errorf("key %q holds the token", k)
		}
		if strings.Contains(e.result.Message, "SECRET") || strings.Contains(e.result.OrganizationID, "SECRET") {
			t.Errorf("entry %q holds the token", k)
		}
	}
	for _, s := range servers {
		if _, ok := c.entries[Hashed(testToken, s)]; !ok {
			t.Errorf("no entry under Hashed(token, %q)", s)
		}
	}
}

func TestCacheSweepRemovesExpiredEntries(t *testing.T) {
	fake := &fakeValidator{}
	c, clk := newTestCache(fake, CacheOptions{TTL: time.Minute, MaxUnavailableBackoff: 10 * time.Second})
	ctx := context.Background()
	for i := range 100 {
		c.Validate(ctx, testToken+string(rune('a'+i%26))+strings.Repeat("x", i), testServer)
	}
	if len(c.entries) != 100 {
		t.Fatalf("%d entries, want 100", len(c.entries))
	}
	// Two TTLs later, the next insertion sweeps the expired ones away.
	step(clk, 2*time.Minute)
	c.Validate(ctx, "kpat_fresh", testServer)
	if len(c.entries) != 1 {
		t.Fatalf("%d entries after sweep, want 1", len(c.entries))
	}
	if _, ok := c.entries[Hashed("kpat_fresh", testServer)]; !ok {
		t.Fatal("the fresh entry was swept")
	}
}

func TestCacheSweepKeepsFailingTokensBackoff(t *testing.T) {
	unavailable := Result{Verdict: VerdictUnavailable, StatusCode: 503}
	fake := &fakeValidator{script: []Result{unavailable}}
	c, clk := newTestCache(fake, CacheOptions{
		TTL:                   time.Second,
		MinUnavailableBackoff: time.Second,
		MaxUnavailableBackoff: time.Minute,
	})
	ctx := context.Background()
	c.Validate(ctx, testToken, testServer) // failure 1: 1s
	step(clk, 2*time.Second)
	c.Validate(ctx, "kpat_other", testServer) // sweeps; the expired failure is kept
	if r := c.Validate(ctx, testToken, testServer); r.RetryAfter != 2*time.Second {
		t.Fatalf("RetryAfter = %v, want 2s (backoff survived the sweep)", r.RetryAfter)
	}
	// Long after, the failing token's entry goes too.
	step(clk, 10*time.Minute)
	c.Validate(ctx, "kpat_third", testServer)
	if _, ok := c.entries[Hashed(testToken, testServer)]; ok {
		t.Fatal("stale failure entry not swept")
	}
}

func TestCacheConcurrentMixedKeysRace(t *testing.T) {
	var calls atomic.Int64
	next := ValidatorFunc(func(ctx context.Context, token, serverURL string) Result {
		calls.Add(1)
		if strings.HasSuffix(token, "0") {
			return Result{Verdict: VerdictUnavailable, StatusCode: 503}
		}
		return Result{Verdict: VerdictValid, OrganizationID: "org"}
	})
	c := NewCachingValidator(next, CacheOptions{TTL: time.Minute, Limiter: rate.NewLimiter(rate.Inf, 0)})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				c.Validate(context.Background(), "kpat_"+string(rune('0'+(g+i)%10)), testServer)
			}
		})
	}
	wg.Wait()
	hits, misses := c.Stats()
	if hits+misses != 8*200 {
		t.Fatalf("hits %d + misses %d != %d", hits, misses, 8*200)
	}
	if int64(misses) != calls.Load() {
		t.Fatalf("misses %d != real calls %d", misses, calls.Load())
	}
	// 9 valid tokens: one call each. The failing token: a handful within its backoff.
	if calls.Load() > 9+5 {
		t.Fatalf("%d real calls, want at most 14", calls.Load())
	}
}

// TestJoinWaitBoundsWaitingForAnotherCall: a caller that finds a call in flight for its token
// waits at most JoinWait from that call's start, then gets VerdictPending; once the call
// answers, everyone gets its verdict from the cache.
func TestJoinWaitBoundsWaitingForAnotherCall(t *testing.T) {
	release := make(chan struct{})
	var calls atomic.Int32
	slow := ValidatorFunc(func(ctx context.Context, token, serverURL string) Result {
		calls.Add(1)
		<-release
		return Result{Verdict: VerdictValid, OrganizationID: "org"}
	})
	c := NewCachingValidator(slow, CacheOptions{TTL: time.Hour, JoinWait: 100 * time.Millisecond})

	first := make(chan Result)
	go func() { first <- c.Validate(context.Background(), "kpat_joinwait", "https://us.api.konghq.com") }()
	for calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}

	start := time.Now()
	joined := c.Validate(context.Background(), "kpat_joinwait", "https://us.api.konghq.com")
	waited := time.Since(start)
	if joined.Verdict != VerdictPending || joined.RetryAfter <= 0 {
		t.Fatalf("joiner got %+v, want VerdictPending with a RetryAfter", joined)
	}
	if waited > 2*time.Second {
		t.Fatalf("joiner waited %v for a call that hangs", waited)
	}
	// Past JoinWait, a new caller does not wait at all.
	start = time.Now()
	if late := c.Validate(context.Background(), "kpat_joinwait", "https://us.api.konghq.com"); late.Verdict != VerdictPending {
		t.Fatalf("late joiner got %+v, want VerdictPending", late)
	}
	if waited := time.Since(start); waited > 50*time.Millisecond {
		t.Errorf("late joiner waited %v, want no wait", waited)
	}

	close(release)
	if r := <-first; r.Verdict != VerdictValid {
		t.Fatalf("the caller that made the call got %+v", r)
	}
	if r := c.Validate(context.Background(), "kpat_joinwait", "https://us.api.konghq.com"); r.Verdict != VerdictValid {
		t.Fatalf("after the call answered: %+v, want the cached Valid verdict", r)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("Konnect saw %d calls, want 1", n)
	}
}
