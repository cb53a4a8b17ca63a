package parkd

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/parkhq/park/internal/bootstrap"
	"github.com/parkhq/park/internal/pgcluster"
)

// devDatabase is the database `parkd dev` serves from.
const devDatabase = "park"

// devLastLine is the last line `parkd dev` prints before it answers
// requests; tests wait for it before reading the others.
const devLastLine = "Ctrl-C stops parkd and PostgreSQL."

// runDev is `parkd dev`: a private PostgreSQL from this machine's server
// binaries, bootstrapped and migrated, and the API served against it as the
// park_server login, so the start-up checks pass for real. Data persists in
// the cluster directory between runs; bootstrap and migrations are
// idempotent. When ctx ends (Ctrl-C, SIGTERM) the server drains and then
// PostgreSQL stops; if parkd dies without that, the kernel stops PostgreSQL
// (pgcluster ties it to this process).
func runDev(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) (err error) {
	cfg, logger, err := setup(ModeDev, "parkd dev", args, getenv, stderr)
	if err != nil {
		return err
	}
	if _, err := pgcluster.BinDir(); err != nil {
		return fmt.Errorf("dev needs the PostgreSQL server binaries (Debian: apt-get install postgresql): %w", err)
	}
	dir, reason, err := devClusterDir(cfg.DevDir)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "parkd dev: PostgreSQL data in %s (%s)\n", dir, reason)
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return fmt.Errorf("dev directory: %w", err)
	}
	logPath := dir + ".log"
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("PostgreSQL log: %w", err)
	}
	defer logFile.Close()

	cluster, err := pgcluster.Start(ctx, pgcluster.Options{Dir: dir, Durable: true, LogWriter: logFile})
	if err != nil {
		return fmt.Errorf("start PostgreSQL (log: %s): %w", logPath, err)
	}
	defer func() {
		if serr := cluster.Stop(); serr != nil {
			err = errors.Join(err, fmt.Errorf("stop PostgreSQL: %w", serr))
			return
		}
		fmt.Fprintln(stdout, "parkd dev: PostgreSQL stopped")
	}()

	if err := prepareDevDatabase(ctx, cluster, logger, stdout); err != nil {
		return err
	}
	cfg.DatabaseURL = cluster.URL(devDatabase, bootstrap.RoleServer)
	demo, err := ensureDemo(ctx, cfg.DatabaseURL, cluster.URL(devDatabase, bootstrap.RoleAdmin), cfg.BcryptCost)
	if err != nil {
		return err
	}
	if len(cfg.JWTSecret) == 0 {
		cfg.JWTSecret = Secret(randomToken(32))
	}
	if cfg.MasterKey.IsZero() {
		if cfg.MasterKey, err = GenerateMasterKey(1); err != nil {
			return err
		}
	}
	logger.Info("starting", slog.Any("config", cfg))

	// Stop serving if PostgreSQL dies under us: the API would only answer
	// 503 from then on.
	sctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go func() {
		select {
		case <-cluster.Done():
			cancel(errors.New("PostgreSQL exited"))
		case <-sctx.Done():
		}
	}()
	err = serve(sctx, cfg, logger, func(addr net.Addr) {
		base := "http://" + dialable(addr)
		fmt.Fprintf(stdout, `parkd dev: serving %[1]s
  curl -s %[1]s/readyz
  psql -h '%[2]s' -p %[3]d -U postgres %[4]s
  PostgreSQL log: %[5]s
`, base, cluster.SocketDir(), cluster.Port(), devDatabase, logPath)
		printDemo(stdout, base, demo)
		fmt.Fprintln(stdout, devLastLine)
	})
	if cause := context.Cause(sctx); err == nil && ctx.Err() == nil && cause != nil {
		err = fmt.Errorf("%w; its log ends:\n%s", cause, cluster.LogTail())
	}
	return err
}

// prepareDevDatabase creates the database when missing, bootstraps roles,
// creates passwordless logins (the socket trusts local connections) and
// migrates as park_admin, the way an operator would. Every step is
// idempotent.
func prepareDevDatabase(ctx context.Context, cluster *pgcluster.Cluster, logger *slog.Logger, stdout io.Writer) error {
	if err := createDatabase(ctx, cluster.AdminURL("postgres"), devDatabase); err != nil {
		return err
	}
	admin := cluster.AdminURL(devDatabase)
	if _, err := bootstrap.Run(ctx, admin, bootstrap.Options{}); err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	if err := bootstrap.CreateLogin(ctx, admin, bootstrap.RoleServer, false, bootstrap.RoleApp); err != nil {
		return fmt.Errorf("create login %s: %w", bootstrap.RoleServer, err)
	}
	if err := bootstrap.CreateLogin(ctx, admin, bootstrap.RoleAdmin, true, bootstrap.RoleOwner, bootstrap.RoleOps); err != nil {
		return fmt.Errorf("create login %s: %w", bootstrap.RoleAdmin, err)
	}
	return migrateUp(ctx, cluster.URL(devDatabase, bootstrap.RoleAdmin), logger, stdout)
}

// createDatabase creates db unless it exists.
func createDatabase(ctx context.Context, adminURL, db string) error {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return fmt.Errorf("connect to PostgreSQL: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var exists bool
	if err := conn.QueryRow(ctx, `select exists (select 1 from pg_database where datname = $1)`, db).Scan(&exists); err != nil {
		return fmt.Errorf("look for database %s: %w", db, err)
	}
	if exists {
		return nil
	}
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{db}.Sanitize())
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P04" { // duplicate_database: a concurrent dev won
		return nil
	}
	if err != nil {
		return fmt.Errorf("create database %s: %w", db, err)
	}
	return nil
}

// dialable turns a listener's address into one a client can dial: an
// unspecified IP becomes loopback.
func dialable(addr net.Addr) string {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok || !tcp.IP.IsUnspecified() {
		return addr.String()
	}
	ip := net.IPv4(127, 0, 0, 1)
	if tcp.IP.To4() == nil {
		ip = net.IPv6loopback
	}
	return net.JoinHostPort(ip.String(), fmt.Sprint(tcp.Port))
}

func randomToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand, Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}
