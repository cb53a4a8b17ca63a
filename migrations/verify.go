package migrations

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
)

// GlobalTables are the tables that deliberately carry no tenant_id. Any
// other table without one is a catalog problem: a new table must be
// tenant-scoped or named here, on purpose.
var GlobalTables = []string{
	"public.goose_db_version", // the migration ledger
	"public.users",            // people, who may belong to several tenants
	"public.platform_events",  // audit events that belong to no tenant (00016)
}

// UnkeyedTenantTables are tenant tables that deliberately have no primary
// key (append-only, partition-ready).
var UnkeyedTenantTables = []string{
	"public.audit_events",
	"public.sensor_readings",
}

// RequiredConstraints are the constraints isolation and correctness rest on,
// as table.constraint: losing one is a catalog problem even before the data
// it guards goes wrong.
var RequiredConstraints = []string{
	"public.reservations.reservations_no_overlap",
	"public.spaces.spaces_tenant_id_site_id_fkey",
	"public.reservations.reservations_tenant_id_space_id_fkey",
	"public.refresh_tokens.refresh_tokens_tenant_id_user_id_fkey",
}

// UsersGrants is every privilege the server's roles (park_app, park_auth)
// and PUBLIC may hold directly on public.users: a table-wide privilege as
// "SELECT", a column privilege as "UPDATE (password_hash)". A hash is the
// key to an account, so the catalog check pins this exactly: park_app
// reads no hash and updates nothing (00006), and park_auth, the owner of
// the SECURITY DEFINER functions, reads users for the look-ups and updates
// password_hash and token_version alone, through auth.swap_password_hash
// (00007) and auth.change_password (00011).
var UsersGrants = map[string][]string{
	"park_app": {
		"INSERT (created_at)", "INSERT (email)", "INSERT (id)", "INSERT (name)", "INSERT (password_hash)",
		"INSERT (token_version)", "INSERT (updated_at)",
		"SELECT (created_at)", "SELECT (email)", "SELECT (id)", "SELECT (name)", "SELECT (token_version)",
		"SELECT (updated_at)",
	},
	"park_auth": {"SELECT", "UPDATE (password_hash)", "UPDATE (token_version)"},
	"PUBLIC":    {},
}

// OpsWriteGrants is every privilege other than SELECT that park_ops holds
// directly on a relation of schema public, as "table: PRIV" or
// "table: PRIV (column)". park_ops bypasses row-level security, so each
// write it may make reaches every tenant: the catalog check pins the list
// exactly, and a grant beyond it (or a missing one) is a problem. Operators
// write tenant data through park_app's stores; park_ops writes only what
// operators alone may: tenants (status, limits; DELETE for `parkctl tenant
// delete`, 00012, whose foreign keys cascade to every tenant table), users
// (`parkctl user`), the revocation of an account's refresh tokens on an
// operator's password reset (00013), audit events (a tenant's, and platform
// events in their own table, 00016), the global look-up rows of a tenant
// it deletes (00016: no foreign key cascades to them), and the expired
// idempotency keys that `parkctl reservations prune-keys` deletes (00005,
// 00006).
var OpsWriteGrants = []string{
	"api_key_ids: DELETE",
	"audit_events: INSERT",
	"idempotency_keys: DELETE",
	"idempotency_keys: UPDATE (expires_at)",
	"platform_events: INSERT",
	"refresh_tokens: UPDATE (revoked_at)",
	"tenant_slugs: DELETE",
	"tenants: DELETE",
	"tenants: INSERT",
	"tenants: UPDATE",
	"users: INSERT",
	"users: UPDATE (name)",
	"users: UPDATE (password_hash)",
	"users: UPDATE (token_version)",
	"users: UPDATE (updated_at)",
}

// MaintFunctions are the SECURITY DEFINER functions park_maint owns, all
// without parameters, each returning numbers only: the orphan counts behind
// a gauge (00010), the retention batches (00014) and the reservation
// integrity counts behind park_reservation_integrity_findings (00015). The catalog check
// reports a park_maint function not named here, one named here that is
// missing, and EXECUTE on them for anyone but park_app.
var MaintFunctions = []string{
	"maint.orphan_device_counts()",
	"maint.prune_idempotency_keys()",
	"maint.prune_readings()",
	"maint.prune_uplink_dedupe()",
	"maint.reservation_integrity_counts()",
}

// MaintGrants is every privilege park_maint may hold on a table, by table,
// in the form of UsersGrants; the catalog check pins it exactly, on every
// relation of the database. park_maint reads the columns its functions
// test (ctid among them: a batch deletes by row address) and deletes the
// rows retention removes, nothing more.
var MaintGrants = map[string][]string{
	"public.idempotency_keys":      {"DELETE", "SELECT (ctid)", "SELECT (expires_at)"},
	"public.orphan_devices":        {"SELECT (status)", "SELECT (tenant_id)"},
	"public.reservation_conflicts": {"SELECT"},
	"public.reservations": {"SELECT (created_at)", "SELECT (during)", "SELECT (id)", "SELECT (space_id)",
		"SELECT (status)", "SELECT (tenant_id)"},
	"public.spaces":          {"SELECT (deleted_at)", "SELECT (id)", "SELECT (tenant_id)"},
	"public.sensor_readings": {"DELETE", "SELECT (ctid)", "SELECT (received_at)", "SELECT (tenant_id)"},
	"public.tenants":         {"SELECT (id)", "SELECT (settings)"},
	"public.uplink_dedupe":   {"DELETE", "SELECT (ctid)", "SELECT (seen_at)"},
}

// Report lists the invariants Verify found broken; empty means clean.
type Report struct {
	Problems []string `json:"problems"`
}

// OK reports whether nothing was found.
func (r *Report) OK() bool { return len(r.Problems) == 0 }

// Querier is what the checks need: a connection or a transaction.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Verify checks the invariants of the seed's pre-production checklist and of
// DESIGN §2 on the database at databaseURL: every migration applied; the
// catalog rules (CheckCatalog); park_app owns and bypasses nothing; every
// space's tenant matches its site's; reservation_conflicts is empty; the
// look-up tables (LookupTables) agree with tenants and api_keys. The
// data checks run as park_ops, which sees every tenant; when the login cannot
// act as a role that sees every tenant, that is itself a problem, so Verify
// never reports "clean" from a partial view.
func Verify(ctx context.Context, databaseURL string) (*Report, error) {
	rep := &Report{}

	r, err := Open(ctx, databaseURL)
	if err != nil {
		return nil, err
	}
	st, err := r.Status(ctx)
	r.Close()
	if err != nil {
		return nil, err
	}
	for _, s := range st {
		if !s.Applied {
			rep.Problems = append(rep.Problems, fmt.Sprintf("migration %05d %s is not applied", s.Version, s.Name))
		}
	}

	conn, err := pgx.Connect(ctx, databaseURL)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(context.Background())

	catalog, err := CheckCatalog(ctx, conn)
	if err != nil {
		return nil, err
	}
	rep.Problems = append(rep.Problems, catalog...)

	data, err := checkData(ctx, conn)
	if err != nil {
		return nil, err
	}
	rep.Problems = append(rep.Problems, data...)
	return rep, nil
}

func checkData(ctx context.Context, conn *pgx.Conn) ([]string, error) {
	var problems []string
	tx, err := conn.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(context.Background())

	var super bool
	if err := tx.QueryRow(ctx, `select rolsuper from pg_roles where rolname = session_user`).Scan(&super); err != nil {
		return nil, err
	}
	if !super {
		if _, err := tx.Exec(ctx, `SET LOCAL ROLE park_ops`); err != nil {
			return append(problems, "cannot act as park_ops, so not every tenant is visible: data checks not run (connect as park_admin or a superuser)"), nil
		}
	}
	var seesAll bool
	var role string
	if err := tx.QueryRow(ctx,
		`select rolname, rolsuper or rolbypassrls from pg_roles where rolname = current_user`).Scan(&role, &seesAll); err != nil {
		return nil, err
	}
	if !seesAll {
		return append(problems, fmt.Sprintf("role %s does not see every tenant: data checks not run", role)), nil
	}

	rows, err := tx.Query(ctx, `
		select s.tenant_id::text, s.id::text, coalesce(si.tenant_id::text, '')
		  from spaces s
		  left join sites si on si.id = s.site_id and si.tenant_id = s.tenant_id
		 where si.id is null
		 order by 1, 2 limit 100`)
	if err != nil {
		return nil, fmt.Errorf("check spaces: %w", err)
	}
	for rows.Next() {
		var tenant, space, siteTenant string
		if err := rows.Scan(&tenant, &space, &siteTenant); err != nil {
			return nil, err
		}
		problems = append(problems, fmt.Sprintf("space %s of tenant %s: its site is not a site of that tenant", space, tenant))
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("check spaces: %w", err)
	}

	rows, err = tx.Query(ctx, `
		select tenant_id::text, space_id::text, reservation_id::text, conflicting_id::text
		  from reservation_conflicts order by 1, 2, 3 limit 100`)
	if err != nil {
		return nil, fmt.Errorf("check reservation_conflicts: %w", err)
	}
	for rows.Next() {
		var tenant, space, a, b string
		if err := rows.Scan(&tenant, &space, &a, &b); err != nil {
			return nil, err
		}
		problems = append(problems, fmt.Sprintf(
			"reservation_conflicts: reservations %s and %s overlap on space %s of tenant %s", a, b, space, tenant))
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("check reservation_conflicts: %w", err)
	}

	// The look-up tables (LookupTables) are kept in step with tenants and
	// api_keys by the stores, not by foreign keys. Before migration 00016
	// (reported above as not applied) there are none.
	var haveLookups bool
	if err := tx.QueryRow(ctx, `select to_regclass('public.tenant_slugs') is not null
		and to_regclass('public.api_key_ids') is not null`).Scan(&haveLookups); err != nil {
		return nil, fmt.Errorf("check look-up tables: %w", err)
	}
	if !haveLookups {
		return problems, nil
	}
	rows, err = tx.Query(ctx, `
		select * from (
		  select format('tenant %s: its slug %s has no tenant_slugs row', t.id, t.slug)
		    from tenants t
		   where not exists (select 1 from tenant_slugs s where s.tenant_id = t.id and s.slug = t.slug)
		  union all
		  select format('tenant_slugs row %s: names tenant %s, which does not exist or has another slug', s.slug, s.tenant_id)
		    from tenant_slugs s
		   where not exists (select 1 from tenants t where t.id = s.tenant_id and t.slug = s.slug)
		  union all
		  select format('API key %s of tenant %s: has no api_key_ids row', k.key_id, k.tenant_id)
		    from api_keys k
		   where not exists (select 1 from api_key_ids i where i.key_id = k.key_id and i.tenant_id = k.tenant_id)
		  union all
		  select format('api_key_ids row %s: names tenant %s, which has no API key with that id', i.key_id, i.tenant_id)
		    from api_key_ids i
		   where not exists (select 1 from api_keys k where k.key_id = i.key_id and k.tenant_id = i.tenant_id)
		) p order by 1 limit 100`)
	if err != nil {
		return nil, fmt.Errorf("check look-up tables: %w", err)
	}
	lookups, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("check look-up tables: %w", err)
	}
	problems = append(problems, lookups...)
	return problems, nil
}

// CheckCatalog returns the ways the schema breaks the rules of DESIGN §2:
//   - a table with tenant_id (or tenants, or users) without ENABLE and FORCE
//     row-level security, or without a policy;
//   - a table that is neither tenant-scoped nor in GlobalTables;
//   - a tenant table (LookupTables aside) whose primary key does not lead
//     with tenant_id;
//   - a view that is not security_invoker;
//   - one of RequiredConstraints missing (the reservations EXCLUDE
//     constraint, the composite tenant foreign keys);
//   - a SECURITY DEFINER function not owned by park_auth or park_maint
//     (whose functions take no parameters and are MaintFunctions), without
//     search_path = pg_catalog, pg_temp, executable by PUBLIC or not by
//     park_app;
//   - a privilege held by park_maint on a relation of public other than
//     exactly MaintGrants;
//   - a privilege on public.users held by park_app, park_auth or PUBLIC
//     other than exactly UsersGrants;
//   - a privilege other than SELECT held by park_ops on a relation of
//     public other than exactly OpsWriteGrants;
//   - a table with tenant_id (LookupTables aside) without a foreign key on
//     it, ON DELETE CASCADE, to tenants or another tenant table;
//   - a break of Citus's rules (checkCitus): a table without its Citus
//     role in its comment, a distributed table whose keys, foreign keys or
//     triggers Citus would refuse, a reference table referencing a
//     distributed one;
//   - a park_maint function other than MaintFunctions, one of them
//     missing or executable by another role than park_app; a table
//     privilege of park_maint other than exactly MaintGrants; park_maint
//     bypassing RLS, a superuser, or a member of any role;
//   - app_tenant_id() missing or not STABLE;
//   - an object not owned by park_owner (SECURITY DEFINER functions aside);
//   - park_app owning anything, bypassing RLS, being a superuser or a member
//     of another Park role.
func CheckCatalog(ctx context.Context, q Querier) ([]string, error) {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	type table struct {
		name            string
		hasTenant       bool
		rls, force      bool
		policies        int
		pkFirst         string
		owner           string
		partitionOrRoot bool
	}
	rows, err := q.Query(ctx, `
		select n.nspname || '.' || c.relname,
		       exists (select 1 from pg_attribute a where a.attrelid = c.oid and a.attname = 'tenant_id' and not a.attisdropped),
		       c.relrowsecurity, c.relforcerowsecurity,
		       (select count(*) from pg_policy p where p.polrelid = c.oid),
		       coalesce((select a.attname from pg_constraint k
		                   join pg_attribute a on a.attrelid = k.conrelid and a.attnum = k.conkey[1]
		                  where k.conrelid = c.oid and k.contype = 'p'), ''),
		       pg_get_userbyid(c.relowner)
		  from pg_class c join pg_namespace n on n.oid = c.relnamespace
		 where c.relkind in ('r', 'p') and n.nspname in ('public', 'auth')
		 order by 1`)
	if err != nil {
		return nil, fmt.Errorf("catalog tables: %w", err)
	}
	tables, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (table, error) {
		var t table
		err := r.Scan(&t.name, &t.hasTenant, &t.rls, &t.force, &t.policies, &t.pkFirst, &t.owner)
		return t, err
	})
	if err != nil {
		return nil, fmt.Errorf("catalog tables: %w", err)
	}
	for _, t := range tables {
		scoped := t.hasTenant || t.name == "public.tenants"
		if !scoped && !slices.Contains(GlobalTables, t.name) {
			add("table %s: has no tenant_id and is not on the list of global tables", t.name)
		}
		if scoped || t.name == "public.users" {
			if !t.rls {
				add("table %s: row-level security is not enabled", t.name)
			}
			if !t.force {
				add("table %s: row-level security is not forced", t.name)
			}
			if t.policies == 0 {
				add("table %s: has no policy", t.name)
			}
		}
		if t.hasTenant && !slices.Contains(LookupTables, t.name) {
			switch {
			case t.pkFirst == "" && !slices.Contains(UnkeyedTenantTables, t.name):
				add("table %s: has no primary key", t.name)
			case t.pkFirst != "" && t.pkFirst != "tenant_id":
				add("table %s: primary key does not lead with tenant_id", t.name)
			}
		}
		if t.owner != "park_owner" {
			add("table %s: owned by %s, not park_owner", t.name, t.owner)
		}
	}

	rows, err = q.Query(ctx, `
		select n.nspname || '.' || c.relname || '.' || k.conname
		  from pg_constraint k
		  join pg_class c on c.oid = k.conrelid
		  join pg_namespace n on n.oid = c.relnamespace
		 where n.nspname = 'public'`)
	if err != nil {
		return nil, fmt.Errorf("catalog constraints: %w", err)
	}
	constraints, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("catalog constraints: %w", err)
	}
	for _, want := range RequiredConstraints {
		if !slices.Contains(constraints, want) {
			add("constraint %s: missing", want)
		}
	}

	var views []string
	rows, err = q.Query(ctx, `
		select n.nspname || '.' || c.relname
		  from pg_class c join pg_namespace n on n.oid = c.relnamespace
		 where c.relkind in ('v', 'm') and n.nspname in ('public', 'auth')
		   and not coalesce(c.reloptions @> array['security_invoker=true'] or c.reloptions @> array['security_invoker=on'], false)
		 order by 1`)
	if err != nil {
		return nil, fmt.Errorf("catalog views: %w", err)
	}
	views, err = pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("catalog views: %w", err)
	}
	for _, v := range views {
		add("view %s: is not security_invoker", v)
	}

	type definer struct {
		name, owner     string
		config          []string
		publicExec, app bool
		// executors are the roles granted EXECUTE other than the owner,
		// park_app and PUBLIC.
		executors []string
	}
	rows, err = q.Query(ctx, `
		select p.oid::regprocedure::text, pg_get_userbyid(p.proowner), coalesce(p.proconfig, '{}'),
		       p.proacl is null or exists (select 1 from aclexplode(p.proacl) a where a.grantee = 0 and a.privilege_type = 'EXECUTE'),
		       has_function_privilege('park_app', p.oid, 'EXECUTE'),
		       array(select distinct pg_get_userbyid(a.grantee) from aclexplode(p.proacl) a
		              where a.grantee not in (0, p.proowner) and pg_get_userbyid(a.grantee) <> 'park_app'
		              order by 1)
		  from pg_proc p join pg_namespace n on n.oid = p.pronamespace
		 where p.prosecdef and n.nspname not in ('pg_catalog', 'information_schema')
		 order by 1`)
	if err != nil {
		return nil, fmt.Errorf("catalog functions: %w", err)
	}
	definers, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (definer, error) {
		var d definer
		err := r.Scan(&d.name, &d.owner, &d.config, &d.publicExec, &d.app, &d.executors)
		return d, err
	})
	if err != nil {
		return nil, fmt.Errorf("catalog functions: %w", err)
	}
	maintOwned := map[string]bool{}
	for _, d := range definers {
		if d.owner == "park_maint" {
			maintOwned[d.name] = true
			if !slices.Contains(MaintFunctions, d.name) {
				add("function %s: owned by park_maint but not one of its functions (migrations.MaintFunctions)", d.name)
			}
			for _, e := range d.executors {
				add("function %s: executable by %s; park_maint's functions are for park_app alone", d.name, e)
			}
		}
		switch {
		case d.owner == "park_maint" && !strings.HasSuffix(d.name, "()"):
			add("function %s: park_maint's SECURITY DEFINER functions take no parameters", d.name)
		case d.owner != "park_auth" && d.owner != "park_maint":
			add("function %s: SECURITY DEFINER owned by %s, not park_auth or park_maint", d.name, d.owner)
		}
		if !slices.Contains(d.config, "search_path=pg_catalog, pg_temp") {
			add("function %s: SECURITY DEFINER without search_path = pg_catalog, pg_temp", d.name)
		}
		if d.publicExec {
			add("function %s: SECURITY DEFINER executable by PUBLIC", d.name)
		}
		if !d.app {
			add("function %s: SECURITY DEFINER not executable by park_app", d.name)
		}
	}

	for _, f := range MaintFunctions {
		if !maintOwned[f] {
			add("function %s: missing, or not a SECURITY DEFINER function of park_maint", f)
		}
	}
	maintProblems, err := checkMaintRole(ctx, q)
	if err != nil {
		return nil, err
	}
	problems = append(problems, maintProblems...)

	grants, err := usersGrants(ctx, q)
	if err != nil {
		return nil, err
	}
	for _, role := range slices.Sorted(maps.Keys(UsersGrants)) {
		want, got := UsersGrants[role], grants[role]
		for _, g := range got {
			if !slices.Contains(want, g) {
				add("table public.users: %s holds %s, beyond what it may hold", role, g)
			}
		}
		for _, w := range want {
			if !slices.Contains(got, w) {
				add("table public.users: %s lacks %s", role, w)
			}
		}
	}

	opsGrants, err := opsWriteGrants(ctx, q)
	if err != nil {
		return nil, err
	}
	for _, g := range opsGrants {
		if !slices.Contains(OpsWriteGrants, g) {
			add("park_ops holds %s, beyond what it may hold", g)
		}
	}
	for _, w := range OpsWriteGrants {
		if !slices.Contains(opsGrants, w) {
			add("park_ops lacks %s", w)
		}
	}

	// Deleting a tenant deletes its tenants row only (tenancy.Ops.
	// TenantDelete); the cascades must reach every row of the tenant.
	rows, err = q.Query(ctx, `
		select n.nspname || '.' || c.relname
		  from pg_class c join pg_namespace n on n.oid = c.relnamespace
		  join pg_attribute a on a.attrelid = c.oid and a.attname = 'tenant_id' and not a.attisdropped
		 where c.relkind in ('r', 'p') and not c.relispartition and n.nspname = 'public'
		   and not exists (
		       select 1 from pg_constraint k
		         join pg_class p on p.oid = k.confrelid
		         join pg_attribute pa on pa.attrelid = k.confrelid
		              and pa.attnum = k.confkey[array_position(k.conkey, a.attnum)]
		        where k.conrelid = c.oid and k.contype = 'f' and k.confdeltype = 'c'
		          and ((p.relname = 'tenants' and pa.attname = 'id') or pa.attname = 'tenant_id'))
		 order by 1`)
	if err != nil {
		return nil, fmt.Errorf("catalog tenant cascades: %w", err)
	}
	uncascaded, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("catalog tenant cascades: %w", err)
	}
	for _, u := range uncascaded {
		if slices.Contains(LookupTables, u) {
			continue
		}
		add("table %s: no foreign key on tenant_id with ON DELETE CASCADE to tenants or a tenant table, so deleting a tenant would leave its rows", u)
	}

	var volatility string
	err = q.QueryRow(ctx, `select p.provolatile::text from pg_proc p join pg_namespace n on n.oid = p.pronamespace
		where n.nspname = 'public' and p.proname = 'app_tenant_id'`).Scan(&volatility)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		add("function public.app_tenant_id(): missing")
	case err != nil:
		return nil, fmt.Errorf("catalog app_tenant_id: %w", err)
	case volatility != "s":
		add("function public.app_tenant_id(): must be STABLE (is %q)", map[string]string{"i": "IMMUTABLE", "v": "VOLATILE"}[volatility])
	}

	rows, err = q.Query(ctx, `
		select kind || ' ' || name from (
		  select 'relation' kind, c.oid::regclass::text name, c.relowner owner
		    from pg_class c join pg_namespace n on n.oid = c.relnamespace
		   where n.nspname in ('public', 'auth') and c.relkind in ('v','m','S','f')
		  union all
		  select 'function', p.oid::regprocedure::text, p.proowner
		    from pg_proc p join pg_namespace n on n.oid = p.pronamespace
		   where n.nspname in ('public', 'auth') and not p.prosecdef
		     and not exists (select 1 from pg_depend d where d.objid = p.oid and d.deptype = 'e')
		  union all
		  select 'schema', n.nspname, n.nspowner from pg_namespace n where n.nspname in ('auth', 'maint')
		) o where pg_get_userbyid(owner) <> 'park_owner'
		order by 1`)
	if err != nil {
		return nil, fmt.Errorf("catalog owners: %w", err)
	}
	owned, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("catalog owners: %w", err)
	}
	for _, o := range owned {
		add("%s: not owned by park_owner", o)
	}

	citus, err := checkCitus(ctx, q)
	if err != nil {
		return nil, err
	}
	problems = append(problems, citus...)

	appProblems, err := CheckAppRole(ctx, q)
	if err != nil {
		return nil, err
	}
	return append(problems, appProblems...), nil
}

// usersGrants reads the privileges granted directly on public.users, table
// and column, to the roles of UsersGrants, as "PRIV" or "PRIV (column)",
// sorted.
func usersGrants(ctx context.Context, q Querier) (map[string][]string, error) {
	rows, err := q.Query(ctx, `
		with acl as (
		  select a.grantee, a.privilege_type, null::name col
		    from pg_class c, aclexplode(c.relacl) a
		   where c.oid = to_regclass('public.users')
		  union all
		  select a.grantee, a.privilege_type, att.attname
		    from pg_attribute att, aclexplode(att.attacl) a
		   where att.attrelid = to_regclass('public.users') and not att.attisdropped
		)
		select case when grantee = 0 then 'PUBLIC' else pg_get_userbyid(grantee) end,
		       privilege_type || coalesce(' (' || col || ')', '')
		  from acl order by 1, 2`)
	if err != nil {
		return nil, fmt.Errorf("catalog users grants: %w", err)
	}
	out := map[string][]string{}
	var role, grant string
	_, err = pgx.ForEachRow(rows, []any{&role, &grant}, func() error {
		if _, ok := UsersGrants[role]; ok {
			out[role] = append(out[role], grant)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("catalog users grants: %w", err)
	}
	return out, nil
}

// opsWriteGrants reads the privileges other than SELECT that park_ops
// holds directly on the relations of schema public, table-wide and per
// column, in the form of OpsWriteGrants, sorted.
func opsWriteGrants(ctx context.Context, q Querier) ([]string, error) {
	rows, err := q.Query(ctx, `
		with rel as (
		  select c.oid, c.relname, c.relacl from pg_class c join pg_namespace n on n.oid = c.relnamespace
		   where n.nspname = 'public' and c.relkind in ('r', 'p', 'v', 'm', 'f')
		), acl as (
		  select rel.relname, a.grantee, a.privilege_type, null::name col
		    from rel, aclexplode(rel.relacl) a
		  union all
		  select rel.relname, a.grantee, a.privilege_type, att.attname
		    from rel join pg_attribute att on att.attrelid = rel.oid and not att.attisdropped,
		         aclexplode(att.attacl) a
		)
		select relname || ': ' || privilege_type || coalesce(' (' || col || ')', '')
		  from acl
		 where grantee = (select oid from pg_roles where rolname = 'park_ops') and privilege_type <> 'SELECT'
		 order by 1`)
	if err != nil {
		return nil, fmt.Errorf("catalog park_ops grants: %w", err)
	}
	grants, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("catalog park_ops grants: %w", err)
	}
	return grants, nil
}

// checkMaintRole reports what park_maint holds beyond MaintGrants (or
// lacks of them), and whether it is more than a NOLOGIN role of its own:
// a superuser, BYPASSRLS, or a member of another role, whose privileges
// its functions would then carry.
func checkMaintRole(ctx context.Context, q Querier) ([]string, error) {
	var problems []string
	var exists, super, bypass bool
	err := q.QueryRow(ctx, `select true, rolsuper, rolbypassrls from pg_roles where rolname = 'park_maint'`).Scan(&exists, &super, &bypass)
	if errors.Is(err, pgx.ErrNoRows) {
		return []string{"role park_maint: missing (run parkctl db bootstrap)"}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("inspect park_maint: %w", err)
	}
	if super {
		problems = append(problems, "role park_maint: is a superuser")
	}
	if bypass {
		problems = append(problems, "role park_maint: bypasses row-level security")
	}
	rows, err := q.Query(ctx, `
		select pg_get_userbyid(m.roleid) from pg_auth_members m
		 where m.member = (select oid from pg_roles where rolname = 'park_maint')
		 order by 1`)
	if err != nil {
		return nil, fmt.Errorf("inspect park_maint: %w", err)
	}
	member, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("inspect park_maint: %w", err)
	}
	for _, m := range member {
		problems = append(problems, "role park_maint: is a member of "+m)
	}

	rows, err = q.Query(ctx, `
		with acl as (
		  select c.oid, a.grantee, a.privilege_type, null::name col
		    from pg_class c, aclexplode(c.relacl) a
		  union all
		  select att.attrelid, a.grantee, a.privilege_type, att.attname
		    from pg_attribute att, aclexplode(att.attacl) a
		   where not att.attisdropped
		)
		select n.nspname || '.' || c.relname, acl.privilege_type || coalesce(' (' || acl.col || ')', '')
		  from acl
		  join pg_class c on c.oid = acl.oid
		  join pg_namespace n on n.oid = c.relnamespace
		 where acl.grantee = (select oid from pg_roles where rolname = 'park_maint')
		 order by 1, 2`)
	if err != nil {
		return nil, fmt.Errorf("catalog park_maint grants: %w", err)
	}
	held := map[string][]string{}
	var table, grant string
	_, err = pgx.ForEachRow(rows, []any{&table, &grant}, func() error {
		held[table] = append(held[table], grant)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("catalog park_maint grants: %w", err)
	}
	tables := slices.Sorted(maps.Keys(held))
	for t := range maps.Keys(MaintGrants) {
		if !slices.Contains(tables, t) {
			tables = append(tables, t)
		}
	}
	slices.Sort(tables)
	for _, t := range tables {
		want, got := MaintGrants[t], held[t]
		for _, g := range got {
			if !slices.Contains(want, g) {
				problems = append(problems, fmt.Sprintf("table %s: park_maint holds %s, beyond what it may hold", t, g))
			}
		}
		for _, w := range want {
			if !slices.Contains(got, w) {
				problems = append(problems, fmt.Sprintf("table %s: park_maint lacks %s", t, w))
			}
		}
	}
	return problems, nil
}

// CheckAppRole reports what makes park_app more than the server's
// privileges: owning any object, superuser or BYPASSRLS, or membership in
// park_owner, park_ops, park_auth or park_maint.
func CheckAppRole(ctx context.Context, q Querier) ([]string, error) {
	var problems []string
	var exists, super, bypass bool
	err := q.QueryRow(ctx, `select true, rolsuper, rolbypassrls from pg_roles where rolname = 'park_app'`).Scan(&exists, &super, &bypass)
	if errors.Is(err, pgx.ErrNoRows) {
		return []string{"role park_app: missing (run parkctl db bootstrap)"}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("inspect park_app: %w", err)
	}
	if super {
		problems = append(problems, "role park_app: is a superuser")
	}
	if bypass {
		problems = append(problems, "role park_app: bypasses row-level security")
	}
	rows, err := q.Query(ctx, `
		select r.rolname from pg_roles r
		 where r.rolname in ('park_owner', 'park_ops', 'park_auth', 'park_maint')
		   and pg_has_role('park_app', r.oid, 'MEMBER')
		 order by 1`)
	if err != nil {
		return nil, fmt.Errorf("inspect park_app: %w", err)
	}
	member, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("inspect park_app: %w", err)
	}
	for _, m := range member {
		problems = append(problems, "role park_app: is a member of "+m)
	}
	rows, err = q.Query(ctx, `
		select kind || ' ' || name from (
		  select 'relation' kind, c.oid::regclass::text name from pg_class c
		   where c.relowner = (select oid from pg_roles where rolname = 'park_app')
		  union all
		  select 'function', p.oid::regprocedure::text from pg_proc p
		   where p.proowner = (select oid from pg_roles where rolname = 'park_app')
		  union all
		  select 'schema', n.nspname from pg_namespace n
		   where n.nspowner = (select oid from pg_roles where rolname = 'park_app')
		  union all
		  select 'type', t.oid::regtype::text from pg_type t
		   where t.typowner = (select oid from pg_roles where rolname = 'park_app')
		  union all
		  select 'database', d.datname from pg_database d
		   where d.datdba = (select oid from pg_roles where rolname = 'park_app')
		) o order by 1`)
	if err != nil {
		return nil, fmt.Errorf("inspect park_app: %w", err)
	}
	owns, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("inspect park_app: %w", err)
	}
	for _, o := range owns {
		problems = append(problems, "role park_app: owns "+strings.TrimSpace(o))
	}
	return problems, nil
}
