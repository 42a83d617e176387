// Package production_test proves that konnect-auth-controller can be run in production as the
// manifests in manifests/ install it, end to end against real parts: a real etcd and
// kube-apiserver (test/controlplane), the built controller binary run as a process
// (test/e2e/framework), a fake Konnect reached only through HTTPS_PROXY and SSL_CERT_FILE
// (test/fakekonnect), and kubectl driven as a user types it (kubectl's built-in kustomize
// included).
//
//   - manifests_test.go: `kubectl kustomize` renders both variants with the promised contents,
//     and `kubectl apply -k` is accepted by a real apiserver (also server-side, dry run), with
//     the Pod template admitted under the "restricted" Pod Security Standard.
//   - rbac_test.go: the controller runs as its ServiceAccount with only the manifests' RBAC,
//     reaches VALID True on the user guide's flow, and is refused everything else.
//   - aggregation_test.go: the user-facing ClusterRoles reach `admin` and `edit`, not `view`.
//   - ha_test.go: two replicas, one leader; SIGKILL fails over; SIGTERM releases the Lease;
//     a lost Lease ends the process with exit code 1.
//   - endpoints_test.go: /readyz is 503 until the caches sync, /healthz, and /metrics tracking
//     the fake Konnect's own request count, with no token in sight.
//
// It needs bin/etcd, bin/kube-apiserver and bin/kubectl (`make tools`); bin/kube-controller-manager
// is used when present (aggregation_test.go says what it adds).
package production_test

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"

	clientset "github.com/konnect-auth-controller/konnect-auth-controller/pkg/generated/clientset/versioned"
	"github.com/konnect-auth-controller/konnect-auth-controller/test/controlplane"
	"github.com/konnect-auth-controller/konnect-auth-controller/test/e2e/framework"
)

var (
	// cp is shared by the tests that do not install the manifests (HA, endpoints, aggregation);
	// the install tests start their own, empty control planes so that the cluster-wide RBAC of
	// one variant cannot leak into the proof of the other.
	cp       *controlplane.ControlPlane
	env      *framework.Env // the fake Konnect, the work folder, every token issued
	repoRoot string
)

const (
	// verdictTimeout bounds how long a verdict may take to show.
	verdictTimeout = 30 * time.Second
	// saNamespace and saName are the controller's ServiceAccount in the manifests.
	saNamespace = "konnect-system"
	saName      = "konnect-auth-controller"
	// leaseName is the default --leader-elect-id, which the leader-election Role names.
	leaseName = "konnect-auth-controller"
)

var suite = &framework.Suite{
	Name: "production", CP: &cp, Env: &env,
	Setup: func() (err error) { repoRoot, err = controlplane.RepoRoot(); return err },
}

func TestMain(m *testing.M) { os.Exit(suite.RunTestMain(m)) }

// ---------------------------------------------------------------------------------------
// Control planes and kubectl

// clients returns admin clients for c.
func clients(t testing.TB, c *controlplane.ControlPlane) (kubernetes.Interface, clientset.Interface) {
	t.Helper()
	kube, konnectClient, err := framework.Clients(c.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	return kube, konnectClient
}

// serviceAccountKubeconfig issues a token for the ServiceAccount ns/name with the TokenRequest
// API (`kubectl create token`), writes a kubeconfig with it, and checks with
// `kubectl auth whoami` that the apiserver sees that ServiceAccount.
func serviceAccountKubeconfig(t testing.TB, c *controlplane.ControlPlane, ns, name string) string {
	t.Helper()
	token, _ := framework.MustKubectl(t, c, "", "create", "token", name, "-n", ns, "--duration=2h")
	token = strings.TrimSpace(token)
	dir, err := os.MkdirTemp(env.WorkDir, "sa-")
	if err != nil {
		t.Fatal(err)
	}
	path, err := framework.TokenKubeconfig(c, dir, name, token)
	if err != nil {
		t.Fatal(err)
	}
	out, stderr, err := framework.KubectlWith(c, path, "auth", "whoami", "-o", "jsonpath={.status.userInfo.username}")
	want := "system:serviceaccount:" + ns + ":" + name
	if err != nil || out != want {
		t.Fatalf("kubectl auth whoami with the ServiceAccount's token = %q (%v %s), want %s", out, err, stderr, want)
	}
	return path
}

// ---------------------------------------------------------------------------------------
// Controller processes

// proc is a controller process started by a test, with its probe and metrics addresses.
type proc struct {
	*framework.Controller
	name        string
	healthAddr  string
	metricsAddr string
}

// startController starts the built controller binary for the test with kubeconfig and args
// (after which come loopback health and metrics addresses on free ports), the fake Konnect's
// environment and extraEnv. It is stopped when the test ends, and its log is then searched for
// every token the tests issued.
func startController(t *testing.T, name, kubeconfig string, extraEnv []string, args ...string) *proc {
	t.Helper()
	addrs := framework.FreeAddrs(t, 2)
	p := &proc{name: name, healthAddr: addrs[0], metricsAddr: addrs[1]}
	// Go's flag package keeps the last value of a repeated flag, so these win over any
	// address in args (such as the Deployment's :8080 and :8081).
	args = append(args, "--health-probe-bind-address="+p.healthAddr, "--metrics-bind-address="+p.metricsAddr)
	p.Controller = env.StartControllerForTest(t, name, framework.ControllerOptions{
		Kubeconfig: kubeconfig,
		Env:        append(env.Konnect.Env(), extraEnv...),
		Args:       args,
	})
	return p
}

// url returns the URL of path on the health (/healthz, /readyz) or metrics server.
func (p *proc) url(path string) string {
	if path == "/metrics" {
		return "http://" + p.metricsAddr + path
	}
	return "http://" + p.healthAddr + path
}

// get fetches one of the controller's endpoints.
func (p *proc) get(path string) (int, string, error) {
	client := &http.Client{Timeout: 3 * time.Second}
	resp, err := client.Get(p.url(path))
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

// waitServing waits until the controller answers on its health address.
func (p *proc) waitServing(t testing.TB) {
	t.Helper()
	framework.WaitFor(t, 30*time.Second, p.name+" serving "+p.healthAddr, func() (bool, string) {
		select {
		case <-p.Done():
			t.Fatalf("controller %s exited (code %d) before serving:\n%s", p.name, p.ExitCode(), framework.Tail(p.Log(), 40))
		default:
		}
		code, body, err := p.get("/healthz")
		return err == nil, fmt.Sprint(code, body, err)
	})
}

var identityRE = regexp.MustCompile(`"Started leading".*?identity="([^"]+)"`)

// leaderIdentity returns the identity a controller logged with "Started leading", or "".
func (p *proc) leaderIdentity() string {
	if m := identityRE.FindStringSubmatch(p.Log()); m != nil {
		return m[1]
	}
	return ""
}

// ---------------------------------------------------------------------------------------
// Prometheus text format

// sample is one line of the Prometheus text format.
type sample struct {
	name   string
	labels map[string]string
	value  float64
}

var (
	sampleRE = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$`)
	labelRE  = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"`)
)

// parseMetrics parses the Prometheus text exposition format (enough of it for these tests:
// comments are skipped, label values are unescaped only for \" and \\).
func parseMetrics(t testing.TB, text string) []sample {
	t.Helper()
	var samples []sample
	s := bufio.NewScanner(strings.NewReader(text))
	s.Buffer(make([]byte, 1<<20), 1<<20)
	for s.Scan() {
		line := strings.TrimSpace(s.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		m := sampleRE.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("not a Prometheus sample: %q", line)
		}
		v, err := strconv.ParseFloat(m[3], 64)
		if err != nil {
			t.Fatalf("sample %q: %v", line, err)
		}
		labels := map[string]string{}
		for _, l := range labelRE.FindAllStringSubmatch(m[2], -1) {
			labels[l[1]] = strings.NewReplacer(`\"`, `"`, `\\`, `\`).Replace(l[2])
		}
		samples = append(samples, sample{name: m[1], labels: labels, value: v})
	}
	return samples
}

// sum adds the values of the samples named name whose labels include want.
func sum(samples []sample, name string, want map[string]string) (total float64, found bool) {
	for _, s := range series(samples, name, want) {
		total += s.value
		found = true
	}
	return total, found
}

// exitedWithin waits up to d for p to exit and reports whether it did.
func exitedWithin(p *proc, d time.Duration) bool {
	select {
	case <-p.Done():
		return true
	case <-time.After(d):
		return false
	}
}

// signalAndTime sends sig and returns when it was sent.
func signalAndTime(p *proc, sig syscall.Signal) time.Time {
	now := time.Now()
	p.Signal(sig)
	return now
}
