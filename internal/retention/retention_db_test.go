package retention_test

import (
	"context"
	"fmt"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/parkhq/park/internal/bootstrap"
	"github.com/parkhq/park/internal/pgbouncertest"
	"github.com/parkhq/park/internal/pgtest"
	"github.com/parkhq/park/internal/retention"
	"github.com/parkhq/park/tenancy"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

const day = 24 * time.Hour

func ctxT(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// newTenant inserts a tenant as the superuser, with reading_retention_days
// set to days (none when 0).
func newTenant(t *testing.T, admin *pgxpool.Pool, slug string, days int) uuid.UUID {
	t.Helper()
	id := uuid.New()
	settings := "{}"
	if days > 0 {
		settings = fmt.Sprintf(`{"reading_retention_days": %d}`, days)
	}
	if _, err := admin.Exec(ctxT(t), `insert into tenants (id, name, slug, settings) values ($1, $2, $3, $4::jsonb)`,
		id, "Tenant "+slug, slug, settings); err != nil {
		t.Fatal(err)
	}
	return id
}

// addReadings stores n readings of tenant received age ago (each a
// millisecond apart, older ones first).
func addReadings(t *testing.T, admin *pgxpool.Pool, tenant uuid.UUID, n int, age time.Duration) {
	t.Helper()
	_, err := admin.Exec(ctxT(t), `insert into sensor_readings (tenant_id, space_id, dev_eui, source, msg_key, read_at, received_at)
		select $1::uuid, gen_random_uuid(), '0011223344556677', 'generic', 'fcnt:' || g,
		       now() - $2::bigint * interval '1 microsecond' - g * interval '1 millisecond',
		       now() - $2::bigint * interval '1 microsecond' - g * interval '1 millisecond'
		  from generate_series(1, $3::integer) g`, tenant, age.Microseconds(), n)
	if err != nil {
		t.Fatal(err)
	}
}

// addDedupe stores n dedupe rows of tenant last seen age ago.
func addDedupe(t *testing.T, admin *pgxpool.Pool, tenant uuid.UUID, n int, age time.Duration) {
	t.Helper()
	_, err := admin.Exec(ctxT(t), `insert into uplink_dedupe (tenant_id, dev_eui, msg_key, seen_at)
		select $1::uuid, '0011223344556677', gen_random_uuid()::text,
		       now() - $2::bigint * interval '1 microsecond' - g * interval '1 millisecond'
		  from generate_series(1, $3::integer) g`, tenant, age.Microseconds(), n)
	if err != nil {
		t.Fatal(err)
	}
}

// addKeys stores n idempotency keys of tenant expiring in (negative: ago).
func addKeys(t *testing.T, admin *pgxpool.Pool, tenant uuid.UUID, n int, in time.Duration) {
	t.Helper()
	_, err := admin.Exec(ctxT(t), `insert into idempotency_keys (tenant_id, principal_id, key, fingerprint, expires_at, created_at)
		select $1::uuid, gen_random_uuid(), 'key-' || g, sha256(gen_random_uuid()::text::bytea),
		       now() + $2::bigint * interval '1 microsecond', now() - interval '1 day'
		  from generate_series(1, $3::integer) g`, tenant, in.Microseconds(), n)
	if err != nil {
		t.Fatal(err)
	}
}

// rows counts tenant's rows of table as the superuser.
func rows(t *testing.T, admin *pgxpool.Pool, table string, tenant uuid.UUID) int64 {
	t.Helper()
	var n int64
	if err := admin.QueryRow(ctxT(t), `select count(*) from `+table+` where tenant_id = $1`, tenant).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func total(t *testing.T, admin *pgxpool.Pool, table string) int64 {
	t.Helper()
	var n int64
	if err := admin.QueryRow(ctxT(t), `select count(*) from `+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestRunPrunesPastRetention: tenant A keeps readings 1 day, B 30 days, C
// sets nothing (90 days): only what is past each one's own retention goes,
// with dedupe rows older than 7 days and expired idempotency keys of every
// tenant, and the dry-run counts (across tenants as park_ops, per tenant as
// park_app) name exactly what the run then deletes.
func TestRunPrunesPastRetention(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	admin := db.AdminPool(t)
	ctx := ctxT(t)
	a := newTenant(t, admin, "alpha", 1)
	b := newTenant(t, admin, "bravo", 30)
	c := newTenant(t, admin, "charlie", 0)

	addReadings(t, admin, a, 10, 2*day) // past A's day
	addReadings(t, admin, a, 5, 12*time.Hour)
	addReadings(t, admin, b, 10, 2*day) // within B's 30 days
	addReadings(t, admin, b, 3, 31*day) // past them
	addReadings(t, admin, c, 4, 89*day) // within the default 90 days
	addReadings(t, admin, c, 2, 91*day) // past them
	addDedupe(t, admin, a, 6, 8*day)    // older than 7 days
	addDedupe(t, admin, b, 4, 6*day)    // not yet
	addDedupe(t, admin, c, 1, 7*day+time.Hour)
	addKeys(t, admin, a, 3, -time.Minute) // expired
	addKeys(t, admin, b, 2, time.Hour)    // still live

	store := tenancy.NewStore(db.ServerPool(t, 2))
	ops := retention.NewOps(tenancy.NewOps(db.AdminPool(t)))
	p := retention.NewPruner(store, retention.Options{})

	want := retention.Counts{Readings: 10 + 3 + 2, UplinkDedupe: 6 + 1, IdempotencyKeys: 3}
	if got, err := ops.Count(ctx); err != nil || got != want {
		t.Fatalf("dry run across tenants: %+v, %v; want %+v", got, err, want)
	}
	if got, err := p.CountTenant(ctx, a); err != nil || got != (retention.Counts{Readings: 10, UplinkDedupe: 6, IdempotencyKeys: 3}) {
		t.Fatalf("dry run of A: %+v, %v", got, err)
	}
	if got, err := p.CountTenant(ctx, b); err != nil || got != (retention.Counts{Readings: 3}) {
		t.Fatalf("dry run of B: %+v, %v", got, err)
	}

	res, err := p.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Deleted != want || res.Busy || len(res.More) != 0 || res.Batches != 3 {
		t.Fatalf("run: %+v, want deleted %+v in 3 batches", res, want)
	}
	for _, r := range []struct {
		table  string
		tenant uuid.UUID
		want   int64
	}{
		{"sensor_readings", a, 5}, {"sensor_readings", b, 10}, {"sensor_readings", c, 4},
		{"uplink_dedupe", a, 0}, {"uplink_dedupe", b, 4}, {"uplink_dedupe", c, 0},
		{"idempotency_keys", a, 0}, {"idempotency_keys", b, 2},
	} {
		if n := rows(t, admin, r.table, r.tenant); n != r.want {
			t.Errorf("%s of %s: %d rows left, want %d", r.table, r.tenant, n, r.want)
		}
	}
	if got, err := ops.Count(ctx); err != nil || got != (retention.Counts{}) {
		t.Errorf("dry run after the run: %+v, %v; want nothing", got, err)
	}
	if res, err := p.Run(ctx); err != nil || res.Deleted != (retention.Counts{}) {
		t.Errorf("second run: %+v, %v", res, err)
	}
}

// TestRetentionSettingEdges: the retention comes from the tenant's
// settings, read inside the function, and odd values fall back or clamp
// rather than delete everything.
func TestRetentionSettingEdges(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	admin := db.AdminPool(t)
	ctx := ctxT(t)
	for _, tc := range []struct {
		settings string
		want     int
	}{
		{`{}`, 90},
		{`{"reading_retention_days": 7}`, 7},
		{`{"reading_retention_days": 7.9}`, 7},
		{`{"reading_retention_days": "3"}`, 90},
		{`{"reading_retention_days": null}`, 90},
		{`{"reading_retention_days": 0}`, 1},
		{`{"reading_retention_days": -5}`, 1},
		{`{"reading_retention_days": 100000}`, 3650},
	} {
		var got int
		if err := admin.QueryRow(ctx, `select reading_retention_days($1::jsonb)`, tc.settings).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != tc.want {
			t.Errorf("reading_retention_days(%s) = %d, want %d", tc.settings, got, tc.want)
		}
	}
	if retention.DefaultReadingRetentionDays != 90 || retention.DedupeRetention != 7*day {
		t.Errorf("Go constants drifted from migration 00014")
	}
}

// TestBatchIsBounded: with more than BatchSize rows of each kind past
// retention, one call deletes exactly BatchSize, the next the rest, and a
// run of many batches adds up. B's rows (30 days) are never touched.
func TestBatchIsBounded(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	admin := db.AdminPool(t)
	ctx := ctxT(t)
	a := newTenant(t, admin, "alpha", 1)
	b := newTenant(t, admin, "bravo", 30)
	const extra = 123
	addReadings(t, admin, a, retention.BatchSize+extra, 3*day)
	addReadings(t, admin, b, 50, 3*day)
	addDedupe(t, admin, a, retention.BatchSize+extra, 10*day)
	addKeys(t, admin, b, retention.BatchSize+extra, -time.Hour)

	p := retention.NewPruner(tenancy.NewStore(db.ServerPool(t, 2)), retention.Options{})
	for _, k := range retention.Kinds {
		for i, want := range []int64{retention.BatchSize, extra, 0} {
			n, ok, err := p.Batch(ctx, k)
			if err != nil || !ok || n != want {
				t.Fatalf("%s batch %d: %d, %v, %v; want %d", k, i+1, n, ok, err, want)
			}
		}
	}
	if n := rows(t, admin, "sensor_readings", b); n != 50 {
		t.Errorf("B has %d readings, want its 50", n)
	}

	// A run works a backlog off in full batches and stops at MaxBatches.
	addReadings(t, admin, a, 2*retention.BatchSize+1, 3*day)
	capped := retention.NewPruner(tenancy.NewStore(db.ServerPool(t, 2)), retention.Options{MaxBatches: 2})
	res, err := capped.Run(ctx)
	if err != nil || res.Deleted.Readings != 2*retention.BatchSize || len(res.More) != 1 || res.More[0] != retention.Readings {
		t.Fatalf("capped run: %+v, %v", res, err)
	}
	res, err = capped.Run(ctx)
	if err != nil || res.Deleted.Readings != 1 || len(res.More) != 0 {
		t.Fatalf("next run: %+v, %v", res, err)
	}
}

// TestBatchUsesIndexes: a batch finds its rows through an index and deletes
// them by ctid, so it never reads a whole table. The prune functions run as
// park_app in one transaction whose table statistics
// (pg_stat_xact_user_tables) then show no sequential scan of the pruned
// tables.
func TestBatchUsesIndexes(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	admin := db.AdminPool(t)
	ctx := ctxT(t)
	var tenants []uuid.UUID
	for i := range 20 {
		tenants = append(tenants, newTenant(t, admin, fmt.Sprintf("t%02d", i), 10))
	}
	// A realistic shape: most rows recent, some past retention.
	for _, tn := range tenants {
		addReadings(t, admin, tn, 2000, time.Hour)
		addDedupe(t, admin, tn, 2000, day)
		addKeys(t, admin, tn, 500, time.Hour)
	}
	addReadings(t, admin, tenants[3], 300, 11*day)
	addDedupe(t, admin, tenants[5], 300, 8*day)
	addKeys(t, admin, tenants[7], 300, -time.Hour)
	if _, err := admin.Exec(ctx, `analyze tenants, sensor_readings, uplink_dedupe, idempotency_keys`); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ fn, table string }{
		{"maint.prune_readings()", "sensor_readings"},
		{"maint.prune_uplink_dedupe()", "uplink_dedupe"},
		{"maint.prune_idempotency_keys()", "idempotency_keys"},
	} {
		err := pgx.BeginFunc(ctx, admin, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `set local role park_app`); err != nil {
				return err
			}
			var n int64
			if err := tx.QueryRow(ctx, `select `+tc.fn).Scan(&n); err != nil {
				return err
			}
			if n != 300 {
				t.Errorf("%s deleted %d, want 300", tc.fn, n)
			}
			var seq, idx int64
			if err := tx.QueryRow(ctx, `select seq_scan, coalesce(idx_scan, 0) from pg_stat_xact_user_tables
				where relid = $1::regclass`, "public."+tc.table).Scan(&seq, &idx); err != nil {
				return err
			}
			if seq != 0 || idx == 0 {
				t.Errorf("%s: %d sequential and %d index scans of %s, want none and some", tc.fn, seq, idx, tc.table)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// TestPruneFunctionsPrivileges: only park_app may call the functions, and
// park_maint's grants let them do nothing but their deletes.
func TestPruneFunctionsPrivileges(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	admin := db.AdminPool(t)
	ctx := ctxT(t)
	for _, role := range []string{"park_ops", "park_auth"} {
		err := pgx.BeginFunc(ctx, admin, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `set local role `+role); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `select maint.prune_readings()`)
			return err
		})
		if err == nil || !strings.Contains(err.Error(), "permission denied") {
			t.Errorf("%s calling maint.prune_readings: %v, want permission denied", role, err)
		}
	}
	// As park_maint itself (what the functions run as): the grants stop at
	// DELETE and the read columns.
	for _, stmt := range []string{
		`select payload from sensor_readings`,
		`update uplink_dedupe set seen_at = now()`,
		`insert into idempotency_keys (tenant_id, principal_id, key, fingerprint, expires_at) values (gen_random_uuid(), gen_random_uuid(), 'k', '\x00', now())`,
		`delete from spaces`,
		`select name from tenants`,
	} {
		err := pgx.BeginFunc(ctx, admin, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `set local role park_maint`); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, stmt)
			return err
		})
		if err == nil || !strings.Contains(err.Error(), "permission denied") {
			t.Errorf("park_maint: %q: %v, want permission denied", stmt, err)
		}
	}
}

// TestConcurrentRunsPruneOnce runs two maintenance "instances" at once
// through PgBouncer's pool-8 entry in exec mode, on several full batches:
// every row past retention goes, each exactly once (the instances' counts
// add up to the rows deleted), nothing else goes, and no advisory lock is
// left on any server connection afterwards (a session lock would be).
func TestConcurrentRunsPruneOnce(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	admin := db.AdminPool(t)
	ctx := ctxT(t)
	a := newTenant(t, admin, "alpha", 1)
	b := newTenant(t, admin, "bravo", 30)
	const old = 3*retention.BatchSize + 77
	addReadings(t, admin, a, old, 2*day)
	addReadings(t, admin, b, 40, 2*day)
	addDedupe(t, admin, b, retention.BatchSize+5, 9*day)
	addKeys(t, admin, a, 11, -time.Minute)

	bouncer := pgbouncertest.New(t, db)
	var wg sync.WaitGroup
	results := make([]*retention.Result, 2)
	errs := make([]error, 2)
	for i := range results {
		store := tenancy.NewStore(bouncer.ServerPool(t, pgbouncertest.Wide, 2))
		p := retention.NewPruner(store, retention.Options{})
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = p.Run(ctx)
		}()
	}
	wg.Wait()
	var sum retention.Counts
	for i, r := range results {
		if errs[i] != nil {
			t.Fatalf("instance %d: %v", i, errs[i])
		}
		sum.Readings += r.Deleted.Readings
		sum.UplinkDedupe += r.Deleted.UplinkDedupe
		sum.IdempotencyKeys += r.Deleted.IdempotencyKeys
	}
	want := retention.Counts{Readings: old, UplinkDedupe: retention.BatchSize + 5, IdempotencyKeys: 11}
	if sum != want {
		t.Errorf("instances deleted %+v and %+v, sum %+v; want %+v", results[0].Deleted, results[1].Deleted, sum, want)
	}
	if n := rows(t, admin, "sensor_readings", a); n != 0 {
		t.Errorf("%d of A's old readings left", n)
	}
	if n := rows(t, admin, "sensor_readings", b); n != 40 {
		t.Errorf("B has %d readings, want its 40", n)
	}
	if n := total(t, admin, "uplink_dedupe") + total(t, admin, "idempotency_keys"); n != 0 {
		t.Errorf("%d dedupe rows and keys left", n)
	}
	// This database's locks: the cluster is shared with the package's
	// other tests, some of which hold the lock on purpose.
	var locks int
	if err := admin.QueryRow(ctx, `select count(*) from pg_locks
		  where locktype = 'advisory' and database = (select oid from pg_database where datname = current_database())`).Scan(&locks); err != nil {
		t.Fatal(err)
	}
	if locks != 0 {
		t.Errorf("%d advisory locks still held after the runs: a lock outlived its transaction", locks)
	}
}

// TestRunWhileAnotherHoldsTheLock: while one instance's batch holds the
// lock (paused before its COMMIT), a second instance through PgBouncer
// finds it taken and ends its run without deleting anything; the first then
// finishes everything. A waiting run (parkctl's) instead waits for the
// lock and then prunes.
func TestRunWhileAnotherHoldsTheLock(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	admin := db.AdminPool(t)
	ctx := ctxT(t)
	a := newTenant(t, admin, "alpha", 1)
	addReadings(t, admin, a, retention.BatchSize+10, 2*day)
	bouncer := pgbouncertest.New(t, db)

	paused, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	firstOpts := retention.Options{}
	retention.SetAfterBatch(&firstOpts, func(retention.Kind) {
		once.Do(func() { close(paused); <-release })
	})
	first := retention.NewPruner(tenancy.NewStore(bouncer.ServerPool(t, pgbouncertest.Wide, 2)), firstOpts)
	second := retention.NewPruner(tenancy.NewStore(bouncer.ServerPool(t, pgbouncertest.Wide, 2)), retention.Options{})

	done := make(chan *retention.Result, 1)
	go func() {
		res, err := first.Run(ctx)
		if err != nil {
			t.Error(err)
		}
		done <- res
	}()
	select {
	case <-paused:
	case res := <-done:
		t.Fatalf("the first instance finished without pausing: %+v", res)
	}
	res, err := second.Run(ctx)
	if err != nil || !res.Busy || res.Batches != 0 || res.Deleted != (retention.Counts{}) {
		t.Errorf("second instance while the first holds the lock: %+v, %v; want busy and nothing deleted", res, err)
	}
	close(release)
	if res := <-done; res == nil || res.Busy || res.Deleted.Readings != retention.BatchSize+10 {
		t.Fatalf("first instance: %+v", res)
	}

	// A waiting run blocks on a holder, then does the work.
	addReadings(t, admin, a, 7, 2*day)
	holder, err := admin.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Rollback(ctx)
	if _, err := holder.Exec(ctx, `select pg_advisory_xact_lock($1)`, retention.LockKey); err != nil {
		t.Fatal(err)
	}
	waiting := retention.NewPruner(tenancy.NewStore(bouncer.ServerPool(t, pgbouncertest.Wide, 2)), retention.Options{Wait: true, MaxBatches: -1})
	wdone := make(chan *retention.Result, 1)
	go func() {
		res, err := waiting.Run(ctx)
		if err != nil {
			t.Error(err)
		}
		wdone <- res
	}()
	// The run waits for the lock (PostgreSQL shows the request ungranted).
	for {
		var waiters int
		if err := admin.QueryRow(ctx, `select count(*) from pg_locks where locktype = 'advisory' and not granted
			   and database = (select oid from pg_database where datname = current_database())`).Scan(&waiters); err != nil {
			t.Fatal(err)
		}
		if waiters == 1 {
			break
		}
		select {
		case res := <-wdone:
			t.Fatalf("the waiting run finished while the lock was held: %+v", res)
		case <-time.After(10 * time.Millisecond):
		}
	}
	if err := holder.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if res := <-wdone; res == nil || res.Deleted.Readings != 7 {
		t.Fatalf("waiting run: %+v", res)
	}
}

// TestPruneTenant: parkctl's --tenant path, as park_app under row-level
// security, through PgBouncer in exec mode: only that tenant's rows past its
// retention go, and one audit event in its log records the counts and the
// operator.
func TestPruneTenant(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	admin := db.AdminPool(t)
	ctx := ctxT(t)
	a := newTenant(t, admin, "alpha", 1)
	b := newTenant(t, admin, "bravo", 1)
	for _, tn := range []uuid.UUID{a, b} {
		addReadings(t, admin, tn, retention.BatchSize+3, 2*day)
		addReadings(t, admin, tn, 4, time.Hour)
		addDedupe(t, admin, tn, 5, 8*day)
		addKeys(t, admin, tn, 6, -time.Second)
	}
	bouncer := pgbouncertest.New(t, db)
	p := retention.NewPruner(tenancy.NewStore(bouncer.ServerPool(t, pgbouncertest.Wide, 2)), retention.Options{})
	want := retention.Counts{Readings: retention.BatchSize + 3, UplinkDedupe: 5, IdempotencyKeys: 6}
	if got, err := p.CountTenant(ctx, a); err != nil || got != want {
		t.Fatalf("count A: %+v, %v", got, err)
	}
	got, err := p.PruneTenant(ctx, a, "operator:alice")
	if err != nil || got != want {
		t.Fatalf("prune A: %+v, %v; want %+v", got, err, want)
	}
	if n := rows(t, admin, "sensor_readings", a); n != 4 {
		t.Errorf("A has %d readings, want its 4 recent ones", n)
	}
	for _, table := range []string{"sensor_readings", "uplink_dedupe", "idempotency_keys"} {
		if n := rows(t, admin, table, b); n == 0 {
			t.Errorf("B's %s were pruned by A's prune", table)
		}
	}
	var actor, action, target, details string
	if err := admin.QueryRow(ctx, `select actor, action, target, details::text from audit_events where tenant_id = $1`, a).
		Scan(&actor, &action, &target, &details); err != nil {
		t.Fatal(err)
	}
	if actor != "operator:alice" || action != "readings.prune" || target != a.String() ||
		details != fmt.Sprintf(`{"readings": %d, "uplink_dedupe": 5, "idempotency_keys": 6}`, retention.BatchSize+3) {
		t.Errorf("audit event: %s %s %s %s", actor, action, target, details)
	}
	if got, err := p.CountTenant(ctx, a); err != nil || got != (retention.Counts{}) {
		t.Errorf("count A after: %+v, %v", got, err)
	}
}

// TestRecordPrune: a prune across tenants is one platform event (no
// tenant); the operator methods work through PgBouncer in exec mode, as
// parkctl's park_admin login.
func TestRecordPrune(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	admin := db.AdminPool(t)
	ctx := ctxT(t)
	a := newTenant(t, admin, "alpha", 1)
	addReadings(t, admin, a, 3, 2*day)
	bouncer := pgbouncertest.New(t, db)
	ops := retention.NewOps(tenancy.NewOps(pgbouncertest.Pool(t, bouncer.URL(pgbouncertest.Wide, bootstrap.RoleAdmin), 2)))
	if c, err := ops.Count(ctx); err != nil || c != (retention.Counts{Readings: 3}) {
		t.Fatalf("count through PgBouncer: %+v, %v", c, err)
	}
	if err := ops.RecordPrune(ctx, "operator:bob", retention.Counts{Readings: 1, UplinkDedupe: 2, IdempotencyKeys: 3}); err != nil {
		t.Fatal(err)
	}
	var n int
	var details string
	if err := admin.QueryRow(ctx, `select count(*), max(details::text) from platform_events
		where actor = 'operator:bob' and action = 'readings.prune'`).Scan(&n, &details); err != nil {
		t.Fatal(err)
	}
	if n != 1 || details != `{"readings": 1, "uplink_dedupe": 2, "idempotency_keys": 3}` {
		t.Errorf("%d platform events, details %s", n, details)
	}
}

// TestMetricsAndLoop: the loop runs at once and then every interval, each
// run one log line with the counts, counts park_pruned_rows_total{kind},
// and Stop ends it.
func TestMetricsAndLoop(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	admin := db.AdminPool(t)
	a := newTenant(t, admin, "alpha", 1)
	addReadings(t, admin, a, 12, 2*day)
	addDedupe(t, admin, a, 3, 8*day)

	reg := prometheus.NewRegistry()
	m, err := retention.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	p := retention.NewPruner(tenancy.NewStore(db.ServerPool(t, 2)), retention.Options{Metrics: m})
	log := &lines{}
	loop := retention.Start(context.Background(), p, 20*time.Millisecond, slogTo(log))
	t.Cleanup(loop.Stop)
	first := log.waitFor(t, `"readings":12`)
	if !strings.Contains(first, `"msg":"retention"`) || !strings.Contains(first, `"uplink_dedupe":3`) ||
		!strings.Contains(first, `"result":"done"`) || !strings.Contains(first, `"level":"INFO"`) {
		t.Errorf("run line: %s", first)
	}
	addReadings(t, admin, a, 5, 3*day)
	log.waitFor(t, `"readings":5`)
	loop.Stop()
	loop.Stop() // twice is fine
	got := gather(t, reg)
	for series, want := range map[string]float64{
		`park_pruned_rows_total{kind="readings"}`:         17,
		`park_pruned_rows_total{kind="uplink_dedupe"}`:    3,
		`park_pruned_rows_total{kind="idempotency_keys"}`: 0,
		`park_maintenance_runs_total{result="error"}`:     0,
		`park_maintenance_runs_total{result="busy"}`:      0,
	} {
		if v, ok := got[series]; !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", series, v, ok, want)
		}
	}
	if got[`park_maintenance_runs_total{result="done"}`] < 2 {
		t.Errorf("runs: %v", got)
	}
	after := log.count()
	addReadings(t, admin, a, 1, 3*day)
	time.Sleep(100 * time.Millisecond) // five intervals: a running loop would have logged
	if log.count() != after || rows(t, admin, "sensor_readings", a) != 1 {
		t.Error("the loop ran after Stop")
	}
}

// gather reads every counter of reg as "name{label="value"}" → value.
func gather(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			out[mf.GetName()+"{"+strings.Join(labels, ",")+"}"] = m.GetCounter().GetValue()
		}
	}
	return out
}

// TestOperatorMethodsAreNotOnPruner: the cross-tenant reads as park_ops
// live on Ops, so parkd, which holds a Pruner, cannot call them.
func TestOperatorMethodsAreNotOnPruner(t *testing.T) {
	t.Parallel()
	pruner, ops := reflect.TypeFor[*retention.Pruner](), reflect.TypeFor[*retention.Ops]()
	for _, m := range []string{"Count", "RecordPrune"} {
		if _, ok := pruner.MethodByName(m); ok {
			t.Errorf("Pruner has the operator method %s", m)
		}
		if _, ok := ops.MethodByName(m); !ok {
			t.Errorf("Ops lacks %s", m)
		}
	}
}
