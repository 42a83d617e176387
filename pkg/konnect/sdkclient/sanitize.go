package sdkclient

// Sanitising: every Message and every piece of text quoted from outside (Konnect's problem
// documents, error strings, headers) is cleaned, bounded and has the token removed.

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

const (
	// maxDetailRunes bounds the part of a Message quoted from Konnect.
	maxDetailRunes = 200
	// maxMessageRunes bounds a whole Message, which ends up in a status condition.
	maxMessageRunes = 400
	// redacted replaces the token wherever it would otherwise appear.
	redacted = "[redacted]"
)

// sanitize makes text from the outside safe for a Message: the token removed, control
// characters and runs of white space collapsed to single spaces, invalid UTF-8 dropped, and
// the result cut to maxRunes. The token is removed both before and after the clean-up, so
// that neither dropping characters nor cutting can reassemble it.
func sanitize(s, token string, maxRunes int) string {
	s = redact(s, token)
	var b strings.Builder
	space := false
	for _, r := range s {
		switch {
		case r == utf8.RuneError:
			continue
		case unicode.IsSpace(r) || unicode.IsControl(r):
			space = b.Len() > 0
			continue
		case !unicode.IsPrint(r):
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(r)
	}
	return truncate(redact(b.String(), token), maxRunes)
}

// redact replaces every occurrence of token in s.
func redact(s, token string) string {
	if token == "" {
		return s
	}
	return strings.ReplaceAll(s, token, redacted)
}

// truncate cuts s to at most maxRunes runes, marking the cut with an ellipsis.
func truncate(s string, maxRunes int) string {
	if utf8.RuneCountInString(s) <= maxRunes {
		return s
	}
	runes := []rune(s)
	return strings.TrimSpace(string(runes[:maxRunes-1])) + "…"
}

// finish is the last word on every Message: bounded, redacted and, should the token somehow
// still be in it (e.g. a token that is a substring of "[redacted]"), withheld altogether.
func finish(msg, token string) string {
	msg = truncate(redact(msg, token), maxMessageRunes)
	if token != "" && strings.Contains(msg, token) {
		msg = "(message withheld because it contained the token)"
		if strings.Contains(msg, token) {
			msg = ""
		}
	}
	return msg
}
