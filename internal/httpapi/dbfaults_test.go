package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/parkhq/park/internal/dbpool"
	"github.com/parkhq/park/internal/pgtest"
	"github.com/parkhq/park/tenancy"
)

// TestProblemTableDatabaseFaults: what a database that is down, restarting,
// saturated or slow makes the driver return is answered 503 with
// Retry-After, whether a store translated the error (InterpretError) or it
// reached the handler as the driver made it. The errors are real where the
// database can be made to produce them cheaply.
func TestProblemTableDatabaseFaults(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	faults := map[string]error{}

	// Connection refused: nothing listens on the socket.
	_, faults["connection refused"] = pgx.Connect(ctx, "postgres://park_server@/park?host=/nonexistent-park-socket&connect_timeout=2")

	// A connection pgx has closed.
	closed, err := pgx.Connect(ctx, db.ServerURL)
	if err != nil {
		t.Fatal(err)
	}
	closed.Close(ctx)
	_, faults["conn closed"] = closed.Exec(ctx, "select 1")

	// statement_timeout (57014).
	conn, err := pgx.Connect(ctx, db.AdminURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "set statement_timeout = '50ms'"); err != nil {
		t.Fatal(err)
	}
	_, faults["statement timeout"] = conn.Exec(ctx, "select pg_sleep(5)")

	// A session ended by the server (57P01, as in a fast shutdown), then
	// the broken connection it leaves.
	victim, err := pgx.Connect(ctx, db.AdminURL)
	if err != nil {
		t.Fatal(err)
	}
	defer victim.Close(ctx)
	if _, err := conn.Exec(ctx, "select pg_terminate_backend($1)", victim.PgConn().PID()); err != nil {
		t.Fatal(err)
	}
	_, faults["terminated session"] = victim.Exec(ctx, "select 1")
	_, faults["after the terminated session"] = victim.Exec(ctx, "select 1")

	// A saturated pool: its one connection is taken, and the request's
	// deadline passes while it waits for one.
	pool, err := dbpool.Open(ctx, db.ServerURL+"&pool_max_conns=1", dbpool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	held, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	actx, acancel := context.WithTimeout(ctx, 50*time.Millisecond)
	_, faults["pool acquire timeout"] = pool.Exec(actx, "select 1")
	acancel()
	held.Release()

	// What the server says when it cannot take work; the test cannot make
	// it cheaply, the driver hands it over as it came.
	for code, name := range map[string]string{
		"57P03": "starting up", "53300": "too many connections", "08006": "connection failure", "57P02": "crash shutdown",
	} {
		faults[name] = &pgconn.PgError{Severity: "FATAL", Code: code, Message: name}
	}

	for name, fault := range faults {
		if fault == nil {
			t.Fatalf("%s: no error", name)
		}
		for _, form := range []struct {
			how string
			err error
		}{
			{"raw", fmt.Errorf("list sites: %w", fault)},
			{"translated", tenancy.InterpretError(fmt.Errorf("list sites: %w", fault))},
		} {
			t.Run(name+"/"+form.how, func(t *testing.T) {
				f := newFixture(t, Deps{}, errRoute(form.err))
				w := f.do(t, "GET", "/x", nil)
				if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" {
					t.Fatalf("%v: %d Retry-After %q, want 503 with Retry-After\n%s", form.err, w.Code, w.Header().Get("Retry-After"), w.Body)
				}
				p := problemOf(t, w)
				if p["type"] != ProblemTypeBase+"unavailable" && p["type"] != ProblemTypeBase+"timeout" {
					t.Fatalf("type %v", p["type"])
				}
			})
		}
	}
}

// TestRequestTimeoutBoundsSlowDatabase: a request whose query waits on a
// lock another session holds gives up at Deps.RequestTimeout with a 503
// and Retry-After instead of hanging, its statement is cancelled in the
// database, and the same route answers again once the lock is gone.
func TestRequestTimeoutBoundsSlowDatabase(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	admin := db.AdminPool(t)
	if _, err := admin.Exec(ctx, "create table locked (id int primary key, n int); insert into locked values (1, 0)"); err != nil {
		t.Fatal(err)
	}
	pool, err := dbpool.Open(ctx, db.AdminURL, dbpool.Options{AppName: "park-timeout-test"})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	route := func(s *server) []Route {
		return []Route{{Method: "POST", Pattern: "/bump", Access: AccessPublic, Handler: s.handle(func(w http.ResponseWriter, r *http.Request) error {
			if _, err := pool.Exec(r.Context(), "update locked set n = n + 1 where id = 1"); err != nil {
				return tenancy.InterpretError(err)
			}
			w.WriteHeader(http.StatusNoContent)
			return nil
		})}}
	}
	f := newFixture(t, Deps{RequestTimeout: 300 * time.Millisecond}, route)

	// The lock holder: a transaction that keeps the row.
	holder, err := admin.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Rollback(ctx)
	if _, err := holder.Exec(ctx, "select * from locked where id = 1 for update"); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		start := time.Now()
		w := f.do(t, "POST", "/bump", nil)
		if took := time.Since(start); took > 5*time.Second {
			t.Fatalf("the request took %v with a 300ms timeout", took)
		}
		if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" {
			t.Fatalf("behind the lock: %d Retry-After %q %s", w.Code, w.Header().Get("Retry-After"), w.Body)
		}
	}
	waiting := func() int {
		var n int
		if err := admin.QueryRow(ctx, `select count(*) from pg_stat_activity
			where application_name = 'park-timeout-test' and wait_event_type = 'Lock'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	deadline := time.Now().Add(10 * time.Second)
	for waiting() > 0 {
		if time.Now().After(deadline) {
			t.Fatal("the timed-out updates still wait for the lock in the database")
		}
		time.Sleep(20 * time.Millisecond)
	}

	if err := holder.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if w := f.do(t, "POST", "/bump", nil); w.Code != http.StatusNoContent {
		t.Fatalf("after the lock holder ended: %d %s", w.Code, w.Body)
	}
	var n int
	if err := admin.QueryRow(ctx, "select n from locked").Scan(&n); err != nil || n != 1 {
		t.Fatalf("n = %d (%v): want only the last update applied", n, err)
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatal("the test ran out of time")
	}
}
