package admission

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	konnectv1alpha1 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha1"
	clientset "github.com/konnect-auth-controller/konnect-auth-controller/pkg/generated/clientset/versioned"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/serverurl"
	"github.com/konnect-auth-controller/konnect-auth-controller/test/controlplane"
)

// TestServerURLAgreement holds the CRD's admission rules for spec.serverURL (OpenAPI length
// limits and CEL rules, evaluated by the real apiserver) and pkg/serverurl.Normalize (what the
// controller uses) to accepting exactly the same inputs, over several hundred server URLs made
// by mutating valid ones: case, schemes, ports, region and other labels, slashes, unicode,
// white space and lengths around every limit. A URL that admission accepts but Normalize
// refuses would get stuck in the controller (InvalidServerURL, README.md "Status and
// reasons"); one that Normalize accepts but admission refuses means the two have drifted.
//
// Each input is created with a server-side dry run, so nothing is stored.
func TestServerURLAgreement(t *testing.T) {
	ns := controlplane.NewNamespace(t, cp)
	cfg := cp.RESTConfig()
	cfg.QPS = -1
	client, err := clientset.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	inputs := serverURLCandidates()

	type outcome struct {
		admitted bool
		message  string
	}
	results := make([]outcome, len(inputs))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	idx := make(chan int)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for i := range idx {
				obj := &konnectv1alpha1.KonnectAPIAuthConfiguration{
					ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("url-%04d", i), Namespace: ns},
					Spec: konnectv1alpha1.KonnectAPIAuthConfigurationSpec{
						Type: konnectv1alpha1.KonnectAPIAuthTypeToken, Token: "kpat_agreement0123456789", ServerURL: inputs[i],
					},
				}
				_, err := client.KonnectV1alpha1().KonnectAPIAuthConfigurations(ns).Create(ctx, obj, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
				results[i] = outcome{admitted: err == nil}
				if err != nil {
					results[i].message = err.Error()
				}
			}
		})
	}
	for i := range inputs {
		idx <- i
	}
	close(idx)
	wg.Wait()

	var admitted, refused int
	for i, in := range inputs {
		normalized, nerr := serverurl.Normalize(in)
		r := results[i]
		if r.admitted {
			admitted++
		} else {
			refused++
			if !strings.Contains(r.message, "spec.serverURL") {
				// Refused for another reason: the test's own object is wrong, or the
				// apiserver failed; either way the comparison means nothing.
				t.Errorf("%q: refused, but not for spec.serverURL: %s", in, r.message)
				continue
			}
		}
		switch {
		case r.admitted && nerr != nil:
			t.Errorf("%q: admission accepts it but Normalize refuses it (%v): it would get stuck in the controller", in, nerr)
		case !r.admitted && nerr == nil:
			t.Errorf("%q: Normalize accepts it (as %q) but admission refuses it: %s", in, normalized, r.message)
		}
	}
	t.Logf("%d server URLs: %d admitted, %d refused, and Normalize agreed on each", len(inputs), admitted, refused)
	if admitted < 50 || refused < 50 {
		t.Errorf("the candidates are lopsided (%d admitted, %d refused): the comparison proves little", admitted, refused)
	}
}

// serverURLCandidates builds the inputs: systematic mutations of valid server URLs and
// seeded random ones, valid UTF-8 only (JSON would replace invalid bytes), without
// duplicates, in a stable order.
func serverURLCandidates() []string {
	seen := map[string]bool{}
	var out []string
	add := func(s string) {
		if !utf8.ValidString(s) || seen[s] {
			return
		}
		seen[s] = true
		out = append(out, s)
	}

	for _, h := range []string{"eu.api.konghq.com", "au.api.konghq.com", "me.api.konghq.com", "in.api.konghq.com",
		"sg.api.konghq.com", "eu.k", "us.0.1", "us.a-b.c-d"} {
		add(h)
		add("https://" + h)
		add("https://" + h + "/")
		add(h + ":8443")
	}
	hosts := []string{"us.api.konghq.com", "global.api.konghq.com", "us.a", "zz.example.internal"}
	schemes := []string{"", "https://", "http://", "HTTPS://", "Https://", "ftp://", "wss://", "https:/", "https//",
		"://", "https://https://", "https:///", " https://", "hTTps://", "file://"}
	ports := []string{"", ":1", ":80", ":443", ":8443", ":9999", ":10000", ":59999", ":60000", ":64999", ":65499",
		":65529", ":65535", ":65536", ":65540", ":65600", ":70000", ":99999", ":100000", ":0", ":00", ":0443",
		":-1", ":", ":abc", "::443", ":443:443", ": 443", ":４４３"}
	suffixes := []string{"", "/", "//", "/v2", "/?", "?x=1", "#frag", "\\", "/ ", " ", "\t", "\n", "\r\n", ".", "..", "-"}
	for _, h := range hosts {
		for _, s := range schemes {
			add(s + h)
		}
		for _, p := range ports {
			add(h + p)
			add("https://" + h + p)
			add("https://" + h + p + "/")
		}
		for _, x := range suffixes {
			add(h + x)
			add("https://" + h + x)
		}
		add(strings.ToUpper(h))
		add(strings.ToUpper(h[:1]) + h[1:])
		add(" " + h)
		add("user@" + h)
		add("user:pass@" + h)
	}

	// The region label and the labels after it.
	for _, region := range []string{"us", "eu", "global", "usa", "u", "u1", "1u", "us-east", "globa", "globals",
		"GLOBAL", "Us", "uS", "xn--us", "u_s", "-us", "us-", "", "g", "gl", "ab", "zz", "00", "global-us", "uſ", "üs", "ｕｓ"} {
		for _, rest := range []string{".api.konghq.com", ".a", "", "..konghq.com", ".api..com", ".-api.com", ".api-.com",
			".api_x.com", ".API.com", ".api.konghq.com.", ".1.2", ".xn--kng-zoa.com", ".köng.com", ".kong\u200bhq.com",
			".kong\u00a0hq.com", ".\u212aong.com", ".api.konghq.com\u0000"} {
			add(region + rest)
			add("https://" + region + rest)
		}
	}

	// Lengths: label lengths around 63, total lengths around 268 (the CRD's maxLength and
	// Normalize's limit), with and without the scheme.
	for _, n := range []int{1, 2, 61, 62, 63, 64, 65, 100} {
		label := strings.Repeat("a", n)
		add("us." + label + ".com")
		add("https://us." + label + ".com")
		add("us." + label)
		add("us.a" + strings.Repeat("-", max(n-2, 0)) + "a.com")
	}
	for total := 255; total <= 275; total++ {
		add(hostOfLength("us.", total))
		add(hostOfLength("https://us.", total))
		add(hostOfLength("https://us.", total-1) + "/")
		add(hostOfLength("https://us.", total-5) + ":8443")
	}

	// Unicode and control characters at the start, in the middle and at the end.
	for _, r := range []string{"é", "ü", "ı", "İ", "ſ", "\u212a", "ｕ", "\u200b", "\u00a0", "\u2028", "\u202e", "\ufeff",
		"😀", "e\u0301", "\u0000", "\u007f", "\t", "\v", "ß", "æ", "Ω", "𝐮"} {
		add(r + "us.api.konghq.com")
		add("us.api.kong" + r + "hq.com")
		add("us.api.konghq.com" + r)
		add("https://us.api.konghq.com:84" + r + "43")
	}

	// Seeded random mutations of valid URLs: reproducible, and different from the lists above.
	rng := rand.New(rand.NewPCG(6, 2026))
	alphabet := []rune("abcdefghijklmnopqrstuvwxyzABCZ0123456789-._:/@?#% \t\\éſ\u212a\u200bｕ")
	valid := []string{"us.api.konghq.com", "https://eu.api.konghq.com", "https://global.api.konghq.com/",
		"au.api.konghq.com:8443", "https://in.example.internal:65535/"}
	for target := len(out) + 300; len(out) < target; {
		s := []rune(valid[rng.IntN(len(valid))])
		for range 1 + rng.IntN(3) {
			i := rng.IntN(len(s) + 1)
			switch rng.IntN(5) {
			case 0: // insert
				s = append(s[:i], append([]rune{alphabet[rng.IntN(len(alphabet))]}, s[i:]...)...)
			case 1: // delete
				if i < len(s) {
					s = append(s[:i], s[i+1:]...)
				}
			case 2: // replace
				if i < len(s) {
					s[i] = alphabet[rng.IntN(len(alphabet))]
				}
			case 3: // toggle case
				if i < len(s) {
					s[i] = []rune(strings.ToUpper(string(s[i])))[0]
				}
			case 4: // duplicate a piece
				j := min(len(s), i+1+rng.IntN(8))
				s = append(s[:j], append(append([]rune(nil), s[i:j]...), s[j:]...)...)
			}
		}
		add(string(s))
	}
	sort.Strings(out)
	return out
}

// hostOfLength returns prefix followed by labels of up to 63 letters, so that the whole is
// exactly n bytes long (n ≥ len(prefix)+2).
func hostOfLength(prefix string, n int) string {
	var b strings.Builder
	b.WriteString(prefix)
	for b.Len() < n {
		left := n - b.Len()
		if b.Len() > len(prefix) {
			b.WriteByte('.')
			left--
		}
		l := min(63, left)
		if l == 0 { // a dot was the last byte: make the label before it one longer
			s := b.String()
			return s[:len(s)-1] + "b"
		}
		if left-l == 1 { // leave no room for a lone dot
			l--
		}
		b.WriteString(strings.Repeat("a", l))
	}
	return b.String()
}
