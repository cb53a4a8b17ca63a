package dashboard

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parkhq/park/ingest"
	"github.com/parkhq/park/internal/pgtest"
	"github.com/parkhq/park/tenancy"
)

// TestMain stops the package's test cluster after the tests.
func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// fixedNow is the clock of the tests that do not run a real parkctl.
var fixedNow = time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)

// world is a seeded database: the ids of what was made, by name.
type world struct {
	db      *pgtest.DB
	admin   *pgxpool.Pool
	now     time.Time
	tenants map[string]uuid.UUID // by slug
	sites   map[string]uuid.UUID // by "slug/site"
	spaces  map[string]uuid.UUID // by "slug/site/code"
}

func newWorld(t testing.TB, now time.Time) *world {
	t.Helper()
	db := pgtest.NewDB(t)
	return &world{db: db, admin: db.AdminPool(t), now: now,
		tenants: map[string]uuid.UUID{}, sites: map[string]uuid.UUID{}, spaces: map[string]uuid.UUID{}}
}

// exec runs sql as the superuser (arranging only: the code under test
// never runs as one).
func (w *world) exec(t testing.TB, sql string, args ...any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := w.admin.Exec(ctx, sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func (w *world) tenant(t testing.TB, slug, status string) uuid.UUID {
	t.Helper()
	id := uuid.New()
	w.exec(t, `insert into tenants (id, name, slug, status) values ($1, $2, $3, $4)`, id, "Tenant "+slug, slug, status)
	w.tenants[slug] = id
	return id
}

func (w *world) site(t testing.TB, slug, name string) uuid.UUID {
	t.Helper()
	id := uuid.New()
	w.exec(t, `insert into sites (tenant_id, id, name, timezone) values ($1, $2, $3, 'UTC')`, w.tenants[slug], id, name)
	w.sites[slug+"/"+name] = id
	return id
}

// space adds a space; sensor "" has none, lastReading nil has never read.
func (w *world) space(t testing.TB, slug, site, code, sensor, state string, lastReading *time.Time) uuid.UUID {
	t.Helper()
	id := uuid.New()
	var eui *string
	if sensor != "" {
		eui = &sensor
	}
	w.exec(t, `insert into spaces (tenant_id, id, site_id, code, sensor_eui, state, state_changed_at, last_reading_at)
		values ($1, $2, $3, $4, $5, $6, $7, $7)`, w.tenants[slug], id, w.sites[slug+"/"+site], code, eui, state, lastReading)
	w.spaces[slug+"/"+site+"/"+code] = id
	return id
}

// readings adds n readings of a space, received at at.
func (w *world) readings(t testing.TB, slug, site, code string, at time.Time, n int) {
	t.Helper()
	w.exec(t, `insert into sensor_readings (tenant_id, space_id, dev_eui, source, msg_key, occupied, read_at, received_at)
		select $1, $2, '70b3d57ed0000000', 'generic', 'k' || g, true, $3, $3 from generate_series(1, $4::integer) g`,
		w.tenants[slug], w.spaces[slug+"/"+site+"/"+code], at, n)
}

func (w *world) orphan(t testing.TB, slug, eui, status string, uplinks int, lastSeen time.Time, occupied bool) {
	t.Helper()
	w.exec(t, `insert into orphan_devices (tenant_id, dev_eui, first_seen_at, last_seen_at, uplink_count, last_source,
			last_payload, last_occupied, last_rssi, last_snr, last_read_at, status)
		values ($1, $2, $3, $4, $5, 'generic', '{"occupied": true}', $6, -97, 7.5, $4, $7)`,
		w.tenants[slug], eui, lastSeen.Add(-48*time.Hour), lastSeen, uplinks, occupied, status)
}

func (w *world) reservation(t testing.TB, slug, site, code string, from, to time.Time, status string) uuid.UUID {
	t.Helper()
	id := uuid.New()
	var cancelled *time.Time
	if status == "cancelled" {
		cancelled = &w.now
	}
	w.exec(t, `insert into reservations (tenant_id, id, space_id, during, status, cancelled_at)
		values ($1, $2, $3, tstzrange($4, $5), $6, $7)`,
		w.tenants[slug], id, w.spaces[slug+"/"+site+"/"+code], from, to, status, cancelled)
	return id
}

func (w *world) apiKey(t testing.TB, slug, name string, created time.Time, expires, revoked, used *time.Time) {
	t.Helper()
	keyID := fmt.Sprintf("k%015x", uuid.New().ID())
	w.exec(t, `insert into api_keys (tenant_id, id, key_id, name, secret_hash, created_at, expires_at, revoked_at, last_used_at)
		values ($1, $2, $3, $4, sha256(convert_to($3::text, 'UTF8')), $5, $6, $7, $8)`,
		w.tenants[slug], uuid.New(), keyID, name, created, expires, revoked, used)
}

func (w *world) secret(t testing.TB, slug, mode string, created time.Time, expires, revoked *time.Time) {
	t.Helper()
	w.exec(t, `insert into webhook_secrets (tenant_id, id, mode, sealed, key_version, created_at, expires_at, revoked_at)
		values ($1, $2, $3, '\x00', 1, $4, $5, $6)`, w.tenants[slug], uuid.New(), mode, created, expires, revoked)
}

func (w *world) ago(d time.Duration) time.Time { return w.now.Add(-d) }

func (w *world) agoP(d time.Duration) *time.Time {
	t := w.now.Add(-d)
	return &t
}

// seedSmall makes a small world whose every figure a test can state:
//
//	acme (active)   North: A-001..A-004 occupied, A-005..A-008 free, A-009 unknown
//	                       (silent: last reading 3h ago), A-010 without sensor
//	                South: S-1 without sensor
//	                readings: 2 per minute over the last hour of A-001, 5 older, 3 ahead
//	                orphans: 70b3d57ed0009001 new (occupied), 70b3d57ed0009002 ignored
//	                reservations: A-001 under way, A-002 ahead, A-003 past, A-004 cancelled
//	                keys: one expiring in 10 days, one never, one revoked, one expired 2 days
//	                ago, one expired 30 days ago; secrets: standard expiring in 1 day, hmac
//	beta (active)   Harbour: H-1, H-2 free; a conflict of two reservations of H-1;
//	                1 reading 2 minutes ago; orphan a84041000181c001 new
//	gamma (suspended) no sites
func seedSmall(t testing.TB, now time.Time) *world {
	t.Helper()
	w := newWorld(t, now)
	w.tenant(t, "acme", "active")
	w.tenant(t, "beta", "active")
	w.tenant(t, "gamma", "suspended")

	w.site(t, "acme", "North")
	w.site(t, "acme", "South")
	for i := 1; i <= 10; i++ {
		state, sensor, last := "free", fmt.Sprintf("70b3d57ed00010%02d", i), w.agoP(time.Duration(i)*time.Minute)
		switch {
		case i <= 4:
			state = "occupied"
		case i == 9:
			state, last = "unknown", w.agoP(3*time.Hour)
		case i == 10:
			state, sensor, last = "unknown", "", nil
		}
		w.space(t, "acme", "North", fmt.Sprintf("A-%03d", i), sensor, state, last)
	}
	w.space(t, "acme", "South", "S-1", "", "unknown", nil)
	for m := range 60 {
		// Two per minute: at m minutes and 30 seconds ago.
		w.readings(t, "acme", "North", "A-001", now.Add(-time.Duration(m)*time.Minute-30*time.Second), 2)
	}
	w.readings(t, "acme", "North", "A-001", now.Add(-61*time.Minute), 5)
	w.readings(t, "acme", "North", "A-001", now.Add(time.Minute), 3)

	w.orphan(t, "acme", "70b3d57ed0009001", "new", 12, w.ago(time.Minute), true)
	w.orphan(t, "acme", "70b3d57ed0009002", "ignored", 3, w.ago(time.Hour), false)

	w.reservation(t, "acme", "North", "A-001", w.ago(30*time.Minute), now.Add(90*time.Minute), "confirmed")
	w.reservation(t, "acme", "North", "A-002", now.Add(2*time.Hour), now.Add(3*time.Hour), "confirmed")
	w.reservation(t, "acme", "North", "A-003", w.ago(3*time.Hour), w.ago(2*time.Hour), "confirmed")
	w.reservation(t, "acme", "North", "A-004", now.Add(time.Hour), now.Add(2*time.Hour), "cancelled")

	day := 24 * time.Hour
	in := func(d time.Duration) *time.Time { t := now.Add(d); return &t }
	w.apiKey(t, "acme", "billing", w.ago(80*day), in(10*day), nil, w.agoP(5*time.Minute))
	w.apiKey(t, "acme", "gate", w.ago(3*day), nil, nil, nil)
	w.apiKey(t, "acme", "revoked", w.ago(3*day), in(5*day), w.agoP(day), nil)
	w.apiKey(t, "acme", "lapsed", w.ago(90*day), w.agoP(2*day), nil, nil)
	w.apiKey(t, "acme", "ancient", w.ago(300*day), w.agoP(30*day), nil, nil)
	w.secret(t, "acme", "standard", w.ago(40*day), in(day), nil)
	w.secret(t, "acme", "hmac", w.ago(day), nil, nil)

	w.site(t, "beta", "Harbour")
	w.space(t, "beta", "Harbour", "H-1", "a840410001810001", "free", w.agoP(time.Minute))
	w.space(t, "beta", "Harbour", "H-2", "a840410001810002", "free", w.agoP(time.Minute))
	w.readings(t, "beta", "Harbour", "H-1", w.ago(2*time.Minute), 1)
	w.orphan(t, "beta", "a84041000181c001", "new", 3, w.ago(25*time.Minute), false)
	// Only a missing exclusion constraint lets two confirmed reservations
	// of one space overlap.
	w.exec(t, `alter table reservations drop constraint reservations_no_overlap`)
	w.reservation(t, "beta", "Harbour", "H-1", now.Add(2*time.Hour), now.Add(4*time.Hour), "confirmed")
	w.reservation(t, "beta", "Harbour", "H-1", now.Add(3*time.Hour), now.Add(5*time.Hour), "confirmed")
	return w
}

// seedScale makes the benchmark's world: 3 tenants, 20 sites (7, 7, 6), 2,000
// spaces (100 a site, 90 with a sensor), one reading per sensor and minute
// over the last hour (108,000) and a day of older ones (112,000), 50 orphans, 1,300 reservations (1,000 past,
// 100 under way, 200 ahead), 10 API keys and 3 webhook secrets per tenant. The tables are
// analyzed, as autovacuum would.
func seedScale(t testing.TB, now time.Time) *world {
	t.Helper()
	w := newWorld(t, now)
	sites := []int{7, 7, 6}
	for ti, slug := range []string{"acme", "beta", "gamma"} {
		tid := w.tenant(t, slug, "active")
		for s := range sites[ti] {
			w.site(t, slug, fmt.Sprintf("Site %02d", s+1))
		}
		w.exec(t, `
			insert into spaces (tenant_id, id, site_id, code, sensor_eui, state, state_changed_at, last_reading_at)
			select $1, gen_random_uuid(), s.id, 'P-' || lpad(g::text, 3, '0'),
			       case when g <= 90 then lpad(to_hex($2::integer * 16777216 + row_number() over ()), 16, '0') end,
			       (array['free', 'occupied', 'unknown'])[1 + g % 3],
			       $3::timestamptz - make_interval(mins => g % 90), $3::timestamptz - make_interval(mins => g % 90)
			  from sites s, generate_series(1, 100) g
			 where s.tenant_id = $1`, tid, ti+1, now)
		w.exec(t, `
			insert into sensor_readings (tenant_id, space_id, dev_eui, source, msg_key, occupied, read_at, received_at)
			select x.tenant_id, x.id, x.sensor_eui, 'generic', 'm' || m, m % 2 = 0,
			       $2::timestamptz - make_interval(secs => m * 60 + 7), $2::timestamptz - make_interval(secs => m * 60 + 7)
			  from spaces x, generate_series(0, 59) m
			 where x.tenant_id = $1 and x.sensor_eui is not null`, tid, now)
		w.exec(t, `
			insert into sensor_readings (tenant_id, space_id, dev_eui, source, msg_key, occupied, read_at, received_at)
			select x.tenant_id, x.id, x.sensor_eui, 'generic', 'old' || m, true,
			       $2::timestamptz - make_interval(mins => 60 + m * 10), $2::timestamptz - make_interval(mins => 60 + m * 10)
			  from spaces x, generate_series(1, 144) m
			 where x.tenant_id = $1 and x.code < 'P-040' and x.sensor_eui is not null`, tid, now)
		w.exec(t, `
			insert into orphan_devices (tenant_id, dev_eui, first_seen_at, last_seen_at, uplink_count, last_rssi, last_snr, last_read_at)
			select $1, lpad(to_hex(4096 * $2::integer + g), 16, 'f'), $3::timestamptz - interval '2 days',
			       $3::timestamptz - make_interval(mins => g), g, -90 - g % 20, 5.5, $3::timestamptz - make_interval(mins => g)
			  from generate_series(1, 50) g`, tid, ti+1, now)
		w.exec(t, `
			insert into reservations (tenant_id, id, space_id, during)
			select x.tenant_id, gen_random_uuid(), x.id,
			       tstzrange($2::timestamptz + make_interval(hours => r), $2::timestamptz + make_interval(hours => r, mins => 50))
			  from (select * from spaces where tenant_id = $1 order by id limit 100) x, generate_series(-10, 2) r`, tid, now)
		for k := range 10 {
			expires := now.Add(time.Duration(k*5) * 24 * time.Hour)
			w.apiKey(t, slug, fmt.Sprintf("key %d", k), w.ago(100*24*time.Hour), &expires, nil, w.agoP(time.Minute))
		}
		for _, mode := range []string{"standard", "hmac", "token"} {
			w.secret(t, slug, mode, w.ago(30*24*time.Hour), nil, nil)
		}
	}
	w.exec(t, `analyze`)
	return w
}

// opsPool is a pool as park_admin, parkctl's login, in pgx's default mode
// or, with exec, in the mode PgBouncer needs (parameters without types).
func (w *world) opsPool(t testing.TB, exec bool) *pgxpool.Pool {
	t.Helper()
	url := w.db.OpsURL
	if exec {
		url += "&default_query_exec_mode=exec"
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

func (w *world) store(t testing.TB, exec bool) *Store {
	t.Helper()
	return storeOn(w.opsPool(t, exec), ingest.StoreOptions{Now: func() time.Time { return w.now }})
}

// scalar reads one value as the superuser.
func scalar[T any](t testing.TB, w *world, sql string, args ...any) T {
	t.Helper()
	var v T
	if err := w.admin.QueryRow(context.Background(), sql, args...).Scan(&v); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return v
}

// storeOn returns a Store whose reads and writes both use pool.
func storeOn(pool *pgxpool.Pool, opts ingest.StoreOptions) *Store {
	return NewStore(tenancy.NewOps(pool), tenancy.NewStore(pool), opts)
}
