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
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/parkhq/park/internal/bootstrap"
	"github.com/parkhq/park/internal/pgcluster"
)

// devDatabase is the database `parkd dev` serves from.
const devDatabase = "park"

// devStartTimeout bounds initdb and PostgreSQL's start in dev.
const devStartTimeout = 5 * time.Minute

// devLastLine is the last line `parkd dev` prints before it answers
// requests; tests wait for it before reading the others.
const devLastLine = "Ctrl-C stops parkd and PostgreSQL."

// runDev is `parkd dev`: a private PostgreSQL from this machine's server
// binaries, bootstrapped and migrated, and the API served against it as the
// park_server login, so the start-up checks pass for real. Data persists in
// the cluster directory between runs; bootstrap and migrations are
// idempotent; --reset deletes the cluster first, and is refused while a
// server runs on it. When ctx ends (Ctrl-C, SIGTERM) the server drains and then
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
	if cfg.DevReset {
		existed, err := resetDevCluster(dir)
		if err != nil {
			return err
		}
		if existed {
			fmt.Fprintf(stdout, "parkd dev: --reset: deleted the cluster in %s\n", dir)
		}
		// Its keys go with it: they sealed secrets and signed tokens of a
		// database that is gone.
		if err := os.RemoveAll(devKeysDir(dir)); err != nil {
			return fmt.Errorf("dev --reset: %w", err)
		}
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

	// initdb on a slow or busy machine can outlast pgcluster's default
	// minute; a first start must not be killed halfway for that.
	startCtx, cancelStart := context.WithTimeout(ctx, devStartTimeout)
	cluster, err := pgcluster.Start(startCtx, pgcluster.Options{Dir: dir, Durable: true, LogWriter: logFile})
	cancelStart()
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
	keysDir := devKeysDir(dir)
	if err := loadDevKeys(cfg, keysDir); err != nil {
		return err
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
	parkctlURL := cluster.URL(devDatabase, bootstrap.RoleAdmin)
	err = serve(sctx, cfg, logger, func(addr net.Addr) {
		base := "http://" + dialable(addr)
		fmt.Fprintf(stdout, `parkd dev: serving %[1]s
  curl -s %[1]s/readyz
  psql -h '%[2]s' -p %[3]d -U postgres %[4]s
  PostgreSQL log: %[5]s
`, base, cluster.SocketDir(), cluster.Port(), devDatabase, logPath)
		printParkctl(stdout, parkctlURL, parkctlCommand(executable(), workingDir()))
		fmt.Fprintf(stdout, "  export PARKCTL_MASTER_KEY=\"$(cat %s)\"   # the dev master key, for parkctl webhook-secret\n",
			shellQuote(filepath.Join(keysDir, devMasterKeyFile)))
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

// printParkctl shows how to point parkctl at the dev cluster as the
// park_admin login (the socket trusts local connections, so the URL has no
// password), ready to paste into another shell.
func printParkctl(w io.Writer, url, parkctl string) {
	fmt.Fprintf(w, `%s
  export PARKCTL_DATABASE_URL='%s'
  %s tenant list
`, parkctlHeader, readableURL(url), parkctl)
}

// parkctlHeader introduces the parkctl lines.
const parkctlHeader = "parkd dev: parkctl as the park_admin login (from another shell):"

// readableURL shows the socket directory in a URL's query with plain
// slashes, which RFC 3986 allows there and pgx reads as the escaped form,
// and a space as %20: url.Values encodes it as "+", which pgx keeps as a
// plus sign. Every other character keeps its escape, so the URL never holds
// a quote and stays safe inside single quotes.
func readableURL(u string) string {
	before, query, ok := strings.Cut(u, "?")
	if !ok {
		return u
	}
	return before + "?" + strings.NewReplacer("%2F", "/", "+", "%20").Replace(query)
}

// parkctlCommand is how the printed lines call parkctl: the parkctl built
// next to this parkd (make build puts both in bin/), relative to wd when
// below it; else plain "parkctl", found on PATH.
func parkctlCommand(exe, wd string) string {
	if exe == "" {
		return "parkctl"
	}
	sibling := filepath.Join(filepath.Dir(exe), "parkctl")
	if fi, err := os.Stat(sibling); err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
		return "parkctl"
	}
	if wd != "" {
		if rel, err := filepath.Rel(wd, sibling); err == nil && rel != ".." && !strings.HasPrefix(rel, "../") {
			sibling = "./" + rel
		}
	}
	return shellQuote(sibling)
}

// shellQuote quotes s for a POSIX shell unless it needs no quoting.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./-+:@%") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// executable is this program's path, or "" when the OS cannot tell.
func executable() string {
	exe, _ := os.Executable()
	return exe
}

// workingDir is the working directory, or "" when the OS cannot tell.
func workingDir() string {
	wd, _ := os.Getwd()
	return wd
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
	return base64.RawURLEncoding.EncodeToString(randomBytes(n))
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand, Go 1.24+)
	return b
}
