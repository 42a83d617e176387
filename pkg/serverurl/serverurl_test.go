package serverurl

import (
	"errors"
	"strings"
	"testing"
)

func TestNormalize(t *testing.T) {
	tests := []struct {
		in      string
		want    string
		wantErr error
	}{
		{in: "us.api.konghq.com", want: "https://us.api.konghq.com"},
		{in: "https://eu.api.konghq.com", want: "https://eu.api.konghq.com"},
		{in: "https://eu.api.konghq.com/", want: "https://eu.api.konghq.com"},
		{in: "global.api.konghq.com", want: "https://global.api.konghq.com"},
		{in: "https://us.api.konghq.com:8443", want: "https://us.api.konghq.com:8443"},
		{in: "au.api.konghq.com:65535", want: "https://au.api.konghq.com:65535"},
		{in: "", wantErr: ErrEmpty},
		{in: "https://" + strings.Repeat("a", 270), wantErr: ErrTooLong},
		{in: "http://us.api.konghq.com", wantErr: ErrHTTP},
		{in: "ftp://us.api.konghq.com", wantErr: ErrScheme},
		{in: "HTTPS://us.api.konghq.com", wantErr: ErrScheme},
		{in: "https://us.api.konghq.com/v2", wantErr: ErrHostName},
		{in: "US.api.konghq.com", wantErr: ErrHostName},
		{in: "us.api_x.konghq.com", wantErr: ErrHostName},
		{in: "us", wantErr: ErrHostName},
		{in: "us.api.konghq.com:0", wantErr: ErrHostName},
		{in: "us.api.konghq.com:70000", wantErr: ErrHostName},
		{in: "us.api.konghq.com:065", wantErr: ErrHostName},
		{in: "-us.api.konghq.com", wantErr: ErrHostName},
		{in: "us.api.konghq.com.", wantErr: ErrHostName},
		{in: "us." + strings.Repeat("a", 64) + ".com", wantErr: ErrHostName},
		{in: "api.us.konghq.com", wantErr: ErrRegion},
		{in: "usa.api.konghq.com", wantErr: ErrRegion},
		{in: "u1.api.konghq.com", wantErr: ErrRegion},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := Normalize(tt.in)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Normalize(%q) error = %v, want %v", tt.in, err, tt.wantErr)
			}
			if got != tt.want {
				t.Fatalf("Normalize(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// FuzzNormalize checks that Normalize never panics, that what it accepts is a fixed point in
// normalised form, and that its output is always https://host with a host the rules accept.
func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"us.api.konghq.com", "https://eu.api.konghq.com/", "http://x.y", "api.us.konghq.com", "us.a:443", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := Normalize(s)
		if err != nil {
			if got != "" {
				t.Fatalf("Normalize(%q) returned %q with error %v", s, got, err)
			}
			return
		}
		if !strings.HasPrefix(got, "https://") || strings.HasSuffix(got, "/") {
			t.Fatalf("Normalize(%q) = %q: not https://host[:port]", s, got)
		}
		// The normalised form is a fixed point whenever it still fits the field's length
		// limit: adding "https://" to a bare host near the limit can push it past (the fuzzer
		// found this with a 263-character host).
		if len(got) <= maxLength {
			again, err := Normalize(got)
			if err != nil || again != got {
				t.Fatalf("Normalize(Normalize(%q)) = %q, %v; want %q", s, again, err, got)
			}
		}
		if host := strings.TrimPrefix(got, "https://"); host != strings.TrimSuffix(strings.TrimPrefix(s, "https://"), "/") {
			t.Fatalf("Normalize(%q) = %q: host %q does not match the input", s, got, host)
		}
	})
}
