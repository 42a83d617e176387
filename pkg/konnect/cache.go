package konnect

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/flowcontrol"
	"k8s.io/utils/clock"
)

const (
	// DefaultMinUnavailableBackoff is the first wait after Konnect could not be asked.
	DefaultMinUnavailableBackoff = time.Second
	// DefaultMaxUnavailableBackoff caps the wait between calls for a token while Konnect
	// stays unavailable.
	DefaultMaxUnavailableBackoff = 5 * time.Minute
	// DefaultTTL is how long a definitive verdict is reused when CheckerOptions.TTL is zero.
	DefaultTTL = time.Hour
)

// CheckerOptions configures a Checker.
type CheckerOptions struct {
	// TTL is how long a definitive verdict (Valid, Invalid, Forbidden, InvalidResponse) is
	// reused. It is what turns 10,000 configurations sharing 100 tokens into 100 Konnect
	// calls. Pass no more than the controller's re-validation interval, or a re-validation
	// would be answered from memory and a revoked token would be noticed late. Zero or less
	// disables reuse of definitive verdicts; checks of a token already in flight are still
	// merged and Unavailable results still back off.
	TTL time.Duration

	// Limiter, when set, is waited on right before each real call, to cap the process's
	// request rate to Konnect whatever the number of tokens. Answers from memory and merged
	// checks do not consume it. Nil means no limit.
	Limiter *rate.Limiter

	// Clock tells the time for expiry and backoff; tests pass a fake. Nil means the real
	// clock. (The Limiter keeps its own, real, time.)
	Clock clock.Clock

	// MinUnavailableBackoff is how long an Unavailable result is reused after the first
	// failure for a token; each further consecutive failure doubles it, up to
	// MaxUnavailableBackoff. Zero means the defaults above.
	MinUnavailableBackoff, MaxUnavailableBackoff time.Duration

	// Done is called, from the goroutine that made the call, with every asker that got
	// VerdictPending for a check that has now ended: they should ask again, and will be
	// answered from memory. It must not block.
	Done func(askers []types.NamespacedName)
}

// Checker stands between the controller and Konnect. No caller ever waits on Konnect:
//
//   - a check that can be answered from memory is answered at once: definitive verdicts for
//     CheckerOptions.TTL, Unavailable results (timeouts, 429, 5xx) for a per-token backoff, or
//     until Konnect's Retry-After if that is later;
//   - otherwise the check starts one call in the background for that token and server URL and
//     answers VerdictPending, as do further checks of the same token while the call is out;
//     when it ends, CheckerOptions.Done is told who asked;
//   - real calls wait on a process-wide rate limiter; the Validator bounds each call
//     (sdkclient: --konnect-timeout).
//
// The backoff of a failing token lives here and only here: it grows with consecutive
// Unavailable results however many configurations share the token, and however often they
// are synced meanwhile. Entries are keyed by Hashed(token, serverURL); the token itself is
// never stored. It is safe for concurrent use.
type Checker struct {
	next    Validator
	ttl     time.Duration
	limiter *rate.Limiter
	clock   clock.Clock
	backoff *flowcontrol.Backoff
	done    func([]types.NamespacedName)
	// ctx ends every call in flight when the process stops.
	ctx context.Context

	sweepEvery time.Duration

	mu        sync.Mutex
	entries   map[string]*entry
	lastSweep time.Time

	hits   atomic.Uint64
	misses atomic.Uint64
}

// entry is what is known about one token and server URL.
type entry struct {
	// result and expires are the last answer and until when it is handed out; expires is
	// zero before the first answer.
	result  Result
	expires time.Time
	// askers is non-nil while a call is in flight: who got VerdictPending meanwhile.
	askers map[types.NamespacedName]struct{}
}

// NewChecker returns a Checker in front of next. Calls it starts end when ctx ends.
func NewChecker(ctx context.Context, next Validator, opts CheckerOptions) *Checker {
	c := &Checker{
		next:    next,
		ttl:     opts.TTL,
		limiter: opts.Limiter,
		clock:   opts.Clock,
		done:    opts.Done,
		ctx:     ctx,
		entries: map[string]*entry{},
	}
	if c.clock == nil {
		c.clock = clock.RealClock{}
	}
	if c.ttl <= 0 {
		c.ttl = DefaultTTL
	}
	if c.done == nil {
		c.done = func([]types.NamespacedName) {}
	}
	minBackoff, maxBackoff := opts.MinUnavailableBackoff, opts.MaxUnavailableBackoff
	if minBackoff <= 0 {
		minBackoff = DefaultMinUnavailableBackoff
	}
	if maxBackoff <= 0 {
		maxBackoff = DefaultMaxUnavailableBackoff
	}
	maxBackoff = max(maxBackoff, minBackoff)
	// flowcontrol.Backoff doubles from min to max on each Next and forgets a token that has
	// not failed for 2×max, so a token that recovers starts again at min.
	c.backoff = flowcontrol.NewFakeBackOff(minBackoff, maxBackoff, c.clock)

	// Sweeping walks the whole map, so do it at most about once per TTL (but not more often
	// than once a second for tiny TTLs).
	c.sweepEvery = max(c.ttl, time.Second)
	c.lastSweep = c.clock.Now()
	return c
}

// Hashed returns the key of a token and a normalised server URL (serverurl.Normalize): the
// hex SHA-256 of both. It identifies a token in logs and metrics without revealing it (tokens
// are long random strings, so the hash cannot be reversed by guessing).
func Hashed(token, serverURL string) string {
	sum := sha256.Sum256([]byte(serverURL + "\x00" + token))
	return hex.EncodeToString(sum[:])
}

// Stats reports effectiveness for metrics: hits counts checks answered from memory or merged
// into a call already in flight; misses counts calls made to Konnect.
func (c *Checker) Stats() (hits, misses uint64) {
	return c.hits.Load(), c.misses.Load()
}

// Check answers what is known about token at serverURL (the normalised URL), without waiting.
// When nothing fresh is known it returns VerdictPending, makes sure a call is on its way, and
// remembers asker so that CheckerOptions.Done names it when the call ends.
func (c *Checker) Check(token, serverURL string, asker types.NamespacedName) Result {
	key := Hashed(token, serverURL)
	now := c.clock.Now()

	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entries[key]
	switch {
	case e != nil && now.Before(e.expires):
		c.hits.Add(1)
		return e.present(now)
	case e != nil && e.askers != nil:
		c.hits.Add(1)
		e.askers[asker] = struct{}{}
		return pending()
	}
	if e == nil {
		e = &entry{}
		c.entries[key] = e
	}
	e.askers = map[types.NamespacedName]struct{}{asker: {}}
	go c.call(key, token, serverURL)
	return pending()
}

// call asks Konnect once for key, remembers the answer and tells the askers.
func (c *Checker) call(key, token, serverURL string) {
	if c.limiter != nil {
		// No deadline here: time spent waiting for our own limit is not Konnect's time, and
		// the caller is not waiting. Only the process stopping ends the wait.
		if err := c.limiter.Wait(c.ctx); err != nil {
			c.abandon(key)
			return
		}
	}
	c.misses.Add(1)
	r := c.next.Validate(c.ctx, token, serverURL)
	if c.ctx.Err() != nil {
		// The process is stopping: the answer says nothing about Konnect.
		c.abandon(key)
		return
	}
	c.done(c.store(key, r))
}

// abandon forgets a call that ended without an answer, so that the next check starts anew.
func (c *Checker) abandon(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.entries[key]; e != nil {
		e.askers = nil
		if e.expires.IsZero() {
			delete(c.entries, key)
		}
	}
}

// store remembers r for key and returns who asked while the call was out.
func (c *Checker) store(key string, r Result) []types.NamespacedName {
	now := c.clock.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.maybeSweep(now)

	e := c.entries[key]
	if e == nil {
		e = &entry{}
		c.entries[key] = e
	}
	askers := make([]types.NamespacedName, 0, len(e.askers))
	for a := range e.askers {
		askers = append(askers, a)
	}
	e.askers = nil
	e.result = r
	if r.Verdict == VerdictUnavailable {
		c.backoff.Next(key, now)
		e.expires = now.Add(max(c.backoff.Get(key), r.RetryAfter))
		return askers
	}
	c.backoff.Reset(key)
	e.expires = now.Add(c.ttl)
	return askers
}

// present is the Result handed out for an entry at time now: an Unavailable result carries
// NextCheck.
func (e *entry) present(now time.Time) Result {
	r := e.result
	if r.Verdict == VerdictUnavailable {
		r.NextCheck = e.expires.Sub(now)
	}
	return r
}

// maybeSweep drops expired entries that have no call in flight, at most once per sweepEvery,
// so that tokens no longer in use do not accumulate. Callers hold c.mu.
func (c *Checker) maybeSweep(now time.Time) {
	if now.Sub(c.lastSweep) < c.sweepEvery {
		return
	}
	c.lastSweep = now
	for k, e := range c.entries {
		if e.askers == nil && !now.Before(e.expires) {
			delete(c.entries, k)
		}
	}
	c.backoff.GC()
}

// pending is the Result while a check is in flight.
func pending() Result {
	return Result{Verdict: VerdictPending, Message: "the token is being checked with Konnect"}
}
