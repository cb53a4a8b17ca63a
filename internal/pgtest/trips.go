package pgtest

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// TripCounter counts network round trips to PostgreSQL on the connections
// it wraps: on each connection, a read that follows a write answers one
// round trip, however many statements the write carried. One counter may
// serve every connection of a pool.
type TripCounter struct{ trips atomic.Int64 }

// Trips returns the round trips counted so far.
func (c *TripCounter) Trips() int64 { return c.trips.Load() }

// Wrap returns conn counting its round trips in c.
func (c *TripCounter) Wrap(conn net.Conn) net.Conn { return &countingConn{Conn: conn, c: c} }

// Dial is a pgconn DialFunc whose connections c counts.
func (c *TripCounter) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return c.Wrap(conn), nil
}

type countingConn struct {
	net.Conn
	c     *TripCounter
	wrote atomic.Bool
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.wrote.Store(true)
	return c.Conn.Write(p)
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 && c.wrote.Swap(false) {
		c.c.trips.Add(1)
	}
	return n, err
}

// OneConnPool returns a pool of one park_server connection in mode, made
// by dial, that never pings or health-checks on its own: every round trip
// on it is a store's. It is closed when the test ends.
func (db *DB) OneConnPool(t testing.TB, mode pgx.QueryExecMode, dial func(ctx context.Context, network, addr string) (net.Conn, error)) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(db.ServerURL)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns, cfg.MinConns = 1, 0
	cfg.HealthCheckPeriod = time.Hour
	cfg.ShouldPing = func(context.Context, pgxpool.ShouldPingParams) bool { return false }
	cfg.ConnConfig.DefaultQueryExecMode = mode
	cfg.ConnConfig.DialFunc = dial
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}
