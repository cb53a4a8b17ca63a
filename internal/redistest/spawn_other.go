//go:build !linux

package redistest

import (
	"os/exec"
	"syscall"
)

// startTied starts cmd. Outside Linux there is no parent-death signal, so a
// child outlives a parent that is killed without running Stop.
func startTied(cmd *exec.Cmd, _ syscall.Signal) error { return cmd.Start() }
