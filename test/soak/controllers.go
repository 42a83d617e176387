package soak

// The controllers under test: one or more replicas of the built binary under leader election,
// the leader killed with SIGKILL from time to time and started again, and their peak RSS.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/konnect-auth-controller/konnect-auth-controller/test/e2e/framework"
)

// systemNamespace holds the Lease and the cluster CA Secret; the workload never deletes it.
const systemNamespace = "konnect-soak-system"

// leaseName is the controller's default --leader-elect-id.
const leaseName = "konnect-auth-controller"

var identityRE = regexp.MustCompile(`"Started leading".*?identity="([^"]+)"`)

type replica struct {
	name    string
	logPath string
	ctrl    *framework.Controller
	starts  int
	// paused: the soak killed it and starts it again shortly (the supervisor leaves it).
	paused bool
	// identities are those it logged with "Started leading"; scanned is how much of its log
	// has been read for them.
	identities map[string]bool
	scanned    int64
}

// scan reads r's log from where the last scan ended and records the identities it led as.
func (r *replica) scan() {
	f, err := os.Open(r.logPath)
	if err != nil {
		return
	}
	defer f.Close()
	if _, err := f.Seek(r.scanned, 0); err != nil {
		return
	}
	b, _ := io.ReadAll(f)
	// Only whole lines: a line being written is read again next time.
	if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
		b = b[:i+1]
	} else {
		return
	}
	r.scanned += int64(len(b))
	if r.identities == nil {
		r.identities = map[string]bool{}
	}
	for _, m := range identityRE.FindAllSubmatch(b, -1) {
		r.identities[string(m[1])] = true
	}
}

// fleet runs the replicas.
type fleet struct {
	j       *journal
	kube    kubernetes.Interface
	opts    framework.ControllerOptions
	logDir  string
	replica []*replica

	mu     sync.Mutex
	kills  int
	exits  []string // replicas that exited on their own, restarted by the supervisor
	maxKiB int64
}

func newFleet(j *journal, kube kubernetes.Interface, n int, opts framework.ControllerOptions, logDir string) *fleet {
	f := &fleet{j: j, kube: kube, opts: opts, logDir: logDir}
	for i := range n {
		name := fmt.Sprintf("replica-%d", i)
		f.replica = append(f.replica, &replica{name: name, logPath: filepath.Join(logDir, name+".log")})
	}
	return f
}

// start starts replica r (its log is appended to).
func (f *fleet) start(r *replica) error {
	opts := f.opts
	opts.LogPath = r.logPath
	c, err := framework.StartController(opts)
	if err != nil {
		return err
	}
	f.mu.Lock()
	r.ctrl = c
	r.starts++
	f.mu.Unlock()
	f.j.add(kindKill, []string{"Controller/" + r.name}, "started %s (pid %d)", r.name, c.Pid())
	return nil
}

func (f *fleet) startAll() error {
	for _, r := range f.replica {
		if err := f.start(r); err != nil {
			return err
		}
	}
	return nil
}

// running reports whether r's process runs.
func (r *replica) running() bool {
	if r.ctrl == nil {
		return false
	}
	select {
	case <-r.ctrl.Done():
		return false
	default:
		return true
	}
}

// leader returns the replica that holds the Lease, or nil.
func (f *fleet) leader(ctx context.Context) *replica {
	lease, err := f.kube.CoordinationV1().Leases(systemNamespace).Get(ctx, leaseName, metav1.GetOptions{})
	if err != nil {
		return nil
	}
	holder := ptr.Deref(lease.Spec.HolderIdentity, "")
	if holder == "" {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range f.replica {
		if !r.running() {
			continue
		}
		r.scan()
		if r.identities[holder] {
			return r
		}
	}
	return nil
}

// waitLeader waits until a running replica holds the Lease.
func (f *fleet) waitLeader(ctx context.Context, timeout time.Duration) (*replica, error) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if r := f.leader(ctx); r != nil {
			return r, nil
		}
		for _, r := range f.replica {
			if r.ctrl != nil && !r.running() && r.ctrl.ExitCode() != -1 {
				return nil, fmt.Errorf("%s exited with code %d:\n%s", r.name, r.ctrl.ExitCode(), framework.Tail(r.ctrl.Log(), 30))
			}
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
	return nil, fmt.Errorf("no replica took the Lease within %v", timeout)
}

// killLoop kills the leader with SIGKILL every while and starts it again a few seconds later
// (it then stands by), until ctx ends.
func (f *fleet) killLoop(ctx context.Context, rng *rand.Rand, every time.Duration) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(between(rng, every/2, every*3/2)):
		}
		r := f.leader(ctx)
		if r == nil {
			continue
		}
		f.sample()
		f.mu.Lock()
		r.paused = true
		f.mu.Unlock()
		pid := r.ctrl.Pid()
		r.ctrl.Kill()
		f.mu.Lock()
		f.kills++
		f.mu.Unlock()
		f.j.add(kindKill, []string{"Controller/" + r.name}, "SIGKILL %s (pid %d), the leader", r.name, pid)
		select {
		case <-ctx.Done():
		case <-time.After(between(rng, time.Second, 8*time.Second)):
		}
		if err := f.start(r); err != nil {
			f.j.add(kindKill, nil, "starting %s again failed: %v", r.name, err)
		}
		f.mu.Lock()
		r.paused = false
		f.mu.Unlock()
	}
}

// supervise starts again, as a Deployment would, a replica that exited on its own (a lost
// Lease ends the process with 1), and records it, until ctx ends.
func (f *fleet) supervise(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(2 * time.Second):
		}
		for _, r := range f.replica {
			f.mu.Lock()
			down := !r.paused && r.ctrl != nil && !r.running()
			f.mu.Unlock()
			if !down {
				continue
			}
			msg := fmt.Sprintf("%s exited on its own with code %d; last lines: %s", r.name, r.ctrl.ExitCode(),
				strings.ReplaceAll(framework.Tail(r.ctrl.Log(), 3), "\n", " | "))
			f.mu.Lock()
			f.exits = append(f.exits, msg)
			f.mu.Unlock()
			f.j.add(kindKill, []string{"Controller/" + r.name}, "%s", msg)
			if err := f.start(r); err != nil {
				f.j.add(kindKill, nil, "starting %s again failed: %v", r.name, err)
			}
		}
	}
}

func (f *fleet) exitsOnTheirOwn() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.exits...)
}

// ensureRunning starts every replica that is not running (a crash, or the kill loop stopped
// between kill and start), and journals a crash.
func (f *fleet) ensureRunning() error {
	for _, r := range f.replica {
		if r.running() {
			continue
		}
		if r.ctrl != nil {
			f.j.add(kindKill, []string{"Controller/" + r.name}, "%s was not running (exit code %d); starting it", r.name, r.ctrl.ExitCode())
		}
		if err := f.start(r); err != nil {
			return err
		}
	}
	return nil
}

// sample records the replicas' peak RSS (VmHWM) so far.
func (f *fleet) sample() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range f.replica {
		if !r.running() {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", r.ctrl.Pid()))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
				if fields := strings.Fields(rest); len(fields) > 0 {
					if kib, err := strconv.ParseInt(fields[0], 10, 64); err == nil && kib > f.maxKiB {
						f.maxKiB = kib
					}
				}
			}
		}
	}
}

func (f *fleet) sampleLoop(ctx context.Context) {
	for {
		f.sample()
		select {
		case <-ctx.Done():
			return
		case <-time.After(2 * time.Second):
		}
	}
}

func (f *fleet) maxRSSMiB() float64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return float64(f.maxKiB) / 1024
}

func (f *fleet) killCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.kills
}

// stop stops every replica (SIGTERM, then SIGKILL after grace).
func (f *fleet) stop(grace time.Duration) {
	f.sample()
	for _, r := range f.replica {
		if r.running() {
			_ = r.ctrl.Stop(grace)
		}
	}
}

// logs returns every replica's log (all its starts).
func (f *fleet) logs() map[string][]byte {
	out := map[string][]byte{}
	for _, r := range f.replica {
		b, _ := os.ReadFile(r.logPath)
		out[r.name] = b
	}
	return out
}
