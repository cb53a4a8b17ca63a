package parkd

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parkhq/park/ingest"
	"github.com/parkhq/park/internal/bootstrap"
	"github.com/parkhq/park/internal/pgcluster"
	"github.com/parkhq/park/internal/pgtest"
	"github.com/parkhq/park/tenancy"
)

// The shape every benchmark of this file shares (DESIGN §10).
const (
	// benchClients is the number of concurrent keep-alive HTTP clients.
	benchClients = 32
	// benchRounds interleaves the sides of a comparison, so a slow patch
	// of the shared machine hurts every side alike.
	benchRounds = 3
	// benchSpaces is the number of spaces (each with a sensor) of the one
	// tenant; a page of the list is benchPageLimit of them.
	benchSpaces = 500
	// benchPageLimit is the page size the read benchmark asks for.
	benchPageLimit = 50
	// benchSlug is the tenant's slug (its webhook URL).
	benchSlug = "bench"
)

// benchDB is a durable cluster of a benchmark's own (the test harness's is
// not durable), with one database bootstrapped and migrated as in
// production and the tenant of the fixture in it.
type benchDB struct {
	cluster   *pgcluster.Cluster
	serverURL string        // the park_server login, as parkd serve connects
	admin     *pgxpool.Pool // superuser: fixtures and counts
	tenant    uuid.UUID
	owner     uuid.UUID // the tenant's owner, whose tokens the reads send
	// ownerVersion is the owner's token_version.
	ownerVersion int
	jwt          string // an access token of the tenant's owner
	webhook      string // the tenant's token-mode webhook secret
	tokens       *tenancy.Tokens
}

// benchDBs is the benchmark database of this test binary: the first
// benchmark that needs it starts it, the others share it (none writes what
// another reads: the read benchmarks compare answers only within their own
// run), and TestMain stops it. A durable cluster, bootstrapped and
// migrated, takes a while to start on a loaded machine, and make bench has
// ten minutes for everything.
var benchDBs struct {
	mu  sync.Mutex
	d   *benchDB
	err error
}

// startBenchDB returns the benchmark database, started on first use, with
// a fresh access token of the tenant's owner (a token lives 15 minutes).
// Without PostgreSQL's server binaries it skips the benchmark, except in
// CI.
func startBenchDB(b *testing.B) *benchDB {
	b.Helper()
	benchDBs.mu.Lock()
	defer benchDBs.mu.Unlock()
	if benchDBs.d == nil && benchDBs.err == nil {
		benchDBs.d, benchDBs.err = openBenchDB()
	}
	if errors.Is(benchDBs.err, pgcluster.ErrNotFound) && os.Getenv("CI") != "true" {
		b.Skip("no PostgreSQL server binaries:", benchDBs.err)
	}
	if benchDBs.err != nil {
		b.Fatal(benchDBs.err)
	}
	d := benchDBs.d
	var err error
	if d.jwt, _, err = d.tokens.Issue(d.owner, d.tenant, d.ownerVersion); err != nil {
		b.Fatal(err)
	}
	return d
}

// stopBenchDB stops the benchmark database, if a benchmark started it.
func stopBenchDB() {
	benchDBs.mu.Lock()
	defer benchDBs.mu.Unlock()
	if benchDBs.d != nil {
		benchDBs.d.close()
		benchDBs.d = nil
	}
}

// close closes the pool and stops the cluster.
func (d *benchDB) close() {
	if d.admin != nil {
		d.admin.Close()
	}
	_ = d.cluster.Stop()
}

// openBenchDB starts the cluster and makes the fixture: a tenant
// registered as through the API (its owner's access tokens signed with
// testJWT), one site, benchSpaces spaces with sensors, some of them
// occupied or free, a token-mode webhook secret sealed under
// testMasterKey, and the tenant's API and webhook limits raised so no
// request of a benchmark is refused for its rate (the limiter still
// decides every request).
func openBenchDB() (_ *benchDB, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c, err := pgcluster.Start(ctx, pgcluster.Options{Durable: true, Settings: map[string]string{"max_connections": "200"}})
	if err != nil {
		return nil, err
	}
	d := &benchDB{cluster: c}
	defer func() {
		if err != nil {
			d.close()
		}
	}()

	const name = "park_bench"
	url, err := pgtest.CreateMigrated(ctx, c, name)
	if err != nil {
		return nil, err
	}

	d.serverURL = c.URL(name, bootstrap.RoleServer)
	d.admin, err = pgxpool.New(ctx, url)
	if err != nil {
		return nil, err
	}
	server, err := pgxpool.New(ctx, d.serverURL)
	if err != nil {
		return nil, err
	}
	defer server.Close()
	store := tenancy.NewStore(server)
	hasher, err := tenancy.NewHasher(4, 0)
	if err != nil {
		return nil, err
	}
	d.tokens, err = tenancy.NewTokens([]byte(testJWT), nil, 0, nil)
	if err != nil {
		return nil, err
	}
	auth, err := tenancy.NewAuth(store, tenancy.AuthConfig{Hasher: hasher, Tokens: d.tokens})
	if err != nil {
		return nil, err
	}
	sess, err := auth.Register(ctx, tenancy.RegisterParams{Email: "owner@bench.invalid", Name: "Bench Owner",
		Password: "correct horse battery staple", TenantName: "Bench", Slug: benchSlug})
	if err != nil {
		return nil, err
	}
	d.tenant, d.owner = sess.Tenant.ID, sess.User.ID
	claims, err := d.tokens.Verify(sess.AccessToken)
	if err != nil {
		return nil, err
	}
	d.ownerVersion = claims.TokenVersion

	site := uuid.New()
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`update tenants set settings = settings || $2::jsonb where id = $1`,
			[]any{d.tenant, `{"limits":{"api":{"rate":1000000,"burst":1000000},"webhook":{"rate":1000000,"burst":1000000}}}`}},
		{`insert into sites (tenant_id, id, name, timezone) values ($1, $2, 'North lot', 'Europe/Amsterdam')`, []any{d.tenant, site}},
		{`insert into spaces (tenant_id, id, site_id, code, name, sensor_eui, state, state_changed_at, last_reading_at)
		  select $1, gen_random_uuid(), $2, 'N-' || lpad(i::text, 4, '0'), 'Bay ' || i,
		         lower('70B3D57E' || lpad(upper(to_hex(i)), 8, '0')),
		         (array['unknown', 'free', 'occupied'])[i % 3 + 1],
		         case when i % 3 = 0 then null else now() - i * interval '1 minute' end,
		         case when i % 3 = 0 then null else now() - i * interval '1 minute' end
		    from generate_series(0, $3::int - 1) i`, []any{d.tenant, site, benchSpaces}},
	} {
		if _, err := d.admin.Exec(ctx, q.sql, q.args...); err != nil {
			return nil, fmt.Errorf("fixture: %w", err)
		}
	}
	mk, err := ParseMasterKey(testMasterKey)
	if err != nil {
		return nil, err
	}
	kr := &ingest.Keyring{Current: int(mk.Version), Keys: map[int][]byte{int(mk.Version): []byte(mk.Key)}}
	_, d.webhook, err = ingest.NewStore(store, ingest.StoreOptions{Keyring: kr}).SecretRotate(ctx,
		&ingest.SecretRotateParams{TenantID: d.tenant, Mode: ingest.ModeToken, Actor: "operator:bench"})
	if err != nil {
		return nil, err
	}
	return d, nil
}

// serveEnv is parkd serve's environment for the benchmark database:
// production settings but for the bcrypt cost (no benchmark logs in) and
// the log level (info, parkd's default, stated).
func (d *benchDB) serveEnv() env {
	e := serveEnv(d.serverURL)
	e["PARKD_LOG_LEVEL"] = "info"
	return e
}

// sideFigures are one side's figures in one round: requests/s, the p50
// and p99 latency in milliseconds, and the CPU time this process (server
// and clients) and PostgreSQL spent per request in microseconds.
type sideFigures struct{ rate, p50, p99, cpu, pgCPU float64 }

// treeCPU is the CPU time (user and system) process pid and its children
// now running have used: a PostgreSQL postmaster and its backends. 0 when
// /proc cannot tell.
func treeCPU(pid int) time.Duration {
	ticks := func(stat string) (ppid int, t int64, ok bool) {
		// The command name, field 2, is in parentheses and may hold
		// spaces: fields are counted after its closing one.
		i := strings.LastIndexByte(stat, ')')
		if i < 0 {
			return 0, 0, false
		}
		f := strings.Fields(stat[i+1:])
		if len(f) < 13 {
			return 0, 0, false
		}
		ppid, _ = strconv.Atoi(f[1])
		u, _ := strconv.ParseInt(f[11], 10, 64)
		s, _ := strconv.ParseInt(f[12], 10, 64)
		return ppid, u + s, true
	}
	dirs, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	var total int64
	for _, d := range dirs {
		id, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		raw, err := os.ReadFile("/proc/" + d.Name() + "/stat")
		if err != nil {
			continue
		}
		if ppid, t, ok := ticks(string(raw)); ok && (id == pid || ppid == pid) {
			total += t
		}
	}
	// USER_HZ is 100 on every Linux this runs on.
	return time.Duration(total) * 10 * time.Millisecond
}

// processCPU is the CPU time (user and system) this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// loadRun sends b.N requests from benchClients goroutines through client and
// returns the side's figures. next makes the n-th request (n counts across
// goroutines); check judges each answer. pg is the postmaster's pid, whose
// process tree's CPU time is counted (0: not counted).
func loadRun(b *testing.B, client *http.Client, pg int, next func(n int64) (*http.Request, error),
	check func(status int, body []byte) error) sideFigures {
	var (
		mu  sync.Mutex
		lat []time.Duration
		seq int64
	)
	b.SetParallelism(max(1, (benchClients+runtime.GOMAXPROCS(0)-1)/runtime.GOMAXPROCS(0)))
	cpu0, pg0 := processCPU(), treeCPU(pg)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		mine := make([]time.Duration, 0, 1024)
		var body bytes.Buffer
		for pb.Next() {
			mu.Lock()
			seq++
			n := seq
			mu.Unlock()
			req, err := next(n)
			if err != nil {
				b.Error(err)
				return
			}
			start := time.Now()
			resp, err := client.Do(req)
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
				b.Errorf("%s %s: %v", req.Method, req.URL.Path, err)
				return
			}
		}
		mu.Lock()
		lat = append(lat, mine...)
		mu.Unlock()
	})
	b.StopTimer()
	f := sideFigures{rate: float64(b.N) / b.Elapsed().Seconds(),
		cpu:   float64((processCPU() - cpu0).Microseconds()) / float64(b.N),
		pgCPU: float64((treeCPU(pg) - pg0).Microseconds()) / float64(b.N)}
	slices.Sort(lat)
	if len(lat) > 0 {
		pct := func(p float64) float64 {
			return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
		}
		f.p50, f.p99 = pct(0.50), pct(0.99)
	}
	b.ReportMetric(f.rate, "req/s")
	b.ReportMetric(f.p50, "p50-ms")
	b.ReportMetric(f.p99, "p99-ms")
	b.ReportMetric(f.cpu, "cpu-us/req")
	if pg != 0 {
		b.ReportMetric(f.pgCPU, "pg-cpu-us/req")
	}
	b.ReportMetric(0, "ns/op")
	return f
}

// benchSide is one side of a comparison: how it makes its next request and
// judges the answer.
type benchSide struct {
	name  string
	next  func() (*http.Request, error)
	check func(status int, body []byte) error
}

// turnLen is the length of one turn of a side within a round of
// runRound: the sides take turns this short so that the shared machine's
// slow patches, which last seconds, fall on both sides alike.
const turnLen = time.Second

// perSideDuration is how long each side runs in each round: the
// -test.benchtime flag when it is a duration, else 6 s.
func perSideDuration() time.Duration {
	if f := flag.Lookup("test.benchtime"); f != nil {
		if d, err := time.ParseDuration(f.Value.String()); err == nil && d > 0 {
			return d
		}
	}
	return 6 * time.Second
}

// runRound runs one round of a comparison: the sides take turns of
// turnLen (which goes first alternates) until each has run perSide, each
// turn from benchClients keep-alive clients that start together. A side's
// rate is the requests completed within its turns over their length;
// requests still in flight when a turn ends finish before the next turn
// starts and count only for the CPU time per request (this process's and
// PostgreSQL's, pg being the postmaster's pid). p50 and p99 are over the
// requests completed within the turns.
func runRound(b *testing.B, client *http.Client, pg int, sides []benchSide, perSide time.Duration) []sideFigures {
	type acc struct {
		lat        []time.Duration
		done       int64 // completed, in flight at a turn's end included
		window     time.Duration
		cpu, pgCPU time.Duration
	}
	accs := make([]acc, len(sides))
	turns := int((perSide + turnLen - 1) / turnLen)
	for t := 0; t < turns; t++ {
		turn := min(turnLen, perSide-time.Duration(t)*turnLen)
		for k := range sides {
			i := (k + t) % len(sides)
			if t%2 == 1 {
				i = (len(sides) - 1 - k + t) % len(sides)
			}
			a, side := &accs[i], sides[i]
			var (
				mu     sync.Mutex
				wg     sync.WaitGroup
				failed error
			)
			cpu0, pg0 := processCPU(), treeCPU(pg)
			start := time.Now()
			deadline := start.Add(turn)
			for range benchClients {
				wg.Add(1)
				go func() {
					defer wg.Done()
					var mine []time.Duration
					var n int64
					var body bytes.Buffer
					for time.Now().Before(deadline) {
						req, err := side.next()
						if err != nil {
							mu.Lock()
							failed = err
							mu.Unlock()
							return
						}
						t0 := time.Now()
						resp, err := client.Do(req)
						if err == nil {
							body.Reset()
							_, err = body.ReadFrom(resp.Body)
							resp.Body.Close()
							if err == nil {
								err = side.check(resp.StatusCode, body.Bytes())
							}
						}
						end := time.Now()
						if err != nil {
							mu.Lock()
							failed = fmt.Errorf("%s %s: %w", req.Method, req.URL.Path, err)
							mu.Unlock()
							return
						}
						n++
						if !end.After(deadline) {
							mine = append(mine, end.Sub(t0))
						}
					}
					mu.Lock()
					a.lat = append(a.lat, mine...)
					a.done += n
					mu.Unlock()
				}()
			}
			wg.Wait()
			a.window += turn
			a.cpu += processCPU() - cpu0
			a.pgCPU += treeCPU(pg) - pg0
			if failed != nil {
				b.Fatalf("%s: %v", side.name, failed)
			}
		}
	}
	out := make([]sideFigures, len(sides))
	for i, a := range accs {
		slices.Sort(a.lat)
		f := sideFigures{rate: float64(len(a.lat)) / a.window.Seconds()}
		if len(a.lat) > 0 {
			pct := func(p float64) float64 {
				return float64(a.lat[min(len(a.lat)-1, int(p*float64(len(a.lat))))].Microseconds()) / 1000
			}
			f.p50, f.p99 = pct(0.50), pct(0.99)
		}
		if a.done > 0 {
			f.cpu = float64(a.cpu.Microseconds()) / float64(a.done)
			f.pgCPU = float64(a.pgCPU.Microseconds()) / float64(a.done)
		}
		out[i] = f
	}
	return out
}

// newBenchClient is the client pool of a benchmark: benchClients
// keep-alive connections per host, no compression (neither side
// compresses).
func newBenchClient(b *testing.B) *http.Client {
	c := &http.Client{Transport: &http.Transport{
		MaxIdleConns: 2 * benchClients, MaxIdleConnsPerHost: benchClients, MaxConnsPerHost: benchClients,
		DisableCompression: true,
	}}
	b.Cleanup(c.CloseIdleConnections)
	return c
}

// median returns the median of xs (the middle one of an odd count).
func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
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

// loadAvg is the 1-minute load average, or "?".
func loadAvg() string {
	raw, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Fields(string(raw))[0]
}

// loadAvgValue is loadAvg as a number (0 when unknown).
func loadAvgValue() float64 {
	v, _ := strconv.ParseFloat(loadAvg(), 64)
	return v
}

// listenLoopback listens on a free loopback port.
func listenLoopback(b *testing.B) net.Listener {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	return ln
}

// decodeJSON is json.Unmarshal for checks.
func decodeJSON(body []byte, v any) error {
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("answer is not JSON: %v: %.200s", err, body)
	}
	return nil
}
