//go:build !linux

package main

import "syscall"

// setParentDeathSignal is a no-op outside Linux.
func setParentDeathSignal(syscall.Signal) {}
