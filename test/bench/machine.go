package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
)

// procStats is what /proc says about a process.
type procStats struct {
	hwmKiB     int64   // VmHWM: peak resident set size
	rssKiB     int64   // VmRSS: resident set size now
	cpuSeconds float64 // utime + stime
}

func (s procStats) hwmMiB() float64 { return float64(s.hwmKiB) / 1024 }

// readProc reads VmHWM and VmRSS from /proc/PID/status and utime+stime from /proc/PID/stat.
func readProc(pid int) (procStats, error) {
	var s procStats
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, err
	}
	sc := bufio.NewScanner(strings.NewReader(string(status)))
	for sc.Scan() {
		key, value, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		fields := strings.Fields(value)
		if len(fields) == 0 {
			continue
		}
		switch key {
		case "VmHWM":
			s.hwmKiB, _ = strconv.ParseInt(fields[0], 10, 64)
		case "VmRSS":
			s.rssKiB, _ = strconv.ParseInt(fields[0], 10, 64)
		}
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, err
	}
	// The command name (field 2) is in parentheses and may hold spaces: count after it.
	rest := string(stat)
	if i := strings.LastIndexByte(rest, ')'); i >= 0 {
		rest = rest[i+1:]
	}
	fields := strings.Fields(rest)
	// fields[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(fields) < 13 {
		return s, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	s.cpuSeconds = float64(utime+stime) / clockTicks()
	return s, nil
}

var clockTicks = sync.OnceValue(func() float64 {
	out, err := exec.Command("getconf", "CLK_TCK").Output()
	if err == nil {
		if v, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64); err == nil && v > 0 {
			return v
		}
	}
	return 100 // USER_HZ on every Linux architecture Go supports
})

// loadAverage is the 1, 5 and 15 minute load averages.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// describeMachine names the CPU, the number of CPUs and the memory.
func describeMachine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	mem := "?"
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				if f := strings.Fields(rest); len(f) > 0 {
					if kib, err := strconv.ParseFloat(f[0], 64); err == nil {
						mem = fmt.Sprintf("%.1f GiB", kib/1024/1024)
					}
				}
			}
		}
	}
	return fmt.Sprintf("%d CPUs (%s), %s memory, %s/%s, %s, load average %s", runtime.NumCPU(), model, mem, runtime.GOOS, runtime.GOARCH, runtime.Version(), loadAverage())
}

// printTable prints the results as two aligned tables: throughput, then cost.
func printTable(out io.Writer, results []result) {
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "objects\ttokens\tceiling_w/s@writers\tconverge_s\tfirst_true_s\tconfigs/s\tsteady_cfg/s\tratio\tcpu_ms/write\tcpu_ms/cfg\tcpu_eff\tbusy_cpus\tload_before\tload_after\t")
	for _, r := range results {
		converge := fmt.Sprintf("%.2f", r.converge.Seconds())
		if !r.complete {
			converge = "incomplete"
		}
		fmt.Fprintf(tw, "%d\t%d\t%.1f@%d\t%s\t%.2f\t%.1f\t%.1f\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%s\t%s\t\n",
			r.n, r.tokens, r.ceilingWPS, r.ceilingWriters, converge, r.firstTrue.Seconds(), r.configsPerS(), r.steadyRate, r.ratio(),
			1000*r.ceilingCPUPerWrite, 1000*r.convergeCPUPerConfig, r.cpuEfficiency(), r.convergeBusy,
			strings.ReplaceAll(r.loadBefore, " ", "/"), strings.ReplaceAll(r.loadAfter, " ", "/"))
	}
	tw.Flush()
	fmt.Fprintln(out)
	tw = tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "objects\tkonnect_calls\tstatus_writes\tevents\tpeak_rss_MiB\tcpu_s\tcpu_ms/config\tapiserver_cpu_s\tetcd_cpu_s\tidle_writes\tidle_calls\tidle_events\tidle_cpu_s\tsetup_s\t")
	for _, r := range results {
		fmt.Fprintf(tw, "%d\t%d\t%d\t%d\t%.1f\t%.2f\t%.2f\t%.1f\t%.1f\t%d\t%d\t%d\t%.2f\t%.1f\t\n",
			r.n, r.calls, r.writes, r.events, r.rssMiB, r.cpuS, 1000*r.cpuS/float64(r.n), r.apiserverCPU, r.etcdCPU,
			r.idleWrites, r.idleCalls, r.idleEvents, r.idleCPUS, r.setup.Seconds())
	}
	tw.Flush()
}

// printPhases prints, per run, the start load, the bound, the latency and the restart.
func printPhases(out io.Writer, results []result) {
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "objects\trun\tload_1m\tbound\tlatency_n\tp50_ms\tp99_ms\tmax_ms\tlatency_timeouts\trestart_writes\trestart_calls\trestart_tokens\trestart_ready_s\trestart_last_s\trestart_quiet\trestart_true_lost\tstop_s\t")
	for _, r := range results {
		lat := []string{"-", "-", "-", "-", "-"}
		if r.latency.count > 0 {
			lat = []string{fmt.Sprint(r.latency.count), fmt.Sprintf("%.0f", ms(r.latency.percentile(50))), fmt.Sprintf("%.0f", ms(r.latency.percentile(99))),
				fmt.Sprintf("%.0f", ms(r.latency.max())), fmt.Sprint(r.latency.timeouts)}
		}
		rs := []string{"-", "-", "-", "-", "-", "-", "-", "-"}
		if rr := r.restart; rr.ran {
			rs = []string{fmt.Sprint(rr.writes), fmt.Sprint(rr.calls), fmt.Sprintf("%d/%d", rr.tokensHit, rr.expectCall), fmt.Sprintf("%.2f", rr.ready.Seconds()),
				fmt.Sprintf("%.2f", rr.lastActive.Seconds()), fmt.Sprint(rr.quiet), fmt.Sprint(rr.falls), fmt.Sprintf("%.2f", rr.stop.Seconds())}
		}
		fmt.Fprintf(tw, "%d\t%d\t%.2f\t%s\t%s\t%s\t\n", r.n, r.attempt, r.load1, r.bound, strings.Join(lat, "\t"), strings.Join(rs, "\t"))
	}
	tw.Flush()
}

// printFlatness prints the cost per configuration of every run and, for each, its ratio to
// the smallest size's: flat (≈1.00) from 1,000 to 100,000 means linear growth.
func printFlatness(out io.Writer, results []result) {
	if len(results) == 0 {
		return
	}
	base := results[0]
	for _, r := range results {
		if r.n < base.n {
			base = r
		}
	}
	rel := func(v, b float64) string {
		if b <= 0 {
			return "-"
		}
		return fmt.Sprintf("%.2f", v/b)
	}
	fmt.Fprintf(out, "cost per configuration (x = relative to N=%d):\n", base.n)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "objects\trun\tctrl_cpu_ms/cfg\tx\tall_cpu_ms/cfg\tx\tconverge_s/1000cfg\tx\tpeak_rss_MiB\t")
	for _, r := range results {
		ctrl, baseCtrl := 1000*r.ctrlConvergeCPU/float64(r.n), 1000*base.ctrlConvergeCPU/float64(base.n)
		fmt.Fprintf(tw, "%d\t%d\t%.3f\t%s\t%.3f\t%s\t%.2f\t%s\t%.2f\t\n", r.n, r.attempt,
			ctrl, rel(ctrl, baseCtrl), 1000*r.convergeCPUPerConfig, rel(r.convergeCPUPerConfig, base.convergeCPUPerConfig),
			r.convergeSPer1000(), rel(r.convergeSPer1000(), base.convergeSPer1000()), r.rssMiB)
	}
	tw.Flush()
}

// controlPlanePids finds the kube-apiserver and etcd processes whose command lines name dir
// (the control plane's work folder), so that their CPU time can be read too. A pid is 0 when
// not found.
func controlPlanePids(dir string) (apiserver, etcd int) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, 0
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil || !strings.Contains(string(b), dir) {
			continue
		}
		argv0, _, _ := strings.Cut(string(b), "\x00")
		switch filepath.Base(argv0) {
		case "kube-apiserver":
			apiserver = pid
		case "etcd":
			etcd = pid
		}
	}
	return apiserver, etcd
}

// cpuOf is a process's utime+stime in seconds, or 0 if it cannot be read.
func cpuOf(pid int) float64 {
	if pid == 0 {
		return 0
	}
	s, err := readProc(pid)
	if err != nil {
		return 0
	}
	return s.cpuSeconds
}

// machineTicks returns the busy and total clock ticks of all CPUs from /proc/stat.
func machineTicks() (busy, total float64) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "cpu" {
		return 0, 0
	}
	for i, v := range f[1:] {
		x, _ := strconv.ParseFloat(v, 64)
		if i >= 8 { // guest and guest_nice are already in user and nice
			break
		}
		total += x
		if i != 3 && i != 4 { // idle, iowait
			busy += x
		}
	}
	return busy, total
}

// cpuSample is a moment's CPU counters of the processes involved and of the machine.
type cpuSample struct {
	controller, apiserver, etcd float64
	bench                       float64 // this process: the watch, the fake Konnect, the ceiling writer
	busyTicks, totalTicks       float64
}

func sampleCPU(controllerPid, apiserverPid, etcdPid int) cpuSample {
	busy, total := machineTicks()
	return cpuSample{controller: cpuOf(controllerPid), apiserver: cpuOf(apiserverPid), etcd: cpuOf(etcdPid), bench: cpuOf(os.Getpid()),
		busyTicks: busy, totalTicks: total}
}

// busyCores is how many CPUs were busy on average between a and b, whoever used them.
func busyCores(a, b cpuSample) float64 {
	if b.totalTicks <= a.totalTicks {
		return 0
	}
	return float64(runtime.NumCPU()) * (b.busyTicks - a.busyTicks) / (b.totalTicks - a.totalTicks)
}
