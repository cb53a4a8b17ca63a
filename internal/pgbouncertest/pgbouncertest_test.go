package pgbouncertest_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/parkhq/park/internal/bootstrap"
	"github.com/parkhq/park/internal/pgbouncertest"
	"github.com/parkhq/park/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

func backendPID(t *testing.T, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}) int {
	t.Helper()
	var pid int
	if err := q.QueryRow(context.Background(), "select pg_backend_pid()").Scan(&pid); err != nil {
		t.Fatal(err)
	}
	return pid
}

// TestEntries: through Single, separate clients meet the same server
// connection, so a leak between them would show; through Wide, WidePoolSize
// transactions run at once on as many server connections; nothing listens
// on TCP; the URLs are in exec mode.
func TestEntries(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	b := pgbouncertest.New(t, db)

	one := connect(t, b.URL(pgbouncertest.Single, bootstrap.RoleServer))
	two := connect(t, b.URL(pgbouncertest.Single, bootstrap.RoleServer))
	if p1, p2 := backendPID(t, one), backendPID(t, two); p1 != p2 {
		t.Errorf("two clients of Single ran on backends %d and %d, want one", p1, p2)
	}
	if mode := one.Config().DefaultQueryExecMode; mode != pgx.QueryExecModeExec {
		t.Errorf("URL query exec mode %v, want exec", mode)
	}
	var db1 string
	if err := one.QueryRow(context.Background(), "select current_database()").Scan(&db1); err != nil || db1 != db.Name {
		t.Errorf("Single reaches database %q (%v), want %s", db1, err, db.Name)
	}

	ctx := context.Background()
	pids := map[int]bool{}
	for range pgbouncertest.WidePoolSize {
		c := connect(t, b.URL(pgbouncertest.Wide, bootstrap.RoleServer))
		tx, err := c.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx)
		pids[backendPID(t, tx)] = true
	}
	if len(pids) != pgbouncertest.WidePoolSize {
		t.Errorf("%d open transactions through Wide ran on %d backends, want %d", pgbouncertest.WidePoolSize, len(pids), pgbouncertest.WidePoolSize)
	}

	entries, err := os.ReadDir(b.Dir())
	if err != nil {
		t.Fatal(err)
	}
	var sockets []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".s.PGSQL.") && !strings.HasSuffix(e.Name(), ".lock") {
			sockets = append(sockets, e.Name())
		}
	}
	if len(sockets) != 1 {
		t.Errorf("sockets in %s: %v, want one", b.Dir(), sockets)
	}
	// No TCP listener: /proc/net/tcp lists listening sockets of pgbouncer's
	// port when there are any.
	if tcp, err := os.ReadFile("/proc/net/tcp"); err == nil && strings.Contains(strings.ToUpper(string(tcp)), ":4030 00000000:0000 0A") {
		t.Errorf("something listens on TCP port 16432")
	}
}

// TestCloseRemovesDir: Close stops pgbouncer and leaves nothing behind.
func TestCloseRemovesDir(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := pgbouncertest.Start(ctx, db)
	if errors.Is(err, pgbouncertest.ErrNotFound) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(b.Dir()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s after Close: %v", b.Dir(), err)
	}
	if err := b.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestBinary(t *testing.T) {
	t.Setenv(pgbouncertest.BinaryEnv, filepath.Join(t.TempDir(), "missing"))
	if _, err := pgbouncertest.Binary(); !errors.Is(err, pgbouncertest.ErrNotFound) {
		t.Errorf("Binary with a missing %s: %v, want ErrNotFound", pgbouncertest.BinaryEnv, err)
	}
	t.Setenv(pgbouncertest.BinaryEnv, "/etc/passwd")
	if _, err := pgbouncertest.Binary(); !errors.Is(err, pgbouncertest.ErrNotFound) {
		t.Errorf("Binary with a non-executable %s: %v, want ErrNotFound", pgbouncertest.BinaryEnv, err)
	}
}

// TestStopStart: a stopped bouncer refuses connections; started again it
// answers on the same socket, and a pool made before the stop recovers.
func TestStopStart(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	b := pgbouncertest.New(t, db)
	pool := b.ServerPool(t, pgbouncertest.Wide, 2)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := pool.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := b.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	if _, err := pgx.Connect(ctx, b.URL(pgbouncertest.Wide, bootstrap.RoleServer)); err == nil {
		t.Fatal("connected to a stopped bouncer")
	}
	if err := b.Start(ctx); err != nil {
		t.Fatal(err)
	}
	// The pool's connections of before the stop fail once each.
	for {
		var one int
		err := pool.QueryRow(ctx, "select 1").Scan(&one)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("the pool does not recover after Start: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
