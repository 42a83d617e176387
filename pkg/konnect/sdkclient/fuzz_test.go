package sdkclient

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/konnect"
)

// tokenPlaceholder in a fuzz input is replaced by the token, so that the corpus can make the
// fake Konnect echo it anywhere.
const tokenPlaceholder = "TOKEN"

type cannedKey struct{}

// canned is one answer for cannedTransport.
type canned struct {
	status      int
	contentType string
	retryAfter  string
	body        []byte
}

// cannedTransport answers every request with the canned answer in its context, without any
// network, so that the fuzzer drives the whole SDK decoding and our classification cheaply.
type cannedTransport struct{}

func (cannedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	c, _ := req.Context().Value(cannedKey{}).(*canned)
	if c == nil {
		return nil, io.ErrUnexpectedEOF
	}
	h := http.Header{}
	if c.contentType != "" {
		h["Content-Type"] = []string{c.contentType}
	}
	if c.retryAfter != "" {
		h["Retry-After"] = []string{c.retryAfter}
	}
	return &http.Response{
		Status:        strconv.Itoa(c.status) + " " + http.StatusText(c.status),
		StatusCode:    c.status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        h,
		Body:          io.NopCloser(bytes.NewReader(c.body)),
		ContentLength: int64(len(c.body)),
		Request:       req,
	}, nil
}

// FuzzClassify feeds arbitrary answers (status, Content-Type, body, Retry-After) through the
// SDK and the classification, and checks the invariants the controller relies on.
func FuzzClassify(f *testing.F) {
	c := New(Options{Timeout: 5 * time.Second, Transport: cannedTransport{}})
	f.Fuzz(func(t *testing.T, status int, contentType string, body []byte, retryAfter string) {
		in := &canned{
			status:      status,
			contentType: strings.ReplaceAll(contentType, tokenPlaceholder, testToken),
			retryAfter:  strings.ReplaceAll(retryAfter, tokenPlaceholder, testToken),
			body:        bytes.ReplaceAll(body, []byte(tokenPlaceholder), []byte(testToken)),
		}
		ctx := context.WithValue(context.Background(), cannedKey{}, in)
		r := c.Validate(ctx, testToken, testServerURL)

		if r.Verdict < konnect.VerdictValid || r.Verdict > konnect.VerdictUnavailable {
			t.Fatalf("verdict %d out of range", r.Verdict)
		}
		if strings.Contains(r.Message, testToken) || strings.Contains(r.OrganizationID, testToken) {
			t.Fatalf("result leaks the token: %+v", r)
		}
		if !utf8.ValidString(r.Message) || utf8.RuneCountInString(r.Message) > maxMessageRunes {
			t.Fatalf("bad Message %q", r.Message)
		}
		if r.Message == "" {
			t.Fatalf("empty Message for %+v", r)
		}
		if r.StatusCode != status {
			t.Fatalf("StatusCode = %d, want %d", r.StatusCode, status)
		}
		if r.RetryAfter < 0 || r.RetryAfter > maxRetryAfter {
			t.Fatalf("RetryAfter = %v", r.RetryAfter)
		}
		if r.Verdict == konnect.VerdictValid {
			if status != http.StatusOK || r.OrganizationID == "" {
				t.Fatalf("Valid for status %d with id %q", status, r.OrganizationID)
			}
		} else if r.OrganizationID != "" {
			t.Fatalf("OrganizationID %q on a %v result", r.OrganizationID, r.Verdict)
		}
		want := map[int]konnect.Verdict{
			http.StatusUnauthorized:    konnect.VerdictInvalid,
			http.StatusForbidden:       konnect.VerdictForbidden,
			http.StatusTooManyRequests: konnect.VerdictUnavailable,
		}
		if v, ok := want[status]; ok && r.Verdict != v {
			t.Fatalf("status %d gave %v, want %v", status, r.Verdict, v)
		}
		if status >= 500 && status <= 599 && r.Verdict != konnect.VerdictUnavailable {
			t.Fatalf("status %d gave %v, want unavailable", status, r.Verdict)
		}
	})
}
