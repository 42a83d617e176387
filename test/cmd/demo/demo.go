package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/tools/clientcmd"

	clientset "github.com/konnect-auth-controller/konnect-auth-controller/pkg/generated/clientset/versioned"
	"github.com/konnect-auth-controller/konnect-auth-controller/test/controlplane"
	"github.com/konnect-auth-controller/konnect-auth-controller/test/e2e/framework"
	"github.com/konnect-auth-controller/konnect-auth-controller/test/fakekonnect"
)

const (
	// namespace is where the user guide's examples live.
	namespace = "kong"
	// tokenPlaceholder stands for the token in manifests/examples/.
	tokenPlaceholder = "kpat_REPLACE_WITH_YOUR_TOKEN"
	// guideServerURL is the serverURL the examples carry, replaced by KONNECT_SERVER_URL.
	guideServerURL = "serverURL: us.api.konghq.com"
	// demoOrgID is the organization the fake Konnect reports: the one in the user guide.
	demoOrgID = "5ca26716-02f7-4430-9117-1d1a7a2695e7"
	// controllerStopGrace is how long the controller gets to exit after SIGTERM.
	controllerStopGrace = 15 * time.Second
	// settleFalse is how long a False verdict must last before the demo gives up on it: a
	// configuration seen before its Secret reaches the controller's cache is briefly
	// SecretNotFound.
	settleFalse = 5 * time.Second
	// logTailLines is how much of the controller's log a failure shows.
	logTailLines = 30
)

// demo is one run: what it started, so that cleanup can stop exactly that.
type demo struct {
	opts options
	out  io.Writer

	repoRoot   string
	binDir     string
	workDir    string
	kubeconfig string
	apiURL     string

	forward    *forwarder
	cp         *controlplane.ControlPlane
	konnect    *fakekonnect.Server
	controller *framework.Controller
	client     clientset.Interface

	// configs are the KonnectAPIAuthConfigurations the examples create.
	configs []string
	// connected: the control plane and extension of manifests/examples/connect/ were applied
	// (connect.go), so cleanup deletes them while the controller still runs.
	connected bool
}

// say prints a progress line.
func (d *demo) say(format string, args ...any) {
	fmt.Fprintf(d.out, "==> "+format+"\n", args...)
}

// detail prints an indented line under the last progress line.
func (d *demo) detail(format string, args ...any) {
	fmt.Fprintf(d.out, "    "+format+"\n", args...)
}

// run starts everything, waits until the examples are valid, prints how to use the cluster and
// then waits for a signal (or returns at once with exitAfterReady). Whatever happens, it stops
// every process it started and removes its files before it returns.
func (d *demo) run(ctx context.Context) (err error) {
	defer func() {
		if cerr := d.cleanup(); cerr != nil {
			err = errors.Join(err, cerr)
		}
	}()
	for _, step := range []func(context.Context) error{
		d.prepare, d.start, d.waitValid, d.printValid, d.connectDataPlane, d.printConnected, d.printReady,
	} {
		if err := step(ctx); err != nil {
			return d.interrupted(ctx, err)
		}
	}
	if d.opts.exitAfterReady {
		d.say("%s is set: stopping now", envExitAfterReady)
		return nil
	}

	select {
	case <-ctx.Done():
		fmt.Fprintln(d.out)
		d.say("Signal received")
		return nil
	case <-d.controller.Done():
		return fmt.Errorf("the controller exited unexpectedly (exit code %d)%s", d.controller.ExitCode(), d.controllerLogTail())
	}
}

// interrupted turns the error of a step cut short by a signal into errInterrupted.
func (d *demo) interrupted(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return errInterrupted
	}
	return err
}

// prepare checks what can be checked before anything starts (the port, the binaries) and
// creates the work folder.
func (d *demo) prepare(ctx context.Context) error {
	// The port first: it is the likeliest mistake, and it must fail before anything starts.
	if d.opts.port != 0 {
		f, err := listenForward(d.opts.port)
		if err != nil {
			return err
		}
		d.forward = f
	}

	root, err := controlplane.RepoRoot()
	if err != nil {
		return err
	}
	d.repoRoot = root
	if d.binDir, err = controlplane.BinDir(); err != nil {
		return err
	}
	if err := controlplane.CheckBinaries(d.binDir); err != nil {
		return err
	}

	if bin := os.Getenv("KONNECT_AUTH_CONTROLLER_BIN"); bin != "" {
		if fi, err := os.Stat(bin); err != nil || fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
			return fmt.Errorf("KONNECT_AUTH_CONTROLLER_BIN=%s is not an executable file: run `make build` (or unset it to build the controller here)", bin)
		}
	} else {
		d.say("Building the controller (go build ./cmd/controller) ...")
		start := time.Now()
		if _, err := framework.ControllerBinary(); err != nil {
			return err
		}
		d.detail("built in %s", since(start))
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}

	if d.workDir, err = os.MkdirTemp("", "konnect-auth-demo-"); err != nil {
		return fmt.Errorf("creating the work folder: %w", err)
	}
	d.say("Work folder: %s (removed when the demo stops)", d.workDir)
	return nil
}

// start brings up the control plane, Konnect (fake or real), the controller and the examples.
func (d *demo) start(ctx context.Context) error {
	d.say("Starting etcd and kube-apiserver on 127.0.0.1 ...")
	start := time.Now()
	cp, err := controlplane.Start(ctx, controlplane.Options{Dir: filepath.Join(d.workDir, "controlplane"), BinDir: d.binDir})
	if err != nil {
		return err
	}
	d.cp = cp
	d.apiURL = cp.APIServerURL()
	if d.forward != nil {
		d.forward.start(strings.TrimPrefix(cp.APIServerURL(), "https://"))
		d.apiURL = "https://" + d.forward.addr()
		d.detail("kube-apiserver ready in %s; serving it on %s (forwarded to its own port %s)",
			since(start), d.apiURL, strings.TrimPrefix(cp.APIServerURL(), "https://127.0.0.1:"))
	} else {
		d.detail("kube-apiserver ready at %s in %s", d.apiURL, since(start))
	}
	if err := d.writeKubeconfig(); err != nil {
		return err
	}

	crdDir := filepath.Join(d.repoRoot, "manifests", "crd")
	d.say("Installing the CRDs from manifests/crd/ ...")
	if err := cp.InstallCRDs(ctx, crdDir); err != nil {
		return err
	}

	env, err := d.startKonnect()
	if err != nil {
		return err
	}
	if err := d.startController(env); err != nil {
		return err
	}

	d.say("Creating namespace %s", namespace)
	if err := d.kubectl(ctx, nil, "create", "namespace", namespace); err != nil {
		return err
	}
	return d.applyExamples(ctx)
}

// writeKubeconfig writes <work>/kubeconfig: the control plane's admin kubeconfig, pointed at
// the forwarded port when one was asked for. Everything the demo runs uses it, as the user will.
func (d *demo) writeKubeconfig() error {
	cfg, err := clientcmd.LoadFromFile(d.cp.KubeconfigPath())
	if err != nil {
		return fmt.Errorf("reading the control plane's kubeconfig: %w", err)
	}
	for _, cluster := range cfg.Clusters {
		cluster.Server = d.apiURL
	}
	for _, c := range cfg.Contexts {
		c.Namespace = namespace
	}
	d.kubeconfig = filepath.Join(d.workDir, "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, d.kubeconfig); err != nil {
		return fmt.Errorf("writing %s: %w", d.kubeconfig, err)
	}
	restConfig, err := clientcmd.BuildConfigFromFlags("", d.kubeconfig)
	if err != nil {
		return err
	}
	d.client, err = clientset.NewForConfig(restConfig)
	return err
}

// startKonnect starts the local fake Konnect unless a real token was given, and returns the
// environment that routes the controller to it.
func (d *demo) startKonnect() ([]string, error) {
	if d.opts.token != "" {
		d.say("%s is set: the controller validates it with the REAL Konnect (serverURL %s)", envToken, d.opts.serverURL)
		d.detail("Kong's SDK sends the check, GET /v3/organizations/me, to https://global.api.konghq.com")
		if firstEnv("HTTPS_PROXY", "https_proxy") != "" {
			// Not its value: a proxy URL may hold a password.
			d.detail("through the proxy named by HTTPS_PROXY (the controller honours HTTPS_PROXY and NO_PROXY)")
		}
		d.detail("the token is substituted into the examples; it is never printed")
		return nil, nil
	}

	token, err := demoToken()
	if err != nil {
		return nil, err
	}
	d.opts.token = token
	srv, err := fakekonnect.Start(fakekonnect.Options{
		Dir:    filepath.Join(d.workDir, "fakekonnect"),
		Tokens: map[string]string{token: demoOrgID},
	})
	if err != nil {
		return nil, fmt.Errorf("starting the local fake Konnect: %w", err)
	}
	d.konnect = srv
	d.say("No %s set: using a LOCAL FAKE Konnect (nothing is sent to Kong; set %s to use the real one)", envToken, envToken)
	d.detail("it serves https://*.api.konghq.com with a throwaway CA, behind a CONNECT proxy on loopback;")
	d.detail("the controller reaches it as it would reach Konnect through a corporate proxy:")
	d.detail("HTTPS_PROXY=%s SSL_CERT_FILE=%s", srv.ProxyURL(), srv.CAFile())
	d.detail("a random demo token is registered there for organization %s", demoOrgID)
	return srv.Env(), nil
}

// startController starts the controller binary with -v=2 and, if the binary has them, its
// health and metrics servers on free loopback ports and leader election off.
func (d *demo) startController(env []string) error {
	bin, err := framework.ControllerBinary()
	if err != nil {
		return err
	}
	args := []string{"-v=2"}
	var endpoints []string
	flags := controllerFlags(bin)
	if flags["leader-elect"] {
		// One replica, and no Lease namespace to create.
		args = append(args, "--leader-elect=false")
	}
	for _, f := range []struct{ flag, path string }{
		{"health-probe-bind-address", "/readyz"},
		{"metrics-bind-address", "/metrics"},
	} {
		if !flags[f.flag] {
			continue
		}
		// Never the defaults (:8080, :8081): they may be taken, or reachable from other machines.
		port, err := framework.FreePort()
		if err != nil {
			return err
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		args = append(args, "--"+f.flag+"="+addr)
		endpoints = append(endpoints, "http://"+addr+f.path)
	}

	logPath := filepath.Join(d.workDir, "controller.log")
	d.say("Starting the controller: %s %s", relPath(d.repoRoot, bin), strings.Join(args, " "))
	d.detail("log: %s", logPath)
	if len(endpoints) > 0 {
		d.detail("health and metrics: %s", strings.Join(endpoints, " "))
	}
	d.controller, err = framework.StartController(framework.ControllerOptions{
		Kubeconfig: d.kubeconfig,
		Env:        env,
		Args:       args,
		LogPath:    logPath,
	})
	return err
}

// applyExamples applies every manifest in manifests/examples/ with the token and server URL
// substituted, as `kubectl apply -f -`, and records the configurations they create.
func (d *demo) applyExamples(ctx context.Context) error {
	dir := filepath.Join(d.repoRoot, "manifests", "examples")
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return err
	}
	sort.Strings(files)
	if len(files) == 0 {
		return fmt.Errorf("no examples in %s", dir)
	}
	d.say("Applying the user guide's examples from manifests/examples/ (token placeholder replaced)")
	for _, file := range files {
		raw, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		if !bytes.Contains(raw, []byte(tokenPlaceholder)) {
			return fmt.Errorf("%s does not contain the token placeholder %s", file, tokenPlaceholder)
		}
		manifest := strings.ReplaceAll(string(raw), tokenPlaceholder, d.opts.token)
		manifest = strings.ReplaceAll(manifest, guideServerURL, "serverURL: "+d.opts.serverURL)
		names, err := configNames(manifest)
		if err != nil {
			return fmt.Errorf("reading %s: %w", file, err)
		}
		d.configs = append(d.configs, names...)
		// Server-side apply: client-side apply would keep a copy of the token in the
		// last-applied-configuration annotation (docs/security.md).
		d.detail("$ kubectl apply --server-side -f %s", relPath(d.repoRoot, file))
		if err := d.kubectl(ctx, strings.NewReader(manifest), "apply", "--server-side", "-f", "-"); err != nil {
			return err
		}
	}
	if len(d.configs) == 0 {
		return fmt.Errorf("the examples in %s create no KonnectAPIAuthConfiguration", dir)
	}
	return nil
}

// configNames returns the names of the KonnectAPIAuthConfigurations in a manifest.
func configNames(manifest string) ([]string, error) {
	var names []string
	dec := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(manifest), 4096)
	for {
		var obj unstructured.Unstructured
		err := dec.Decode(&obj.Object)
		if errors.Is(err, io.EOF) {
			return names, nil
		}
		if err != nil {
			return nil, err
		}
		if obj.GetKind() == "KonnectAPIAuthConfiguration" {
			names = append(names, obj.GetName())
		}
	}
}

// waitValid waits until every example configuration is VALID True. A False verdict that lasts
// (it will not change by itself) fails at once, and so does the controller exiting.
func (d *demo) waitValid(ctx context.Context) error {
	d.say("Waiting up to %s for %s to be VALID True ...", d.opts.timeout, strings.Join(d.configs, " and "))
	waitCtx, cancel := context.WithTimeout(ctx, d.opts.timeout)
	defer cancel()
	seen := map[string]string{}
	falseSince := map[string]time.Time{}
	for {
		valid := 0
		var pending []string
		for _, name := range d.configs {
			state, cond := d.state(waitCtx, name)
			if cond == nil || cond.Status != metav1.ConditionFalse {
				delete(falseSince, name)
			} else if _, ok := falseSince[name]; !ok {
				falseSince[name] = time.Now()
			}
			if state != seen[name] {
				seen[name] = state
				d.detail("%s: %s", name, state)
			}
			switch {
			case cond != nil && cond.Status == metav1.ConditionTrue:
				valid++
			case cond != nil && cond.Status == metav1.ConditionFalse && time.Since(falseSince[name]) >= settleFalse:
				return fmt.Errorf("%s/%s is VALID False: %s: %s\n    see docs/troubleshooting.md#%s%s",
					namespace, name, cond.Reason, cond.Message, strings.ToLower(cond.Reason), d.controllerLogTail())
			default:
				pending = append(pending, name+": "+state)
			}
		}
		if valid == len(d.configs) {
			return nil
		}
		select {
		case <-waitCtx.Done():
			if ctx.Err() == nil { // the timeout, not a signal
				hint := "\n    see docs/troubleshooting.md"
				if d.konnect == nil {
					hint += "; is Konnect reachable from here? Behind a proxy, set HTTPS_PROXY (and SSL_CERT_FILE if it inspects TLS)"
				}
				return fmt.Errorf("timed out after %s waiting for VALID True:\n    %s%s%s",
					d.opts.timeout, strings.Join(pending, "\n    "), hint, d.controllerLogTail())
			}
			return ctx.Err()
		case <-d.controller.Done():
			return fmt.Errorf("the controller exited (exit code %d) before the examples were valid%s",
				d.controller.ExitCode(), d.controllerLogTail())
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// state describes a configuration's APIAuthValid condition in a few words.
func (d *demo) state(ctx context.Context, name string) (string, *metav1.Condition) {
	reqCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cfg, err := d.client.KonnectV1alpha1().KonnectAPIAuthConfigurations(namespace).Get(reqCtx, name, metav1.GetOptions{})
	if err != nil {
		return "not readable yet: " + err.Error(), nil
	}
	cond := framework.APIAuthValid(cfg)
	if cond == nil {
		return "waiting for the controller's verdict", nil
	}
	return fmt.Sprintf("VALID %s (%s: %s)", cond.Status, cond.Reason, cond.Message), cond
}

// controllerLogTail is the end of the controller's log, for failure messages.
func (d *demo) controllerLogTail() string {
	if d.controller == nil {
		return ""
	}
	// Not the log's path: the work folder is removed before the demo exits.
	return fmt.Sprintf("\n---- last %d lines of the controller log ----\n%s",
		logTailLines, framework.Tail(d.controller.Log(), logTailLines))
}

// printValid prints the configurations' table.
func (d *demo) printValid(ctx context.Context) error {
	fmt.Fprintln(d.out)
	d.say("Both examples are VALID True:")
	fmt.Fprintln(d.out)
	fmt.Fprintf(d.out, "$ kubectl get konnectapiauthconfiguration -n %s\n", namespace)
	out, err := d.kubectlOutput(ctx, "get", "konnectapiauthconfiguration", "-n", namespace)
	if err != nil {
		return err
	}
	fmt.Fprint(d.out, out)
	fmt.Fprintln(d.out)
	return nil
}

// printReady prints how to use the running demo.
func (d *demo) printReady(context.Context) error {
	konnect := "the real Konnect"
	if d.konnect != nil {
		konnect = "a local fake Konnect"
	}
	kubectlPath := filepath.Join(d.binDir, controlplane.KubectlBinary)
	fmt.Fprintf(d.out, "The demo cluster is running (controller -v=2, %s). To use it from another shell:\n\n", konnect)
	fmt.Fprintf(d.out, "  export KUBECONFIG=%s\n", d.kubeconfig)
	fmt.Fprintf(d.out, "  export PATH=%s:$PATH   # kubectl is %s\n", d.binDir, kubectlPath)
	fmt.Fprintf(d.out, "  kubectl get konnectapiauthconfiguration -n %s -w\n", namespace)
	fmt.Fprintf(d.out, "  kubectl describe konnectapiauthconfiguration konnect-api-auth -n %s\n", namespace)
	fmt.Fprintf(d.out, "  # put a bad token in the Secret: the configuration that uses it turns False (Invalid) within seconds\n")
	fmt.Fprintf(d.out, "  kubectl patch secret konnect-api-auth-secret -n %s -p '{\"stringData\":{\"token\":\"kpat_not_a_real_token\"}}'\n", namespace)
	fmt.Fprintf(d.out, "  kubectl get konnectgatewaycontrolplane,konnectextension -n %s\n", namespace)
	fmt.Fprintf(d.out, "  kubectl describe konnectextension %s -n %s\n\n", extensionName, namespace)
	fmt.Fprintf(d.out, "Controller log: %s\n", d.controller.LogPath())
	fmt.Fprintf(d.out, "kube-apiserver and etcd logs: %s\n", d.cp.LogDir())
	if !d.opts.exitAfterReady {
		fmt.Fprintf(d.out, "\nPress Ctrl-C to stop everything and remove %s\n", d.workDir)
	}
	return nil
}

// cleanup stops, in reverse order, everything run started, and removes the work folder.
func (d *demo) cleanup() error {
	// The binary framework.ControllerBinary built, if it built one (nothing to say about it).
	defer framework.CleanupBinary()
	if d.workDir == "" && d.forward == nil {
		return nil // nothing was started
	}
	// First, while the controller still runs: what the demo made in Konnect.
	var errs []error
	if err := d.disconnect(); err != nil {
		errs = append(errs, err)
	}
	var started []string
	if d.controller != nil {
		started = append(started, "the controller")
	}
	if d.konnect != nil {
		started = append(started, "the fake Konnect")
	}
	if d.cp != nil {
		started = append(started, "kube-apiserver", "etcd")
	}
	if n := len(started); n > 1 {
		d.say("Stopping %s and %s ...", strings.Join(started[:n-1], ", "), started[n-1])
	} else if n == 1 {
		d.say("Stopping %s ...", started[0])
	} else {
		d.say("Cleaning up ...")
	}
	if d.controller != nil {
		if err := d.controller.Stop(controllerStopGrace); err != nil {
			var exit *exec.ExitError
			// Exiting on SIGTERM without a clean status is not worth failing the demo for.
			if !errors.As(err, &exit) {
				errs = append(errs, fmt.Errorf("stopping the controller: %w", err))
			}
		}
	}
	if d.konnect != nil {
		d.konnect.Close()
	}
	if d.cp != nil {
		if err := d.cp.Stop(); err != nil {
			errs = append(errs, err)
		}
	}
	if d.forward != nil {
		d.forward.close()
	}
	if d.workDir != "" {
		if err := os.RemoveAll(d.workDir); err != nil {
			errs = append(errs, fmt.Errorf("removing %s: %w", d.workDir, err))
		} else {
			d.detail("removed %s", d.workDir)
		}
	}
	if len(errs) == 0 {
		d.say("Stopped; nothing is left running")
	}
	return errors.Join(errs...)
}

// kubectl runs kubectl with the demo's kubeconfig, printing its output indented.
func (d *demo) kubectl(ctx context.Context, stdin io.Reader, args ...string) error {
	out, err := d.runKubectl(ctx, stdin, args...)
	for _, line := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		if line != "" {
			d.detail("%s", line)
		}
	}
	return err
}

// kubectlOutput runs kubectl and returns its standard output.
func (d *demo) kubectlOutput(ctx context.Context, args ...string) (string, error) {
	return d.runKubectl(ctx, nil, args...)
}

func (d *demo) runKubectl(ctx context.Context, stdin io.Reader, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	full := append([]string{"--kubeconfig=" + d.kubeconfig, "--cache-dir=" + filepath.Join(d.workDir, "kubectl-cache")}, args...)
	cmd := exec.CommandContext(ctx, filepath.Join(d.binDir, controlplane.KubectlBinary), full...)
	cmd.Stdin = stdin
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("kubectl %s: %w\n%s", strings.Join(args, " "), err,
			strings.TrimSpace(stdout.String()+stderr.String()))
	}
	return stdout.String(), nil
}

// controllerFlags returns the names of the flags the controller binary accepts, from its
// -help output, so that the demo passes the newer ones only to binaries that have them.
func controllerFlags(bin string) map[string]bool {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, _ := exec.CommandContext(ctx, bin, "-help").CombinedOutput() // exits 0 or 2
	flags := map[string]bool{}
	for _, line := range strings.Split(string(out), "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "-") {
			continue
		}
		name := strings.TrimLeft(strings.Fields(line)[0], "-")
		name, _, _ = strings.Cut(name, "=")
		flags[name] = true
	}
	return flags
}

// demoToken returns a fresh personal access token for the fake Konnect.
func demoToken() (string, error) {
	b := make([]byte, 20)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return "kpat_demo" + hex.EncodeToString(b), nil
}

// isAddrInUse reports whether err is EADDRINUSE.
func isAddrInUse(err error) bool { return errors.Is(err, syscall.EADDRINUSE) }

func firstEnv(names ...string) string {
	for _, n := range names {
		if v := os.Getenv(n); v != "" {
			return v
		}
	}
	return ""
}

// relPath shortens path to be relative to root when it is inside it.
func relPath(root, path string) string {
	if rel, err := filepath.Rel(root, path); err == nil && !strings.HasPrefix(rel, "..") {
		return rel
	}
	return path
}

func since(t time.Time) string { return time.Since(t).Round(100 * time.Millisecond).String() }
