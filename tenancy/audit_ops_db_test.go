package tenancy_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parkhq/park/tenancy"
)

// auditLine renders an entry for comparison: "<slug or ->/<action>/<actor>".
func auditLine(e tenancy.OpsAuditEntry) string {
	slug := "-"
	if e.TenantSlug != nil {
		slug = *e.TenantSlug
	}
	return slug + "/" + e.Action + "/" + e.Actor
}

func auditLines(list []tenancy.OpsAuditEntry) string {
	out := make([]string, len(list))
	for i, e := range list {
		out[i] = auditLine(e)
	}
	return strings.Join(out, " ")
}

func TestAuditListAll(t *testing.T) {
	t.Parallel()
	b := newOpsBundle(t)
	ctx := testCtx(t)
	acme, other := b.create(t, "acme"), b.create(t, "other")

	// Events at known times, one minute apart, oldest first: two of acme,
	// one of other, one platform event, and one more of acme.
	base := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	insert := func(tenant *uuid.UUID, action, actor string, at time.Time) {
		t.Helper()
		if _, err := b.admin.Exec(ctx,
			`insert into audit_events (tenant_id, actor, action, target, details, at) values ($1, $2, $3, 'x', '{"n": 1}', $4)`,
			tenant, actor, action, at); err != nil {
			t.Fatal(err)
		}
	}
	insert(&acme.ID, "site.create", "operator:a", base.Add(1*time.Minute))
	insert(&acme.ID, "site.update", "user:b", base.Add(2*time.Minute))
	insert(&other.ID, "site.create", "operator:c", base.Add(3*time.Minute))
	// A platform event, written the way an operator verb writes one: in
	// an OpsTx, where no tenant is set. AppendAudit, which writes the
	// transaction's tenant, refuses there: audit_events.tenant_id is NOT
	// NULL.
	if err := b.ops.OpsTx(ctx, func(tx pgx.Tx) error {
		return tenancy.AppendAudit(ctx, tx, tenancy.AuditEvent{Actor: "operator:d", Action: "user.create", Target: "u"})
	}); err == nil {
		t.Fatal("AppendAudit without a tenant wrote an event")
	}
	if err := b.ops.OpsTx(ctx, func(tx pgx.Tx) error {
		return tenancy.AppendPlatformEvent(ctx, tx, tenancy.AuditEvent{Actor: "operator:d", Action: "user.create", Target: "u"})
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.admin.Exec(ctx, `update platform_events set at = $1`, base.Add(4*time.Minute)); err != nil {
		t.Fatal(err)
	}
	insert(&acme.ID, "site.delete", "operator:e", base.Add(5*time.Minute))
	// b.create wrote tenant.create events just now; move them before
	// base, so they are the oldest.
	if _, err := b.admin.Exec(ctx, `update audit_events set at = $1 where action = 'tenant.create'`, base); err != nil {
		t.Fatal(err)
	}

	list := func(p tenancy.AuditListAllParams) string {
		t.Helper()
		got, err := b.ops.AuditListAll(ctx, p)
		if err != nil {
			t.Fatalf("AuditListAll(%+v): %v", p, err)
		}
		return auditLines(got)
	}

	// Every tenant and the platform, newest first; tenant.create of both
	// share a time and come by id, the later (other) first.
	want := "acme/site.delete/operator:e -/user.create/operator:d other/site.create/operator:c " +
		"acme/site.update/user:b acme/site.create/operator:a other/tenant.create/operator:test acme/tenant.create/operator:test"
	if got := list(tenancy.AuditListAllParams{}); got != want {
		t.Errorf("all:\n got %s\nwant %s", got, want)
	}

	// One tenant: its events only, never another tenant's nor the
	// platform's.
	if got, want := list(tenancy.AuditListAllParams{TenantID: &acme.ID}),
		"acme/site.delete/operator:e acme/site.update/user:b acme/site.create/operator:a acme/tenant.create/operator:test"; got != want {
		t.Errorf("acme:\n got %s\nwant %s", got, want)
	}
	if got, want := list(tenancy.AuditListAllParams{TenantID: &other.ID}),
		"other/site.create/operator:c other/tenant.create/operator:test"; got != want {
		t.Errorf("other:\n got %s\nwant %s", got, want)
	}
	nobody := uuid.New()
	if got := list(tenancy.AuditListAllParams{TenantID: &nobody}); got != "" {
		t.Errorf("unknown tenant: %s", got)
	}

	// Filters: action, since (inclusive), limit, and all of them together.
	if got, want := list(tenancy.AuditListAllParams{Action: "site.create"}),
		"other/site.create/operator:c acme/site.create/operator:a"; got != want {
		t.Errorf("action: got %s, want %s", got, want)
	}
	since := base.Add(3 * time.Minute)
	if got, want := list(tenancy.AuditListAllParams{Since: &since}),
		"acme/site.delete/operator:e -/user.create/operator:d other/site.create/operator:c"; got != want {
		t.Errorf("since: got %s, want %s", got, want)
	}
	if got, want := list(tenancy.AuditListAllParams{Limit: 2}),
		"acme/site.delete/operator:e -/user.create/operator:d"; got != want {
		t.Errorf("limit: got %s, want %s", got, want)
	}
	since = base.Add(time.Minute)
	if got, want := list(tenancy.AuditListAllParams{TenantID: &acme.ID, Action: "site.create", Since: &since, Limit: 5}),
		"acme/site.create/operator:a"; got != want {
		t.Errorf("combined: got %s, want %s", got, want)
	}
	if got := list(tenancy.AuditListAllParams{TenantID: &other.ID, Action: "site.update"}); got != "" {
		t.Errorf("other's site.update: %s", got)
	}

	// The fields: ids, details as JSON, tenant id and slug (nil for the
	// platform event).
	all, err := b.ops.AuditListAll(ctx, tenancy.AuditListAllParams{Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	if e := all[0]; e.TenantID == nil || *e.TenantID != acme.ID || string(e.Details) != `{"n": 1}` || e.Target != "x" ||
		!e.At.Equal(base.Add(5*time.Minute)) || e.ID == 0 {
		t.Errorf("acme event: %+v", e)
	}
	if e := all[1]; e.TenantID != nil || e.TenantSlug != nil || string(e.Details) != "{}" {
		t.Errorf("platform event: %+v", e)
	}
	// Platform events draw their ids from the audit log's sequence: an id
	// names one event across both.
	all, err = b.ops.AuditListAll(ctx, tenancy.AuditListAllParams{})
	if err != nil {
		t.Fatal(err)
	}
	ids := map[int64]bool{}
	for _, e := range all {
		if ids[e.ID] {
			t.Errorf("event id %d listed twice", e.ID)
		}
		ids[e.ID] = true
	}
	// The statement works where parameters have no described types (pgx's
	// exec mode, what PgBouncer in transaction mode needs), nil tenant and
	// all filters alike.
	cfg := b.opsPool.Config()
	cfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeExec
	execPool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer execPool.Close()
	execOps := tenancy.NewOps(execPool)
	for _, p := range []tenancy.AuditListAllParams{{}, {TenantID: &acme.ID, Action: "site.create", Since: &since, Limit: 5}} {
		got, err := execOps.AuditListAll(ctx, p)
		if err != nil || auditLines(got) != list(p) {
			t.Errorf("exec mode, %+v: %s, %v", p, auditLines(got), err)
		}
	}
	// An empty answer is an empty list, not nil (-o json prints []).
	empty, err := b.ops.AuditListAll(ctx, tenancy.AuditListAllParams{Action: "nothing.here"})
	if err != nil || empty == nil || len(empty) != 0 {
		t.Errorf("empty: %#v, %v", empty, err)
	}
}

func TestAuditListAllValidation(t *testing.T) {
	t.Parallel()
	b := newOpsBundle(t)
	ctx := testCtx(t)
	future := time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		p     tenancy.AuditListAllParams
		field string
	}{
		{tenancy.AuditListAllParams{Limit: -1}, "limit"},
		{tenancy.AuditListAllParams{Limit: tenancy.MaxAuditListAll + 1}, "limit"},
		{tenancy.AuditListAllParams{Action: strings.Repeat("a", 101)}, "action"},
		{tenancy.AuditListAllParams{Since: &future}, "since"},
		{tenancy.AuditListAllParams{TenantID: &uuid.Nil}, "tenant_id"},
	} {
		_, err := b.ops.AuditListAll(ctx, tt.p)
		var v *tenancy.ValidationError
		if !errors.As(err, &v) || !strings.Contains(err.Error(), tt.field) {
			t.Errorf("%+v: %v, want a validation error on %s", tt.p, err, tt.field)
		}
	}
	if _, err := b.ops.AuditListAll(ctx, tenancy.AuditListAllParams{Limit: tenancy.MaxAuditListAll}); err != nil {
		t.Errorf("the maximum limit: %v", err)
	}
	// The server's login cannot act as park_ops: refused, not an empty
	// list.
	if got, err := b.serverOps.AuditListAll(ctx, tenancy.AuditListAllParams{}); err == nil {
		t.Errorf("park_server read the audit log across tenants: %d events", len(got))
	}
}

// TestAuditListAllManyTenants checks the tenant filter against many
// tenants' interleaved events: a tenant's read returns exactly its own.
func TestAuditListAllManyTenants(t *testing.T) {
	t.Parallel()
	b := newOpsBundle(t)
	ctx := testCtx(t)
	var tenants []*tenancy.Tenant
	for i := range 4 {
		tenants = append(tenants, b.create(t, fmt.Sprintf("t%d", i)))
	}
	for round := range 5 {
		for _, tn := range tenants {
			if _, err := b.admin.Exec(ctx,
				`insert into audit_events (tenant_id, actor, action, target) values ($1, 'operator:x', 'probe', $2)`,
				tn.ID, fmt.Sprint(round)); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, tn := range tenants {
		got, err := b.ops.AuditListAll(ctx, tenancy.AuditListAllParams{TenantID: &tn.ID, Limit: tenancy.MaxAuditListAll})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 6 { // tenant.create and five probes
			t.Errorf("tenant %s: %d events, want 6", tn.Slug, len(got))
		}
		for _, e := range got {
			if e.TenantID == nil || *e.TenantID != tn.ID || *e.TenantSlug != tn.Slug {
				t.Errorf("tenant %s got an event of %v", tn.Slug, e.TenantSlug)
			}
		}
	}
}
