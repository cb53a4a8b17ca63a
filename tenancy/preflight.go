package tenancy

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// PreflightOptions tune Preflight.
type PreflightOptions struct {
	// AllowPrivilegedLogin turns the problems of a privileged login role
	// (superuser, BYPASSRLS, member of park_owner, park_ops or park_auth)
	// into warnings. parkd sets it from PARKD_ALLOW_PRIVILEGED_DB_LOGIN.
	AllowPrivilegedLogin bool
}

// PreflightError lists everything Preflight found wrong.
type PreflightError struct {
	// Privileged lists the problems of the login role that
	// AllowPrivilegedLogin would have accepted.
	Privileged []string
	// Problems lists the problems nothing overrides: a broken prologue,
	// a park_app that owns or bypasses something, a database that is not
	// bootstrapped or migrated.
	Problems []string
}

// Error joins every problem on one line; parkd prints them one per line.
func (e *PreflightError) Error() string {
	all := append(append([]string{}, e.Privileged...), e.Problems...)
	return "database preflight: " + strings.Join(all, "; ")
}

// Preflight checks, on one connection of the Store's pool, that tenant
// isolation holds on this database before parkd serves anything:
//
//   - the login role is not a superuser, has no BYPASSRLS, and is not a
//     member (directly or through other roles) of park_owner, park_ops or
//     park_auth — unless opts.AllowPrivilegedLogin, when each of these
//     becomes a warning;
//   - park_app exists, is neither superuser nor BYPASSRLS, is a member of
//     none of those roles, and owns nothing in this database or the
//     cluster's shared catalogs (pg_shdepend records every ownership of a
//     non-bootstrap role: tables, functions, schemas, types, databases, …);
//   - the database is migrated;
//   - the prologue of InTenantTx works: inside the transaction current_user
//     is park_app and app.tenant_id is the tenant; in the next transaction on
//     the same connection both are gone. The same holds for InTenantBatch.
//
// It returns the warnings to log on every start, and a *PreflightError
// listing every problem found. Behind PgBouncer in transaction mode the
// "next transaction" may run on another server connection, which makes that
// one check weaker but not wrong.
func (s *Store) Preflight(ctx context.Context, opts PreflightOptions) (warnings []string, err error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, InterpretError(fmt.Errorf("connect: %w", err))
	}
	defer conn.Release()
	c := conn.Conn()

	var pe PreflightError
	login, err := loginFacts(ctx, c)
	if err != nil {
		return nil, InterpretError(fmt.Errorf("inspect login role: %w", err))
	}
	for _, m := range []string{"park_owner", "park_app", "park_ops", "park_auth"} {
		if !login.exists[m] {
			pe.Problems = append(pe.Problems, fmt.Sprintf("role %s does not exist: bootstrap the cluster first (parkctl db bootstrap)", m))
		}
	}
	var priv []string
	switch {
	case login.super:
		priv = append(priv, fmt.Sprintf("login role %q is a superuser, which bypasses row-level security", login.name))
	default:
		if login.bypassRLS {
			priv = append(priv, fmt.Sprintf("login role %q has BYPASSRLS", login.name))
		}
		for _, m := range []string{"park_owner", "park_ops", "park_auth"} {
			if login.memberOf[m] {
				priv = append(priv, fmt.Sprintf("login role %q is a member of %s", login.name, m))
			}
		}
	}
	if opts.AllowPrivilegedLogin {
		for _, p := range priv {
			warnings = append(warnings, p+" (allowed by configuration)")
		}
	} else {
		pe.Privileged = priv
	}
	if login.exists["park_app"] && !login.super && !login.memberOf["park_app"] {
		pe.Problems = append(pe.Problems, fmt.Sprintf("login role %q is not a member of park_app, so it cannot SET ROLE park_app", login.name))
	}
	if login.exists["park_app"] && !login.super && login.inheritsApp {
		warnings = append(warnings, fmt.Sprintf("login role %q inherits park_app's privileges; make it NOINHERIT so a statement outside a tenant transaction fails instead of seeing nothing", login.name))
	}

	if login.exists["park_app"] {
		probs, err := appRoleProblems(ctx, c)
		if err != nil {
			return nil, InterpretError(fmt.Errorf("inspect park_app: %w", err))
		}
		pe.Problems = append(pe.Problems, probs...)
	}

	var migrated bool
	if err := c.QueryRow(ctx, `select to_regprocedure('app_tenant_id()') is not null and to_regclass('tenants') is not null`).Scan(&migrated); err != nil {
		return nil, InterpretError(fmt.Errorf("inspect schema: %w", err))
	}
	if !migrated {
		pe.Problems = append(pe.Problems, "the database is not migrated (no app_tenant_id() or tenants): run parkd migrate up")
	}

	// The prologue needs park_app and a login allowed to switch to it;
	// without them the earlier problems already say why.
	if login.exists["park_app"] && (login.super || login.memberOf["park_app"]) {
		pe.Problems = append(pe.Problems, s.prologueProblems(ctx, c, login.currentUser)...)
	}

	if len(pe.Privileged) > 0 || len(pe.Problems) > 0 {
		return warnings, &pe
	}
	return warnings, nil
}

type loginInfo struct {
	name, currentUser string
	super, bypassRLS  bool
	inheritsApp       bool
	exists            map[string]bool
	memberOf          map[string]bool
}

// loginFacts reads the login (session) role's attributes and memberships.
// pg_has_role(…, 'MEMBER') follows memberships through other roles and
// ignores INHERIT, which is what matters here: a member can SET ROLE.
func loginFacts(ctx context.Context, c *pgx.Conn) (*loginInfo, error) {
	li := &loginInfo{exists: map[string]bool{}, memberOf: map[string]bool{}}
	if err := c.QueryRow(ctx, `
select session_user, current_user, r.rolsuper, r.rolbypassrls,
       coalesce(pg_has_role(session_user, to_regrole('park_app'), 'USAGE'), false)
  from pg_roles r
 where r.rolname = session_user`).Scan(&li.name, &li.currentUser, &li.super, &li.bypassRLS, &li.inheritsApp); err != nil {
		return nil, err
	}
	rows, err := c.Query(ctx, `
select g.name, to_regrole(g.name) is not null,
       coalesce(pg_has_role(session_user, to_regrole(g.name), 'MEMBER'), false)
  from unnest($1::text[]) as g(name)`, []string{"park_owner", "park_app", "park_ops", "park_auth"})
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var name string
		var exists, member bool
		if err := rows.Scan(&name, &exists, &member); err != nil {
			return nil, err
		}
		li.exists[name], li.memberOf[name] = exists, member
	}
	return li, rows.Err()
}

// appRoleProblems checks that park_app bypasses nothing and owns nothing.
func appRoleProblems(ctx context.Context, c *pgx.Conn) ([]string, error) {
	var probs []string
	var super, bypass bool
	var memberOf []string
	if err := c.QueryRow(ctx, `
select r.rolsuper, r.rolbypassrls,
       array(select g from unnest(array['park_owner', 'park_ops', 'park_auth']) g
              where to_regrole(g) is not null and pg_has_role(r.oid, to_regrole(g), 'MEMBER'))
  from pg_roles r
 where r.rolname = 'park_app'`).Scan(&super, &bypass, &memberOf); err != nil {
		return nil, err
	}
	if super {
		probs = append(probs, "role park_app is a superuser")
	}
	if bypass {
		probs = append(probs, "role park_app has BYPASSRLS")
	}
	for _, m := range memberOf {
		probs = append(probs, "role park_app is a member of "+m)
	}

	// Objects of this database (dbid = its oid) and shared objects such as
	// databases and tablespaces (dbid = 0). pg_describe_object works for
	// both; objects of other databases cannot be described from here and do
	// not concern this server.
	rows, err := c.Query(ctx, `
select pg_describe_object(d.classid, d.objid, d.objsubid)
  from pg_shdepend d
 where d.refclassid = 'pg_authid'::regclass
   and d.refobjid = to_regrole('park_app')
   and d.deptype = 'o'
   and d.dbid in (0, (select oid from pg_database where datname = current_database()))
 order by 1`)
	if err != nil {
		return nil, err
	}
	owned, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	if len(owned) > 0 {
		const show = 10
		list := owned
		if len(list) > show {
			list = append(list[:show:show], fmt.Sprintf("and %d more", len(owned)-show))
		}
		probs = append(probs, "role park_app owns objects, and an owner may bypass or change their policies: "+
			strings.Join(list, ", ")+" (ALTER … OWNER TO park_owner)")
	}
	return probs, nil
}

// prologueProblems runs both prologues on c, as the Store sends them
// (s.Prologue), and checks their scope.
func (s *Store) prologueProblems(ctx context.Context, c *pgx.Conn, sessionRole string) []string {
	var probs []string
	probe := uuid.New()
	check := func(what string, user, tenant string) {
		if user != AppRole {
			probs = append(probs, fmt.Sprintf("%s: current_user is %q, want %s", what, user, AppRole))
		}
		if tenant != probe.String() {
			probs = append(probs, fmt.Sprintf("%s: app.tenant_id is %q, want %s", what, tenant, probe))
		}
	}
	checkGone := func(what string) {
		var user, tenant string
		if err := c.QueryRow(ctx, `select current_user, coalesce(current_setting('app.tenant_id', true), '')`).Scan(&user, &tenant); err != nil {
			probs = append(probs, fmt.Sprintf("after %s: %v", what, InterpretError(err)))
			return
		}
		if user != sessionRole {
			probs = append(probs, fmt.Sprintf("after %s: current_user is still %q, want %q: the role leaked out of the transaction", what, user, sessionRole))
		}
		if tenant != "" {
			probs = append(probs, fmt.Sprintf("after %s: app.tenant_id is still %q: the tenant leaked out of the transaction", what, tenant))
		}
	}

	var user, tenant string
	err := inTx(ctx, c, func(b *pgx.Batch) { s.queueTenantPrologue(b, probe) }, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `select current_user, coalesce(current_setting('app.tenant_id', true), '')`).Scan(&user, &tenant)
	})
	if err != nil {
		return append(probs, fmt.Sprintf("tenant transaction prologue: %v", err))
	}
	check("inside a tenant transaction", user, tenant)
	checkGone("a tenant transaction")

	b := &pgx.Batch{}
	b.Queue(`select current_user, coalesce(current_setting('app.tenant_id', true), '')`).QueryRow(func(r pgx.Row) error {
		return r.Scan(&user, &tenant)
	})
	if err := s.tenantBatch(ctx, c, probe, b); err != nil {
		return append(probs, fmt.Sprintf("tenant batch prologue: %v", err))
	}
	check("inside a tenant batch", user, tenant)
	checkGone("a tenant batch")
	return probs
}
