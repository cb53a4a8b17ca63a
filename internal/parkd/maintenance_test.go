package parkd

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parkhq/park/internal/pgtest"
)

func TestMaintenanceIntervalConfig(t *testing.T) {
	t.Parallel()
	cfg, _ := mustLoad(t, ModeServe, nil, validServe())
	if cfg.MaintenanceInterval != time.Hour {
		t.Errorf("default interval %s, want 1h", cfg.MaintenanceInterval)
	}
	for v, want := range map[string]time.Duration{"0": 0, "0s": 0, "30m": 30 * time.Minute, "1s": time.Second} {
		e := validServe()
		e["PARKD_MAINTENANCE_INTERVAL"] = v
		if cfg, _ := mustLoad(t, ModeServe, nil, e); cfg.MaintenanceInterval != want {
			t.Errorf("%q: %s, want %s", v, cfg.MaintenanceInterval, want)
		}
	}
	for _, v := range []string{"-1s", "500ms", "hourly"} {
		e := validServe()
		e["PARKD_MAINTENANCE_INTERVAL"] = v
		if _, _, err := load(t, ModeServe, nil, e); err == nil || !strings.Contains(err.Error(), "PARKD_MAINTENANCE_INTERVAL") {
			t.Errorf("%q: %v, want an error naming PARKD_MAINTENANCE_INTERVAL", v, err)
		}
	}
}

// oldReadings gives a new tenant keeping readings days days n readings
// received two days ago.
func oldReadings(t *testing.T, admin *pgxpool.Pool, days, n int) uuid.UUID {
	t.Helper()
	ctx := context.Background()
	id := uuid.New()
	if _, err := admin.Exec(ctx, `insert into tenants (id, name, slug, settings)
		values ($1, 'T', $2, jsonb_build_object('reading_retention_days', $3::integer))`, id, "t-"+id.String()[:8], days); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(ctx, `insert into sensor_readings (tenant_id, space_id, dev_eui, source, msg_key, read_at, received_at)
		select $1::uuid, gen_random_uuid(), '0011223344556677', 'generic', 'fcnt:' || g,
		       now() - interval '2 days', now() - interval '2 days'
		  from generate_series(1, $2::integer) g`, id, n); err != nil {
		t.Fatal(err)
	}
	return id
}

func readingsOf(t *testing.T, admin *pgxpool.Pool, tenant uuid.UUID) int {
	t.Helper()
	var n int
	if err := admin.QueryRow(context.Background(), `select count(*) from sensor_readings where tenant_id = $1`, tenant).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// waitLine waits for a log line with msg for which ok holds, and returns it.
func waitLine(t *testing.T, w *logWatcher, msg string, ok func(map[string]any) bool) map[string]any {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		for _, l := range w.lines(msg) {
			if ok(l) {
				return l
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %q line as wanted in:\n%s", msg, w)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestServeRunsRetention: parkd serve runs the retention maintenance once
// it serves, then every PARKD_MAINTENANCE_INTERVAL, logging one line per
// run and counting park_pruned_rows_total; only what is past each tenant's
// retention goes; shutdown stops it without a failed run.
func TestServeRunsRetention(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	admin := db.AdminPool(t)
	a := oldReadings(t, admin, 1, 10)
	b := oldReadings(t, admin, 30, 4)
	e := serveEnv(db.ServerURL)
	e["PARKD_MAINTENANCE_INTERVAL"] = "1s"
	p := start(t, []string{"serve"}, e, time.Minute)

	first := waitLine(t, p.log, "retention", func(m map[string]any) bool { return m["readings"] == 10.0 })
	if first["result"] != "done" || first["level"] != "INFO" || first["uplink_dedupe"] != 0.0 || first["idempotency_keys"] != 0.0 {
		t.Errorf("run line: %v", first)
	}
	log := p.log.String()
	if i, j := strings.Index(log, `"msg":"listening"`), strings.Index(log, `"msg":"retention"`); i < 0 || j < i {
		t.Errorf("retention ran before serving began:\n%s", log)
	}
	if n := readingsOf(t, admin, a); n != 0 {
		t.Errorf("A has %d readings past its retention", n)
	}
	if n := readingsOf(t, admin, b); n != 4 {
		t.Errorf("B has %d readings, want its 4", n)
	}

	// The next run, an interval later, takes what has aged since.
	c := oldReadings(t, admin, 1, 3)
	waitLine(t, p.log, "retention", func(m map[string]any) bool { return m["readings"] == 3.0 })
	if n := readingsOf(t, admin, c); n != 0 {
		t.Errorf("C has %d readings past its retention", n)
	}
	if code, body := get(t, p.base+"/metrics"); code != 200 || !strings.Contains(body, `park_pruned_rows_total{kind="readings"} 13`) ||
		!strings.Contains(body, `park_maintenance_runs_total{result="error"} 0`) {
		t.Errorf("metrics: %d\n%s", code, body)
	}

	if err := p.stop(t); err != nil {
		t.Fatal(err)
	}
	for _, l := range p.log.lines("retention") {
		if l["result"] == "failed" {
			b, _ := json.Marshal(l)
			t.Errorf("a run failed: %s", b)
		}
	}
	if len(p.log.lines("stopped")) != 1 {
		t.Errorf("no clean stop:\n%s", p.log)
	}
}

// TestServeRetentionDisabled: PARKD_MAINTENANCE_INTERVAL=0 runs nothing
// and says so.
func TestServeRetentionDisabled(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	admin := db.AdminPool(t)
	a := oldReadings(t, admin, 1, 5)
	e := serveEnv(db.ServerURL)
	e["PARKD_MAINTENANCE_INTERVAL"] = "0"
	p := start(t, []string{"serve"}, e, time.Minute)
	waitLine(t, p.log, "retention maintenance disabled", func(map[string]any) bool { return true })
	if code, body := get(t, p.base+"/metrics"); code != 200 || strings.Contains(body, "park_pruned_rows_total") {
		t.Errorf("metrics with retention off: %d\n%s", code, body)
	}
	if err := p.stop(t); err != nil {
		t.Fatal(err)
	}
	if n := readingsOf(t, admin, a); n != 5 || len(p.log.lines("retention")) != 0 {
		t.Errorf("retention ran while disabled: %d readings left\n%s", n, p.log)
	}
}
