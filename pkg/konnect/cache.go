package konnect

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"
	"golang.org/x/time/rate"
	"k8s.io/utils/clock"
)

const (
	// DefaultMinUnavailableBackoff is the first wait after Konnect could not be asked.
	DefaultMinUnavailableBackoff = time.Second
	// DefaultMaxUnavailableBackoff caps the wait between calls for a token while Konnect
	// stays unavailable. It matches the controller's per-object backoff cap.
	DefaultMaxUnavailableBackoff = 5 * time.Minute
)

// CacheOptions configures a CachingValidator.
type CacheOptions struct {
	// TTL is how long a definitive verdict (Valid, Invalid, Forbidden, InvalidResponse) is
	// reused. It is what turns 10,000 configurations sharing 100 tokens into 100 Konnect
	// calls. Pass no more than the controller's re-validation interval, or a re-validation
	// would be answered from the cache and a revoked token would be noticed late. Zero or
	// less disables reuse of definitive verdicts; concurrent calls are still merged and
	// Unavailable results still back off.
	TTL time.Duration

	// Limiter, when set, is waited on right before each real call, to cap the process's
	// request rate to Konnect whatever the number of tokens. Cache hits and merged calls do
	// not consume it. Nil means no limit.
	Limiter *rate.Limiter

	// Clock tells the time for expiry and backoff; tests pass a fake. Nil means the real
	// clock. (The Limiter keeps its own, real, time.)
	Clock clock.PassiveClock

	// MinUnavailableBackoff is how long an Unavailable result is reused after the first
	// failure for a token; each further consecutive failure doubles it. Zero means
	// DefaultMinUnavailableBackoff.
	MinUnavailableBackoff time.Duration

	// MaxUnavailableBackoff caps that doubling. Zero means DefaultMaxUnavailableBackoff.
	MaxUnavailableBackoff time.Duration

	// JoinWait bounds how long a caller waits for a call that another caller already has in
	// flight for the same token. Past it the caller gets VerdictPending at once, so a Konnect
	// that hangs ties up one worker per token instead of every worker whose configuration
	// shares that token. Zero means wait for the call however long it takes.
	JoinWait time.Duration
}

// pendingRetry is when a caller turned away by JoinWait should ask again.
const pendingRetry = time.Second

// CachingValidator stands in front of the real Konnect client so that Konnect sees one call
// per token and host, not one per configuration:
//
//   - definitive verdicts are reused for CacheOptions.TTL;
//   - Unavailable results (timeouts, 429, 5xx) are reused for a per-token exponential
//     backoff, or until Konnect's Retry-After if that is later, so an outage or a rate limit
//     is not answered with a stampede however many configurations share the token;
//   - concurrent checks of the same token and host are merged into one call;
//   - real calls wait on a process-wide rate limiter.
//
// Entries are keyed by Hashed(token, serverURL); the token itself is never stored. Every
// Unavailable result it returns carries RetryAfter set to the time left until it would ask
// Konnect again, so the caller can requeue exactly then. It is safe for concurrent use.
type CachingValidator struct {
	next       Validator
	ttl        time.Duration
	minBackoff time.Duration
	maxBackoff time.Duration
	limiter    *rate.Limiter
	clock      clock.PassiveClock
	sweepEvery time.Duration

	group    singleflight.Group
	joinWait time.Duration

	mu        sync.Mutex
	entries   map[string]*cacheEntry
	lastSweep time.Time
	// flying holds when the call in flight for a key started.
	flying map[string]time.Time

	hits   atomic.Uint64
	misses atomic.Uint64
}

var _ Validator = (*CachingValidator)(nil)

// cacheEntry is what is remembered about one token and host.
type cacheEntry struct {
	result  Result
	expires time.Time
	// failures counts consecutive Unavailable results; it drives the backoff and is reset by
	// any definitive result.
	failures int
}

// NewCachingValidator returns a CachingValidator in front of next.
func NewCachingValidator(next Validator, opts CacheOptions) *CachingValidator {
	c := &CachingValidator{
		next:       next,
		ttl:        opts.TTL,
		minBackoff: opts.MinUnavailableBackoff,
		maxBackoff: opts.MaxUnavailableBackoff,
		limiter:    opts.Limiter,
		clock:      opts.Clock,
		joinWait:   opts.JoinWait,
		entries:    map[string]*cacheEntry{},
		flying:     map[string]time.Time{},
	}
	if c.clock == nil {
		c.clock = clock.RealClock{}
	}
	if c.minBackoff <= 0 {
		c.minBackoff = DefaultMinUnavailableBackoff
	}
	if c.maxBackoff <= 0 {
		c.maxBackoff = DefaultMaxUnavailableBackoff
	}
	if c.maxBackoff < c.minBackoff {
		c.maxBackoff = c.minBackoff
	}
	// Sweeping walks the whole map, so do it at most about once per TTL (but not more often
	// than once a second for tiny TTLs); entries live at most one TTL (or backoff) past that.
	c.sweepEvery = max(c.ttl, time.Second)
	if c.ttl <= 0 {
		c.sweepEvery = c.maxBackoff
	}
	c.lastSweep = c.clock.Now()
	return c
}

// Hashed returns the cache key of a token and server URL: the hex SHA-256 of the URL's host
// and the token. It identifies a token in logs and metrics without revealing it (tokens are
// long random strings, so the hash cannot be reversed by guessing). serverURL may be a bare
// host or https://host[:port]; the host is compared case-insensitively and a :443 port is
// ignored.
func Hashed(token, serverURL string) string {
	sum := sha256.Sum256([]byte(hostOf(serverURL) + "\x00" + token))
	return hex.EncodeToString(sum[:])
}

// hostOf extracts the lower-cased host[:port] of a server URL, dropping the default port.
func hostOf(serverURL string) string {
	host := strings.TrimSpace(serverURL)
	s := host
	if !strings.Contains(s, "://") {
		s = "https://" + s
	}
	if u, err := url.Parse(s); err == nil && u.Host != "" {
		host = u.Host
	}
	return strings.TrimSuffix(strings.ToLower(host), ":443")
}

// Stats reports cache effectiveness for metrics. hits counts Validate calls answered without
// a call of their own (from the cache, or by sharing another caller's in-flight call);
// misses counts calls made to the next Validator, i.e. requests to Konnect. A Validate call
// that ends because its context ended, or that the rate limiter turned away, adds no hit.
func (c *CachingValidator) Stats() (hits, misses uint64) {
	return c.hits.Load(), c.misses.Load()
}

// flight is what one merged call hands to every caller that shared it.
type flight struct {
	result Result
	// aborted is set when the call's context ended before it completed: the result says
	// nothing about Konnect, was not cached, and a caller whose own context is still alive
	// should ask again rather than inherit another caller's cancellation.
	aborted bool
	// fromCache is set when the flight found a fresh entry instead of calling.
	fromCache bool
}

// Validate answers from the cache when it can, and otherwise makes (or joins) the one call
// for this token and host. It returns Unavailable without calling when ctx ends first.
func (c *CachingValidator) Validate(ctx context.Context, token, serverURL string) Result {
	key := Hashed(token, serverURL)
	for {
		if r, ok := c.lookup(key); ok {
			c.hits.Add(1)
			return r
		}
		if ctx.Err() != nil {
			return canceled(ctx)
		}

		// A caller that finds a call in flight waits for it at most joinWait from the
		// call's start. (A call that starts right after this look is joined without a
		// bound, as if it had been started by this caller.)
		var joinTimeout <-chan time.Time
		if c.joinWait > 0 {
			c.mu.Lock()
			started, flying := c.flying[key]
			c.mu.Unlock()
			if flying {
				remaining := c.joinWait - c.clock.Since(started)
				if remaining <= 0 {
					return pending()
				}
				timer := time.NewTimer(remaining)
				defer timer.Stop()
				joinTimeout = timer.C
			}
		}

		var mine atomic.Bool
		ch := c.group.DoChan(key, func() (any, error) {
			mine.Store(true)
			c.mu.Lock()
			c.flying[key] = c.clock.Now()
			c.mu.Unlock()
			defer func() {
				c.mu.Lock()
				delete(c.flying, key)
				c.mu.Unlock()
			}()
			return c.call(ctx, key, token, serverURL), nil
		})

		var f flight
		select {
		case <-ctx.Done():
			// The flight goes on for the callers that share it (or ends with our context
			// if it is ours); this caller stops waiting.
			return canceled(ctx)
		case <-joinTimeout:
			return pending()
		case res := <-ch:
			f, _ = res.Val.(flight)
		}

		switch {
		case f.aborted && !mine.Load() && ctx.Err() == nil:
			// Another caller's context ended its flight; ours is alive, so try again.
			continue
		case f.fromCache || !mine.Load():
			c.hits.Add(1)
		}
		return f.result
	}
}

// lookup returns the fresh entry for key, if any, with RetryAfter brought up to date.
func (c *CachingValidator) lookup(key string) (Result, bool) {
	now := c.clock.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok || !now.Before(e.expires) {
		return Result{}, false
	}
	return c.present(e, now), true
}

// present is the Result handed out for an entry at time now.
func (c *CachingValidator) present(e *cacheEntry, now time.Time) Result {
	r := e.result
	if r.Verdict == VerdictUnavailable {
		r.RetryAfter = e.expires.Sub(now)
	}
	return r
}

// call is the body of a merged call: check the cache once more (a flight for this key may
// have finished between the caller's lookup and joining), wait for the limiter, ask Konnect,
// remember the answer.
func (c *CachingValidator) call(ctx context.Context, key, token, serverURL string) flight {
	if r, ok := c.lookup(key); ok {
		return flight{result: r, fromCache: true}
	}
	if c.limiter != nil {
		if err := c.limiter.Wait(ctx); err != nil {
			if ctx.Err() != nil {
				return flight{result: canceled(ctx), aborted: true}
			}
			// The limiter cannot grant a call before the caller's deadline. Konnect was
			// not asked, so nothing is cached; the caller's own retry comes later.
			return flight{result: Result{
				Verdict: VerdictUnavailable,
				Message: "Konnect was not asked: the client-side rate limit would delay the call past the deadline",
			}}
		}
	}

	c.misses.Add(1)
	r := c.next.Validate(ctx, token, serverURL)
	if r.Verdict == VerdictUnavailable && ctx.Err() != nil {
		// The caller gave up; that is not Konnect's doing, so it is neither cached nor
		// counted as a failure.
		return flight{result: r, aborted: true}
	}
	return flight{result: c.store(key, r)}
}

// store remembers r for key and returns it as callers should see it.
func (c *CachingValidator) store(key string, r Result) Result {
	now := c.clock.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.maybeSweep(now)

	prev := c.entries[key]
	if r.Verdict != VerdictUnavailable {
		if c.ttl <= 0 {
			delete(c.entries, key)
			return r
		}
		r.RetryAfter = 0
		c.entries[key] = &cacheEntry{result: r, expires: now.Add(c.ttl)}
		return r
	}

	failures := 1
	if prev != nil && prev.result.Verdict == VerdictUnavailable {
		failures = prev.failures + 1
	}
	wait := max(c.backoff(failures), r.RetryAfter)
	e := &cacheEntry{result: r, expires: now.Add(wait), failures: failures}
	c.entries[key] = e
	return c.present(e, now)
}

// backoff is the wait after the n-th consecutive Unavailable result: Min, 2×Min, 4×Min …
// capped at Max.
func (c *CachingValidator) backoff(n int) time.Duration {
	d := c.minBackoff
	for i := 1; i < n && d < c.maxBackoff; i++ {
		d *= 2
	}
	return min(d, c.maxBackoff)
}

// maybeSweep drops expired entries, at most once per sweepEvery, so that tokens no longer in
// use do not accumulate. An expired Unavailable entry is kept for one more maximal backoff so
// that a token that keeps failing keeps its growing backoff. Callers hold c.mu.
func (c *CachingValidator) maybeSweep(now time.Time) {
	if now.Sub(c.lastSweep) < c.sweepEvery {
		return
	}
	c.lastSweep = now
	for k, e := range c.entries {
		keep := e.expires
		if e.result.Verdict == VerdictUnavailable {
			keep = keep.Add(c.maxBackoff)
		}
		if !now.Before(keep) {
			delete(c.entries, k)
		}
	}
}

// pending is the Result for a caller that stopped waiting for another caller's call.
func pending() Result {
	return Result{Verdict: VerdictPending, RetryAfter: pendingRetry,
		Message: "a check of this token is already in flight"}
}

// canceled is the Result for a caller whose context ended before an answer.
func canceled(ctx context.Context) Result {
	msg := "the token check was canceled before Konnect answered"
	if ctx.Err() == context.DeadlineExceeded {
		msg = "Konnect did not answer in time: the caller's deadline passed"
	}
	return Result{Verdict: VerdictUnavailable, Message: msg}
}
