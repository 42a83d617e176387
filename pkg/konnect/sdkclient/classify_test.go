package sdkclient

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"0", 0},
		{"000", 0},
		{"1", time.Second},
		{" 120 ", 2 * time.Minute},
		{"3600", time.Hour},
		{"3601", time.Hour},
		{"99999999999999999999999999", time.Hour},
		{"-5", 0},
		{"1.5", 0},
		{"soon", 0},
		{"0x10", 0},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
		{now.Add(48 * time.Hour).Format(http.TimeFormat), time.Hour},
		{"Wed, 99 Oct 2015 07:28:00 GMT", 0},
	}
	for _, tc := range tests {
		if got := parseRetryAfter(tc.in, now); got != tc.want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestSanitize(t *testing.T) {
	tests := []struct {
		in, token, want string
		max             int
	}{
		{"plain", testToken, "plain", 50},
		{"a\n\tb\r\n  c", testToken, "a b c", 50},
		{"  lead and trail  ", testToken, "lead and trail", 50},
		{"bad \xff utf8 \x00 nul", testToken, "bad utf8 nul", 50},
		{"x " + testToken + " y", testToken, "x [redacted] y", 50},
		// Dropping an invalid byte must not reassemble the token.
		{"kpat_SECRET\xffSECRET", testToken, "[redacted]", 50},
		// Cutting happens after redaction, so no prefix of the token survives the cut.
		{"abc " + testToken, testToken, "abc [redac…", 11},
		{strings.Repeat("é", 10), "", "éééé…", 5},
	}
	for _, tc := range tests {
		if got := sanitize(tc.in, tc.token, tc.max); got != tc.want {
			t.Errorf("sanitize(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestFinishWithholdsWhatRedactionCannotFix(t *testing.T) {
	// A token that is part of the replacement text itself cannot be redacted away.
	if got := finish("the redacted word", "redact"); strings.Contains(got, "redact") {
		t.Fatalf("finish kept the token: %q", got)
	}
	if got := finish("hello", ""); got != "hello" {
		t.Fatalf("finish with no token = %q", got)
	}
}

