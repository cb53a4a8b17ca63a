package tenancy_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parkhq/park/internal/bootstrap"
	"github.com/parkhq/park/internal/pgbouncertest"
	"github.com/parkhq/park/internal/pgtest"
	"github.com/parkhq/park/tenancy"
)

// seedEverything gives tenant a row in every tenant table, inserted as the
// superuser, plus a member user, and returns the user and the site. Every
// statement names its table first, so tenantTableRows can tell which
// tables it covers.
func seedEverything(t *testing.T, admin *pgxpool.Pool, tenant uuid.UUID) (user, site uuid.UUID) {
	t.Helper()
	user, site, space := uuid.New(), uuid.New(), uuid.New()
	eui, orphan, keyID := randEUI(), randEUI(), randEUI()
	b := &pgx.Batch{}
	for _, s := range seedStatements() {
		args := []any{tenant}
		switch s.table {
		case "user_memberships", "refresh_tokens", "idempotency_keys":
			args = append(args, user)
		case "api_keys":
			args = append(args, keyID, user)
		case "api_key_ids":
			args = append(args, keyID)
		case "sites":
			args = append(args, site)
		case "spaces":
			args = append(args, space, site, eui)
		case "reservations":
			args = append(args, space)
		case "sensor_readings":
			args = append(args, space, eui)
		case "uplink_dedupe":
			args = append(args, eui)
		case "orphan_devices":
			args = append(args, orphan)
		}
		if s.table == "user_memberships" {
			b.Queue(`insert into users (id, email, name, password_hash) values ($1, $2, 'Member', 'not-a-hash')`,
				user, user.String()+"@example.com")
		}
		b.Queue(s.sql, args...)
	}
	if err := admin.SendBatch(context.Background(), b).Close(); err != nil {
		t.Fatalf("seed tenant %s: %v", tenant, err)
	}
	return user, site
}

func randEUI() string { return strings.ReplaceAll(uuid.NewString(), "-", "")[:16] }

type seedStatement struct{ table, sql string }

func seedStatements() []seedStatement {
	return []seedStatement{
		{"user_memberships", `insert into user_memberships (tenant_id, user_id, role) values ($1, $2, 'owner')`},
		{"refresh_tokens", `insert into refresh_tokens (tenant_id, id, user_id, family_id, token_hash, expires_at)
			values ($1, gen_random_uuid(), $2, gen_random_uuid(), sha256(gen_random_uuid()::text::bytea), now() + interval '1 day')`},
		{"api_keys", `insert into api_keys (tenant_id, id, key_id, name, secret_hash, scopes, created_by)
			values ($1, gen_random_uuid(), $2, 'key', sha256(gen_random_uuid()::text::bytea), '{spaces:read}', $3)`},
		{"api_key_ids", `insert into api_key_ids (tenant_id, key_id) values ($1, $2)`},
		{"sites", `insert into sites (tenant_id, id, name, timezone) values ($1, $2, 'Main', 'Europe/Berlin')`},
		{"spaces", `insert into spaces (tenant_id, id, site_id, code, sensor_eui) values ($1, $2, $3, 'A1', $4)`},
		{"audit_events", `insert into audit_events (tenant_id, actor, action) values ($1, 'test', 'fixture')`},
		{"reservations", `insert into reservations (tenant_id, id, space_id, during)
			values ($1, gen_random_uuid(), $2, tstzrange(now() + interval '1 hour', now() + interval '2 hours'))`},
		{"idempotency_keys", `insert into idempotency_keys (tenant_id, principal_id, key, fingerprint, expires_at)
			values ($1, $2, 'key-1', sha256('x'::bytea), now() + interval '1 day')`},
		{"sensor_readings", `insert into sensor_readings (tenant_id, space_id, dev_eui, f_cnt, source, msg_key, occupied, read_at, received_at)
			values ($1, $2, $3, 1, 'generic', 'fcnt:1', true, now(), now())`},
		{"uplink_dedupe", `insert into uplink_dedupe (tenant_id, dev_eui, msg_key, seen_at) values ($1, $2, 'fcnt:1', now())`},
		{"orphan_devices", `insert into orphan_devices (tenant_id, dev_eui, first_seen_at, last_seen_at) values ($1, $2, now(), now())`},
		{"webhook_secrets", `insert into webhook_secrets (tenant_id, id, mode, sealed, key_version)
			values ($1, gen_random_uuid(), 'token', '\x00'::bytea, 1)`},
	}
}

// tenantTableRows counts tenant's rows in every table of public with a
// tenant_id column, and in tenants, read with the superuser. It fails the
// test for a table seedStatements does not cover, so a new tenant table
// joins this test.
func tenantTableRows(t *testing.T, admin *pgxpool.Pool, tenant uuid.UUID) map[string]int64 {
	t.Helper()
	ctx := context.Background()
	rows, err := admin.Query(ctx, `
		select c.relname::text from pg_class c join pg_namespace n on n.oid = c.relnamespace
		 where n.nspname = 'public' and c.relkind in ('r', 'p') and not c.relispartition
		   and exists (select 1 from pg_attribute a where a.attrelid = c.oid and a.attname = 'tenant_id' and not a.attisdropped)
		 order by 1`)
	if err != nil {
		t.Fatal(err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	// TenantCreate (opsBundle.create) writes the tenant's slug row.
	covered := map[string]bool{"tenant_slugs": true}
	for _, s := range seedStatements() {
		covered[s.table] = true
	}
	out := map[string]int64{}
	for _, tbl := range tables {
		if !covered[tbl] {
			t.Errorf("tenant table %s has no row in seedStatements: add one so TenantDelete is tested on it", tbl)
		}
		var n int64
		if err := admin.QueryRow(ctx, fmt.Sprintf(`select count(*) from %s where tenant_id = $1`,
			pgx.Identifier{"public", tbl}.Sanitize()), tenant).Scan(&n); err != nil {
			t.Fatal(err)
		}
		out[tbl] = n
	}
	var n int64
	if err := admin.QueryRow(ctx, `select count(*) from tenants where id = $1`, tenant).Scan(&n); err != nil {
		t.Fatal(err)
	}
	out["tenants"] = n
	return out
}

func TestTenantDelete(t *testing.T) {
	t.Parallel()
	b := newOpsBundle(t)
	ctx := testCtx(t)
	gone, kept := b.create(t, "gone"), b.create(t, "kept")
	goneUser, _ := seedEverything(t, b.admin, gone.ID)
	seedEverything(t, b.admin, kept.ID)
	// A second space and reading, so the counts are not all one.
	if _, err := b.admin.Exec(ctx, `
		with s as (insert into spaces (tenant_id, id, site_id, code)
		           select tenant_id, gen_random_uuid(), site_id, 'B2' from spaces where tenant_id = $1 returning tenant_id, id)
		insert into sensor_readings (tenant_id, space_id, dev_eui, f_cnt, source, msg_key, read_at, received_at)
		select tenant_id, id, '00000000000000b2', 2, 'generic', 'fcnt:2', now(), now() from s`, gone.ID); err != nil {
		t.Fatal(err)
	}
	before := tenantTableRows(t, b.admin, gone.ID)
	keptBefore := tenantTableRows(t, b.admin, kept.ID)

	// An active tenant is refused, and nothing goes.
	_, err := b.ops.TenantDelete(ctx, &tenancy.TenantDeleteParams{Slug: "gone", Actor: opsActor})
	if !errors.Is(err, tenancy.ErrTenantActive) || !errors.Is(err, tenancy.ErrConflict) {
		t.Fatalf("delete of an active tenant = %v, want ErrTenantActive", err)
	}
	if got := tenantTableRows(t, b.admin, gone.ID); !maps.Equal(got, before) {
		t.Fatalf("refused delete changed rows: %v, was %v", got, before)
	}
	// The server's login cannot delete a tenant, suspended or not.
	if _, err := b.ops.TenantSetStatus(ctx, &tenancy.TenantSetStatusParams{ID: gone.ID, Status: tenancy.StatusSuspended, Actor: opsActor}); err != nil {
		t.Fatal(err)
	}
	before = tenantTableRows(t, b.admin, gone.ID) // the suspension's audit event
	if _, err := b.serverOps.TenantDelete(ctx, &tenancy.TenantDeleteParams{ID: gone.ID, Actor: opsActor}); err == nil || errors.Is(err, tenancy.ErrNotFound) {
		t.Fatalf("park_server deleted a tenant (or could not see it): %v", err)
	}
	// Unknown tenants and a missing actor.
	if _, err := b.ops.TenantDelete(ctx, &tenancy.TenantDeleteParams{Slug: "nosuch", Actor: opsActor}); !errors.Is(err, tenancy.ErrNotFound) {
		t.Fatalf("delete of an unknown slug = %v, want ErrNotFound", err)
	}
	if _, err := b.ops.TenantDelete(ctx, &tenancy.TenantDeleteParams{ID: uuid.New(), Actor: opsActor}); !errors.Is(err, tenancy.ErrNotFound) {
		t.Fatalf("delete of an unknown id = %v, want ErrNotFound", err)
	}
	if _, err := b.ops.TenantDelete(ctx, &tenancy.TenantDeleteParams{ID: gone.ID}); err == nil {
		t.Fatal("delete without an actor accepted")
	}

	res, err := b.ops.TenantDelete(ctx, &tenancy.TenantDeleteParams{Slug: "gone", Actor: opsActor})
	if err != nil {
		t.Fatal(err)
	}
	if res.ID != gone.ID || res.Slug != "gone" {
		t.Errorf("deleted %s %q, want %s gone", res.ID, res.Slug, gone.ID)
	}
	if !maps.Equal(res.Deleted, before) {
		t.Errorf("reported counts %v, want %v", res.Deleted, before)
	}
	if res.Deleted["spaces"] != 2 || res.Deleted["sensor_readings"] != 2 || res.Deleted["tenants"] != 1 {
		t.Errorf("counts %v: want 2 spaces, 2 readings, 1 tenant", res.Deleted)
	}
	for tbl, n := range tenantTableRows(t, b.admin, gone.ID) {
		if n != 0 {
			t.Errorf("%d rows of the deleted tenant left in %s", n, tbl)
		}
	}
	if got := tenantTableRows(t, b.admin, kept.ID); !maps.Equal(got, keptBefore) {
		t.Errorf("the other tenant's rows changed: %v, were %v", got, keptBefore)
	}
	// Users are global accounts: the member stays, without the membership.
	var users int
	if err := b.admin.QueryRow(ctx, `select count(*) from users where id = $1`, goneUser).Scan(&users); err != nil || users != 1 {
		t.Errorf("member account: %d rows, %v; want it kept", users, err)
	}

	// The platform event survives the tenant and says what went.
	var actor, target, details string
	var tenantID *uuid.UUID
	err = b.admin.QueryRow(ctx, `select actor, target, details::text from platform_events where action = 'tenant.delete'`).
		Scan(&actor, &target, &details)
	if err != nil {
		t.Fatalf("platform event: %v", err)
	}
	if actor != opsActor || target != gone.ID.String() {
		t.Errorf("event actor %q target %q", actor, target)
	}
	// … and not in any tenant's log.
	if err := b.admin.QueryRow(ctx, `select tenant_id from audit_events where action = 'tenant.delete'`).Scan(&tenantID); !errors.Is(err, pgx.ErrNoRows) {
		t.Errorf("tenant.delete in audit_events: tenant %v, %v", tenantID, err)
	}
	var d struct {
		ID, Slug, Name string
		Deleted        map[string]int64
	}
	if err := json.Unmarshal([]byte(details), &d); err != nil {
		t.Fatal(err)
	}
	if d.ID != gone.ID.String() || d.Slug != "gone" || d.Name != gone.Name || !maps.Equal(d.Deleted, res.Deleted) {
		t.Errorf("event details %s, want id, slug, name and counts %v", details, res.Deleted)
	}

	// The same tenant again: gone.
	if _, err := b.ops.TenantDelete(ctx, &tenancy.TenantDeleteParams{ID: gone.ID, Actor: opsActor}); !errors.Is(err, tenancy.ErrNotFound) {
		t.Fatalf("second delete = %v, want ErrNotFound", err)
	}
}

// TestTenantDeleteOpsDeletesNothingElse: the grant of migration 00012 lets
// park_ops delete a tenant row, and no row of any other table but the
// look-up tables (00016), which no foreign key cascades to.
func TestTenantDeleteOpsDeletesNothingElse(t *testing.T) {
	t.Parallel()
	b := newOpsBundle(t)
	ctx := testCtx(t)
	tn := b.create(t, "stays")
	seedEverything(t, b.admin, tn.ID)
	for _, s := range seedStatements() {
		err := b.ops.OpsTx(ctx, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, fmt.Sprintf(`delete from %s where tenant_id = $1::uuid`, pgx.Identifier{s.table}.Sanitize()), tn.ID)
			return err
		})
		// idempotency_keys: the expired-key pruning of parkctl
		// reservations prune-keys (migration 00005).
		if s.table == "idempotency_keys" || s.table == "api_key_ids" {
			continue
		}
		if err == nil || errors.Is(err, tenancy.ErrNotFound) {
			t.Errorf("park_ops deleted from %s: %v", s.table, err)
		}
	}
}

// TestTenantDeleteRace: a space inserted into the tenant while the
// deletion runs — after the deletion counted, before it reached the site —
// is neither left behind nor deleted uncounted: the cascade that reaches
// it fails the REPEATABLE READ transaction, and the retry counts it.
func TestTenantDeleteRace(t *testing.T) {
	t.Parallel()
	b := newOpsBundle(t)
	ctx := testCtx(t)
	tn := b.create(t, "racy")
	_, site := seedEverything(t, b.admin, tn.ID)
	if _, err := b.ops.TenantSetStatus(ctx, &tenancy.TenantSetStatusParams{ID: tn.ID, Status: tenancy.StatusSuspended, Actor: opsActor}); err != nil {
		t.Fatal(err)
	}

	// The racing writer: a server transaction that has inserted a space
	// (holding its site's row FOR KEY SHARE) and not yet committed.
	writer, err := b.admin.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer writer.Rollback(context.Background())
	if _, err := writer.Exec(ctx, `select set_config('role', 'park_app', true), set_config('app.tenant_id', $1, true)`, tn.ID.String()); err != nil {
		t.Fatal(err)
	}
	if _, err := writer.Exec(ctx, `insert into spaces (tenant_id, id, site_id, code) values ($1, gen_random_uuid(), $2, 'LATE')`, tn.ID, site); err != nil {
		t.Fatal(err)
	}

	type result struct {
		res *tenancy.TenantDeletion
		err error
	}
	done := make(chan result, 1)
	go func() {
		res, err := b.ops.TenantDelete(ctx, &tenancy.TenantDeleteParams{ID: tn.ID, Actor: opsActor})
		done <- result{res, err}
	}()
	// Wait until the deletion waits for the writer's lock on the site.
	deadline := time.Now().Add(30 * time.Second)
	for {
		var waiting bool
		if err := b.admin.QueryRow(ctx, `select exists (select 1 from pg_stat_activity
			where datname = current_database() and wait_event_type = 'Lock' and query like 'delete from tenants%')`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting {
			break
		}
		select {
		case r := <-done:
			t.Fatalf("deletion finished without waiting for the writer: %+v", r)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the deletion never waited for the writer")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := writer.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil {
		t.Fatalf("delete: %v", r.err)
	}
	if got := r.res.Deleted["spaces"]; got != 2 {
		t.Errorf("deleted %d spaces, want 2 (the seeded one and the late one)", got)
	}
	var left int
	if err := b.admin.QueryRow(ctx, `select count(*) from spaces where tenant_id = $1`, tn.ID).Scan(&left); err != nil || left != 0 {
		t.Errorf("%d spaces left (%v)", left, err)
	}
}

// TestPgBouncerTenantDelete: the deletion works through PgBouncer in exec
// mode (parameters without described types, the counts as jsonb text),
// as parkctl's other verbs do.
func TestPgBouncerTenantDelete(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	bouncer := pgbouncertest.New(t, db)
	admin := db.AdminPool(t)
	ctx := testCtx(t)
	ops := tenancy.NewOps(pgbouncertest.Pool(t, bouncer.URL(pgbouncertest.Single, bootstrap.RoleAdmin), 2))
	tn, err := ops.TenantCreate(ctx, &tenancy.TenantCreateParams{Name: "Acme", Slug: "acme", Actor: opsActor})
	if err != nil {
		t.Fatal(err)
	}
	seedEverything(t, admin, tn.ID)
	if _, err := ops.TenantSetStatus(ctx, &tenancy.TenantSetStatusParams{Slug: "acme", Status: tenancy.StatusSuspended, Actor: opsActor}); err != nil {
		t.Fatal(err)
	}
	res, err := ops.TenantDelete(ctx, &tenancy.TenantDeleteParams{Slug: "acme", Actor: opsActor})
	if err != nil {
		t.Fatalf("delete through PgBouncer: %v", err)
	}
	if res.Deleted["spaces"] != 1 || res.Deleted["audit_events"] != 3 || res.Deleted["tenants"] != 1 {
		t.Errorf("counts %v: want 1 space, 3 audit events (create, fixture, suspend), 1 tenant", res.Deleted)
	}
	var spaces string
	if err := admin.QueryRow(ctx, `select details->'deleted'->>'spaces' from platform_events where action = 'tenant.delete'`).Scan(&spaces); err != nil || spaces != "1" {
		t.Errorf("platform event: spaces %q, %v", spaces, err)
	}
}
