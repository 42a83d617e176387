package controlplane

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// process is one child (etcd or kube-apiserver) running in its own process group, with its
// output appended to a log file.
type process struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{} // closed once the child has been reaped
	waitErr error         // valid after done is closed
}

// startProcess starts path with args in a new process group, stdout and stderr appended to
// logPath (a header line marks each start, so restarts are visible in one file).
func startProcess(name, path string, args []string, logPath string) (*process, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("controlplane: opening %s log: %w", name, err)
	}
	fmt.Fprintf(logFile, "==== %s: starting %s %s\n", time.Now().Format(time.RFC3339Nano), path, strings.Join(args, " "))

	cmd := exec.Command(path, args...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("controlplane: starting %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	return p, nil
}

// exited reports whether the child has exited.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// signalGroup sends sig to the child's whole process group.
func (p *process) signalGroup(sig syscall.Signal) {
	// The group id is the child's pid (Setpgid with Pgid 0). ESRCH only means it is gone.
	_ = syscall.Kill(-p.cmd.Process.Pid, sig)
}

// stop ends the child's process group: SIGTERM, then SIGKILL if it has not exited within
// grace (grace <= 0 sends SIGKILL at once). It waits for the child to be reaped, and always
// sends a final SIGKILL to the group so that no grandchild survives.
func (p *process) stop(grace time.Duration) error {
	if p == nil {
		return nil
	}
	defer p.signalGroup(syscall.SIGKILL)
	if p.exited() {
		return nil
	}
	if grace > 0 {
		p.signalGroup(syscall.SIGTERM)
		select {
		case <-p.done:
			return nil
		case <-time.After(grace):
		}
	}
	p.signalGroup(syscall.SIGKILL)
	select {
	case <-p.done:
		return nil
	case <-time.After(30 * time.Second):
		return fmt.Errorf("controlplane: %s (pid %d) did not exit 30s after SIGKILL", p.name, p.cmd.Process.Pid)
	}
}

// exitError describes how the child exited, for start-up errors.
func (p *process) exitError() error {
	if !p.exited() {
		return nil
	}
	if p.waitErr == nil {
		return fmt.Errorf("%s exited with status 0", p.name)
	}
	return fmt.Errorf("%s exited: %w", p.name, p.waitErr)
}

// logTail returns the last n lines of the file at path, or a note saying why it cannot.
func logTail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	data = bytes.TrimRight(data, "\n")
	lines := bytes.Split(data, []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// withLogTail wraps err with the tail of each named log, so a failed start explains itself.
func withLogTail(err error, logs ...*process) error {
	var b strings.Builder
	for _, p := range logs {
		if p == nil {
			continue
		}
		n := 40
		if p.name == "etcd" { // etcd logs a lot that rarely explains an apiserver failure
			n = 20
		}
		fmt.Fprintf(&b, "\n---- last %d lines of %s (%s) ----\n%s", n, p.name, p.logPath, logTail(p.logPath, n))
	}
	if b.Len() == 0 {
		return err
	}
	return fmt.Errorf("%w%s", err, b.String())
}

var errNotRunning = errors.New("controlplane: kube-apiserver is not running")
