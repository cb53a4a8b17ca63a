package cmdutil

import (
	"context"
	"errors"
	"log/slog"
	"os/user"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parkhq/park/internal/dbpool"
	"github.com/parkhq/park/internal/parkctl/iostreams"
	"github.com/parkhq/park/internal/parkctl/output"
	"github.com/parkhq/park/tenancy"
)

// Factory hands every verb its dependencies. parkctl.Main builds one per
// run; tests build their own with iostreams.Test, a fixed clock and a
// Config that returns what the test needs.
type Factory struct {
	// IOStreams are the run's standard streams.
	IOStreams *iostreams.IOStreams
	// Now is the clock; tests fix it.
	Now func() time.Time
	// Logger writes diagnostics to standard error; LogLevel controls it
	// (--verbose sets debug).
	Logger   *slog.Logger
	LogLevel *slog.LevelVar
	// LookupEnv reads the environment (os.LookupEnv outside tests).
	LookupEnv func(key string) (string, bool)
	// Config returns the configuration resolved from flags, environment and
	// config file. The root command installs it; it is loaded once.
	Config func() (*Config, error)
	// OpenPool opens a connection pool for Pool. Nil means dbpool.Open
	// with application_name "parkctl", as parkd opens its own.
	OpenPool func(ctx context.Context, databaseURL string) (*pgxpool.Pool, error)

	mu   sync.Mutex
	pool *pgxpool.Pool
}

// Pool returns the run's connection pool to Config().DatabaseURL, opening it
// on first use. Close closes it.
func (f *Factory) Pool(ctx context.Context) (*pgxpool.Pool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.pool != nil {
		return f.pool, nil
	}
	if f.Config == nil {
		return nil, errors.New("no configuration")
	}
	cfg, err := f.Config()
	if err != nil {
		return nil, err
	}
	url, err := cfg.RequireDatabaseURL()
	if err != nil {
		return nil, err
	}
	open := f.OpenPool
	if open == nil {
		open = f.openPool
	}
	pool, err := open(ctx, url)
	if err != nil {
		return nil, err
	}
	f.pool = pool
	return pool, nil
}

// Ops returns the operator store (cross-tenant reads and operator-only
// writes, as park_ops) on the run's pool.
func (f *Factory) Ops(ctx context.Context) (*tenancy.Ops, error) {
	pool, err := f.Pool(ctx)
	if err != nil {
		return nil, err
	}
	return tenancy.NewOps(pool), nil
}

// Store returns the tenant store (tenant transactions as park_app, like the
// server's) on the run's pool, with the configured tenant prologue. Every
// verb reaches tenant data through it, so the prologue is chosen here once.
func (f *Factory) Store(ctx context.Context) (*tenancy.Store, error) {
	pool, err := f.Pool(ctx)
	if err != nil {
		return nil, err
	}
	var opts []tenancy.StoreOption
	if f.Config != nil {
		cfg, err := f.Config()
		if err != nil {
			return nil, err
		}
		if cfg.TenantPrologue != "" {
			opts = append(opts, tenancy.WithTenantPrologue(cfg.TenantPrologue))
		}
	}
	return tenancy.NewStore(pool, opts...), nil
}

// Actor names the person running parkctl for the audit log:
// "operator:<name>", the name being the invoking user of sudo, else the
// process's user, else $USER.
func (f *Factory) Actor() string {
	lookup := f.LookupEnv
	if lookup == nil {
		lookup = func(string) (string, bool) { return "", false }
	}
	if name, ok := lookup("SUDO_USER"); ok && name != "" {
		return "operator:" + name
	}
	if u, err := user.Current(); err == nil && u.Username != "" {
		return "operator:" + u.Username
	}
	if name, ok := lookup("USER"); ok && name != "" {
		return "operator:" + name
	}
	return "operator:unknown"
}

// Printer returns a printer for the configured output format.
func (f *Factory) Printer() (*output.Printer, error) {
	if f.Config == nil {
		return output.New(f.IOStreams, output.Table), nil
	}
	cfg, err := f.Config()
	if err != nil {
		return nil, err
	}
	return output.New(f.IOStreams, cfg.Output), nil
}

// Close releases what the run opened. It is safe to call more than once.
func (f *Factory) Close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.pool != nil {
		f.pool.Close()
		f.pool = nil
	}
}

// openPool opens the run's pool through dbpool, as parkd does (exec mode
// behind PgBouncer, connect timeout, cancelled abandoned queries), named
// "parkctl" in pg_stat_activity. An unparsable URL is a usage error whose
// message cannot leak a password.
func (f *Factory) openPool(ctx context.Context, databaseURL string) (*pgxpool.Pool, error) {
	pool, err := dbpool.Open(ctx, databaseURL, dbpool.Options{AppName: "parkctl", Logger: f.Logger})
	if errors.Is(err, dbpool.ErrInvalidURL) {
		return nil, FlagErrorWrap(err)
	}
	return pool, err
}
