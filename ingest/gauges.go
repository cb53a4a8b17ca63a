package ingest

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
)

// OrphanCounts returns the number of orphan devices of every tenant by
// status (new, ignored, assigned), through maint.orphan_device_counts: a
// parameterless SECURITY DEFINER function that returns numbers only, since
// the server's login reaches one tenant at a time.
func (s *Store) OrphanCounts(ctx context.Context) (map[string]int64, error) {
	out := map[string]int64{}
	err := s.db.AppTx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `select status, devices from maint.orphan_device_counts()`)
		if err != nil {
			return err
		}
		var status string
		var n int64
		_, err = pgx.ForEachRow(rows, []any{&status, &n}, func() error {
			out[status] = n
			return nil
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("count orphans: %w", err)
	}
	return out, nil
}

// orphanCollector reports park_orphan_devices{status} when scraped.
type orphanCollector struct {
	store   *Store
	timeout time.Duration
	logger  *slog.Logger
	desc    *prometheus.Desc
}

// NewOrphanCollector returns the collector of park_orphan_devices, the
// orphan devices of all tenants by status, read on each scrape within
// timeout. A failed read reports nothing (the series go stale rather than
// lie) and is logged.
func NewOrphanCollector(s *Store, timeout time.Duration, logger *slog.Logger) prometheus.Collector {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &orphanCollector{store: s, timeout: timeout, logger: logger, desc: prometheus.NewDesc(
		"park_orphan_devices", "Orphan devices of all tenants, by status (new, ignored, assigned).",
		[]string{"status"}, nil)}
}

func (c *orphanCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *orphanCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	counts, err := c.store.OrphanCounts(ctx)
	if err != nil {
		c.logger.Warn("metrics: orphan devices not counted", "err", err)
		return
	}
	for status, n := range counts {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(n), status)
	}
}
