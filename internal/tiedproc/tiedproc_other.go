//go:build !linux

package tiedproc

import (
	"os/exec"
	"syscall"
)

// Start starts cmd. Outside Linux there is no parent-death signal, so a
// child outlives a parent that is killed without running Stop.
func Start(cmd *exec.Cmd, _ syscall.Signal) error { return cmd.Start() }
