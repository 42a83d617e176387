package sdkclient

import "testing"

func TestServerBase(t *testing.T) {
	tests := map[string]string{
		"":                               "",
		"us.api.konghq.com":              "https://us.api.konghq.com",
		"https://eu.api.konghq.com":      "https://eu.api.konghq.com",
		"https://eu.api.konghq.com:8443": "https://eu.api.konghq.com:8443",
		"http://eu.api.konghq.com/x?y=z": "https://eu.api.konghq.com",
		"https://":                       "",
		"://bad":                         "",
	}
	for in, want := range tests {
		if got := serverBase(in); got != want {
			t.Errorf("serverBase(%q) = %q, want %q", in, got, want)
		}
	}
}
