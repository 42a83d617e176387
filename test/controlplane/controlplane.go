package controlplane

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Defaults for Options.
const (
	DefaultStartTimeout = 90 * time.Second
	DefaultStopTimeout  = 10 * time.Second
)

// AdminUser is the user name of the bearer token in the kubeconfig; it is in the group
// system:masters, which RBAC lets do everything.
const AdminUser = "controlplane-admin"

// Options configure Start. The zero value is ready to use.
type Options struct {
	// Dir is the work folder (etcd data, certificates, logs, kubeconfig). When empty, Start
	// creates a temporary folder and Stop removes it; a folder given here is kept.
	Dir string

	// BinDir holds etcd, kube-apiserver and kubectl. When empty, BinDir() is used
	// ($KUBE_BIN_DIR, else <repo>/bin).
	BinDir string

	// StartTimeout bounds how long Start (and StartAPIServer) wait for etcd to be healthy and
	// the apiserver's /readyz to pass; the context passed to them bounds it too.
	// Default DefaultStartTimeout.
	StartTimeout time.Duration

	// StopTimeout is how long Stop waits after SIGTERM before it sends SIGKILL.
	// Default DefaultStopTimeout.
	StopTimeout time.Duration

	// ExtraAPIServerFlags are appended to kube-apiserver's command line (a later flag wins).
	ExtraAPIServerFlags []string

	// ExtraEtcdFlags are appended to etcd's command line.
	ExtraEtcdFlags []string

	// ControllerManager also starts kube-controller-manager (bin/kube-controller-manager) with
	// the namespace and garbage-collector controllers, so that `kubectl delete namespace`
	// completes and owned objects are collected, as in a real cluster. Only tests that need
	// it turn it on (controllermanager.go).
	ControllerManager bool
}

// ControlPlane is a running etcd and kube-apiserver. Its methods are safe for concurrent use.
// Always call Stop (it is idempotent).
type ControlPlane struct {
	opts     Options
	binDir   string
	dir      string
	ownsDir  bool
	token    string
	etcdPort int
	apiPort  int

	kubeconfigPath string
	restConfig     *rest.Config

	mu        sync.Mutex // guards etcd, apiserver, controllerManager, stopped, stopErr
	etcd      *process
	apiserver *process
	// controllerManager runs only with Options.ControllerManager.
	controllerManager *process
	stopped           bool
	stopErr           error
}

// Start starts etcd and kube-apiserver on free loopback ports, waits until the apiserver's
// /readyz passes, and writes an admin kubeconfig. ctx bounds only the start-up: the processes
// run until Stop. On error nothing is left running, and the error carries the tails of the
// logs.
func Start(ctx context.Context, opts Options) (_ *ControlPlane, err error) {
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = DefaultStartTimeout
	}
	if opts.StopTimeout <= 0 {
		opts.StopTimeout = DefaultStopTimeout
	}
	binDir := opts.BinDir
	if binDir == "" {
		if binDir, err = BinDir(); err != nil {
			return nil, err
		}
	}
	if err := CheckBinaries(binDir); err != nil {
		return nil, err
	}

	cp := &ControlPlane{opts: opts, binDir: binDir, dir: opts.Dir}
	if cp.dir == "" {
		if cp.dir, err = os.MkdirTemp("", "controlplane-"); err != nil {
			return nil, fmt.Errorf("controlplane: creating work folder: %w", err)
		}
		cp.ownsDir = true
	} else if cp.dir, err = filepath.Abs(cp.dir); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = cp.Stop()
		}
	}()
	for _, d := range []string{cp.dir, cp.LogDir(), cp.certDir()} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("controlplane: creating %s: %w", d, err)
		}
	}
	if err := cp.writeCredentials(); err != nil {
		return nil, err
	}

	ctx, cancel := context.WithTimeout(ctx, opts.StartTimeout)
	defer cancel()
	if err := cp.startEtcd(ctx); err != nil {
		return nil, err
	}
	if err := cp.startAPIServerFresh(ctx); err != nil {
		return nil, err
	}
	if err := cp.writeKubeconfig(); err != nil {
		return nil, err
	}
	if opts.ControllerManager {
		if err := cp.startControllerManager(ctx); err != nil {
			return nil, err
		}
	}
	return cp, nil
}

// Dir returns the work folder.
func (cp *ControlPlane) Dir() string { return cp.dir }

// LogDir returns the folder holding etcd.log and kube-apiserver.log.
func (cp *ControlPlane) LogDir() string { return filepath.Join(cp.dir, "logs") }

// APIServerLogPath returns the path of kube-apiserver's log (all its starts, appended).
func (cp *ControlPlane) APIServerLogPath() string {
	return filepath.Join(cp.LogDir(), "kube-apiserver.log")
}

// EtcdLogPath returns the path of etcd's log.
func (cp *ControlPlane) EtcdLogPath() string { return filepath.Join(cp.LogDir(), "etcd.log") }

// KubeconfigPath returns the admin kubeconfig: server https://127.0.0.1:PORT, the serving
// certificate's CA, and the admin bearer token.
func (cp *ControlPlane) KubeconfigPath() string { return cp.kubeconfigPath }

// RESTConfig returns a copy of the admin client configuration (QPS 50, burst 100), for
// client-go clientsets. The caller may modify it.
func (cp *ControlPlane) RESTConfig() *rest.Config { return rest.CopyConfig(cp.restConfig) }

// APIServerURL returns https://127.0.0.1:PORT. The port stays the same across
// StopAPIServer/StartAPIServer.
func (cp *ControlPlane) APIServerURL() string {
	return "https://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(cp.apiPort))
}

// EtcdURL returns etcd's client URL, http://127.0.0.1:PORT.
func (cp *ControlPlane) EtcdURL() string {
	return "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(cp.etcdPort))
}

// BearerToken returns the admin token (user AdminUser, group system:masters).
func (cp *ControlPlane) BearerToken() string { return cp.token }

// KubectlPath returns the path of the kubectl binary.
func (cp *ControlPlane) KubectlPath() string { return filepath.Join(cp.binDir, KubectlBinary) }

// Kubectl runs `kubectl --kubeconfig=KubeconfigPath() args...` and returns what it printed.
// err is non-nil when kubectl could not run or exited non-zero (an *exec.ExitError, wrapped);
// stderr then usually holds the apiserver's message.
func (cp *ControlPlane) Kubectl(ctx context.Context, args ...string) (stdout, stderr string, err error) {
	return cp.KubectlInput(ctx, nil, args...)
}

// KubectlInput is Kubectl with stdin, e.g. for `kubectl apply -f -` fed a manifest as
// `echo '...' | kubectl apply -f -` would.
func (cp *ControlPlane) KubectlInput(ctx context.Context, stdin io.Reader, args ...string) (stdout, stderr string, err error) {
	full := append([]string{
		"--kubeconfig=" + cp.kubeconfigPath,
		// A private discovery cache: never the user's ~/.kube/cache.
		"--cache-dir=" + filepath.Join(cp.dir, "kubectl-cache"),
	}, args...)
	cmd := exec.CommandContext(ctx, cp.KubectlPath(), full...)
	cmd.Stdin = stdin
	cmd.Env = append(os.Environ(), "KUBECONFIG="+cp.kubeconfigPath)
	cmd.WaitDelay = 5 * time.Second
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return out.String(), errOut.String(), fmt.Errorf("kubectl %s: %w", strings.Join(args, " "), err)
	}
	return out.String(), errOut.String(), nil
}

// StopAPIServer kills kube-apiserver with SIGKILL (no graceful shutdown, as in a crash) and
// waits until it is gone; etcd keeps running. It does nothing if the apiserver is not running.
func (cp *ControlPlane) StopAPIServer() error {
	cp.mu.Lock()
	p := cp.apiserver
	cp.apiserver = nil
	cp.mu.Unlock()
	return p.stop(0)
}

// StartAPIServer starts kube-apiserver again after StopAPIServer, on the same port, with the
// same etcd data, certificates and token, so KubeconfigPath and RESTConfig stay valid. It waits
// for /readyz like Start.
func (cp *ControlPlane) StartAPIServer(ctx context.Context) error {
	cp.mu.Lock()
	running, stopped := cp.apiserver != nil && !cp.apiserver.exited(), cp.stopped
	cp.mu.Unlock()
	switch {
	case stopped:
		return errors.New("controlplane: StartAPIServer after Stop")
	case running:
		return errors.New("controlplane: kube-apiserver is already running")
	}
	ctx, cancel := context.WithTimeout(ctx, cp.opts.StartTimeout)
	defer cancel()
	return cp.launchAPIServer(ctx)
}

// Stop stops kube-apiserver and then etcd (SIGTERM to each process group, SIGKILL after
// Options.StopTimeout) and removes the work folder if Start created it. It is idempotent: later
// calls return the first call's result.
func (cp *ControlPlane) Stop() error {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	if cp.stopped {
		return cp.stopErr
	}
	cp.stopped = true
	var errs []error
	errs = append(errs, cp.controllerManager.stop(cp.opts.StopTimeout))
	errs = append(errs, cp.apiserver.stop(cp.opts.StopTimeout))
	errs = append(errs, cp.etcd.stop(cp.opts.StopTimeout))
	cp.apiserver, cp.etcd, cp.controllerManager = nil, nil, nil
	if cp.ownsDir {
		if err := os.RemoveAll(cp.dir); err != nil {
			errs = append(errs, fmt.Errorf("controlplane: removing %s: %w", cp.dir, err))
		}
	}
	cp.stopErr = errors.Join(errs...)
	return cp.stopErr
}

// isStopped reports whether Stop has been called.
func (cp *ControlPlane) isStopped() bool {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	return cp.stopped
}

func (cp *ControlPlane) certDir() string     { return filepath.Join(cp.dir, "certs") }
func (cp *ControlPlane) saKeyPath() string   { return filepath.Join(cp.dir, "service-account.key") }
func (cp *ControlPlane) tokenFile() string   { return filepath.Join(cp.dir, "tokens.csv") }
func (cp *ControlPlane) etcdDataDir() string { return filepath.Join(cp.dir, "etcd-data") }

// writeCredentials writes the service-account signing key and the static token file.
func (cp *ControlPlane) writeCredentials() error {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return fmt.Errorf("controlplane: generating service-account key: %w", err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	if err := os.WriteFile(cp.saKeyPath(), keyPEM, 0o600); err != nil {
		return fmt.Errorf("controlplane: writing service-account key: %w", err)
	}
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return err
	}
	cp.token = hex.EncodeToString(b)
	// token,user,uid,"group1,group2"
	line := fmt.Sprintf("%s,%s,%s,\"system:masters\"\n", cp.token, AdminUser, AdminUser)
	if err := os.WriteFile(cp.tokenFile(), []byte(line), 0o600); err != nil {
		return fmt.Errorf("controlplane: writing token file: %w", err)
	}
	return nil
}

// startEtcd starts etcd on fresh ports and waits until it is healthy, retrying with other
// ports if one was taken meanwhile.
func (cp *ControlPlane) startEtcd(ctx context.Context) error {
	for attempt := 1; ; attempt++ {
		ports, err := freePorts(2)
		if err != nil {
			return err
		}
		cp.etcdPort = ports[0]
		peer := "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[1]))
		args := append([]string{
			"--name=controlplane",
			"--data-dir=" + cp.etcdDataDir(),
			"--listen-client-urls=" + cp.EtcdURL(),
			"--advertise-client-urls=" + cp.EtcdURL(),
			"--listen-peer-urls=" + peer,
			"--initial-advertise-peer-urls=" + peer,
			"--initial-cluster=controlplane=" + peer,
			"--initial-cluster-state=new",
			// A throw-away cluster: durability is not worth the fsync latency.
			"--unsafe-no-fsync=true",
		}, cp.opts.ExtraEtcdFlags...)
		p, err := startProcess("etcd", filepath.Join(cp.binDir, EtcdBinary), args, cp.EtcdLogPath())
		if err != nil {
			return err
		}
		cp.mu.Lock()
		cp.etcd = p
		cp.mu.Unlock()
		err = waitReady(ctx, p, cp.EtcdURL()+"/health", nil, "")
		if err == nil {
			return nil
		}
		if attempt < 3 && p.exited() && addrInUse(p.logPath) {
			_ = p.stop(0)
			_ = os.RemoveAll(cp.etcdDataDir())
			continue
		}
		return withLogTail(fmt.Errorf("controlplane: etcd did not become healthy: %w", err), p)
	}
}

// startAPIServerFresh picks the apiserver's port and starts it, retrying with another port if
// the one picked was taken meanwhile.
func (cp *ControlPlane) startAPIServerFresh(ctx context.Context) error {
	for attempt := 1; ; attempt++ {
		ports, err := freePorts(1)
		if err != nil {
			return err
		}
		cp.apiPort = ports[0]
		err = cp.launchAPIServer(ctx)
		if err == nil {
			return nil
		}
		cp.mu.Lock()
		p := cp.apiserver
		cp.mu.Unlock()
		if attempt < 3 && p != nil && p.exited() && addrInUse(p.logPath) {
			continue
		}
		return err
	}
}

// apiServerArgs is kube-apiserver's command line.
func (cp *ControlPlane) apiServerArgs() []string {
	return append([]string{
		"--etcd-servers=" + cp.EtcdURL(),
		"--storage-backend=etcd3",
		"--cert-dir=" + cp.certDir(),
		"--secure-port=" + strconv.Itoa(cp.apiPort),
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		// No Endpoints for the kubernetes Service: the loopback address is otherwise refused.
		"--endpoint-reconciler-type=none",
		"--service-cluster-ip-range=10.0.0.0/24",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + cp.saKeyPath(),
		"--service-account-signing-key-file=" + cp.saKeyPath(),
		"--authorization-mode=RBAC",
		"--token-auth-file=" + cp.tokenFile(),
		// No controller-manager creates the "default" ServiceAccount that this plugin wants.
		"--disable-admission-plugins=ServiceAccount",
		"--profiling=false",
	}, cp.opts.ExtraAPIServerFlags...)
}

// launchAPIServer starts kube-apiserver on cp.apiPort and waits for /readyz.
func (cp *ControlPlane) launchAPIServer(ctx context.Context) error {
	p, err := startProcess("kube-apiserver", filepath.Join(cp.binDir, KubeAPIServerBinary), cp.apiServerArgs(), cp.APIServerLogPath())
	if err != nil {
		return err
	}
	cp.mu.Lock()
	if cp.stopped { // Stop raced with us: do not leave this one behind.
		cp.mu.Unlock()
		_ = p.stop(0)
		return errors.New("controlplane: stopped while starting kube-apiserver")
	}
	cp.apiserver = p
	etcd := cp.etcd
	cp.mu.Unlock()
	if err := waitReady(ctx, p, cp.APIServerURL()+"/readyz", insecureTLS(), cp.token); err != nil {
		_ = p.stop(0)
		return withLogTail(fmt.Errorf("controlplane: kube-apiserver at %s did not become ready: %w", cp.APIServerURL(), err), p, etcd)
	}
	return nil
}

// writeKubeconfig builds the REST config and kubeconfig, trusting the CA of the serving
// certificate that kube-apiserver generated in its cert dir, and checks that a request made
// that way succeeds.
func (cp *ControlPlane) writeKubeconfig() error {
	ca, err := os.ReadFile(filepath.Join(cp.certDir(), "apiserver.crt"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("controlplane: reading the serving certificate: %w", err)
	}
	cfg := &rest.Config{Host: cp.APIServerURL(), BearerToken: cp.token, QPS: 50, Burst: 100}
	cluster := &clientcmdapi.Cluster{Server: cp.APIServerURL()}
	if len(ca) > 0 {
		cfg.TLSClientConfig.CAData = ca
		cluster.CertificateAuthorityData = ca
	} else { // No CA to trust (never seen with a --cert-dir): fall back to not verifying.
		cfg.TLSClientConfig.Insecure = true
		cluster.InsecureSkipTLSVerify = true
	}
	cp.restConfig = cfg

	kc := clientcmdapi.NewConfig()
	kc.Clusters["controlplane"] = cluster
	kc.AuthInfos[AdminUser] = &clientcmdapi.AuthInfo{Token: cp.token}
	kc.Contexts["controlplane"] = &clientcmdapi.Context{Cluster: "controlplane", AuthInfo: AdminUser, Namespace: "default"}
	kc.CurrentContext = "controlplane"
	cp.kubeconfigPath = filepath.Join(cp.dir, "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, cp.kubeconfigPath); err != nil {
		return fmt.Errorf("controlplane: writing kubeconfig: %w", err)
	}

	// Prove the CA verifies the serving certificate.
	rt, err := rest.TransportFor(cfg)
	if err != nil {
		return fmt.Errorf("controlplane: building a client: %w", err)
	}
	req, _ := http.NewRequest(http.MethodGet, cp.APIServerURL()+"/version", nil)
	resp, err := (&http.Client{Transport: rt, Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return fmt.Errorf("controlplane: kube-apiserver's certificate does not verify with %s/apiserver.crt: %w", cp.certDir(), err)
	}
	resp.Body.Close()
	return nil
}

// waitReady polls url with backoff until it answers 200, p exits, or ctx ends.
func waitReady(ctx context.Context, p *process, url string, tlsConfig *tls.Config, token string) error {
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsConfig}}
	defer client.CloseIdleConnections()
	delay := 20 * time.Millisecond
	var last string
	for {
		if err := p.exitError(); err != nil {
			return err
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := client.Do(req)
		if err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Sprintf("%s answered %d: %s", url, resp.StatusCode, strings.TrimSpace(string(body)))
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w; last answer: %s", ctx.Err(), last)
		case <-p.done:
		case <-time.After(delay):
		}
		if delay = delay * 3 / 2; delay > time.Second {
			delay = time.Second
		}
	}
}

// insecureTLS is only for polling /readyz while the serving certificate is being generated;
// clients use the kubeconfig's CA.
func insecureTLS() *tls.Config { return &tls.Config{InsecureSkipVerify: true} } //nolint:gosec // loopback readiness probe

// freePorts returns n distinct loopback ports that were free a moment ago.
func freePorts(n int) ([]int, error) {
	var ports []int
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("controlplane: picking a free port: %w", err)
		}
		defer l.Close() // held until all are picked, so they differ
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// addrInUse reports whether a log says a port was already taken.
func addrInUse(logPath string) bool {
	return strings.Contains(logTail(logPath, 60), "address already in use")
}
