package httpapi

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/parkhq/park/internal/pgbouncertest"
	"github.com/parkhq/park/internal/pgtest"
	"github.com/parkhq/park/tenancy"
)

// newE2EThroughPgBouncer serves the API from a park_server pool through
// entry of a PgBouncer in transaction mode, in pgx's exec mode, as parkd
// runs behind one in production.
func newE2EThroughPgBouncer(t *testing.T, entry pgbouncertest.Entry, opts ...tenancy.StoreOption) *e2e {
	t.Helper()
	db := pgtest.NewDB(t)
	b := pgbouncertest.New(t, db)
	return newE2EOn(t, db, b.ServerPool(t, entry, 8), opts...)
}

// ownSitesOnly checks that own's site list holds own's site and nothing of
// other's, and that the server connection holds nothing the last request
// left behind (noLeftovers).
func (e *e2e) ownSitesOnly(t *testing.T, own, other *world, when string) {
	t.Helper()
	e.noLeftovers(t, when)
	w := e.do(t, "GET", "/api/v1/sites", own.token, "")
	if w.Code != 200 || !strings.Contains(w.Body.String(), own.site) {
		t.Errorf("%s: %s lists its sites: %d %s", when, own.slug, w.Code, w.Body)
		return
	}
	for _, s := range append([]string{"B site"}, other.secrets...) {
		if strings.Contains(w.Body.String(), s) {
			t.Errorf("%s: %s's site list carries %s's %q: %s", when, own.slug, other.slug, s, w.Body)
		}
	}
}

// TestIsolationMatrixThroughPgBouncer runs the isolation matrix through
// PgBouncer's pool-1 entry, tenant A's reads interleaved with B's attempts:
// every transaction of both tenants, and every authentication lookup, runs
// on one server connection in turn, so a tenant, role or statement left on
// it by one would reach the next.
func TestIsolationMatrixThroughPgBouncer(t *testing.T) {
	t.Parallel()
	isolationMatrix(t, newE2EThroughPgBouncer(t, pgbouncertest.Single), true)
}

// TestIsolationMatrixSetLocal runs the isolation matrix with the tenant
// prologue of a Citus coordinator (SET LOCAL app.tenant_id), directly and
// through PgBouncer's pool-1 entry (exec mode, every tenant on one server
// connection in turn).
func TestIsolationMatrixSetLocal(t *testing.T) {
	t.Parallel()
	t.Run("direct", func(t *testing.T) {
		t.Parallel()
		db := pgtest.NewDB(t)
		isolationMatrix(t, newE2EOn(t, db, db.ServerPool(t, 8), tenancy.WithTenantPrologue(tenancy.PrologueSetLocal)), false)
	})
	t.Run("pgbouncer", func(t *testing.T) {
		t.Parallel()
		isolationMatrix(t, newE2EThroughPgBouncer(t, pgbouncertest.Single, tenancy.WithTenantPrologue(tenancy.PrologueSetLocal)), true)
	})
}

// TestWritesThroughPgBouncer: every audited write of the API succeeds
// through PgBouncer in exec mode (issue 8 item 16: POST /api/v1/sites
// answered 500 because the audit insert passed a Go map for jsonb, which
// exec mode cannot encode), and each leaves its audit event.
func TestWritesThroughPgBouncer(t *testing.T) {
	t.Parallel()
	e := newE2EThroughPgBouncer(t, pgbouncertest.Single)
	// Registration, POST sites, spaces, api-keys and reservations.
	a := e.makeWorld(t, "alpha")
	e.json(t, "PATCH", "/api/v1/tenants/current", a.token,
		`{"name":"Alpha Parking","settings":{"reading_retention_days":30,"webhook_token_mode":true,"occupancy":{"field":"s","occupied":[1],"free":[0]}}}`, 200)
	e.json(t, "PATCH", "/api/v1/sites/"+a.site, a.token, `{"name":"Renamed","timezone":"UTC"}`, 200)
	e.json(t, "PATCH", "/api/v1/spaces/"+a.space, a.token, `{"name":"Renamed space","sensor_eui":null}`, 200)
	e.json(t, "POST", "/api/v1/reservations/"+a.reservation+"/cancel", a.token, `{}`, 200)
	e.json(t, "DELETE", "/api/v1/api-keys/"+a.key, a.token, "", 204)
	e.json(t, "DELETE", "/api/v1/spaces/"+a.space, a.token, "", 204)
	e.json(t, "DELETE", "/api/v1/sites/"+a.site, a.token, "", 204)

	rows, err := e.admin.Query(context.Background(), `select action from audit_events where tenant_id = $1`, a.tenant)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for rows.Next() {
		var action string
		if err := rows.Scan(&action); err != nil {
			t.Fatal(err)
		}
		got[action]++
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for _, action := range []string{"site.create", "site.update", "site.delete", "space.create", "space.update", "space.delete",
		"api_key.create", "api_key.revoke", "reservation.create", "reservation.cancel", "tenant.update"} {
		if got[action] != 1 {
			t.Errorf("%d %s events, want 1 (all: %v)", got[action], action, got)
		}
	}
}

// noLeftovers runs, on the API's own pool, a transaction that takes the
// role park_app but sets no tenant, as a code path without the Store's
// prologue would. It must run as park_server, find no tenant set and see
// no row of any tenant. Through the pool-1 entry it meets the server
// connection every request used, so a role or tenant some request set for
// the session rather than its transaction shows here.
func (e *e2e) noLeftovers(t *testing.T, when string) {
	t.Helper()
	ctx := context.Background()
	var user, tenant string
	var rows int
	err := pgx.BeginFunc(ctx, e.server, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `select current_user, coalesce(current_setting('app.tenant_id', true), '')`).Scan(&user, &tenant); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `select set_config('role', 'park_app', true)`); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `select (select count(*) from tenants) + (select count(*) from sites) +
			(select count(*) from spaces) + (select count(*) from reservations) + (select count(*) from api_keys)`).Scan(&rows)
	})
	if err != nil {
		t.Fatalf("%s: probe of the server connection: %v", when, err)
	}
	if user != "park_server" || tenant != "" || rows != 0 {
		t.Errorf("%s: the next transaction runs as %s with app.tenant_id %q and sees %d rows; want park_server, none, 0",
			when, user, tenant, rows)
	}
}
