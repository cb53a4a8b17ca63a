// Package migrations holds Park's numbered SQL migrations, embedded in every
// binary, and the runner that applies them with goose v3's Provider.
//
// Every connection the runner opens switches to park_owner (SET ROLE) before
// it runs anything, so every object a migration creates is owned by
// park_owner whichever login ran it. Concurrent runs are serialized by a
// PostgreSQL session advisory lock; each migration runs in its own
// transaction, so a failing one rolls back whole and leaves the earlier ones
// applied.
//
// Migrations never create or drop roles: `parkctl db bootstrap` does that
// once per cluster. A migration on main is never edited; a change is a new
// file with the next free number.
package migrations

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

// FS holds the SQL migrations, named NNNNN_description.sql.
//
//go:embed *.sql
var FS embed.FS

// OwnerRole is the role every migration runs as.
const OwnerRole = "park_owner"

// lockID is the advisory lock key that serializes runners on one database
// (crc of "park migrations"; any constant unique to Park works).
const lockID int64 = 0x7061726b6d6967

// Result describes one applied or rolled-back migration.
type Result struct {
	Version  int64         `json:"version"`
	Name     string        `json:"name"`
	Duration time.Duration `json:"duration_ns"`
}

// Status describes one known migration.
type Status struct {
	Version   int64     `json:"version"`
	Name      string    `json:"name"`
	Applied   bool      `json:"applied"`
	AppliedAt time.Time `json:"applied_at,omitzero"`
}

// PartialError reports a failed run: Applied lists what this run applied
// before Failed broke.
type PartialError struct {
	Applied []Result
	Failed  Result
	Err     error
}

func (e *PartialError) Error() string {
	return fmt.Sprintf("migration %05d %s: %v", e.Failed.Version, e.Failed.Name, e.Err)
}

func (e *PartialError) Unwrap() error { return e.Err }

// Option configures a Runner.
type Option func(*options)

type options struct {
	fsys   fs.FS
	logger *slog.Logger
}

// WithFS replaces the embedded migrations, for tests of the runner itself.
func WithFS(fsys fs.FS) Option { return func(o *options) { o.fsys = fsys } }

// WithLogger sets where progress is logged; the default discards it.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// Runner applies migrations to one database.
type Runner struct {
	db       *sql.DB
	provider *goose.Provider
}

// Open connects to databaseURL (a superuser or a member of park_owner,
// directly — never through PgBouncer) and prepares a runner.
func Open(ctx context.Context, databaseURL string, opts ...Option) (*Runner, error) {
	o := options{fsys: FS}
	for _, opt := range opts {
		opt(&o)
	}
	cfg, err := pgx.ParseConfig(databaseURL)
	if err != nil {
		return nil, fmt.Errorf("parse database URL: %w", err)
	}
	db := stdlib.OpenDB(*cfg, stdlib.OptionAfterConnect(func(ctx context.Context, c *pgx.Conn) error {
		if _, err := c.Exec(ctx, "SET ROLE "+OwnerRole); err != nil {
			return fmt.Errorf("set role %s (run `parkctl db bootstrap` first, and connect as a superuser or a member of %s): %w",
				OwnerRole, OwnerRole, err)
		}
		return nil
	}))
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connect: %w", err)
	}
	locker, err := lock.NewPostgresSessionLocker(
		lock.WithLockID(lockID),
		lock.WithLockTimeout(1, 600),  // poll each second, give up after 10 minutes
		lock.WithUnlockTimeout(1, 60), // release within a minute
	)
	if err != nil {
		db.Close()
		return nil, err
	}
	popts := []goose.ProviderOption{
		goose.WithSessionLocker(locker),
		goose.WithDisableGlobalRegistry(true),
	}
	if o.logger != nil {
		popts = append(popts, goose.WithSlog(o.logger), goose.WithVerbose(true))
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, o.fsys, popts...)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("load migrations: %w", err)
	}
	return &Runner{db: db, provider: p}, nil
}

// Close releases the runner's connections.
func (r *Runner) Close() error { return r.provider.Close() }

// Up applies every pending migration. On failure it returns a *PartialError;
// the migrations applied before the failing one stay applied.
func (r *Runner) Up(ctx context.Context) ([]Result, error) {
	res, err := r.provider.Up(ctx)
	if err != nil {
		var pe *goose.PartialError
		if errors.As(err, &pe) {
			return results(pe.Applied), &PartialError{Applied: results(pe.Applied), Failed: result(pe.Failed), Err: pe.Err}
		}
		return results(res), fmt.Errorf("migrate up: %w", err)
	}
	return results(res), nil
}

// Down rolls back the most recent migration. It returns nil, nil when
// nothing is applied.
func (r *Runner) Down(ctx context.Context) (*Result, error) {
	res, err := r.provider.Down(ctx)
	if err != nil {
		var pe *goose.PartialError
		if errors.As(err, &pe) {
			return nil, &PartialError{Failed: result(pe.Failed), Err: pe.Err}
		}
		if errors.Is(err, goose.ErrNoNextVersion) {
			return nil, nil
		}
		return nil, fmt.Errorf("migrate down: %w", err)
	}
	if res == nil {
		return nil, nil
	}
	out := result(res)
	return &out, nil
}

// Status lists every known migration in version order.
func (r *Runner) Status(ctx context.Context) ([]Status, error) {
	st, err := r.provider.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate status: %w", err)
	}
	out := make([]Status, 0, len(st))
	for _, s := range st {
		out = append(out, Status{
			Version:   s.Source.Version,
			Name:      name(s.Source.Path),
			Applied:   s.State == goose.StateApplied,
			AppliedAt: s.AppliedAt,
		})
	}
	return out, nil
}

// Pending reports whether any migration is not yet applied.
func (r *Runner) Pending(ctx context.Context) (bool, error) {
	return r.provider.HasPending(ctx)
}

func results(in []*goose.MigrationResult) []Result {
	out := make([]Result, 0, len(in))
	for _, r := range in {
		if r == nil {
			continue
		}
		out = append(out, result(r))
	}
	return out
}

func result(r *goose.MigrationResult) Result {
	if r == nil || r.Source == nil {
		return Result{}
	}
	return Result{Version: r.Source.Version, Name: name(r.Source.Path), Duration: r.Duration}
}

func name(path string) string {
	for i := len(path) - 1; i >= 0; i-- {
		if path[i] == '/' {
			return path[i+1:]
		}
	}
	return path
}
