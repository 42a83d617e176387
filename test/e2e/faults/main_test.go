// Package faults_test proves that faults cost nothing but time: the built controller runs as
// a process against a real kube-apiserver and etcd and a fake Konnect reached through
// HTTPS_PROXY, and each test injects one fault (a Konnect outage, a 429 with Retry-After, a
// Konnect that never answers, an apiserver killed with SIGKILL, the controller killed with
// SIGKILL mid-convergence, hostile Secret data). Each ends with every configuration in the
// right state, and every verdict transition is recorded from a watch so that a True verdict
// lost on the way is caught even if it comes back.
//
// Each test starts its own controller, restricted with --namespace to the test's namespace,
// so tests do not see each other's objects. It needs bin/etcd, bin/kube-apiserver and
// bin/kubectl (`make tools`).
package faults_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	konnectv1alpha1 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha1"
	clientset "github.com/konnect-auth-controller/konnect-auth-controller/pkg/generated/clientset/versioned"
	informers "github.com/konnect-auth-controller/konnect-auth-controller/pkg/generated/informers/externalversions"
	"github.com/konnect-auth-controller/konnect-auth-controller/test/controlplane"
	"github.com/konnect-auth-controller/konnect-auth-controller/test/e2e/framework"
)

var (
	cp     *controlplane.ControlPlane
	env    *framework.Env
	kube   kubernetes.Interface
	client clientset.Interface
)

const (
	orgID = "7f1c2e0a-9d3b-4c5e-8f6a-0b1c2d3e4f50"
	// verdictTimeout bounds how long a verdict may take to show on a quiet machine, with a
	// wide margin for a busy one.
	verdictTimeout = 60 * time.Second
)

var suite = &framework.Suite{
	Name: "faults", OrgID: orgID, CP: &cp, Env: &env, Kube: &kube, Client: &client,
	// No client-side limit: the tests create a thousand objects at once.
	Unthrottled: true,
}

func TestMain(m *testing.M) { os.Exit(suite.RunTestMain(m)) }

// startController starts the controller binary for one test, watching only ns, with the
// metrics and probe servers off unless args turn them on (later flags win). It is stopped
// when the test ends; its log must then hold no panic and no token.
func startController(t *testing.T, ns string, args ...string) *framework.Controller {
	t.Helper()
	ctrl := env.StartControllerForTest(t, "controller", framework.ControllerOptions{
		Kubeconfig: cp.KubeconfigPath(),
		Env:        env.Konnect.Env(),
		Args:       append([]string{"-v=2", "--namespace=" + ns, "--metrics-bind-address=0", "--health-probe-bind-address=0"}, args...),
	})
	// Stopped here, before StartControllerForTest's own cleanup (cleanups run last first), so
	// that a panic on the way out is in the log this checks.
	t.Cleanup(func() {
		_ = ctrl.Stop(20 * time.Second)
		log := ctrl.Log()
		if i := strings.Index(strings.ToLower(log), "panic"); i >= 0 {
			t.Errorf("the controller's log shows a panic:\n%s", log[max(0, i-200):min(len(log), i+2000)])
		}
	})
	return ctrl
}

// assertRunning fails the test if the controller has exited.
func assertRunning(t *testing.T, ctrl *framework.Controller) {
	t.Helper()
	select {
	case <-ctrl.Done():
		t.Fatalf("the controller exited (code %d):\n%s", ctrl.ExitCode(), framework.Tail(ctrl.Log(), 40))
	default:
	}
}

// Objects.

func inlineConfig(ns, name, token string) *konnectv1alpha1.KonnectAPIAuthConfiguration {
	return &konnectv1alpha1.KonnectAPIAuthConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: konnectv1alpha1.KonnectAPIAuthConfigurationSpec{
			Type: konnectv1alpha1.KonnectAPIAuthTypeToken, Token: token, ServerURL: "us.api.konghq.com",
		},
	}
}

func secretRefConfig(ns, name, secretName string) *konnectv1alpha1.KonnectAPIAuthConfiguration {
	return &konnectv1alpha1.KonnectAPIAuthConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: konnectv1alpha1.KonnectAPIAuthConfigurationSpec{
			Type:      konnectv1alpha1.KonnectAPIAuthTypeSecretRef,
			SecretRef: &konnectv1alpha1.SecretReference{Name: secretName},
			ServerURL: "https://us.api.konghq.com",
		},
	}
}

// credentialSecret is a Secret labelled as the user guide labels it, holding data under "token".
func credentialSecret(ns, name string, data []byte) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{
			konnectv1alpha1.SecretCredentialLabel: konnectv1alpha1.SecretCredentialLabelValue,
			"konghq.com/secret":                   "true",
		}},
		Data: map[string][]byte{konnectv1alpha1.SecretTokenKey: data},
	}
}

// createAll creates Secrets and then configurations, 16 at a time.
func createAll(t *testing.T, secrets []*corev1.Secret, cfgs []*konnectv1alpha1.KonnectAPIAuthConfiguration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var jobs []func() error
	for _, s := range secrets {
		jobs = append(jobs, func() error {
			_, err := kube.CoreV1().Secrets(s.Namespace).Create(ctx, s, metav1.CreateOptions{})
			return err
		})
	}
	runAll(t, jobs)
	jobs = nil
	for _, c := range cfgs {
		jobs = append(jobs, func() error {
			_, err := client.KonnectV1alpha1().KonnectAPIAuthConfigurations(c.Namespace).Create(ctx, c, metav1.CreateOptions{})
			return err
		})
	}
	runAll(t, jobs)
}

func runAll(t *testing.T, jobs []func() error) {
	t.Helper()
	ch := make(chan func() error)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	for range 16 {
		wg.Go(func() {
			for job := range ch {
				if err := job(); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		})
	}
	for _, j := range jobs {
		ch <- j
	}
	close(ch)
	wg.Wait()
	if first != nil {
		t.Fatal(first)
	}
}

// The verdict tracker.

// verdict is a configuration's APIAuthValid condition as far as the tests care.
type verdict struct {
	Status  metav1.ConditionStatus
	Reason  string
	Message string
}

// transition is one change of a configuration's verdict, as the watch delivered it.
type transition struct {
	At       time.Time
	Name     string
	From, To verdict
}

func (tr transition) String() string {
	return fmt.Sprintf("%s %s: %s/%s → %s/%s", tr.At.Format("15:04:05.000"), tr.Name, tr.From.Status, tr.From.Reason, tr.To.Status, tr.To.Reason)
}

// tracker watches the configurations of one namespace from the test process (a list, then a
// watch, via an informer) and records every change of their APIAuthValid verdict.
type tracker struct {
	writes atomic.Int64 // updates that changed the resourceVersion

	mu          sync.Mutex
	state       map[string]verdict
	since       map[string]time.Time // when the current verdict was first seen
	transitions []transition
	changed     chan struct{} // closed and replaced on every change
}

// track starts a tracker for ns; it stops when the test ends.
func track(t *testing.T, ns string) *tracker {
	t.Helper()
	tr := &tracker{state: map[string]verdict{}, since: map[string]time.Time{}, changed: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	factory := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithNamespace(ns))
	inf := factory.Konnect().V1alpha1().KonnectAPIAuthConfigurations().Informer()
	_, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) { tr.observe(obj.(*konnectv1alpha1.KonnectAPIAuthConfiguration)) },
		UpdateFunc: func(old, cur any) {
			if old.(metav1.Object).GetResourceVersion() != cur.(metav1.Object).GetResourceVersion() {
				tr.writes.Add(1)
			}
			tr.observe(cur.(*konnectv1alpha1.KonnectAPIAuthConfiguration))
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	factory.Start(ctx.Done())
	t.Cleanup(func() {
		cancel()
		factory.Shutdown()
	})
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		t.Fatal("the tracker's watch did not sync")
	}
	return tr
}

func (tr *tracker) observe(cfg *konnectv1alpha1.KonnectAPIAuthConfiguration) {
	var v verdict
	if c := framework.APIAuthValid(cfg); c != nil {
		v = verdict{Status: c.Status, Reason: c.Reason, Message: c.Message}
	}
	now := time.Now()
	tr.mu.Lock()
	defer tr.mu.Unlock()
	old, seen := tr.state[cfg.Name]
	if seen && old.Status == v.Status && old.Reason == v.Reason {
		tr.state[cfg.Name] = v // the message may change within the same verdict
		return
	}
	tr.state[cfg.Name] = v
	tr.since[cfg.Name] = now
	if seen {
		tr.transitions = append(tr.transitions, transition{At: now, Name: cfg.Name, From: old, To: v})
	}
	close(tr.changed)
	tr.changed = make(chan struct{})
}

// get returns the current verdict of name and since when it holds.
func (tr *tracker) get(name string) (verdict, time.Time, bool) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	v, ok := tr.state[name]
	return v, tr.since[name], ok
}

// count returns how many of names have the given status (all tracked objects if names is nil).
func (tr *tracker) count(status metav1.ConditionStatus, names []string) int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	n := 0
	if names == nil {
		for _, v := range tr.state {
			if v.Status == status {
				n++
			}
		}
		return n
	}
	for _, name := range names {
		if tr.state[name].Status == status {
			n++
		}
	}
	return n
}

// lostTrue returns the transitions away from True (to anything) at or after since.
func (tr *tracker) lostTrue(since time.Time) []transition {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	var out []transition
	for _, x := range tr.transitions {
		if !x.At.Before(since) && x.From.Status == metav1.ConditionTrue && x.To.Status != metav1.ConditionTrue {
			out = append(out, x)
		}
	}
	return out
}

// waitFor waits until cond holds for the tracked state, re-checking on every change, and
// fails the test with what describes the state if timeout passes first.
func (tr *tracker) waitFor(t *testing.T, timeout time.Duration, what string, cond func(state map[string]verdict) bool) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		tr.mu.Lock()
		ok := cond(tr.state)
		changed := tr.changed
		summary := summarize(tr.state)
		tr.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-changed:
		case <-time.After(time.Second): // a belt for a missed wake-up
		case <-deadline.C:
			t.Fatalf("%s: not reached within %v; verdicts now: %s", what, timeout, summary)
		}
	}
}

// allHave is a waitFor condition: every one of names has status (and reason, if not "").
func allHave(names []string, status metav1.ConditionStatus, reason string) func(map[string]verdict) bool {
	return func(state map[string]verdict) bool {
		for _, n := range names {
			v := state[n]
			if v.Status != status || (reason != "" && v.Reason != reason) {
				return false
			}
		}
		return true
	}
}

// summarize counts verdicts by status/reason.
func summarize(state map[string]verdict) string {
	counts := map[string]int{}
	for _, v := range state {
		key := string(v.Status) + "/" + v.Reason
		if v.Status == "" {
			key = "(no verdict)"
		}
		counts[key]++
	}
	return fmt.Sprint(counts)
}
