package credentials_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	konnectv1alpha1 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha1"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/controller/controllertest"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/controller/credentials"
)

// fuzzTokenPlaceholder in a fuzz input is replaced by fuzzToken, so that the corpus can put a
// real-looking token anywhere in a Secret's data (surrounded by white space, junk, a second
// line, …) and the fuzzer can then check that no message ever quotes it.
const fuzzTokenPlaceholder = "TOKEN"

// fuzzToken is a valid-looking token; fuzzTokenCore is the part of it that no message may
// contain, whatever surrounds it.
const (
	fuzzToken     = "kpat_FUZZsecretFUZZsecretFUZZ0123456789ab"
	fuzzTokenCore = "FUZZsecretFUZZsecret"
)

// maxProblemMessage bounds a problem's message: it names a rule and a Secret, never the data,
// so a 1 MiB token must not make it long.
const maxProblemMessage = 512

// FuzzSecretToken feeds arbitrary Secret data (and a Secret without the token key) through
// the token extraction, resolveSecretToken, and checks what the reconcilers rely on: it
// never panics; a problem is InvalidSecret (no key, or nothing but white space) or
// InvalidToken (malformed), never anything else, with a short message that does not quote
// the data; and data whose trimmed form is a well-formed Konnect token is accepted as exactly
// that token, attributed to the Secret.
func FuzzSecretToken(f *testing.F) {
	ctx := context.Background()
	cfg := controllertest.SecretConfig("fuzz", "fuzz-secret")
	resolver, secrets := newResolver(f, controllertest.TokenSecret("fuzz-secret", nil))
	wantSecret := namespace + "/fuzz-secret"

	f.Fuzz(func(t *testing.T, data []byte, hasKey bool) {
		data = bytes.ReplaceAll(data, []byte(fuzzTokenPlaceholder), []byte(fuzzToken))
		secret := controllertest.TokenSecret("fuzz-secret", nil)
		if hasKey {
			secret.Data = map[string][]byte{konnectv1alpha1.SecretTokenKey: data}
		}
		if err := secrets.Update(controllertest.CredentialSecret(t, secret)); err != nil {
			t.Fatal(err)
		}

		source, problem := resolver.ResolveSecretToken(ctx, cfg)

		trimmed := strings.TrimSpace(string(data))
		var wantReason string
		switch {
		case !hasKey || trimmed == "":
			wantReason = konnectv1alpha1.ReasonInvalidSecret
		case !fuzzWellFormed(trimmed):
			wantReason = konnectv1alpha1.ReasonInvalidToken
		}

		if problem == nil {
			if wantReason != "" {
				t.Fatalf("data %q was accepted, want %s", fuzzClip(data), wantReason)
			}
			if source.Token != trimmed {
				t.Fatalf("token = %q, want the trimmed data %q", fuzzClip([]byte(source.Token)), fuzzClip([]byte(trimmed)))
			}
			if source.Secret != wantSecret {
				t.Fatalf("secret = %q, want %q", source.Secret, wantSecret)
			}
			return
		}
		if problem.Reason != wantReason {
			t.Fatalf("data %q (key present: %t) gave %s: %q; want %s", fuzzClip(data), hasKey, problem.Reason, problem.Message, fuzzOrAccepted(wantReason))
		}
		if source != (credentials.TokenSource{}) {
			t.Fatalf("a problem came with a token source %+v", source)
		}
		if len(problem.Message) > maxProblemMessage {
			t.Fatalf("message is %d bytes long: %q…", len(problem.Message), problem.Message[:maxProblemMessage])
		}
		if strings.Contains(problem.Message, fuzzTokenCore) {
			t.Fatalf("message quotes the token: %q", problem.Message)
		}
		if !strings.Contains(problem.Message, wantSecret) {
			t.Fatalf("message does not name the Secret %s: %q", wantSecret, problem.Message)
		}
	})
}

// fuzzWellFormed is the token rule as the spec and the CRD state it, written independently of
// checkTokenFormat: kpat_ or spat_, at most 1024 bytes, printable ASCII without white space.
func fuzzWellFormed(token string) bool {
	if len(token) > 1024 || !(strings.HasPrefix(token, "kpat_") || strings.HasPrefix(token, "spat_")) {
		return false
	}
	for i := 0; i < len(token); i++ {
		if token[i] < 0x21 || token[i] > 0x7e {
			return false
		}
	}
	return true
}

func fuzzOrAccepted(reason string) string {
	if reason == "" {
		return "it accepted"
	}
	return reason
}

// fuzzClip shortens data for a failure message.
func fuzzClip(data []byte) string {
	if len(data) > 80 {
		return string(data[:80]) + "…"
	}
	return string(data)
}
