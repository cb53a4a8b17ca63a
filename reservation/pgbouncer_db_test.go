package reservation_test

import (
	"testing"
	"time"

	"github.com/parkhq/park/internal/pgbouncertest"
	"github.com/parkhq/park/internal/pgtest"
	"github.com/parkhq/park/reservation"
	"github.com/parkhq/park/tenancy"
)

// newBouncedBundle is newBundle with the stores on a park_server pool of
// serverConns clients through PgBouncer's Wide entry (transaction mode,
// pgx exec mode): the clients share WidePoolSize server connections, enough
// for bookings to race on the server rather than queue in the pool.
func newBouncedBundle(t *testing.T) *bundle {
	t.Helper()
	db := pgtest.NewDB(t)
	bouncer := pgbouncertest.New(t, db)
	c := &clock{now: time.Now()}
	ts := tenancy.NewStore(bouncer.ServerPool(t, pgbouncertest.Wide, serverConns))
	return &bundle{db: db, admin: db.AdminPool(t), tenancy: ts, clock: c,
		store: reservation.NewStore(ts, reservation.Options{Now: c.Now})}
}

// TestConcurrentOverlapsThroughPgBouncer: 200 overlapping bookings through
// PgBouncer, exactly one confirmed (TestConcurrentOverlaps).
func TestConcurrentOverlapsThroughPgBouncer(t *testing.T) {
	t.Parallel()
	b := newBouncedBundle(t)
	concurrentOverlaps(t, b)
	raced(t, b)
}

// TestConcurrentSameKeyThroughPgBouncer: 100 requests with one idempotency
// key through PgBouncer, one reservation and 99 replays
// (TestConcurrentSameKey).
func TestConcurrentSameKeyThroughPgBouncer(t *testing.T) {
	t.Parallel()
	b := newBouncedBundle(t)
	concurrentSameKey(t, b)
	raced(t, b)
}

// raced checks that the bookings ran on more than one server connection:
// PgBouncer keeps the connections it opened, so the server still has them.
// One would mean the race was serialised and proved nothing.
func raced(t *testing.T, b *bundle) {
	t.Helper()
	n := b.count(t, `select count(*) from pg_stat_activity where datname = $1 and usename = 'park_server'`, b.db.Name)
	if n < 2 || n > pgbouncertest.WidePoolSize {
		t.Errorf("the bookings ran on %d server connections, want 2 to %d", n, pgbouncertest.WidePoolSize)
	}
	t.Logf("%d server connections", n)
}
