package controlplane_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/konnect-auth-controller/konnect-auth-controller/test/controlplane"
)

// TestLifecycle starts a control plane with the repository's CRDs, uses it through kubectl and
// client-go, kills and restarts the apiserver on the same port and etcd data, and checks that
// Stop leaves no process and no folder behind.
func TestLifecycle(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	start := time.Now()
	cp := controlplane.StartForTest(t)
	t.Logf("control plane with CRDs ready in %v at %s (work dir %s)", time.Since(start).Round(time.Millisecond), cp.APIServerURL(), cp.Dir())

	// The kubeconfig verifies the serving certificate with a CA (no insecure-skip-tls-verify).
	kc, err := clientcmd.LoadFromFile(cp.KubeconfigPath())
	if err != nil {
		t.Fatal(err)
	}
	cluster := kc.Clusters[kc.Contexts[kc.CurrentContext].Cluster]
	if cluster.Server != cp.APIServerURL() || !strings.HasPrefix(cluster.Server, "https://127.0.0.1:") {
		t.Errorf("kubeconfig server = %q, want %s", cluster.Server, cp.APIServerURL())
	}
	if cluster.InsecureSkipTLSVerify || len(cluster.CertificateAuthorityData) == 0 {
		t.Errorf("kubeconfig does not carry a CA: insecure=%v, %d bytes of CA", cluster.InsecureSkipTLSVerify, len(cluster.CertificateAuthorityData))
	}
	if cp.RESTConfig().Insecure {
		t.Error("RESTConfig is insecure")
	}

	// kubectl sees the CRDs and the admin may do anything.
	out, stderr, err := cp.Kubectl(ctx, "api-resources", "--api-group=konnect.konghq.com", "-o", "name")
	want := "konnectapiauthconfigurations.konnect.konghq.com\nkonnectextensions.konnect.konghq.com\nkonnectgatewaycontrolplanes.konnect.konghq.com"
	if err != nil || strings.TrimSpace(out) != want {
		t.Errorf("kubectl api-resources: %q, %v: %s", out, err, stderr)
	}
	if out, stderr, err := cp.Kubectl(ctx, "auth", "can-i", "*", "*"); err != nil || strings.TrimSpace(out) != "yes" {
		t.Errorf("kubectl auth can-i '*' '*': %q, %v: %s", out, err, stderr)
	}
	whoami, stderr, err := cp.Kubectl(ctx, "auth", "whoami", "-o", "jsonpath={.status.userInfo.groups}")
	if err != nil || !strings.Contains(whoami, "system:masters") {
		t.Errorf("kubectl auth whoami groups = %q, %v: %s", whoami, err, stderr)
	}

	// client-go works, and data survives an apiserver crash and restart on the same port.
	client, err := kubernetes.NewForConfig(cp.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	ns := controlplane.NewNamespace(t, cp)
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "survivor"}, Data: map[string]string{"k": "v"}}
	if _, err := client.CoreV1().ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	url := cp.APIServerURL()
	_, oldAPIServer := cp.PIDs()
	if err := cp.StopAPIServer(); err != nil {
		t.Fatal(err)
	}
	if processAlive(oldAPIServer) {
		t.Errorf("kube-apiserver pid %d still alive after StopAPIServer", oldAPIServer)
	}
	if _, err := client.CoreV1().ConfigMaps(ns).Get(ctx, "survivor", metav1.GetOptions{}); err == nil {
		t.Error("the apiserver still answers after StopAPIServer")
	}
	restart := time.Now()
	if err := cp.StartAPIServer(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("kube-apiserver restarted in %v", time.Since(restart).Round(time.Millisecond))
	if cp.APIServerURL() != url {
		t.Errorf("restarted on %s, want %s", cp.APIServerURL(), url)
	}
	if err := cp.StartAPIServer(ctx); err == nil {
		t.Error("StartAPIServer while running: no error")
	}
	got, err := client.CoreV1().ConfigMaps(ns).Get(ctx, "survivor", metav1.GetOptions{})
	if err != nil || got.Data["k"] != "v" {
		t.Errorf("after the restart: %v, %v", got, err)
	}
	if out, stderr, err := cp.Kubectl(ctx, "get", "konnectapiauthconfigurations", "-A"); err != nil {
		t.Errorf("kubectl after the restart (same kubeconfig, same CA): %v: %s%s", err, out, stderr)
	}

	// Logs are in LogDir.
	for _, name := range []string{"etcd.log", "kube-apiserver.log"} {
		if fi, err := os.Stat(filepath.Join(cp.LogDir(), name)); err != nil || fi.Size() == 0 {
			t.Errorf("log %s: %v", name, err)
		}
	}

	// Stop kills both, removes the work dir it owns, and is idempotent.
	etcdPID, apiPID := cp.PIDs()
	dir := cp.Dir()
	if err := cp.Stop(); err != nil {
		t.Errorf("Stop: %v", err)
	}
	if err := cp.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	for _, pid := range []int{etcdPID, apiPID} {
		if processAlive(pid) {
			t.Errorf("pid %d still alive after Stop", pid)
		}
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("work dir %s not removed: %v", dir, err)
	}
	if err := cp.StartAPIServer(ctx); err == nil {
		t.Error("StartAPIServer after Stop: no error")
	}
}

// TestOwnDirKept checks that a work folder given in Options is used and kept.
func TestOwnDirKept(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cp, err := controlplane.Start(ctx, controlplane.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer cp.Stop()
	if out, stderr, err := cp.Kubectl(ctx, "get", "namespace", "default", "-o", "name"); err != nil || strings.TrimSpace(out) != "namespace/default" {
		t.Errorf("kubectl get namespace default: %q, %v: %s", out, err, stderr)
	}
	if err := cp.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "logs", "kube-apiserver.log")); err != nil {
		t.Errorf("a given work dir must be kept: %v", err)
	}
}

// TestMissingBinaries checks the message that tells how to build the binaries.
func TestMissingBinaries(t *testing.T) {
	empty := t.TempDir()
	_, err := controlplane.Start(context.Background(), controlplane.Options{BinDir: empty})
	if !controlplane.IsMissingBinaries(err) {
		t.Fatalf("Start with an empty bin dir: %v, want a missing-binaries error", err)
	}
	for _, want := range []string{"make tools", "etcd", "kube-apiserver", "kubectl", empty, controlplane.EnvBinDir} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message %q does not mention %q", err, want)
		}
	}
	t.Setenv(controlplane.EnvBinDir, empty)
	if dir, err := controlplane.BinDir(); err != nil || dir != empty {
		t.Errorf("BinDir with %s set = %q, %v", controlplane.EnvBinDir, dir, err)
	}
}

// TestRepoRoot checks that the repository is found from a package folder.
func TestRepoRoot(t *testing.T) {
	root, err := controlplane.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "manifests", "crd")); err != nil {
		t.Errorf("RepoRoot() = %s, which has no manifests/crd: %v", root, err)
	}
}

// processAlive reports whether pid exists (and is not a zombie we could still see).
func processAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	if err := syscall.Kill(pid, 0); err != nil {
		return false
	}
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	return err != nil || !strings.Contains(string(stat), ") Z ")
}

// TestStartFailureShowsLog checks that a kube-apiserver that cannot start makes Start fail
// quickly with the tail of its log, leaving nothing behind.
func TestStartFailureShowsLog(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := time.Now()
	cp, err := controlplane.Start(ctx, controlplane.Options{Dir: dir, ExtraAPIServerFlags: []string{"--no-such-flag"}})
	if err == nil {
		cp.Stop()
		t.Fatal("Start with a bad apiserver flag succeeded")
	}
	t.Logf("Start failed after %v with:\n%v", time.Since(start).Round(time.Millisecond), err)
	for _, want := range []string{"kube-apiserver", "did not become ready", "lines of kube-apiserver", "unknown flag: --no-such-flag", "lines of etcd"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not contain %q", want)
		}
	}
	if out, _ := exec.Command("pgrep", "-f", dir).Output(); len(out) > 0 {
		t.Errorf("processes left behind: %s", out)
	}
}

// TestControllerManager: with Options.ControllerManager, `kubectl delete namespace` completes
// (the namespace controller empties and finalizes it) and an object whose owner is deleted is
// collected (the garbage collector), as in a real cluster.
func TestControllerManager(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	start := time.Now()
	cp, err := controlplane.Start(ctx, controlplane.Options{ControllerManager: true})
	if err != nil {
		t.Fatal(err)
	}
	defer cp.Stop()
	t.Logf("control plane with kube-controller-manager ready in %v", time.Since(start).Round(time.Millisecond))

	kubectl := func(args ...string) string {
		t.Helper()
		out, stderr, err := cp.Kubectl(ctx, args...)
		if err != nil {
			t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, stderr)
		}
		return out
	}
	kubectl("create", "namespace", "doomed")
	kubectl("create", "configmap", "owner", "-n", "doomed")
	uid := kubectl("get", "configmap", "owner", "-n", "doomed", "-o", "jsonpath={.metadata.uid}")
	owned := `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"owned","namespace":"doomed","ownerReferences":[{"apiVersion":"v1","kind":"ConfigMap","name":"owner","uid":"` + uid + `"}]}}`
	if _, stderr, err := cp.KubectlInput(ctx, strings.NewReader(owned), "apply", "-f", "-"); err != nil {
		t.Fatalf("creating the owned ConfigMap: %v %s", err, stderr)
	}
	kubectl("delete", "configmap", "owner", "-n", "doomed")
	waitGone := func(args ...string) {
		t.Helper()
		for {
			_, stderr, err := cp.Kubectl(ctx, args...)
			if err != nil && strings.Contains(stderr, "NotFound") {
				return
			}
			select {
			case <-ctx.Done():
				t.Fatalf("kubectl %s still finds it: %s", strings.Join(args, " "), stderr)
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
	waitGone("get", "configmap", "owned", "-n", "doomed")
	kubectl("delete", "namespace", "doomed", "--timeout=60s")
	waitGone("get", "namespace", "doomed")

	_, apiserver := cp.PIDs()
	if err := cp.Stop(); err != nil {
		t.Fatal(err)
	}
	if processAlive(apiserver) {
		t.Errorf("kube-apiserver still alive after Stop")
	}
}
