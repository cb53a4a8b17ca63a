package migrations_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// fixture is one tenant with a row in every tenant-scoped table, written as
// the superuser so the isolation tests start from data RLS did not filter.
type fixture struct {
	Tenant, User, Site, Space uuid.UUID
	Slug, SensorEUI           string
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// seedTenant inserts the fixture and returns it. Every statement names its
// table first, so coveredTables can tell which tables the fixture covers.
func seedTenant(t *testing.T, admin *pgxpool.Pool, slug string) fixture {
	t.Helper()
	f := fixture{
		Tenant: uuid.New(), User: uuid.New(), Site: uuid.New(), Space: uuid.New(),
		Slug: slug, SensorEUI: randHex(8),
	}
	orphanEUI, keyID := randHex(8), randHex(8)
	stmts := fixtureStatements()
	args := [][]any{
		{f.Tenant, "Tenant " + slug, slug},
		{f.User, slug + "@example.com", "User " + slug},
		{f.Tenant, f.User},
		{f.Tenant, f.User},
		{f.Tenant, keyID, f.User},
		{f.Tenant, f.Site},
		{f.Tenant, f.Space, f.Site, f.SensorEUI},
		{f.Tenant},
		{f.Tenant, f.Space},
		{f.Tenant, f.User},
		{f.Tenant, f.Space, f.SensorEUI},
		{f.Tenant, f.SensorEUI},
		{f.Tenant, orphanEUI},
		{f.Tenant},
		{slug, f.Tenant},
		{keyID, f.Tenant},
	}
	b := &pgx.Batch{}
	for i, s := range stmts {
		b.Queue(s.sql, args[i]...)
	}
	if err := admin.SendBatch(context.Background(), b).Close(); err != nil {
		t.Fatalf("seed tenant %s: %v", slug, err)
	}
	return f
}

type fixtureStmt struct {
	table string
	sql   string
}

func fixtureStatements() []fixtureStmt {
	return []fixtureStmt{
		{"tenants", `INSERT INTO tenants (id, name, slug) VALUES ($1, $2, $3)`},
		{"users", `INSERT INTO users (id, email, name, password_hash) VALUES ($1, $2, $3, 'not-a-hash')`},
		{"user_memberships", `INSERT INTO user_memberships (tenant_id, user_id, role) VALUES ($1, $2, 'owner')`},
		{"refresh_tokens", `INSERT INTO refresh_tokens (tenant_id, id, user_id, family_id, token_hash, expires_at)
			VALUES ($1, gen_random_uuid(), $2, gen_random_uuid(), sha256(gen_random_uuid()::text::bytea), now() + interval '1 day')`},
		{"api_keys", `INSERT INTO api_keys (tenant_id, id, key_id, name, secret_hash, scopes, created_by)
			VALUES ($1, gen_random_uuid(), $2, 'key', sha256(gen_random_uuid()::text::bytea), '{spaces:read}', $3)`},
		{"sites", `INSERT INTO sites (tenant_id, id, name, timezone) VALUES ($1, $2, 'Main', 'Europe/Berlin')`},
		{"spaces", `INSERT INTO spaces (tenant_id, id, site_id, code, sensor_eui) VALUES ($1, $2, $3, 'A1', $4)`},
		{"audit_events", `INSERT INTO audit_events (tenant_id, actor, action) VALUES ($1, 'test', 'fixture')`},
		{"reservations", `INSERT INTO reservations (tenant_id, id, space_id, during)
			VALUES ($1, gen_random_uuid(), $2, tstzrange(now() + interval '1 hour', now() + interval '2 hours'))`},
		{"idempotency_keys", `INSERT INTO idempotency_keys (tenant_id, principal_id, key, fingerprint, expires_at)
			VALUES ($1, $2, 'key-1', sha256('x'::bytea), now() + interval '1 day')`},
		{"sensor_readings", `INSERT INTO sensor_readings (tenant_id, space_id, dev_eui, f_cnt, source, msg_key, occupied, read_at, received_at)
			VALUES ($1, $2, $3, 1, 'generic', 'fcnt:1', true, now(), now())`},
		{"uplink_dedupe", `INSERT INTO uplink_dedupe (tenant_id, dev_eui, msg_key, seen_at) VALUES ($1, $2, 'fcnt:1', now())`},
		{"orphan_devices", `INSERT INTO orphan_devices (tenant_id, dev_eui, first_seen_at, last_seen_at) VALUES ($1, $2, now(), now())`},
		{"webhook_secrets", `INSERT INTO webhook_secrets (tenant_id, id, mode, sealed, key_version)
			VALUES ($1, gen_random_uuid(), 'token', '\x00'::bytea, 1)`},
		{"tenant_slugs", `INSERT INTO tenant_slugs (slug, tenant_id) VALUES ($1, $2)`},
		{"api_key_ids", `INSERT INTO api_key_ids (key_id, tenant_id) VALUES ($1, $2)`},
	}
}

// tenantTables lists the tables RLS must scope (those with tenant_id, and
// tenants), read from the catalog so a new table is covered automatically.
func tenantTables(t *testing.T, admin *pgxpool.Pool) []string {
	t.Helper()
	rows, err := admin.Query(context.Background(), `
		select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
		 where n.nspname = 'public' and c.relkind in ('r', 'p')
		   and (c.relname = 'tenants' or exists (
		        select 1 from pg_attribute a where a.attrelid = c.oid and a.attname = 'tenant_id' and not a.attisdropped))
		 order by 1`)
	if err != nil {
		t.Fatal(err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	covered := map[string]bool{}
	for _, s := range fixtureStatements() {
		covered[s.table] = true
	}
	for _, n := range names {
		if !covered[n] {
			t.Errorf("table %s has no fixture row: add one to fixtureStatements so the isolation tests cover it", n)
		}
	}
	return names
}

// tenantColumn is the column that names a table's tenant.
func tenantColumn(table string) string {
	if table == "tenants" {
		return "id"
	}
	return "tenant_id"
}

// insertCopySQL builds an INSERT that re-inserts a row given as JSON, with
// every column a client may write (identity columns excluded).
func insertCopySQL(t *testing.T, admin *pgxpool.Pool, table string) string {
	t.Helper()
	var cols string
	err := admin.QueryRow(context.Background(), `
		select string_agg(quote_ident(a.attname), ', ' order by a.attnum)
		  from pg_attribute a
		 where a.attrelid = $1::regclass and a.attnum > 0 and not a.attisdropped
		   and a.attidentity = '' and a.attgenerated = ''`, "public."+table).Scan(&cols)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf(`INSERT INTO %s (%s) SELECT %s FROM json_populate_record(NULL::%s, $1)`,
		table, cols, cols, table)
}

// rowJSON returns one row of table belonging to tenant, as JSON.
func rowJSON(t *testing.T, admin *pgxpool.Pool, table string, tenant uuid.UUID) string {
	t.Helper()
	var js string
	err := admin.QueryRow(context.Background(),
		fmt.Sprintf(`SELECT row_to_json(x)::text FROM %s x WHERE %s = $1 LIMIT 1`, table, tenantColumn(table)),
		tenant).Scan(&js)
	if err != nil {
		t.Fatalf("row of %s: %v", table, err)
	}
	return js
}
