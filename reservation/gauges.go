package reservation

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
)

// IntegrityCounts returns how many findings of each kind (FindingConflict,
// FindingDeletedSpace, FindingTenantMismatch) the audit would report across
// every tenant, through maint.reservation_integrity_counts: a parameterless
// SECURITY DEFINER function that returns numbers only, since the server's
// login reaches one tenant at a time and Audit needs park_ops. Every kind
// is in the map, 0 when clean.
func (s *Store) IntegrityCounts(ctx context.Context) (map[string]int64, error) {
	out := make(map[string]int64, 3)
	err := s.db.AppTx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `select kind, findings from maint.reservation_integrity_counts()`)
		if err != nil {
			return err
		}
		var kind string
		var n int64
		_, err = pgx.ForEachRow(rows, []any{&kind, &n}, func() error {
			out[kind] = n
			return nil
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("count integrity findings: %w", err)
	}
	return out, nil
}

// Defaults of IntegrityCollectorOptions.
const (
	DefaultIntegrityTimeout  = 5 * time.Second
	DefaultIntegrityInterval = time.Minute
)

// IntegrityCollectorOptions tune NewIntegrityCollector.
type IntegrityCollectorOptions struct {
	// Timeout bounds one read of the counts; 0 means
	// DefaultIntegrityTimeout.
	Timeout time.Duration
	// Interval is the least time between two reads: scrapes in between
	// get the last counts. The conflict check joins every confirmed
	// reservation with its neighbours, too much for every scrape of every
	// instance. 0 means DefaultIntegrityInterval.
	Interval time.Duration
	// Logger receives failed reads; nil discards.
	Logger *slog.Logger
	// Now is the clock of Interval; nil means time.Now.
	Now func() time.Time
}

// integrityCollector reports park_reservation_integrity_findings{kind}.
type integrityCollector struct {
	store *Store
	opts  IntegrityCollectorOptions
	desc  *prometheus.Desc

	mu     sync.Mutex // one read at a time; guards what follows
	counts map[string]int64
	at     time.Time // when counts were read
}

// NewIntegrityCollector returns the collector of
// park_reservation_integrity_findings{kind}: the audit's findings of all
// tenants by kind, read at most once per Interval when scraped. A failed
// read reports nothing (the series go stale rather than lie) and is logged.
func NewIntegrityCollector(s *Store, opts IntegrityCollectorOptions) prometheus.Collector {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultIntegrityTimeout
	}
	if opts.Interval <= 0 {
		opts.Interval = DefaultIntegrityInterval
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &integrityCollector{store: s, opts: opts, desc: prometheus.NewDesc(
		"park_reservation_integrity_findings",
		"Reservations of all tenants that break an invariant, by kind (conflict: overlapping confirmed reservations; deleted_space; tenant_mismatch); always 0 unless a constraint was bypassed.",
		[]string{"kind"}, nil)}
}

func (c *integrityCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *integrityCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.opts.Now()
	if c.counts == nil || now.Sub(c.at) >= c.opts.Interval {
		ctx, cancel := context.WithTimeout(context.Background(), c.opts.Timeout)
		counts, err := c.store.IntegrityCounts(ctx)
		cancel()
		if err != nil {
			c.counts = nil
			c.opts.Logger.Warn("metrics: reservation integrity findings not counted", slog.String("error", err.Error()))
			return
		}
		c.counts, c.at = counts, now
	}
	for kind, n := range c.counts {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(n), kind)
	}
}
