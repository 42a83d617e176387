package controlplane

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/kubernetes"
)

// startWithCRDsTimeout bounds StartWithCRDs, StartForTest, StartEmptyForTest and RunTestMain.
const startWithCRDsTimeout = 3 * time.Minute

// StartWithCRDs starts a control plane with opts and installs the repository's CRDs
// (<repo>/manifests/crd). On error nothing is left running.
func StartWithCRDs(ctx context.Context, opts Options) (*ControlPlane, error) {
	crdDir, err := CRDDir()
	if err != nil {
		return nil, err
	}
	cp, err := Start(ctx, opts)
	if err != nil {
		return nil, err
	}
	if err := cp.InstallCRDs(ctx, crdDir); err != nil {
		_ = cp.Stop()
		return nil, err
	}
	return cp, nil
}

// StartForTest starts a control plane with the repository's CRDs installed for one test (or
// benchmark) and stops it when the test ends. It fails the test, with a message that names
// `make tools`, if the binaries are missing. Tests in one package should rather share one
// control plane through RunTestMain.
func StartForTest(t testing.TB) *ControlPlane {
	t.Helper()
	return startForTest(t, func(ctx context.Context) (*ControlPlane, error) { return StartWithCRDs(ctx, Options{}) })
}

// StartEmptyForTest is StartForTest with opts and without the CRDs, as a fresh cluster is
// before anything is installed.
func StartEmptyForTest(t testing.TB, opts Options) *ControlPlane {
	t.Helper()
	return startForTest(t, func(ctx context.Context) (*ControlPlane, error) { return Start(ctx, opts) })
}

func startForTest(t testing.TB, start func(context.Context) (*ControlPlane, error)) *ControlPlane {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), startWithCRDsTimeout)
	defer cancel()
	cp, err := start(ctx)
	if err != nil {
		t.Fatalf("starting the control plane: %v", err)
	}
	t.Cleanup(func() {
		if err := cp.Stop(); err != nil {
			t.Errorf("stopping the control plane: %v", err)
		}
	})
	return cp
}

// RunTestMain is the body of a TestMain that shares one control plane (with the repository's
// CRDs) among all the tests of a package:
//
//	var cp *controlplane.ControlPlane
//
//	func TestMain(m *testing.M) { os.Exit(controlplane.RunTestMain(m, &cp)) }
//
// It starts the control plane, stores it in *cp, runs the tests, stops it and returns the exit
// code. If the control plane cannot start it prints why (naming `make tools` when the binaries
// are missing) and returns 1 without running any test. Each test should then work in its own
// namespace (NewNamespace).
//
// setup, if given, runs once the control plane is up and before the tests (an error skips
// the tests and fails the run); teardown runs after the tests, before the control plane
// stops, and an error it returns fails the run.
func RunTestMain(m *testing.M, cp **ControlPlane, hooks ...func() error) int {
	return RunTestMainWithOptions(m, cp, Options{}, hooks...)
}

// RunTestMainWithOptions is RunTestMain with a control plane started with opts, e.g.
// Options{ControllerManager: true} for tests that delete namespaces.
func RunTestMainWithOptions(m *testing.M, cp **ControlPlane, opts Options, hooks ...func() error) int {
	ctx, cancel := context.WithTimeout(context.Background(), startWithCRDsTimeout)
	started, err := StartWithCRDs(ctx, opts)
	cancel()
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: starting the control plane: %v\n", err)
		return 1
	}
	*cp = started

	// Ctrl-C (or a SIGTERM) would kill the test binary and, through Pdeathsig, the control
	// plane, but leave its work folder behind: stop it properly instead.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	go func() {
		if s, ok := <-sigs; ok {
			fmt.Fprintf(os.Stderr, "controlplane: %v: stopping the control plane\n", s)
			_ = started.Stop()
			os.Exit(1)
		}
	}()

	code := 0
	var setup, teardown func() error
	if len(hooks) > 0 {
		setup = hooks[0]
	}
	if len(hooks) > 1 {
		teardown = hooks[1]
	}
	if setup != nil {
		if err := setup(); err != nil {
			fmt.Fprintf(os.Stderr, "FAIL: setting up the tests: %v\n", err)
			code = 1
		}
	}
	if code == 0 {
		code = m.Run()
	}
	if teardown != nil {
		if err := teardown(); err != nil {
			fmt.Fprintf(os.Stderr, "FAIL: %v\n", err)
			code = 1
		}
	}
	if err := started.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "stopping the control plane: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

var notDNSLabel = regexp.MustCompile(`[^a-z0-9-]+`)

// NewNamespace creates a namespace named after the test (lower-cased, shortened, with a random
// suffix) and deletes it when the test ends. Without a controller-manager the deleted
// namespace stays Terminating with its objects, which is harmless in a throw-away cluster.
func NewNamespace(t testing.TB, cp *ControlPlane) string {
	t.Helper()
	name := strings.Trim(notDNSLabel.ReplaceAllString(strings.ToLower(t.Name()), "-"), "-")
	if len(name) > 50 {
		name = strings.TrimRight(name[:50], "-")
	}
	name = strings.TrimLeft(name+"-"+utilrand.String(6), "-")
	client, err := kubernetes.NewForConfig(cp.RESTConfig())
	if err != nil {
		t.Fatalf("creating a client: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if _, err := client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating namespace %s: %v", name, err)
	}
	t.Cleanup(func() {
		if cp.isStopped() {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := client.CoreV1().Namespaces().Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
			t.Logf("deleting namespace %s: %v", name, err)
		}
	})
	return name
}
