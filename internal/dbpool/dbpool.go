// Package dbpool opens the PostgreSQL connection pools of parkd and parkctl,
// so that what a pool does with its connections is decided in one place:
// the query execution mode (pgx's statement cache, or exec mode behind a
// transaction-pooling PgBouncer), application_name and the connect timeout.
//
// Pool sizes and lifetimes come from the URL, as pgxpool reads them
// (pool_max_conns, pool_max_conn_lifetime, …).
package dbpool

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// DefaultConnectTimeout bounds the making of one connection (dial,
// TLS, authentication) when the URL sets no connect_timeout. pgxpool's own
// default is two minutes, long enough for a request to hang on a database
// host that drops packets.
const DefaultConnectTimeout = 5 * time.Second

// ErrInvalidURL reports a database URL that cannot be parsed. Its message
// never quotes the URL, which may hold a password.
var ErrInvalidURL = errors.New("invalid database URL: cannot parse it (expected postgres://user:password@host:port/database?param=value or key=value pairs)")

// Options configure Open. The zero value is usable.
type Options struct {
	// AppName is the application_name of the connections unless the URL
	// sets one; it names the program in pg_stat_activity and the server
	// log.
	AppName string
	// ConnectTimeout bounds making one connection unless the URL sets
	// connect_timeout; 0 means DefaultConnectTimeout.
	ConnectTimeout time.Duration
	// Logger hears what Open decided that an operator may want to know
	// (a connection pooler found); nil discards.
	Logger *slog.Logger
}

// Open makes a pool on url and connects once, so that an unreachable
// database or a refused login is reported here, with the cause.
//
// That first connection also tells whether a connection pooler such as
// PgBouncer stands between the pool and PostgreSQL: a pooler hands the
// client a process id of its own, so the id the connection announced
// differs from pg_backend_pid(). Behind a pooler, pgx's default mode
// (cache_statement: statements prepared once per connection and reused) is
// replaced by exec mode, since a pooler in transaction mode hands each
// transaction a server connection that may not hold the statement, or
// holds another client's of the same name. A mode the URL sets
// (default_query_exec_mode=exec, simple_protocol, …) is kept otherwise.
//
// A query whose context ends keeps pgx's handling: the connection is
// closed at once, and on its way out pgx sends PostgreSQL a cancel request
// for the query (PgBouncer forwards it) and waits up to 15 s for it to be
// taken, so the statement stops in the database too. pgx's alternative,
// which cancels and keeps the connection, is not used: it gives up on its
// cancel request as soon as the query returns, and PgBouncer 1.18
// (Debian 12's) crashes when a cancel client disconnects before the
// cancel is done (pgbouncer issue 801, fixed in 1.20); the fault tests
// met that crash.
func Open(ctx context.Context, url string, opts Options) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, ErrInvalidURL
	}
	configure(cfg, opts)
	pool, pooled, err := connect(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if !pooled || cfg.ConnConfig.DefaultQueryExecMode != pgx.QueryExecModeCacheStatement {
		return pool, nil
	}
	pool.Close()
	cfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeExec
	if opts.Logger != nil {
		opts.Logger.Info("database reached through a connection pooler; using exec mode (no prepared statements)")
	}
	pool, _, err = connect(ctx, cfg)
	return pool, err
}

// configure applies opts and the package's connection behaviour to cfg.
func configure(cfg *pgxpool.Config, opts Options) {
	cc := cfg.ConnConfig
	if _, ok := cc.RuntimeParams["application_name"]; !ok && opts.AppName != "" {
		cc.RuntimeParams["application_name"] = opts.AppName
	}
	if cc.ConnectTimeout <= 0 {
		cc.ConnectTimeout = opts.ConnectTimeout
		if cc.ConnectTimeout <= 0 {
			cc.ConnectTimeout = DefaultConnectTimeout
		}
	}
}

// connect makes a pool on cfg, takes one connection and reports whether
// a pooler stands in front of PostgreSQL.
func connect(ctx context.Context, cfg *pgxpool.Config) (*pgxpool.Pool, bool, error) {
	pool, err := pgxpool.NewWithConfig(ctx, cfg.Copy())
	if err != nil {
		return nil, false, fmt.Errorf("database pool: %w", err)
	}
	pooled, err := behindPooler(ctx, pool)
	if err != nil {
		pool.Close()
		return nil, false, fmt.Errorf("connect to database: %w", err)
	}
	return pool, pooled, nil
}

// behindPooler compares the backend process id the connection announced
// with the one PostgreSQL reports. The query goes by the simple protocol:
// it prepares nothing that a later client of a pooled server connection
// could trip over.
func behindPooler(ctx context.Context, pool *pgxpool.Pool) (bool, error) {
	c, err := pool.Acquire(ctx)
	if err != nil {
		return false, err
	}
	defer c.Release()
	var pid uint32
	if err := c.QueryRow(ctx, "select pg_backend_pid()", pgx.QueryExecModeSimpleProtocol).Scan(&pid); err != nil {
		return false, err
	}
	return pid != c.Conn().PgConn().PID(), nil
}
