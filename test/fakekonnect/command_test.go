package fakekonnect

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// commandPackage is the command that runs the fake as a process.
const commandPackage = "github.com/konnect-auth-controller/konnect-auth-controller/test/cmd/fakekonnect"

func TestCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the command")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go tool to build the command: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "fakekonnect")
	if out, err := exec.Command(goTool, "build", "-o", bin, commandPackage).CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	dir := t.TempDir()
	cmd := exec.Command(bin, "--dir", dir, "--tokens", tokenB+"="+orgB, "-v")
	cmd.Env = append(os.Environ(), "FAKE_KONNECT_TOKENS="+tokenA+"="+orgA)
	// Its log goes to a file, which the test may read while the command writes to it.
	stderrPath := filepath.Join(t.TempDir(), "stderr")
	stderrFile, err := os.Create(stderrPath)
	if err != nil {
		t.Fatal(err)
	}
	defer stderrFile.Close()
	cmd.Stderr = stderrFile
	stderr := func() string {
		b, _ := os.ReadFile(stderrPath)
		return string(b)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	t.Cleanup(func() {
		// Only if the test failed before stopping it: kill the one process it started.
		select {
		case <-exited:
		default:
			_ = cmd.Process.Kill()
			<-exited
		}
	})

	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		// Drain the rest, so Wait does not block on the pipe.
		for sc.Scan() {
			t.Errorf("unexpected extra stdout line %q", sc.Text())
		}
		exited <- cmd.Wait()
	}()
	var line string
	select {
	case line = <-lines:
	case <-time.After(30 * time.Second):
		t.Fatalf("no ready line within 30s; stderr:\n%s", stderr())
	}

	var info struct {
		ProxyURL string `json:"proxyURL"`
		CAFile   string `json:"caFile"`
		AdminURL string `json:"adminURL"`
	}
	dec := json.NewDecoder(strings.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&info); err != nil {
		t.Fatalf("ready line %q: %v", line, err)
	}
	if info.CAFile != filepath.Join(dir, CAFileName) || !strings.HasPrefix(info.ProxyURL, "http://127.0.0.1:") || !strings.HasPrefix(info.AdminURL, "http://127.0.0.1:") {
		t.Fatalf("ready line = %+v", info)
	}

	c := newClient(t, info.ProxyURL, info.CAFile, 10*time.Second)
	resp, body := getMe(t, c, meURL, tokenA) // from the environment
	checkOrg(t, resp, body, orgA)
	resp, body = getMe(t, c, meURL, tokenB) // from the flag
	checkOrg(t, resp, body, orgB)
	resp, body = getMe(t, c, meURL, "kpat_unknown")
	checkProblem(t, resp, body, http.StatusUnauthorized)

	// Switch it to rate limiting through the admin endpoint.
	ar, err := http.Post(info.AdminURL+"/behavior?mode=ratelimited&retryAfter=3s", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	ar.Body.Close()
	if ar.StatusCode != http.StatusNoContent {
		t.Fatalf("POST /behavior: %s", ar.Status)
	}
	resp, body = getMe(t, c, meURL, tokenA)
	checkProblem(t, resp, body, http.StatusTooManyRequests)
	if resp.Header.Get("Retry-After") != "3" {
		t.Errorf("Retry-After = %q, want 3", resp.Header.Get("Retry-After"))
	}

	report := getCallsReport(t, http.DefaultClient, info.AdminURL)
	if report.Total != 4 || report.PerToken[TokenHash(tokenA)] != 2 || report.PerToken[TokenHash(tokenB)] != 1 ||
		report.PerToken[TokenHash("kpat_unknown")] != 1 {
		t.Errorf("calls report = %+v", report)
	}

	// Control planes: seeded through the admin endpoint, served on the regional host.
	adminDo := func(method, path, body string, want int) []byte {
		t.Helper()
		req, _ := http.NewRequest(method, info.AdminURL+path, strings.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		got, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != want {
			t.Fatalf("%s %s: %s, want %d; %s", method, path, resp.Status, want, got)
		}
		return got
	}
	adminDo("POST", "/behavior?mode=normal", "", http.StatusNoContent)
	const cpID = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
	adminDo("POST", "/admin/control-planes", `{"token":"`+tokenA+`","region":"eu","id":"`+cpID+`","name":"seeded"}`, http.StatusCreated)
	resp, body = getMe(t, c, "https://eu.api.konghq.com/v2/control-planes/"+cpID, tokenA)
	if resp.StatusCode != http.StatusOK || decodeObject(t, body)["name"] != "seeded" {
		t.Errorf("GET the seeded control plane: %d %s", resp.StatusCode, body)
	}
	var reqs RequestsReport
	if err := json.Unmarshal(adminDo("GET", "/admin/requests?path=/v2/control-planes/*", "", http.StatusOK), &reqs); err != nil ||
		reqs.Count != 1 || reqs.Requests[0].Status != http.StatusOK || reqs.Requests[0].Host != "eu.api.konghq.com" {
		t.Errorf("request log = %+v (%v)", reqs, err)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		exited <- err   // for the cleanup
		if err != nil { // an *exec.ExitError for any non-zero status
			t.Fatalf("exit: %v, want status 0; stderr:\n%s", err, stderr())
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("still running 15s after SIGTERM; stderr:\n%s", stderr())
	}
	if _, err := os.Stat(info.CAFile); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ca.pem after exit: %v, want it removed", err)
	}
	logs := stderr()
	if strings.Contains(logs, tokenA) || strings.Contains(logs, tokenB) || strings.Contains(line, tokenA) {
		t.Errorf("a token was printed:\n%s", logs)
	}
	if !strings.Contains(logs, "sha256:") {
		t.Errorf("-v logged no requests:\n%s", logs)
	}
}
