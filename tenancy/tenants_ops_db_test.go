package tenancy_test

import (
	"errors"
	"math"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parkhq/park/internal/pgtest"
	"github.com/parkhq/park/ratelimit"
	"github.com/parkhq/park/tenancy"
)

// opsBundle runs the operator methods the way parkctl does: an Ops on the
// park_admin login (member of park_owner and park_ops). server is a Store on
// park_server, the server's login, serverOps an Ops on that login (which
// the database must refuse), and admin a superuser pool that arranges and
// inspects.
type opsBundle struct {
	ops       *tenancy.Ops
	opsPool   *pgxpool.Pool
	server    *tenancy.Store
	serverOps *tenancy.Ops
	admin     *pgxpool.Pool
}

const opsActor = "operator:test"

func newOpsBundle(t *testing.T) *opsBundle {
	t.Helper()
	db := pgtest.NewDB(t)
	cfg, err := pgxpool.ParseConfig(db.OpsURL)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 4
	pool, err := pgxpool.NewWithConfig(testCtx(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	serverPool := db.ServerPool(t, 4)
	return &opsBundle{ops: tenancy.NewOps(pool), opsPool: pool, server: tenancy.NewStore(serverPool), serverOps: tenancy.NewOps(serverPool), admin: db.AdminPool(t)}
}

func (b *opsBundle) create(t *testing.T, slug string) *tenancy.Tenant {
	t.Helper()
	tn, err := b.ops.TenantCreate(testCtx(t), &tenancy.TenantCreateParams{Name: "Tenant " + slug, Slug: slug, Actor: opsActor})
	if err != nil {
		t.Fatalf("create %s: %v", slug, err)
	}
	return tn
}

// audit returns the actions of tenant's audit events by opsActor, oldest
// first.
func (b *opsBundle) audit(t *testing.T, tenant uuid.UUID) []string {
	t.Helper()
	rows, err := b.admin.Query(testCtx(t),
		`select action from audit_events where tenant_id = $1 and actor = $2 and target = $3 order by id`,
		tenant, opsActor, tenant.String())
	if err != nil {
		t.Fatal(err)
	}
	actions, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return actions
}

func (b *opsBundle) settings(t *testing.T, tenant uuid.UUID) string {
	t.Helper()
	var s string
	if err := b.admin.QueryRow(testCtx(t), `select settings::text from tenants where id = $1`, tenant).Scan(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestTenantCreate(t *testing.T) {
	t.Parallel()
	b := newOpsBundle(t)
	ctx := testCtx(t)

	tn, err := b.ops.TenantCreate(ctx, &tenancy.TenantCreateParams{Name: "  Acme Parking ", Slug: "acme", Actor: opsActor})
	if err != nil {
		t.Fatal(err)
	}
	if tn.ID == uuid.Nil || tn.Name != "Acme Parking" || tn.Slug != "acme" || tn.Status != tenancy.StatusActive ||
		tn.Settings.Limits != nil || tn.CreatedAt.IsZero() || !tn.UpdatedAt.Equal(tn.CreatedAt) {
		t.Fatalf("created %+v", tn)
	}
	if got := b.audit(t, tn.ID); len(got) != 1 || got[0] != "tenant.create" {
		t.Fatalf("audit %v, want [tenant.create]", got)
	}
	// The server sees it as its own tenant.
	if got, err := b.server.TenantGet(ctx, tn.ID); err != nil || got.Slug != "acme" {
		t.Fatalf("TenantGet as park_app: %+v, %v", got, err)
	}

	_, err = b.ops.TenantCreate(ctx, &tenancy.TenantCreateParams{Name: "Other", Slug: "acme", Actor: opsActor})
	var ce *tenancy.ConflictError
	if !errors.As(err, &ce) || ce.Field != "slug" || !errors.Is(err, tenancy.ErrConflict) || !strings.Contains(err.Error(), `"acme" is taken`) {
		t.Fatalf("duplicate slug: %v, want a *ConflictError on slug", err)
	}
	var dbErr *tenancy.DBError
	if errors.As(err, &dbErr) {
		t.Fatalf("conflict still wraps a *DBError: %v", err)
	}

	_, err = b.ops.TenantCreate(ctx, &tenancy.TenantCreateParams{Name: " ", Slug: "Acme!", Actor: opsActor})
	var ve *tenancy.ValidationError
	if !errors.As(err, &ve) || len(ve.Fields["name"]) == 0 || len(ve.Fields["slug"]) == 0 {
		t.Fatalf("invalid input: %v, want problems with name and slug", err)
	}
	if _, err := b.ops.TenantCreate(ctx, &tenancy.TenantCreateParams{Name: "X", Slug: "x"}); err == nil {
		t.Fatal("created a tenant without an actor")
	}
	var n int
	if err := b.admin.QueryRow(ctx, `select count(*) from tenants`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("%d tenants, want 1 (%v)", n, err)
	}
}

func TestTenantListAllAndBySlug(t *testing.T) {
	t.Parallel()
	b := newOpsBundle(t)
	ctx := testCtx(t)

	empty, err := b.ops.TenantListAll(ctx, tenancy.TenantListAllParams{})
	if err != nil || empty == nil || len(empty) != 0 {
		t.Fatalf("empty list: %v, %v; want [] and no error", empty, err)
	}
	a, c := b.create(t, "alpha"), b.create(t, "charlie")
	// One made behind the stores' back, as a restore or a script might.
	if _, err := b.admin.Exec(ctx, `insert into tenants (id, name, slug, status) values ($1, 'Bravo', 'bravo', 'suspended')`, uuid.New()); err != nil {
		t.Fatal(err)
	}

	all, err := b.ops.TenantListAll(ctx, tenancy.TenantListAllParams{})
	if err != nil {
		t.Fatal(err)
	}
	var slugs []string
	for _, tn := range all {
		slugs = append(slugs, tn.Slug)
	}
	if strings.Join(slugs, ",") != "alpha,charlie,bravo" {
		t.Fatalf("list %v, want every tenant oldest first", slugs)
	}
	susp, err := b.ops.TenantListAll(ctx, tenancy.TenantListAllParams{Status: tenancy.StatusSuspended})
	if err != nil || len(susp) != 1 || susp[0].Slug != "bravo" {
		t.Fatalf("suspended: %+v, %v", susp, err)
	}
	if _, err := b.ops.TenantListAll(ctx, tenancy.TenantListAllParams{Status: "gone"}); !errors.Is(err, tenancy.ErrInvalid) {
		t.Fatalf("bad status filter: %v", err)
	}

	got, err := b.ops.TenantBySlug(ctx, "charlie")
	if err != nil || got.ID != c.ID || got.Name != "Tenant charlie" {
		t.Fatalf("by slug: %+v, %v", got, err)
	}
	_, err = b.ops.TenantBySlug(ctx, "nosuch")
	wantNotFound(t, "unknown slug", err)
	if !strings.Contains(err.Error(), `"nosuch"`) {
		t.Errorf("error %q does not name the slug", err)
	}
	byID, err := b.ops.TenantByID(ctx, a.ID)
	if err != nil || byID.Slug != "alpha" {
		t.Fatalf("by id: %+v, %v", byID, err)
	}
	_, err = b.ops.TenantByID(ctx, uuid.New())
	wantNotFound(t, "unknown id", err)

	// park_server is no member of park_ops: it can neither list nor look up.
	if _, err := b.serverOps.TenantListAll(ctx, tenancy.TenantListAllParams{}); err == nil {
		t.Fatal("park_server listed every tenant")
	}
	if _, err := b.serverOps.TenantBySlug(ctx, a.Slug); err == nil || errors.Is(err, tenancy.ErrNotFound) {
		t.Fatalf("park_server looked up a tenant: %v", err)
	}
	if _, err := b.serverOps.TenantByID(ctx, a.ID); err == nil || errors.Is(err, tenancy.ErrNotFound) {
		t.Fatalf("park_server looked up a tenant by id: %v", err)
	}
}

func TestTenantSetStatus(t *testing.T) {
	t.Parallel()
	b := newOpsBundle(t)
	ctx := testCtx(t)
	tn := b.create(t, "acme")
	other := b.create(t, "other")

	sus, err := b.ops.TenantSetStatus(ctx, &tenancy.TenantSetStatusParams{Slug: "acme", Status: tenancy.StatusSuspended, Actor: opsActor})
	if err != nil {
		t.Fatal(err)
	}
	if sus.ID != tn.ID || sus.Status != tenancy.StatusSuspended || !sus.UpdatedAt.After(tn.UpdatedAt) {
		t.Fatalf("suspended: %+v", sus)
	}
	// Again: nothing changes, nothing is logged.
	again, err := b.ops.TenantSetStatus(ctx, &tenancy.TenantSetStatusParams{ID: tn.ID, Status: tenancy.StatusSuspended, Actor: opsActor})
	if err != nil || again.Status != tenancy.StatusSuspended || !again.UpdatedAt.Equal(sus.UpdatedAt) {
		t.Fatalf("suspend twice: %+v, %v", again, err)
	}
	if o, err := b.ops.TenantBySlug(ctx, "other"); err != nil || o.Status != tenancy.StatusActive || !o.UpdatedAt.Equal(other.UpdatedAt) {
		t.Fatalf("other tenant touched: %+v, %v", o, err)
	}

	res, err := b.ops.TenantSetStatus(ctx, &tenancy.TenantSetStatusParams{ID: tn.ID, Status: tenancy.StatusActive, Actor: opsActor})
	if err != nil || res.Status != tenancy.StatusActive {
		t.Fatalf("resume: %+v, %v", res, err)
	}
	if got := strings.Join(b.audit(t, tn.ID), ","); got != "tenant.create,tenant.suspend,tenant.resume" {
		t.Fatalf("audit %s", got)
	}
	var details string
	if err := b.admin.QueryRow(ctx, `select details::text from audit_events where tenant_id = $1 and action = 'tenant.suspend'`, tn.ID).Scan(&details); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(details, `"status": "suspended"`) || !strings.Contains(details, `"previous": "active"`) {
		t.Errorf("suspend details %s", details)
	}
	if got := b.audit(t, other.ID); len(got) != 1 {
		t.Errorf("other tenant's audit %v", got)
	}

	_, err = b.ops.TenantSetStatus(ctx, &tenancy.TenantSetStatusParams{Slug: "nosuch", Status: tenancy.StatusSuspended, Actor: opsActor})
	wantNotFound(t, "unknown slug", err)
	_, err = b.ops.TenantSetStatus(ctx, &tenancy.TenantSetStatusParams{ID: uuid.New(), Status: tenancy.StatusSuspended, Actor: opsActor})
	wantNotFound(t, "unknown id", err)
	if _, err := b.ops.TenantSetStatus(ctx, &tenancy.TenantSetStatusParams{ID: tn.ID, Status: "deleted", Actor: opsActor}); !errors.Is(err, tenancy.ErrInvalid) {
		t.Errorf("bad status: %v", err)
	}
	if _, err := b.ops.TenantSetStatus(ctx, &tenancy.TenantSetStatusParams{ID: tn.ID, Slug: "acme", Status: tenancy.StatusActive, Actor: opsActor}); err == nil {
		t.Error("accepted both ID and Slug")
	}

	// The status is operator-only: park_app may not write it.
	err = b.server.InTenantTx(ctx, tn.ID, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `update tenants set status = 'suspended' where id = $1`, tn.ID)
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "permission denied") {
		t.Fatalf("park_app wrote the status: %v", err)
	}
}

// limitsOf reads the stored overrides through the Tenant type.
func limitsOf(t *testing.T, tn *tenancy.Tenant) map[string]tenancy.Limit {
	t.Helper()
	if tn.Settings.Limits == nil {
		return map[string]tenancy.Limit{}
	}
	return tn.Settings.Limits
}

func TestTenantSetLimits(t *testing.T) {
	t.Parallel()
	b := newOpsBundle(t)
	ctx := testCtx(t)
	tn := b.create(t, "acme")
	// Settings the limits must leave alone, including one this version
	// does not know, and a policy name from the future inside limits.
	if _, err := b.admin.Exec(ctx,
		`update tenants set settings = '{"occupancy":{"field":"s","occupied":[1],"free":[0]},"future_key":[1,2],"limits":{"future":{"rate":1}}}' where id = $1`, tn.ID); err != nil {
		t.Fatal(err)
	}
	set := func(limits map[string]*tenancy.Limit) *tenancy.Tenant {
		t.Helper()
		got, err := b.ops.TenantSetLimits(ctx, &tenancy.TenantSetLimitsParams{ID: tn.ID, Limits: limits, Actor: opsActor})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}

	got := set(map[string]*tenancy.Limit{tenancy.LimitAPI: {Rate: 5, Burst: 10}})
	if l := limitsOf(t, got); l["api"] != (tenancy.Limit{Rate: 5, Burst: 10}) || len(l) != 2 || !got.UpdatedAt.After(tn.UpdatedAt) {
		t.Fatalf("set api: %+v", got)
	}
	// One side alone keeps the other from the override ...
	got = set(map[string]*tenancy.Limit{tenancy.LimitAPI: {Rate: 7.5}})
	if l := limitsOf(t, got); l["api"] != (tenancy.Limit{Rate: 7.5, Burst: 10}) {
		t.Fatalf("api rate alone: %+v", l)
	}
	// ... or, without one, from the platform default.
	got = set(map[string]*tenancy.Limit{tenancy.LimitWebhook: {Burst: 1000}, tenancy.LimitOrphan: {Rate: 1}})
	l := limitsOf(t, got)
	if l["webhook"] != (tenancy.Limit{Rate: tenancy.DefaultWebhookRate, Burst: 1000}) ||
		l["orphan"] != (tenancy.Limit{Rate: 1, Burst: tenancy.DefaultOrphanBurst}) || l["api"].Rate != 7.5 {
		t.Fatalf("webhook burst and orphan rate alone: %+v", l)
	}
	// The server would accept what is stored.
	overrides := map[string]ratelimit.Override{}
	for _, name := range tenancy.LimitNames() {
		overrides[name] = ratelimit.Override{Rate: l[name].Rate, Burst: l[name].Burst}
	}
	if err := ratelimit.ValidateOverrides(overrides); err != nil {
		t.Fatalf("stored limits the rate limiter refuses: %v", err)
	}

	// nil removes an override.
	got = set(map[string]*tenancy.Limit{tenancy.LimitAPI: nil, tenancy.LimitOrphan: nil})
	if l := limitsOf(t, got); len(l) != 2 || l["webhook"].Burst != 1000 {
		t.Fatalf("remove: %+v", l)
	}
	if s := b.settings(t, tn.ID); !strings.Contains(s, `"future_key": [1, 2]`) || !strings.Contains(s, `"occupancy": {`) ||
		!strings.Contains(s, `"future": {"rate": 1}`) || strings.Contains(s, `"api"`) {
		t.Fatalf("stored settings %s", s)
	}
	// Removing the last one removes the key.
	if _, err := b.admin.Exec(ctx, `update tenants set settings = settings #- '{limits,future}' where id = $1`, tn.ID); err != nil {
		t.Fatal(err)
	}
	got = set(map[string]*tenancy.Limit{tenancy.LimitWebhook: nil})
	if got.Settings.Limits != nil || strings.Contains(b.settings(t, tn.ID), "limits") {
		t.Fatalf("limits left after removing the last: %s", b.settings(t, tn.ID))
	}
	if got := b.audit(t, tn.ID); len(got) != 6 || got[5] != "tenant.limits" {
		t.Fatalf("audit %v, want create and five tenant.limits", got)
	}

	// Nothing named: unchanged, nothing written.
	same, err := b.ops.TenantSetLimits(ctx, &tenancy.TenantSetLimitsParams{ID: tn.ID, Actor: opsActor})
	if err != nil || !same.UpdatedAt.Equal(got.UpdatedAt) || len(b.audit(t, tn.ID)) != 6 {
		t.Fatalf("empty change: %+v, %v", same, err)
	}
	_, err = b.ops.TenantSetLimits(ctx, &tenancy.TenantSetLimitsParams{ID: uuid.New(), Actor: opsActor,
		Limits: map[string]*tenancy.Limit{tenancy.LimitAPI: {Rate: 1}}})
	wantNotFound(t, "unknown tenant", err)
	// park_server cannot set limits.
	if _, err := b.serverOps.TenantSetLimits(ctx, &tenancy.TenantSetLimitsParams{ID: tn.ID, Actor: opsActor,
		Limits: map[string]*tenancy.Limit{tenancy.LimitAPI: {Rate: 1}}}); err == nil {
		t.Fatal("park_server set limits")
	}
}

func TestTenantSetLimitsValidation(t *testing.T) {
	t.Parallel()
	b := newOpsBundle(t)
	ctx := testCtx(t)
	tn := b.create(t, "acme")
	tests := []struct {
		name   string
		limits map[string]*tenancy.Limit
		field  string
	}{
		{"unknown policy", map[string]*tenancy.Limit{"login": {Rate: 1, Burst: 1}}, "limits.login"},
		{"unknown policy removed", map[string]*tenancy.Limit{"login": nil}, "limits.login"},
		{"neither side", map[string]*tenancy.Limit{"api": {}}, "limits.api"},
		{"negative rate", map[string]*tenancy.Limit{"api": {Rate: -1, Burst: 5}}, "limits.api.rate"},
		{"NaN rate", map[string]*tenancy.Limit{"api": {Rate: math.NaN()}}, "limits.api.rate"},
		{"infinite rate", map[string]*tenancy.Limit{"api": {Rate: math.Inf(1)}}, "limits.api.rate"},
		{"rate too high", map[string]*tenancy.Limit{"webhook": {Rate: 1e6 + 1}}, "limits.webhook.rate"},
		{"negative burst", map[string]*tenancy.Limit{"orphan": {Burst: -1}}, "limits.orphan.burst"},
		{"burst too high", map[string]*tenancy.Limit{"orphan": {Burst: 10_000_001}}, "limits.orphan.burst"},
		{"refill too slow", map[string]*tenancy.Limit{"api": {Rate: 0.001, Burst: 1_000_000}}, "limits.api"},
		// The rate alone is valid, but with the default burst of 200 a
		// full burst takes over a year to refill.
		{"refill too slow with the default burst", map[string]*tenancy.Limit{"api": {Rate: 1e-6}}, "limits.api"},
	}
	for _, tt := range tests {
		_, err := b.ops.TenantSetLimits(ctx, &tenancy.TenantSetLimitsParams{ID: tn.ID, Limits: tt.limits, Actor: opsActor})
		var ve *tenancy.ValidationError
		if !errors.As(err, &ve) || len(ve.Fields[tt.field]) == 0 {
			t.Errorf("%s: %v, want a problem with %s", tt.name, err, tt.field)
		}
	}
	if s := b.settings(t, tn.ID); s != "{}" {
		t.Fatalf("settings after refused changes: %s", s)
	}

	// tenancy and the rate limiter agree on the refill bound: every stored
	// override is one the server accepts, and the other way round (within
	// tenancy's smaller burst bound).
	for _, tt := range []struct {
		l  tenancy.Limit
		ok bool
	}{
		{tenancy.Limit{Rate: 0.25, Burst: 7_905_600}, true},    // 366 days exactly
		{tenancy.Limit{Rate: 0.25, Burst: 7_905_601}, false},   // 4 s more
		{tenancy.Limit{Rate: 0.1, Burst: 3_162_240}, true},     // 366 days
		{tenancy.Limit{Rate: 0.1, Burst: 3_162_241}, false},    // 10 s more
		{tenancy.Limit{Rate: 3e-6, Burst: 1}, true},            // 3.9 days
		{tenancy.Limit{Rate: 1e-8, Burst: 1}, false},           // 3.2 years
		{tenancy.Limit{Rate: 1e6, Burst: 10_000_000}, true},    // the largest
		{tenancy.Limit{Rate: 0.0317, Burst: 1_000_000}, true},  // near the bound, rounded intervals
		{tenancy.Limit{Rate: 0.0316, Burst: 1_000_000}, false}, // just past it
	} {
		_, err := b.ops.TenantSetLimits(ctx, &tenancy.TenantSetLimitsParams{ID: tn.ID, Actor: opsActor,
			Limits: map[string]*tenancy.Limit{tenancy.LimitAPI: &tt.l}})
		rlErr := ratelimit.ValidateOverrides(map[string]ratelimit.Override{"api": {Rate: tt.l.Rate, Burst: tt.l.Burst}})
		if (err == nil) != tt.ok || (rlErr == nil) != tt.ok {
			t.Errorf("%+v: tenancy says %v, ratelimit says %v; want ok=%v", tt.l, err, rlErr, tt.ok)
		}
	}
}

// TestTenantLimitsAndUpdateConcurrently checks that an operator's limit
// change and a tenant admin's settings change made at the same time both
// survive: each is a read-modify-write of the settings under the row lock.
func TestTenantLimitsAndUpdateConcurrently(t *testing.T) {
	t.Parallel()
	b := newOpsBundle(t)
	ctx := testCtx(t)
	tn := b.create(t, "acme")
	const rounds = 20
	var wg sync.WaitGroup
	errs := make(chan error, 2*rounds)
	wg.Add(2)
	go func() {
		defer wg.Done()
		for i := 1; i <= rounds; i++ {
			_, err := b.ops.TenantSetLimits(ctx, &tenancy.TenantSetLimitsParams{ID: tn.ID, Actor: opsActor,
				Limits: map[string]*tenancy.Limit{tenancy.LimitAPI: {Rate: float64(i), Burst: i}}})
			errs <- err
		}
	}()
	go func() {
		defer wg.Done()
		for i := 1; i <= rounds; i++ {
			_, err := b.server.TenantUpdate(ctx, &tenancy.TenantUpdateParams{TenantID: tn.ID, Actor: testActor,
				ReadingRetentionDays: tenancy.Some(i)})
			errs <- err
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	got, err := b.ops.TenantBySlug(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if got.Settings.Limits["api"] != (tenancy.Limit{Rate: rounds, Burst: rounds}) ||
		got.Settings.ReadingRetentionDays == nil || *got.Settings.ReadingRetentionDays != rounds {
		t.Fatalf("lost update: %s", b.settings(t, tn.ID))
	}
}
