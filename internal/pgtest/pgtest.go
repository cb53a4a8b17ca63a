// Package pgtest gives every test a PostgreSQL database of its own
// (DESIGN §10).
//
// One cluster serves each test binary. It starts on first use, in a
// directory under /tmp that the postgres user can reach, listening on a Unix
// socket only, and Shutdown (or Main, from TestMain) stops it. If the binary
// dies without Shutdown, the kernel stops the server with it (Linux) and the
// next test binary removes the directory.
//
// The first NewDB builds the template database park_template: bootstrapped
// (roles, ownership, btree_gist) and migrated, with the passwordless logins
// park_server and park_admin. Each NewDB then clones it with CREATE DATABASE
// … TEMPLATE, which takes about a tenth of a second, and bootstraps the clone
// so that its ownership and grants match production. NewEmptyDB makes a
// database with nothing in it, for tests of bootstrap and migrations.
//
// Nothing here mocks the database, and nothing here is for production: every
// login is trusted on the socket.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parkhq/park/internal/bootstrap"
	"github.com/parkhq/park/internal/pgcluster"
	"github.com/parkhq/park/migrations"
)

// TemplateName is the bootstrapped and migrated database every NewDB clones.
const TemplateName = "park_template"

// dirPrefix names the cluster directories under /tmp. /tmp rather than
// os.TempDir() or t.TempDir(): the postgres user must reach the directory,
// and the socket path must stay short.
const dirPrefix = "parktest-"

// setupTimeout bounds the work NewDB and NewEmptyDB do for a test.
const setupTimeout = 2 * time.Minute

// DB is one test database on the shared cluster.
type DB struct {
	// Name is the database name, unique within the test binary.
	Name string
	// AdminURL connects as the superuser postgres.
	AdminURL string
	// ServerURL connects as park_server: a NOINHERIT member of park_app
	// only, like parkd's production login. It can read nothing until a
	// transaction runs SET LOCAL ROLE park_app.
	ServerURL string
	// OpsURL connects as park_admin: a member of park_owner and park_ops,
	// like parkctl's production login.
	OpsURL string

	cluster *pgcluster.Cluster
	private bool // on a Private cluster: Drop refuses
}

// newDBOn describes database name on cluster c.
func newDBOn(c *pgcluster.Cluster, name string) *DB {
	return &DB{
		Name:      name,
		AdminURL:  c.AdminURL(name),
		ServerURL: c.URL(name, bootstrap.RoleServer),
		OpsURL:    c.URL(name, bootstrap.RoleAdmin),
		cluster:   c,
	}
}

// URL returns a URL for this database as user, over the cluster's socket.
func (db *DB) URL(user string) string { return db.cluster.URL(db.Name, user) }

// AdminPool returns a pool of superuser connections, closed when the test
// ends. A superuser bypasses row-level security: use it to arrange and
// inspect, never to test isolation.
func (db *DB) AdminPool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	return newPool(t, db.AdminURL, 0)
}

// ServerPool returns a pool of park_server connections with at most
// maxConns connections (0 means pgxpool's default), closed when the test
// ends.
func (db *DB) ServerPool(t testing.TB, maxConns int) *pgxpool.Pool {
	t.Helper()
	return newPool(t, db.ServerURL, maxConns)
}

func newPool(t testing.TB, url string, maxConns int) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	if maxConns > 0 {
		cfg.MaxConns = int32(maxConns)
	}
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// Drop drops the database, ending any session still connected to it. It is
// idempotent.
func (db *DB) Drop(ctx context.Context) error {
	if db.private {
		return errPrivateDrop
	}
	admin, err := adminPool(ctx)
	if err != nil {
		return err
	}
	if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{db.Name}.Sanitize()+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("drop database %s: %w", db.Name, err)
	}
	return nil
}

// NewDB returns a fresh bootstrapped and migrated database, dropped when the
// test ends. It skips the test when the PostgreSQL server binaries are
// missing, unless CI=true, where it fails. When the test fails, the server
// log lines of this database are logged.
func NewDB(t testing.TB) *DB {
	t.Helper()
	return newDB(t, true)
}

// NewEmptyDB returns a fresh database that is neither bootstrapped nor
// migrated, dropped when the test ends. The cluster's roles may exist
// already (they are global to the cluster); the database has no tables, no
// extensions and belongs to postgres.
func NewEmptyDB(t testing.TB) *DB {
	t.Helper()
	return newDB(t, false)
}

func newDB(t testing.TB, migrated bool) *DB {
	t.Helper()
	Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	logStart := logOffset()
	db, err := CreateDB(ctx, migrated)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			if lines := serverLog(logStart, db.Name); lines != "" {
				t.Logf("server log for database %s:\n%s", db.Name, lines)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := db.Drop(ctx); err != nil {
			t.Error(err)
		}
	})
	return db
}

// CreateDB makes a fresh database like NewDB (migrated) or NewEmptyDB, for
// callers without a testing.TB such as testscript's Setup. The caller drops
// it.
func CreateDB(ctx context.Context, migrated bool) (*DB, error) {
	c, err := Cluster(ctx)
	if err != nil {
		return nil, err
	}
	admin, err := adminPool(ctx)
	if err != nil {
		return nil, err
	}
	db := newDBOn(c, newName())
	ident := pgx.Identifier{db.Name}.Sanitize()

	if !migrated {
		if _, err := admin.Exec(ctx, "CREATE DATABASE "+ident+" TEMPLATE template0"); err != nil {
			return nil, fmt.Errorf("create database %s: %w", db.Name, err)
		}
		return db, nil
	}
	if err := ensureTemplate(ctx, c, admin); err != nil {
		return nil, err
	}
	if err := clone(ctx, admin, ident); err != nil {
		return nil, fmt.Errorf("clone %s: %w", TemplateName, err)
	}
	// CREATE DATABASE makes the creator (postgres) the owner and copies
	// neither the template's grants nor its database settings. Bootstrap
	// restores them exactly as production has them.
	if _, err := bootstrap.Run(ctx, db.AdminURL, bootstrap.Options{}); err != nil {
		dctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		db.Drop(dctx)
		return nil, fmt.Errorf("bootstrap clone %s: %w", db.Name, err)
	}
	return db, nil
}

// clone copies the template. PostgreSQL refuses to copy a database that
// has sessions; the template accepts none once built (ALLOW_CONNECTIONS
// false). Clones are also serialized among themselves: each copies the whole
// template, so overlapping them gains nothing on a small machine, and one at
// a time keeps their duration steady under parallel tests.
func clone(ctx context.Context, admin *pgxpool.Pool, ident string) error {
	state.cloneMu.Lock()
	defer state.cloneMu.Unlock()
	_, err := admin.Exec(ctx, "CREATE DATABASE "+ident+" TEMPLATE "+TemplateName)
	return err
}

var counter atomic.Uint64

// newName returns t_<n>_<random>: unique in the cluster, and easy to find in
// the server log.
func newName() string {
	var b [3]byte
	rand.Read(b[:])
	return "t_" + strconv.FormatUint(counter.Add(1), 10) + "_" + hex.EncodeToString(b[:])
}

// ensureTemplate builds park_template once per test binary. A failure is
// kept and reported to every later caller, so a broken migration fails each
// test once, quickly, with the same message.
func ensureTemplate(ctx context.Context, c *pgcluster.Cluster, admin *pgxpool.Pool) error {
	state.templateMu.Lock()
	defer state.templateMu.Unlock()
	if state.templateReady {
		return nil
	}
	if state.templateErr != nil {
		return state.templateErr
	}
	if err := buildTemplate(ctx, c, admin); err != nil {
		if ctx.Err() == nil {
			state.templateErr = err
		}
		return err
	}
	state.templateReady = true
	return nil
}

func buildTemplate(ctx context.Context, c *pgcluster.Cluster, admin *pgxpool.Pool) error {
	ident := pgx.Identifier{TemplateName}.Sanitize()
	// A build interrupted by a cancelled context may have left one behind.
	if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+ident+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("template: %w", err)
	}
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+ident+" TEMPLATE template0"); err != nil {
		return fmt.Errorf("template: %w", err)
	}
	if err := prepareDatabase(ctx, c.AdminURL(TemplateName)); err != nil {
		return fmt.Errorf("template: %w", err)
	}
	// No session may connect to the template again: one would make every
	// clone fail.
	if _, err := admin.Exec(ctx, "ALTER DATABASE "+ident+" WITH IS_TEMPLATE true ALLOW_CONNECTIONS false"); err != nil {
		return fmt.Errorf("template: %w", err)
	}
	return nil
}

// CreateMigrated creates database name on c (a cluster the caller
// started, such as a benchmark's durable one) and prepares it as the test
// template is prepared: bootstrapped, with the passwordless logins
// park_server and park_admin, and migrated. It returns the database's
// superuser URL.
func CreateMigrated(ctx context.Context, c *pgcluster.Cluster, name string) (string, error) {
	conn, err := pgx.Connect(ctx, c.AdminURL("postgres"))
	if err != nil {
		return "", err
	}
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	conn.Close(ctx)
	if err != nil {
		return "", fmt.Errorf("create database %s: %w", name, err)
	}
	url := c.AdminURL(name)
	if err := prepareDatabase(ctx, url); err != nil {
		return "", fmt.Errorf("prepare database %s: %w", name, err)
	}
	return url, nil
}

// prepareDatabase bootstraps the empty database at url (a superuser URL),
// makes the passwordless logins park_server and park_admin (cluster-global:
// made once per cluster, kept in step after) and migrates it.
func prepareDatabase(ctx context.Context, url string) error {
	if _, err := bootstrap.Run(ctx, url, bootstrap.Options{}); err != nil {
		return err
	}
	if err := bootstrap.CreateLogin(ctx, url, bootstrap.RoleServer, false, bootstrap.RoleApp); err != nil {
		return fmt.Errorf("login %s: %w", bootstrap.RoleServer, err)
	}
	if err := bootstrap.CreateLogin(ctx, url, bootstrap.RoleAdmin, true, bootstrap.RoleOwner, bootstrap.RoleOps); err != nil {
		return fmt.Errorf("login %s: %w", bootstrap.RoleAdmin, err)
	}
	r, err := migrations.Open(ctx, url)
	if err != nil {
		return err
	}
	_, upErr := r.Up(ctx)
	return errors.Join(upErr, r.Close())
}

// Require ensures the test cluster runs. When the PostgreSQL server
// binaries are missing it skips the test, or fails it when CI=true (a
// missing service must never pass CI silently); any other error fails it.
func Require(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	if _, err := Cluster(ctx); err != nil {
		skipOrFail(t, err)
	}
}

// skipOrFail skips the test on a missing binary outside CI, and fails it
// otherwise.
func skipOrFail(t testing.TB, err error) {
	t.Helper()
	if errors.Is(err, pgcluster.ErrNotFound) && !inCI() {
		t.Skipf("skipping: %v (CI=true makes this a failure)", err)
	}
	t.Fatal(err)
}

func inCI() bool {
	ci, _ := strconv.ParseBool(os.Getenv("CI"))
	return ci
}
