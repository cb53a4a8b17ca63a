package tenancy_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parkhq/park/tenancy"
)

// sqlRecorder is a pgx tracer that records every statement a connection
// sends, in batches or alone.
type sqlRecorder struct {
	mu  sync.Mutex
	sql []string
}

func (r *sqlRecorder) add(sql string) {
	r.mu.Lock()
	r.sql = append(r.sql, sql)
	r.mu.Unlock()
}

func (r *sqlRecorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.sql
	r.sql = nil
	return s
}

func (r *sqlRecorder) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	r.add(d.SQL)
	return ctx
}
func (r *sqlRecorder) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
func (r *sqlRecorder) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	return ctx
}
func (r *sqlRecorder) TraceBatchQuery(_ context.Context, _ *pgx.Conn, d pgx.TraceBatchQueryData) {
	r.add(d.SQL)
}
func (r *sqlRecorder) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

// TestTenantPrologues: both prologues — set_config with a bind parameter
// (the default) and SET LOCAL with the tenant written in (Citus) — set
// the same setting, app.tenant_id, to the tenant for exactly the
// transaction, in InTenantTx, InTenantBatch and InTenantTxBatches, in
// pgx's statement-cache and exec modes (the latter PgBouncer's); a failed
// batch leaves the connection clean; Preflight accepts both. The recorded
// statements show which prologue ran.
func TestTenantPrologues(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tenant := b.newTenant(t)
	for _, prologue := range tenancy.TenantPrologues() {
		for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeCacheStatement, pgx.QueryExecModeExec} {
			t.Run(string(prologue)+"/"+mode.String(), func(t *testing.T) {
				ctx := ctxT(t)
				cfg, err := pgxpool.ParseConfig(b.db.ServerURL)
				if err != nil {
					t.Fatal(err)
				}
				cfg.MaxConns = 1 // "the next statement" runs on the same connection
				cfg.ConnConfig.DefaultQueryExecMode = mode
				rec := &sqlRecorder{}
				cfg.ConnConfig.Tracer = rec
				// SET LOCAL outside a transaction block only warns, and
				// Citus passes it on only inside one.
				var notices []string
				var mu sync.Mutex
				cfg.ConnConfig.OnNotice = func(_ *pgconn.PgConn, n *pgconn.Notice) {
					mu.Lock()
					notices = append(notices, n.Message)
					mu.Unlock()
				}
				defer func() {
					mu.Lock()
					defer mu.Unlock()
					if len(notices) > 0 {
						t.Errorf("notices: %q", notices)
					}
				}()
				pool, err := pgxpool.NewWithConfig(ctx, cfg)
				if err != nil {
					t.Fatal(err)
				}
				defer pool.Close()
				store := tenancy.NewStore(pool, tenancy.WithTenantPrologue(prologue))
				if store.Prologue() != prologue {
					t.Fatalf("Prologue() = %s", store.Prologue())
				}
				outside := func(what string, pid uint32) {
					t.Helper()
					var s scope
					if err := pool.QueryRow(ctx, scopeSQL).Scan(&s.pid, &s.user, &s.tenant); err != nil {
						t.Fatalf("after %s: %v", what, err)
					}
					if s.pid != pid {
						t.Fatalf("after %s: backend %d, not %d: the check proves nothing", what, s.pid, pid)
					}
					if s.user != "park_server" || s.tenant != "" {
						t.Errorf("after %s: user %q tenant %q leaked", what, s.user, s.tenant)
					}
				}
				// The prologue ran as selected: the tenant written into a
				// SET LOCAL, or passed to set_config, never both.
				sawPrologue := func(what string) {
					t.Helper()
					setLocal, setConfig := false, false
					for _, s := range rec.take() {
						setLocal = setLocal || s == "SET LOCAL app.tenant_id = '"+tenant.String()+"'"
						setConfig = setConfig || strings.Contains(s, "set_config('app.tenant_id', $1, true)")
					}
					if want := prologue == tenancy.PrologueSetLocal; setLocal != want || setConfig == want {
						t.Errorf("%s: SET LOCAL sent %v, set_config sent %v; want the %s prologue", what, setLocal, setConfig, prologue)
					}
				}
				check := func(what string, in scope, fromFunc uuid.UUID) {
					t.Helper()
					if in.user != "park_app" || in.tenant != tenant.String() || fromFunc != tenant {
						t.Errorf("%s: user %q, app.tenant_id %q, app_tenant_id() %s; want park_app and %s", what, in.user, in.tenant, fromFunc, tenant)
					}
					sawPrologue(what)
					outside(what, in.pid)
				}
				const inSQL = scopeSQL + `, app_tenant_id()`

				var in scope
				var fromFunc uuid.UUID
				rec.take()
				err = store.InTenantTx(ctx, tenant, func(tx pgx.Tx) error {
					return tx.QueryRow(ctx, inSQL).Scan(&in.pid, &in.user, &in.tenant, &fromFunc)
				})
				if err != nil {
					t.Fatal(err)
				}
				check("InTenantTx", in, fromFunc)

				var batch pgx.Batch
				var slug string
				batch.Queue(inSQL).QueryRow(func(r pgx.Row) error { return r.Scan(&in.pid, &in.user, &in.tenant, &fromFunc) })
				batch.Queue(`select slug from tenants`).QueryRow(func(r pgx.Row) error { return r.Scan(&slug) })
				if err := store.InTenantBatch(ctx, tenant, &batch); err != nil {
					t.Fatal(err)
				}
				check("InTenantBatch", in, fromFunc)
				if slug != "t-"+tenant.String()[:8] {
					t.Errorf("InTenantBatch: row-level security shows tenant %q", slug)
				}

				first := &pgx.Batch{}
				first.Queue(inSQL).QueryRow(func(r pgx.Row) error { return r.Scan(&in.pid, &in.user, &in.tenant, &fromFunc) })
				if err := store.InTenantTxBatches(ctx, tenant, first, func() (*pgx.Batch, error) { return nil, nil }); err != nil {
					t.Fatal(err)
				}
				check("InTenantTxBatches", in, fromFunc)

				// A batch that fails half-way writes nothing, and the
				// connection comes back clean and usable.
				before := b.siteCount(t, tenant)
				batch = pgx.Batch{}
				batch.Queue(inSQL).QueryRow(func(r pgx.Row) error { return r.Scan(&in.pid, &in.user, &in.tenant, &fromFunc) })
				batch.Queue(`insert into sites (tenant_id, id, name, timezone) values ($1::uuid, $2::uuid, 'dup', 'UTC')`, tenant, uuid.New())
				batch.Queue(`insert into sites (tenant_id, id, name, timezone) values ($1::uuid, $2::uuid, 'dup', 'UTC')`, tenant, uuid.New())
				if err := store.InTenantBatch(ctx, tenant, &batch); !errors.Is(err, tenancy.ErrConflict) {
					t.Fatalf("failing batch: %v, want a conflict", err)
				}
				if n := b.siteCount(t, tenant); n != before {
					t.Errorf("failing batch left %d sites, had %d", n, before)
				}
				check("a failed InTenantBatch", in, fromFunc)

				if _, err := store.Preflight(ctx, tenancy.PreflightOptions{}); err != nil {
					t.Errorf("preflight: %v", err)
				}
			})
		}
	}
}
