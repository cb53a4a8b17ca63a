// Package bootstrap prepares a PostgreSQL cluster and database for Park: the
// cluster-global roles of DESIGN §2, database ownership and the btree_gist
// extension. Migrations never create roles; this package is the only place
// that does, and it is safe to run again and to run twice at once.
package bootstrap

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Role names. They are global to a cluster, so every Park database in one
// cluster shares them.
const (
	RoleOwner = "park_owner"
	RoleApp   = "park_app"
	RoleAuth  = "park_auth"
	RoleOps   = "park_ops"
	// RoleMaint owns the parameterless SECURITY DEFINER count and prune
	// functions parkd calls for work across tenants.
	RoleMaint  = "park_maint"
	RoleServer = "park_server"
	RoleAdmin  = "park_admin"
)

// Options tune Run.
type Options struct {
	// CreateLogins makes the park_server and park_admin login roles (or
	// gives them new passwords when they exist) and reports their URLs.
	CreateLogins bool
}

// Result is what Run reports. The URLs are set only with CreateLogins; they
// carry fresh passwords, so they are shown once and never logged.
type Result struct {
	Database  string `json:"database"`
	ServerURL string `json:"server_url,omitempty"`
	AdminURL  string `json:"admin_url,omitempty"`
}

// Run bootstraps the database that adminURL names. adminURL must connect as a
// superuser (or a role with CREATEROLE that may alter the database owner).
func Run(ctx context.Context, adminURL string, opts Options) (*Result, error) {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(context.Background())

	var db string
	var super bool
	if err := conn.QueryRow(ctx,
		`select current_database(), rolsuper from pg_roles where rolname = current_user`).Scan(&db, &super); err != nil {
		return nil, fmt.Errorf("inspect connection: %w", err)
	}
	if !super {
		return nil, errors.New("the admin URL must connect as a superuser")
	}

	// Roles are cluster-global and advisory locks are per database, so two
	// bootstraps of different databases can still race on CREATE ROLE. Each
	// statement therefore tolerates "already exists" and is retried on the
	// catalog races PostgreSQL reports as serialization or unique errors.
	stmts := []string{
		createRole(RoleOwner, "NOLOGIN NOBYPASSRLS"),
		createRole(RoleApp, "NOLOGIN NOBYPASSRLS NOINHERIT"),
		createRole(RoleAuth, "NOLOGIN NOBYPASSRLS"),
		createRole(RoleOps, "NOLOGIN BYPASSRLS"),
		createRole(RoleMaint, "NOLOGIN NOBYPASSRLS"),
		// Re-assert attributes in case an earlier hand-made role differs.
		`ALTER ROLE park_owner NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEROLE NOCREATEDB`,
		`ALTER ROLE park_app NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEROLE NOCREATEDB`,
		`ALTER ROLE park_auth NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEROLE NOCREATEDB`,
		`ALTER ROLE park_ops NOLOGIN NOSUPERUSER BYPASSRLS NOCREATEROLE NOCREATEDB`,
		`ALTER ROLE park_maint NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEROLE NOCREATEDB`,
		// park_owner transfers function ownership to park_auth and runs the
		// server's stores (SET ROLE park_app) for parkctl's tenant writes.
		`GRANT park_auth TO park_owner`,
		`GRANT park_maint TO park_owner`,
		`GRANT park_app TO park_owner`,
		fmt.Sprintf(`ALTER DATABASE %s OWNER TO park_owner`, pgx.Identifier{db}.Sanitize()),
		`CREATE EXTENSION IF NOT EXISTS btree_gist`,
		`GRANT CONNECT ON DATABASE ` + pgx.Identifier{db}.Sanitize() + ` TO park_app, park_ops, park_auth`,
	}
	for _, s := range stmts {
		if err := execRetry(ctx, conn, s); err != nil {
			return nil, err
		}
	}

	res := &Result{Database: db}
	if !opts.CreateLogins {
		return res, nil
	}
	serverPW, err := password()
	if err != nil {
		return nil, err
	}
	adminPW, err := password()
	if err != nil {
		return nil, err
	}
	logins := []string{
		createRole(RoleServer, "LOGIN NOINHERIT"),
		createRole(RoleAdmin, "LOGIN"),
		`ALTER ROLE park_server LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEROLE NOCREATEDB`,
		`ALTER ROLE park_admin LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEROLE NOCREATEDB`,
		`GRANT park_app TO park_server`,
		`GRANT park_owner TO park_admin`,
		`GRANT park_ops TO park_admin`,
		`GRANT CONNECT ON DATABASE ` + pgx.Identifier{db}.Sanitize() + ` TO park_server, park_admin`,
	}
	for _, s := range logins {
		if err := execRetry(ctx, conn, s); err != nil {
			return nil, err
		}
	}
	// Passwords are sent as literals because ALTER ROLE takes no bind
	// parameters; they are base64url, so quoting cannot break.
	if err := execRetry(ctx, conn, fmt.Sprintf(`ALTER ROLE park_server PASSWORD '%s'`, serverPW)); err != nil {
		return nil, err
	}
	if err := execRetry(ctx, conn, fmt.Sprintf(`ALTER ROLE park_admin PASSWORD '%s'`, adminPW)); err != nil {
		return nil, err
	}
	res.ServerURL, err = withCredentials(adminURL, RoleServer, serverPW)
	if err != nil {
		return nil, err
	}
	res.AdminURL, err = withCredentials(adminURL, RoleAdmin, adminPW)
	if err != nil {
		return nil, err
	}
	return res, nil
}

// CreateLogin makes a passwordless LOGIN role that is a member of the given
// group roles. Tests use it on trust-authenticated Unix sockets; production
// logins come from Run with CreateLogins.
func CreateLogin(ctx context.Context, adminURL, name string, inherit bool, groups ...string) error {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(context.Background())
	attrs := "LOGIN"
	if !inherit {
		attrs += " NOINHERIT"
	}
	if err := execRetry(ctx, conn, createRole(name, attrs)); err != nil {
		return err
	}
	for _, g := range groups {
		if err := execRetry(ctx, conn, fmt.Sprintf(`GRANT %s TO %s`,
			pgx.Identifier{g}.Sanitize(), pgx.Identifier{name}.Sanitize())); err != nil {
			return err
		}
	}
	return nil
}

func createRole(name, attrs string) string {
	// DO blocks take no parameters; names here are constants of this package
	// or sanitized identifiers.
	return fmt.Sprintf(`DO $$
BEGIN
  CREATE ROLE %s %s;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
  NULL;
END
$$`, pgx.Identifier{name}.Sanitize(), attrs)
}

// execRetry runs one statement, retrying the errors that concurrent catalog
// changes produce ("tuple concurrently updated", unique violations on the
// catalogs, serialization failures).
func execRetry(ctx context.Context, conn *pgx.Conn, sql string) error {
	var err error
	for attempt := 0; attempt < 8; attempt++ {
		_, err = conn.Exec(ctx, sql)
		if err == nil {
			return nil
		}
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) {
			break
		}
		switch pgErr.Code {
		case "XX000", "23505", "40001", "40P01", "42710":
			// 42710 duplicate_object: GRANT of an existing membership is a
			// notice, but CREATE EXTENSION races raise it.
			if pgErr.Code == "42710" {
				return nil
			}
		default:
			return fmt.Errorf("bootstrap: %s: %w", firstLine(sql), err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(10*(attempt+1)) * time.Millisecond):
		}
	}
	return fmt.Errorf("bootstrap: %s: %w", firstLine(sql), err)
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "DO $$") {
		// Show the CREATE ROLE, never a password literal.
		if i := strings.Index(s, "CREATE ROLE"); i >= 0 {
			s = s[i:]
		}
	}
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if strings.Contains(s, "PASSWORD") {
		s = s[:strings.Index(s, "PASSWORD")] + "PASSWORD …"
	}
	return strings.TrimSuffix(s, ";")
}

func password() (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// withCredentials returns adminURL with its user and password replaced.
// Key/value connection strings are turned into URLs first.
func withCredentials(adminURL, user, pw string) (string, error) {
	cfg, err := pgconn.ParseConfig(adminURL)
	if err != nil {
		return "", err
	}
	u := &url.URL{Scheme: "postgres", User: url.UserPassword(user, pw), Path: "/" + cfg.Database}
	q := url.Values{}
	if strings.HasPrefix(cfg.Host, "/") {
		q.Set("host", cfg.Host)
		u.Host = ""
		if cfg.Port != 0 {
			q.Set("port", fmt.Sprint(cfg.Port))
		}
	} else {
		u.Host = fmt.Sprintf("%s:%d", cfg.Host, cfg.Port)
	}
	if orig, err := url.Parse(adminURL); err == nil && orig.Scheme != "" {
		if sm := orig.Query().Get("sslmode"); sm != "" {
			q.Set("sslmode", sm)
		}
	}
	u.RawQuery = q.Encode()
	return u.String(), nil
}
