package tenancy_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parkhq/park/internal/pgtest"
	"github.com/parkhq/park/tenancy"
)

// newExecBundle is a resBundle whose store runs in pgx's exec mode, as
// through PgBouncer: parameters have no described types.
func newExecBundle(t testing.TB) *resBundle {
	t.Helper()
	db := pgtest.NewDB(t)
	cfg, err := pgxpool.ParseConfig(db.ServerURL + "&default_query_exec_mode=exec")
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 2
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return &resBundle{store: tenancy.NewStore(pool), admin: db.AdminPool(t)}
}

func (b *resBundle) liveSpaces(t *testing.T, tenant uuid.UUID) int {
	t.Helper()
	var n int
	if err := b.admin.QueryRow(testCtx(t), `select count(*) from spaces where tenant_id = $1 and deleted_at is null`, tenant).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestSpaceImport(t *testing.T) {
	t.Parallel()
	b := newExecBundle(t)
	ctx := testCtx(t)
	tenant := b.tenant(t)
	site := b.site(t, tenant, "Garage")
	other := b.site(t, tenant, "Lot")
	b.space(t, tenant, site.ID, "A1", nil)
	b.space(t, tenant, other.ID, "L1", ptr("00000000000000aa"))

	rows := []tenancy.SpaceImportRow{
		{Line: 2, Code: " B1 ", Name: "By the door", SensorEUI: "70-B3-D5-7E-D0-00-00-01"},
		{Line: 3, Code: "B2"},
		// Codes are unique per site only: L1 is free in this site.
		{Line: 5, Code: "L1", SensorEUI: "70b3d57ed0000002"},
	}
	// A dry run checks and imports nothing.
	n, err := b.store.SpaceImport(ctx, &tenancy.SpaceImportParams{TenantID: tenant, Actor: testActor, SiteID: site.ID, Rows: rows, DryRun: true})
	if err != nil || n != 3 || b.liveSpaces(t, tenant) != 2 {
		t.Fatalf("dry run: %d, %v; %d live spaces", n, err, b.liveSpaces(t, tenant))
	}
	n, err = b.store.SpaceImport(ctx, &tenancy.SpaceImportParams{TenantID: tenant, Actor: testActor, SiteID: site.ID, Rows: rows})
	if err != nil || n != 3 {
		t.Fatalf("import: %d, %v", n, err)
	}
	spaces := collect(t, 100, func(p tenancy.PageParams) (*tenancy.Page[tenancy.Space], error) {
		return b.store.SpaceList(ctx, &tenancy.SpaceListParams{TenantID: tenant, SiteID: site.ID, Page: p})
	})
	got := map[string]string{}
	for _, sp := range spaces {
		eui := "-"
		if sp.SensorEUI != nil {
			eui = *sp.SensorEUI
		}
		got[sp.Code] = sp.Name + "|" + eui + "|" + sp.State
	}
	want := map[string]string{"A1": "|-|unknown", "B1": "By the door|70b3d57ed0000001|unknown", "B2": "|-|unknown", "L1": "|70b3d57ed0000002|unknown"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("spaces %v, want %v", got, want)
	}
	if n := b.audits(t, tenant, "space.import", site.ID.String()); n != 1 {
		t.Fatalf("%d space.import audit events, want 1", n)
	}

	// Unknown and foreign sites are not found.
	_, err = b.store.SpaceImport(ctx, &tenancy.SpaceImportParams{TenantID: tenant, Actor: testActor, SiteID: uuid.New(), Rows: rows[1:2]})
	wantNotFound(t, "unknown site", err)
	_, err = b.store.SpaceImport(ctx, &tenancy.SpaceImportParams{TenantID: b.tenant(t), Actor: testActor, SiteID: site.ID, Rows: rows[1:2]})
	wantNotFound(t, "another tenant's site", err)
	_, err = b.store.SpaceImport(ctx, &tenancy.SpaceImportParams{TenantID: tenant, Actor: testActor, SiteID: site.ID})
	if !errors.Is(err, tenancy.ErrInvalid) {
		t.Fatalf("no rows: %v", err)
	}
}

func TestSpaceImportReportsEveryBadRow(t *testing.T) {
	t.Parallel()
	b := newExecBundle(t)
	ctx := testCtx(t)
	tenant := b.tenant(t)
	site := b.site(t, tenant, "Garage")
	other := b.site(t, tenant, "Lot")
	b.space(t, tenant, site.ID, "A1", nil)
	b.space(t, tenant, other.ID, "L1", ptr("00000000000000aa"))
	before := b.liveSpaces(t, tenant)

	rows := []tenancy.SpaceImportRow{
		{Line: 2, Code: "C1", SensorEUI: "00000000000000bb"},
		{Line: 3, Code: "C2", SensorEUI: "not-an-eui"},              // bad EUI
		{Line: 4, Code: "C1"},                                       // code repeats line 2
		{Line: 5, Code: "A1"},                                       // code live at the site
		{Line: 6, Code: "C3", SensorEUI: "00:00:00:00:00:00:00:BB"}, // EUI repeats line 2
		{Line: 7, Code: "C4", SensorEUI: "00000000000000AA"},        // EUI live in the tenant
		{Line: 8, Code: "L1"},                                       // fine: L1 is at another site
		{Line: 9, Code: "bad/code"},
	}
	_, err := b.store.SpaceImport(ctx, &tenancy.SpaceImportParams{TenantID: tenant, Actor: testActor, SiteID: site.ID, Rows: rows})
	var ie *tenancy.SpaceImportError
	if !errors.As(err, &ie) || !errors.Is(err, tenancy.ErrInvalid) {
		t.Fatalf("import: %v, want a *SpaceImportError", err)
	}
	if lines := fmt.Sprint(ie.Lines()); lines != "[3 4 5 6 7 9]" {
		t.Errorf("bad lines %s, want [3 4 5 6 7 9]; problems %v", lines, ie.Problems)
	}
	wantProblems := map[int]string{
		4: `code: "C1" is also on line 2`,
		5: `code: a live space of the site has code "A1"`,
		6: `sensor_eui: sensor 00000000000000bb is also on line 2`,
		7: `sensor_eui: sensor 00000000000000aa is on space "L1" of site "Lot"`,
	}
	for _, p := range ie.Problems {
		if w, ok := wantProblems[p.Line]; ok && p.Field+": "+p.Problem != w {
			t.Errorf("line %d: %s: %s, want %s", p.Line, p.Field, p.Problem, w)
		}
	}
	if b.liveSpaces(t, tenant) != before {
		t.Fatalf("a bad import added spaces")
	}
	if n := b.audits(t, tenant, "space.import", site.ID.String()); n != 0 {
		t.Fatalf("%d audit events of a refused import", n)
	}
}

// BenchmarkSpaceImport imports 10,000 spaces, each with a sensor, into a
// fresh site per iteration through the exec-mode store (target: under
// 10 s an import).
func BenchmarkSpaceImport(b *testing.B) {
	const n = 10_000
	rb := newExecBundle(b)
	ctx := context.Background()
	tenant := uuid.New()
	if _, err := rb.admin.Exec(ctx, `insert into tenants (id, name, slug) values ($1, 'Bench', 'bench')`, tenant); err != nil {
		b.Fatal(err)
	}
	var (
		total time.Duration
		iters int
	)
	for i := 0; b.Loop(); i++ {
		iters++
		site, err := rb.store.SiteCreate(ctx, &tenancy.SiteCreateParams{TenantID: tenant, Actor: testActor, Name: fmt.Sprint("Site ", i), Timezone: "UTC"})
		if err != nil {
			b.Fatal(err)
		}
		rows := make([]tenancy.SpaceImportRow, n)
		for j := range rows {
			rows[j] = tenancy.SpaceImportRow{Line: j + 2, Code: fmt.Sprintf("S-%05d", j), Name: fmt.Sprint("Space ", j),
				SensorEUI: fmt.Sprintf("%08x%08x", i, j)}
		}
		start := time.Now()
		got, err := rb.store.SpaceImport(ctx, &tenancy.SpaceImportParams{TenantID: tenant, Actor: testActor, SiteID: site.ID, Rows: rows})
		total += time.Since(start)
		if err != nil || got != n {
			b.Fatalf("import: %d, %v", got, err)
		}
	}
	b.ReportMetric(float64(n*iters)/total.Seconds(), "rows/s")
	b.ReportMetric(total.Seconds()/float64(iters), "s/import")
	b.ReportMetric(10, "s/import@max") // the target
}
