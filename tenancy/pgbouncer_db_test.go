package tenancy_test

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/parkhq/park/internal/bootstrap"
	"github.com/parkhq/park/internal/pgbouncertest"
	"github.com/parkhq/park/internal/pgtest"
	"github.com/parkhq/park/tenancy"
)

// bareTenantRead reads, through c and as park_app, the number of sites and
// the tenant setting, in a transaction that sets the role but no tenant,
// and the backend it ran on: what the next user of a server connection would
// see of a setting its previous user left behind.
func bareTenantRead(t *testing.T, c *pgx.Conn) (sites int, tenant string, pid int) {
	t.Helper()
	ctx := ctxT(t)
	tx, err := c.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `select set_config('role', 'park_app', true)`); err != nil {
		t.Fatal(err)
	}
	if err := tx.QueryRow(ctx, `select count(*), coalesce(current_setting('app.tenant_id', true), ''), pg_backend_pid() from sites`).
		Scan(&sites, &tenant, &pid); err != nil {
		t.Fatal(err)
	}
	return sites, tenant, pid
}

// TestPgBouncerPrologueDoesNotLeak: through the pool-1 entry, a Store
// transaction of tenant A and then, on another client, a transaction
// without the prologue run on the same server connection, and the second
// sees no tenant and no rows. The control half leaks the setting on
// purpose (set_config with is_local false) and shows that the second client
// then does see A's rows: the entry would catch a leaking prologue.
func TestPgBouncerPrologueDoesNotLeak(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	bouncer := pgbouncertest.New(t, db)
	admin := db.AdminPool(t)
	ctx := ctxT(t)
	tenant := uuid.New()
	if _, err := admin.Exec(ctx, `insert into tenants (id, name, slug) values ($1, 'A', $2)`, tenant, "t-"+tenant.String()[:8]); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(ctx, `insert into sites (tenant_id, id, name, timezone) values ($1, $2, 'A site', 'UTC')`, tenant, uuid.New()); err != nil {
		t.Fatal(err)
	}

	url := bouncer.URL(pgbouncertest.Single, bootstrap.RoleServer)
	store := tenancy.NewStore(pgbouncertest.Pool(t, url, 2))
	other, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close(context.Background())

	var inPID, inSites int
	if err := store.InTenantTx(ctx, tenant, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `select pg_backend_pid(), count(*) from sites`).Scan(&inPID, &inSites)
	}); err != nil {
		t.Fatal(err)
	}
	if inSites != 1 {
		t.Fatalf("tenant A sees %d sites in its own transaction, want 1", inSites)
	}
	sites, setting, pid := bareTenantRead(t, other)
	if pid != inPID {
		t.Fatalf("the second client ran on backend %d, the Store's transaction on %d: the pool-1 entry does not share its server connection", pid, inPID)
	}
	if sites != 0 || setting != "" {
		t.Errorf("the next transaction on A's server connection sees %d sites and app.tenant_id %q, want 0 and none", sites, setting)
	}

	// InTenantBatch's implicit transaction ends its settings too.
	batch := &pgx.Batch{}
	batch.Queue(`select count(*) from sites`)
	if err := store.InTenantBatch(ctx, tenant, batch); err != nil {
		t.Fatal(err)
	}
	if sites, setting, _ := bareTenantRead(t, other); sites != 0 || setting != "" {
		t.Errorf("after InTenantBatch the next transaction sees %d sites and app.tenant_id %q, want 0 and none", sites, setting)
	}

	// Control: a session-level setting (is_local false) does outlive its
	// transaction through the bouncer, and the bare read sees A's rows.
	leaker, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer leaker.Close(context.Background())
	if _, err := leaker.Exec(ctx, `select set_config('app.tenant_id', $1, false)`, tenant.String()); err != nil {
		t.Fatal(err)
	}
	if sites, setting, _ := bareTenantRead(t, other); sites != 1 || setting != tenant.String() {
		t.Errorf("a leaked session setting: the next transaction sees %d sites and app.tenant_id %q, want 1 and A's id; the entry would not catch a leak", sites, setting)
	}
}

// TestPgBouncerAuditedWrites: the Store's writes that record an audit event
// or write jsonb (site, space and tenant changes as park_server; tenant
// creation and limits as park_admin) succeed through PgBouncer in exec
// mode, where a parameter has no described type (issue 8 item 16: a Go map
// for the jsonb details could not be encoded, and POST /api/v1/sites
// answered 500).
func TestPgBouncerAuditedWrites(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	bouncer := pgbouncertest.New(t, db)
	admin := db.AdminPool(t)
	ctx := ctxT(t)
	ops := tenancy.NewOps(pgbouncertest.Pool(t, bouncer.URL(pgbouncertest.Single, bootstrap.RoleAdmin), 2))
	store := tenancy.NewStore(bouncer.ServerPool(t, pgbouncertest.Single, 2))

	tn, err := ops.TenantCreate(ctx, &tenancy.TenantCreateParams{Name: "Acme", Slug: "acme", Actor: opsActor})
	if err != nil {
		t.Fatalf("tenant create: %v", err)
	}
	if _, err := ops.TenantSetLimits(ctx, &tenancy.TenantSetLimitsParams{ID: tn.ID, Actor: opsActor,
		Limits: map[string]*tenancy.Limit{tenancy.LimitAPI: {Rate: 5, Burst: 10}}}); err != nil {
		t.Fatalf("tenant set limits: %v", err)
	}
	upd, err := store.TenantUpdate(ctx, &tenancy.TenantUpdateParams{TenantID: tn.ID, Actor: testActor,
		Name: tenancy.Some("Acme Parking"), ReadingRetentionDays: tenancy.Some(30)})
	if err != nil {
		t.Fatalf("tenant update: %v", err)
	}
	if upd.Settings.ReadingRetentionDays == nil || *upd.Settings.ReadingRetentionDays != 30 || upd.Settings.Limits[tenancy.LimitAPI].Burst != 10 {
		t.Errorf("settings after update through PgBouncer: %+v", upd.Settings)
	}
	site, err := store.SiteCreate(ctx, &tenancy.SiteCreateParams{TenantID: tn.ID, Actor: testActor, Name: "Garage", Timezone: "UTC"})
	if err != nil {
		t.Fatalf("site create: %v", err)
	}
	space, err := store.SpaceCreate(ctx, &tenancy.SpaceCreateParams{TenantID: tn.ID, Actor: testActor, SiteID: site.ID, Code: "A1"})
	if err != nil {
		t.Fatalf("space create: %v", err)
	}
	if err := store.SpaceDelete(ctx, &tenancy.SpaceDeleteParams{TenantID: tn.ID, Actor: testActor, ID: space.ID}); err != nil {
		t.Fatalf("space delete: %v", err)
	}

	var events int
	var details string
	if err := admin.QueryRow(ctx, `select count(*), max(details::text) filter (where action = 'site.create') from audit_events where tenant_id = $1`, tn.ID).
		Scan(&events, &details); err != nil {
		t.Fatal(err)
	}
	if events != 6 {
		t.Errorf("%d audit events, want 6 (tenant create, limits, update, site create, space create, space delete)", events)
	}
	if details == "" || details[0] != '{' {
		t.Errorf("site.create details stored as %q, want a JSON object", details)
	}
}

// TestPgBouncerPreflight: parkd's start-up checks pass through either
// entry, so parkd can start behind PgBouncer.
func TestPgBouncerPreflight(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	bouncer := pgbouncertest.New(t, db)
	for _, e := range []pgbouncertest.Entry{pgbouncertest.Single, pgbouncertest.Wide} {
		store := tenancy.NewStore(bouncer.ServerPool(t, e, 2))
		if warnings, err := store.Preflight(ctxT(t), tenancy.PreflightOptions{}); err != nil || len(warnings) > 0 {
			t.Errorf("preflight through %s: %v, warnings %q", e, err, warnings)
		}
	}
}
