package reservation_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parkhq/park/internal/bootstrap"
	"github.com/parkhq/park/internal/pgcluster"
	"github.com/parkhq/park/internal/pgtest"
	"github.com/parkhq/park/reservation"
	"github.com/parkhq/park/tenancy"
)

// benchClients is the number of concurrent clients (DESIGN §10).
const benchClients = 32

// benchRounds interleaves the two sides, so a slow patch of the machine
// (a checkpoint, another process) hurts both alike.
const benchRounds = 3

// benchDB is a durable cluster with a migrated database, a tenant and one
// space per client.
type benchDB struct {
	admin  *pgxpool.Pool // superuser: the plain INSERT side
	server *pgxpool.Pool // park_server: the store side
	tenant uuid.UUID
	spaces []uuid.UUID
	// next holds the next free slot of each space. Both sides take slots
	// from it, so no two rows ever overlap and the constraint never
	// refuses one.
	next []atomic.Int64
	base time.Time
	// cluster is read for its CPU time.
	cluster *pgcluster.Cluster
}

// BenchmarkCreate measures reservation creation throughput through
// Store.CreateIdempotent — as park_app via InTenantTx: claim the key, lock
// the space, insert, audit, store the answer, commit — against a plain
// autocommit pgx INSERT of the same rows, from benchClients clients on one
// durable cluster (fsync and synchronous_commit on). Slots never overlap.
// It reports rows/s per side and logs the median ratio over benchRounds
// interleaved rounds, with the spread.
func BenchmarkCreate(b *testing.B) {
	db := startBenchDB(b)
	store := reservation.NewStore(tenancy.NewStore(db.server), reservation.Options{})
	principal := uuid.New()
	ctx := context.Background()
	var keys atomic.Int64

	// The store side runs last in each round, so the last sub-benchmark
	// can report the ratio over all rounds next to its own rate.
	sides := []struct {
		name string
		book func(space uuid.UUID, start, end time.Time) error
	}{
		{"insert", func(space uuid.UUID, start, end time.Time) error {
			_, err := db.admin.Exec(ctx,
				`insert into reservations (tenant_id, id, space_id, during, request_id, created_by)
				 values ($1, $2, $3, tstzrange($4, $5, '[)'), $6, $7)`,
				db.tenant, uuid.New(), space, start, end, "bench-"+strconv.FormatInt(keys.Add(1), 10), principal)
			return err
		}},
		{"store", func(space uuid.UUID, start, end time.Time) error {
			p := params(db.tenant, principal, space, start, end)
			p.IdempotencyKey = "bench-" + strconv.FormatInt(keys.Add(1), 10)
			ans, err := store.CreateIdempotent(ctx, p, render)
			if err == nil && ans.Status != 201 {
				err = fmt.Errorf("answer %d: %s", ans.Status, ans.Body)
			}
			return err
		}},
	}
	rates := map[string][]float64{}
	cpus := map[string][]string{}
	for round := 1; round <= benchRounds; round++ {
		for _, side := range sides {
			var rate float64
			var cpu string
			b.Run(fmt.Sprintf("round=%d/%s", round, side.name), func(b *testing.B) {
				pg0, go0 := db.cpu(b)
				rate = db.run(b, side.book)
				pg1, go1 := db.cpu(b)
				pg, gocpu := float64((pg1-pg0).Microseconds())/float64(b.N), float64((go1-go0).Microseconds())/float64(b.N)
				b.ReportMetric(pg, "pg-cpu-us/row")
				b.ReportMetric(gocpu, "go-cpu-us/row")
				cpu = fmt.Sprintf("%.0f/%.0f", pg, gocpu)
				if round == benchRounds && side.name == "store" {
					// The median over the rounds of store/insert, and
					// the spread, on the benchmark's own output line
					// (a parent benchmark's log shows only with -v).
					med, lo, hi := ratios(append(rates["store"], rate), rates["insert"])
					b.ReportMetric(med, "ratio_median")
					b.ReportMetric(lo, "ratio_min")
					b.ReportMetric(hi, "ratio_max")
					b.ReportMetric(0.5, "ratio_median@min") // the target (issue 12)
				}
			})
			rates[side.name] = append(rates[side.name], rate)
			cpus[side.name] = append(cpus[side.name], cpu)
		}
	}
	med, lo, hi := ratios(rates["store"], rates["insert"])
	b.Logf("store / insert: median %.2f× (rounds %.2f–%.2f); store %s rows/s, insert %s rows/s; "+
		"CPU µs/row PostgreSQL/Go store %v, insert %v; load average %s",
		med, lo, hi, fmtRates(rates["store"]), fmtRates(rates["insert"]), cpus["store"], cpus["insert"], loadAvg())
}

// cpu returns the CPU time so far of the cluster (all its processes) and
// of this process (the clients of both sides). Per row they tell where
// the work goes, which rates on a shared machine alone cannot.
func (db *benchDB) cpu(b *testing.B) (pg, proc time.Duration) {
	pg, err := db.cluster.CPUTime()
	if err != nil {
		b.Fatal(err)
	}
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return pg, time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// loadAvg is the 1-minute load average, or "?".
func loadAvg() string {
	raw, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Fields(string(raw))[0]
}

// run books from benchClients goroutines, each on its own space, and
// returns rows per second.
func (db *benchDB) run(b *testing.B, book func(space uuid.UUID, start, end time.Time) error) float64 {
	var clients atomic.Int64
	b.SetParallelism(max(1, (benchClients+runtime.GOMAXPROCS(0)-1)/runtime.GOMAXPROCS(0)))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := int(clients.Add(1)-1) % len(db.spaces)
		for pb.Next() {
			start := db.base.Add(time.Duration(db.next[i].Add(1)) * time.Minute)
			if err := book(db.spaces[i], start, start.Add(time.Minute)); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	rate := float64(b.N) / b.Elapsed().Seconds()
	b.ReportMetric(rate, "rows/s")
	return rate
}

// startBenchDB starts a durable cluster of its own (the test harness's is
// not durable), bootstraps and migrates a database on it and adds the
// fixtures. Everything is removed when the benchmark ends.
func startBenchDB(b *testing.B) *benchDB {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := pgcluster.Start(ctx, pgcluster.Options{Durable: true})
	if errors.Is(err, pgcluster.ErrNotFound) && os.Getenv("CI") != "true" {
		b.Skip("no PostgreSQL server binaries:", err)
	}
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Stop() })

	const name = "park_bench"
	url, err := pgtest.CreateMigrated(ctx, c, name)
	if err != nil {
		b.Fatal(err)
	}

	db := &benchDB{
		admin:  pool(b, url, benchClients),
		server: pool(b, c.URL(name, bootstrap.RoleServer), benchClients),
		tenant: uuid.New(),
		spaces: make([]uuid.UUID, benchClients),
		next:   make([]atomic.Int64, benchClients),
		base:   time.Now().UTC().Truncate(time.Hour).Add(time.Hour),

		cluster: c,
	}
	site := uuid.New()
	if _, err := db.admin.Exec(ctx, `insert into tenants (id, name, slug) values ($1, 'Bench', 'bench')`, db.tenant); err != nil {
		b.Fatal(err)
	}
	if _, err := db.admin.Exec(ctx, `insert into sites (tenant_id, id, name, timezone) values ($1, $2, 'Bench', 'UTC')`, db.tenant, site); err != nil {
		b.Fatal(err)
	}
	for i := range db.spaces {
		db.spaces[i] = uuid.New()
		if _, err := db.admin.Exec(ctx, `insert into spaces (tenant_id, id, site_id, code) values ($1, $2, $3, $4)`,
			db.tenant, db.spaces[i], site, "B"+strconv.Itoa(i)); err != nil {
			b.Fatal(err)
		}
	}
	return db
}

// pool opens a pool of at most conns connections (all opened at once, so
// no round pays for connecting), closed when the benchmark ends.
func pool(b *testing.B, url string, conns int) *pgxpool.Pool {
	b.Helper()
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		b.Fatal(err)
	}
	cfg.MaxConns, cfg.MinConns = int32(conns), int32(conns)
	p, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(p.Close)
	return p
}

// ratios returns the median, least and greatest of a[i]/b[i].
func ratios(a, b []float64) (med, lo, hi float64) {
	r := make([]float64, len(a))
	for i := range a {
		r[i] = a[i] / b[i]
	}
	slices.Sort(r)
	return r[len(r)/2], r[0], r[len(r)-1]
}

func fmtRates(rs []float64) string {
	s := make([]string, len(rs))
	for i, r := range rs {
		s[i] = strconv.FormatFloat(r, 'f', 0, 64)
	}
	return fmt.Sprint(s)
}
