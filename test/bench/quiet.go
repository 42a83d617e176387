package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// load1 is the 1-minute load average, or -1 if /proc/loadavg cannot be read.
func load1() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return -1
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return -1
	}
	return v
}

// waitQuiet prints the load average and, while its 1-minute figure is at or above maxLoad,
// waits up to wait for it to fall below. It returns the 1-minute load average the size starts
// with. maxLoad 0 or an unreadable load average means no wait.
//
// The previous size's control plane has just stopped, so its own load decays here too: the
// 1-minute figure falls by a factor e per minute once the machine is idle.
func waitQuiet(ctx context.Context, maxLoad float64, wait time.Duration) (float64, error) {
	l := load1()
	fmt.Printf("  load average %s (1 min %.2f, -max-load %.2f)\n", loadAverage(), l, maxLoad)
	if maxLoad <= 0 || l < 0 || l < maxLoad || wait <= 0 {
		return l, nil
	}
	fmt.Printf("  waiting up to %v for the 1-minute load average to fall below %.2f\n", wait, maxLoad)
	start := time.Now()
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	lastPrint := start
	for {
		select {
		case <-ctx.Done():
			return l, ctx.Err()
		case now := <-tick.C:
			l = load1()
			switch {
			case l < maxLoad:
				fmt.Printf("  load average %.2f after waiting %.0fs\n", l, now.Sub(start).Seconds())
				return l, nil
			case now.Sub(start) >= wait:
				fmt.Printf("  !! load average still %.2f after %v: running anyway (reported as loaded)\n", l, wait)
				return l, nil
			case now.Sub(lastPrint) >= 30*time.Second:
				fmt.Printf("  … load average %s after %.0fs\n", loadAverage(), now.Sub(start).Seconds())
				lastPrint = now
			}
		}
	}
}

// loaded says whether the run started with the load average at or above maxLoad.
func (r result) loaded(maxLoad float64) bool {
	return maxLoad > 0 && r.load1 >= maxLoad
}
