package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/konnect-auth-controller/konnect-auth-controller/test/e2e/framework"
	"github.com/konnect-auth-controller/konnect-auth-controller/test/fakekonnect"
)

// restartResult is what the restart phase measured.
type restartResult struct {
	ran      bool
	quietFor time.Duration // -restart-quiet

	stop       time.Duration // SIGTERM → the old process exited
	stopErr    error         // it did not exit cleanly
	stopWrites int64         // status writes seen while it stopped
	stopCalls  int64         // Konnect calls while it stopped

	ready      time.Duration // new process start → /readyz 200 (0 when it serves no probes)
	lastActive time.Duration // new process start → its last status write or Konnect call (or ready)
	quiet      bool          // it stayed quiet for -restart-quiet before -restart-timeout
	writes     int64         // status writes from the new process's start until quiet
	calls      int64         // Konnect calls in that time
	tokensHit  int           // distinct tokens those calls carried
	maxPerTok  int64         // the most calls one token received
	falls      int64         // True → not True seen in that time
	cpuS       float64       // the new process's CPU seconds until quiet
	rssMiB     float64       // its peak RSS until quiet
	expectCall int           // distinct tokens in use: the calls a fresh cache must make
}

func (r restartResult) String() string {
	if !r.ran {
		return "skipped"
	}
	state := fmt.Sprintf("then quiet for %v", r.quietFor)
	if !r.quiet {
		state = "NOT quiet before -restart-timeout"
	}
	stop := fmt.Sprintf("stopped in %.2fs (%d status writes, %d Konnect calls meanwhile)", r.stop.Seconds(), r.stopWrites, r.stopCalls)
	if r.stopErr != nil {
		stop += fmt.Sprintf(" [%v]", r.stopErr)
	}
	return fmt.Sprintf("%s; restarted: ready after %.2fs, last write/call after %.2fs, %s; %d status writes (goal 0), %d Konnect calls for %d tokens (goal %d, at most %d per token), %d True lost, %.2f CPU s, peak RSS %.1f MiB",
		stop, r.ready.Seconds(), r.lastActive.Seconds(), state, r.writes, r.calls, r.tokensHit, r.expectCall, r.maxPerTok, r.falls, r.cpuS, r.rssMiB)
}

// measureRestart stops old (SIGTERM, up to 30 s) and starts a new controller with start, then
// counts status writes and Konnect calls from the new process's start until it is quiet: ready
// (/readyz 200 on probeAddr, when it has one) and no write and no call for quietFor, at most
// timeout after its start. It returns the new controller, which the caller stops.
func measureRestart(ctx context.Context, old *framework.Controller, start func() (*framework.Controller, string, error),
	w *watcher, fake *fakekonnect.Server, tokens []string, quietFor, timeout time.Duration) (*framework.Controller, restartResult, error) {
	res := restartResult{ran: true, quietFor: quietFor}
	writes0, calls0 := w.writes.Load(), fake.Calls()
	t := time.Now()
	res.stopErr = old.Stop(30 * time.Second)
	res.stop = time.Since(t)
	res.stopWrites, res.stopCalls = w.writes.Load()-writes0, fake.Calls()-calls0

	fake.ResetCounts()
	writes1, falls1 := w.writes.Load(), w.falls.Load()
	ctrl, probeAddr, err := start()
	if err != nil {
		return nil, res, err
	}
	t1 := time.Now()
	ready := probeAddr == ""
	readyAt, lastActive := t1, t1
	lastWrites, lastCalls := writes1, int64(0)
	probe := &http.Client{Timeout: time.Second}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctrl, res, ctx.Err()
		case <-ctrl.Done():
			return ctrl, res, fmt.Errorf("restart: the controller exited (code %d):\n%s", ctrl.ExitCode(), framework.Tail(ctrl.Log(), 30))
		case now := <-tick.C:
			if !ready {
				if resp, err := probe.Get("http://" + probeAddr + "/readyz"); err == nil {
					resp.Body.Close()
					if resp.StatusCode == http.StatusOK {
						ready, readyAt = true, now
						res.ready = now.Sub(t1)
						if lastActive.Before(now) {
							lastActive = now
						}
					}
				}
			}
			if cw, cc := w.writes.Load(), fake.Calls(); cw != lastWrites || cc != lastCalls {
				lastWrites, lastCalls, lastActive = cw, cc, now
			}
			quiet := ready && now.Sub(lastActive) >= quietFor && now.Sub(readyAt) >= quietFor
			if !quiet && now.Sub(t1) < timeout {
				continue
			}
			res.quiet = quiet
			res.lastActive = lastActive.Sub(t1)
			res.writes, res.calls = w.writes.Load()-writes1, fake.Calls()
			res.falls = w.falls.Load() - falls1
			for _, tok := range tokens {
				if c := fake.CallsFor(tok); c > 0 {
					res.tokensHit++
					res.maxPerTok = max(res.maxPerTok, c)
				}
			}
			if s, err := readProc(ctrl.Pid()); err == nil {
				res.cpuS, res.rssMiB = s.cpuSeconds, s.hwmMiB()
			}
			return ctrl, res, nil
		}
	}
}

// probeAddress is where a controller started with args serves /readyz, "" if nowhere.
func probeAddress(args []string) string {
	addr, ok := flagValue(args, "health-probe-bind-address")
	if !ok || addr == "" || addr == "0" {
		return ""
	}
	if strings.HasPrefix(addr, ":") {
		addr = "127.0.0.1" + addr
	}
	return addr
}

// tokensInUse is how many distinct tokens n configurations of the benchmark's shape use
// (configuration i uses token (i/2) mod T).
func tokensInUse(n, tokens int) int {
	return min(tokens, (n+1)/2)
}
