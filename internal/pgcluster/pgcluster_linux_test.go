package pgcluster

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// These tests depend on Linux: /proc, the parent-death signal and thread
// ids.

// TestRestartAfterKill starts again on a directory whose postmaster was
// killed, leaving postmaster.pid and the socket lock behind.
func TestRestartAfterKill(t *testing.T) {
	t.Parallel()
	requireBinaries(t)
	dir := clusterDir(t)
	ctx := context.Background()

	c := start(t, Options{Dir: dir})
	conn := connect(t, c.AdminURL("postgres"))
	// A session keeps a backend alive that must notice the postmaster's death.
	// With synchronous_commit off a commit is durable only once flushed;
	// the checkpoint (its own statement, after the commit) flushes it.
	for _, sql := range []string{`CREATE TABLE kept (v int)`, `INSERT INTO kept VALUES (7)`, `CHECKPOINT`} {
		if _, err := conn.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	if err := syscall.Kill(c.PID(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-c.Done()
	if err := c.Stop(); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Errorf("Stop after the server died = %v, want an error reporting the kill", err)
	}
	if _, err := os.Stat(filepath.Join(c.DataDir(), "postmaster.pid")); err != nil {
		t.Fatalf("expected a stale postmaster.pid: %v", err)
	}

	c2 := start(t, Options{Dir: dir})
	conn2 := connect(t, c2.AdminURL("postgres"))
	if got := queryString(t, conn2, `SELECT v::text FROM kept`); got != "7" {
		t.Errorf("kept = %s after crash recovery, want 7", got)
	}
}

// TestStalePIDReused starts on a directory whose postmaster.pid names a
// live process of the server's user that is not a postmaster, as after a
// container restart. PostgreSQL alone refuses to start then.
func TestStalePIDReused(t *testing.T) {
	t.Parallel()
	requireBinaries(t)
	dir := clusterDir(t)

	c := start(t, Options{Dir: dir})
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	// PostgreSQL treats a process of another user (EPERM) as no postmaster
	// of its own, so the impostor runs as the server's user.
	acct, err := serverAccount()
	if err != nil {
		t.Fatal(err)
	}
	other := exec.Command("sleep", "600")
	other.SysProcAttr = &syscall.SysProcAttr{Credential: acct.cred}
	if err := other.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Process.Kill(); other.Wait() })
	pidFile := fmt.Sprintf("%d\n%s\n1700000000\n%d\n%s\n\n  5433001         0\nready   \n",
		other.Process.Pid, c.DataDir(), SocketPort, dir)
	lock := fmt.Sprintf("%d\n%s\n1700000000\n%d\n%s\n", other.Process.Pid, c.DataDir(), SocketPort, dir)
	writeAsServer(t, filepath.Join(c.DataDir(), "postmaster.pid"), pidFile)
	writeAsServer(t, c.socketPath()+".lock", lock)

	c2 := start(t, Options{Dir: dir})
	connect(t, c2.AdminURL("postgres"))
}

// writeAsServer writes a file owned like the data directory, as the server
// would have.
func writeAsServer(t *testing.T, path, content string) {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(filepath.Dir(path), &st); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(path, int(st.Uid), int(st.Gid)); err != nil {
		t.Fatal(err)
	}
}

// TestParentDeath kills a process that started a cluster without stopping
// it; the kernel must take the server down with it.
func TestParentDeath(t *testing.T) {
	if dir := os.Getenv("PGCLUSTER_TEST_HELPER_DIR"); dir != "" {
		helperProcess(dir)
		return
	}
	t.Parallel()
	requireBinaries(t)
	dir := clusterDir(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestParentDeath$", "-test.v")
	cmd.Env = append(os.Environ(), "PGCLUSTER_TEST_HELPER_DIR="+dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	var pid int
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if s, ok := strings.CutPrefix(sc.Text(), "postmaster pid "); ok {
			pid, _ = strconv.Atoi(s)
			break
		}
	}
	if pid == 0 {
		t.Fatal("helper did not report a postmaster pid")
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()

	deadline := time.Now().Add(15 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("postmaster %d outlived its killed parent", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Its children follow once they notice.
	for {
		procs, ok := clusterProcesses(filepath.Join(dir, "data"))
		if !ok || len(procs) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("server processes %v outlived their killed parent", procs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// helperProcess starts a cluster, reports the postmaster and waits to be
// killed.
func helperProcess(dir string) {
	c, err := Start(context.Background(), Options{Dir: dir})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("postmaster pid %d\n", c.PID())
	select {}
}

// TestStartFromExitingThread starts a cluster from a goroutine locked to its
// thread, which Go terminates when the goroutine returns. The parent-death
// signal follows the forking thread, so the server must not have been forked
// from that one.
func TestStartFromExitingThread(t *testing.T) {
	t.Parallel()
	requireBinaries(t)
	dir := clusterDir(t)
	type result struct {
		c   *Cluster
		tid int
		err error
	}
	res := make(chan result)
	var r result
	for r.tid == 0 {
		go func() {
			runtime.LockOSThread()
			if syscall.Gettid() == syscall.Getpid() {
				// The main thread never exits; try another.
				runtime.UnlockOSThread()
				res <- result{}
				return
			}
			// Never unlocked: the thread ends with this goroutine.
			c, err := Start(context.Background(), Options{Dir: dir})
			res <- result{c, syscall.Gettid(), err}
		}()
		r = <-res
	}
	if r.err != nil {
		t.Fatal(r.err)
	}
	t.Cleanup(func() { r.c.Stop() })
	task := fmt.Sprintf("/proc/self/task/%d", r.tid)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(task); errors.Is(err, os.ErrNotExist) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("thread %d did not exit", r.tid)
		}
		time.Sleep(5 * time.Millisecond)
	}
	conn := connect(t, r.c.AdminURL("postgres"))
	if got := queryString(t, conn, `SELECT 'alive'`); got != "alive" {
		t.Fatal(got)
	}
	select {
	case <-r.c.Done():
		t.Fatal("the server died with the thread that started it")
	default:
	}
}

// alive reports whether pid exists and is not a zombie (an orphan's zombie
// lingers when PID 1 does not reap).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return syscall.Kill(pid, 0) == nil
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && len(s) > i+2 {
		return s[i+2] != 'Z' && s[i+2] != 'X'
	}
	return true
}
