package parkd

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parkhq/park/tenancy"
)

// bareProloguesSQL and bareListSQL are what tenancy.Store.SpaceList sends
// for GET /api/v1/spaces?limit=50, in one pgx batch (one round trip, one
// implicit transaction): the tenant prologue that sets the role park_app
// and app.tenant_id for row-level security, and the page query.
// checkSameSQL fails the benchmark when the store's statements differ.
const (
	barePrologueSQL = `select set_config('role', 'park_app', true), set_config('app.tenant_id', $1, true)`
	bareListSQL     = `select tenant_id, id, site_id, site_name, code, name, sensor_eui, state, state_changed_at, last_reading_at, created_at, updated_at from v_spaces
		  where tenant_id = $1 and deleted_at is null
		    and ($2::uuid is null or site_id = $2)
		    and ($3::text is null or state = $3)
		    and (created_at, id) > ($4, $5)
		  order by created_at, id limit $6`
)

// bareList is the JSON shape of the list answer, as parkd writes it.
type bareList struct {
	Items      []tenancy.Space `json:"items"`
	NextCursor *string         `json:"next_cursor"`
}

// bareSpaceList is the baseline: a bare net/http handler on a pgx pool
// that runs the store's two statements for one tenant (no authentication,
// no rate limit, no middleware, no log line, no metrics) and writes the
// same bytes: the page marshalled once (one allocation of the body's size)
// and sent with a Content-Length, then the newline parkd ends a body with.
func bareSpaceList(pool *pgxpool.Pool, tenant uuid.UUID) http.Handler {
	tid := tenant.String()
	var (
		noSite  *uuid.UUID
		noState *string
		start   = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
	)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		limit := tenancy.DefaultPageLimit
		if s := r.URL.Query().Get("limit"); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 || n > tenancy.MaxPageLimit {
				http.Error(w, "bad limit", http.StatusBadRequest)
				return
			}
			limit = n
		}
		items := make([]tenancy.Space, 0, limit+1)
		var batch pgx.Batch
		batch.Queue(barePrologueSQL, tid)
		batch.Queue(bareListSQL, tenant, noSite, noState, start, uuid.Nil, limit+1).Query(func(rows pgx.Rows) error {
			for rows.Next() {
				var s tenancy.Space
				if err := rows.Scan(&s.TenantID, &s.ID, &s.SiteID, &s.SiteName, &s.Code, &s.Name, &s.SensorEUI, &s.State,
					&s.StateChangedAt, &s.LastReadingAt, &s.CreatedAt, &s.UpdatedAt); err != nil {
					return err
				}
				items = append(items, s)
			}
			return rows.Err()
		})
		if err := pool.SendBatch(r.Context(), &batch).Close(); err != nil {
			http.Error(w, "database error", http.StatusInternalServerError)
			return
		}
		out := bareList{Items: items}
		if len(items) > limit {
			out.Items = items[:limit]
			last := items[limit-1]
			c := tenancy.Cursor{CreatedAt: last.CreatedAt, ID: last.ID}.Encode()
			out.NextCursor = &c
		}
		body, err := json.Marshal(out)
		if err != nil {
			http.Error(w, "encode", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)+1))
		_, _ = w.Write(body)
		_, _ = w.Write([]byte{'\n'})
	})
}

// statementRecorder records the statements of the batches sent on a
// connection, to compare the baseline's SQL with the store's.
type statementRecorder struct{ sql []string }

func (s *statementRecorder) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	return ctx
}

func (s *statementRecorder) TraceBatchQuery(_ context.Context, _ *pgx.Conn, d pgx.TraceBatchQueryData) {
	s.sql = append(s.sql, d.SQL)
}

func (s *statementRecorder) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

func (s *statementRecorder) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	return ctx
}

func (s *statementRecorder) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// checkSameSQL runs the store's SpaceList for a page of benchPageLimit on
// a traced connection and fails unless it sent exactly the baseline's
// statements.
func checkSameSQL(b *testing.B, d *benchDB) {
	ctx := context.Background()
	cfg, err := pgxpool.ParseConfig(d.serverURL)
	if err != nil {
		b.Fatal(err)
	}
	rec := &statementRecorder{}
	cfg.ConnConfig.Tracer = rec
	cfg.MaxConns = 1
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	if _, err := tenancy.NewStore(pool).SpaceList(ctx, &tenancy.SpaceListParams{TenantID: d.tenant,
		Page: tenancy.PageParams{Limit: benchPageLimit}}); err != nil {
		b.Fatal(err)
	}
	if want := []string{barePrologueSQL, bareListSQL}; !slicesEqual(rec.sql, want) {
		b.Fatalf("the store's SpaceList sends\n%q\nthe baseline sends\n%q", rec.sql, want)
	}
}

func slicesEqual(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// startServe runs parkd serve in this process, exactly as the parkd
// binary builds it (configuration from the environment, preflight, the
// pool, the in-process rate limiter, metrics, JSON logs at info level — to
// io.Discard here), and returns its base URL.
func startServe(b *testing.B, e env) string {
	cfg, _, err := loadConfig(ModeServe, nil, e.get)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- serve(ctx, cfg, newLogger(io.Discard, cfg.LogLevel), func(a net.Addr) { addrc <- a })
	}()
	b.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			b.Error(err)
		}
	})
	select {
	case a := <-addrc:
		return "http://" + a.String()
	case err := <-done:
		done <- err
		b.Fatalf("parkd serve: %v", err)
	case <-time.After(time.Minute):
		b.Fatal("parkd serve is not listening after a minute")
	}
	return ""
}

// startBare serves the baseline on its own loopback server with parkd's
// http.Server settings, on a pool made from the same URL as parkd's (so
// the same pool size), and returns its base URL.
func startBare(b *testing.B, d *benchDB) string {
	cfg, err := pgxpool.ParseConfig(d.serverURL)
	if err != nil {
		b.Fatal(err)
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pool.Close)
	srv := newHTTPServer(bareSpaceList(pool, d.tenant), newLogger(io.Discard, nil))
	ln := listenLoopback(b)
	go func() { _ = srv.Serve(ln) }()
	b.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String()
}

// fetch GETs url with the headers and returns the status, the
// Content-Type and the body.
func fetch(client *http.Client, url string, h http.Header) (int, string, []byte, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return 0, "", nil, err
	}
	req.Header = h.Clone()
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Content-Type"), body, err
}

// BenchmarkAPIList measures GET /api/v1/spaces?limit=50 with a JWT through
// parkd serve as the binary runs it (in this process: the whole handler
// stack — request id, logging, metrics, token authentication with the
// membership check, the tenant's API rate limit in process, the store's
// batch as park_app under row-level security, JSON) against bareSpaceList
// running the same SQL and writing the same bytes on the same data, from
// benchClients keep-alive clients, interleaved over benchRounds rounds.
// In each round the sides take turns of a second until each has run for
// -benchtime (runRound). The summary sub-benchmark reports the median
// ratio park/bare with its spread and the target (ratio_median@min), and
// each side's median p50 and p99.
func BenchmarkAPIList(b *testing.B) {
	d := startBenchDB(b)
	checkSameSQL(b, d)
	client := newBenchClient(b)
	sides := []struct {
		name, url string
		header    http.Header
	}{
		{"bare", startBare(b, d) + "/spaces?limit=" + strconv.Itoa(benchPageLimit), http.Header{}},
		{"park", startServe(b, d.serveEnv()) + "/api/v1/spaces?limit=" + strconv.Itoa(benchPageLimit),
			http.Header{"Authorization": {"Bearer " + d.jwt}}},
	}
	// Both sides must answer the same bytes, a full page with a cursor.
	var want []byte
	for _, side := range sides {
		code, ct, body, err := fetch(client, side.url, side.header)
		if err != nil || code != http.StatusOK || ct != "application/json" {
			b.Fatalf("%s: %d %s %v: %.300s", side.name, code, ct, err, body)
		}
		if want == nil {
			want = body
			var page bareList
			if err := decodeJSON(body, &page); err != nil || len(page.Items) != benchPageLimit || page.NextCursor == nil {
				b.Fatalf("%s: not a full page with a cursor (%v): %.300s", side.name, err, body)
			}
		} else if !bytes.Equal(body, want) {
			b.Fatalf("the sides answer differently:\nbare %s\npark %s", want, body)
		}
	}
	check := func(status int, body []byte) error {
		if status != http.StatusOK || !bytes.Equal(body, want) {
			return fmt.Errorf("%d %.300s", status, body)
		}
		return nil
	}

	var compared []benchSide
	for _, side := range sides {
		compared = append(compared, benchSide{name: side.name, check: check, next: func() (*http.Request, error) {
			req, err := http.NewRequest(http.MethodGet, side.url, nil)
			if err == nil {
				req.Header = side.header
			}
			return req, err
		}})
	}
	figs := map[string][]sideFigures{}
	var loads []string
	perSide := perSideDuration()
	for round := 1; round <= benchRounds; round++ {
		loads = append(loads, loadAvg())
		var got []sideFigures
		b.Run(fmt.Sprintf("round=%d", round), func(b *testing.B) {
			if got == nil { // once, whatever b.N (-benchtime 10x calls again)
				got = runRound(b, client, d.cluster.PID(), compared, perSide)
			}
			for i, side := range compared {
				b.ReportMetric(got[i].rate, side.name+"_req/s")
				b.ReportMetric(got[i].p50, side.name+"_p50_ms")
				b.ReportMetric(got[i].p99, side.name+"_p99_ms")
				b.ReportMetric(got[i].cpu+got[i].pgCPU, side.name+"_cpu_us/req")
			}
			b.ReportMetric(got[1].rate/got[0].rate, "ratio")
			b.ReportMetric(0, "ns/op")
		})
		if got == nil {
			continue // not selected by -bench
		}
		for i, side := range compared {
			figs[side.name] = append(figs[side.name], got[i])
		}
	}
	loads = append(loads, loadAvg())
	reportComparison(b, "park", "bare", figs, 0.85, loads)
}

// reportComparison adds the summary sub-benchmark of a comparison: the
// median ratio of the rates of side a to side b over the rounds with its
// least and greatest, the target as ratio_median@min, the same ratio of
// CPU time per request (cpu_ratio_*, no target), each side's median rate,
// p50 and p99, and the load average; and logs the rounds.
func reportComparison(b *testing.B, a, base string, figs map[string][]sideFigures, target float64, loads []string) {
	rates := func(side string) []float64 {
		var r []float64
		for _, f := range figs[side] {
			r = append(r, f.rate)
		}
		return r
	}
	pick := func(side string, get func(sideFigures) float64) float64 {
		var v []float64
		for _, f := range figs[side] {
			v = append(v, get(f))
		}
		return median(v)
	}
	if len(figs[a]) == 0 || len(figs[a]) != len(figs[base]) {
		return // a -bench pattern left a side out: nothing to compare
	}
	med, lo, hi := ratios(rates(a), rates(base))
	// The same comparison in CPU time per request (this process's, the
	// servers' and the clients', plus PostgreSQL's), base over a: what the
	// rates would say on a machine of our own, where the CPU is all ours.
	costs := func(side string) []float64 {
		var c []float64
		for _, f := range figs[side] {
			c = append(c, 1/(f.cpu+f.pgCPU))
		}
		return c
	}
	cmed, clo, chi := ratios(costs(a), costs(base))
	b.Run("summary", func(b *testing.B) {
		b.ReportMetric(med, "ratio_median")
		b.ReportMetric(lo, "ratio_min")
		b.ReportMetric(hi, "ratio_max")
		b.ReportMetric(target, "ratio_median@min")
		b.ReportMetric(cmed, "cpu_ratio_median")
		b.ReportMetric(clo, "cpu_ratio_min")
		b.ReportMetric(chi, "cpu_ratio_max")
		for _, side := range []string{a, base} {
			b.ReportMetric(median(rates(side)), side+"_req/s")
			b.ReportMetric(pick(side, func(f sideFigures) float64 { return f.p50 }), side+"_p50_ms")
			b.ReportMetric(pick(side, func(f sideFigures) float64 { return f.p99 }), side+"_p99_ms")
		}
		b.ReportMetric(loadAvgValue(), "loadavg")
		b.ReportMetric(0, "ns/op")
	})
	var rounds []string
	for i := range figs[a] {
		fa, fb := figs[a][i], figs[base][i]
		rounds = append(rounds, fmt.Sprintf("round %d: %s %.0f/s p50 %.2f p99 %.2f ms %.0f+%.0f µs CPU, %s %.0f/s p50 %.2f p99 %.2f ms %.0f+%.0f µs CPU, ratio %.2f",
			i+1, a, fa.rate, fa.p50, fa.p99, fa.cpu, fa.pgCPU, base, fb.rate, fb.p50, fb.p99, fb.cpu, fb.pgCPU, fa.rate/fb.rate))
	}
	b.Logf("%s / %s: median %.2f× (rounds %.2f–%.2f); %s; nproc %d, GOMAXPROCS %d; load average before each side and at the end: %s",
		a, base, med, lo, hi, strings.Join(rounds, "; "), runtime.NumCPU(), runtime.GOMAXPROCS(0), strings.Join(loads, " | "))
}
