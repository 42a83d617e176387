//go:build linux

package main

import (
	"os"
	"syscall"
)

// setParentDeathSignal asks the kernel to send sig to the demo when its parent exits (on
// SIGTERM, `make` signals `go run`, which does not pass it on), so that the demo still stops
// what it started instead of running on as an orphan.
func setParentDeathSignal(sig syscall.Signal) {
	ppid := os.Getppid()
	if ppid == 1 {
		return // already adopted by init: there is no parent to watch
	}
	_, _, _ = syscall.RawSyscall(syscall.SYS_PRCTL, syscall.PR_SET_PDEATHSIG, uintptr(sig), 0)
	if os.Getppid() != ppid { // the parent died before the call
		_ = syscall.Kill(os.Getpid(), sig)
	}
}
