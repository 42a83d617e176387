package framework

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	konnectv1alpha1 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha1"
	clientset "github.com/konnect-auth-controller/konnect-auth-controller/pkg/generated/clientset/versioned"
	"github.com/konnect-auth-controller/konnect-auth-controller/test/controlplane"
)

// VerdictTimeout bounds how long WaitForCondition waits for a verdict ("within seconds", with a
// margin for a loaded machine).
const VerdictTimeout = 30 * time.Second

// WaitFor polls cond every 100ms until it is true, failing the test after timeout with what
// and what cond last said.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	waitFor(t, timeout, what, cond, nil)
}

// WaitFor is framework.WaitFor that, on timeout, also shows the controller's last log lines.
func (c *Controller) WaitFor(t testing.TB, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	waitFor(t, timeout, what, cond, c.Log)
}

func waitFor(t testing.TB, timeout time.Duration, what string, cond func() (bool, string), log func() string) {
	t.Helper()
	var last string
	err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, timeout, true, func(context.Context) (bool, error) {
		var ok bool
		ok, last = cond()
		return ok, nil
	})
	if err == nil {
		return
	}
	msg := fmt.Sprintf("timed out after %v waiting for %s; last: %s", timeout, what, last)
	if log != nil {
		msg += "\ncontroller log tail:\n" + Tail(log(), 30)
	}
	t.Fatal(msg)
}

// Eventually calls check every 100ms until it reports no problem ("" is none) or timeout
// passes, then fails the test (without stopping it) with each problem of the last call. It is
// for assertions on state the controller computes (its metrics, its log, its cache-derived
// values): that state may trail what the apiserver already shows, so it is waited for, not
// read once.
func Eventually(t testing.TB, timeout time.Duration, check func() []string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		problems := slices.DeleteFunc(check(), func(p string) bool { return p == "" })
		if len(problems) == 0 {
			return
		}
		if time.Now().After(deadline) {
			for _, p := range problems {
				t.Errorf("%s (still after %v)", p, timeout)
			}
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Consistently calls check every 100ms for d, and fails the test (without stopping it) with each
// problem ("" is none) of the first call that reports any; it returns whether none did. It is for
// a state that must hold over several sync periods (a condition that must not turn False, an
// object that must not be released), which one read after a sleep would not prove.
func Consistently(t testing.TB, d time.Duration, check func() []string) bool {
	t.Helper()
	start := time.Now()
	for {
		problems := slices.DeleteFunc(check(), func(p string) bool { return p == "" })
		if len(problems) > 0 {
			for _, p := range problems {
				t.Errorf("%s (after %v of %v)", p, time.Since(start).Round(100*time.Millisecond), d)
			}
			return false
		}
		if time.Since(start) >= d {
			return true
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Holds is Consistently for a check that reports at most one problem, and stops the test when
// the check fails.
func Holds(t testing.TB, d time.Duration, check func() string) {
	t.Helper()
	if !Consistently(t, d, func() []string { return []string{check()} }) {
		t.FailNow()
	}
}

// JSON formats v as JSON for a message.
func JSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// APIAuthValid returns cfg's APIAuthValid condition, or nil if it has none (or cfg is nil).
func APIAuthValid(cfg *konnectv1alpha1.KonnectAPIAuthConfiguration) *metav1.Condition {
	if cfg == nil {
		return nil
	}
	for i := range cfg.Status.Conditions {
		if cfg.Status.Conditions[i].Type == konnectv1alpha1.ConditionAPIAuthValid {
			return &cfg.Status.Conditions[i]
		}
	}
	return nil
}

// WaitForCondition waits up to VerdictTimeout until configuration ns/name's APIAuthValid
// condition has status and reason, and returns the configuration as it then read. On timeout
// it fails the test with the last status read and, for each of logs (a controller's Log), its
// last 30 lines.
func WaitForCondition(t testing.TB, client clientset.Interface, ns, name string, status metav1.ConditionStatus, reason string, logs ...func() string) *konnectv1alpha1.KonnectAPIAuthConfiguration {
	t.Helper()
	return WaitForConditionWithin(t, VerdictTimeout, client, ns, name, status, reason, logs...)
}

// WaitForConditionWithin is WaitForCondition waiting up to timeout.
func WaitForConditionWithin(t testing.TB, timeout time.Duration, client clientset.Interface, ns, name string, status metav1.ConditionStatus, reason string, logs ...func() string) *konnectv1alpha1.KonnectAPIAuthConfiguration {
	t.Helper()
	var last *konnectv1alpha1.KonnectAPIAuthConfiguration
	var lastErr error
	err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		cfg, err := client.KonnectV1alpha1().KonnectAPIAuthConfigurations(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			lastErr = err
			return false, nil
		}
		last, lastErr = cfg, nil
		cond := APIAuthValid(cfg)
		return cond != nil && cond.Status == status && cond.Reason == reason, nil
	})
	if err == nil {
		return last
	}
	msg := fmt.Sprintf("%s/%s: APIAuthValid never became %s/%s within %v; last status: %+v", ns, name, status, reason, timeout, statusOf(last))
	if lastErr != nil {
		msg += fmt.Sprintf(" (last read: %v)", lastErr)
	}
	for _, log := range logs {
		msg += "\ncontroller log tail:\n" + Tail(log(), 30)
	}
	t.Fatal(msg)
	return nil
}

func statusOf(cfg *konnectv1alpha1.KonnectAPIAuthConfiguration) any {
	if cfg == nil {
		return nil
	}
	return cfg.Status
}

// WaitForFinalizers waits until `kubectl get secret NAME -n NS -o
// jsonpath={.metadata.finalizers}` prints want ("" for none).
func WaitForFinalizers(t testing.TB, c *controlplane.ControlPlane, ns, name, want string) {
	t.Helper()
	WaitFor(t, VerdictTimeout, fmt.Sprintf("Secret %s/%s finalizers %q", ns, name, want), func() (bool, string) {
		out, stderr, err := Kubectl(c, "", "get", "secret", name, "-n", ns, "-o", "jsonpath={.metadata.finalizers}")
		if err != nil {
			return false, stderr
		}
		return out == want, out
	})
}

// Normalise round-trips v through JSON, so that values decoded from YAML and from JSON (or by
// different decoders) compare equal.
func Normalise(t testing.TB, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}
