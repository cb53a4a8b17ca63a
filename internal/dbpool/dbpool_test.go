package dbpool_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parkhq/park/internal/dbpool"
	"github.com/parkhq/park/internal/pgbouncertest"
	"github.com/parkhq/park/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func open(t *testing.T, u string, opts dbpool.Options) *pgxpool.Pool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pool, err := dbpool.Open(ctx, u, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

func withParam(t *testing.T, raw, key, value string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set(key, value)
	u.RawQuery = q.Encode()
	return u.String()
}

// TestOpenDirect: connected straight to PostgreSQL the pool keeps pgx's
// statement cache, names itself, and bounds connecting; the URL's own
// settings win.
func TestOpenDirect(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	var logs bytes.Buffer
	pool := open(t, db.ServerURL, dbpool.Options{AppName: "park-test", Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	cc := pool.Config().ConnConfig
	if cc.DefaultQueryExecMode != pgx.QueryExecModeCacheStatement {
		t.Errorf("direct connection: mode %v, want the statement cache", cc.DefaultQueryExecMode)
	}
	if cc.ConnectTimeout != dbpool.DefaultConnectTimeout {
		t.Errorf("connect timeout %v, want %v", cc.ConnectTimeout, dbpool.DefaultConnectTimeout)
	}
	var app string
	if err := pool.QueryRow(context.Background(), "select current_setting('application_name')").Scan(&app); err != nil || app != "park-test" {
		t.Errorf("application_name %q (%v)", app, err)
	}
	if logs.Len() != 0 {
		t.Errorf("a direct connection logged: %s", logs.String())
	}

	u := withParam(t, withParam(t, db.ServerURL, "application_name", "mine"), "connect_timeout", "9")
	pool = open(t, u, dbpool.Options{AppName: "park-test", ConnectTimeout: time.Second})
	if got := pool.Config().ConnConfig.ConnectTimeout; got != 9*time.Second {
		t.Errorf("connect_timeout in the URL gave %v", got)
	}
	if err := pool.QueryRow(context.Background(), "select current_setting('application_name')").Scan(&app); err != nil || app != "mine" {
		t.Errorf("application_name %q (%v), want the URL's", app, err)
	}
}

// TestOpenBehindPgBouncer: a URL to PgBouncer that does not ask for exec
// mode still gets it, because Open notices the pooler. In pgx's default
// mode two clients of the one server connection of the single entry would
// prepare the same statement name on it, and the second would fail.
func TestOpenBehindPgBouncer(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	b := pgbouncertest.New(t, db)
	u := withParam(t, b.URL(pgbouncertest.Single, "park_server"), "default_query_exec_mode", "cache_statement")
	var logs bytes.Buffer
	pool := open(t, u, dbpool.Options{AppName: "park-test", Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if got := pool.Config().ConnConfig.DefaultQueryExecMode; got != pgx.QueryExecModeExec {
		t.Errorf("behind PgBouncer: mode %v, want exec", got)
	}
	if !strings.Contains(logs.String(), "connection pooler") {
		t.Errorf("no log line about the pooler: %q", logs.String())
	}

	ctx := context.Background()
	var conns []*pgxpool.Conn
	for range 3 {
		c, err := pool.Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		defer c.Release() // before the cleanup's Close, which waits for them
	}
	for round := range 2 {
		for i, c := range conns {
			var n int
			if err := c.QueryRow(ctx, "select $1::int + 1", i).Scan(&n); err != nil || n != i+1 {
				t.Fatalf("round %d, client %d: %d, %v", round, i, n, err)
			}
		}
	}

	// A mode the URL asks for is kept.
	pool = open(t, b.URL(pgbouncertest.Single, "park_server"), dbpool.Options{})
	if got := pool.Config().ConnConfig.DefaultQueryExecMode; got != pgx.QueryExecModeExec {
		t.Errorf("exec mode from the URL: %v", got)
	}
	pool = open(t, withParam(t, u, "default_query_exec_mode", "simple_protocol"), dbpool.Options{})
	if got := pool.Config().ConnConfig.DefaultQueryExecMode; got != pgx.QueryExecModeSimpleProtocol {
		t.Errorf("simple protocol from the URL became %v", got)
	}
}

// TestOpenErrors: a URL that does not parse is reported without quoting
// it (it may hold a password), and an unreachable database at Open.
func TestOpenErrors(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := dbpool.Open(ctx, "postgres://u:s3cret-pw@host:notaport/db", dbpool.Options{})
	if !errors.Is(err, dbpool.ErrInvalidURL) || strings.Contains(err.Error(), "s3cret-pw") {
		t.Errorf("bad URL: %v", err)
	}
	_, err = dbpool.Open(ctx, "postgres://u:s3cret-pw@/park?host=/nonexistent-socket-dir", dbpool.Options{})
	if err == nil || !strings.Contains(err.Error(), "connect to database") || strings.Contains(err.Error(), "s3cret-pw") {
		t.Errorf("unreachable database: %v", err)
	}
}

// TestOpenCancelsAbandonedQuery: a query whose context ends stops in
// PostgreSQL too, not only in the client: a request that gave up on a slow
// database leaves nothing running there.
func TestOpenCancelsAbandonedQuery(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	pool := open(t, withParam(t, db.AdminURL, "pool_max_conns", "1"), dbpool.Options{AppName: "park-cancel-test"})
	admin := db.AdminPool(t)

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := pool.Exec(ctx, "select pg_sleep(60)")
	if err == nil {
		t.Fatal("pg_sleep(60) returned without error under a 300ms deadline")
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("the abandoned query returned after %v", d)
	}
	sleeping := func() int {
		var n int
		if err := admin.QueryRow(context.Background(), `select count(*) from pg_stat_activity
			where application_name = 'park-cancel-test' and state = 'active' and query like '%pg_sleep%'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	deadline := time.Now().Add(10 * time.Second)
	for sleeping() > 0 {
		if time.Now().After(deadline) {
			t.Fatal("the backend still runs pg_sleep 10s after its client gave up")
		}
		time.Sleep(20 * time.Millisecond)
	}
	var one int
	if err := pool.QueryRow(context.Background(), "select 1").Scan(&one); err != nil {
		t.Fatalf("the pool after a cancelled query: %v", err)
	}
}
