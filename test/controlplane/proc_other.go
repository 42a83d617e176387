//go:build !linux

package controlplane

import "syscall"

// sysProcAttr puts a child in its own process group so Stop can signal everything it forks.
// (Pdeathsig is Linux-only: elsewhere a crashed test binary may leave children behind.)
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
