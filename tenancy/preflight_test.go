package tenancy_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parkhq/park/internal/bootstrap"
	"github.com/parkhq/park/internal/pgtest"
	"github.com/parkhq/park/tenancy"
)

func poolFor(t *testing.T, url string) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 1
	pool, err := pgxpool.NewWithConfig(ctxT(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

func preflight(t *testing.T, url string, allow bool) ([]string, *tenancy.PreflightError) {
	t.Helper()
	warnings, err := tenancy.NewStore(poolFor(t, url)).Preflight(ctxT(t), tenancy.PreflightOptions{AllowPrivilegedLogin: allow})
	if err == nil {
		return warnings, nil
	}
	var pe *tenancy.PreflightError
	if !errors.As(err, &pe) {
		t.Fatalf("preflight could not run: %v", err)
	}
	return warnings, pe
}

// tempLogin makes a cluster-global login role with a unique name, dropped
// at cleanup.
func tempLogin(t *testing.T, db *pgtest.DB, inherit bool, groups ...string) string {
	t.Helper()
	var b [4]byte
	rand.Read(b[:])
	name := "preflight_" + hex.EncodeToString(b[:])
	if err := bootstrap.CreateLogin(ctxT(t), db.AdminURL, name, inherit, groups...); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := db.AdminPool(t).Exec(context.Background(), "DROP ROLE "+pgx.Identifier{name}.Sanitize()); err != nil {
			t.Errorf("drop role %s: %v", name, err)
		}
	})
	return name
}

func TestPreflightAcceptsServerLogin(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	warnings, pe := preflight(t, db.ServerURL, false)
	if pe != nil {
		t.Fatalf("park_server refused: %v", pe)
	}
	if len(warnings) != 0 {
		t.Fatalf("warnings for park_server: %q", warnings)
	}
}

func TestPreflightRefusesSuperuser(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	_, pe := preflight(t, db.AdminURL, false)
	if pe == nil {
		t.Fatal("superuser accepted")
	}
	if len(pe.Privileged) != 1 || !strings.Contains(pe.Privileged[0], `"postgres" is a superuser`) || len(pe.Problems) != 0 {
		t.Fatalf("privileged %q, problems %q", pe.Privileged, pe.Problems)
	}

	warnings, pe := preflight(t, db.AdminURL, true)
	if pe != nil {
		t.Fatalf("allowed superuser refused: %v", pe)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "superuser") {
		t.Fatalf("warnings = %q", warnings)
	}
}

func TestPreflightRefusesOwnerAndOpsMembers(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	_, pe := preflight(t, db.OpsURL, false) // park_admin: park_owner and park_ops
	if pe == nil {
		t.Fatal("park_admin accepted")
	}
	got := strings.Join(pe.Privileged, "\n")
	for _, want := range []string{"member of park_owner", "member of park_ops"} {
		if !strings.Contains(got, want) {
			t.Errorf("privileged problems lack %q:\n%s", want, got)
		}
	}
	// park_owner is a member of park_auth, so park_admin is too, indirectly.
	if !strings.Contains(got, "member of park_auth") {
		t.Errorf("indirect park_auth membership missed:\n%s", got)
	}
}

func TestPreflightFollowsIndirectMembership(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	// A NOLOGIN middle role in park_owner, and a login in the middle role
	// and in park_app: a member of park_owner only through another role.
	middle := tempLogin(t, db, true, bootstrap.RoleOwner)
	login := tempLogin(t, db, false, middle, bootstrap.RoleApp)
	_, pe := preflight(t, db.URL(login), false)
	if pe == nil || !strings.Contains(strings.Join(pe.Privileged, "\n"), "member of park_owner") {
		t.Fatalf("indirect member of park_owner: %v", pe)
	}
}

func TestPreflightNeedsParkAppMembership(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	login := tempLogin(t, db, false)
	_, pe := preflight(t, db.URL(login), false)
	if pe == nil || !strings.Contains(strings.Join(pe.Problems, "\n"), "not a member of park_app") {
		t.Fatalf("non-member: %v", pe)
	}
}

func TestPreflightWarnsAboutInherit(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	login := tempLogin(t, db, true, bootstrap.RoleApp)
	warnings, pe := preflight(t, db.URL(login), false)
	if pe != nil {
		t.Fatal(pe)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "NOINHERIT") {
		t.Fatalf("warnings = %q", warnings)
	}
}

func TestPreflightRefusesOwningParkApp(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	// Ownership inside this test's own database: no other test sees it.
	if _, err := db.AdminPool(t).Exec(ctxT(t), `create table sneaky (x int); alter table sneaky owner to park_app;
		create function sneaky_fn() returns int language sql as 'select 1'; alter function sneaky_fn() owner to park_app`); err != nil {
		t.Fatal(err)
	}
	_, pe := preflight(t, db.ServerURL, true) // the override does not cover this
	if pe == nil {
		t.Fatal("park_app owning objects accepted")
	}
	got := strings.Join(pe.Problems, "\n")
	for _, want := range []string{"role park_app owns objects", "table sneaky", "function sneaky_fn()"} {
		if !strings.Contains(got, want) {
			t.Errorf("problems lack %q:\n%s", want, got)
		}
	}
}

func TestPreflightRefusesUnmigrated(t *testing.T) {
	t.Parallel()
	pgtest.NewDB(t) // makes sure the cluster's roles and logins exist
	db := pgtest.NewEmptyDB(t)
	_, pe := preflight(t, db.ServerURL, false)
	if pe == nil || !strings.Contains(strings.Join(pe.Problems, "\n"), "not migrated") {
		t.Fatalf("unmigrated database: %v", pe)
	}
}
