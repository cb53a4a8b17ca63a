package parkd

import (
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
)

// poolCollector reports the server's database pool as park_db_pool_*,
// read from pgxpool.Stat when scraped: nothing is counted on the request
// path.
type poolCollector struct {
	pool *pgxpool.Pool

	acquired, idle, constructing, total, max *prometheus.Desc
	acquires, acquireSeconds                 *prometheus.Desc
	waits, waitSeconds, canceled             *prometheus.Desc
	created, destroyed                       *prometheus.Desc
}

func newPoolCollector(pool *pgxpool.Pool) *poolCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("park_db_pool_"+name, help, labels, nil)
	}
	return &poolCollector{
		pool:           pool,
		acquired:       d("acquired_connections", "Connections of the database pool in use by a request now."),
		idle:           d("idle_connections", "Connections of the database pool open and idle now."),
		constructing:   d("constructing_connections", "Connections of the database pool being opened now."),
		total:          d("total_connections", "Connections of the database pool now: acquired, idle and being opened."),
		max:            d("max_connections", "Most connections the database pool opens (pool_max_conns)."),
		acquires:       d("acquires_total", "Connections taken from the database pool."),
		acquireSeconds: d("acquire_seconds_total", "Time spent taking connections from the database pool, waits included."),
		waits:          d("acquire_waits_total", "Takes from the database pool that found no idle connection and waited for one to open or come back."),
		waitSeconds:    d("acquire_wait_seconds_total", "Time spent by takes from the database pool waiting for a connection."),
		canceled:       d("canceled_acquires_total", "Takes from the database pool given up because their request ended or timed out first."),
		created:        d("connections_opened_total", "Connections the database pool opened."),
		destroyed:      d("connections_closed_total", "Connections the database pool closed because of their age or idleness, by reason (max_lifetime, max_idle).", "reason"),
	}
}

func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.acquired, c.idle, c.constructing, c.total, c.max,
		c.acquires, c.acquireSeconds, c.waits, c.waitSeconds, c.canceled, c.created, c.destroyed} {
		ch <- d
	}
}

func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.pool.Stat()
	gauge := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v)
	}
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	gauge(c.acquired, float64(s.AcquiredConns()))
	gauge(c.idle, float64(s.IdleConns()))
	gauge(c.constructing, float64(s.ConstructingConns()))
	gauge(c.total, float64(s.TotalConns()))
	gauge(c.max, float64(s.MaxConns()))
	counter(c.acquires, float64(s.AcquireCount()))
	counter(c.acquireSeconds, s.AcquireDuration().Seconds())
	counter(c.waits, float64(s.EmptyAcquireCount()))
	counter(c.waitSeconds, s.EmptyAcquireWaitTime().Seconds())
	counter(c.canceled, float64(s.CanceledAcquireCount()))
	counter(c.created, float64(s.NewConnsCount()))
	counter(c.destroyed, float64(s.MaxLifetimeDestroyCount()), "max_lifetime")
	counter(c.destroyed, float64(s.MaxIdleDestroyCount()), "max_idle")
}
