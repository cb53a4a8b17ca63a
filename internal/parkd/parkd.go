// Package parkd is the parkd program: `parkd serve` runs the API against a
// configured database, `parkd dev` runs it against a throwaway local
// PostgreSQL, and `parkd migrate up` applies migrations.
//
// Main only sets up the process (signals, exit code); run does the work
// with its environment passed in, so tests start the real server in
// process, several at once. parkd holds no global state and only wires: the
// HTTP layer is internal/httpapi, data access the library packages.
package parkd

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/parkhq/park/migrations"
)

// Main runs parkd with the process's arguments and environment and returns
// its exit code: 0 success, 1 failure, 2 a usage error. SIGINT and SIGTERM
// start a graceful shutdown; a second one stops the process at once.
func Main() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop() // restore the default: a second signal kills
	}()
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	return exitCode(err, os.Stderr)
}

// exitCode prints err and maps it to an exit code.
func exitCode(err error, stderr io.Writer) int {
	var ue *usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "parkd: %v\n", err)
		return 2
	default:
		fmt.Fprintf(stderr, "parkd: %v\n", err)
		return 1
	}
}

const usage = `parkd is the Park API server.

Usage:
  parkd serve        serve the API (needs PARKD_DATABASE_URL, PARKD_JWT_SECRET, PARKD_MASTER_KEY)
  parkd dev          run a local PostgreSQL and serve the API against it; needs no configuration
  parkd migrate up   apply pending database migrations (needs PARKD_MIGRATE_DATABASE_URL)

Run "parkd <command> -h" for a command's settings. Each setting is a flag, a PARKD_*
environment variable or a key of the YAML file named by --config (or PARKD_CONFIG);
flags win over variables, variables over the file.
`

// run is parkd with its whole environment passed in. It returns when the
// command is done or, for serve and dev, when ctx is cancelled and the
// shutdown has finished.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	_ = stdin // no command reads stdin yet; kept for the contract of run
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return &usageError{errors.New("missing command")}
	}
	switch args[0] {
	case "serve":
		return runServe(ctx, args[1:], getenv, stdout, stderr)
	case "dev":
		return runDev(ctx, args[1:], getenv, stdout, stderr)
	case "migrate":
		return runMigrate(ctx, args[1:], getenv, stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return &usageError{fmt.Errorf("unknown command %q", args[0])}
}

// setup parses a command's flags and configuration and makes its logger.
// Configuration problems come back together in one error.
func setup(mode Mode, name string, args []string, getenv func(string) string, stderr io.Writer) (*Config, *slog.Logger, error) {
	flags, err := parseFlags(mode, name, args, stderr)
	if err != nil {
		return nil, nil, err
	}
	cfg, warnings, err := loadConfig(mode, flags, getenv)
	if err != nil {
		return nil, nil, fmt.Errorf("invalid configuration:\n  %s", strings.ReplaceAll(err.Error(), "\n", "\n  "))
	}
	logger := newLogger(stderr, cfg.LogLevel)
	for _, w := range warnings {
		logger.Warn("configuration", slog.String("warning", w))
	}
	return cfg, logger, nil
}

// newLogger makes parkd's JSON logger. Every logger parkd builds comes from
// here, so every line writes durations the same way.
func newLogger(w io.Writer, level slog.Leveler) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level, ReplaceAttr: durationsAsText}))
}

// durationsAsText writes a duration as Go prints it ("5m0s") rather than
// slog's JSON default, an integer of nanoseconds that nobody reads at a
// glance ("dedupe_window":300000000000). It applies inside groups too.
func durationsAsText(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		a.Value = slog.StringValue(a.Value.Duration().String())
	}
	return a
}

func runServe(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, logger, err := setup(ModeServe, "parkd serve", args, getenv, stderr)
	if err != nil {
		return err
	}
	logger.Info("starting", slog.Any("config", cfg))
	return serve(ctx, cfg, logger, nil)
}

func runMigrate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "up" {
		fmt.Fprint(stderr, "Usage: parkd migrate up [flags]\n\n"+commandHelp[ModeMigrate]+"\nparkctl migrate has down, status and verify.\n")
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "-help") {
			return flag.ErrHelp
		}
		return &usageError{errors.New("migrate: want \"migrate up\"")}
	}
	cfg, logger, err := setup(ModeMigrate, "parkd migrate up", args[1:], getenv, stderr)
	if err != nil {
		return err
	}
	return migrateUp(ctx, cfg.MigrateDatabaseURL, logger, stdout)
}

// migrateUp applies pending migrations and prints each one applied.
func migrateUp(ctx context.Context, url string, logger *slog.Logger, stdout io.Writer) error {
	// goose logs every statement: only worth it at debug level.
	var opts []migrations.Option
	if logger.Enabled(ctx, slog.LevelDebug) {
		opts = append(opts, migrations.WithLogger(logger))
	}
	r, err := migrations.Open(ctx, url, opts...)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer r.Close()
	applied, err := r.Up(ctx)
	for _, m := range applied {
		fmt.Fprintf(stdout, "applied %05d %s (%s)\n", m.Version, m.Name, m.Duration.Round(100_000))
	}
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if len(applied) == 0 {
		fmt.Fprintln(stdout, "no pending migrations")
	}
	return nil
}
