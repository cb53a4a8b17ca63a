package ratelimit

import (
	"context"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Values of the result label of park_ratelimit_decisions_total.
const (
	ResultAllowed = "allowed"
	ResultDenied  = "denied"
	// ResultError counts calls that no limit decided: the limiter failed
	// (an invalid policy, a cancelled request), or a FailClosed policy
	// denied because Redis was unavailable.
	ResultError = "error"
)

// Metrics are the limiter's series of DESIGN §9. Make one per server with
// NewMetrics and share it; a nil *Metrics records nothing.
type Metrics struct {
	decisions     *prometheus.CounterVec
	backendErrors prometheus.Counter
}

// NewMetrics creates the limiter's metrics and registers them on reg (nil:
// not registered, for tests): park_ratelimit_decisions_total{policy,result}
// and park_ratelimit_backend_errors_total.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "park_ratelimit_decisions_total",
			Help: "Rate limit decisions, by policy and result (allowed, denied, error).",
		}, []string{"policy", "result"}),
		backendErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "park_ratelimit_backend_errors_total",
			Help: "Failed calls to the shared (Redis) rate limiter; each one was decided in process or denied instead.",
		}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.decisions, m.backendErrors} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("register rate limit metrics: %w", err)
			}
		}
	}
	return m, nil
}

func (m *Metrics) decision(policy, result string) {
	if m != nil {
		m.decisions.WithLabelValues(policy, result).Inc()
	}
}

func (m *Metrics) observe(p Policy, res Result, err error) {
	if m == nil {
		return
	}
	name := p.Name
	if validName(name) != nil {
		name = "invalid" // a label value must stay bounded whatever callers pass
	}
	switch {
	case err != nil:
		m.decision(name, ResultError)
	case res.Allowed:
		m.decision(name, ResultAllowed)
	default:
		m.decision(name, ResultDenied)
	}
}

func (m *Metrics) backendError() {
	if m != nil {
		m.backendErrors.Inc()
	}
}

// Instrument returns l counting its decisions in m: for a limiter used on
// its own (a FallbackLimiter counts its own).
func Instrument(l Limiter, m *Metrics) Limiter {
	return instrumented{l: l, m: m}
}

type instrumented struct {
	l Limiter
	m *Metrics
}

func (i instrumented) Allow(ctx context.Context, key string, p Policy, n int) (Result, error) {
	res, err := i.l.Allow(ctx, key, p, n)
	i.m.observe(p, res, err)
	return res, err
}
