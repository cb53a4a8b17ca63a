package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/parkhq/park/ingest"
	"github.com/parkhq/park/internal/bootstrap"
	"github.com/parkhq/park/internal/pgcluster"
	"github.com/parkhq/park/internal/pgtest"
	"github.com/parkhq/park/ratelimit"
	"github.com/parkhq/park/tenancy"
)

// The many-tenants benchmark's shape (DESIGN §10; issue 13, item 3).
const (
	// scaleEnv must be "1" for BenchmarkScale to run: it loads about 5 GB
	// into a cluster of its own, which `make bench` must not do
	// (`make bench-scale` sets it).
	scaleEnv = "PARK_BENCH_SCALE"
	// scaleTenantsEnv overrides scaleTenants, for trying the benchmark out
	// on less data; every tenant keeps its sites, spaces and readings.
	scaleTenantsEnv = "PARK_BENCH_SCALE_TENANTS"
	// scaleTenants is the number of tenants of the large database.
	scaleTenants = 1000
	// scaleSites is the number of sites of every tenant; its spaces are
	// spread evenly over them.
	scaleSites = 5
	// scaleSpaces is the number of spaces of every tenant, each with a
	// sensor: the devices the ingest load sends for.
	scaleSpaces = ingestDevices
	// scaleReadingsPerSpace makes 1,000 × 500 × 20 = 10 million readings.
	scaleReadingsPerSpace = 20
	// scaleReadingEvery spaces a space's readings: 20 of them span four
	// weeks, within the default retention of 90 days.
	scaleReadingEvery = 36 * time.Hour
	// scalePageLimit is the page size of the list read.
	scalePageLimit = 50
	// scaleTarget is the least acceptable median ratio scale/single.
	scaleTarget = 0.8
	// scaleJWTSecret signs the access tokens of both sides.
	scaleJWTSecret = "bench-scale-jwt-secret-of-at-least-32-bytes"
)

// scaleFuncsSQL are the generator's functions of a tenant's number t, a
// space's number s and a site's number n: the ids, the slug and the
// sensor of each, and the message key of reading r of a space. They are
// pure functions of the numbers, so a reading finds its tenant's and
// space's ids without a join, and the two databases hold the same rows
// for the tenant they share. Temporary (pg_temp) and IMMUTABLE over
// immutable expressions, so the planner inlines them.
const scaleFuncsSQL = `
CREATE FUNCTION pg_temp.tid(t int) RETURNS uuid LANGUAGE sql IMMUTABLE
    AS $$ SELECT md5('tenant:' || t::text)::uuid $$;
CREATE FUNCTION pg_temp.uid(t int) RETURNS uuid LANGUAGE sql IMMUTABLE
    AS $$ SELECT md5('user:' || t::text)::uuid $$;
CREATE FUNCTION pg_temp.site_id(t int, n int) RETURNS uuid LANGUAGE sql IMMUTABLE
    AS $$ SELECT md5('site:' || t::text || ':' || n::text)::uuid $$;
CREATE FUNCTION pg_temp.space_id(t int, s int) RETURNS uuid LANGUAGE sql IMMUTABLE
    AS $$ SELECT md5('space:' || t::text || ':' || s::text)::uuid $$;
CREATE FUNCTION pg_temp.eui(s int) RETURNS text LANGUAGE sql IMMUTABLE
    AS $$ SELECT '70b3d57e' || lpad(to_hex(s), 8, '0') $$;
CREATE FUNCTION pg_temp.msg(t int, s int, r int) RETURNS text LANGUAGE sql IMMUTABLE
    AS $$ SELECT md5('msg:' || t::text || ':' || s::text || ':' || r::text)::uuid::text $$;
CREATE FUNCTION pg_temp.slug(t int) RETURNS text LANGUAGE sql IMMUTABLE
    AS $$ SELECT 'tenant-' || lpad(t::text, 4, '0') $$;`

// The generator's statements, each for the tenants numbered [$1, $2), $3
// the instant everything is dated from (the same for both databases):
//
//   - tenants: $4 their settings (API and webhook limits raised so that no
//     request is refused for its rate; the limiter still decides each);
//   - owners and memberships: one owner per tenant, $4 the password hash;
//   - sites: $4 sites per tenant;
//   - spaces: $4 spaces per tenant over $5 sites, $6 readings per space:
//     each space's state is its last reading's;
//   - readings: $4 spaces, $5 readings per space, one every $6 seconds
//     (the last $3 minus s seconds, for space number s). The nested series
//     (made to nest in this order by their lateral references) yield the
//     rows in time order — for each reading r, each space s, each tenant t
//     — so the tenants' readings interleave in the heap as a shared
//     deployment writes them. Occupancy flips at each reading; the payload
//     is what the ChirpStack decoder stores for the ingest load's uplinks;
//   - message claims: uplink_dedupe's rows of the readings from number $7
//     on, those the hourly maintenance keeps (the last 7 days).
const (
	scaleTenantsSQL = `
INSERT INTO tenants (id, name, slug, settings, created_at, updated_at)
SELECT pg_temp.tid(t), 'Tenant ' || t, pg_temp.slug(t), $4::jsonb, $3::timestamptz - interval '1 year', $3::timestamptz - interval '1 year'
  FROM generate_series($1::int, $2::int - 1) t`
	// Each slug's look-up row, which the stores write with the tenant.
	scaleSlugsSQL = `
INSERT INTO tenant_slugs (slug, tenant_id)
SELECT pg_temp.slug(t), pg_temp.tid(t) FROM generate_series($1::int, $2::int - 1) t`
	scaleUsersSQL = `
INSERT INTO users (id, email, name, password_hash, created_at, updated_at)
SELECT pg_temp.uid(t), 'owner-' || t || '@scale.invalid', 'Owner ' || t, $4::text,
       $3::timestamptz - interval '1 year', $3::timestamptz - interval '1 year'
  FROM generate_series($1::int, $2::int - 1) t`
	scaleMembersSQL = `
INSERT INTO user_memberships (tenant_id, user_id, role, created_at, updated_at)
SELECT pg_temp.tid(t), pg_temp.uid(t), 'owner', $3::timestamptz - interval '1 year', $3::timestamptz - interval '1 year'
  FROM generate_series($1::int, $2::int - 1) t`
	scaleSitesSQL = `
INSERT INTO sites (tenant_id, id, name, timezone, created_at, updated_at)
SELECT pg_temp.tid(t), pg_temp.site_id(t, n), 'Site ' || n, 'Europe/Amsterdam',
       $3::timestamptz - interval '1 year', $3::timestamptz - interval '1 year'
  FROM generate_series($1::int, $2::int - 1) t, generate_series(0, $4::int - 1) n`
	scaleSpacesSQL = `
INSERT INTO spaces (tenant_id, id, site_id, code, name, sensor_eui, state, state_changed_at, last_reading_at,
                    created_at, updated_at)
SELECT pg_temp.tid(t), pg_temp.space_id(t, s), pg_temp.site_id(t, s / ($4::int / $5::int)),
       'S-' || lpad(s::text, 4, '0'), 'Bay ' || s, pg_temp.eui(s),
       CASE WHEN ($6::int - 1 + s) % 2 = 0 THEN 'occupied' ELSE 'free' END,
       $3::timestamptz - s * interval '1 second', $3::timestamptz - s * interval '1 second',
       $3::timestamptz - interval '30 days' + s * interval '1 second',
       $3::timestamptz - interval '30 days' + s * interval '1 second'
  FROM generate_series($1::int, $2::int - 1) t, generate_series(0, $4::int - 1) s`
	scaleReadingsSQL = `
INSERT INTO sensor_readings (tenant_id, space_id, dev_eui, f_cnt, source, msg_key, occupied, rssi, snr,
                             read_at, received_at, payload)
SELECT pg_temp.tid(t), pg_temp.space_id(t, s), pg_temp.eui(s), r, 'chirpstack', pg_temp.msg(t, s, r),
       (r + s) % 2 = 0, -97, 7.25,
       $3::timestamptz - (($5::int - 1 - r) * $6::int + s) * interval '1 second',
       $3::timestamptz - (($5::int - 1 - r) * $6::int + s - 2) * interval '1 second',
       CASE WHEN (r + s) % 2 = 0 THEN '{"battery": 3.61, "occupied": true, "temperature": 21.5}'::jsonb
            ELSE '{"battery": 3.61, "occupied": false, "temperature": 21.5}'::jsonb END
  FROM generate_series(0, $5::int - 1) r
 CROSS JOIN LATERAL generate_series(0, $4::int - 1 + 0 * r) s
 CROSS JOIN LATERAL generate_series($1::int, $2::int - 1 + 0 * s) t`
	scaleDedupeSQL = `
INSERT INTO uplink_dedupe (tenant_id, dev_eui, msg_key, seen_at)
SELECT pg_temp.tid(t), pg_temp.eui(s), pg_temp.msg(t, s, r),
       $3::timestamptz - (($5::int - 1 - r) * $6::int + s - 2) * interval '1 second'
  FROM generate_series($7::int, $5::int - 1) r
 CROSS JOIN LATERAL generate_series(0, $4::int - 1 + 0 * r) s
 CROSS JOIN LATERAL generate_series($1::int, $2::int - 1 + 0 * s) t`
)

// scaleDB is one database of the comparison with the server and client
// that serve its measured tenant.
type scaleDB struct {
	name     string
	slug     string       // the measured tenant's slug
	ingest   *ingestBench // the ingest load's state: server, client, tenant, token
	jwt      string       // an access token of the measured tenant's owner
	readings int64        // the measured tenant's readings before any load
	dedupe   int64        // its uplink_dedupe rows before any load
	setup    time.Duration
}

// BenchmarkScale measures, for one tenant among 1,000 (each with 5 sites,
// 500 spaces with sensors, 10,000 readings over four weeks and the
// message claims of the last week: 500,000 spaces, 10 million readings
// and 2.5 million claims in all), the API list read (GET /api/v1/spaces?limit=50
// with a JWT) and the ingest load of BenchmarkIngest (ChirpStack uplinks
// through the webhook endpoint, ingestClients clients), each against the
// same tenant with the same rows alone in a database of its own, on one
// durable cluster, both servers wired as parkd serve wires them. The
// sides are interleaved over ingestRounds rounds; the summary
// sub-benchmarks report the median ratio scale/single with its spread and
// the target. The data is made server-side (generate_series) as the
// superuser, in a few statements; the log gives each phase's time.
//
// Run by `make bench-scale`; skipped unless PARK_BENCH_SCALE=1.
func BenchmarkScale(b *testing.B) {
	if os.Getenv(scaleEnv) != "1" {
		b.Skipf("loads 10 million readings: set %s=1 (make bench-scale)", scaleEnv)
	}
	tenants := scaleTenants
	if v := os.Getenv(scaleTenantsEnv); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 2 {
			b.Fatalf("%s=%q: want a number above 1", scaleTenantsEnv, v)
		}
		tenants = n
	}
	start := time.Now()
	ctx := context.Background()
	sctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	c, err := pgcluster.Start(sctx, pgcluster.Options{Durable: true, Settings: map[string]string{"max_connections": "200"}})
	cancel()
	if errors.Is(err, pgcluster.ErrNotFound) && os.Getenv("CI") != "true" {
		b.Skip("no PostgreSQL server binaries:", err)
	}
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Stop() })

	// Every row is dated from one instant, so both databases hold the
	// same rows for the measured tenant and answer the same bytes.
	base := time.Now().UTC().Truncate(time.Second)
	hasher, err := tenancy.NewHasher(4, 0)
	if err != nil {
		b.Fatal(err)
	}
	hash, err := hasher.Hash(ctx, "correct horse battery staple")
	if err != nil {
		b.Fatal(err)
	}
	// The large database's tenants are numbered 0 … tenants-1; the small
	// one's only tenant has the number of the measured one (500 of
	// 1,000), so its rows are the same.
	measured := tenants / 2
	single := newScaleDB(b, c, "park_single", measured, measured, measured+1, base, hash)
	many := newScaleDB(b, c, "park_scale", measured, 0, tenants, base, hash)
	// The loads' writes start from a fresh checkpoint, not in the middle
	// of the one the generator's gigabytes of WAL would otherwise start.
	if err := adminExec(ctx, c.AdminURL("postgres"), "CHECKPOINT"); err != nil {
		b.Fatal(err)
	}
	setup := time.Since(start)

	sides := []*scaleDB{single, many}
	for _, d := range sides {
		serveScale(b, c, d)
	}
	// Both sides answer the same bytes before any load; the ingest load
	// then moves the spaces' states, so each answer after is checked for
	// a full page with a cursor.
	checkSameList(b, sides)
	for _, d := range sides {
		custom, generic := listPlans(b, c, d)
		b.Logf("%s: the list read's plans as park_app, for the request's values:\n%s\nand generic:\n%s", d.name, custom, generic)
	}
	checkList := func(status int, body []byte) error {
		if status != http.StatusOK || bytes.Count(body, []byte(`{"id":"`)) != scalePageLimit ||
			!bytes.Contains(body, []byte(`"next_cursor":"`)) {
			return fmt.Errorf("%d %.300s", status, body)
		}
		return nil
	}

	type figs = map[string][]scaleFigures
	list, ingestFigs := figs{}, figs{}
	pg := c.PID()
	var loads []string
	for round := 1; round <= ingestRounds; round++ {
		// Single first in odd rounds, scale first in even ones, so a
		// machine that grows busier or quieter over a round favours
		// neither.
		order := slices.Clone(sides)
		if round%2 == 0 {
			slices.Reverse(order)
		}
		for _, d := range order {
			loads = append(loads, d.name+" "+loadAvg())
			var f scaleFigures
			b.Run(fmt.Sprintf("list/round=%d/%s", round, d.name), func(b *testing.B) {
				f = measure(b, pg, d, func() benchFigures { return listRun(b, d, checkList) })
			})
			list[d.name] = append(list[d.name], f)
		}
		for _, d := range order {
			loads = append(loads, d.name+" "+loadAvg())
			var f scaleFigures
			b.Run(fmt.Sprintf("ingest/round=%d/%s", round, d.name), func(b *testing.B) {
				rows0, n0 := batchRows(b, d.ingest.batches)
				f = measure(b, pg, d, func() (x benchFigures) {
					x.rate, x.p50, x.p99 = d.ingest.run(b, "/api/v1/webhooks/chirpstack/"+d.slug+"?event=up",
						http.Header{"Content-Type": {"application/json"}, "Authorization": {"Bearer " + d.ingest.token}},
						&d.ingest.parkAcks)
					b.ReportMetric(x.p50, "p50-ms")
					b.ReportMetric(x.p99, "p99-ms")
					return x
				})
				if rows1, n1 := batchRows(b, d.ingest.batches); n1 > n0 {
					b.ReportMetric((rows1-rows0)/(n1-n0), "uplinks/batch")
				}
			})
			ingestFigs[d.name] = append(ingestFigs[d.name], f)
		}
	}
	loads = append(loads, loadAvg())
	for _, d := range sides {
		d.checkStored(b)
	}
	scaleSummary(b, "list", list)
	scaleSummary(b, "ingest", ingestFigs)
	b.Logf("set-up %s (cluster, both databases, checkpoint): single %s, scale %s; whole benchmark %s; "+
		"nproc %d, GOMAXPROCS %d; load average before each side (per round: the list sides, then the ingest sides, in the order run) and at the end: %s",
		setup.Round(time.Second), single.setup.Round(time.Second), many.setup.Round(time.Second),
		time.Since(start).Round(time.Second), runtime.NumCPU(), runtime.GOMAXPROCS(0), strings.Join(loads, " | "))
}

// scaleSummary adds the summary sub-benchmark of one comparison: the median
// ratio scale/single over the rounds with its least and greatest, the
// target (ratio_median@min), each side's median rate, p50, p99 and
// PostgreSQL CPU per request, the median ratio of those CPU times
// scale/single, the load average at the end; and logs the rounds.
func scaleSummary(b *testing.B, what string, figs map[string][]scaleFigures) {
	pick := func(side string, get func(scaleFigures) float64) []float64 {
		var v []float64
		for _, f := range figs[side] {
			v = append(v, get(f))
		}
		return v
	}
	rate := func(f scaleFigures) float64 { return f.rate }
	cpu := func(f scaleFigures) float64 { return f.pgCPU }
	if len(figs["scale"]) == 0 || len(figs["scale"]) != len(figs["single"]) {
		return // a -bench pattern left a side out: nothing to compare
	}
	med, lo, hi := ratios(pick("scale", rate), pick("single", rate))
	cpuMed, cpuLo, cpuHi := ratios(pick("scale", cpu), pick("single", cpu))
	b.Run(what+"/summary", func(b *testing.B) {
		b.ReportMetric(med, "ratio_median")
		b.ReportMetric(lo, "ratio_min")
		b.ReportMetric(hi, "ratio_max")
		b.ReportMetric(scaleTarget, "ratio_median@min")
		for _, side := range []string{"scale", "single"} {
			b.ReportMetric(medianOf(pick(side, rate)), side+"_req/s")
			b.ReportMetric(medianOf(pick(side, func(f scaleFigures) float64 { return f.p50 })), side+"_p50_ms")
			b.ReportMetric(medianOf(pick(side, func(f scaleFigures) float64 { return f.p99 })), side+"_p99_ms")
			b.ReportMetric(medianOf(pick(side, cpu)), side+"_pg_cpu_us")
		}
		b.ReportMetric(cpuMed, "pg_cpu_ratio_median")
		load, _ := strconv.ParseFloat(loadAvg(), 64)
		b.ReportMetric(load, "loadavg")
		b.ReportMetric(0, "ns/op")
	})
	var rounds []string
	for i := range figs["scale"] {
		s, o := figs["scale"][i], figs["single"][i]
		rounds = append(rounds, fmt.Sprintf("round %d: scale %.0f/s p50 %.2f p99 %.2f ms pg %.0f µs %.2f trips, "+
			"single %.0f/s p50 %.2f p99 %.2f ms pg %.0f µs %.2f trips, ratio %.2f",
			i+1, s.rate, s.p50, s.p99, s.pgCPU, s.trips, o.rate, o.p50, o.p99, o.pgCPU, o.trips, s.rate/o.rate))
	}
	verdict := "met"
	if med < scaleTarget {
		verdict = "NOT met"
	}
	b.Logf("%s scale / single: median %.2f× (rounds %.2f–%.2f), target ≥ %.2f %s; PostgreSQL CPU per request "+
		"scale / single: median %.2f× (rounds %.2f–%.2f); %s",
		what, med, lo, hi, scaleTarget, verdict, cpuMed, cpuLo, cpuHi, strings.Join(rounds, "; "))
}

// medianOf is the middle of xs (of an odd count).
func medianOf(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

// scaleLoaders is how many connections the generator's large statements
// (spaces, readings) are split over, each for its share of the tenants:
// more than the two cores, so the load gets its share of a machine that
// other work shares too.
const scaleLoaders = 4

// scaleConn connects to url as the superuser with the generator's
// functions and the bulk-load session settings: index builds sort in
// memory, and foreign-key triggers are off (session_replication_role =
// replica), the rows being consistent by construction — newScaleDB checks
// it afterwards.
func scaleConn(ctx context.Context, url string) (*pgx.Conn, error) {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return nil, err
	}
	if _, err := conn.Exec(ctx, scaleFuncsSQL+`;
		SET maintenance_work_mem = '1GB';
		SET session_replication_role = replica`); err != nil {
		conn.Close(ctx)
		return nil, err
	}
	return conn, nil
}

// inParallel runs sql on scaleLoaders connections at once, each for its
// share of the tenants [lo, hi) as $1 and $2 (args follow them as $3 …),
// and returns the rows inserted.
func inParallel(ctx context.Context, url string, lo, hi int, sql string, args ...any) (int64, error) {
	n := min(scaleLoaders, hi-lo)
	var rows atomic.Int64
	errs := make([]error, n)
	var wg sync.WaitGroup
	for k := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := scaleConn(ctx, url)
			if err != nil {
				errs[k] = err
				return
			}
			defer conn.Close(ctx)
			klo, khi := lo+(hi-lo)*k/n, lo+(hi-lo)*(k+1)/n
			tag, err := conn.Exec(ctx, sql, append([]any{klo, khi}, args...)...)
			errs[k] = err
			rows.Add(tag.RowsAffected())
		}()
	}
	wg.Wait()
	return rows.Load(), errors.Join(errs...)
}

// adminExec runs one statement on its own connection to url.
func adminExec(ctx context.Context, url, sql string, args ...any) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql, args...)
	return err
}

// newScaleDB creates database name on c, bootstraps and migrates it as in
// production, and fills it with tenants numbered [lo, hi): their owners,
// sites, spaces, readings and message claims (the generator's statements
// above), then
// VACUUM (ANALYZE), so the load meets the state autovacuum would leave
// rather than autovacuum at work on the fresh rows.
func newScaleDB(b *testing.B, c *pgcluster.Cluster, name string, measured, lo, hi int, base time.Time, hash string) *scaleDB {
	b.Helper()
	start := time.Now()
	ctx := context.Background()
	url, err := pgtest.CreateMigrated(ctx, c, name)
	if err != nil {
		b.Fatal(err)
	}

	conn, err := scaleConn(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	settings := `{"limits": {"api": {"rate": 1000000, "burst": 1000000}, "webhook": {"rate": 1000000, "burst": 1000000}}}`
	var phases, loads []string
	phase := func(what string, fn func() error) {
		t0 := time.Now()
		if err := fn(); err != nil {
			b.Fatalf("%s: %s: %v", name, what, err)
		}
		phases = append(phases, fmt.Sprintf("%s %s", what, time.Since(t0).Round(100*time.Millisecond)))
	}
	exec := func(sql string, args ...any) func() error {
		return func() error { _, err := conn.Exec(ctx, sql, args...); return err }
	}
	var spaces, readings, claims int64
	// The readings' spacing in seconds, and the first reading whose claim
	// the maintenance keeps: those received within ingest.DedupeRetention.
	every := int(scaleReadingEvery / time.Second)
	firstClaim := scaleReadingsPerSpace - 1 - int(ingest.DedupeRetention/scaleReadingEvery)
	phase("tenants", exec(scaleTenantsSQL, lo, hi, base, settings))
	phase("slugs", exec(scaleSlugsSQL, lo, hi))
	phase("owners", exec(scaleUsersSQL, lo, hi, base, hash))
	phase("memberships", exec(scaleMembersSQL, lo, hi, base))
	phase("sites", exec(scaleSitesSQL, lo, hi, base, scaleSites))
	phase("spaces", func() error {
		return bulkLoad(ctx, url, "spaces", &loads, func() (err error) {
			spaces, err = inParallel(ctx, url, lo, hi, scaleSpacesSQL, base, scaleSpaces, scaleSites, scaleReadingsPerSpace)
			return err
		})
	})
	phase("readings", func() error {
		return bulkLoad(ctx, url, "sensor_readings", &loads, func() (err error) {
			readings, err = inParallel(ctx, url, lo, hi, scaleReadingsSQL, base, scaleSpaces, scaleReadingsPerSpace, every)
			return err
		})
	})
	phase("message claims", func() error {
		return bulkLoad(ctx, url, "uplink_dedupe", &loads, func() (err error) {
			claims, err = inParallel(ctx, url, lo, hi, scaleDedupeSQL, base, scaleSpaces, scaleReadingsPerSpace, every, firstClaim)
			return err
		})
	})
	phase("vacuum analyze", exec("VACUUM (ANALYZE)"))
	if want := int64(hi-lo) * scaleSpaces; spaces != want {
		b.Fatalf("%s: %d spaces, want %d", name, spaces, want)
	}
	if want := int64(hi-lo) * scaleSpaces * scaleReadingsPerSpace; readings != want {
		b.Fatalf("%s: %d readings, want %d", name, readings, want)
	}
	if want := int64(hi-lo) * scaleSpaces * int64(scaleReadingsPerSpace-firstClaim); claims != want {
		b.Fatalf("%s: %d message claims, want %d", name, claims, want)
	}

	// The foreign-key triggers were off: every space must have its site,
	// and every reading of the measured tenant its space.
	d := &scaleDB{name: strings.TrimPrefix(name, "park_")}
	var tenant uuid.UUID
	var sited, matched int64
	var size string
	if err := conn.QueryRow(ctx, `select pg_temp.tid($1), pg_temp.slug($1), pg_size_pretty(pg_database_size(current_database())),
		  (select count(*) from spaces s join sites si on si.tenant_id = s.tenant_id and si.id = s.site_id),
		  (select count(*) from sensor_readings r join spaces s
		     on s.tenant_id = r.tenant_id and s.id = r.space_id and s.sensor_eui = r.dev_eui
		    where r.tenant_id = pg_temp.tid($1))`, measured).Scan(&tenant, &d.slug, &size, &sited, &matched); err != nil {
		b.Fatal(err)
	}
	if sited != spaces {
		b.Fatalf("%s: %d of %d spaces have their site", name, sited, spaces)
	}
	if matched != scaleSpaces*scaleReadingsPerSpace {
		b.Fatalf("%s: %d readings of the measured tenant match its spaces, want %d", name, matched, scaleSpaces*scaleReadingsPerSpace)
	}
	d.ingest = &ingestBench{tenant: tenant}
	d.setup = time.Since(start)
	b.Logf("%s: %d tenants, %d spaces, %d readings, %d message claims, %s, in %s (%s; %s)", name, hi-lo, spaces, readings, claims,
		size, d.setup.Round(time.Second), strings.Join(phases, ", "), strings.Join(loads, "; "))
	return d
}

// bulkLoad runs load, which inserts into table, the way a bulk load is
// done: the table's indexes — and its primary and unique constraints that
// no foreign key depends on — are dropped first and built again
// afterwards from their own definitions (at once, each on a connection of
// its own), one sort each rather than millions of insertions at random
// places. It fails unless the table's index and constraint definitions
// afterwards are exactly those before.
func bulkLoad(ctx context.Context, url, table string, timings *[]string, load func() error) error {
	conn, err := scaleConn(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	defs := func() ([]string, error) {
		rows, err := conn.Query(ctx, `
			select 'constraint ' || conname || ' ' || pg_get_constraintdef(oid) from pg_constraint where conrelid = $1::regclass
			union all
			select 'index ' || pg_get_indexdef(indexrelid) from pg_index where indrelid = $1::regclass
			order by 1`, table)
		if err != nil {
			return nil, err
		}
		return pgx.CollectRows(rows, pgx.RowTo[string])
	}
	before, err := defs()
	if err != nil {
		return err
	}
	// Each entry drops one index (or constraint) and builds it again.
	rows, err := conn.Query(ctx, `
		select format('ALTER TABLE %I DROP CONSTRAINT %I', $1::text, c.conname),
		       format('ALTER TABLE %I ADD CONSTRAINT %I %s', $1::text, c.conname, pg_get_constraintdef(c.oid))
		  from pg_constraint c
		 where c.conrelid = $1::regclass and c.contype in ('p', 'u')
		   and not exists (select 1 from pg_constraint f where f.contype = 'f' and f.conindid = c.conindid)
		union all
		select format('DROP INDEX %s', i.indexrelid::regclass), pg_get_indexdef(i.indexrelid)
		  from pg_index i
		 where i.indrelid = $1::regclass
		   and not exists (select 1 from pg_constraint c where c.conindid = i.indexrelid)`, table)
	if err != nil {
		return err
	}
	type rebuild struct{ drop, create string }
	todo, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (rebuild, error) {
		var x rebuild
		return x, r.Scan(&x.drop, &x.create)
	})
	if err != nil {
		return err
	}
	for _, x := range todo {
		if _, err := conn.Exec(ctx, x.drop); err != nil {
			return err
		}
	}
	t0 := time.Now()
	if err := load(); err != nil {
		return fmt.Errorf("insert: %w", err)
	}
	t1 := time.Now()
	errs := make([]error, len(todo))
	var wg sync.WaitGroup
	for i, x := range todo {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = adminExec(ctx, url, "SET maintenance_work_mem = '1GB'; "+x.create)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	*timings = append(*timings, fmt.Sprintf("%s: insert %s, %d indexes %s", table,
		t1.Sub(t0).Round(100*time.Millisecond), len(todo), time.Since(t1).Round(100*time.Millisecond)))
	after, err := defs()
	if err != nil {
		return err
	}
	if !slices.Equal(before, after) {
		return fmt.Errorf("%s: indexes and constraints differ after the load:\nbefore %q\nafter  %q", table, before, after)
	}
	return nil
}

// serveScale serves d's measured tenant as parkd serve wires the API: the
// park_server pool of ingestClients connections, token authentication
// with the membership check, the in-process rate limiter with the
// tenants' policies, the webhook intake with sealed secrets, the
// group-commit writer and the orphan limit, JSON logs at info level (to
// io.Discard), metrics. It gives the tenant a token-mode webhook secret
// and its owner an access token.
func serveScale(b *testing.B, c *pgcluster.Cluster, d *scaleDB) {
	b.Helper()
	ctx := context.Background()
	name := "park_" + d.name
	e := d.ingest
	e.parkRT = &pgtest.TripCounter{}
	e.admin = benchPool(b, c.AdminURL(name), 2, nil)
	pool := benchPool(b, c.URL(name, bootstrap.RoleServer), ingestClients, e.parkRT)
	store := tenancy.NewStore(pool)
	reg := prometheus.NewRegistry()
	logger := slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))

	metrics, err := ratelimit.NewMetrics(reg)
	if err != nil {
		b.Fatal(err)
	}
	limiter := ratelimit.Instrument(ratelimit.NewLocal(ratelimit.LocalOptions{}), metrics)
	policies := ratelimit.NewTenantPolicies(ratelimit.DefaultPolicies(), LimitsLoader(store), ratelimit.DefaultTenantTTL, nil)
	hasher, err := tenancy.NewHasher(4, 0)
	if err != nil {
		b.Fatal(err)
	}
	tokens, err := tenancy.NewTokens([]byte(scaleJWTSecret), nil, time.Hour, nil)
	if err != nil {
		b.Fatal(err)
	}
	auth, err := tenancy.NewAuth(store, tenancy.AuthConfig{Hasher: hasher, Tokens: tokens, Registerer: reg})
	if err != nil {
		b.Fatal(err)
	}
	keyring := &ingest.Keyring{Current: 1, Keys: map[int][]byte{1: []byte("bench-master-key-exactly-32-byte")}}
	ingestStore := ingest.NewStore(store, ingest.StoreOptions{Keyring: keyring, Logger: logger,
		Orphans: &ingest.OrphanLimit{Limiter: limiter, Policy: func(ctx context.Context, tenant uuid.UUID) ratelimit.Policy {
			ps, _ := policies.Get(ctx, tenant.String())
			return ps.Orphan
		}}})
	e.batches = reg
	writer, err := ingest.NewWriter(ingestStore.StoreBatch, ingest.WriterOptions{Registerer: reg})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = writer.Close(context.Background()) })
	_, e.token, err = ingestStore.SecretRotate(ctx, &ingest.SecretRotateParams{
		TenantID: e.tenant, Mode: ingest.ModeToken, Actor: "operator:bench"})
	if err != nil {
		b.Fatal(err)
	}
	intake := ingest.NewIntake(store.WebhookTenant, ingestStore, writer, ingest.IntakeOptions{Logger: logger})
	e.srv = httptest.NewServer(NewServer(Deps{
		Logger: logger, Registry: reg, Tenancy: store, Auth: auth,
		Limiter: limiter, RatePolicies: policies, LimitKeySecret: []byte(scaleJWTSecret),
		Ingest: intake, IngestStore: ingestStore,
	}))
	b.Cleanup(e.srv.Close)
	e.client = &http.Client{Transport: &http.Transport{
		MaxIdleConns: ingestClients, MaxIdleConnsPerHost: ingestClients, MaxConnsPerHost: ingestClients,
		DisableCompression: true,
	}}
	b.Cleanup(e.client.CloseIdleConnections)

	var owner uuid.UUID
	if err := e.admin.QueryRow(ctx, `select user_id from user_memberships where tenant_id = $1 and role = 'owner'`,
		e.tenant).Scan(&owner); err != nil {
		b.Fatal(err)
	}
	d.jwt, _, err = tokens.Issue(owner, e.tenant, 1)
	if err != nil {
		b.Fatal(err)
	}
	if err := e.admin.QueryRow(ctx, `select (select count(*) from sensor_readings where tenant_id = $1),
		(select count(*) from uplink_dedupe where tenant_id = $1)`, e.tenant).Scan(&d.readings, &d.dedupe); err != nil {
		b.Fatal(err)
	}
}

// listURL is the list read both sides measure.
func (d *scaleDB) listURL() string {
	return d.ingest.srv.URL + "/api/v1/spaces?limit=" + strconv.Itoa(scalePageLimit)
}

// checkSameList fails unless both sides answer the list read with the
// same bytes, a full page with a cursor.
func checkSameList(b *testing.B, sides []*scaleDB) {
	var want []byte
	for _, d := range sides {
		req, err := http.NewRequest(http.MethodGet, d.listURL(), nil)
		if err != nil {
			b.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+d.jwt)
		resp, err := d.ingest.client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			b.Fatalf("%s: GET %s: %d %v: %.300s", d.name, req.URL.Path, resp.StatusCode, err, body)
		}
		if want == nil {
			var page struct {
				Items      []map[string]any `json:"items"`
				NextCursor *string          `json:"next_cursor"`
			}
			if err := json.Unmarshal(body, &page); err != nil || len(page.Items) != scalePageLimit || page.NextCursor == nil {
				b.Fatalf("%s: not a full page with a cursor (%v): %.300s", d.name, err, body)
			}
			want = body
		} else if !bytes.Equal(body, want) {
			b.Fatalf("the sides answer differently:\n%s %s\n%s %s", sides[0].name, want, d.name, body)
		}
	}
}

// listRun sends b.N list reads with d's owner's token from ingestClients
// goroutines and returns reads/s and the p50 and p99 latency in
// milliseconds; check judges every answer.
func listRun(b *testing.B, d *scaleDB, check func(status int, body []byte) error) benchFigures {
	var mu sync.Mutex
	var lat []time.Duration
	url, auth := d.listURL(), "Bearer "+d.jwt
	b.SetParallelism(max(1, (ingestClients+runtime.GOMAXPROCS(0)-1)/runtime.GOMAXPROCS(0)))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var mine []time.Duration
		var body bytes.Buffer
		for pb.Next() {
			req, err := http.NewRequest(http.MethodGet, url, nil)
			if err != nil {
				b.Error(err)
				return
			}
			req.Header.Set("Authorization", auth)
			start := time.Now()
			resp, err := d.ingest.client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			body.Reset()
			_, err = body.ReadFrom(resp.Body)
			resp.Body.Close()
			mine = append(mine, time.Since(start))
			if err == nil {
				err = check(resp.StatusCode, body.Bytes())
			}
			if err != nil {
				b.Errorf("GET %s: %v", url, err)
				return
			}
		}
		mu.Lock()
		lat = append(lat, mine...)
		mu.Unlock()
	})
	b.StopTimer()
	f := benchFigures{rate: float64(b.N) / b.Elapsed().Seconds()}
	slices.Sort(lat)
	if len(lat) > 0 {
		pct := func(p float64) float64 {
			return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
		}
		f.p50, f.p99 = pct(0.50), pct(0.99)
	}
	b.ReportMetric(f.rate, "reads/s")
	b.ReportMetric(f.p50, "p50-ms")
	b.ReportMetric(f.p99, "p99-ms")
	return f
}

// checkStored fails the benchmark unless the ingest load stored exactly
// one reading and one message claim per 2xx answer on d over every run:
// nothing lost, nothing doubled.
func (d *scaleDB) checkStored(b *testing.B) {
	var readings, dedupe int64
	if err := d.ingest.admin.QueryRow(context.Background(),
		`select (select count(*) from sensor_readings where tenant_id = $1),
		        (select count(*) from uplink_dedupe where tenant_id = $1)`, d.ingest.tenant).Scan(&readings, &dedupe); err != nil {
		b.Fatal(err)
	}
	acked := d.ingest.parkAcks.Load()
	if readings-d.readings != acked || dedupe-d.dedupe != acked {
		b.Fatalf("%s: %d uplinks answered 2xx, %d readings stored, %d messages claimed",
			d.name, acked, readings-d.readings, dedupe-d.dedupe)
	}
}

// batchRecorder records the statements and arguments of the batches sent
// on a connection.
type batchRecorder struct{ queries []pgx.TraceBatchQueryData }

func (r *batchRecorder) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	return ctx
}

func (r *batchRecorder) TraceBatchQuery(_ context.Context, _ *pgx.Conn, d pgx.TraceBatchQueryData) {
	r.queries = append(r.queries, d)
}

func (r *batchRecorder) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

func (r *batchRecorder) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	return ctx
}

func (r *batchRecorder) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// listPlans returns the plans, as EXPLAIN (ANALYZE, BUFFERS) prints them,
// of the statement the store sends for the list read, run as park_app for
// d's measured tenant: planned for the request's values (a custom plan)
// and planned once for any values (the generic plan, which a prepared
// statement may switch to after five runs). The statement is taken from
// the store itself, on a traced connection, so the plans are of what the
// server runs.
func listPlans(b *testing.B, c *pgcluster.Cluster, d *scaleDB) (custom, generic string) {
	ctx := context.Background()
	name := "park_" + d.name
	cfg, err := pgxpool.ParseConfig(c.URL(name, bootstrap.RoleServer))
	if err != nil {
		b.Fatal(err)
	}
	rec := &batchRecorder{}
	cfg.ConnConfig.Tracer = rec
	cfg.MaxConns = 1
	traced, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer traced.Close()
	if _, err := tenancy.NewStore(traced).SpaceList(ctx, &tenancy.SpaceListParams{TenantID: d.ingest.tenant,
		Page: tenancy.PageParams{Limit: scalePageLimit}}); err != nil {
		b.Fatal(err)
	}
	var q *pgx.TraceBatchQueryData
	for i := range rec.queries {
		if strings.Contains(rec.queries[i].SQL, "v_spaces") {
			q = &rec.queries[i]
		}
	}
	if q == nil {
		b.Fatalf("the store's list read sent no statement on v_spaces: %+v", rec.queries)
	}

	conn, err := pgx.Connect(ctx, c.AdminURL(name))
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	explain := func(mode, sql string) string {
		tx, err := conn.Begin(ctx)
		if err != nil {
			b.Fatal(err)
		}
		defer tx.Rollback(ctx)
		if _, err := tx.Exec(ctx, `select set_config('role', 'park_app', true), set_config('app.tenant_id', $1, true),
			set_config('plan_cache_mode', $2, true)`, d.ingest.tenant.String(), mode); err != nil {
			b.Fatal(err)
		}
		// The simple protocol writes the values into the text: EXPLAIN
		// describes no parameters of its own.
		rows, err := tx.Query(ctx, "EXPLAIN (ANALYZE, BUFFERS) "+sql, append([]any{pgx.QueryExecModeSimpleProtocol}, q.Args...)...)
		if err != nil {
			b.Fatal(err)
		}
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			b.Fatal(err)
		}
		return strings.Join(lines, "\n")
	}
	custom = explain("force_custom_plan", q.SQL)
	if _, err := conn.Exec(ctx, "PREPARE scale_list AS "+q.SQL); err != nil {
		b.Fatal(err)
	}
	params := make([]string, len(q.Args))
	for i := range params {
		params[i] = "$" + strconv.Itoa(i+1)
	}
	generic = explain("force_generic_plan", "EXECUTE scale_list("+strings.Join(params, ", ")+")")
	return custom, generic
}

// scaleFigures are one side's figures in one round: the load's, and the
// CPU time PostgreSQL (every process of the cluster) spent per request in
// microseconds and the round trips per request of the side's server pool —
// figures a busy machine disturbs less than the rates.
type scaleFigures struct {
	benchFigures
	pgCPU, trips float64
}

// measure runs one side's load and adds the PostgreSQL CPU time and round
// trips per request to its figures, reporting both.
func measure(b *testing.B, pg int, d *scaleDB, run func() benchFigures) scaleFigures {
	cpu0, trips0 := pgTicks(pg), d.ingest.parkRT.Trips()
	f := scaleFigures{benchFigures: run()}
	f.pgCPU = float64(pgCPUSince(pg, cpu0).Microseconds()) / float64(b.N)
	f.trips = float64(d.ingest.parkRT.Trips()-trips0) / float64(b.N)
	b.ReportMetric(f.pgCPU, "pg-cpu-us/req")
	b.ReportMetric(f.trips, "trips/req")
	return f
}

// pgTicks returns the CPU time, in clock ticks, that the postmaster pid
// and each of its child processes now running have used, by process id;
// nil when /proc cannot tell.
func pgTicks(pid int) map[int]int64 {
	dirs, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	out := map[int]int64{}
	for _, d := range dirs {
		id, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		raw, err := os.ReadFile("/proc/" + d.Name() + "/stat")
		if err != nil {
			continue // gone meanwhile
		}
		// The command name, field 2, is in parentheses and may hold
		// spaces: fields are counted after its closing one.
		stat := string(raw)
		f := strings.Fields(stat[strings.LastIndexByte(stat, ')')+1:])
		if len(f) < 13 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		utime, _ := strconv.ParseInt(f[11], 10, 64)
		stime, _ := strconv.ParseInt(f[12], 10, 64)
		if id == pid || ppid == pid {
			out[id] = utime + stime
		}
	}
	return out
}

// pgCPUSince is the CPU time the postmaster pid and its children used
// since pgTicks returned before: a process started meanwhile counts from
// zero, one that ended meanwhile is not counted (the servers' pools keep
// their connections open, so what ends is background work).
func pgCPUSince(pid int, before map[int]int64) time.Duration {
	var ticks int64
	for id, t := range pgTicks(pid) {
		ticks += t - before[id]
	}
	// USER_HZ is 100 on every Linux this runs on.
	return time.Duration(ticks) * 10 * time.Millisecond
}
