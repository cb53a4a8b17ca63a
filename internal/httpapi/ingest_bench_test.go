package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/parkhq/park/ingest"
	"github.com/parkhq/park/internal/bootstrap"
	"github.com/parkhq/park/internal/pgcluster"
	"github.com/parkhq/park/internal/pgtest"
	"github.com/parkhq/park/tenancy"
)

// The ingest benchmark's shape (DESIGN §10; issue 9).
const (
	// ingestClients is the number of concurrent keep-alive HTTP clients.
	ingestClients = 32
	// ingestDevices is the number of devices (each a space with a sensor)
	// of the one tenant the uplinks are spread over.
	ingestDevices = 500
	// ingestRounds interleaves the two sides, so a slow patch of the
	// shared machine hurts both alike.
	ingestRounds = 3
	// ingestSlug is the tenant's webhook URL slug.
	ingestSlug = "bench"
)

// seedTableSQL is the old system's readings table (the seed's migration
// 004): its dedupe was UNIQUE (tenant_id, device_eui, fcnt). It lives in
// the same database, beside Park's tables, and is written by seedHandler.
const seedTableSQL = `
CREATE TABLE seed_sensor_readings (
    id          bigserial PRIMARY KEY,
    tenant_id   uuid        NOT NULL,
    device_eui  text        NOT NULL,
    fcnt        bigint      NOT NULL,
    msg_id      text,
    occupied    boolean,
    rssi        integer,
    snr         double precision,
    read_at     timestamptz,
    received_at timestamptz NOT NULL DEFAULT now(),
    payload     jsonb,
    UNIQUE (tenant_id, device_eui, fcnt)
)`

// seedInsertSQL is the seed's whole write: one autocommit statement per
// request.
const seedInsertSQL = `
INSERT INTO seed_sensor_readings (tenant_id, device_eui, fcnt, msg_id, occupied, rssi, snr, read_at, payload)
VALUES ($1::uuid, $2::text, $3::bigint, $4::text, $5::boolean, $6::integer, $7::double precision, $8::timestamptz, $9::jsonb)
ON CONFLICT (tenant_id, device_eui, fcnt) DO NOTHING`

// seedUp is what the seed's handler reads of a ChirpStack "up" event: the
// same fields Park's decoder reads, so both sides pay JSON parsing of the
// same order.
type seedUp struct {
	DeduplicationID string `json:"deduplicationId"`
	Time            string `json:"time"`
	DeviceInfo      struct {
		DevEUI string `json:"devEui"`
	} `json:"deviceInfo"`
	FCnt   int64          `json:"fCnt"`
	Object map[string]any `json:"object"`
	RxInfo []struct {
		RSSI int     `json:"rssi"`
		SNR  float64 `json:"snr"`
	} `json:"rxInfo"`
}

// seedHandler is the baseline: the old system's design — parse the JSON,
// one INSERT … ON CONFLICT DO NOTHING per request, answer. It has no
// authentication, no tenant look-up, no row-level security (it runs as
// the superuser), no orphan handling and no space state: the floor.
func seedHandler(pool *pgxpool.Pool, tenant uuid.UUID) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
		if err != nil {
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		var up seedUp
		if err := json.Unmarshal(body, &up); err != nil || up.DeviceInfo.DevEUI == "" {
			http.Error(w, "malformed", http.StatusBadRequest)
			return
		}
		var occupied *bool
		if v, ok := up.Object["occupied"].(bool); ok {
			occupied = &v
		}
		var rssi *int
		var snr *float64
		if len(up.RxInfo) > 0 {
			rssi, snr = &up.RxInfo[0].RSSI, &up.RxInfo[0].SNR
		}
		var readAt *time.Time
		if t, err := time.Parse(time.RFC3339Nano, up.Time); err == nil {
			readAt = &t
		}
		payload, _ := json.Marshal(up.Object)
		tag, err := pool.Exec(r.Context(), seedInsertSQL, tenant, strings.ToLower(up.DeviceInfo.DevEUI),
			up.FCnt, up.DeduplicationID, occupied, rssi, snr, readAt, string(payload))
		if err != nil {
			http.Error(w, "database error", http.StatusInternalServerError)
			return
		}
		status := "stored"
		if tag.RowsAffected() == 0 {
			status = "duplicate"
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"status":"`+status+`"}`)
	})
}

// chirpStackUpTemplate is a ChirpStack v4 "up" event as a deployment sends
// it (two gateways, a decoded object); the verbs are filled per request:
// deduplicationId, time, deviceName, devEui, fCnt, occupied, the two
// gateways' nsTime.
const chirpStackUpTemplate = `{"deduplicationId":"%s","time":"%s",` +
	`"deviceInfo":{"tenantId":"52f14cd4-c6f1-4fbd-8f87-4025e1d49242","tenantName":"ChirpStack",` +
	`"applicationId":"17c82e96-be03-4f38-aef3-f83d48582d97","applicationName":"Parking",` +
	`"deviceProfileId":"14855bf7-d10d-4aee-b618-ebfcb64dc7ad","deviceProfileName":"Parking sensor",` +
	`"deviceName":"bay-%d","devEui":"%s","deviceClassEnabled":"CLASS_A","tags":{"site":"north"}},` +
	`"devAddr":"00189440","adr":true,"dr":5,"fCnt":%d,"fPort":2,"confirmed":false,"data":"AQ==",` +
	`"object":{"occupied":%t,"battery":3.61,"temperature":21.5},` +
	`"rxInfo":[{"gatewayId":"0016c001f153a14c","uplinkId":4217106255,"nsTime":"%s","rssi":-97,"snr":7.25,` +
	`"channel":3,"location":{"latitude":52.37,"longitude":4.89},"context":"E3OWOQ==",` +
	`"metadata":{"region_common_name":"EU868","region_config_id":"eu868"},"crcStatus":"CRC_OK"},` +
	`{"gatewayId":"0016c001f153a14d","uplinkId":1044,"nsTime":"%s","rssi":-61,"snr":9.5,"channel":3,` +
	`"context":"E3OWOg==","crcStatus":"CRC_OK"}],` +
	`"txInfo":{"frequency":867100000,"modulation":{"lora":{"bandwidth":125000,"spreadingFactor":7,"codeRate":"CR_4_5"}}},` +
	`"regionConfigId":"eu868"}`

// devEUIOf is device i's EUI as the network server writes it (upper case).
func devEUIOf(i int) string { return fmt.Sprintf("70B3D57E%08X", i) }

// ingestBench is the running benchmark: one durable cluster, one loopback
// HTTP server with both sides on it, one client pool.
type ingestBench struct {
	admin   *pgxpool.Pool // superuser: the seed side, fixtures, counts
	tenant  uuid.UUID
	token   string // the tenant's token-mode webhook secret
	srv     *httptest.Server
	client  *http.Client
	batches *prometheus.Registry // the writer's park_ingest_batch_rows
	// inFlight are the extra park sides' commits in flight
	// (PARK_BENCH_INGEST_IN_FLIGHT), each side's writer metrics in
	// inFlightBatches.
	inFlight        []int
	inFlightBatches map[int]*prometheus.Registry
	parkRT          *pgtest.TripCounter // round trips of Park's park_server pool
	seedRT          *pgtest.TripCounter // round trips of the seed side's pool
	seq             atomic.Int64        // request number: device and frame counter
	parkAcks        atomic.Int64        // 2xx answers of Park's side, every run
	cluster         *pgcluster.Cluster  // for its CPU time
}

// BenchmarkIngest measures uplinks/s through the real webhook endpoint —
// POST /api/v1/webhooks/chirpstack/{slug}?event=up on a net/http server on
// loopback serving NewServer with real Deps: token-mode secret
// authentication, decoding, dedupe, space state, the durable group-commit
// write — against the seed's design (parse, one INSERT … ON CONFLICT DO
// NOTHING per request) on the same cluster, server and client pool, from
// ingestClients keep-alive clients over ingestDevices devices of one
// tenant, each request a new message. The sides are interleaved over
// ingestRounds rounds; the last sub-benchmark reports the median ratio
// park/seed with its spread, and fails unless Park's stored rows equal its
// 2xx answers. A third side, the floor, measures the harness alone (see
// floorHandler), the ceiling of any handler's rate on the machine.
func BenchmarkIngest(b *testing.B) {
	env := startIngestBench(b)
	type side struct {
		name, path string
		header     http.Header
		rt         *pgtest.TripCounter
		acks       *atomic.Int64
		batches    *prometheus.Registry // a park side's writer metrics
	}
	parkHeader := http.Header{"Content-Type": {"application/json"}, "Authorization": {"Bearer " + env.token}}
	sides := []side{
		// The floor: what the harness itself costs (clients, loopback,
		// net/http), a handler that reads the body and answers without
		// any work. No side can run faster than it.
		{"floor", "/floor/chirpstack?event=up", http.Header{"Content-Type": {"application/json"}}, &pgtest.TripCounter{}, nil, nil},
		{"seed", "/seed/chirpstack?event=up", http.Header{"Content-Type": {"application/json"}}, env.seedRT, nil, nil},
	}
	// Park with other numbers of commits in flight, for measuring the
	// default: each its own writer and intake on the same pool, tenant
	// and devices, interleaved with the others.
	for _, n := range env.inFlight {
		sides = append(sides, side{fmt.Sprintf("park-n%d", n),
			fmt.Sprintf("/n%d/api/v1/webhooks/chirpstack/%s?event=up", n, ingestSlug),
			parkHeader, env.parkRT, &env.parkAcks, env.inFlightBatches[n]})
	}
	sides = append(sides, side{"park", "/api/v1/webhooks/chirpstack/" + ingestSlug + "?event=up",
		parkHeader, env.parkRT, &env.parkAcks, env.batches})
	res := map[string][]benchFigures{}
	var loads []string
	for round := 1; round <= ingestRounds; round++ {
		for _, side := range sides {
			var f benchFigures
			loads = append(loads, loadAvg())
			b.Run(fmt.Sprintf("round=%d/%s", round, side.name), func(b *testing.B) {
				trips0 := side.rt.Trips()
				rows0, n0 := batchRows(b, side.batches)
				cpu0 := env.cpu(b)
				f.rate, f.p50, f.p99 = env.run(b, side.path, side.header, side.acks)
				f.cpu = env.cpu(b).sub(cpu0).per(b.N)
				b.ReportMetric(f.cpu.pg, "pg-cpu-us/uplink")
				b.ReportMetric(f.cpu.proc, "go-cpu-us/uplink")
				b.ReportMetric(f.p50, "p50-ms")
				b.ReportMetric(f.p99, "p99-ms")
				b.ReportMetric(float64(side.rt.Trips()-trips0)/float64(b.N), "trips/uplink")
				if side.batches != nil {
					rows1, n1 := batchRows(b, side.batches)
					if n1 > n0 {
						b.ReportMetric((rows1-rows0)/(n1-n0), "uplinks/batch")
					}
				}
				if round == ingestRounds && side.name == "park" {
					var parkRates, seedRates []float64
					for _, x := range append(res["park"], f) {
						parkRates = append(parkRates, x.rate)
					}
					for _, x := range res["seed"] {
						seedRates = append(seedRates, x.rate)
					}
					med, lo, hi := ratios(parkRates, seedRates)
					b.ReportMetric(med, "ratio_median")
					b.ReportMetric(lo, "ratio_min")
					b.ReportMetric(hi, "ratio_max")
					b.ReportMetric(2, "ratio_median@min") // the target (issue 12)
					env.checkStored(b)
				}
			})
			res[side.name] = append(res[side.name], f)
		}
	}
	loads = append(loads, loadAvg())
	var parkRates, seedRates, floorRates []float64
	for i := range res["park"] {
		parkRates = append(parkRates, res["park"][i].rate)
		seedRates = append(seedRates, res["seed"][i].rate)
		floorRates = append(floorRates, res["floor"][i].rate)
	}
	med, lo, hi := ratios(parkRates, seedRates)
	fmed, flo, fhi := ratios(floorRates, seedRates)
	for _, n := range env.inFlight {
		name := fmt.Sprintf("park-n%d", n)
		var rates []float64
		for _, f := range res[name] {
			rates = append(rates, f.rate)
		}
		nmed, nlo, nhi := ratios(rates, seedRates)
		b.Logf("%s / seed: median %.2f× (rounds %.2f–%.2f); %s uplinks/s; p50/p99 ms %s; CPU µs/uplink PostgreSQL/Go %s",
			name, nmed, nlo, nhi, fmtRates(rates), fmtLatency(res[name]), fmtCPU(res[name]))
	}
	b.Logf("park / seed: median %.2f× (rounds %.2f–%.2f); floor / seed: median %.2f× (%.2f–%.2f); "+
		"park %s uplinks/s, seed %s uplinks/s, floor %s requests/s; "+
		"p50/p99 ms park %s, seed %s, floor %s; CPU µs/uplink PostgreSQL/Go park %s, seed %s, floor %s; "+
		"nproc %d, GOMAXPROCS %d; load average before each side and at the end: %s",
		med, lo, hi, fmed, flo, fhi, fmtRates(parkRates), fmtRates(seedRates), fmtRates(floorRates),
		fmtLatency(res["park"]), fmtLatency(res["seed"]), fmtLatency(res["floor"]),
		fmtCPU(res["park"]), fmtCPU(res["seed"]), fmtCPU(res["floor"]),
		runtime.NumCPU(), runtime.GOMAXPROCS(0), strings.Join(loads, " | "))
}

// floorHandler answers what the seed and Park answer without doing
// anything: it reads the body (as every side must) and writes the 200
// "stored" answer. Its rate is the harness's own ceiling on the machine at
// that moment — clients, loopback and net/http — so the ratios of the
// other sides can be read against what is possible at all.
func floorHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.Copy(io.Discard, http.MaxBytesReader(w, r.Body, MaxBodyBytes)); err != nil {
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"status":"stored"}`)
	})
}

// benchFigures are one side's figures in one round: uplinks/s, the p50
// and p99 latency in milliseconds and the CPU time per uplink.
type benchFigures struct {
	rate, p50, p99 float64
	cpu            cpuTimes
}

// cpuTimes are CPU times of the benchmark's cluster (all its processes)
// and of this process (the HTTP server and the clients of both sides), in
// microseconds. On a shared machine they tell where the work goes, which
// rates alone cannot: a side waits for CPU that other processes take, but
// its own CPU time per uplink stays what the work costs.
type cpuTimes struct{ pg, proc float64 }

func (c cpuTimes) sub(o cpuTimes) cpuTimes { return cpuTimes{c.pg - o.pg, c.proc - o.proc} }

func (c cpuTimes) per(n int) cpuTimes {
	return cpuTimes{c.pg / float64(n), c.proc / float64(n)}
}

// cpu reads the cluster's and this process's CPU time so far.
func (e *ingestBench) cpu(b *testing.B) cpuTimes {
	pg, err := e.cluster.CPUTime()
	if err != nil {
		b.Fatal(err)
	}
	return cpuTimes{pg: float64(pg.Microseconds()), proc: float64(processCPU(b).Microseconds())}
}

// processCPU is this process's CPU time (user and system) so far.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// fmtCPU formats each round's CPU µs per uplink, PostgreSQL/Go.
func fmtCPU(fs []benchFigures) string {
	s := make([]string, len(fs))
	for i, f := range fs {
		s[i] = fmt.Sprintf("%.0f/%.0f", f.cpu.pg, f.cpu.proc)
	}
	return "[" + strings.Join(s, " ") + "]"
}

// fmtLatency formats each round's p50/p99 in milliseconds.
func fmtLatency(fs []benchFigures) string {
	s := make([]string, len(fs))
	for i, f := range fs {
		s[i] = fmt.Sprintf("%.1f/%.1f", f.p50, f.p99)
	}
	return "[" + strings.Join(s, " ") + "]"
}

// run sends b.N uplinks from ingestClients goroutines to path and returns
// uplinks/s and the p50 and p99 latency in milliseconds. Every answer must
// be a 2xx "stored" (each request is a new message of a known device); acks
// counts the 2xx answers.
func (e *ingestBench) run(b *testing.B, path string, h http.Header, acks *atomic.Int64) (rate, p50, p99 float64) {
	var mu sync.Mutex
	var lat []time.Duration
	url := e.srv.URL + path
	b.SetParallelism(max(1, (ingestClients+runtime.GOMAXPROCS(0)-1)/runtime.GOMAXPROCS(0)))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var mine []time.Duration
		var buf []byte
		for pb.Next() {
			n := e.seq.Add(1)
			dev := int(n % ingestDevices)
			now := time.Now().UTC()
			ts := now.Format(time.RFC3339Nano)
			buf = fmt.Appendf(buf[:0], chirpStackUpTemplate, uuid.New(), ts, dev, devEUIOf(dev),
				n/ingestDevices, (n/ingestDevices)%2 == 0, ts, ts)
			req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(buf))
			if err != nil {
				b.Error(err)
				return
			}
			req.Header = h.Clone()
			start := time.Now()
			resp, err := e.client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			mine = append(mine, time.Since(start))
			if err != nil {
				b.Error(err)
				return
			}
			if resp.StatusCode/100 == 2 && acks != nil {
				acks.Add(1)
			}
			if resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte(`"stored"`)) {
				b.Errorf("POST %s: %d %s", path, resp.StatusCode, body)
				return
			}
		}
		mu.Lock()
		lat = append(lat, mine...)
		mu.Unlock()
	})
	b.StopTimer()
	rate = float64(b.N) / b.Elapsed().Seconds()
	b.ReportMetric(rate, "uplinks/s")
	slices.Sort(lat)
	if len(lat) == 0 {
		return rate, 0, 0
	}
	pct := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
	}
	return rate, pct(0.50), pct(0.99)
}

// checkStored fails the benchmark unless Park's side stored exactly one
// reading per 2xx answer over every run so far: nothing lost, nothing
// doubled.
func (e *ingestBench) checkStored(b *testing.B) {
	var stored, dedupe int64
	if err := e.admin.QueryRow(context.Background(),
		`select (select count(*) from sensor_readings where tenant_id = $1),
		        (select count(*) from uplink_dedupe where tenant_id = $1)`, e.tenant).Scan(&stored, &dedupe); err != nil {
		b.Fatal(err)
	}
	acked := e.parkAcks.Load()
	b.ReportMetric(float64(acked), "acked")
	b.ReportMetric(float64(stored), "stored")
	if stored != acked || dedupe != acked {
		b.Fatalf("park: %d uplinks answered 2xx, %d readings stored, %d messages claimed", acked, stored, dedupe)
	}
}

// batchRows returns the sum and count of the batch-size histogram of a
// writer's metrics, or zeros for a side without one.
func batchRows(b *testing.B, reg *prometheus.Registry) (sum, count float64) {
	if reg == nil {
		return 0, 0
	}
	mfs, err := reg.Gather()
	if err != nil {
		b.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "park_ingest_batch_rows" {
			continue
		}
		for _, m := range mf.GetMetric() {
			h := m.GetHistogram()
			sum += h.GetSampleSum()
			count += float64(h.GetSampleCount())
		}
	}
	return sum, count
}

// startIngestBench starts a durable cluster of its own (the test harness's
// is not durable), bootstraps and migrates a database, adds the tenant,
// its 500 spaces with sensors, a token-mode webhook secret and the seed's
// table, and serves both sides on one loopback server.
func startIngestBench(b *testing.B) *ingestBench {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := pgcluster.Start(ctx, pgcluster.Options{Durable: true, Settings: map[string]string{"max_connections": "200"}})
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

	e := &ingestBench{tenant: uuid.New(), parkRT: &pgtest.TripCounter{}, seedRT: &pgtest.TripCounter{}, cluster: c}
	e.admin = benchPool(b, url, 4, nil)
	seedPool := benchPool(b, url, ingestClients, e.seedRT)
	serverPool := benchPool(b, c.URL(name, bootstrap.RoleServer), ingestClients, e.parkRT)

	site := uuid.New()
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`insert into tenants (id, name, slug) values ($1, 'Bench', $2)`, []any{e.tenant, ingestSlug}},
		{`insert into tenant_slugs (tenant_id, slug) values ($1, $2)`, []any{e.tenant, ingestSlug}},
		{`insert into sites (tenant_id, id, name, timezone) values ($1, $2, 'Bench', 'UTC')`, []any{e.tenant, site}},
		{`insert into spaces (tenant_id, id, site_id, code, sensor_eui)
		  select $1, gen_random_uuid(), $2, 'B' || i, lower('70B3D57E' || lpad(upper(to_hex(i)), 8, '0'))
		    from generate_series(0, $3::int - 1) i`, []any{e.tenant, site, ingestDevices}},
		{seedTableSQL, nil},
	} {
		if _, err := e.admin.Exec(ctx, q.sql, q.args...); err != nil {
			b.Fatal(err)
		}
	}
	var sensors int
	if err := e.admin.QueryRow(ctx, `select count(*) from spaces where tenant_id = $1 and sensor_eui = $2`,
		e.tenant, strings.ToLower(devEUIOf(ingestDevices-1))).Scan(&sensors); err != nil || sensors != 1 {
		b.Fatalf("fixture: device %s has %d spaces (%v)", devEUIOf(ingestDevices-1), sensors, err)
	}

	// Ingest as parkd wires it: secrets sealed under a master key, the
	// group-commit writer, the intake, the HTTP server.
	store := tenancy.NewStore(serverPool)
	keyring := &ingest.Keyring{Current: 1, Keys: map[int][]byte{1: []byte("bench-master-key-exactly-32-byte")}}
	ingestStore := ingest.NewStore(store, ingest.StoreOptions{Keyring: keyring})
	_, e.token, err = ingestStore.SecretRotate(ctx, &ingest.SecretRotateParams{
		TenantID: e.tenant, Mode: ingest.ModeToken, Actor: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	newPark := func(opts ingest.WriterOptions) http.Handler {
		writer, err := ingest.NewWriter(ingestStore.StoreBatch, opts)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = writer.Close(context.Background()) })
		intake := ingest.NewIntake(store.WebhookTenant, ingestStore, writer, ingest.IntakeOptions{})
		return NewServer(Deps{Tenancy: store, Ingest: intake, IngestStore: ingestStore})
	}
	e.batches = prometheus.NewRegistry()
	park := newPark(ingest.WriterOptions{Registerer: e.batches})

	mux := http.NewServeMux()
	e.inFlightBatches = map[int]*prometheus.Registry{}
	for _, f := range strings.FieldsFunc(os.Getenv("PARK_BENCH_INGEST_IN_FLIGHT"), func(r rune) bool { return r == ',' }) {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || e.inFlightBatches[n] != nil {
			b.Fatalf("PARK_BENCH_INGEST_IN_FLIGHT: %q is not a new number of commits in flight", f)
		}
		e.inFlight = append(e.inFlight, n)
		e.inFlightBatches[n] = prometheus.NewRegistry()
		prefix := fmt.Sprintf("/n%d", n)
		mux.Handle(prefix+"/", http.StripPrefix(prefix,
			newPark(ingest.WriterOptions{Registerer: e.inFlightBatches[n], CommitsInFlight: n})))
	}
	mux.Handle("/floor/", floorHandler())
	mux.Handle("/seed/", seedHandler(seedPool, e.tenant))
	mux.Handle("/", park)
	e.srv = httptest.NewServer(mux)
	b.Cleanup(e.srv.Close)
	e.client = &http.Client{Transport: &http.Transport{
		MaxIdleConns: ingestClients, MaxIdleConnsPerHost: ingestClients, MaxConnsPerHost: ingestClients,
		DisableCompression: true,
	}}
	b.Cleanup(e.client.CloseIdleConnections)
	return e
}

// benchPool opens a pool of conns connections, all at once so no round
// pays for connecting, counting round trips in rt when it is not nil.
func benchPool(b *testing.B, url string, conns int, rt *pgtest.TripCounter) *pgxpool.Pool {
	b.Helper()
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		b.Fatal(err)
	}
	cfg.MaxConns, cfg.MinConns = int32(conns), int32(conns)
	if rt != nil {
		cfg.ConnConfig.DialFunc = rt.Dial
	}
	p, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(p.Close)
	return p
}

// loadAvg is the 1-minute load average, or "?".
func loadAvg() string {
	raw, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Fields(string(raw))[0]
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
