package main

import (
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
)

// forwarder serves the demo cluster on the port the user asked for (--port) by relaying TCP
// connections to kube-apiserver, which the control plane starts on a port of its own
// choosing. TLS passes through untouched: the apiserver's certificate is for 127.0.0.1,
// whatever the port.
type forwarder struct {
	ln     net.Listener
	target string

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// listenForward takes 127.0.0.1:port at once, so that a port already in use fails before
// anything starts, with a message that says what to do.
func listenForward(port int) (*forwarder, error) {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		if isAddrInUse(err) {
			return nil, fmt.Errorf("port %d on 127.0.0.1 is already in use, so the demo cannot serve the cluster there "+
				"(--port / %s=%d): stop what listens on it (`ss -ltnp 'sport = :%d'` shows it), choose another port, "+
				"or leave %s unset to pick a free one", port, envPort, port, port, envPort)
		}
		return nil, fmt.Errorf("cannot listen on %s (--port / %s): %w", addr, envPort, err)
	}
	return &forwarder{ln: ln, conns: map[net.Conn]struct{}{}}, nil
}

// addr is the address the forwarder listens on.
func (f *forwarder) addr() string { return f.ln.Addr().String() }

// start relays every connection accepted from now on to target (host:port).
func (f *forwarder) start(target string) {
	f.target = target
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		for {
			c, err := f.ln.Accept()
			if err != nil {
				return // closed
			}
			f.wg.Add(1)
			go func() {
				defer f.wg.Done()
				f.relay(c)
			}()
		}
	}()
}

// relay copies bytes both ways between c and a new connection to the target.
func (f *forwarder) relay(c net.Conn) {
	up, err := net.Dial("tcp", f.target)
	if err != nil {
		c.Close()
		return
	}
	if !f.track(c, up) {
		return
	}
	defer f.untrack(c, up)
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(up, c); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, up); done <- struct{}{} }()
	<-done // one side ended: end both
	c.Close()
	up.Close()
	<-done
}

func (f *forwarder) track(conns ...net.Conn) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		for _, c := range conns {
			c.Close()
		}
		return false
	}
	for _, c := range conns {
		f.conns[c] = struct{}{}
	}
	return true
}

func (f *forwarder) untrack(conns ...net.Conn) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range conns {
		delete(f.conns, c)
	}
}

// close stops listening, ends every relayed connection and waits for its goroutines.
func (f *forwarder) close() {
	f.mu.Lock()
	f.closed = true
	for c := range f.conns {
		c.Close()
	}
	f.mu.Unlock()
	f.ln.Close()
	f.wg.Wait()
}
