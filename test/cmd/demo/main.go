// Command demo runs the product on one machine, with no cluster, Docker or Konnect account: it
// starts etcd and kube-apiserver on loopback, installs the CRD, starts the controller binary,
// applies the user guide's two examples from manifests/examples/ and waits until both are
// VALID True. Then it prints the `kubectl get` table and how to use the cluster from another
// shell, and keeps everything running until Ctrl-C (or SIGTERM), when it stops every process it
// started and removes its files.
//
// Without KONNECT_TOKEN it starts a local fake Konnect (package test/fakekonnect) and points the
// controller at it the way the end-to-end tests do, through HTTPS_PROXY and SSL_CERT_FILE. With
// KONNECT_TOKEN (and optionally KONNECT_SERVER_URL, default us.api.konghq.com) it starts no fake
// and the controller checks that token with the real Konnect.
//
// Run it with `make demo`, which builds the control-plane binaries and the controller first.
//
// Settings (flags, or environment variables for `make demo`):
//
//	--exit-after-ready  DEMO_EXIT_AFTER_READY=1  clean up and exit 0 right after printing the table
//	--port N            DEMO_APISERVER_PORT=N    serve the cluster on 127.0.0.1:N (default: a free port)
//	--timeout D         DEMO_TIMEOUT=D           how long to wait for VALID True (default 2m)
//
// Exit status: 0 after Ctrl-C (or after the table with --exit-after-ready), 1 on any failure,
// 2 for bad settings, 130 when interrupted before the examples were valid.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Environment variables the demo reads.
const (
	envToken          = "KONNECT_TOKEN"
	envServerURL      = "KONNECT_SERVER_URL"
	envExitAfterReady = "DEMO_EXIT_AFTER_READY"
	envPort           = "DEMO_APISERVER_PORT"
	envTimeout        = "DEMO_TIMEOUT"
)

const (
	defaultServerURL = "us.api.konghq.com"
	defaultTimeout   = 2 * time.Minute
)

// errInterrupted reports a SIGINT, SIGTERM or SIGHUP that came before the demo was ready.
var errInterrupted = errors.New("interrupted")

// options are the demo's settings.
type options struct {
	exitAfterReady bool
	port           int
	timeout        time.Duration
	// token is KONNECT_TOKEN: empty means the local fake Konnect.
	token     string
	serverURL string
}

func main() {
	// If whatever started the demo goes away (`go run` killed by `make` on SIGTERM), clean up
	// rather than run on as an orphan.
	setParentDeathSignal(syscall.SIGTERM)

	opts, err := parseOptions(os.Args[1:], os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(2)
	}
	// The controller and kubectl inherit this environment: they have no use for the token, so
	// it goes no further than this process (it reaches the cluster through stdin of kubectl).
	_ = os.Unsetenv(envToken)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	// Output piped into a reader that went away (`make demo | head`) must not kill the demo
	// before it cleans up: with SIGPIPE caught, such writes just fail. (Caught rather than
	// ignored, so that the processes it starts do not inherit an ignored SIGPIPE.)
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)

	d := &demo{opts: opts, out: os.Stdout}
	err = d.run(ctx)
	switch {
	case err == nil:
		os.Exit(0)
	case errors.Is(err, errInterrupted):
		fmt.Fprintln(os.Stderr, "demo: interrupted before the examples were valid; everything it started is stopped and removed")
		os.Exit(130)
	default:
		fmt.Fprintf(os.Stderr, "\ndemo: FAILED: %v\n", err)
		os.Exit(1)
	}
}

// parseOptions reads the flags in args, with defaults from the environment (getenv), so that
// `make demo`, which passes no flags, can be configured too.
func parseOptions(args []string, getenv func(string) string) (options, error) {
	opts := options{timeout: defaultTimeout, serverURL: defaultServerURL}
	if v := getenv(envExitAfterReady); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return opts, fmt.Errorf("%s=%q: want 1 or 0 (true or false)", envExitAfterReady, v)
		}
		opts.exitAfterReady = b
	}
	if v := getenv(envPort); v != "" {
		p, err := strconv.Atoi(v)
		if err != nil {
			return opts, fmt.Errorf("%s=%q: want a port number", envPort, v)
		}
		opts.port = p
	}
	if v := getenv(envTimeout); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return opts, fmt.Errorf("%s=%q: want a duration such as 2m or 90s", envTimeout, v)
		}
		opts.timeout = d
	}

	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.BoolVar(&opts.exitAfterReady, "exit-after-ready", opts.exitAfterReady,
		"stop everything and exit 0 right after printing the table (also "+envExitAfterReady+"=1)")
	fs.IntVar(&opts.port, "port", opts.port,
		"serve the demo cluster's API on 127.0.0.1:PORT; 0 picks a free port (also "+envPort+")")
	fs.DurationVar(&opts.timeout, "timeout", opts.timeout,
		"how long to wait for both examples to be VALID True (also "+envTimeout+")")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(os.Stderr)
			fmt.Fprintln(os.Stderr, "Usage: demo [flags]   (KONNECT_TOKEN and KONNECT_SERVER_URL select the real Konnect)")
			fs.PrintDefaults()
			os.Exit(0)
		}
		return opts, err
	}
	if fs.NArg() > 0 {
		return opts, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if opts.port < 0 || opts.port > 65535 {
		return opts, fmt.Errorf("port %d is not between 1 and 65535 (0 picks a free one)", opts.port)
	}
	if opts.timeout <= 0 {
		return opts, fmt.Errorf("timeout %v must be positive", opts.timeout)
	}

	opts.token = strings.TrimSpace(getenv(envToken))
	if err := checkToken(opts.token); err != nil {
		return opts, err
	}
	if v := strings.TrimSpace(getenv(envServerURL)); v != "" {
		opts.serverURL = v
	}
	if strings.ContainsFunc(opts.serverURL, func(r rune) bool { return r <= ' ' || r > '~' || r == '"' || r == '#' }) {
		return opts, fmt.Errorf("%s=%q: want a host name such as eu.api.konghq.com or an https:// URL", envServerURL, opts.serverURL)
	}
	return opts, nil
}

// checkToken refuses a KONNECT_TOKEN that could never be valid, before anything starts. Its
// messages never quote the token.
func checkToken(token string) error {
	if token == "" {
		return nil
	}
	if !strings.HasPrefix(token, "kpat_") && !strings.HasPrefix(token, "spat_") {
		return fmt.Errorf("%s must be a Konnect personal access token (kpat_…) or system account token (spat_…); "+
			"unset it to use the local fake Konnect", envToken)
	}
	if strings.ContainsFunc(token, func(r rune) bool { return r <= ' ' || r > '~' || r == '"' || r == '\\' }) {
		return fmt.Errorf("%s contains white space, quotes or characters that no Konnect token has", envToken)
	}
	return nil
}
