package sdkclient

import (
	"strings"
	"testing"
)

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
