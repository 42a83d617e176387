package fakekonnect

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// proxyHeaderTimeout bounds how long a client may take to send its CONNECT request.
const proxyHeaderTimeout = 10 * time.Second

// connectProxy is a CONNECT-only HTTP proxy that tunnels *.konghq.com:443 to one fixed
// address, the fake's own TLS server. It never dials anything else, whatever it is asked.
type connectProxy struct {
	ln      net.Listener
	target  string // the TLS server's address; the only address ever dialed
	logf    func(format string, args ...any)
	refused atomic.Int64

	mu     sync.Mutex
	closed bool
	conns  map[net.Conn]struct{}
	wg     sync.WaitGroup // the accept loop and every connection's goroutine
}

// newConnectProxy listens on a free loopback port; call serve to start accepting.
func newConnectProxy(target string, logf func(string, ...any)) (*connectProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listening for the proxy: %w", err)
	}
	return &connectProxy{ln: ln, target: target, logf: logf, conns: map[net.Conn]struct{}{}}, nil
}

// start runs the accept loop in the background.
func (p *connectProxy) start() {
	p.wg.Add(1)
	go p.acceptLoop()
}

func (p *connectProxy) acceptLoop() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// A transient error such as EMFILE: back off briefly rather than spin.
			time.Sleep(10 * time.Millisecond)
			continue
		}
		if !p.track(c) {
			c.Close()
			return
		}
		go p.handle(c)
	}
}

// track registers a connection so close can reach it, and counts a goroutine for it. It
// reports false once the proxy is closing; the caller must then close c itself.
func (p *connectProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.conns[c] = struct{}{}
	p.wg.Add(1)
	return true
}

// untrack closes c and forgets it; it is the counterpart of a successful track.
func (p *connectProxy) untrack(c net.Conn) {
	c.Close()
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	p.wg.Done()
}

// handle serves one client connection: reads a CONNECT request and either refuses it or
// splices the connection to the TLS server.
func (p *connectProxy) handle(c net.Conn) {
	defer p.untrack(c)

	_ = c.SetReadDeadline(time.Now().Add(proxyHeaderTimeout))
	br := bufio.NewReader(c)
	req, err := http.ReadRequest(br)
	if err != nil {
		return
	}
	if req.Method != http.MethodConnect {
		p.logf("proxy: refused %s request: only CONNECT is supported", req.Method)
		writeProxyStatus(c, http.StatusMethodNotAllowed, "only CONNECT is supported by the fake Konnect proxy")
		return
	}
	// For CONNECT the request target is the authority ("host:port"), which ReadRequest
	// puts in URL.Host. The Host header is ignored: it must not widen what is reachable.
	dest := req.URL.Host
	if !allowedDestination(dest) {
		p.refused.Add(1)
		p.logf("proxy: refused CONNECT to %q: only *.konghq.com:443 is served", dest)
		writeProxyStatus(c, http.StatusForbidden, "the fake Konnect proxy only tunnels to *.konghq.com:443")
		return
	}
	_ = c.SetReadDeadline(time.Time{})

	upstream, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		writeProxyStatus(c, http.StatusBadGateway, "the fake Konnect TLS server is not reachable")
		return
	}
	if !p.track(upstream) {
		upstream.Close()
		return
	}
	defer p.untrack(upstream)

	if _, err := io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
		return
	}
	p.logf("proxy: tunnelling CONNECT %s", dest)

	// Splice both ways. When either direction ends, close both ends so the other copy
	// returns too; TLS carries its own end-of-stream, so nothing is lost by not half-closing.
	done := make(chan struct{})
	go func() {
		defer close(done)
		// br, not c: it may already hold bytes the client sent after the CONNECT head.
		_, _ = io.Copy(upstream, br)
		upstream.Close()
		c.Close()
	}()
	_, _ = io.Copy(c, upstream)
	c.Close()
	upstream.Close()
	<-done
}

// close stops accepting, cuts every open tunnel and waits for all proxy goroutines to end.
func (p *connectProxy) close() {
	p.mu.Lock()
	p.closed = true
	p.ln.Close()
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// allowedDestination reports whether a CONNECT authority names a konghq.com subdomain on
// port 443, the only destinations the fake serves.
func allowedDestination(authority string) bool {
	host, port, err := net.SplitHostPort(authority)
	if err != nil || port != "443" {
		return false
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	label, ok := strings.CutSuffix(host, ".konghq.com")
	if !ok || label == "" {
		return false
	}
	for _, r := range label {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '.') {
			return false
		}
	}
	return true
}

// writeProxyStatus answers a proxy request with a short plain-text error and closes.
func writeProxyStatus(w io.Writer, code int, msg string) {
	msg += "\n"
	_, _ = fmt.Fprintf(w, "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
		code, http.StatusText(code), len(msg), msg)
}
