// Package redistest runs a private redis-server for a test: its own
// process, in its own directory under /tmp, listening on a Unix socket only
// (never a TCP port, so never 6379), with persistence off. Kill and Restart
// let a test take Redis away and bring it back empty, as a crash does.
//
// NewCluster and SharedCluster run a three-master Redis Cluster instead,
// on loopback TCP ports (a cluster's nodes find each other by address):
// see Cluster.
//
// redis-server is found on PATH, or is $PARK_REDIS_SERVER (redis-cli, for
// clusters, likewise: $PARK_REDIS_CLI). When one is missing, New skips the
// test, or fails it when CI=true. On Linux the kernel kills the servers if
// the test binary dies without cleaning up.
package redistest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/parkhq/park/internal/tiedproc"
)

// ErrNotFound reports that no redis-server binary could be found.
var ErrNotFound = errors.New("redis-server not found")

// ServerEnv names the environment variable that overrides the redis-server
// binary.
const ServerEnv = "PARK_REDIS_SERVER"

const (
	startTimeout = 30 * time.Second
	killTimeout  = 10 * time.Second
	socketName   = "r.sock"
	logName      = "redis.log"
)

// Binary returns the redis-server to run: $PARK_REDIS_SERVER when set, else
// redis-server on PATH. The error wraps ErrNotFound.
func Binary() (string, error) {
	if p := os.Getenv(ServerEnv); p != "" {
		fi, err := os.Stat(p)
		if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
			return "", fmt.Errorf("%w: %s=%s is not an executable file", ErrNotFound, ServerEnv, p)
		}
		return p, nil
	}
	p, err := exec.LookPath("redis-server")
	if err != nil {
		return "", fmt.Errorf("%w on PATH (install redis-server or set %s)", ErrNotFound, ServerEnv)
	}
	return p, nil
}

// Server is a running redis-server. Its methods are safe for concurrent
// use.
type Server struct {
	t       testing.TB // set by New; Kill and Restart fail the test through it
	bin     string
	dir     string
	network string // "unix" or "tcp"
	addr    string // the socket path or host:port
	args    []string

	// shared forbids Kill and Restart: the server belongs to the whole
	// test binary (a node of SharedCluster).
	shared bool

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
	log  *os.File
}

// New starts a server for t and stops it, removing its directory, when the
// test ends.
func New(t testing.TB) *Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	s, err := Start(ctx)
	if err != nil {
		skipOrFail(t, err)
	}
	s.t = t
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s
}

// Start starts a server for callers without a testing.TB, such as
// testscript's Setup. The caller calls Close.
func Start(ctx context.Context) (*Server, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	// /tmp rather than os.TempDir(): a Unix socket path is limited to 107
	// bytes.
	dir, err := os.MkdirTemp("/tmp", "redistest-")
	if err != nil {
		return nil, fmt.Errorf("redis directory: %w", err)
	}
	sock := filepath.Join(dir, socketName)
	s := &Server{bin: bin, dir: dir, network: "unix", addr: sock, args: []string{
		"--port", "0", // no TCP listener at all
		"--unixsocket", sock,
		"--unixsocketperm", "700",
	}}
	if err := s.start(ctx); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return s, nil
}

// start runs redis-server and waits for PING. The caller holds s.mu or owns
// s exclusively.
func (s *Server) start(ctx context.Context) error {
	logf, err := os.OpenFile(filepath.Join(s.dir, logName), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("redis log: %w", err)
	}
	args := append(slices.Clip(s.args),
		"--save", "", // no snapshots: a restart starts empty
		"--appendonly", "no",
		"--dir", s.dir,
		"--daemonize", "no",
		"--logfile", "", // stdout, into the log file
	)
	cmd := exec.Command(s.bin, args...)
	cmd.Dir = s.dir
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := tiedproc.Start(cmd, syscall.SIGKILL); err != nil {
		logf.Close()
		return fmt.Errorf("start redis-server: %w", err)
	}
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		close(done)
	}()
	s.cmd, s.done, s.log = cmd, done, logf
	if err := s.waitReady(ctx); err != nil {
		s.kill()
		return err
	}
	return nil
}

func (s *Server) waitReady(ctx context.Context) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, startTimeout)
		defer cancel()
	}
	c := redis.NewClient(&redis.Options{Network: s.network, Addr: s.addr, MaxRetries: -1})
	defer c.Close()
	delay := 2 * time.Millisecond
	for {
		err := c.Ping(ctx).Err()
		if err == nil {
			return nil
		}
		select {
		case <-s.done:
			tail := s.logTail()
			if strings.Contains(tail, "Address already in use") {
				return fmt.Errorf("redis-server on %s: %w", s.addr, errAddrInUse)
			}
			return fmt.Errorf("redis-server exited during start-up (%v); log:\n%s", s.cmd.ProcessState, tail)
		case <-ctx.Done():
			return fmt.Errorf("redis-server not answering on %s: %w (last error: %v); log:\n%s", s.addr, ctx.Err(), err, s.logTail())
		case <-time.After(delay):
		}
		delay = min(2*delay, 50*time.Millisecond)
	}
}

// kill ends the process with SIGKILL and waits for it. The caller holds s.mu
// or owns s exclusively.
func (s *Server) kill() error {
	if s.cmd == nil {
		return nil
	}
	defer func() {
		s.log.Close()
		s.cmd, s.done, s.log = nil, nil, nil
	}()
	if err := s.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("kill redis-server: %w", err)
	}
	select {
	case <-s.done:
		return nil
	case <-time.After(killTimeout):
		return fmt.Errorf("redis-server (pid %d) survived SIGKILL", s.cmd.Process.Pid)
	}
}

func (s *Server) logTail() string {
	b, err := os.ReadFile(filepath.Join(s.dir, logName))
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > 20 {
		lines = lines[len(lines)-20:]
	}
	return strings.Join(lines, "\n")
}

// URL returns the server's URL in the form redis.ParseURL accepts:
// unix:///tmp/redistest-…/r.sock (a cluster node: redis://127.0.0.1:port).
func (s *Server) URL() string {
	if s.network == "tcp" {
		return "redis://" + s.addr
	}
	return "unix://" + s.addr
}

// Addr returns the socket path, for redis.Options{Network: "unix", Addr: …}
// (a cluster node: its host:port, for Network "tcp").
func (s *Server) Addr() string { return s.addr }

// Client returns a client of the server, closed when the test ends. It
// reconnects by itself after Restart.
func (s *Server) Client(t testing.TB) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Network: s.network, Addr: s.addr})
	t.Cleanup(func() { c.Close() })
	return c
}

// PID returns the server's process id, or 0 after Kill.
func (s *Server) PID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// Kill ends the server with SIGKILL, as a crash would; clients then fail
// until Restart. Killing a killed server does nothing. It fails the test
// on error (it panics for a server made by Start).
func (s *Server) Kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shared {
		s.fail(errShared)
		return
	}
	s.fail(s.kill())
}

// Restart kills the server if it runs and starts a new, empty one on the
// same socket: no keys, no loaded scripts. It fails the test on error (it
// panics for a server made by Start).
func (s *Server) Restart() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dir == "" {
		s.fail(errors.New("redistest: Restart after Close"))
		return
	}
	if s.shared {
		s.fail(errShared)
		return
	}
	if err := s.kill(); err != nil {
		s.fail(err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	s.fail(s.start(ctx))
}

// errShared refuses to take away a server other tests use.
var errShared = errors.New("redistest: Kill or Restart of a node of the shared cluster (use NewCluster)")

func (s *Server) fail(err error) {
	if err == nil {
		return
	}
	if s.t != nil {
		s.t.Helper()
		s.t.Fatal(err)
		return
	}
	panic(err)
}

// Close stops the server and removes its directory. New's cleanup calls it;
// callers of Start must. It is idempotent.
func (s *Server) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.kill()
	if s.dir != "" {
		err = errors.Join(err, os.RemoveAll(s.dir))
		s.dir = ""
	}
	return err
}

// skipOrFail skips the test when redis-server is missing outside CI, and
// fails it otherwise.
func skipOrFail(t testing.TB, err error) {
	t.Helper()
	if errors.Is(err, ErrNotFound) && !inCI() {
		t.Skipf("skipping: %v (CI=true makes this a failure)", err)
	}
	t.Fatal(err)
}

func inCI() bool {
	ci, _ := strconv.ParseBool(os.Getenv("CI"))
	return ci
}

// exited reports whether the server's process has ended by itself (not
// through Kill).
func (s *Server) exited() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done == nil {
		return false
	}
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}
