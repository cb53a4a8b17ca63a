package redistest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"testing"

	"github.com/redis/go-redis/v9"
)

func TestPingAndURL(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := New(t)
	if err := s.Client(t).Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	opts, err := redis.ParseURL(s.URL())
	if err != nil {
		t.Fatalf("ParseURL(%q): %v", s.URL(), err)
	}
	if opts.Network != "unix" || opts.Addr != s.Addr() {
		t.Errorf("ParseURL(%q) = %s %s, want unix %s", s.URL(), opts.Network, opts.Addr, s.Addr())
	}
	c := redis.NewClient(opts)
	defer c.Close()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("ping through URL: %v", err)
	}
	for param, want := range map[string]string{"port": "0", "save": "", "appendonly": "no", "unixsocketperm": "700"} {
		got, err := c.ConfigGet(ctx, param).Result()
		if err != nil || got[param] != want {
			t.Errorf("CONFIG GET %s = %q (%v), want %q", param, got[param], err, want)
		}
	}
	fi, err := os.Stat(s.Addr())
	if err != nil || fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o700 {
		t.Errorf("socket %s: %v %v", s.Addr(), fi.Mode(), err)
	}
}

func TestServersAreIndependent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, b := New(t), New(t)
	if a.Addr() == b.Addr() {
		t.Fatalf("two servers on %s", a.Addr())
	}
	if err := a.Client(t).Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := b.Client(t).Get(ctx, "k").Err(); !errors.Is(err, redis.Nil) {
		t.Errorf("GET on the other server = %v, want redis.Nil", err)
	}
}

func TestKillAndRestart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := New(t)
	c := s.Client(t)
	sha, err := c.ScriptLoad(ctx, "return 1").Result()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	pid := s.PID()

	s.Kill()
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("redis-server %d still exists after Kill: %v", pid, err)
	}
	once := redis.NewClient(&redis.Options{Network: "unix", Addr: s.Addr(), MaxRetries: -1})
	defer once.Close()
	if err := once.Ping(ctx).Err(); err == nil {
		t.Fatal("PING succeeded on a killed server")
	}
	s.Kill() // idempotent

	s.Restart()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("PING after Restart: %v", err)
	}
	exists, err := c.ScriptExists(ctx, sha).Result()
	if err != nil || len(exists) != 1 || exists[0] {
		t.Errorf("SCRIPT EXISTS after Restart = %v, %v; want [false]", exists, err)
	}
	if err := c.Get(ctx, "k").Err(); !errors.Is(err, redis.Nil) {
		t.Errorf("GET after Restart = %v, want redis.Nil", err)
	}

	// Restart on a running server replaces it.
	before := s.PID()
	s.Restart()
	if s.PID() == before {
		t.Error("Restart of a running server kept the old process")
	}
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("PING after second Restart: %v", err)
	}
}

func TestStartClose(t *testing.T) {
	t.Parallel()
	if _, err := Binary(); err != nil {
		skipOrFail(t, err)
	}
	s, err := Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	pid, dir := s.PID(), s.dir
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("redis-server %d still exists after Close: %v", pid, err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("directory %s left after Close: %v", dir, err)
	}
}

func TestBinaryEnv(t *testing.T) {
	t.Setenv(ServerEnv, "/nonexistent/redis-server")
	if _, err := Binary(); !errors.Is(err, ErrNotFound) {
		t.Errorf("Binary with a missing %s = %v, want ErrNotFound", ServerEnv, err)
	}
	t.Setenv(ServerEnv, "/bin/sh")
	if got, err := Binary(); err != nil || got != "/bin/sh" {
		t.Errorf("Binary = %q, %v", got, err)
	}
}

// recorder is a testing.TB that records Skip and Fatal instead of ending
// the goroutine.
type recorder struct {
	testing.TB
	skipped, failed bool
}

func (r *recorder) Helper()               {}
func (r *recorder) Skipf(string, ...any)  { r.skipped = true }
func (r *recorder) Fatal(...any)          { r.failed = true }
func (r *recorder) Fatalf(string, ...any) { r.failed = true }

func TestSkipOrFail(t *testing.T) {
	missing := fmt.Errorf("start: %w", ErrNotFound)
	for _, tc := range []struct {
		ci   string
		err  error
		skip bool
	}{
		{"", missing, true},
		{"true", missing, false},
		{"", errors.New("redis-server exited during start-up"), false},
	} {
		t.Setenv("CI", tc.ci)
		r := &recorder{TB: t}
		skipOrFail(r, tc.err)
		if r.skipped != tc.skip || (!tc.skip && !r.failed) {
			t.Errorf("CI=%q, %v: skipped %v, failed %v", tc.ci, tc.err, r.skipped, r.failed)
		}
	}
}
