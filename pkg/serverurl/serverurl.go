// Package serverurl checks and normalises a KonnectAPIAuthConfiguration's spec.serverURL.
//
// The rules are the same as the CRD's CEL rules (pkg/apis/konnect/v1alpha1/types.go), written
// with the same regular expressions, so whatever admission accepts normalises here; a fuzz test
// and an end-to-end test hold the two to agreeing.
package serverurl

import (
	"errors"
	"regexp"
	"strings"
)

const maxLength = 268

var (
	// hostPort is the CEL rule's host-name pattern: lower-case RFC 1123 labels of 1–63
	// characters, at least two of them, an optional port 1–65535 and an optional trailing '/'.
	hostPort = regexp.MustCompile(`^(https://)?[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)+(:([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?/?$`)
	// region is the CEL rule's region pattern: the first label is "global" or two letters.
	region = regexp.MustCompile(`^(https://)?(global|[a-z]{2})\.`)
)

// Errors name the rule that a server URL broke, in words a person understands.
var (
	ErrEmpty    = errors.New("serverURL is empty")
	ErrTooLong  = errors.New("serverURL is longer than 268 characters")
	ErrHTTP     = errors.New("serverURL must not use http://: the token is only ever sent over https")
	ErrScheme   = errors.New("serverURL must be a host name such as us.api.konghq.com or an https:// URL")
	ErrHostName = errors.New("serverURL must be a lower-case RFC 1123 host name, optionally prefixed with https:// and followed by a :port, with no path")
	ErrRegion   = errors.New("serverURL must start with the region: global or two lower-case letters, as in us.api.konghq.com")
)

// Normalize returns the https://host[:port] form of a server URL as written in a spec
// (us.api.konghq.com, https://eu.api.konghq.com/, https://us.api.konghq.com:8443), or an
// error naming the first rule it breaks.
func Normalize(s string) (string, error) {
	switch {
	case s == "":
		return "", ErrEmpty
	case len(s) > maxLength:
		return "", ErrTooLong
	case strings.HasPrefix(s, "http://"):
		return "", ErrHTTP
	case strings.Contains(s, "://") && !strings.HasPrefix(s, "https://"):
		return "", ErrScheme
	case !hostPort.MatchString(s):
		return "", ErrHostName
	case !region.MatchString(s):
		return "", ErrRegion
	}
	host := strings.TrimSuffix(strings.TrimPrefix(s, "https://"), "/")
	return "https://" + host, nil
}
