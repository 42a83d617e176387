package faults_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	konnectv1alpha1 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha1"
	"github.com/konnect-auth-controller/konnect-auth-controller/test/controlplane"
	"github.com/konnect-auth-controller/konnect-auth-controller/test/e2e/framework"
	"github.com/konnect-auth-controller/konnect-auth-controller/test/fakekonnect"
)

// callsFor sums the fake Konnect's calls for tokens.
func callsFor(tokens ...string) int64 {
	var n int64
	for _, t := range tokens {
		n += env.Konnect.CallsFor(t)
	}
	return n
}

// TestKonnectOutage: Konnect answers 503 to everything for longer than several re-validation
// intervals while 210 configurations sharing 6 tokens are True. No True verdict is lost (Konnect
// being down says nothing about a token), the calls made during the outage stay within the
// per-token exponential backoff, and after recovery every token is asked again: the
// configurations of a token revoked during the outage turn False/Invalid, all others stay
// True.
func TestKonnectOutage(t *testing.T) {
	const (
		revalidate = 5 * time.Second
		outage     = 20 * time.Second
		perToken   = 35 // configurations per token, half inline and half from a Secret
	)
	ns := controlplane.NewNamespace(t, cp)
	tr := track(t, ns)
	startController(t, ns, "--revalidate-interval="+revalidate.String())

	tokens := []string{env.NewToken(t), env.NewToken(t), env.NewToken(t), env.NewToken(t), env.NewToken(t), env.NewToken(t)}
	revoked := tokens[5] // revoked while Konnect is down: only a re-check after recovery can tell
	var (
		secrets []*corev1.Secret
		cfgs    []*konnectv1alpha1.KonnectAPIAuthConfiguration
		kept    []string // configurations whose token stays valid
		lost    []string // configurations whose token is revoked
	)
	for ti, token := range tokens {
		secretName := fmt.Sprintf("cred-%d", ti)
		secrets = append(secrets, credentialSecret(ns, secretName, []byte(token+"\n")))
		for i := range perToken {
			name := fmt.Sprintf("t%d-%02d", ti, i)
			if i%2 == 0 {
				cfgs = append(cfgs, inlineConfig(ns, name, token))
			} else {
				cfgs = append(cfgs, secretRefConfig(ns, name, secretName))
			}
			if token == revoked {
				lost = append(lost, name)
			} else {
				kept = append(kept, name)
			}
		}
	}
	all := append(append([]string(nil), kept...), lost...)
	createAll(t, secrets, cfgs)
	tr.waitFor(t, verdictTimeout, "every configuration True", allHave(all, metav1.ConditionTrue, konnectv1alpha1.ReasonValid))

	// The outage.
	before := map[string]int64{}
	for _, tok := range tokens {
		before[tok] = env.Konnect.CallsFor(tok)
	}
	outageStart := time.Now()
	env.Konnect.SetBehavior(fakekonnect.Behavior{Mode: fakekonnect.ModeServerError})
	t.Cleanup(func() { env.Konnect.SetBehavior(fakekonnect.BehaviorNormal) })
	env.Konnect.RevokeToken(revoked)
	time.Sleep(outage)
	env.Konnect.SetBehavior(fakekonnect.BehaviorNormal)
	outageEnd := time.Now()
	d := outageEnd.Sub(outageStart)

	// The bound. Every verdict is cached for the re-validation interval, so each token's
	// entry expires once during the outage and the first configuration to re-validate asks
	// Konnect; the 503 is cached for 1s, and each further consecutive failure doubles that
	// (1s, 2s, 4s, … up to 5 minutes), however many configurations share the token. The
	// k-th call after the first comes no earlier than 2^k − 1 seconds after it, so an outage
	// of D seconds sees at most floor(log2(D+1)) + 1 calls per token; we allow 2 more for a
	// call already on its way when the outage began and for timing at the edges. Without
	// the shared backoff the 35 configurations of a token would each retry on their own
	// 1s, 2s, 4s … schedule: about 35 × 5 calls per token in 20 seconds.
	perTokenBound := int64(math.Floor(math.Log2(d.Seconds()+1))) + 3
	bound := int64(len(tokens)) * perTokenBound
	var during int64
	for _, tok := range tokens {
		n := env.Konnect.CallsFor(tok) - before[tok]
		during += n
		if n < 1 {
			t.Errorf("a token was not asked at all during a %v outage with --revalidate-interval=%v: re-validation did not happen", d.Round(time.Second), revalidate)
		}
		if n > perTokenBound {
			t.Errorf("a token was asked %d times during a %v outage; the per-token backoff allows at most %d", n, d.Round(time.Second), perTokenBound)
		}
	}
	t.Logf("outage of %v: %d Konnect calls for %d tokens shared by %d configurations (bound %d = %d tokens × (floor(log2(%.0f+1)) + 3))",
		d.Round(time.Millisecond), during, len(tokens), len(all), bound, len(tokens), d.Seconds())
	if during > bound {
		t.Errorf("%d Konnect calls during the outage, more than the backoff bound %d", during, bound)
	}
	for _, x := range tr.lostTrue(time.Time{}) {
		if x.At.Before(outageEnd) || !strings.HasPrefix(x.Name, "t5-") {
			t.Errorf("a True verdict was lost during the outage: %s", x)
		}
	}

	// Recovery: every token is asked again once its backoff has run out (at most as long
	// as the last backoff, ≤ the outage), and the answers reach every configuration.
	err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, d+verdictTimeout, true, func(context.Context) (bool, error) {
		for _, tok := range tokens {
			times := env.Konnect.CallTimes(tok)
			if len(times) == 0 || times[len(times)-1].Before(outageEnd) {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		t.Fatalf("not every token was asked again after Konnect recovered: %v", err)
	}
	tr.waitFor(t, d+verdictTimeout, "the revoked token's configurations False/Invalid", allHave(lost, metav1.ConditionFalse, konnectv1alpha1.ReasonInvalid))
	if got := tr.count(metav1.ConditionTrue, kept); got != len(kept) {
		t.Errorf("%d of %d configurations with valid tokens are True after recovery", got, len(kept))
	}
	for _, x := range tr.lostTrue(time.Time{}) {
		if !strings.HasPrefix(x.Name, "t5-") {
			t.Errorf("a configuration with a valid token lost its True verdict: %s", x)
		}
	}
	t.Logf("after recovery: %d configurations True, the %d of the revoked token False/Invalid, %d status writes in all",
		tr.count(metav1.ConditionTrue, kept), len(lost), tr.writes.Load())
}

// TestRateLimitRetryAfter: Konnect answers 429 with Retry-After: 8 for one token. The
// configuration is Unknown/KonnectUnavailable meanwhile, no call for that token comes before
// the time Konnect named even though Konnect would accept it sooner, and then it becomes
// True. A configuration with another token is not held up.
func TestRateLimitRetryAfter(t *testing.T) {
	const retryAfter = 8 * time.Second
	ns := controlplane.NewNamespace(t, cp)
	tr := track(t, ns)
	startController(t, ns)

	limited, other := env.NewToken(t), env.NewToken(t)
	env.Konnect.SetTokenBehavior(limited, fakekonnect.Behavior{Mode: fakekonnect.ModeRateLimited, RetryAfter: retryAfter})
	t.Cleanup(func() { env.Konnect.SetTokenBehavior(limited, fakekonnect.BehaviorNormal) })
	createAll(t, nil, []*konnectv1alpha1.KonnectAPIAuthConfiguration{inlineConfig(ns, "limited", limited), inlineConfig(ns, "other", other)})

	tr.waitFor(t, verdictTimeout, "limited Unknown/KonnectUnavailable", allHave([]string{"limited"}, metav1.ConditionUnknown, konnectv1alpha1.ReasonKonnectUnavailable))
	tr.waitFor(t, verdictTimeout, "other True", allHave([]string{"other"}, metav1.ConditionTrue, konnectv1alpha1.ReasonValid))
	first := env.Konnect.CallTimes(limited)[0]
	// Konnect would now answer at once; the controller must still wait as it was told.
	env.Konnect.SetTokenBehavior(limited, fakekonnect.BehaviorNormal)
	v, _, _ := tr.get("limited")
	t.Logf("while rate-limited: %s/%s %q", v.Status, v.Reason, v.Message)

	tr.waitFor(t, retryAfter+verdictTimeout, "limited True", allHave([]string{"limited"}, metav1.ConditionTrue, konnectv1alpha1.ReasonValid))
	_, trueAt, _ := tr.get("limited")
	times := env.Konnect.CallTimes(limited)
	var offsets []string
	for _, at := range times {
		offsets = append(offsets, at.Sub(first).Round(time.Millisecond).String())
	}
	t.Logf("calls for the rate-limited token at %v after the first; True %v after it", offsets, trueAt.Sub(first).Round(time.Millisecond))
	for _, at := range times[1:] {
		if at.Before(first.Add(retryAfter)) {
			t.Errorf("a call came %v after the 429 that said Retry-After: %v", at.Sub(first), retryAfter)
		}
	}
	if len(times) != 2 {
		t.Errorf("%d calls for the rate-limited token, want 2 (the 429, then one after Retry-After)", len(times))
	}
}

// TestHangingKonnect: Konnect accepts the connection for one token and never answers. The
// controller runs with --workers=4 and --konnect-timeout=2s; 20 configurations use the hanging
// token and are queued first, then 20 configurations with other tokens are created while the
// hanging call is outstanding.
//
// Without head-of-line blocking the 20 others need 20 × (one Konnect round trip + one status
// write) spread over the workers that are not waiting on the hang: a few hundred
// milliseconds here. With workers blocked on the hanging call (its caller and every
// configuration that joins the same single-flight call) they wait until that call times out.
// So the others must all be True before the first hanging call times out, i.e. within
// --konnect-timeout of it: that leaves them about 1.7s of margin for ~0.3s of work, while a
// blocked design misses it by construction. Then the hanging configurations are
// Unknown/KonnectUnavailable.
func TestHangingKonnect(t *testing.T) {
	const (
		timeout = 2 * time.Second
		count   = 20
	)
	ns := controlplane.NewNamespace(t, cp)
	tr := track(t, ns)
	startController(t, ns, "--konnect-timeout="+timeout.String(), "--workers=4")

	hang := env.NewToken(t)
	env.Konnect.SetTokenBehavior(hang, fakekonnect.Behavior{Mode: fakekonnect.ModeHang})
	t.Cleanup(func() { env.Konnect.SetTokenBehavior(hang, fakekonnect.BehaviorNormal) })
	var hanging, good []string
	var cfgs []*konnectv1alpha1.KonnectAPIAuthConfiguration
	for i := range count {
		name := fmt.Sprintf("hang-%02d", i)
		hanging = append(hanging, name)
		cfgs = append(cfgs, inlineConfig(ns, name, hang))
	}
	createAll(t, nil, cfgs)

	var firstHang time.Time
	if err := wait.PollUntilContextTimeout(context.Background(), 10*time.Millisecond, verdictTimeout, true, func(context.Context) (bool, error) {
		if times := env.Konnect.CallTimes(hang); len(times) > 0 {
			firstHang = times[0]
			return true, nil
		}
		return false, nil
	}); err != nil {
		t.Fatalf("the hanging token was never sent to Konnect: %v", err)
	}

	cfgs = nil
	for i := range count {
		name := fmt.Sprintf("good-%02d", i)
		good = append(good, name)
		cfgs = append(cfgs, inlineConfig(ns, name, env.NewToken(t)))
	}
	created := time.Now()
	createAll(t, nil, cfgs)
	tr.waitFor(t, verdictTimeout, "the configurations with answering tokens True", allHave(good, metav1.ConditionTrue, konnectv1alpha1.ReasonValid))
	var firstGood, lastGood time.Time
	for _, name := range good {
		_, at, _ := tr.get(name)
		if firstGood.IsZero() || at.Before(firstGood) {
			firstGood = at
		}
		if at.After(lastGood) {
			lastGood = at
		}
	}
	t.Logf("first hanging call at 0s; others created at %v; first True at %v, last at %v; the hanging call times out at %v",
		created.Sub(firstHang).Round(time.Millisecond), firstGood.Sub(firstHang).Round(time.Millisecond),
		lastGood.Sub(firstHang).Round(time.Millisecond), timeout)
	if deadline := firstHang.Add(timeout); lastGood.After(deadline) {
		t.Errorf("head-of-line blocking: the %d configurations with answering tokens were True only %v after the first hanging call "+
			"(first one at %v), after it had timed out at %v; they were queued behind configurations waiting on the hanging call",
			count, lastGood.Sub(firstHang).Round(time.Millisecond), firstGood.Sub(firstHang).Round(time.Millisecond), timeout)
	}

	tr.waitFor(t, verdictTimeout, "the hanging configurations Unknown/KonnectUnavailable", allHave(hanging, metav1.ConditionUnknown, konnectv1alpha1.ReasonKonnectUnavailable))
	v, _, _ := tr.get(hanging[0])
	t.Logf("hanging configuration: %s/%s %q; %d calls for the hanging token so far", v.Status, v.Reason, v.Message, len(env.Konnect.CallTimes(hang)))
}

// TestAPIServerRestart: kube-apiserver is killed with SIGKILL and started again on the same
// port and data. The controller survives, stays healthy, re-establishes its watches, keeps the
// verdicts it wrote, and validates a configuration created afterwards.
func TestAPIServerRestart(t *testing.T) {
	ns := controlplane.NewNamespace(t, cp)
	tr := track(t, ns)
	probe := framework.FreeAddrs(t, 1)[0]
	ctrl := startController(t, ns, "--health-probe-bind-address="+probe)

	createAll(t, nil, []*konnectv1alpha1.KonnectAPIAuthConfiguration{inlineConfig(ns, "before", env.NewToken(t))})
	tr.waitFor(t, verdictTimeout, "before True", allHave([]string{"before"}, metav1.ConditionTrue, konnectv1alpha1.ReasonValid))
	waitHealthy(t, probe, "/readyz")

	if err := cp.StopAPIServer(); err != nil {
		t.Fatalf("killing kube-apiserver: %v", err)
	}
	down := time.Now()
	// Long enough for every watch and request of the controller to fail and retry.
	time.Sleep(5 * time.Second)
	assertRunning(t, ctrl)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := cp.StartAPIServer(ctx); err != nil {
		t.Fatalf("restarting kube-apiserver: %v", err)
	}
	t.Logf("kube-apiserver was down for %v", time.Since(down).Round(time.Millisecond))
	assertRunning(t, ctrl)

	created := time.Now()
	createAll(t, nil, []*konnectv1alpha1.KonnectAPIAuthConfiguration{inlineConfig(ns, "after", env.NewToken(t))})
	// Read directly rather than through the tracker, whose own watch is re-established
	// after the restart with client-go's backoff too.
	if err := wait.PollUntilContextTimeout(context.Background(), 50*time.Millisecond, verdictTimeout, true, func(ctx context.Context) (bool, error) {
		cfg, err := client.KonnectV1alpha1().KonnectAPIAuthConfigurations(ns).Get(ctx, "after", metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		c := framework.APIAuthValid(cfg)
		return c != nil && c.Status == metav1.ConditionTrue, nil
	}); err != nil {
		t.Fatalf("a configuration created after the restart never became True: %v", err)
	}
	t.Logf("a configuration created after the restart was True after %v (the controller's watch is re-established with client-go's backoff)", time.Since(created).Round(time.Millisecond))
	tr.waitFor(t, verdictTimeout, "after True", allHave([]string{"after"}, metav1.ConditionTrue, konnectv1alpha1.ReasonValid))
	waitHealthy(t, probe, "/healthz")
	waitHealthy(t, probe, "/readyz")
	assertRunning(t, ctrl)
	if lost := tr.lostTrue(time.Time{}); len(lost) > 0 {
		t.Errorf("True verdicts were lost: %v", lost)
	}
}

// TestControllerKilledMidConvergence: the controller is killed with SIGKILL while converging
// 1,000 configurations (half inline, half from Secrets) that share 100 tokens, and started
// again. Every configuration becomes True, none loses it on the way, and Konnect sees at most
// two calls per token: the validation cache lives in the process, so the new process may ask
// each token once more, but never once per configuration.
func TestControllerKilledMidConvergence(t *testing.T) {
	const n, tokenCount = 1000, 100
	ns := controlplane.NewNamespace(t, cp)
	tokens := make([]string, tokenCount)
	for i := range tokens {
		tokens[i] = env.NewToken(t)
	}
	var (
		secrets []*corev1.Secret
		cfgs    []*konnectv1alpha1.KonnectAPIAuthConfiguration
		names   []string
	)
	for i := range n {
		name := fmt.Sprintf("cfg-%04d", i)
		names = append(names, name)
		token := tokens[(i/2)%tokenCount]
		if i%2 == 0 {
			cfgs = append(cfgs, inlineConfig(ns, name, token))
			continue
		}
		secretName := "cred-" + name
		secrets = append(secrets, credentialSecret(ns, secretName, []byte(token)))
		cfgs = append(cfgs, secretRefConfig(ns, name, secretName))
	}
	createAll(t, secrets, cfgs)
	tr := track(t, ns)
	before := callsFor(tokens...)

	ctrl := startController(t, ns)
	started := time.Now()
	tr.waitFor(t, 2*time.Minute, "a third of the configurations True", func(state map[string]verdict) bool {
		c := 0
		for _, v := range state {
			if v.Status == metav1.ConditionTrue {
				c++
			}
		}
		return c >= n/3
	})
	ctrl.Kill()
	atKill := tr.count(metav1.ConditionTrue, names)
	firstCalls := callsFor(tokens...) - before
	t.Logf("killed the controller %v after its start, with %d of %d True and %d Konnect calls made", time.Since(started).Round(time.Millisecond), atKill, n, firstCalls)
	if atKill >= n {
		t.Fatalf("every configuration was True before the kill; nothing was left to converge")
	}

	startController(t, ns)
	restarted := time.Now()
	tr.waitFor(t, 3*time.Minute, "every configuration True", allHave(names, metav1.ConditionTrue, konnectv1alpha1.ReasonValid))
	total := callsFor(tokens...) - before
	t.Logf("after the restart all %d True in %v; Konnect calls: %d before the kill, %d after, %d in all (limit 2 × %d tokens)",
		n, time.Since(restarted).Round(time.Millisecond), firstCalls, total-firstCalls, total, tokenCount)
	if total > 2*tokenCount {
		t.Errorf("%d Konnect calls for %d tokens across one restart, want at most %d", total, tokenCount, 2*tokenCount)
	}
	for _, tok := range tokens {
		if c := env.Konnect.CallsFor(tok); c > 2 {
			t.Errorf("a token was asked %d times across one restart, want at most 2", c)
			break
		}
	}
	if lost := tr.lostTrue(time.Time{}); len(lost) > 0 {
		t.Errorf("%d True verdicts were lost across the restart, e.g. %s", len(lost), lost[0])
	}
}

// TestHostileSecretData: Secrets holding a 1 MiB token, binary junk, only white space and
// other malformed data give each configuration a clear reason, never quote the data, never
// reach Konnect, and do not disturb the controller, which still validates a good one after.
func TestHostileSecretData(t *testing.T) {
	ns := controlplane.NewNamespace(t, cp)
	tr := track(t, ns)
	ctrl := startController(t, ns)

	junk := make([]byte, 512) // under the 1024-byte limit, so that the character rule is what refuses it
	_, _ = rand.Read(junk)
	huge := append([]byte("kpat_"), bytes.Repeat([]byte("A"), 1<<20-len("kpat_"))...)
	cases := []struct {
		name   string
		data   []byte
		reason string
	}{
		{"huge", huge, konnectv1alpha1.ReasonInvalidToken},
		{"binary", junk, konnectv1alpha1.ReasonInvalidToken},
		{"binary-prefixed", append([]byte("kpat_"), junk...), konnectv1alpha1.ReasonInvalidToken},
		{"whitespace", []byte(" \t\r\n \v\f\n\n"), konnectv1alpha1.ReasonInvalidSecret},
		{"empty", []byte{}, konnectv1alpha1.ReasonInvalidSecret},
		{"nul", []byte("\x00\x00\x00"), konnectv1alpha1.ReasonInvalidToken},
		{"invalid-utf8", []byte("kpat_\xff\xfe\xfd"), konnectv1alpha1.ReasonInvalidToken},
		{"two-lines", []byte("kpat_firstline0123456789\nkpat_secondline0123456789\n"), konnectv1alpha1.ReasonInvalidToken},
		{"inner-space", []byte("kpat_abc def0123456789"), konnectv1alpha1.ReasonInvalidToken},
		{"wrong-prefix", []byte("Bearer kpat_abcdef0123456789"), konnectv1alpha1.ReasonInvalidToken},
	}
	var (
		secrets []*corev1.Secret
		cfgs    []*konnectv1alpha1.KonnectAPIAuthConfiguration
	)
	for _, c := range cases {
		secrets = append(secrets, credentialSecret(ns, "secret-"+c.name, c.data))
		cfgs = append(cfgs, secretRefConfig(ns, c.name, "secret-"+c.name))
	}
	createAll(t, secrets, cfgs)

	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tr.waitFor(t, verdictTimeout, c.name+" False/"+c.reason, allHave([]string{c.name}, metav1.ConditionFalse, c.reason))
			v, _, _ := tr.get(c.name)
			t.Logf("%d bytes → %s/%s %q", len(c.data), v.Status, v.Reason, v.Message)
			if len(v.Message) > 512 {
				t.Errorf("message is %d bytes long", len(v.Message))
			}
			if trimmed := strings.TrimSpace(string(c.data)); len(trimmed) >= 8 && strings.Contains(v.Message, trimmed[:8]) {
				t.Errorf("message quotes the Secret's data: %q", v.Message)
			}
			if !strings.Contains(v.Message, ns+"/secret-"+c.name) {
				t.Errorf("message does not name the Secret %s/secret-%s: %q", ns, c.name, v.Message)
			}
			if calls := env.Konnect.CallsFor(strings.TrimSpace(string(c.data))); calls != 0 {
				t.Errorf("the data was sent to Konnect %d times", calls)
			}
		})
	}

	createAll(t, nil, []*konnectv1alpha1.KonnectAPIAuthConfiguration{inlineConfig(ns, "good", env.NewToken(t))})
	tr.waitFor(t, verdictTimeout, "good True", allHave([]string{"good"}, metav1.ConditionTrue, konnectv1alpha1.ReasonValid))
	assertRunning(t, ctrl)
}

// waitHealthy waits until the controller's probe endpoint answers 200.
func waitHealthy(t *testing.T, addr, path string) {
	t.Helper()
	var last string
	err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, verdictTimeout, true, func(ctx context.Context) (bool, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			last = err.Error()
			return false, nil
		}
		resp.Body.Close()
		last = resp.Status
		return resp.StatusCode == http.StatusOK, nil
	})
	if err != nil {
		t.Fatalf("%s never answered 200 (last: %s)", path, last)
	}
}
