package reservation_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parkhq/park/internal/pgtest"
	"github.com/parkhq/park/reservation"
	"github.com/parkhq/park/tenancy"
)

// bundle is one test's database, stores and clock.
type bundle struct {
	db    *pgtest.DB
	admin *pgxpool.Pool
	// tenancy runs as park_server (park_app), like parkd.
	tenancy *tenancy.Store
	store   *reservation.Store
	clock   *clock
}

// clock is a settable clock for key expiry and validation.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// newBundle makes a database and a store on a park_server pool of conns
// connections.
func newBundle(t *testing.T, conns int) *bundle {
	t.Helper()
	db := pgtest.NewDB(t)
	c := &clock{now: time.Now()}
	ts := tenancy.NewStore(db.ServerPool(t, conns))
	return &bundle{db: db, admin: db.AdminPool(t), tenancy: ts, clock: c,
		store: reservation.NewStore(ts, reservation.Options{Now: c.Now})}
}

// opsPool is a pool of park_admin connections (parkctl's login), closed
// when the test ends.
func opsPool(t *testing.T, b *bundle) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(testCtx(t), b.db.OpsURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// tenant inserts a tenant (as the superuser) and returns its id; the slug
// is "t-" and the id's first eight characters.
func (b *bundle) tenant(t *testing.T) uuid.UUID {
	t.Helper()
	id := uuid.New()
	if _, err := b.admin.Exec(testCtx(t), `insert into tenants (id, name, slug) values ($1, $2, $2)`, id, slugOf(id)); err != nil {
		t.Fatal(err)
	}
	return id
}

func slugOf(tenant uuid.UUID) string { return "t-" + tenant.String()[:8] }

// space inserts a site and a space of tenant and returns the space's id.
func (b *bundle) space(t *testing.T, tenant uuid.UUID) uuid.UUID {
	t.Helper()
	site, space := uuid.New(), uuid.New()
	ctx := testCtx(t)
	if _, err := b.admin.Exec(ctx, `insert into sites (tenant_id, id, name, timezone) values ($1, $2, $3, 'UTC')`,
		tenant, site, "Site "+site.String()[:8]); err != nil {
		t.Fatal(err)
	}
	if _, err := b.admin.Exec(ctx, `insert into spaces (tenant_id, id, site_id, code) values ($1, $2, $3, 'A1')`,
		tenant, space, site); err != nil {
		t.Fatal(err)
	}
	return space
}

// slot is a range starting hoursAhead whole hours after the clock's hour.
func (b *bundle) slot(hoursAhead, hours int) (time.Time, time.Time) {
	start := b.clock.Now().UTC().Truncate(time.Hour).Add(time.Duration(hoursAhead) * time.Hour)
	return start, start.Add(time.Duration(hours) * time.Hour)
}

// params are booking inputs by a user principal of tenant.
func params(tenant, principal, space uuid.UUID, start, end time.Time) *reservation.CreateParams {
	return &reservation.CreateParams{TenantID: tenant, PrincipalID: principal, Actor: "user:" + principal.String(),
		CreatedBy: &principal, SpaceID: space, StartsAt: start, EndsAt: end}
}

// render is a stand-in for the HTTP layer's: the reservation as JSON, or
// the refusal as a small problem.
func render(res *reservation.Reservation, err error) (int, []byte, error) {
	if err == nil {
		b, err := json.Marshal(res)
		return http.StatusCreated, b, err
	}
	status := http.StatusNotFound
	var c *reservation.ConflictError
	if errors.As(err, &c) {
		status = http.StatusConflict
	}
	b, jerr := json.Marshal(map[string]any{"status": status, "detail": err.Error()})
	return status, b, jerr
}

// count runs a count(*) query as the superuser.
func (b *bundle) count(t *testing.T, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := b.admin.QueryRow(testCtx(t), sql, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func wantNotFound(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, tenancy.ErrNotFound) {
		t.Fatalf("%s: err = %v, want ErrNotFound", what, err)
	}
	var dbErr *tenancy.DBError
	if errors.As(err, &dbErr) {
		t.Fatalf("%s: not-found error still wraps a *DBError: %v", what, err)
	}
}

func wantFields(t *testing.T, what string, err error, fields ...string) {
	t.Helper()
	var v *tenancy.ValidationError
	if !errors.As(err, &v) {
		t.Fatalf("%s: err = %v, want a *ValidationError", what, err)
	}
	for _, f := range fields {
		if len(v.Fields[f]) == 0 {
			t.Fatalf("%s: no problem with %q: %v", what, f, err)
		}
	}
	if len(v.Fields) != len(fields) {
		t.Fatalf("%s: problems %v, want exactly %v", what, v.Fields, fields)
	}
}
