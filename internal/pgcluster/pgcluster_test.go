package pgcluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// requireBinaries skips when the server binaries are missing, except in CI.
func requireBinaries(t *testing.T) {
	t.Helper()
	if _, err := BinDir(); err != nil {
		if ci, _ := strconv.ParseBool(os.Getenv("CI")); ci {
			t.Fatal(err)
		}
		t.Skip(err)
	}
}

// clusterDir returns an empty directory under /tmp, which the postgres user
// can reach (t.TempDir() is 0700 root when tests run as root).
func clusterDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("/tmp", "pgcluster-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func start(t *testing.T, opts Options) *Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := Start(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Stop() })
	return c
}

func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func queryString(t *testing.T, conn *pgx.Conn, sql string) string {
	t.Helper()
	var s string
	if err := conn.QueryRow(context.Background(), sql).Scan(&s); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return s
}

// assertGone checks that the postmaster and every process of its data
// directory have exited.
func assertGone(t *testing.T, pid int, dataDir string) {
	t.Helper()
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("postmaster %d still exists after Stop (kill 0: %v)", pid, err)
	}
	if procs, ok := clusterProcesses(dataDir); ok && len(procs) > 0 {
		t.Errorf("processes %v still run in %s after Stop", procs, dataDir)
	}
}

func TestStartStop(t *testing.T) {
	t.Parallel()
	requireBinaries(t)
	dir := clusterDir(t)
	var log strings.Builder
	var logMu sync.Mutex
	c := start(t, Options{
		Dir:       dir,
		LogWriter: writerFunc(func(p []byte) (int, error) { logMu.Lock(); defer logMu.Unlock(); return log.Write(p) }),
		Settings:  map[string]string{"work_mem": "7MB", "max_connections": "50"},
	})

	if c.SocketDir() != dir || c.DataDir() != filepath.Join(dir, "data") || c.Port() != SocketPort {
		t.Errorf("SocketDir %s, DataDir %s, Port %d", c.SocketDir(), c.DataDir(), c.Port())
	}
	conn := connect(t, c.AdminURL("postgres"))
	for sql, want := range map[string]string{
		`SELECT current_user`: "postgres",
		`SELECT rolsuper::text FROM pg_roles WHERE rolname = current_user`: "true",
		`SHOW server_encoding`:    "UTF8",
		`SHOW lc_collate`:         "C.UTF-8",
		`SHOW fsync`:              "off",
		`SHOW synchronous_commit`: "off",
		`SHOW full_page_writes`:   "off",
		`SHOW listen_addresses`:   "",
		`SHOW work_mem`:           "7MB",
		`SHOW max_connections`:    "50", // Settings override the defaults
		`SELECT coalesce(inet_server_addr()::text, 'unix')`: "unix",
	} {
		if got := queryString(t, conn, sql); got != want {
			t.Errorf("%s = %q, want %q", sql, got, want)
		}
	}
	conn.Close(context.Background())

	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("cluster directory mode: %v %v", fi.Mode(), err)
	}
	pid := c.PID()
	if err := c.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	select {
	case <-c.Done():
	default:
		t.Fatal("Done not closed after Stop")
	}
	assertGone(t, pid, c.DataDir())
	if err := c.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	logMu.Lock()
	defer logMu.Unlock()
	if !strings.Contains(log.String(), "database system is shut down") {
		t.Errorf("LogWriter did not receive the shutdown message:\n%s", log.String())
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func TestRestartReusesData(t *testing.T) {
	t.Parallel()
	requireBinaries(t)
	dir := clusterDir(t)
	ctx := context.Background()

	c := start(t, Options{Dir: dir})
	conn := connect(t, c.AdminURL("postgres"))
	if _, err := conn.Exec(ctx, `CREATE TABLE kept (v int); INSERT INTO kept VALUES (42)`); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(c.DataDir(), "postmaster.pid")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("postmaster.pid after a clean stop: %v", err)
	}

	c2 := start(t, Options{Dir: dir})
	conn2 := connect(t, c2.AdminURL("postgres"))
	if got := queryString(t, conn2, `SELECT v::text FROM kept`); got != "42" {
		t.Errorf("kept = %s after restart, want 42", got)
	}
}

func TestAlreadyRunning(t *testing.T) {
	t.Parallel()
	requireBinaries(t)
	dir := clusterDir(t)
	c := start(t, Options{Dir: dir})
	_, err := Start(context.Background(), Options{Dir: dir})
	if err == nil || !strings.Contains(err.Error(), "already running") {
		t.Fatalf("second Start on a running directory = %v, want an 'already running' error", err)
	}
	// The failed attempt must not have disturbed the running server.
	connect(t, c.AdminURL("postgres"))
}

func TestConcurrentStop(t *testing.T) {
	t.Parallel()
	requireBinaries(t)
	c := start(t, Options{}) // temporary directory
	dir := c.SocketDir()
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() { errs[i] = c.Stop() })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Stop %d: %v", i, err)
		}
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temporary cluster directory %s not removed: %v", dir, err)
	}
}

func TestTCP(t *testing.T) {
	t.Parallel()
	requireBinaries(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()

	c := start(t, Options{Dir: clusterDir(t), Port: port})
	if c.Port() != port {
		t.Errorf("Port() = %d, want %d", c.Port(), port)
	}
	conn := connect(t, fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port))
	if got := queryString(t, conn, `SELECT inet_server_addr()::text`); got != "127.0.0.1/32" {
		t.Errorf("server address %s", got)
	}
	connect(t, c.AdminURL("postgres")) // the socket still works
}

func TestStartFailureReportsLog(t *testing.T) {
	t.Parallel()
	requireBinaries(t)
	dir := clusterDir(t)
	_, err := Start(context.Background(), Options{Dir: dir, Settings: map[string]string{"shared_buffers": "lots"}})
	if err == nil {
		t.Fatal("Start with an invalid setting succeeded")
	}
	if !strings.Contains(err.Error(), "exited during start-up") || !strings.Contains(err.Error(), `"shared_buffers"`) {
		t.Errorf("error does not carry the server log:\n%v", err)
	}
	if procs, ok := clusterProcesses(filepath.Join(dir, "data")); ok && len(procs) > 0 {
		t.Errorf("processes %v left after a failed start", procs)
	}
}

func TestOptionErrors(t *testing.T) {
	t.Parallel()
	for name, opts := range map[string]Options{
		"port":        {Port: -1},
		"setting":     {Settings: map[string]string{"a=b": "c"}},
		"long socket": {Dir: "/tmp/" + strings.Repeat("d", 100)},
		"comma":       {Dir: "/tmp/a,b"},
	} {
		t.Run(name, func(t *testing.T) {
			if name == "long socket" || name == "comma" {
				requireBinaries(t)
			}
			if _, err := Start(context.Background(), opts); err == nil {
				t.Errorf("Start(%+v) succeeded", opts)
			}
		})
	}
}

// TestUnreachableParent puts the cluster under a directory the postgres
// user cannot enter, as t.TempDir() is when tests run as root.
func TestUnreachableParent(t *testing.T) {
	t.Parallel()
	requireBinaries(t)
	if os.Geteuid() != 0 {
		t.Skip("only root runs the server as another user")
	}
	parent := t.TempDir()
	if err := os.Chmod(parent, 0o700); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(parent, "a", "c")
	if err := Reachable(dir); !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), "cannot enter "+parent+" ") {
		t.Errorf("Reachable(%s) = %v, want ErrUnreachable naming %s", dir, err, parent)
	}
	_, err := Start(context.Background(), Options{Dir: dir})
	if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), "cannot enter "+parent+" ") {
		t.Fatalf("Start under an unreachable parent = %v, want an error naming %s", err, parent)
	}
	if _, err := os.Stat(filepath.Join(parent, "a")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Start created directories before refusing: %v", err)
	}
	if err := Reachable("/tmp/pgcluster-not-yet/pg"); err != nil {
		t.Errorf("Reachable of a directory to be made under /tmp: %v", err)
	}
}

// TestRefusesForeignDir checks that a non-empty directory of another user
// is not chowned (think Dir: "/tmp").
func TestRefusesForeignDir(t *testing.T) {
	t.Parallel()
	requireBinaries(t)
	if os.Geteuid() != 0 {
		t.Skip("only root can hand directories to another user")
	}
	dir := clusterDir(t)
	if err := os.WriteFile(filepath.Join(dir, "precious"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Start(context.Background(), Options{Dir: dir})
	if err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Fatalf("Start on a non-empty root directory = %v, want a refusal", err)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(dir, &st); err != nil || st.Uid != 0 {
		t.Errorf("directory owner changed to %d (%v)", st.Uid, err)
	}
}
