package sdkclient

// Retry-After: how long Konnect asked us to wait before asking again, on a transient answer
// (429, 408 or 5xx).

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// maxRetryAfter caps a Retry-After: a longer wait is more likely a broken header than a
// real request, and the scheduled re-validation would come first anyway.
const maxRetryAfter = time.Hour

// parseRetryAfter reads a Retry-After header: delay-seconds or an HTTP-date. Garbage, a
// negative delay or a date in the past give 0; anything beyond maxRetryAfter is capped.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if strings.Trim(v, "0123456789") == "" {
		v = strings.TrimLeft(v, "0")
		if v == "" {
			return 0
		}
		// More digits than an hour's worth of seconds can need is a cap, not an overflow.
		if len(v) > 6 {
			return maxRetryAfter
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			return 0
		}
		return min(time.Duration(n)*time.Second, maxRetryAfter)
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0
	}
	d := t.Sub(now)
	if d <= 0 {
		return 0
	}
	return min(d, maxRetryAfter)
}
