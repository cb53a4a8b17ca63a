package reservation_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/parkhq/park/internal/pgtest"
	"github.com/parkhq/park/reservation"
	"github.com/parkhq/park/tenancy"
)

// show formats an answer for a failure message.
func show(a *reservation.Answer) string {
	if a == nil {
		return "no answer"
	}
	return fmt.Sprintf("%d %s (replayed %v)", a.Status, a.Body, a.Replayed)
}

// waitingOn polls until a park_server backend other than those in skip is
// waiting for a lock held by holder, and returns its pid.
func waitingOn(t *testing.T, b *bundle, holder int32, skip ...int32) int32 {
	t.Helper()
	ctx := testCtx(t)
	skip = append([]int32{}, skip...) // never a NULL array
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		var pid int32
		err := b.admin.QueryRow(ctx, `select pid from pg_stat_activity
			 where datname = current_database() and usename = 'park_server' and wait_event_type = 'Lock'
			   and $1::int = any (pg_blocking_pids(pid)) and pid <> all ($2::int[])
			 limit 1`, holder, skip).Scan(&pid)
		if err == nil {
			return pid
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no booking waits for backend %d", holder)
	return 0
}

// TestKeyClaimedBeforeSpaceLock: a keyed booking claims its key before it
// locks the space (DESIGN §7), and a duplicate in flight waits for the
// first request — on the key, not on the space — and gets its answer.
// The space's row is held by another transaction, so the first request
// stops at the space lock: by then it must already hold the key, and the
// duplicate must be waiting for it.
func TestKeyClaimedBeforeSpaceLock(t *testing.T) {
	t.Parallel()
	keyClaimedBeforeSpaceLock(t, newBundle(t, 4))
}

// TestKeyClaimedBeforeSpaceLockThroughPgBouncer: the same through
// PgBouncer's transaction mode (pgx exec mode).
func TestKeyClaimedBeforeSpaceLockThroughPgBouncer(t *testing.T) {
	t.Parallel()
	keyClaimedBeforeSpaceLock(t, newBouncedBundle(t))
}

func keyClaimedBeforeSpaceLock(t *testing.T, b *bundle) {
	ctx := testCtx(t)
	tenant, user := b.tenant(t), uuid.New()
	space := b.space(t, tenant)
	start, end := b.slot(1, 1)

	holder, err := b.admin.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Rollback(ctx)
	var holderPID int32
	if err := holder.QueryRow(ctx, `select pg_backend_pid() from spaces where id = $1 for update`, space).Scan(&holderPID); err != nil {
		t.Fatal(err)
	}

	type result struct {
		ans *reservation.Answer
		err error
	}
	book := func(ch chan<- result) {
		p := params(tenant, user, space, start, end)
		p.IdempotencyKey = "in-flight"
		ans, err := b.store.CreateIdempotent(ctx, p, render)
		ch <- result{ans, err}
	}
	first, second := make(chan result, 1), make(chan result, 1)
	go book(first)
	firstPID := waitingOn(t, b, holderPID)
	// Waiting for the space, the first request already holds its key.
	var keyLocked bool
	if err := b.admin.QueryRow(ctx, `select exists (select 1 from pg_locks l join pg_class c on c.oid = l.relation
		 where l.pid = $1 and l.granted and c.relname = 'idempotency_keys' and l.mode = 'RowExclusiveLock')`,
		firstPID).Scan(&keyLocked); err != nil {
		t.Fatal(err)
	}
	if !keyLocked {
		t.Fatal("the booking waits for the space without having claimed its key first")
	}
	go book(second)
	// The duplicate waits for the first request (its key), and for
	// nobody else: not for the space's holder.
	secondPID := waitingOn(t, b, firstPID, firstPID)
	var blockers []int32
	if err := b.admin.QueryRow(ctx, `select pg_blocking_pids($1)`, secondPID).Scan(&blockers); err != nil {
		t.Fatal(err)
	}
	if len(blockers) != 1 || blockers[0] != firstPID {
		t.Fatalf("the duplicate waits for %v, want only the first request (%d)", blockers, firstPID)
	}
	if err := holder.Commit(ctx); err != nil {
		t.Fatal(err)
	}

	a, d := <-first, <-second
	if a.err != nil || a.ans.Status != http.StatusCreated || a.ans.Replayed {
		t.Fatalf("first: %s, %v", show(a.ans), a.err)
	}
	if d.err != nil || !d.ans.Replayed || d.ans.Status != http.StatusCreated || !bytes.Equal(d.ans.Body, a.ans.Body) {
		t.Fatalf("duplicate: %s, %v; want a replay of %s", show(d.ans), d.err, a.ans.Body)
	}
	if n := b.count(t, `select count(*) from reservations`); n != 1 {
		t.Fatalf("%d reservations, want 1", n)
	}
}

// TestRefusalInFlight: a refusal's answer (404, 409) is rendered between
// the two round trips and stored in the transaction that claimed the key:
// while it is rendered the key is nobody else's to see, a duplicate waits
// for it, and then gets that answer — never the success answer the key was
// claimed with. Through PgBouncer as well.
func TestRefusalInFlight(t *testing.T) {
	t.Parallel()
	for name, b := range map[string]*bundle{"direct": newBundle(t, 4), "pgbouncer": newBouncedBundle(t)} {
		t.Run(name, func(t *testing.T) { refusalInFlight(t, b) })
	}
}

func refusalInFlight(t *testing.T, b *bundle) {
	ctx := testCtx(t)
	tenant, user := b.tenant(t), uuid.New()
	space := b.space(t, tenant)
	start, end := b.slot(1, 1)
	blocker, err := b.store.Create(ctx, params(tenant, user, space, start, end))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		key    string
		space  uuid.UUID
		status int
	}{
		{"refused-404", uuid.New(), http.StatusNotFound},
		{"refused-409", space, http.StatusConflict},
	} {
		p := params(tenant, user, tc.space, start, end)
		p.IdempotencyKey = tc.key
		inRender, release := make(chan struct{}), make(chan struct{})
		var released sync.Once
		// A failing test still lets the first request finish.
		defer released.Do(func() { close(release) })
		var rendered atomic.Int32
		slow := func(res *reservation.Reservation, err error) (int, []byte, error) {
			if err != nil && rendered.Add(1) == 1 {
				close(inRender)
				<-release
			}
			return render(res, err)
		}
		type result struct {
			ans *reservation.Answer
			err error
		}
		first, second := make(chan result, 1), make(chan result, 1)
		go func() {
			ans, err := b.store.CreateIdempotent(ctx, p, slow)
			first <- result{ans, err}
		}()
		<-inRender
		// Between the trips: claimed, not committed.
		if n := b.count(t, `select count(*) from idempotency_keys where key = $1`, tc.key); n != 0 {
			t.Fatalf("%s: the key is visible before its transaction committed", tc.key)
		}
		var firstPID int32
		if err := b.admin.QueryRow(ctx, `select l.pid from pg_locks l join pg_class c on c.oid = l.relation
			 where l.database = (select oid from pg_database where datname = current_database())
			   and c.relname = 'idempotency_keys' and l.mode = 'RowExclusiveLock' and l.granted`).Scan(&firstPID); err != nil {
			t.Fatalf("%s: the refused booking holds no key: %v", tc.key, err)
		}
		go func() {
			ans, err := b.store.CreateIdempotent(ctx, p, render)
			second <- result{ans, err}
		}()
		waitingOn(t, b, firstPID)
		released.Do(func() { close(release) })

		a, d := <-first, <-second
		if a.err != nil || a.ans.Status != tc.status || a.ans.Replayed || a.ans.Reservation != nil {
			t.Fatalf("%s: first %s, %v", tc.key, show(a.ans), a.err)
		}
		if d.err != nil || !d.ans.Replayed || d.ans.Status != tc.status || !bytes.Equal(d.ans.Body, a.ans.Body) {
			t.Fatalf("%s: duplicate %s, %v; want a replay of %d %s", tc.key, show(d.ans), d.err, tc.status, a.ans.Body)
		}
		if tc.status == http.StatusConflict && !bytes.Contains(a.ans.Body, []byte(blocker.ID.String())) {
			t.Fatalf("%s: the 409 does not name %s: %s", tc.key, blocker.ID, a.ans.Body)
		}
		var stored int
		if err := b.admin.QueryRow(ctx, `select status_code from idempotency_keys where key = $1`, tc.key).Scan(&stored); err != nil || stored != tc.status {
			t.Fatalf("%s: stored status %d, %v; want %d", tc.key, stored, err, tc.status)
		}
	}
	if n := b.count(t, `select count(*) from reservations`); n != 1 {
		t.Fatalf("%d reservations, want the blocker alone", n)
	}
}

// crashConn fails the first write of a round trip after armed trips have
// completed on it, after cancelling the request's context: the client dies
// between the booking's two round trips.
type crashConn struct {
	net.Conn
	c *crashCounter
}

type crashCounter struct {
	pgtest.TripCounter
	// at is the trip count at which the next write crashes; 0 is never.
	at     atomic.Int64
	cancel atomic.Pointer[context.CancelFunc]
}

func (c *crashConn) Write(p []byte) (int, error) {
	if at := c.c.at.Load(); at != 0 && c.c.Trips() == at {
		if f := c.c.cancel.Load(); f != nil {
			(*f)()
		}
		_ = c.Conn.Close()
		return 0, errors.New("client crashed")
	}
	return c.Conn.Write(p)
}

// TestCrashBetweenTripsLeavesNoKey: a booking whose client dies after the
// first round trip (key claimed, space locked, reservation inserted) and
// before the second (COMMIT) leaves nothing: no key, no reservation, and
// the same key books afresh. So does one whose context is cancelled while
// its refusal is rendered.
func TestCrashBetweenTripsLeavesNoKey(t *testing.T) {
	t.Parallel()
	b := newBundle(t, 2)
	tenant, user := b.tenant(t), uuid.New()
	space := b.space(t, tenant)
	start, end := b.slot(1, 1)

	var c crashCounter
	pool := b.db.OneConnPool(t, pgx.QueryExecModeCacheStatement, func(ctx context.Context, network, addr string) (net.Conn, error) {
		var d net.Dialer
		conn, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		// Counted inside, so the crash sees the trips completed.
		return &crashConn{Conn: c.Wrap(conn), c: &c}, nil
	})
	crashing := reservation.NewStore(tenancy.NewStore(pool), reservation.Options{Now: b.clock.Now})

	// Warm the connection and its statements, so that the booking below
	// is exactly two round trips on it.
	warm := params(tenant, user, space, end, end.Add(time.Hour))
	warm.IdempotencyKey = "warm"
	if ans, err := crashing.CreateIdempotent(testCtx(t), warm, render); err != nil || ans.Status != http.StatusCreated {
		t.Fatalf("warm-up: %s, %v", show(ans), err)
	}

	ctx, cancel := context.WithCancel(testCtx(t))
	c.cancel.Store(&cancel)
	c.at.Store(c.Trips() + 1)
	p := params(tenant, user, space, start, end)
	p.IdempotencyKey = "crash"
	if ans, err := crashing.CreateIdempotent(ctx, p, render); err == nil {
		t.Fatalf("the booking survived its client's crash: %s", show(ans))
	}
	if c.Trips() != c.at.Load() {
		t.Fatalf("crashed after %d round trips, want %d", c.Trips(), c.at.Load())
	}
	// The same request again, on another connection: it waits for the
	// dead transaction to be rolled back, then books afresh.
	ans, err := b.store.CreateIdempotent(testCtx(t), p, render)
	if err != nil || ans.Replayed || ans.Status != http.StatusCreated {
		t.Fatalf("after the crash: %s, %v; want a new booking", show(ans), err)
	}
	if n := b.count(t, `select count(*) from reservations where request_id = 'crash'`); n != 1 {
		t.Fatalf("%d reservations with the key, want 1", n)
	}

	// A refusal cancelled while its answer is rendered.
	gone := params(tenant, user, uuid.New(), start, end)
	gone.IdempotencyKey = "cancelled-404"
	rctx, rcancel := context.WithCancel(testCtx(t))
	_, err = b.store.CreateIdempotent(rctx, gone, func(res *reservation.Reservation, err error) (int, []byte, error) {
		if err != nil {
			rcancel()
		}
		return render(res, err)
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled refusal: %v", err)
	}
	if n := b.count(t, `select count(*) from idempotency_keys where key = 'cancelled-404'`); n != 0 {
		t.Fatal("a cancelled refusal left its key")
	}
	ans, err = b.store.CreateIdempotent(testCtx(t), gone, render)
	if err != nil || ans.Replayed || ans.Status != http.StatusNotFound {
		t.Fatalf("after the cancelled refusal: %s, %v; want a new 404", show(ans), err)
	}
}
