// Package framework runs the built konnect-auth-controller binary as a process against a test
// control plane and a fake Konnect, the way end-to-end tests, the demo and the benchmark need
// it: the real binary, reaching Konnect only through HTTPS_PROXY and SSL_CERT_FILE.
package framework

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/konnect-auth-controller/konnect-auth-controller/test/controlplane"
)

var (
	buildOnce sync.Once
	buildPath string
	buildErr  error
)

// ControllerBinary builds cmd/controller once per process into a temporary folder and returns
// its path. KONNECT_AUTH_CONTROLLER_BIN, when set, names a binary to use instead.
func ControllerBinary() (string, error) {
	if path := os.Getenv("KONNECT_AUTH_CONTROLLER_BIN"); path != "" {
		return path, nil
	}
	buildOnce.Do(func() {
		root, err := controlplane.RepoRoot()
		if err != nil {
			buildErr = err
			return
		}
		dir, err := os.MkdirTemp("", "konnect-auth-controller-bin-")
		if err != nil {
			buildErr = err
			return
		}
		buildPath = filepath.Join(dir, "konnect-auth-controller")
		cmd := exec.Command("go", "build", "-o", buildPath, "./cmd/controller")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("building the controller: %v\n%s", err, out)
		}
	})
	return buildPath, buildErr
}

// CleanupBinary removes the binary ControllerBinary built, if any.
func CleanupBinary() {
	if buildPath != "" && os.Getenv("KONNECT_AUTH_CONTROLLER_BIN") == "" {
		_ = os.RemoveAll(filepath.Dir(buildPath))
	}
}

// ControllerHelp returns what the built controller prints for --help (on standard error, as
// the flag package does, with exit code 2).
func ControllerHelp(t testing.TB) string {
	t.Helper()
	stdout, stderr := runControllerBinary(t, "--help", 2)
	return stdout + stderr
}

// ControllerVersion returns what the built controller prints for --version.
func ControllerVersion(t testing.TB) string {
	t.Helper()
	stdout, _ := runControllerBinary(t, "--version", 0)
	return strings.TrimSpace(stdout)
}

// runControllerBinary runs the built controller with arg, fails the test unless it exits 0 or
// okExit, and returns what it printed.
func runControllerBinary(t testing.TB, arg string, okExit int) (stdout, stderr string) {
	t.Helper()
	bin, err := ControllerBinary()
	if err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	cmd := exec.Command(bin, arg)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	var exit *exec.ExitError
	if err := cmd.Run(); err != nil && !(errors.As(err, &exit) && exit.ExitCode() == okExit) {
		t.Fatalf("%s %s: %v\n%s%s", bin, arg, err, out.String(), errOut.String())
	}
	return out.String(), errOut.String()
}

// Controller is one running controller process.
type Controller struct {
	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
	waitErr error
}

// ControllerOptions say how to start a controller.
type ControllerOptions struct {
	// Kubeconfig is the kubeconfig the controller uses.
	Kubeconfig string
	// Env is added to the controller's environment (the fake Konnect's Env()).
	Env []string
	// Args are extra flags.
	Args []string
	// LogPath is where its standard output and error go.
	LogPath string
}

// StartController starts the controller binary.
func StartController(opts ControllerOptions) (*Controller, error) {
	bin, err := ControllerBinary()
	if err != nil {
		return nil, err
	}
	logFile, err := os.OpenFile(opts.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	args := []string{"--kubeconfig=" + opts.Kubeconfig}
	// The binary's default ports (:8080, :8081) would collide between tests running side by
	// side; a test that wants the endpoints passes its own addresses.
	for _, flag := range []string{"--health-probe-bind-address", "--metrics-bind-address"} {
		if !hasFlag(opts.Args, flag) {
			args = append(args, flag+"=0")
		}
	}
	args = append(args, opts.Args...)
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), opts.Env...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("starting the controller: %w", err)
	}
	c := &Controller{cmd: cmd, logPath: opts.LogPath, done: make(chan struct{})}
	go func() {
		c.waitErr = cmd.Wait()
		logFile.Close()
		close(c.done)
	}()
	return c, nil
}

func hasFlag(args []string, flag string) bool {
	for _, a := range args {
		if a == flag || strings.HasPrefix(a, flag+"=") || a == "-"+strings.TrimPrefix(flag, "--") || strings.HasPrefix(a, "-"+strings.TrimPrefix(flag, "--")+"=") {
			return true
		}
	}
	return false
}

// Pid is the controller's process id.
func (c *Controller) Pid() int { return c.cmd.Process.Pid }

// LogPath is the file holding the controller's output.
func (c *Controller) LogPath() string { return c.logPath }

// Log returns what the controller has printed so far.
func (c *Controller) Log() string {
	b, _ := os.ReadFile(c.logPath)
	return string(b)
}

// Done is closed when the process has exited.
func (c *Controller) Done() <-chan struct{} { return c.done }

// ExitCode is the process's exit code once Done is closed (-1 if killed by a signal).
func (c *Controller) ExitCode() int {
	<-c.done
	return c.cmd.ProcessState.ExitCode()
}

// Signal sends sig to the controller.
func (c *Controller) Signal(sig syscall.Signal) { _ = c.cmd.Process.Signal(sig) }

// Stop sends SIGTERM and waits up to grace for a clean exit, then SIGKILLs. It returns the
// exit error of a process that did not exit cleanly.
func (c *Controller) Stop(grace time.Duration) error {
	select {
	case <-c.done:
		return c.waitErr
	default:
	}
	c.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
		return c.waitErr
	case <-time.After(grace):
		_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
		<-c.done
		return fmt.Errorf("controller did not exit within %v of SIGTERM", grace)
	}
}

// Kill ends the controller with SIGKILL, as a crash or an OOM kill would.
func (c *Controller) Kill() {
	_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
	<-c.done
}

// WaitForLog waits until the controller's output contains s.
func (c *Controller) WaitForLog(ctx context.Context, s string) error {
	for {
		if strings.Contains(c.Log(), s) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("controller log never contained %q: %w", s, ctx.Err())
		case <-c.done:
			if strings.Contains(c.Log(), s) {
				return nil
			}
			return errors.New("controller exited before logging " + s)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// ContainsAny reports which of needles appear in haystack (for "no token in the log" checks).
func ContainsAny(haystack []byte, needles ...string) []string {
	var found []string
	for _, n := range needles {
		if n != "" && bytes.Contains(haystack, []byte(n)) {
			found = append(found, n[:min(len(n), 5)]+"…")
		}
	}
	return found
}
