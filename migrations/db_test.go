package migrations_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parkhq/park/internal/bootstrap"
	"github.com/parkhq/park/internal/pgcluster"
	"github.com/parkhq/park/internal/pgtest"
	"github.com/parkhq/park/migrations"
	"github.com/parkhq/park/tenancy"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// pgCode is the SQLSTATE of err, whether it comes straight from pgx or
// translated by the tenancy store.
func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	var de *tenancy.DBError
	if errors.As(err, &de) {
		return de.Code
	}
	return ""
}

// asApp runs fn as park_app with no tenant set: the role a server
// transaction has before (or without) the tenant prologue.
func asApp(t *testing.T, pool *pgxpool.Pool, fn func(tx pgx.Tx) error) error {
	t.Helper()
	return pgx.BeginFunc(context.Background(), pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(context.Background(), "SET LOCAL ROLE park_app"); err != nil {
			return err
		}
		return fn(tx)
	})
}

func TestCatalogClean(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	problems, err := migrations.CheckCatalog(context.Background(), db.AdminPool(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("catalog: %s", p)
	}
	rep, err := migrations.Verify(context.Background(), db.AdminURL)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		t.Errorf("verify on a fresh database: %v", rep.Problems)
	}
}

// TestCatalogFindsBreaks breaks each rule once and expects CheckCatalog to
// name it, so the clean result above means something.
func TestCatalogFindsBreaks(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, sql, want string
	}{
		{"no force", `ALTER TABLE sites NO FORCE ROW LEVEL SECURITY`, "table public.sites: row-level security is not forced"},
		{"no rls", `ALTER TABLE reservations DISABLE ROW LEVEL SECURITY`, "table public.reservations: row-level security is not enabled"},
		{"tenants no force", `ALTER TABLE tenants NO FORCE ROW LEVEL SECURITY`, "table public.tenants: row-level security is not forced"},
		{"unlisted global table", `CREATE TABLE public.stray (x int); ALTER TABLE stray OWNER TO park_owner`, "table public.stray: has no tenant_id and is not on the list of global tables"},
		{"new tenant table without rls", `CREATE TABLE public.gadgets (tenant_id uuid, id uuid, PRIMARY KEY (tenant_id, id)); ALTER TABLE gadgets OWNER TO park_owner`, "table public.gadgets: row-level security is not enabled"},
		{"pk not led by tenant", `CREATE TABLE public.widgets (tenant_id uuid, id uuid PRIMARY KEY); ALTER TABLE widgets OWNER TO park_owner; ALTER TABLE widgets ENABLE ROW LEVEL SECURITY; ALTER TABLE widgets FORCE ROW LEVEL SECURITY; CREATE POLICY p ON widgets USING (true)`, "table public.widgets: primary key does not lead with tenant_id"},
		{"view not invoker", `CREATE VIEW public.leaky AS SELECT id FROM tenants; ALTER VIEW leaky OWNER TO park_owner`, "view public.leaky: is not security_invoker"},
		{"immutable tenant fn", `ALTER FUNCTION app_tenant_id() IMMUTABLE`, `function public.app_tenant_id(): must be STABLE (is "IMMUTABLE")`},
		{"definer public exec", `GRANT EXECUTE ON FUNCTION auth.tenant_by_slug(text) TO PUBLIC`, "function auth.tenant_by_slug(text): SECURITY DEFINER executable by PUBLIC"},
		{"definer search path", `ALTER FUNCTION auth.api_key_lookup(text) RESET search_path`, "function auth.api_key_lookup(text): SECURITY DEFINER without search_path = pg_catalog, pg_temp"},
		{"definer owner", `ALTER FUNCTION auth.login_lookup(text) OWNER TO park_owner`, "function auth.login_lookup(text): SECURITY DEFINER owned by park_owner, not park_auth or park_maint"},
		{"maint definer with a parameter", `CREATE FUNCTION maint.count_for(p uuid) RETURNS bigint LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS 'SELECT 1::bigint'; ALTER FUNCTION maint.count_for(uuid) OWNER TO park_maint; REVOKE EXECUTE ON FUNCTION maint.count_for(uuid) FROM PUBLIC; GRANT EXECUTE ON FUNCTION maint.count_for(uuid) TO park_app`, "function maint.count_for(uuid): park_maint's SECURITY DEFINER functions take no parameters"},
		{"maint count public exec", `GRANT EXECUTE ON FUNCTION maint.orphan_device_counts() TO PUBLIC`, "function maint.orphan_device_counts(): SECURITY DEFINER executable by PUBLIC"},
		{"app member of maint", `GRANT park_maint TO park_app`, "role park_app: is a member of park_maint"},
		// park_maint owns exactly its count functions and reads exactly
		// their columns (00010, 00015).
		{"integrity counts public exec", `GRANT EXECUTE ON FUNCTION maint.reservation_integrity_counts() TO PUBLIC`, "function maint.reservation_integrity_counts(): SECURITY DEFINER executable by PUBLIC"},
		{"integrity counts owner", `ALTER FUNCTION maint.reservation_integrity_counts() OWNER TO park_owner`, "function maint.reservation_integrity_counts(): SECURITY DEFINER owned by park_owner, not park_auth or park_maint"},
		{"unknown maint function", `GRANT CREATE ON SCHEMA maint TO park_maint; CREATE FUNCTION maint.everything() RETURNS bigint LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS 'SELECT 1::bigint'; ALTER FUNCTION maint.everything() OWNER TO park_maint; REVOKE EXECUTE ON FUNCTION maint.everything() FROM PUBLIC; GRANT EXECUTE ON FUNCTION maint.everything() TO park_app`, "function maint.everything(): owned by park_maint but not one of its functions (migrations.MaintFunctions)"},
		{"maint deletes reservations", `GRANT DELETE ON reservations TO park_maint`, "table public.reservations: park_maint holds DELETE, beyond what it may hold"},
		{"maint reads a reservation column more", `GRANT SELECT (cancelled_at) ON reservations TO park_maint`, "table public.reservations: park_maint holds SELECT (cancelled_at), beyond what it may hold"},
		{"maint reads users", `GRANT SELECT (email) ON users TO park_maint`, "table public.users: park_maint holds SELECT (email), beyond what it may hold"},
		{"maint lacks conflicts view", `REVOKE SELECT ON reservation_conflicts FROM park_maint`, "table public.reservation_conflicts: park_maint lacks SELECT"},
		{"exclude dropped", `ALTER TABLE reservations DROP CONSTRAINT reservations_no_overlap`, "constraint public.reservations.reservations_no_overlap: missing"},
		{"app owns", `CREATE TABLE public.mine (tenant_id uuid); ALTER TABLE mine OWNER TO park_app`, "role park_app: owns relation mine"},
		// The password writer's grant, exactly (00007).
		{"auth updates email", `GRANT UPDATE (email) ON users TO park_auth`, "table public.users: park_auth holds UPDATE (email), beyond what it may hold"},
		{"auth updates updated_at", `GRANT UPDATE (updated_at) ON users TO park_auth`, "table public.users: park_auth holds UPDATE (updated_at), beyond what it may hold"},
		{"auth lacks version grant", `REVOKE UPDATE (token_version) ON users FROM park_auth`, "table public.users: park_auth lacks UPDATE (token_version)"},
		{"member lookup public exec", `GRANT EXECUTE ON FUNCTION auth.member_lookup(text) TO PUBLIC`, "function auth.member_lookup(text): SECURITY DEFINER executable by PUBLIC"},
		{"password change owner", `ALTER FUNCTION auth.change_password(uuid, text, text) OWNER TO park_owner`, "function auth.change_password(uuid,text,text): SECURITY DEFINER owned by park_owner, not park_auth or park_maint"},
		{"auth updates users", `GRANT UPDATE ON users TO park_auth`, "table public.users: park_auth holds UPDATE, beyond what it may hold"},
		{"auth deletes users", `GRANT DELETE ON users TO park_auth`, "table public.users: park_auth holds DELETE, beyond what it may hold"},
		{"auth lacks writer grant", `REVOKE UPDATE (password_hash) ON users FROM park_auth`, "table public.users: park_auth lacks UPDATE (password_hash)"},
		{"app updates users", `GRANT UPDATE ON users TO park_app`, "table public.users: park_app holds UPDATE, beyond what it may hold"},
		{"app updates hash", `GRANT UPDATE (password_hash) ON users TO park_app`, "table public.users: park_app holds UPDATE (password_hash), beyond what it may hold"},
		{"app reads hash", `GRANT SELECT (password_hash) ON users TO park_app`, "table public.users: park_app holds SELECT (password_hash), beyond what it may hold"},
		{"public updates users", `GRANT UPDATE (name) ON users TO PUBLIC`, "table public.users: PUBLIC holds UPDATE (name), beyond what it may hold"},
		{"writer public exec", `GRANT EXECUTE ON FUNCTION auth.swap_password_hash(uuid, text, text) TO PUBLIC`, "function auth.swap_password_hash(uuid,text,text): SECURITY DEFINER executable by PUBLIC"},
		{"writer owner", `ALTER FUNCTION auth.swap_password_hash(uuid, text, text) OWNER TO park_owner`, "function auth.swap_password_hash(uuid,text,text): SECURITY DEFINER owned by park_owner, not park_auth or park_maint"},
		// park_ops's writes, exactly (OpsWriteGrants; 00012 added DELETE on
		// tenants and nothing else).
		{"ops deletes sites", `GRANT DELETE ON sites TO park_ops`, "park_ops holds sites: DELETE, beyond what it may hold"},
		{"ops deletes audit events", `GRANT DELETE ON audit_events TO park_ops`, "park_ops holds audit_events: DELETE, beyond what it may hold"},
		{"ops truncates", `GRANT TRUNCATE ON tenants TO park_ops`, "park_ops holds tenants: TRUNCATE, beyond what it may hold"},
		{"ops updates a column", `GRANT UPDATE (timezone) ON sites TO park_ops`, "park_ops holds sites: UPDATE (timezone), beyond what it may hold"},
		{"ops writes a view", `GRANT INSERT ON v_spaces TO park_ops`, "park_ops holds v_spaces: INSERT, beyond what it may hold"},
		{"ops lacks tenant delete", `REVOKE DELETE ON tenants FROM park_ops`, "park_ops lacks tenants: DELETE"},
		// A tenant's deletion cascades to every tenant table.
		{"no cascade", `ALTER TABLE webhook_secrets DROP CONSTRAINT webhook_secrets_tenant_id_fkey; ALTER TABLE webhook_secrets ADD FOREIGN KEY (tenant_id) REFERENCES tenants (id)`,
			"table public.webhook_secrets: no foreign key on tenant_id with ON DELETE CASCADE to tenants or a tenant table, so deleting a tenant would leave its rows"},
		{"cascade on another column", `ALTER TABLE spaces DROP CONSTRAINT spaces_tenant_id_site_id_fkey; ALTER TABLE spaces ADD FOREIGN KEY (tenant_id, site_id) REFERENCES sites (tenant_id, id) ON DELETE RESTRICT`,
			"table public.spaces: no foreign key on tenant_id with ON DELETE CASCADE to tenants or a tenant table, so deleting a tenant would leave its rows"},
		// Citus's rules (00016): every table declares its role; distributed
		// tables keep tenant_id NOT NULL in every key and in foreign keys
		// between them and carry no trigger; reference tables reference no
		// distributed table.
		{"citus role missing", `COMMENT ON TABLE sites IS 'Parking sites.'`,
			"table public.sites: its comment declares no Citus role (citus: distributed or citus: reference)"},
		{"new table unmarked", `CREATE TABLE public.gizmos (tenant_id uuid NOT NULL REFERENCES tenants ON DELETE CASCADE, id uuid, PRIMARY KEY (tenant_id, id)); ALTER TABLE gizmos OWNER TO park_owner`,
			"table public.gizmos: its comment declares no Citus role (citus: distributed or citus: reference)"},
		{"citus role twice", `COMMENT ON TABLE sites IS 'citus: distributed, or citus: reference'`,
			"table public.sites: its comment declares more than one Citus role (distributed, reference)"},
		{"distributed tenant_id nullable", `ALTER TABLE audit_events ALTER COLUMN tenant_id DROP NOT NULL`,
			"table public.audit_events: citus: distributed, but tenant_id is nullable"},
		{"distributed without tenant_id", `COMMENT ON TABLE users IS 'citus: distributed'`,
			"table public.users: citus: distributed, but has no tenant_id column to be distributed by"},
		{"global unique key id", `ALTER TABLE api_keys ADD CONSTRAINT api_keys_key_id_key UNIQUE (key_id)`,
			"table public.api_keys: citus: distributed, but its unique key api_keys_key_id_key does not include tenant_id"},
		{"global unique slug index", `CREATE UNIQUE INDEX tenants_slug_key ON tenants (slug)`,
			"table public.tenants: citus: distributed, but its unique key tenants_slug_key does not include id"},
		{"primary key on id alone", `CREATE TABLE public.gadgets (tenant_id uuid NOT NULL REFERENCES tenants ON DELETE CASCADE, id uuid PRIMARY KEY); ALTER TABLE gadgets OWNER TO park_owner; COMMENT ON TABLE gadgets IS 'citus: distributed'`,
			"table public.gadgets: citus: distributed, but its primary key gadgets_pkey does not include tenant_id"},
		{"exclusion without tenant", `ALTER TABLE reservations DROP CONSTRAINT reservations_no_overlap; ALTER TABLE reservations ADD CONSTRAINT reservations_no_overlap EXCLUDE USING gist (space_id WITH =, during WITH &&) WHERE (status = 'confirmed')`,
			"table public.reservations: citus: distributed, but its exclusion constraint reservations_no_overlap does not include tenant_id"},
		{"exclusion on tenant without =", `ALTER TABLE reservations DROP CONSTRAINT reservations_no_overlap; ALTER TABLE reservations ADD CONSTRAINT reservations_no_overlap EXCLUDE USING gist (tenant_id WITH <>, space_id WITH =, during WITH &&) WHERE (status = 'confirmed')`,
			"table public.reservations: citus: distributed, but its exclusion constraint reservations_no_overlap does not compare tenant_id with ="},
		{"foreign key not on tenant", `ALTER TABLE sites ADD CONSTRAINT sites_id_fkey FOREIGN KEY (id) REFERENCES tenants (id)`,
			"table public.sites: citus: distributed, but its foreign key sites_id_fkey to distributed table public.tenants does not pair tenant_id with public.tenants.id"},
		{"foreign key crossing tenant columns", `ALTER TABLE reservations ADD CONSTRAINT reservations_crossed_fkey FOREIGN KEY (space_id, tenant_id) REFERENCES spaces (tenant_id, id)`,
			"table public.reservations: citus: distributed, but its foreign key reservations_crossed_fkey to distributed table public.spaces does not pair tenant_id with public.spaces.tenant_id"},
		{"trigger on distributed", `CREATE FUNCTION public.touch() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN NEW.updated_at := now(); RETURN NEW; END'; CREATE TRIGGER sites_touch BEFORE UPDATE ON sites FOR EACH ROW EXECUTE FUNCTION touch()`,
			"table public.sites: citus: distributed, but has trigger sites_touch (Citus refuses triggers on distributed tables)"},
		{"reference references distributed", `ALTER TABLE tenant_slugs ADD CONSTRAINT tenant_slugs_tenant_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE CASCADE`,
			"table public.tenant_slugs: citus: reference, but its foreign key tenant_slugs_tenant_fkey references distributed table public.tenants"},
		{"tenant table as reference", `COMMENT ON TABLE webhook_secrets IS 'citus: reference'`,
			"table public.webhook_secrets: citus: reference with tenant_id, but not one of the look-up tables (migrations.LookupTables) that tenant deletion clears"},
		{"ops deletes platform events", `GRANT DELETE ON platform_events TO park_ops`, "park_ops holds platform_events: DELETE, beyond what it may hold"},
		{"ops lacks slug delete", `REVOKE DELETE ON tenant_slugs FROM park_ops`, "park_ops lacks tenant_slugs: DELETE"},
		// park_maint's functions and grants, exactly (00010, 00014, 00015).
		{"maint extra column grant", `GRANT UPDATE (seen_at) ON uplink_dedupe TO park_maint`, "table public.uplink_dedupe: park_maint holds UPDATE (seen_at), beyond what it may hold"},
		{"maint reads whole table", `GRANT SELECT ON sensor_readings TO park_maint`, "table public.sensor_readings: park_maint holds SELECT, beyond what it may hold"},
		{"maint reads a payload", `GRANT SELECT (payload) ON sensor_readings TO park_maint`, "table public.sensor_readings: park_maint holds SELECT (payload), beyond what it may hold"},
		{"maint deletes elsewhere", `GRANT DELETE ON spaces TO park_maint`, "table public.spaces: park_maint holds DELETE, beyond what it may hold"},
		{"maint inserts", `GRANT INSERT ON idempotency_keys TO park_maint`, "table public.idempotency_keys: park_maint holds INSERT, beyond what it may hold"},
		{"maint lacks delete", `REVOKE DELETE ON idempotency_keys FROM park_maint`, "table public.idempotency_keys: park_maint lacks DELETE"},
		{"maint lacks a column", `REVOKE SELECT (settings) ON tenants FROM park_maint`, "table public.tenants: park_maint lacks SELECT (settings)"},
		{"maint extra function", `CREATE FUNCTION maint.prune_everything() RETURNS bigint LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS 'SELECT 0::bigint'; ALTER FUNCTION maint.prune_everything() OWNER TO park_maint; REVOKE EXECUTE ON FUNCTION maint.prune_everything() FROM PUBLIC; GRANT EXECUTE ON FUNCTION maint.prune_everything() TO park_app`, "function maint.prune_everything(): owned by park_maint but not one of its functions (migrations.MaintFunctions)"},
		{"maint function dropped", `DROP FUNCTION maint.prune_readings()`, "function maint.prune_readings(): missing, or not a SECURITY DEFINER function of park_maint"},
		{"maint prune public exec", `GRANT EXECUTE ON FUNCTION maint.prune_uplink_dedupe() TO PUBLIC`, "function maint.prune_uplink_dedupe(): SECURITY DEFINER executable by PUBLIC"},
		{"maint prune ops exec", `GRANT EXECUTE ON FUNCTION maint.prune_readings() TO park_ops`, "function maint.prune_readings(): executable by park_ops; park_maint's functions are for park_app alone"},
		{"maint prune search path", `ALTER FUNCTION maint.prune_idempotency_keys() RESET search_path`, "function maint.prune_idempotency_keys(): SECURITY DEFINER without search_path = pg_catalog, pg_temp"},
		{"maint prune owner", `ALTER FUNCTION maint.prune_readings() OWNER TO park_owner`, "function maint.prune_readings(): SECURITY DEFINER owned by park_owner, not park_auth or park_maint"},
		{"maint member of ops", `GRANT park_ops TO park_maint`, "role park_maint: is a member of park_ops"},
		{"maint bypasses rls", `ALTER ROLE park_maint BYPASSRLS`, "role park_maint: bypasses row-level security"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			db := pgtest.NewDB(t)
			ctx := context.Background()
			// One transaction, rolled back: roles and their memberships
			// are global to the cluster every test shares, so a break
			// that committed would show in other tests' catalogs.
			tx, err := db.AdminPool(t).Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback(ctx)
			if _, err := tx.Exec(ctx, tc.sql); err != nil {
				t.Fatal(err)
			}
			problems, err := migrations.CheckCatalog(ctx, tx)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range problems {
				if p == tc.want {
					return
				}
			}
			t.Errorf("want problem %q, got %q", tc.want, problems)
		})
	}
}

func TestReservationsExclude(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	admin := db.AdminPool(t)
	f := seedTenant(t, admin, "excl")
	store := tenancy.NewStore(db.ServerPool(t, 4))
	ctx := context.Background()
	base := time.Date(2030, 1, 1, 10, 0, 0, 0, time.UTC)

	book := func(start, end time.Time) (uuid.UUID, error) {
		id := uuid.New()
		err := store.InTenantTx(ctx, f.Tenant, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `INSERT INTO reservations (tenant_id, id, space_id, during)
				VALUES ($1, $2, $3, tstzrange($4, $5, '[)'))`, f.Tenant, id, f.Space, start, end)
			return err
		})
		return id, err
	}
	first, err := book(base, base.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := book(base.Add(30*time.Minute), base.Add(90*time.Minute)); pgCode(err) != "23P01" {
		t.Fatalf("overlapping confirmed booking: want exclusion violation 23P01, got %v", err)
	}
	// [10:00, 11:00) and [11:00, 12:00) touch but do not overlap.
	if _, err := book(base.Add(time.Hour), base.Add(2*time.Hour)); err != nil {
		t.Fatalf("adjacent booking refused: %v", err)
	}
	if _, err := book(base.Add(-time.Hour), base); err != nil {
		t.Fatalf("adjacent booking before refused: %v", err)
	}
	err = store.InTenantTx(ctx, f.Tenant, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE reservations SET status = 'cancelled', cancelled_at = now() WHERE id = $1`, first)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := book(base.Add(30*time.Minute), base.Add(50*time.Minute)); err != nil {
		t.Fatalf("booking a cancelled slot refused: %v", err)
	}
	if _, err := book(base, base); pgCode(err) != "23514" {
		t.Fatalf("empty range: want check violation 23514, got %v", err)
	}
	var conflicts int
	if err := admin.QueryRow(ctx, `SELECT count(*) FROM reservation_conflicts`).Scan(&conflicts); err != nil || conflicts != 0 {
		t.Fatalf("reservation_conflicts: %d rows, err %v", conflicts, err)
	}
}

func TestSpaceSiteTenantMismatchRefused(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	admin := db.AdminPool(t)
	a := seedTenant(t, admin, "alpha")
	b := seedTenant(t, admin, "bravo")
	ctx := context.Background()
	// Even the superuser, whom RLS does not stop, cannot attach B's space
	// to A's site: the composite foreign key refuses it.
	_, err := admin.Exec(ctx, `INSERT INTO spaces (tenant_id, id, site_id, code) VALUES ($1, $2, $3, 'X1')`,
		b.Tenant, uuid.New(), a.Site)
	if pgCode(err) != "23503" {
		t.Fatalf("space of B on A's site as superuser: want foreign key violation 23503, got %v", err)
	}
	_, err = admin.Exec(ctx, `UPDATE spaces SET site_id = $1 WHERE tenant_id = $2 AND id = $3`, a.Site, b.Tenant, b.Space)
	if pgCode(err) != "23503" {
		t.Fatalf("moving B's space to A's site: want 23503, got %v", err)
	}
	store := tenancy.NewStore(db.ServerPool(t, 2))
	err = store.InTenantTx(ctx, b.Tenant, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO spaces (tenant_id, id, site_id, code) VALUES ($1, $2, $3, 'X2')`,
			b.Tenant, uuid.New(), a.Site)
		return err
	})
	if pgCode(err) != "23503" {
		t.Fatalf("space of B on A's site as park_app: want 23503, got %v", err)
	}
}

func TestNoTenantSeesNothing(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	admin := db.AdminPool(t)
	a := seedTenant(t, admin, "alpha")
	seedTenant(t, admin, "bravo")
	pool := db.ServerPool(t, 2)
	ctx := context.Background()
	for _, table := range tenantTables(t, admin) {
		var total int
		if err := admin.QueryRow(ctx, "SELECT count(*) FROM "+table).Scan(&total); err != nil || total == 0 {
			t.Fatalf("%s: superuser sees %d rows (%v): the fixture must fill it", table, total, err)
		}
		err := asApp(t, pool, func(tx pgx.Tx) error {
			var n int
			if err := tx.QueryRow(ctx, "SELECT count(*) FROM "+table).Scan(&n); err != nil {
				return err
			}
			if n != 0 {
				t.Errorf("%s: park_app without a tenant reads %d rows, want 0", table, n)
			}
			return nil
		})
		if err != nil {
			t.Errorf("%s: read: %v", table, err)
		}
		ins := insertCopySQL(t, admin, table)
		row := rowJSON(t, admin, table, a.Tenant)
		err = asApp(t, pool, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, ins, row)
			return err
		})
		if pgCode(err) != "42501" {
			t.Errorf("%s: insert without a tenant: want 42501 (RLS or privilege), got %v", table, err)
		}
	}
}

// TestTenantIsolation: in every tenant table, a tenant reads, changes and
// writes its own rows only, with either tenant prologue (set_config, and
// the SET LOCAL of a Citus coordinator).
func TestTenantIsolation(t *testing.T) {
	t.Parallel()
	for _, prologue := range tenancy.TenantPrologues() {
		t.Run(string(prologue), func(t *testing.T) {
			t.Parallel()
			tenantIsolation(t, prologue)
		})
	}
}

func tenantIsolation(t *testing.T, prologue tenancy.TenantPrologue) {
	db := pgtest.NewDB(t)
	admin := db.AdminPool(t)
	a := seedTenant(t, admin, "alpha")
	b := seedTenant(t, admin, "bravo")
	store := tenancy.NewStore(db.ServerPool(t, 2), tenancy.WithTenantPrologue(prologue))
	ctx := context.Background()

	for _, table := range tenantTables(t, admin) {
		col := tenantColumn(table)
		var before int
		if err := admin.QueryRow(ctx, fmt.Sprintf("SELECT count(*) FROM %s WHERE %s = $1", table, col), b.Tenant).Scan(&before); err != nil {
			t.Fatal(err)
		}
		// Reads: A sees its own rows and none of B's.
		err := store.InTenantTx(ctx, a.Tenant, func(tx pgx.Tx) error {
			var own, foreign int
			if err := tx.QueryRow(ctx, fmt.Sprintf("SELECT count(*) FILTER (WHERE %[2]s = $1), count(*) FILTER (WHERE %[2]s <> $1) FROM %[1]s", table, col),
				a.Tenant).Scan(&own, &foreign); err != nil {
				return err
			}
			if own == 0 {
				t.Errorf("%s: A cannot see its own rows", table)
			}
			if foreign != 0 {
				t.Errorf("%s: A sees %d rows of another tenant", table, foreign)
			}
			return nil
		})
		if err != nil {
			t.Errorf("%s: read as A: %v", table, err)
		}

		// Updates and deletes of B's rows touch nothing (or are not even
		// permitted on append-only tables).
		for _, stmt := range []string{
			fmt.Sprintf("UPDATE %s SET %s = %s WHERE %s = $1", table, col, col, col),
			fmt.Sprintf("DELETE FROM %s WHERE %s = $1", table, col),
		} {
			err := store.InTenantTx(ctx, a.Tenant, func(tx pgx.Tx) error {
				tag, err := tx.Exec(ctx, stmt, b.Tenant)
				if err != nil {
					return err
				}
				if tag.RowsAffected() != 0 {
					t.Errorf("%s: %q as A affected %d of B's rows", table, stmt, tag.RowsAffected())
				}
				return nil
			})
			if err != nil && pgCode(err) != "42501" {
				t.Errorf("%s: %q: %v", table, stmt, err)
			}
		}

		// Inserting a row that carries B's id is refused.
		ins := insertCopySQL(t, admin, table)
		row := rowJSON(t, admin, table, b.Tenant)
		err = store.InTenantTx(ctx, a.Tenant, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, ins, row)
			return err
		})
		if pgCode(err) != "42501" {
			t.Errorf("%s: A inserting a row of B: want 42501, got %v", table, err)
		}

		var after int
		if err := admin.QueryRow(ctx, fmt.Sprintf("SELECT count(*) FROM %s WHERE %s = $1", table, col), b.Tenant).Scan(&after); err != nil {
			t.Fatal(err)
		}
		if after != before {
			t.Errorf("%s: B had %d rows, now %d", table, before, after)
		}
	}

	// A cannot move its own row into B.
	err := store.InTenantTx(ctx, a.Tenant, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE audit_events SET tenant_id = $1`, b.Tenant)
		return err
	})
	if pgCode(err) != "42501" {
		t.Errorf("moving a row to B: want 42501, got %v", err)
	}
	err = store.InTenantTx(ctx, a.Tenant, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE orphan_devices SET tenant_id = $1`, b.Tenant)
		return err
	})
	if pgCode(err) != "42501" {
		t.Errorf("moving an orphan to B: want 42501, got %v", err)
	}
}

func TestTenantSettingEndsWithTransaction(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	admin := db.AdminPool(t)
	a := seedTenant(t, admin, "alpha")
	pool := db.ServerPool(t, 1) // one connection: the next transaction reuses it
	store := tenancy.NewStore(pool)
	ctx := context.Background()
	var pid1 uint32
	err := store.InTenantTx(ctx, a.Tenant, func(tx pgx.Tx) error {
		var role, tenant string
		if err := tx.QueryRow(ctx, `SELECT current_user, current_setting('app.tenant_id'), pg_backend_pid()`).Scan(&role, &tenant, &pid1); err != nil {
			return err
		}
		if role != "park_app" || tenant != a.Tenant.String() {
			t.Errorf("inside: role %s tenant %s", role, tenant)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var role, tenant string
	var pid2 uint32
	if err := pool.QueryRow(ctx, `SELECT current_user, coalesce(current_setting('app.tenant_id', true), ''), pg_backend_pid()`).Scan(&role, &tenant, &pid2); err != nil {
		t.Fatal(err)
	}
	if pid1 != pid2 {
		t.Fatalf("the pool used another connection (%d, %d): the test proves nothing", pid1, pid2)
	}
	if role == "park_app" || tenant != "" {
		t.Errorf("after the transaction: role %s, tenant %q — the setting leaked", role, tenant)
	}
	// And with the role alone, RLS shows nothing.
	err = asApp(t, pool, func(tx pgx.Tx) error {
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM sites`).Scan(&n); err != nil {
			return err
		}
		if n != 0 {
			t.Errorf("next transaction sees %d sites", n)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestAppCannotReadPasswordHash(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	admin := db.AdminPool(t)
	a := seedTenant(t, admin, "alpha")
	seedTenant(t, admin, "bravo")
	store := tenancy.NewStore(db.ServerPool(t, 2))
	ctx := context.Background()
	err := store.InTenantTx(ctx, a.Tenant, func(tx pgx.Tx) error {
		var h string
		return tx.QueryRow(ctx, `SELECT password_hash FROM users LIMIT 1`).Scan(&h)
	})
	if pgCode(err) != "42501" {
		t.Fatalf("park_app reading password_hash: want 42501, got %v", err)
	}
	err = store.InTenantTx(ctx, a.Tenant, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT id FROM users`)
		if err != nil {
			return err
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
		if err != nil {
			return err
		}
		if len(ids) != 1 || ids[0] != a.User {
			t.Errorf("A sees users %v, want only its member %s", ids, a.User)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The login look-up is the one way to a hash, and only by email.
	err = store.InTenantTx(ctx, a.Tenant, func(tx pgx.Tx) error {
		var h string
		if err := tx.QueryRow(ctx, `SELECT password_hash FROM auth.login_lookup($1)`, "BRAVO@example.com").Scan(&h); err != nil {
			return err
		}
		if h != "not-a-hash" {
			t.Errorf("login_lookup hash %q", h)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// park_app cannot call the look-ups' owner role's powers directly.
	err = store.InTenantTx(ctx, a.Tenant, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `SET LOCAL ROLE park_auth`)
		return err
	})
	if pgCode(err) != "42501" {
		t.Fatalf("park_app becoming park_auth: want 42501, got %v", err)
	}
}

// TestPasswordWriter: auth.swap_password_hash, park_app's one way to write a
// hash, swaps only while the stored hash is the one the caller names, only
// for that user, only to a bcrypt hash, and touches no other column.
func TestPasswordWriter(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	admin := db.AdminPool(t)
	a := seedTenant(t, admin, "alpha")
	b := seedTenant(t, admin, "bravo")
	pool := db.ServerPool(t, 2)
	ctx := context.Background()
	const (
		h1 = "$2a$04$" + "abcdefghijklmnopqrstuvABCDEFGHIJKLMNOPQRSTUVWXYZ01234"
		h2 = "$2a$12$" + "bcdefghijklmnopqrstuvABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
	)
	type userRow struct {
		hash, name   string
		version      int
		updated      time.Time
		otherHash    string
		otherUpdated time.Time
		otherVersion int
	}
	read := func() userRow {
		t.Helper()
		var r userRow
		if err := admin.QueryRow(ctx, `SELECT u.password_hash, u.name, u.token_version, u.updated_at, o.password_hash, o.updated_at, o.token_version
			FROM users u, users o WHERE u.id = $1 AND o.id = $2`, a.User, b.User).
			Scan(&r.hash, &r.name, &r.version, &r.updated, &r.otherHash, &r.otherUpdated, &r.otherVersion); err != nil {
			t.Fatal(err)
		}
		return r
	}
	swap := func(user uuid.UUID, old, fresh string) bool {
		t.Helper()
		var ok bool
		err := asApp(t, pool, func(tx pgx.Tx) error {
			return tx.QueryRow(ctx, `SELECT auth.swap_password_hash($1::uuid, $2::text, $3::text)`, user, old, fresh).Scan(&ok)
		})
		if err != nil {
			t.Fatalf("swap as park_app: %v", err)
		}
		return ok
	}
	before := read()
	if before.hash != "not-a-hash" {
		t.Fatalf("fixture hash %q", before.hash)
	}
	if !swap(a.User, "not-a-hash", h1) {
		t.Fatal("swap with the current hash refused")
	}
	after := read()
	if after.hash != h1 || after.name != before.name || after.version != before.version || !after.updated.Equal(before.updated) {
		t.Errorf("swap wrote %+v, want only the hash changed from %+v", after, before)
	}
	if after.otherHash != before.otherHash || !after.otherUpdated.Equal(before.otherUpdated) {
		t.Errorf("swap touched another user")
	}
	// Compare-and-swap: the hash the caller read is no longer there.
	if swap(a.User, "not-a-hash", h2) || read().hash != h1 {
		t.Error("swap with a stale old hash went through")
	}
	// Another user's current hash does not open this one.
	if swap(a.User, before.otherHash, h2) || swap(b.User, h1, h2) || read().otherHash != before.otherHash {
		t.Error("swap across users went through")
	}
	for _, bad := range []string{"", "not-a-hash", "$2a$03$" + h1[7:], h1 + "x", "$1$" + h1[3:]} {
		if swap(a.User, h1, bad) {
			t.Errorf("swap to %q went through", bad)
		}
	}
	if read().hash != h1 {
		t.Fatal("hash changed by refused swaps")
	}
	if !swap(a.User, h1, h2) || read().hash != h2 {
		t.Error("second swap refused")
	}
	// park_app itself still updates no user, and cannot act as park_auth.
	err := asApp(t, pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE users SET password_hash = $2 WHERE id = $1`, a.User, h1)
		return err
	})
	if pgCode(err) != "42501" {
		t.Errorf("park_app updating users: want 42501, got %v", err)
	}
	// Only park_app may call the writer.
	for _, role := range []string{"park_ops"} {
		err := pgx.BeginFunc(ctx, admin, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, "SET LOCAL ROLE "+role); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `SELECT auth.swap_password_hash($1::uuid, $2::text, $3::text)`, a.User, h2, h1)
			return err
		})
		if pgCode(err) != "42501" {
			t.Errorf("%s calling the writer: want 42501, got %v", role, err)
		}
	}
}

// TestUpDownUpSameSchema migrates a fresh database all the way down and up
// again and compares pg_dump's schema before and after.
func TestUpDownUpSameSchema(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	ctx := context.Background()
	before := schemaDump(t, db.AdminURL)
	r, err := migrations.Open(ctx, db.AdminURL)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	st, err := r.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for range st {
		if _, err := r.Down(ctx); err != nil {
			t.Fatal(err)
		}
	}
	var tables int
	if err := db.AdminPool(t).QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'goose_db_version'`).Scan(&tables); err != nil {
		t.Fatal(err)
	}
	if tables != 0 {
		t.Errorf("after all downs %d tables remain", tables)
	}
	if res, err := r.Down(ctx); err != nil || res != nil {
		t.Errorf("down with nothing applied: %v, %v", res, err)
	}
	if _, err := r.Up(ctx); err != nil {
		t.Fatal(err)
	}
	after := schemaDump(t, db.AdminURL)
	if before != after {
		t.Errorf("schema differs after up → down → up:\n%s", diffLines(before, after))
	}
}

func schemaDump(t *testing.T, url string) string {
	t.Helper()
	bin, err := pgcluster.BinDir()
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(filepath.Join(bin, "pg_dump"), "--schema-only", "--no-comments",
		"--exclude-table=goose_db_version", "--dbname="+url).Output()
	if err != nil {
		t.Fatalf("pg_dump: %v", err)
	}
	// pg_dump brackets its output with \restrict <random key> lines; they
	// differ on every run and say nothing about the schema.
	var keep []string
	for _, l := range strings.Split(string(out), "\n") {
		if !strings.HasPrefix(l, `\restrict `) && !strings.HasPrefix(l, `\unrestrict `) {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}

func diffLines(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	in := func(l []string) map[string]int {
		m := map[string]int{}
		for _, s := range l {
			m[s]++
		}
		return m
	}
	am, bm := in(al), in(bl)
	var out []string
	for _, s := range al {
		if bm[s] == 0 {
			out = append(out, "- "+s)
		}
	}
	for _, s := range bl {
		if am[s] == 0 {
			out = append(out, "+ "+s)
		}
	}
	return strings.Join(out, "\n")
}

// TestFailingMigrationRollsBackWhole: the second of three migrations fails
// halfway; it leaves nothing behind, the first stays applied, status shows
// where the run stopped, and a fixed file then applies.
func TestFailingMigrationRollsBackWhole(t *testing.T) {
	t.Parallel()
	db := pgtest.NewEmptyDB(t)
	ctx := context.Background()
	if _, err := bootstrap.Run(ctx, db.AdminURL, bootstrap.Options{}); err != nil {
		t.Fatal(err)
	}
	fsys := fstest.MapFS{
		"00001_one.sql":   {Data: []byte("-- +goose Up\nCREATE TABLE one (x int);\n-- +goose Down\nDROP TABLE one;\n")},
		"00002_two.sql":   {Data: []byte("-- +goose Up\nCREATE TABLE two (x int);\nINSERT INTO two VALUES (1);\nSELECT 1/0;\n-- +goose Down\nDROP TABLE two;\n")},
		"00003_three.sql": {Data: []byte("-- +goose Up\nCREATE TABLE three (x int);\n-- +goose Down\nDROP TABLE three;\n")},
	}
	r, err := migrations.Open(ctx, db.AdminURL, migrations.WithFS(fsys))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	applied, err := r.Up(ctx)
	var pe *migrations.PartialError
	if !errors.As(err, &pe) {
		t.Fatalf("want *PartialError, got %v", err)
	}
	if pe.Failed.Version != 2 || len(applied) != 1 || applied[0].Version != 1 {
		t.Fatalf("failed %+v, applied %+v", pe.Failed, applied)
	}
	if !strings.Contains(err.Error(), "00002_two.sql") || !strings.Contains(err.Error(), "division by zero") {
		t.Errorf("error does not name the migration and cause: %v", err)
	}
	st, err := r.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []bool{true, false, false}
	for i, s := range st {
		if s.Applied != want[i] {
			t.Errorf("status %d applied=%v want %v", s.Version, s.Applied, want[i])
		}
	}
	var exists bool
	if err := db.AdminPool(t).QueryRow(ctx, `SELECT to_regclass('public.two') IS NOT NULL`).Scan(&exists); err != nil || exists {
		t.Errorf("table of the failed migration exists=%v (%v)", exists, err)
	}
	var owner string
	if err := db.AdminPool(t).QueryRow(ctx, `SELECT pg_get_userbyid(relowner) FROM pg_class WHERE relname = 'one'`).Scan(&owner); err != nil || owner != "park_owner" {
		t.Errorf("migrated table owner %q (%v), want park_owner", owner, err)
	}
}

func TestConcurrentUp(t *testing.T) {
	t.Parallel()
	db := pgtest.NewEmptyDB(t)
	ctx := context.Background()
	if _, err := bootstrap.Run(ctx, db.AdminURL, bootstrap.Options{}); err != nil {
		t.Fatal(err)
	}
	const n = 3
	var wg sync.WaitGroup
	errs := make([]error, n)
	counts := make([]int, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := migrations.Open(ctx, db.AdminURL)
			if err != nil {
				errs[i] = err
				return
			}
			defer r.Close()
			res, err := r.Up(ctx)
			counts[i], errs[i] = len(res), err
		}()
	}
	wg.Wait()
	total := 0
	for i := range n {
		if errs[i] != nil {
			t.Errorf("runner %d: %v", i, errs[i])
		}
		total += counts[i]
	}
	files, _ := migrations.FS.ReadDir(".")
	want := 0
	for _, f := range files {
		if strings.HasSuffix(f.Name(), ".sql") {
			want++
		}
	}
	if total != want {
		t.Errorf("runners applied %d migrations in all, want each of %d exactly once", total, want)
	}
	rep, err := migrations.Verify(ctx, db.AdminURL)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		t.Errorf("verify: %v", rep.Problems)
	}
}

// TestBootstrapConcurrentFreshCluster runs four bootstraps at once on a new
// cluster, where the roles do not exist yet, so CREATE ROLE really races.
func TestBootstrapConcurrentFreshCluster(t *testing.T) {
	t.Parallel()
	pgtest.Require(t)
	dir, err := os.MkdirTemp("/tmp", "parkboot-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := pgcluster.Start(ctx, pgcluster.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Stop() })
	admin, err := pgx.Connect(ctx, c.AdminURL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"one", "two"} {
		if _, err := admin.Exec(ctx, "CREATE DATABASE "+d); err != nil {
			t.Fatal(err)
		}
	}
	admin.Close(ctx)

	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			db := []string{"one", "two"}[i%2]
			_, errs[i] = bootstrap.Run(ctx, c.AdminURL(db), bootstrap.Options{CreateLogins: i < 2})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("bootstrap %d: %v", i, err)
		}
	}
	conn, err := pgx.Connect(ctx, c.AdminURL("one"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT rolname || ':' || rolcanlogin || ':' || rolbypassrls FROM pg_roles WHERE rolname LIKE 'park\_%' ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	got, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	want := "park_admin:true:false park_app:false:false park_auth:false:false park_maint:false:false park_ops:false:true park_owner:false:false park_server:true:false"
	if strings.Join(got, " ") != want {
		t.Errorf("roles:\n got %s\nwant %s", strings.Join(got, " "), want)
	}
	var owner string
	var ext bool
	if err := conn.QueryRow(ctx, `SELECT pg_get_userbyid(datdba), exists (SELECT 1 FROM pg_extension WHERE extname = 'btree_gist') FROM pg_database WHERE datname = 'one'`).Scan(&owner, &ext); err != nil {
		t.Fatal(err)
	}
	if owner != "park_owner" || !ext {
		t.Errorf("database owner %s, btree_gist %v", owner, ext)
	}
}

// TestTeamDefiners: auth.member_lookup returns an account's id and name by
// email and nothing else; auth.change_password swaps the hash like
// auth.swap_password_hash and bumps token_version in the same statement,
// for that user only; park_app still updates no user column itself.
func TestTeamDefiners(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	admin := db.AdminPool(t)
	a := seedTenant(t, admin, "alpha")
	b := seedTenant(t, admin, "bravo")
	pool := db.ServerPool(t, 2)
	ctx := context.Background()
	const h1 = "$2a$04$" + "abcdefghijklmnopqrstuvABCDEFGHIJKLMNOPQRSTUVWXYZ01234"

	var email string
	if err := admin.QueryRow(ctx, `SELECT email FROM users WHERE id = $1`, b.User).Scan(&email); err != nil {
		t.Fatal(err)
	}
	err := asApp(t, pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT * FROM auth.member_lookup($1::text)`, strings.ToUpper(email))
		if err != nil {
			return err
		}
		if cols := rows.FieldDescriptions(); len(cols) != 2 || cols[0].Name != "user_id" || cols[1].Name != "name" {
			t.Errorf("member_lookup columns: %v", cols)
		}
		ids, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (uuid.UUID, error) {
			var id uuid.UUID
			var name string
			return id, r.Scan(&id, &name)
		})
		if err != nil {
			return err
		}
		if len(ids) != 1 || ids[0] != b.User {
			t.Errorf("member_lookup(%s): %v, want %s", email, ids, b.User)
		}
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM auth.member_lookup('nobody@example.com')`).Scan(&n); err != nil || n != 0 {
			t.Errorf("member_lookup of nobody: %d %v", n, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	change := func(user uuid.UUID, old, fresh string) (int, bool) {
		t.Helper()
		var v int
		err := asApp(t, pool, func(tx pgx.Tx) error {
			return tx.QueryRow(ctx, `SELECT token_version FROM auth.change_password($1::uuid, $2::text, $3::text)`, user, old, fresh).Scan(&v)
		})
		if errors.Is(err, pgx.ErrNoRows) {
			return 0, false
		}
		if err != nil {
			t.Fatalf("change as park_app: %v", err)
		}
		return v, true
	}
	version := func(user uuid.UUID) (int, string) {
		t.Helper()
		var v int
		var h string
		if err := admin.QueryRow(ctx, `SELECT token_version, password_hash FROM users WHERE id = $1`, user).Scan(&v, &h); err != nil {
			t.Fatal(err)
		}
		return v, h
	}
	va, _ := version(a.User)
	vb, hb := version(b.User)
	if _, ok := change(a.User, "stale", h1); ok {
		t.Error("change with a stale hash went through")
	}
	if _, ok := change(a.User, "not-a-hash", "not-a-bcrypt-hash"); ok {
		t.Error("change to a non-bcrypt hash went through")
	}
	if v, h := version(a.User); v != va || h != "not-a-hash" {
		t.Fatalf("refused changes wrote: version %d hash %q", v, h)
	}
	got, ok := change(a.User, "not-a-hash", h1)
	if v, h := version(a.User); !ok || got != va+1 || v != va+1 || h != h1 {
		t.Errorf("change: returned %d %v, stored version %d hash %q; want version %d", got, ok, v, h, va+1)
	}
	if v, h := version(b.User); v != vb || h != hb {
		t.Error("change touched another user")
	}
	err = asApp(t, pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE users SET token_version = token_version + 1 WHERE id = $1`, a.User)
		return err
	})
	if pgCode(err) != "42501" {
		t.Errorf("park_app updating token_version: want 42501, got %v", err)
	}
}
