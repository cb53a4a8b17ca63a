package tenancy_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parkhq/park/internal/pgtest"
	"github.com/parkhq/park/tenancy"
)

// bundle is what most store tests need: a fresh database, a one-connection
// park_server pool (so "the next transaction" is on the same connection)
// and a superuser pool to arrange and inspect.
type bundle struct {
	db     *pgtest.DB
	server *pgxpool.Pool
	admin  *pgxpool.Pool
	store  *tenancy.Store
}

func setup(t *testing.T) *bundle {
	t.Helper()
	db := pgtest.NewDB(t)
	server := db.ServerPool(t, 1)
	return &bundle{db: db, server: server, admin: db.AdminPool(t), store: tenancy.NewStore(server)}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// newTenant inserts a tenant as the superuser.
func (b *bundle) newTenant(t *testing.T) uuid.UUID {
	t.Helper()
	id := uuid.New()
	slug := "t-" + id.String()[:8]
	if _, err := b.admin.Exec(ctxT(t), `insert into tenants (id, name, slug) values ($1, $2, $3)`, id, slug, slug); err != nil {
		t.Fatal(err)
	}
	return id
}

type scope struct {
	pid    uint32
	user   string
	tenant string
}

const scopeSQL = `select pg_backend_pid(), current_user, coalesce(current_setting('app.tenant_id', true), '')`

// outside reads the scope of a statement outside any Store transaction.
func (b *bundle) outside(t *testing.T) scope {
	t.Helper()
	var s scope
	if err := b.server.QueryRow(ctxT(t), scopeSQL).Scan(&s.pid, &s.user, &s.tenant); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestInTenantTxScopesRoleAndTenant(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := ctxT(t)
	tenant := b.newTenant(t)

	var in scope
	var fromFunc uuid.UUID
	err := b.store.InTenantTx(ctx, tenant, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, scopeSQL).Scan(&in.pid, &in.user, &in.tenant); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `select app_tenant_id()`).Scan(&fromFunc)
	})
	if err != nil {
		t.Fatal(err)
	}
	if in.user != "park_app" || in.tenant != tenant.String() || fromFunc != tenant {
		t.Fatalf("inside: user %q tenant %q app_tenant_id %s; want park_app and %s", in.user, in.tenant, fromFunc, tenant)
	}
	out := b.outside(t)
	if out.pid != in.pid {
		t.Fatalf("the next statement ran on backend %d, not %d: the test proves nothing", out.pid, in.pid)
	}
	if out.user != "park_server" || out.tenant != "" {
		t.Fatalf("after the transaction: user %q tenant %q leaked; want park_server and none", out.user, out.tenant)
	}
}

func TestInTenantBatchScopesRoleAndTenant(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := ctxT(t)
	tenant := b.newTenant(t)

	var in scope
	var name string
	var batch pgx.Batch
	batch.Queue(scopeSQL).QueryRow(func(r pgx.Row) error { return r.Scan(&in.pid, &in.user, &in.tenant) })
	// RLS is in force: the tenant row is visible because the tenant is set.
	batch.Queue(`select slug from tenants`).QueryRow(func(r pgx.Row) error { return r.Scan(&name) })
	if err := b.store.InTenantBatch(ctx, tenant, &batch); err != nil {
		t.Fatal(err)
	}
	if in.user != "park_app" || in.tenant != tenant.String() {
		t.Fatalf("inside: user %q tenant %q; want park_app and %s", in.user, in.tenant, tenant)
	}
	if !strings.HasPrefix(name, "t-") {
		t.Fatalf("tenant row not visible: %q", name)
	}
	out := b.outside(t)
	if out.pid != in.pid {
		t.Fatalf("the next statement ran on backend %d, not %d", out.pid, in.pid)
	}
	if out.user != "park_server" || out.tenant != "" {
		t.Fatalf("after the batch: user %q tenant %q leaked", out.user, out.tenant)
	}

	// Another tenant sees nothing of it.
	other := b.newTenant(t)
	var slugs []string
	batch = pgx.Batch{}
	batch.Queue(`select slug from tenants`).Query(func(rows pgx.Rows) error {
		var err error
		slugs, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	if err := b.store.InTenantBatch(ctx, other, &batch); err != nil {
		t.Fatal(err)
	}
	if len(slugs) != 1 || slugs[0] != "t-"+other.String()[:8] {
		t.Fatalf("tenant %s sees %v", other, slugs)
	}
}

func TestZeroTenantRefused(t *testing.T) {
	t.Parallel()
	// No database needed: the zero tenant is refused before any I/O. A nil
	// pool would panic if anything were sent.
	store := tenancy.NewStore(nil)
	called := false
	err := store.InTenantTx(context.Background(), uuid.Nil, func(pgx.Tx) error { called = true; return nil })
	if !errors.Is(err, tenancy.ErrNoTenant) || called {
		t.Fatalf("InTenantTx(zero) = %v, fn called %v", err, called)
	}
	var b pgx.Batch
	b.Queue("select 1")
	if err := store.InTenantBatch(context.Background(), uuid.Nil, &b); !errors.Is(err, tenancy.ErrNoTenant) {
		t.Fatalf("InTenantBatch(zero) = %v", err)
	}
}

func TestBatchRefusesTransactionControl(t *testing.T) {
	t.Parallel()
	store := tenancy.NewStore(nil)
	for _, sql := range []string{"COMMIT", "  begin", "-- note\nrollback", "start transaction", "END"} {
		var b pgx.Batch
		b.Queue("select 1")
		b.Queue(sql)
		if err := store.InTenantBatch(context.Background(), uuid.New(), &b); err == nil || !strings.Contains(err.Error(), "transaction control") {
			t.Errorf("%q: err = %v", sql, err)
		}
	}
	if err := store.InTenantBatch(context.Background(), uuid.New(), &pgx.Batch{}); err == nil {
		t.Error("empty batch accepted")
	}
}

func (b *bundle) siteCount(t *testing.T, tenant uuid.UUID) int {
	t.Helper()
	var n int
	if err := b.admin.QueryRow(ctxT(t), `select count(*) from sites where tenant_id = $1`, tenant).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func insertSite(ctx context.Context, tx pgx.Tx, tenant uuid.UUID, name string) error {
	_, err := tx.Exec(ctx, `insert into sites (tenant_id, id, name, timezone) values ($1, $2, $3, 'UTC')`, tenant, uuid.New(), name)
	return err
}

func TestInTenantTxRollsBack(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := ctxT(t)
	tenant := b.newTenant(t)

	boom := errors.New("boom")
	err := b.store.InTenantTx(ctx, tenant, func(tx pgx.Tx) error {
		if err := insertSite(ctx, tx, tenant, "a"); err != nil {
			return err
		}
		return fmt.Errorf("after insert: %w", boom)
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want boom", err)
	}
	if n := b.siteCount(t, tenant); n != 0 {
		t.Fatalf("%d sites after an error, want 0", n)
	}

	func() {
		defer func() {
			if r := recover(); r != "kaboom" {
				t.Fatalf("recovered %v, want the panic to pass through", r)
			}
		}()
		_ = b.store.InTenantTx(ctx, tenant, func(tx pgx.Tx) error {
			if err := insertSite(ctx, tx, tenant, "b"); err != nil {
				return err
			}
			panic("kaboom")
		})
	}()
	if n := b.siteCount(t, tenant); n != 0 {
		t.Fatalf("%d sites after a panic, want 0", n)
	}

	// The single connection went back to the pool clean both times.
	if out := b.outside(t); out.user != "park_server" || out.tenant != "" {
		t.Fatalf("after rollbacks: %+v", out)
	}
	if err := b.store.InTenantTx(ctx, tenant, func(tx pgx.Tx) error { return insertSite(ctx, tx, tenant, "c") }); err != nil {
		t.Fatal(err)
	}
	if n := b.siteCount(t, tenant); n != 1 {
		t.Fatalf("%d sites after a commit, want 1", n)
	}
}

func TestErrorsAreTranslated(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := ctxT(t)
	tenant := b.newTenant(t)
	if err := b.store.InTenantTx(ctx, tenant, func(tx pgx.Tx) error { return insertSite(ctx, tx, tenant, "dup") }); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		fn   func(tx pgx.Tx) error
		want error
		code string
	}{
		{"unique", func(tx pgx.Tx) error { return insertSite(ctx, tx, tenant, "dup") }, tenancy.ErrConflict, "23505"},
		{"no rows", func(tx pgx.Tx) error {
			var s string
			return tx.QueryRow(ctx, `select name from sites where id = $1`, uuid.New()).Scan(&s)
		}, tenancy.ErrNotFound, ""},
		{"check", func(tx pgx.Tx) error { return insertSite(ctx, tx, tenant, "") }, tenancy.ErrInvalid, "23514"},
		{"missing parent", func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `insert into spaces (tenant_id, id, site_id, code) values ($1, $2, $3, 'A1')`, tenant, uuid.New(), uuid.New())
			return err
		}, tenancy.ErrNotFound, "23503"},
		{"data exception", func(tx pgx.Tx) error { _, err := tx.Exec(ctx, `select 1/0`); return err }, tenancy.ErrInvalid, "22012"},
		{"privilege is a server bug", func(tx pgx.Tx) error { _, err := tx.Exec(ctx, `select password_hash from users`); return err }, nil, "42501"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := b.store.InTenantTx(ctx, tenant, tt.fn)
			if err == nil {
				t.Fatal("want error")
			}
			var pgErr *pgconn.PgError
			if errors.As(err, &pgErr) || errors.Is(err, pgx.ErrNoRows) {
				t.Fatalf("a pgx error leaked: %#v", err)
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			var dbErr *tenancy.DBError
			if !errors.As(err, &dbErr) {
				t.Fatalf("err %T is not a *DBError", err)
			}
			if dbErr.Code != tt.code || (tt.want == nil && dbErr.Kind != nil) {
				t.Fatalf("DBError code %q kind %v, want %q", dbErr.Code, dbErr.Kind, tt.code)
			}
		})
	}
	if out := b.outside(t); out.user != "park_server" {
		t.Fatalf("after failed transactions: %+v", out)
	}
}

func TestInTenantTxCancelled(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tenant := b.newTenant(t)
	ctx, cancel := context.WithCancel(ctxT(t))
	err := b.store.InTenantTx(ctx, tenant, func(tx pgx.Tx) error {
		cancel()
		_, err := tx.Exec(ctx, `select pg_sleep(10)`)
		return err
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		t.Fatalf("a pgx error leaked: %v", err)
	}
	// The pool's only connection is usable (or was replaced) and clean.
	if out := b.outside(t); out.user != "park_server" || out.tenant != "" {
		t.Fatalf("after cancellation: %+v", out)
	}
}

func TestOpsTx(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := ctxT(t)
	t1, t2 := b.newTenant(t), b.newTenant(t)
	opsPool, err := pgxpool.New(ctx, b.db.OpsURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(opsPool.Close)
	var user string
	var n int
	err = tenancy.NewOps(opsPool).OpsTx(ctx, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `select current_user, count(*) from tenants where id in ($1, $2)`, t1, t2).Scan(&user, &n)
	})
	if err != nil {
		t.Fatal(err)
	}
	if user != "park_ops" || n != 2 {
		t.Fatalf("OpsTx: user %q saw %d of 2 tenants", user, n)
	}

	// park_server is no member of park_ops.
	err = tenancy.NewOps(b.server).OpsTx(ctx, func(tx pgx.Tx) error { return nil })
	if err == nil {
		t.Fatal("park_server ran an ops transaction")
	}
}

func TestInterpretErrorPassesOwnErrors(t *testing.T) {
	t.Parallel()
	own := fmt.Errorf("site 7: %w", tenancy.ErrForbidden)
	if got := tenancy.InterpretError(own); got != own {
		t.Fatalf("own error changed: %v", got)
	}
	if tenancy.InterpretError(nil) != nil {
		t.Fatal("nil changed")
	}
	wrapped := fmt.Errorf("get site: %w", pgx.ErrNoRows)
	got := tenancy.InterpretError(wrapped)
	if !errors.Is(got, tenancy.ErrNotFound) || errors.Is(got, pgx.ErrNoRows) || got.Error() != wrapped.Error() {
		t.Fatalf("ErrNoRows: got %v", got)
	}
	v := &tenancy.ValidationError{}
	if v.Err() != nil {
		t.Fatal("empty ValidationError is an error")
	}
	v.Add("name", "is required")
	v.Add("email", "is not an address")
	if err := v.Err(); !errors.Is(err, tenancy.ErrInvalid) || err.Error() != "invalid input: email: is not an address; name: is required" {
		t.Fatalf("ValidationError: %v", err)
	}
}
