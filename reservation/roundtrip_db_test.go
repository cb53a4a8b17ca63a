package reservation_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parkhq/park/internal/pgtest"
	"github.com/parkhq/park/reservation"
	"github.com/parkhq/park/tenancy"
)

// countingPool is a one-connection park_server pool whose round trips c
// counts. It never pings or health-checks on its own, so every round trip
// is a store's.
func countingPool(t *testing.T, b *bundle, mode pgx.QueryExecMode, c *pgtest.TripCounter) *pgxpool.Pool {
	t.Helper()
	return b.db.OneConnPool(t, mode, c.Dial)
}

// TestRoundTrips: a booking takes at most two network round trips whatever
// its outcome (DESIGN §7): one with an idempotency key is BEGIN, the
// prologue and book_reservation_keyed, then COMMIT (after the refusal's
// answer, for a 404 or a 409); one without is a single round trip. Both statement modes are counted: the
// default (statements prepared and cached per connection, so counted after
// one booking of each kind has warmed the cache) and exec mode, which
// PgBouncer's transaction mode needs.
func TestRoundTrips(t *testing.T) {
	t.Parallel()
	b := newBundle(t, 1)
	ctx := testCtx(t)
	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeCacheStatement, pgx.QueryExecModeExec} {
		t.Run(mode.String(), func(t *testing.T) {
			var c pgtest.TripCounter
			store := reservation.NewStore(tenancy.NewStore(countingPool(t, b, mode, &c)), reservation.Options{Now: b.clock.Now})
			tenant, user := b.tenant(t), uuid.New()
			space := b.space(t, tenant)
			// The closed room: its space was deleted.
			gone := b.space(t, tenant)
			if _, err := b.admin.Exec(ctx, `update spaces set deleted_at = now() where id = $1`, gone); err != nil {
				t.Fatal(err)
			}

			type booking struct {
				name   string
				params func(round int) *reservation.CreateParams
				keyed  bool
				status int // of a keyed booking
				trips  int64
			}
			slot := func(round, hour int) (time.Time, time.Time) { return b.slot(1+10*round+hour, 1) }
			bookings := []booking{
				{"keyed, created", func(round int) *reservation.CreateParams {
					start, end := slot(round, 0)
					p := params(tenant, user, space, start, end)
					p.IdempotencyKey = "new-" + mode.String() + string(rune('a'+round))
					return p
				}, true, http.StatusCreated, 2},
				{"keyed, replayed", func(round int) *reservation.CreateParams {
					start, end := slot(round, 0)
					p := params(tenant, user, space, start, end)
					p.IdempotencyKey = "new-" + mode.String() + string(rune('a'+round))
					return p
				}, true, http.StatusCreated, 2},
				{"keyed, conflict", func(round int) *reservation.CreateParams {
					start, end := slot(round, 0)
					p := params(tenant, user, space, start, end)
					p.IdempotencyKey = "conflict-" + mode.String() + string(rune('a'+round))
					return p
				}, true, http.StatusConflict, 2},
				{"keyed, no such space", func(round int) *reservation.CreateParams {
					start, end := slot(round, 0)
					p := params(tenant, user, gone, start, end)
					p.IdempotencyKey = "gone-" + mode.String() + string(rune('a'+round))
					return p
				}, true, http.StatusNotFound, 2},
				{"unkeyed, created", func(round int) *reservation.CreateParams {
					start, end := slot(round, 2)
					return params(tenant, user, space, start, end)
				}, false, 0, 1},
				{"unkeyed, conflict", func(round int) *reservation.CreateParams {
					start, end := slot(round, 2)
					return params(tenant, user, space, start, end)
				}, false, 0, 1},
			}
			// Round 0 warms the statement cache; round 1 is counted.
			for round := range 2 {
				for _, bk := range bookings {
					p := bk.params(round)
					before := c.Trips()
					if bk.keyed {
						ans, err := store.CreateIdempotent(ctx, p, render)
						if err != nil || ans.Status != bk.status {
							t.Fatalf("%s: %+v, %v", bk.name, ans, err)
						}
					} else {
						_, err := store.Create(ctx, p)
						if (err != nil) != (bk.name == "unkeyed, conflict") {
							t.Fatalf("%s: %v", bk.name, err)
						}
					}
					if n := c.Trips() - before; round == 1 && n != bk.trips {
						t.Errorf("%s: %d round trips, want %d", bk.name, n, bk.trips)
					}
				}
			}
		})
	}
}
