package production_test

import (
	"context"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"

	konnectv1alpha1 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha1"
	"github.com/konnect-auth-controller/konnect-auth-controller/test/controlplane"
	"github.com/konnect-auth-controller/konnect-auth-controller/test/e2e/framework"
)

const (
	// leaseDuration matches fastLeaderElection.
	leaseDuration = 6 * time.Second
	// failoverSlack is "a few seconds" on top of the lease duration: the standby's next retry
	// (1s), the sync, the status write, and a loaded CI machine.
	failoverSlack = 6 * time.Second
)

// TestHighAvailability runs two replicas against one apiserver, as the Deployment does:
//
//  1. exactly one leads (logs "Started leading"; the Lease names it), and it alone works;
//     the standby is alive and ready (warm caches);
//  2. the leader is killed with SIGKILL (no chance to release the Lease): the standby takes
//     over once the Lease expires, and a configuration created after the kill becomes True
//     within the lease duration plus a few seconds;
//  3. the new leader gets SIGTERM: it exits 0 and has released the Lease (holder empty) by
//     then, without waiting for it to expire.
func TestHighAvailability(t *testing.T) {
	ns := controlplane.NewNamespace(t, cp)
	kube, client := clients(t, cp)
	args := append([]string{"--leader-elect=true", "--leader-elect-namespace=" + ns, "--namespace=" + ns, "-v=2"}, fastLeaderElection...)
	a := startController(t, "replica-a", cp.KubeconfigPath(), nil, args...)
	b := startController(t, "replica-b", cp.KubeconfigPath(), nil, args...)

	// 1. Exactly one leader.
	framework.WaitFor(t, 30*time.Second, "a leader", func() (bool, string) {
		return a.leaderIdentity() != "" || b.leaderIdentity() != "", "no \"Started leading\" yet"
	})
	// Give the other candidate several retry periods to (wrongly) lead as well.
	time.Sleep(3 * time.Second)
	leader, standby := a, b
	if b.leaderIdentity() != "" {
		leader, standby = b, a
	}
	if standby.leaderIdentity() != "" {
		t.Fatalf("both replicas lead: %s and %s", a.leaderIdentity(), b.leaderIdentity())
	}
	holder := leaseHolder(t, ns)
	t.Logf("%s leads as %s; Lease holder %q", leader.name, leader.leaderIdentity(), holder)
	if holder != leader.leaderIdentity() {
		t.Fatalf("Lease holder %q, but %s logged identity %q", holder, leader.name, leader.leaderIdentity())
	}
	before := env.NewToken(t)
	framework.MustKubectl(t, cp, framework.TokenConfigYAML(ns, "before-failover", before, "us.api.konghq.com"), "apply", "-f", "-")
	framework.WaitForCondition(t, client, ns, "before-failover", metav1.ConditionTrue, konnectv1alpha1.ReasonValid)
	// The standby is alive and ready (its caches are warm), yet does no work.
	standby.waitServing(t)
	for _, path := range []string{"/healthz", "/readyz"} {
		framework.WaitFor(t, 10*time.Second, standby.name+" "+path+" 200", func() (bool, string) {
			code, body, err := standby.get(path)
			return code == 200, fmt.Sprint(code, body, err)
		})
	}
	if strings.Contains(standby.Log(), "Starting workers") {
		t.Errorf("the standby started its workers without leading")
	}

	// 2. SIGKILL the leader; a configuration created after it is validated by the standby.
	leader.Kill()
	killed := time.Now()
	after := env.NewToken(t)
	framework.MustKubectl(t, cp, framework.TokenConfigYAML(ns, "after-failover", after, "us.api.konghq.com"), "apply", "-f", "-")
	framework.WaitForCondition(t, client, ns, "after-failover", metav1.ConditionTrue, konnectv1alpha1.ReasonValid)
	failover := time.Since(killed)
	t.Logf("a configuration created after SIGKILL of the leader was True after %v (lease duration %v)", failover.Round(time.Millisecond), leaseDuration)
	if failover > leaseDuration+failoverSlack {
		t.Errorf("failover took %v, want at most the lease duration %v + %v", failover, leaseDuration, failoverSlack)
	}
	// Its log is written by the process itself, which may trail the status it wrote.
	framework.WaitFor(t, 10*time.Second, standby.name+" logging \"Started leading\" (it validated the configuration)", func() (bool, string) {
		return standby.leaderIdentity() != "", framework.Tail(standby.Log(), 5)
	})
	lease, err := kube.CoordinationV1().Leases(ns).Get(context.Background(), leaseName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := ptr.Deref(lease.Spec.HolderIdentity, ""); got != standby.leaderIdentity() {
		t.Errorf("after failover the Lease holder is %q, want %s's %q", got, standby.name, standby.leaderIdentity())
	}
	if ptr.Deref(lease.Spec.LeaseTransitions, 0) < 1 {
		t.Errorf("leaseTransitions = %v after a failover", lease.Spec.LeaseTransitions)
	}

	// 3. SIGTERM the new leader: exit 0, Lease released.
	sent := signalAndTime(standby, syscall.SIGTERM)
	if !exitedWithin(standby, 30*time.Second) {
		t.Fatalf("%s did not exit within 30s of SIGTERM", standby.name)
	}
	exited := time.Since(sent)
	// Read at once: a released Lease has no holder; an abandoned one would keep the holder
	// until it expired (6s) and was taken.
	holder = leaseHolder(t, ns)
	t.Logf("%s exited with code %d %v after SIGTERM; Lease holder now %q", standby.name, standby.ExitCode(), exited.Round(time.Millisecond), holder)
	if code := standby.ExitCode(); code != 0 {
		t.Errorf("exit code after SIGTERM = %d, want 0", code)
	}
	if holder != "" {
		t.Errorf("the Lease still names %q after a graceful exit: it was not released", holder)
	}
	if exited > 3*time.Second {
		t.Errorf("graceful exit took %v with nothing in flight, want it at once (≤3s)", exited)
	}
	if !strings.Contains(standby.Log(), "Lease is released") {
		t.Errorf("no \"Lease is released\" in the log")
	}
}

// TestLeaseLostExits1: a leader that loses its Lease (here another holder takes it over, as
// after a long network partition) stops and exits non-zero, so that its Pod restarts clean
// rather than working on without the Lease.
func TestLeaseLostExits1(t *testing.T) {
	ns := controlplane.NewNamespace(t, cp)
	kube, _ := clients(t, cp)
	args := append([]string{"--leader-elect=true", "--leader-elect-namespace=" + ns, "--namespace=" + ns, "-v=2"}, fastLeaderElection...)
	p := startController(t, "usurped", cp.KubeconfigPath(), nil, args...)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.WaitForLog(ctx, "Started leading"); err != nil {
		t.Fatal(err)
	}

	// Someone else holds the Lease now, for a minute.
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		lease, err := kube.CoordinationV1().Leases(ns).Get(context.Background(), leaseName, metav1.GetOptions{})
		if err != nil {
			return err
		}
		now := metav1.NewMicroTime(time.Now())
		lease.Spec = coordinationv1.LeaseSpec{
			HolderIdentity:       ptr.To("usurper"),
			LeaseDurationSeconds: ptr.To[int32](60),
			AcquireTime:          &now,
			RenewTime:            &now,
			LeaseTransitions:     ptr.To(ptr.Deref(lease.Spec.LeaseTransitions, 0) + 1),
		}
		_, err = kube.CoordinationV1().Leases(ns).Update(context.Background(), lease, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	taken := time.Now()
	// It notices at its next renewal and gives up after the renew deadline (4s).
	if !exitedWithin(p, 20*time.Second) {
		code, body, err := p.get("/healthz")
		t.Fatalf("still running 20s after losing the Lease (lost: %v; /healthz meanwhile answers %d %q %v): "+
			"a replica that neither leads nor rejoins the election, which its liveness probe does not catch",
			strings.Contains(p.Log(), "Failed to renew lease"), code, strings.TrimSpace(body), err)
	}
	t.Logf("exited with code %d %v after the Lease was taken", p.ExitCode(), time.Since(taken).Round(time.Millisecond))
	if code := p.ExitCode(); code != 1 {
		t.Errorf("exit code after losing the Lease = %d, want 1", code)
	}
	if got := leaseHolder(t, ns); got != "usurper" {
		t.Errorf("the Lease holder is %q: the loser must not release or overwrite a Lease it no longer holds", got)
	}
}

// leaseHolder returns the Lease's holder identity ("" when released or never held).
func leaseHolder(t testing.TB, ns string) string {
	t.Helper()
	kube, _ := clients(t, cp)
	lease, err := kube.CoordinationV1().Leases(ns).Get(context.Background(), leaseName, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("reading Lease %s/%s: %v", ns, leaseName, err)
	}
	return ptr.Deref(lease.Spec.HolderIdentity, "")
}
