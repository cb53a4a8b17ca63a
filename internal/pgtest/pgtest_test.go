package pgtest_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parkhq/park/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func scalar[T any](t *testing.T, pool *pgxpool.Pool, sql string, args ...any) T {
	t.Helper()
	var v T
	if err := pool.QueryRow(context.Background(), sql, args...).Scan(&v); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return v
}

func TestNewDBIndependent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, b := pgtest.NewDB(t), pgtest.NewDB(t)
	if a.Name == b.Name {
		t.Fatalf("two databases named %s", a.Name)
	}
	pa, pb := a.AdminPool(t), b.AdminPool(t)
	if got := scalar[string](t, pa, `SELECT current_database()`); got != a.Name {
		t.Errorf("AdminURL of %s connects to %s", a.Name, got)
	}
	if _, err := pa.Exec(ctx, `CREATE TABLE only_in_a (v int)`); err != nil {
		t.Fatal(err)
	}
	if scalar[bool](t, pb, `SELECT to_regclass('only_in_a') IS NOT NULL`) {
		t.Error("a table made in one database shows in another")
	}
}

func TestCloneIsMigratedAndOwned(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	admin := db.AdminPool(t)
	for _, table := range []string{"tenants", "spaces", "reservations", "goose_db_version"} {
		owner := scalar[*string](t, admin, `SELECT pg_get_userbyid(relowner)::text FROM pg_class WHERE oid = to_regclass($1)`, table)
		if owner == nil || *owner != "park_owner" {
			t.Errorf("table %s: owner %v, want park_owner", table, owner)
		}
	}
	if n := scalar[int](t, admin, `SELECT count(*) FROM goose_db_version WHERE version_id > 0`); n == 0 {
		t.Error("no migrations recorded")
	}
	if !scalar[bool](t, admin, `SELECT EXISTS (SELECT FROM pg_extension WHERE extname = 'btree_gist')`) {
		t.Error("btree_gist missing")
	}
	// The clone must look like a database bootstrapped in production: owned
	// by park_owner, with the template's grants.
	if got := scalar[string](t, admin, `SELECT pg_get_userbyid(datdba)::text FROM pg_database WHERE datname = current_database()`); got != "park_owner" {
		t.Errorf("database owner %s, want park_owner", got)
	}
	same := scalar[bool](t, admin, `
		SELECT c.datacl::text[] @> t.datacl::text[] AND c.datacl::text[] <@ t.datacl::text[]
		FROM pg_database c, pg_database t
		WHERE c.datname = current_database() AND t.datname = $1`, pgtest.TemplateName)
	if !same {
		t.Errorf("database privileges differ from the bootstrapped template's")
	}
}

func TestEmptyDB(t *testing.T) {
	t.Parallel()
	db := pgtest.NewEmptyDB(t)
	admin := db.AdminPool(t)
	if n := scalar[int](t, admin, `SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public'`); n != 0 {
		t.Errorf("empty database has %d relations in public", n)
	}
	if n := scalar[int](t, admin, `SELECT count(*) FROM pg_extension WHERE extname <> 'plpgsql'`); n != 0 {
		t.Errorf("empty database has %d extensions", n)
	}
	if got := scalar[string](t, admin, `SELECT pg_get_userbyid(datdba)::text FROM pg_database WHERE datname = current_database()`); got != "postgres" {
		t.Errorf("empty database owned by %s, want postgres", got)
	}
}

// TestServerLogin checks that park_server holds no privilege of its own:
// it reads tenants only as park_app (DESIGN §2).
func TestServerLogin(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.NewDB(t)
	pool := db.ServerPool(t, 1)
	if got := scalar[string](t, pool, `SELECT current_user`); got != "park_server" {
		t.Errorf("ServerPool connects as %s", got)
	}
	if got := pool.Config().MaxConns; got != 1 {
		t.Errorf("MaxConns = %d, want 1", got)
	}
	if !scalar[bool](t, pool, `SELECT pg_has_role('park_app', 'MEMBER') AND NOT pg_has_role('park_app', 'USAGE')`) {
		t.Error("park_server should be a NOINHERIT member of park_app")
	}
	var n int
	err := pool.QueryRow(ctx, `SELECT count(*) FROM tenants`).Scan(&n)
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "42501" {
		t.Errorf("park_server read tenants without SET ROLE: %v", err)
	}
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SET LOCAL ROLE park_app`); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `SELECT count(*) FROM tenants`).Scan(&n)
	})
	if err != nil {
		t.Errorf("as park_app: %v", err)
	}

	ops, err := pgxpool.New(ctx, db.OpsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer ops.Close()
	if got := scalar[string](t, ops, `SELECT current_user`); got != "park_admin" {
		t.Errorf("OpsURL connects as %s", got)
	}
	if !scalar[bool](t, ops, `SELECT pg_has_role('park_owner', 'USAGE') AND pg_has_role('park_ops', 'USAGE')`) {
		t.Error("park_admin lacks the privileges of park_owner and park_ops")
	}
}

// TestParallelClones makes many databases at once, as a package of
// parallel tests does.
func TestParallelClones(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	names := map[string]bool{}
	for i := range 8 {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			t.Parallel()
			db := pgtest.NewDB(t)
			mu.Lock()
			defer mu.Unlock()
			if names[db.Name] {
				t.Errorf("duplicate database %s", db.Name)
			}
			names[db.Name] = true
			if !scalar[bool](t, db.AdminPool(t), `SELECT to_regclass('tenants') IS NOT NULL`) {
				t.Error("clone without tenants")
			}
		})
	}
}

// TestCreateDBAndDrop covers the variant without testing.TB: Drop ends
// connected sessions, and a second Drop is harmless.
func TestCreateDBAndDrop(t *testing.T) {
	t.Parallel()
	pgtest.Require(t)
	ctx := context.Background()
	db, err := pgtest.CreateDB(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, db.AdminURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if err := db.Drop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := db.Drop(ctx); err != nil {
		t.Errorf("second Drop: %v", err)
	}
	c, err := pgtest.Cluster(ctx)
	if err != nil {
		t.Fatal(err)
	}
	check, err := pgx.Connect(ctx, c.AdminURL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer check.Close(ctx)
	var exists bool
	if err := check.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1)`, db.Name).Scan(&exists); err != nil || exists {
		t.Errorf("database %s still exists after Drop (%v)", db.Name, err)
	}
}

// BenchmarkNewDB measures a clone (the template is built before the timer).
func BenchmarkNewDB(b *testing.B) {
	pgtest.NewDB(b)
	for b.Loop() {
		pgtest.NewDB(b)
	}
}

// TestPrivateStopStart: a private cluster's database is migrated, refuses
// connections while stopped, and keeps its data and URLs across a restart.
func TestPrivateStopStart(t *testing.T) {
	t.Parallel()
	p := pgtest.NewPrivate(t)
	ctx := context.Background()
	admin := p.DB.AdminPool(t)
	if n := scalar[int](t, admin, `SELECT count(*) FROM goose_db_version WHERE version_id > 0`); n == 0 {
		t.Fatal("no migrations recorded")
	}
	if _, err := admin.Exec(ctx, `CREATE TABLE kept (v int); INSERT INTO kept VALUES (7)`); err != nil {
		t.Fatal(err)
	}
	server := p.DB.ServerPool(t, 2)
	if err := server.Ping(ctx); err != nil {
		t.Fatal(err)
	}

	p.Stop()
	if err := server.Ping(ctx); err == nil {
		t.Fatal("ping succeeded while the cluster was stopped")
	}
	p.Start()
	// Each pooled connection of before the stop fails once (pgxpool pings
	// only connections idle for a second) and is replaced.
	deadline := time.Now().Add(10 * time.Second)
	var v int
	for {
		err := admin.QueryRow(ctx, `SELECT v FROM kept`).Scan(&v)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the pool made before the stop does not reach the restarted server: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if v != 7 {
		t.Fatalf("kept = %d after the restart", v)
	}
	if err := p.DB.Drop(ctx); err == nil {
		t.Fatal("Drop of a private database succeeded")
	}
}
