package framework

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	clientset "github.com/konnect-auth-controller/konnect-auth-controller/pkg/generated/clientset/versioned"

	"github.com/konnect-auth-controller/konnect-auth-controller/test/fakekonnect"
)

// Env is what the tests of one end-to-end package share beside their control plane: a work
// folder, a fake Konnect in it, the built controller binary, and every token the tests
// issued, to search logs and metrics for.
type Env struct {
	// WorkDir holds the fake Konnect's files and whatever the tests put there (logs).
	WorkDir string
	// Konnect is the fake Konnect; ControllerOptions.Env takes its Env().
	Konnect *fakekonnect.Server
	// OrgID is the organization NewToken registers tokens for.
	OrgID string

	mu     sync.Mutex
	issued []string
}

// newEnv makes a work folder named after prefix, starts a fake Konnect in it that reports orgID
// for the tokens NewToken issues, and builds the controller binary now, so that a compile error
// fails fast and no test's timing includes the build. Suite.RunTestMain calls it.
func newEnv(prefix, orgID string) (*Env, error) {
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		return nil, err
	}
	e := &Env{WorkDir: dir, OrgID: orgID}
	if e.Konnect, err = fakekonnect.Start(fakekonnect.Options{Dir: dir}); err != nil {
		return e, err
	}
	_, err = ControllerBinary()
	return e, err
}

// teardown closes the fake Konnect and removes the binary ControllerBinary built and, unless
// keepWorkDir (to look at the logs of a failed run), the work folder. It may be called on
// the partial Env of a failed newEnv, and on a nil one.
func (e *Env) teardown(keepWorkDir bool) error {
	defer CleanupBinary()
	if e == nil {
		return nil
	}
	if e.Konnect != nil {
		e.Konnect.Close()
	}
	if keepWorkDir {
		return nil
	}
	return os.RemoveAll(e.WorkDir)
}

// NewToken returns a fresh personal access token that the fake Konnect accepts for OrgID, and
// remembers it for IssuedTokens.
func (e *Env) NewToken(t testing.TB) string {
	t.Helper()
	return e.NewTokenFor(t, e.OrgID)
}

// NewTokenFor is NewToken for the organization orgID (a test that wants a Konnect
// organization of its own).
func (e *Env) NewTokenFor(t testing.TB, orgID string) string {
	t.Helper()
	token := e.UnregisteredToken()
	e.Konnect.AddToken(token, orgID)
	return token
}

// UnregisteredToken returns a fresh, well-formed token that the fake Konnect refuses (401), and
// remembers it for IssuedTokens: a refused token must not leak either.
func (e *Env) UnregisteredToken() string {
	token := RandomToken()
	e.mu.Lock()
	e.issued = append(e.issued, token)
	e.mu.Unlock()
	return token
}

// IssuedTokens returns a copy of every token NewToken, NewTokenFor and UnregisteredToken
// issued so far.
func (e *Env) IssuedTokens() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.issued...)
}

// StartControllerForTest starts a controller with opts for the test t and stops it when t
// ends (SIGTERM, then SIGKILL after 30s). Its log must then hold none of the tokens e issued,
// and if t failed its last lines are shown. With opts.LogPath "" the log goes to t's temporary
// folder, named after name.
func (e *Env) StartControllerForTest(t testing.TB, name string, opts ControllerOptions) *Controller {
	t.Helper()
	if opts.LogPath == "" {
		opts.LogPath = filepath.Join(t.TempDir(), name+".log")
	}
	c, err := StartController(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("started controller %s (pid %d): %s", name, c.Pid(), strings.Join(opts.Args, " "))
	t.Cleanup(func() {
		_ = c.Stop(controllerStopGrace)
		log := c.Log()
		if found := ContainsAny([]byte(log), e.IssuedTokens()...); len(found) > 0 {
			t.Errorf("controller %s's log contains tokens: %v", name, found)
		}
		if t.Failed() {
			t.Logf("controller %s log (%s), last lines:\n%s", name, opts.LogPath, Tail(log, 60))
		}
	})
	return c
}

// Clients returns a Kubernetes client and a client for KonnectAPIAuthConfigurations, both made
// from cfg.
func Clients(cfg *rest.Config) (kubernetes.Interface, clientset.Interface, error) {
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, nil, err
	}
	client, err := clientset.NewForConfig(cfg)
	if err != nil {
		return nil, nil, err
	}
	return kube, client, nil
}
