//go:build linux

package controlplane

import "syscall"

// sysProcAttr puts a child in its own process group (so Stop can signal everything it forks)
// and asks the kernel to SIGKILL it when the thread that started it dies, so a crashed test
// binary leaves no orphan etcd or kube-apiserver behind.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
