package retention

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the retention series of one server's registry:
// park_pruned_rows_total{kind} and park_maintenance_runs_total{result}.
// A nil *Metrics counts nothing.
type Metrics struct {
	rows *prometheus.CounterVec
	runs *prometheus.CounterVec
}

// Run results, the result label of park_maintenance_runs_total.
var runResults = []string{"done", "busy", "error"}

// NewMetrics makes the retention series and registers them with reg (none
// when reg is nil). Every kind and result starts at 0, so a dashboard or
// an alert sees the series before the first deletion or failure.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		rows: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "park_pruned_rows_total",
			Help: "Rows deleted by the retention maintenance, by kind (readings, uplink_dedupe, idempotency_keys).",
		}, []string{"kind"}),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "park_maintenance_runs_total",
			Help: "Retention maintenance runs of this instance, by result: done, busy (another instance held the lock) or error.",
		}, []string{"result"}),
	}
	for _, k := range Kinds {
		m.rows.WithLabelValues(string(k))
	}
	for _, r := range runResults {
		m.runs.WithLabelValues(r)
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.rows, m.runs} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("register retention metrics: %w", err)
			}
		}
	}
	return m, nil
}

func (m *Metrics) pruned(k Kind, n int64) {
	if m != nil && n > 0 {
		m.rows.WithLabelValues(string(k)).Add(float64(n))
	}
}

func (m *Metrics) run(result string) {
	if m != nil {
		m.runs.WithLabelValues(result).Inc()
	}
}
