package main

// What the connect phase reports: Konnect calls by kind against the Konnect budget, the idle
// cost, and the latency of spec changes made during a re-sync.

import (
	"fmt"
	"strings"
	"time"

	"github.com/konnect-auth-controller/konnect-auth-controller/test/fakekonnect"
)

// callCounts are Konnect calls counted by kind, from the fake's request log.
type callCounts map[fakekonnect.RequestKind]int

// total is every call counted.
func (c callCounts) total() int {
	n := 0
	for _, v := range c {
		n += v
	}
	return n
}

// String lists the kinds the controller makes, then any other calls.
func (c callCounts) String() string {
	return fmt.Sprintf("creates %d, registrations %d, token checks %d, list pages %d, GETs %d, certificate lists %d, updates %d, deletions %d (certificates %d), other %d",
		c[fakekonnect.KindCreate], c[fakekonnect.KindRegistration], c[fakekonnect.KindTokenCheck], c[fakekonnect.KindListPage],
		c[fakekonnect.KindGet], c[fakekonnect.KindCertList], c[fakekonnect.KindUpdate], c[fakekonnect.KindDelete],
		c[fakekonnect.KindCertDelete], c[fakekonnect.KindOther])
}

// fields is the BENCH line's part for these counts.
func (c callCounts) fields() string {
	return fmt.Sprintf("cp_creates=%d cert_registrations=%d token_checks=%d list_pages=%d cp_gets=%d cert_lists=%d cp_updates=%d deletions=%d other_calls=%d konnect_calls=%d",
		c[fakekonnect.KindCreate], c[fakekonnect.KindRegistration], c[fakekonnect.KindTokenCheck], c[fakekonnect.KindListPage],
		c[fakekonnect.KindGet], c[fakekonnect.KindCertList], c[fakekonnect.KindUpdate],
		c[fakekonnect.KindDelete]+c[fakekonnect.KindCertDelete], c[fakekonnect.KindOther], c.total())
}

// connectResult is what the connect phase measured.
type connectResult struct {
	n, tokens int
	complete  bool
	converge  time.Duration // controller start → every control plane Programmed and extension Ready
	// programmed and ready are the counts when the convergence ended (n and n if complete).
	programmed, ready int
	calls             callCounts // during convergence
	qps               float64    // the controller's --konnect-qps

	idle                  time.Duration // one --konnect-sync-period after convergence
	idleWrites, idleReads int
	idleCPUS              float64       // the controller's CPU seconds in that idle period
	change                latencyResult // spec change → PATCH received, during a re-sync
	changeDuringResync    int           // changes made while the fake saw re-sync reads
	rssMiB, cpuS          float64
	load1                 float64
	// bound is what limited the convergence: "konnect-qps" when the calls ran at the
	// controller's Konnect limit, else "controller" (decided from the same run's figures).
	bound string
}

// required is the calls converging needs at the least: one create per control plane, one
// registration per extension, one token check per token.
func (r connectResult) required() int { return 2*r.n + r.tokens }

// budgetS is the Konnect-budget limit: the time --konnect-qps needs for the required calls.
func (r connectResult) budgetS() float64 {
	if r.qps <= 0 {
		return 0
	}
	return float64(r.required()) / r.qps
}

// budgetRatio is budgetS ÷ converge_s: 1 is converging as fast as the budget allows.
func (r connectResult) budgetRatio() float64 {
	if !r.complete || r.converge <= 0 {
		return 0
	}
	return r.budgetS() / r.converge.Seconds()
}

// callsPerS is the Konnect call rate during convergence.
func (r connectResult) callsPerS() float64 {
	if r.converge <= 0 {
		return 0
	}
	return float64(r.calls.total()) / r.converge.Seconds()
}

// idleReadsPerMin is the idle window's reads scaled to a minute.
func (r connectResult) idleReadsPerMin() float64 {
	if r.idle <= 0 {
		return 0
	}
	return float64(r.idleReads) * float64(time.Minute) / float64(r.idle)
}

func (r connectResult) benchLine() string {
	converge := fmt.Sprintf("%.2f", r.converge.Seconds())
	if !r.complete {
		converge = "incomplete"
	}
	ratio := "-"
	if r.complete {
		ratio = fmt.Sprintf("%.2f", r.budgetRatio())
	}
	idle, changes := "idle_s=-", "change_n=0 change_p50_ms=- change_p99_ms=- change_timeouts=-"
	if r.idle > 0 {
		idle = fmt.Sprintf("idle_s=%.0f idle_konnect_writes=%d idle_konnect_reads=%d idle_reads_per_min=%.0f idle_cpu_s=%.2f",
			r.idle.Seconds(), r.idleWrites, r.idleReads, r.idleReadsPerMin(), r.idleCPUS)
	}
	if r.change.count > 0 {
		changes = fmt.Sprintf("change_n=%d change_p50_ms=%.0f change_p99_ms=%.0f change_timeouts=%d",
			r.change.count, ms(r.change.percentile(50)), ms(r.change.percentile(99)), r.change.timeouts)
	}
	return strings.Join([]string{
		fmt.Sprintf("BENCH connect controlplanes=%d extensions=%d tokens=%d converge_s=%s", r.n, r.n, r.tokens, converge),
		r.calls.fields(),
		fmt.Sprintf("konnect_calls_per_s=%.1f required_calls=%d budget_s=%.1f budget_ratio=%s", r.callsPerS(), r.required(), r.budgetS(), ratio),
		idle, changes,
		fmt.Sprintf("rss_mib=%.1f cpu_s=%.2f bound=%s load=%.2f", r.rssMiB, r.cpuS, r.bound, r.load1),
	}, " ")
}

// budgetLine explains the budget figures of a run.
func (r connectResult) budgetLine() string {
	line := fmt.Sprintf("budget: %d required calls (%d creates, %d registrations, %d token checks) ÷ --konnect-qps=%g = %.1fs",
		r.required(), r.n, r.n, r.tokens, r.qps, r.budgetS())
	if !r.complete {
		return line + "; the run did not converge"
	}
	return line + fmt.Sprintf(" against %.1fs converged: ratio %.2f; %d calls made, %.2f× the required",
		r.converge.Seconds(), r.budgetRatio(), r.calls.total(), float64(r.calls.total())/float64(r.required()))
}
