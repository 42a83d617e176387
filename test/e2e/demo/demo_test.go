// Package demo_test runs the demo command (test/cmd/demo, what `make demo` runs) as a user
// would, non-interactively: it must bring the user guide's two examples to VALID True, print
// the table and how to use the cluster, and leave no process or file behind; and it must fail
// fast and clearly when it cannot work.
//
// It needs bin/etcd, bin/kube-apiserver and bin/kubectl (`make tools`).
package demo_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/konnect-auth-controller/konnect-auth-controller/test/controlplane"
	"github.com/konnect-auth-controller/konnect-auth-controller/test/e2e/framework"
	"github.com/konnect-auth-controller/konnect-auth-controller/test/fakekonnect"
)

const (
	// runTimeout bounds one run of the demo; it normally takes well under a minute.
	runTimeout = 4 * time.Minute
)

var (
	repoRoot      string
	demoBin       string
	controllerBin string
)

func TestMain(m *testing.M) {
	code, err := setup()
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: %v\n", err)
		code = 1
	} else {
		code = m.Run()
	}
	if demoBin != "" {
		_ = os.RemoveAll(filepath.Dir(demoBin))
	}
	framework.CleanupBinary()
	os.Exit(code)
}

// setup builds the demo and the controller once for all tests.
func setup() (int, error) {
	var err error
	if repoRoot, err = controlplane.RepoRoot(); err != nil {
		return 1, err
	}
	binDir, err := controlplane.BinDir()
	if err != nil {
		return 1, err
	}
	if err := controlplane.CheckBinaries(binDir); err != nil {
		return 1, err
	}
	if controllerBin, err = framework.ControllerBinary(); err != nil {
		return 1, err
	}
	dir, err := os.MkdirTemp("", "e2e-demo-bin-")
	if err != nil {
		return 1, err
	}
	demoBin = filepath.Join(dir, "demo")
	build := exec.Command("go", "build", "-o", demoBin, "./test/cmd/demo")
	build.Dir = repoRoot
	if out, err := build.CombinedOutput(); err != nil {
		return 1, fmt.Errorf("building the demo: %v\n%s", err, out)
	}
	return 0, nil
}

// result is what one run of the demo did.
type result struct {
	output   string
	exitCode int
	duration time.Duration
	workDir  string // as announced in the output; "" if none was
}

// runDemo runs the demo from the repository root, as `make demo` does, with env added to a
// clean copy of the test's environment, and waits for it to exit.
func runDemo(t *testing.T, env ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, demoBin)
	cmd.Dir = repoRoot
	cmd.Env = append(cleanEnv(), "KONNECT_AUTH_CONTROLLER_BIN="+controllerBin)
	cmd.Env = append(cmd.Env, env...)
	// On timeout, ask it to clean up as Ctrl-C would, then kill it.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = time.Minute

	start := time.Now()
	out, err := cmd.CombinedOutput()
	r := result{output: string(out), duration: time.Since(start)}
	if m := regexp.MustCompile(`Work folder: (\S+)`).FindStringSubmatch(r.output); m != nil {
		r.workDir = m[1]
	}
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		r.exitCode = exit.ExitCode()
	default:
		t.Fatalf("running the demo: %v\n%s", err, r.output)
	}
	if ctx.Err() != nil {
		t.Fatalf("the demo did not finish within %v; its output:\n%s", runTimeout, r.output)
	}
	t.Logf("demo exited %d after %v; its output:\n%s", r.exitCode, r.duration.Round(time.Millisecond), r.output)
	return r
}

// cleanEnv is the test's environment without anything that would change what the demo does.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch {
		case name == "KONNECT_TOKEN", name == "KONNECT_SERVER_URL", strings.HasPrefix(name, "DEMO_"):
		default:
			env = append(env, kv)
		}
	}
	return env
}

// TestDemoWithFakeKonnect is `DEMO_EXIT_AFTER_READY=1 make demo` on a machine without a
// Konnect account.
func TestDemoWithFakeKonnect(t *testing.T) {
	r := runDemo(t, "DEMO_EXIT_AFTER_READY=1")
	if r.exitCode != 0 {
		t.Fatalf("exit code %d, want 0", r.exitCode)
	}
	if !strings.Contains(r.output, "LOCAL FAKE Konnect") || !strings.Contains(r.output, "a local fake Konnect") {
		t.Errorf("the output does not say that it used a local fake Konnect")
	}
	assertTable(t, r.output, framework.UserGuideOrgID, "https://us.api.konghq.com")
	assertConnected(t, r.output, framework.UserGuideOrgID)
	assertUsage(t, r)
	assertNothingLeft(t, r)
}

// TestDemoWithKonnectToken takes the KONNECT_TOKEN path, which must start no fake and let the
// controller reach Konnect through the standard environment. The real Konnect is not asked:
// as behind a corporate proxy, HTTPS_PROXY and SSL_CERT_FILE lead to a fake that the test
// runs, which also proves that the demo's controller honours them.
func TestDemoWithKonnectToken(t *testing.T) {
	konnect := startProxiedKonnect(t)
	token, orgID := framework.RandomToken(), "0b5e2f6c-1d7a-4c3e-9f10-2a6b8c4d7e91"
	konnect.AddToken(token, orgID)

	env := append([]string{"DEMO_EXIT_AFTER_READY=1", "KONNECT_TOKEN=" + token, "KONNECT_SERVER_URL=eu.api.konghq.com"}, konnect.Env()...)
	r := runDemo(t, env...)
	if r.exitCode != 0 {
		t.Fatalf("exit code %d, want 0", r.exitCode)
	}
	if strings.Contains(strings.ToLower(r.output), "fake konnect") {
		t.Errorf("with KONNECT_TOKEN set the demo mentions a fake Konnect; it must start none")
	}
	if !strings.Contains(r.output, "REAL Konnect") {
		t.Errorf("the output does not say that the real Konnect is used")
	}
	assertTable(t, r.output, orgID, "https://eu.api.konghq.com")
	assertConnected(t, r.output, orgID)
	assertUsage(t, r)
	// With a real token the demo makes a control plane and registers a certificate in your
	// organization: each once, in your region, and both removed again before it stops.
	for _, c := range []struct {
		method, path string
		want         int
	}{
		{"POST", "/v2/control-planes", 1},
		{"POST", "/v2/control-planes/*/dp-client-certificates", 1},
		{"DELETE", "/v2/control-planes/*/dp-client-certificates/*", 1},
		{"DELETE", "/v2/control-planes/*", 1},
	} {
		if got := konnect.CountRequests(c.method, c.path); got != c.want {
			t.Errorf("Konnect saw %d %s %s, want %d", got, c.method, c.path, c.want)
		}
	}
	for _, req := range konnect.RequestsMatching("", "/v2/control-planes") {
		if req.Host != "eu.api.konghq.com" {
			t.Errorf("%s %s went to %s, want the region of KONNECT_SERVER_URL, eu.api.konghq.com", req.Method, req.Path, req.Host)
		}
	}
	if left := konnect.ControlPlanes(token, "eu"); len(left) != 0 {
		t.Errorf("the demo left %d control plane(s) in Konnect: %+v", len(left), left)
	}
	if n := konnect.CallsFor(token); n < 1 {
		t.Errorf("Konnect (behind HTTPS_PROXY) saw %d checks of the token, want at least 1", n)
	} else {
		t.Logf("Konnect saw %d check(s) of the token, for two configurations", n)
	}
	if strings.Contains(r.output, token) {
		t.Errorf("the demo printed the token")
	}
	assertNothingLeft(t, r)
}

// TestDemoInvalidToken: a token Konnect refuses fails the demo at once, saying why, instead
// of waiting for the timeout.
func TestDemoInvalidToken(t *testing.T) {
	konnect := startProxiedKonnect(t)
	token := framework.RandomToken() // never registered: Konnect answers 401

	env := append([]string{"DEMO_EXIT_AFTER_READY=1", "KONNECT_TOKEN=" + token, "DEMO_TIMEOUT=3m"}, konnect.Env()...)
	r := runDemo(t, env...)
	if r.exitCode != 1 {
		t.Fatalf("exit code %d, want 1", r.exitCode)
	}
	for _, want := range []string{"demo: FAILED:", "is VALID False: Invalid:", "docs/troubleshooting.md#invalid", "last 30 lines of the controller log"} {
		if !strings.Contains(r.output, want) {
			t.Errorf("the output does not contain %q", want)
		}
	}
	if strings.Contains(r.output, "timed out") {
		t.Errorf("the demo waited for its timeout instead of failing on the False verdict")
	}
	if strings.Contains(r.output, token) {
		t.Errorf("the demo printed the token")
	}
	assertNothingLeft(t, r)
}

// TestDemoPortInUse: a port that is taken fails at once, naming the port, before anything is
// started.
func TestDemoPortInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)

	r := runDemo(t, "DEMO_APISERVER_PORT="+port, "DEMO_EXIT_AFTER_READY=1")
	if r.exitCode != 1 {
		t.Fatalf("exit code %d, want 1", r.exitCode)
	}
	if want := "port " + port + " on 127.0.0.1 is already in use"; !strings.Contains(r.output, want) {
		t.Errorf("the output does not contain %q", want)
	}
	if r.workDir != "" || strings.Contains(r.output, "Starting") {
		t.Errorf("the demo started something before noticing the port was taken")
	}
	// "Quickly": it fails before building or starting anything, not after a start-up timeout.
	if r.duration > 30*time.Second {
		t.Errorf("the demo took %v to notice the port was taken", r.duration)
	}
}

// assertTable checks the printed `kubectl get konnectapiauthconfiguration -n kong` table: both
// examples, VALID True, with the organization and the normalised server URL.
func assertTable(t *testing.T, output, orgID, serverURL string) {
	t.Helper()
	_, table, ok := strings.Cut(output, "$ kubectl get konnectapiauthconfiguration -n kong\n")
	if !ok {
		t.Fatalf("the output has no kubectl get table")
	}
	lines := strings.Split(table, "\n")
	if got := strings.Join(strings.Fields(lines[0]), " "); got != "NAME VALID ORGID SERVERURL AGE" {
		t.Fatalf("table header = %q, want NAME VALID ORGID SERVERURL AGE", got)
	}
	rows := map[string][]string{}
	for _, line := range lines[1:] {
		if strings.TrimSpace(line) == "" {
			break
		}
		f := strings.Fields(line)
		rows[f[0]] = f
	}
	for _, name := range []string{"konnect-api-auth", "konnect-api-auth-secret-ref"} {
		row := rows[name]
		if len(row) != 5 || row[1] != "True" || row[2] != orgID || row[3] != serverURL {
			t.Errorf("table row for %s = %v, want %s True %s %s <age>", name, row, name, orgID, serverURL)
		}
	}
	if len(rows) != 2 {
		t.Errorf("table has %d rows, want the 2 examples", len(rows))
	}
}

// assertConnected checks the guide's next steps: the control plane's and the extension's
// tables, what a data plane's configuration takes from the extension, and that both were
// deleted (through the controller) before the demo stopped.
func assertConnected(t *testing.T, output, orgID string) {
	t.Helper()
	for _, c := range []struct {
		command, header, name string
		fields                func([]string) bool
	}{
		{"$ kubectl get konnectgatewaycontrolplane -n kong\n", "NAME PROGRAMMED ID ORGID AGE", "gateway-control-plane",
			func(f []string) bool { return len(f) == 5 && f[1] == "True" && len(f[2]) == 36 && f[3] == orgID }},
		{"$ kubectl get konnectextension -n kong\n", "NAME READY AGE", "my-konnect-config",
			func(f []string) bool { return len(f) == 3 && f[1] == "True" }},
	} {
		_, table, ok := strings.Cut(output, c.command)
		if !ok {
			t.Errorf("the output has no %q table", strings.TrimSpace(c.command))
			continue
		}
		lines := strings.Split(table, "\n")
		if got := strings.Join(strings.Fields(lines[0]), " "); got != c.header {
			t.Errorf("%s header = %q, want %q", strings.TrimSpace(c.command), got, c.header)
		}
		if f := strings.Fields(lines[1]); len(f) == 0 || f[0] != c.name || !c.fields(f) {
			t.Errorf("%s row = %q, want %s …", strings.TrimSpace(c.command), lines[1], c.name)
		}
	}
	for _, want := range []string{
		"\ncontrolPlane: https://",
		".cp.konghq.com\ntelemetry:    https://",
		".tp0.konghq.com\ncertificate:  Secret my-konnect-config-client-tls\n",
		"Deleting my-konnect-config and gateway-control-plane (the controller removes them from Konnect)",
		`konnectgatewaycontrolplane.konnect.konghq.com "gateway-control-plane" deleted`,
	} {
		if !strings.Contains(output, want) {
			t.Errorf("the output does not contain %q", want)
		}
	}
}

// assertUsage checks that the demo said how to use its cluster from another shell.
func assertUsage(t *testing.T, r result) {
	t.Helper()
	if r.workDir == "" {
		t.Fatalf("the output does not announce its work folder")
	}
	kubeconfig := filepath.Join(r.workDir, "kubeconfig")
	for _, want := range []string{
		"\n  export KUBECONFIG=" + kubeconfig + "\n",
		"kubectl is " + filepath.Join(repoRoot, "bin", "kubectl"),
		"Controller log: " + filepath.Join(r.workDir, "controller.log"),
	} {
		if !strings.Contains(r.output, want) {
			t.Errorf("the output does not contain %q", want)
		}
	}
}

// assertNothingLeft checks that the demo removed its work folder and left no process that
// refers to it (etcd, kube-apiserver and the controller all name it on their command line).
func assertNothingLeft(t *testing.T, r result) {
	t.Helper()
	if r.workDir == "" {
		t.Fatalf("the output does not announce its work folder")
	}
	if _, err := os.Stat(r.workDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the work folder %s is still there (stat: %v)", r.workDir, err)
	}
	if left := processesReferring(t, r.workDir); len(left) > 0 {
		t.Errorf("processes left behind:\n%s", strings.Join(left, "\n"))
	}
}

// processesReferring lists the processes whose command line contains s, as "pid: cmdline".
func processesReferring(t *testing.T, s string) []string {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Skipf("cannot list processes: %v", err)
	}
	var found []string
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !bytes.Contains(cmdline, []byte(s)) {
			continue
		}
		found = append(found, fmt.Sprintf("%d: %s", pid, bytes.ReplaceAll(cmdline, []byte{0}, []byte{' '})))
	}
	return found
}

// startProxiedKonnect starts a fake Konnect for the KONNECT_TOKEN path, standing in for the
// real one behind HTTPS_PROXY.
func startProxiedKonnect(t *testing.T) *fakekonnect.Server {
	t.Helper()
	srv, err := fakekonnect.Start(fakekonnect.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return srv
}
