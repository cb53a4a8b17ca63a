package tiedproc

import (
	"os/exec"
	"runtime"
	"sync"
	"syscall"
)

// The kernel sends the parent-death signal when the thread that forked the
// child exits, not when the process does (prctl(2); go.dev/issue/27505). Go
// ends an OS thread when a goroutine locked to it returns without unlocking,
// so a child started from an arbitrary goroutine could be killed whenever
// some unrelated goroutine later locks and abandons that thread. Every child
// is therefore forked from one goroutine that locks its thread and never
// returns: that thread lives exactly as long as the process. The spawner is
// process-wide state by nature, like the process's own children.
var spawner struct {
	once sync.Once
	reqs chan spawnRequest
}

type spawnRequest struct {
	cmd  *exec.Cmd
	done chan<- error
}

// Start starts cmd so that the kernel sends it sig when this process
// exits, however it exits (even SIGKILL). Credentials are changed before the
// signal is armed (the kernel would clear it otherwise), which
// syscall.forkAndExecInChild already guarantees.
func Start(cmd *exec.Cmd, sig syscall.Signal) error {
	spawner.once.Do(func() {
		spawner.reqs = make(chan spawnRequest)
		go func() {
			runtime.LockOSThread() // never unlocked, never returns
			for r := range spawner.reqs {
				r.done <- r.cmd.Start()
			}
		}()
	})
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = sig
	done := make(chan error, 1)
	spawner.reqs <- spawnRequest{cmd: cmd, done: done}
	return <-done
}
