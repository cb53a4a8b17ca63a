package httpapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/parkhq/park/tenancy"
)

// metrics are the per-request series of DESIGN §9. Labels are bounded: the
// route is the table's pattern (or "unmatched"), the method one of a fixed
// set, never a raw path or a tenant.
type metrics struct {
	requests     *prometheus.CounterVec
	duration     *prometheus.HistogramVec
	authFailures *prometheus.CounterVec
	keyRequests  *prometheus.CounterVec
	ingest       *ingestMetrics
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "park_http_requests_total",
			Help: "HTTP requests answered, by route pattern, method and status.",
		}, []string{"route", "method", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "park_http_request_duration_seconds",
			Help:    "Time to answer an HTTP request, by route pattern.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route"}),
		authFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "park_auth_failures_total",
			Help: "Failed authentications, by reason (missing, malformed, invalid, expired, unknown, revoked, version, no_membership, suspended, reused).",
		}, []string{"reason"}),
		keyRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "park_api_key_requests_total",
			Help: "Requests authenticated with an API key, by the scope the route required.",
		}, []string{"scope"}),
	}
	reg.MustRegister(m.requests, m.duration, m.authFailures, m.keyRequests)
	// The reasons and scopes are known up front: each series starts at 0,
	// so the first failure or use after a start shows in rate() and
	// increase() too.
	for _, reason := range authFailureReasons {
		m.authFailures.WithLabelValues(reason)
	}
	for _, scope := range tenancy.AllScopes() {
		m.keyRequests.WithLabelValues(string(scope))
	}
	m.ingest = newIngestMetrics(reg)
	return m
}

// authFailureReasons are the reason label values of
// park_auth_failures_total: "missing" and "malformed" from the
// middleware, the rest from tenancy.AuthFailure.
var authFailureReasons = []string{
	"missing", "malformed", "invalid", "expired", "unknown", "revoked", "version",
	"no_membership", "suspended", "reused",
}

func (m *metrics) authFailure(reason string) {
	if m != nil {
		m.authFailures.WithLabelValues(reason).Inc()
	}
}

func (m *metrics) keyRequest(scope string) {
	if m != nil {
		m.keyRequests.WithLabelValues(scope).Inc()
	}
}

func (m *metrics) observe(route, method string, status int, elapsed time.Duration) {
	if m == nil {
		return
	}
	m.requests.WithLabelValues(route, metricMethod(method), strconv.Itoa(status)).Inc()
	m.duration.WithLabelValues(route).Observe(elapsed.Seconds())
}

// metricMethod keeps the method label bounded whatever clients send.
func metricMethod(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
		http.MethodPatch, http.MethodDelete, http.MethodOptions:
		return m
	}
	return "OTHER"
}
