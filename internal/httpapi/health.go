package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// handleHealthz answers liveness: the process serves HTTP. It touches no
// dependency, so a database outage never gets parkd restarted.
func (s *server) handleHealthz() http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Cache-Control", "no-store")
		return encode(w, http.StatusOK, map[string]string{"status": "ok"})
	})
}

// readyAnswer is /readyz's body when the server is ready: status "ok",
// or "degraded" while a dependency it can serve without is down.
type readyAnswer struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks"`
}

// handleReadyz answers readiness: every Check passes within
// Deps.ReadyTimeout, or fails but only Degrades the server (200, that
// check "degraded"). Otherwise it answers 503 naming what is down; the
// reasons go to the log (once per change of state, not on every probe),
// never to the client.
func (s *server) handleReadyz() http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Cache-Control", "no-store")
		errs := s.probe(r.Context())
		checks := map[string]string{}
		var down []string
		status := "ok"
		for i, c := range s.deps.Checks {
			switch {
			case errs[i] == nil:
				checks[c.Name] = "ok"
			case c.Degrades:
				checks[c.Name] = "degraded"
				status = "degraded"
			default:
				checks[c.Name] = "down"
				down = append(down, c.Name)
			}
		}
		if len(down) == 0 {
			return encode(w, http.StatusOK, readyAnswer{Status: status, Checks: checks})
		}
		slices.Sort(down)
		p := Problem{
			Type:       ProblemTypeBase + "not-ready",
			Title:      "Not ready",
			Status:     http.StatusServiceUnavailable,
			Detail:     "unavailable: " + strings.Join(down, ", "),
			Extensions: map[string]any{"checks": checks},
		}
		if info := infoFrom(r.Context()); info != nil {
			p.RequestID = info.id
		}
		writeProblem(w, p)
		return nil
	})
}

// probe runs every Check concurrently, each within Deps.ReadyTimeout, and
// returns their errors in the order of Deps.Checks. Each outcome is
// recorded, so an outage is logged when it starts and ends, whether
// /readyz or a scrape of /metrics saw it.
func (s *server) probe(ctx context.Context) []error {
	errs := make([]error, len(s.deps.Checks))
	var wg sync.WaitGroup
	for i, c := range s.deps.Checks {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(ctx, s.deps.ReadyTimeout)
			defer cancel()
			errs[i] = c.Probe(ctx)
		})
	}
	wg.Wait()
	for i, c := range s.deps.Checks {
		s.ready.record(ctx, s.logger, c, errs[i])
	}
	return errs
}

// readinessCollector reports, when scraped, park_ready (1 when /readyz
// would answer 200) and park_dependency_up{dependency} (1 while the
// dependency's check passes), from the same checks as /readyz, so
// readiness can be alerted on without a prober.
type readinessCollector struct {
	s         *server
	ready, up *prometheus.Desc
}

func newReadinessCollector(s *server) *readinessCollector {
	return &readinessCollector{s: s,
		ready: prometheus.NewDesc("park_ready",
			"1 when the server is ready (what /readyz answers with 200: every dependency up, or only degraded), else 0.", nil, nil),
		up: prometheus.NewDesc("park_dependency_up",
			"1 while the dependency's readiness check passes, else 0 (a Redis the server can serve without is then degraded, not down).",
			[]string{"dependency"}, nil),
	}
}

func (c *readinessCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.ready; ch <- c.up }

func (c *readinessCollector) Collect(ch chan<- prometheus.Metric) {
	errs := c.s.probe(context.Background())
	ready := 1.0
	for i, chk := range c.s.deps.Checks {
		up := 1.0
		if errs[i] != nil {
			up = 0
			if !chk.Degrades {
				ready = 0
			}
		}
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, up, chk.Name)
	}
	ch <- prometheus.MustNewConstMetric(c.ready, prometheus.GaugeValue, ready)
}

// readiness remembers each check's last state so that an outage is logged
// when it starts and when it ends, not on every probe.
type readiness struct {
	mu   sync.Mutex
	down map[string]bool
}

func newReadiness() *readiness { return &readiness{down: map[string]bool{}} }

// A dependency the server can serve without is logged at info level
// ("dependency degraded"): its own component (the limiter's breaker) warns
// about the outage once.
func (rd *readiness) record(ctx context.Context, logger *slog.Logger, c Check, err error) {
	rd.mu.Lock()
	was := rd.down[c.Name]
	rd.down[c.Name] = err != nil
	rd.mu.Unlock()
	switch {
	case err != nil && !was && c.Degrades:
		logger.LogAttrs(ctx, slog.LevelInfo, "dependency degraded", slog.String("check", c.Name), slog.String("error", err.Error()))
	case err != nil && !was:
		logger.LogAttrs(ctx, slog.LevelWarn, "dependency down", slog.String("check", c.Name), slog.String("error", err.Error()))
	case err == nil && was:
		logger.LogAttrs(ctx, slog.LevelInfo, "dependency up", slog.String("check", c.Name))
	}
}
