package reservation_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/parkhq/park/reservation"
	"github.com/parkhq/park/tenancy"
)

// gathered returns park_reservation_integrity_findings as "kind=n" sorted.
func gathered(t *testing.T, reg *prometheus.Registry) string {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			out = append(out, fmt.Sprintf("%s=%g", m.GetLabel()[0].GetValue(), m.GetGauge().GetValue()))
		}
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

// TestIntegrityCountsMatchAudit: the server's login, which sees one tenant
// at a time, gets through maint.reservation_integrity_counts the same
// numbers per kind as the operator's audit finds across all tenants.
func TestIntegrityCountsMatchAudit(t *testing.T) {
	t.Parallel()
	b := newBundle(t, 2)
	ctx := testCtx(t)
	ops := reservation.NewOps(tenancy.NewOps(opsPool(t, b)), reservation.Options{})
	a, other, user := b.tenant(t), b.tenant(t), uuid.New()
	aSpace, gone, otherSpace := b.space(t, a), b.space(t, a), b.space(t, other)
	start, end := b.slot(2, 2)

	check := func(want string) {
		t.Helper()
		counts, err := b.store.IntegrityCounts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		rep, err := ops.Audit(ctx, &reservation.AuditParams{})
		if err != nil {
			t.Fatal(err)
		}
		audited := map[string]int64{reservation.FindingConflict: 0, reservation.FindingDeletedSpace: 0, reservation.FindingTenantMismatch: 0}
		for _, f := range rep.Findings {
			audited[f.Kind]++
		}
		if fmt.Sprint(counts) != want || fmt.Sprint(audited) != want {
			t.Fatalf("counts %v, audit %v; want %s", counts, audited, want)
		}
	}

	if _, err := b.store.Create(ctx, params(a, user, aSpace, start, end)); err != nil {
		t.Fatal(err)
	}
	if _, err := b.store.Create(ctx, params(other, user, otherSpace, start, end)); err != nil {
		t.Fatal(err)
	}
	if err := b.tenancy.SpaceDelete(ctx, &tenancy.SpaceDeleteParams{TenantID: a, Actor: "user:x", ID: gone}); err != nil {
		t.Fatal(err)
	}
	check("map[conflict:0 deleted_space:0 tenant_mismatch:0]")

	for _, sql := range []string{
		`alter table reservations drop constraint reservations_no_overlap`,
		`alter table reservations drop constraint reservations_tenant_id_space_id_fkey`,
	} {
		if _, err := b.admin.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	overlap := uuid.New()
	insert := func(id, tenant, space uuid.UUID, from, to time.Time) {
		t.Helper()
		if _, err := b.admin.Exec(ctx, `insert into reservations (tenant_id, id, space_id, during, created_at)
			values ($1, $2, $3, tstzrange($4, $5), now() - interval '1 day')`, tenant, id, space, from, to); err != nil {
			t.Fatal(err)
		}
	}
	insert(overlap, a, aSpace, start.Add(time.Hour), end.Add(time.Hour))
	insert(uuid.New(), a, gone, start, end)
	insert(uuid.New(), a, gone, start.Add(-72*time.Hour), end.Add(-72*time.Hour)) // history, not a finding
	insert(uuid.New(), a, otherSpace, start, end)
	insert(uuid.New(), a, uuid.New(), start, end)
	check("map[conflict:1 deleted_space:1 tenant_mismatch:2]")

	// The collector reads at most once per interval.
	clk := &clock{now: time.Now()}
	reg := prometheus.NewRegistry()
	reg.MustRegister(reservation.NewIntegrityCollector(b.store, reservation.IntegrityCollectorOptions{Interval: time.Minute, Now: clk.Now}))
	if got := gathered(t, reg); got != "conflict=1 deleted_space=1 tenant_mismatch=2" {
		t.Fatalf("gauge %s", got)
	}
	if _, err := b.admin.Exec(ctx, `update reservations set status = 'cancelled', cancelled_at = now() where id = $1`, overlap); err != nil {
		t.Fatal(err)
	}
	clk.Advance(59 * time.Second)
	if got := gathered(t, reg); got != "conflict=1 deleted_space=1 tenant_mismatch=2" {
		t.Fatalf("gauge within the interval %s", got)
	}
	clk.Advance(time.Second)
	if got := gathered(t, reg); got != "conflict=0 deleted_space=1 tenant_mismatch=2" {
		t.Fatalf("gauge after the interval %s", got)
	}
}

// TestIntegrityCollectorFailure: a failed read reports no series (stale
// rather than a made-up 0) and says why in the log.
func TestIntegrityCollectorFailure(t *testing.T) {
	t.Parallel()
	b := newBundle(t, 1)
	pool := b.db.ServerPool(t, 1)
	pool.Close()
	var logs bytes.Buffer
	reg := prometheus.NewRegistry()
	reg.MustRegister(reservation.NewIntegrityCollector(reservation.NewStore(tenancy.NewStore(pool), reservation.Options{}),
		reservation.IntegrityCollectorOptions{Timeout: 5 * time.Second, Logger: slog.New(slog.NewJSONHandler(&logs, nil))}))
	if got := gathered(t, reg); got != "" {
		t.Fatalf("gauge from a closed pool: %s", got)
	}
	if !strings.Contains(logs.String(), "reservation integrity findings not counted") {
		t.Fatalf("log: %s", logs.String())
	}
}
