// Command fakekonnect runs the fake Konnect of package test/fakekonnect as a process, for
// end-to-end tests and demos that start the controller separately.
//
// It prints one JSON line to stdout once ready:
//
//	{"proxyURL":"http://127.0.0.1:PORT","caFile":"/dir/ca.pem","adminURL":"http://127.0.0.1:PORT"}
//
// Start the controller with HTTPS_PROXY=<proxyURL> and SSL_CERT_FILE=<caFile>, and drive the
// fake through the admin endpoints (see fakekonnect.Server.AdminHandler, and adminUsage
// below, which --help prints). SIGINT or SIGTERM stops it and removes its files. Tokens never
// appear in its output.
//
// The fake serves GET /v3/organizations/me on every *.api.konghq.com host, and Konnect's
// control planes (/v2/control-planes…) and their data-plane client certificates
// (…/dp-client-certificates…) on the regional hosts us, eu, au, me, in and sg.api.konghq.com,
// per organization and region.
//
// Usage:
//
//	fakekonnect [--dir DIR] [--tokens TOKEN=ORG,...] [--admin-addr 127.0.0.1:0] [--v]
//
// Tokens may also be given, in the same form, in FAKE_KONNECT_TOKENS; both are used, so a
// token need not be put on a command line where other users can read it.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/konnect-auth-controller/konnect-auth-controller/test/fakekonnect"
)

// tokensEnv is the environment variable holding token=orgID pairs.
const tokensEnv = "FAKE_KONNECT_TOKENS"

// adminUsage lists the admin endpoints; --help prints it after the flags.
const adminUsage = `
Admin endpoints (on --admin-addr; tokens go in JSON bodies, never in URLs):
  GET    /healthz                    "ok"
  GET    /calls                      request counts per token hash
  POST   /reset                      forget counts and the request log
  POST   /tokens                     {"token":"…","orgID":"…"}: accept a token
  DELETE /tokens                     {"token":"…"}: revoke it
  POST   /behavior?mode=M[&retryAfter=5s][&status=500][&delay=2s][&scope=writes][&path=P]
                                     change the answers, for everyone or for the token in
                                     an optional {"token":"…"} body; M: normal, forbidden,
                                     ratelimited, outage (servererror), hang, emptyok,
                                     badjson, wrongcontenttype, slowbody; scope: all,
                                     writes, reads; P: a path, "*" for one segment
  POST   /admin/control-planes       {"token":"…","region":"us","name":"…",[id, description,
                                     cluster_type, auth_type, cloud_gateway, proxy_urls,
                                     labels]}: create a control plane as Konnect's UI would
  GET    /admin/control-planes[?orgID=…][&region=us]
                                     every control plane, its org, region and certificates
  DELETE /admin/control-planes/{id}  delete one (and its certificates) as Konnect's UI would
  GET    /admin/control-planes/{id}/dp-client-certificates
                                     its data-plane certificates
  POST   /admin/control-planes/{id}/dp-client-certificates
                                     {"cert":"PEM"}: register one
  GET    /admin/requests[?method=POST][&path=/v2/control-planes]
                                     the request log: method, host, path, query, token
                                     hash (sha256:12 hex digits) and status of each request
  DELETE /admin/requests             empty the request log
`

// ready is the line printed to stdout once the fake serves.
type ready struct {
	ProxyURL string `json:"proxyURL"`
	CAFile   string `json:"caFile"`
	AdminURL string `json:"adminURL"`
}

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "fakekonnect:", err)
		os.Exit(1)
	}
}

// run starts the fake, prints the ready line to stdout and serves until SIGINT or SIGTERM.
func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("fakekonnect", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", "", "directory to write ca.pem to (default: a temporary directory, removed on exit)")
	tokensFlag := fs.String("tokens", "", "comma-separated token=orgID pairs to accept (also read from $"+tokensEnv+")")
	adminAddr := fs.String("admin-addr", "127.0.0.1:0", "loopback address for the admin HTTP endpoints")
	verbose := fs.Bool("v", false, "log each request to stderr (tokens appear only as hash prefixes)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: fakekonnect [flags]\n\nFlags:\n")
		fs.PrintDefaults()
		fmt.Fprint(fs.Output(), adminUsage)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil // --help printed the usage, as asked
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %q", fs.Args())
	}

	tokens := map[string]string{}
	if err := parseTokens(os.Getenv(tokensEnv), tokens); err != nil {
		return fmt.Errorf("$%s: %w", tokensEnv, err)
	}
	if err := parseTokens(*tokensFlag, tokens); err != nil {
		return fmt.Errorf("--tokens: %w", err)
	}

	if err := checkLoopback(*adminAddr); err != nil {
		return fmt.Errorf("--admin-addr: %w", err)
	}

	opts := fakekonnect.Options{Dir: *dir, Tokens: tokens}
	logger := log.New(stderr, "fakekonnect: ", log.LstdFlags|log.Lmicroseconds)
	if *verbose {
		opts.Logf = logger.Printf
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	srv, err := fakekonnect.Start(opts)
	if err != nil {
		return err
	}
	defer srv.Close()

	ln, err := net.Listen("tcp", *adminAddr)
	if err != nil {
		return fmt.Errorf("listening for the admin endpoints: %w", err)
	}
	admin := &http.Server{
		Handler:           srv.AdminHandler(),
		ReadHeaderTimeout: 5 * time.Second,
		ErrorLog:          logger,
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- admin.Serve(ln) }()

	line, err := json.Marshal(ready{ProxyURL: srv.ProxyURL(), CAFile: srv.CAFile(), AdminURL: "http://" + ln.Addr().String()})
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(stdout, "%s\n", line); err != nil {
		return err
	}

	select {
	case <-ctx.Done():
		logger.Printf("stopping")
	case err := <-serveErr:
		return fmt.Errorf("admin server: %w", err)
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := admin.Shutdown(shutdownCtx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("stopping the admin server: %w", err)
	}
	return nil
}

// parseTokens adds the comma-separated token=orgID pairs in s to tokens. Errors name the
// entry by position, never by content, since it holds a token.
func parseTokens(s string, tokens map[string]string) error {
	for i, entry := range strings.Split(s, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		token, orgID, ok := strings.Cut(entry, "=")
		token, orgID = strings.TrimSpace(token), strings.TrimSpace(orgID)
		if !ok || token == "" || orgID == "" {
			return fmt.Errorf("entry %d is not of the form token=orgID", i+1)
		}
		tokens[token] = orgID
	}
	return nil
}

// checkLoopback refuses admin addresses other than loopback ones: the admin endpoints can
// register tokens and must not be reachable from other machines.
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("%q is not a loopback address", addr)
}
