package sdkclient

import (
	"errors"
	"io"
	"net/http"
	"sync"
)

// transport wraps the real RoundTripper to do three things the SDK cannot: set our
// User-Agent (last, so it wins over the SDK's), record the status and headers Konnect
// answered with (the SDK drops them for some failures, e.g. a 401 whose problem body does
// not decode), and cap the size of the body the SDK will read.
type transport struct {
	next      http.RoundTripper
	userAgent string
}

// RoundTrip implements http.RoundTripper. It never modifies the caller's request.
func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	r := req.Clone(req.Context())
	r.Header.Set("User-Agent", t.userAgent)
	resp, err := t.next.RoundTrip(r)
	if resp != nil {
		if obs, ok := req.Context().Value(observationKey{}).(*observation); ok {
			obs.record(resp)
		}
		if resp.Body != nil {
			resp.Body = &limitedBody{rc: resp.Body, remaining: maxBodyBytes}
		}
	}
	return resp, err
}

// observationKey is the context key of the observation of the call in progress.
type observationKey struct{}

// observation is what the transport saw of Konnect's answer: only the status and the two
// headers classification needs, never the Authorization header or the body.
type observation struct {
	mu     sync.Mutex
	status int
	header http.Header
}

func (o *observation) record(resp *http.Response) {
	h := http.Header{}
	for _, k := range []string{"Content-Type", "Retry-After"} {
		if v := resp.Header.Get(k); v != "" {
			h.Set(k, v)
		}
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.status = resp.StatusCode
	o.header = h
}

func (o *observation) get() (int, http.Header) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.status, o.header
}

// errBodyTooLarge is returned by limitedBody once an answer exceeds maxBodyBytes.
var errBodyTooLarge = errors.New("response body exceeds 1 MiB")

// limitedBody is an io.ReadCloser that fails with errBodyTooLarge instead of delivering more
// than remaining bytes.
type limitedBody struct {
	rc        io.ReadCloser
	remaining int64
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.remaining <= 0 {
		// Only an error if there really is more to read.
		var one [1]byte
		n, err := b.rc.Read(one[:])
		if n > 0 {
			return 0, errBodyTooLarge
		}
		return 0, err
	}
	if int64(len(p)) > b.remaining {
		p = p[:b.remaining]
	}
	n, err := b.rc.Read(p)
	b.remaining -= int64(n)
	return n, err
}

func (b *limitedBody) Close() error { return b.rc.Close() }

var _ http.RoundTripper = (*transport)(nil)
