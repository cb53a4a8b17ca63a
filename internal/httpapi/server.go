// Package httpapi is parkd's HTTP layer: the route table (routes.go), the
// middleware every request passes through (request id, logging, metrics,
// panic recovery, CORS), JSON encoding and decoding, and the one table that
// turns errors into RFC 9457 problem details (errors.go).
//
// It is the only package that writes HTTP responses. The library packages
// (tenancy, reservation, ingest, ratelimit) return plain values and errors;
// handlers here adapt them, so one place decides every status code.
package httpapi

import (
	"cmp"
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/cors"

	"github.com/parkhq/park/ingest"
	"github.com/parkhq/park/ratelimit"
	"github.com/parkhq/park/reservation"
	"github.com/parkhq/park/tenancy"
)

// Deps is everything the HTTP API needs. The zero value of every field is
// usable, which keeps tests short.
type Deps struct {
	// Logger receives one line per request and every server-side error.
	// nil discards.
	Logger *slog.Logger
	// Registry receives the HTTP metrics. Each server has its own, so two
	// servers can run in one process. nil makes a private one.
	Registry *prometheus.Registry
	// ServeMetrics adds GET /metrics for Registry to this handler (parkd
	// sets it when PARKD_METRICS_ADDR is empty).
	ServeMetrics bool
	// Checks are what /readyz probes, concurrently, each within
	// ReadyTimeout. Empty means always ready.
	Checks []Check
	// ReadyTimeout bounds each readiness probe; 0 means
	// DefaultReadyTimeout.
	ReadyTimeout time.Duration
	// RequestTimeout is the deadline of every request's context, so a
	// request waiting on a slow or saturated database (a pooled
	// connection, a lock, a long query) gives up and is answered 503 with
	// Retry-After instead of hanging; the database cancels its statement.
	// 0 means no deadline.
	RequestTimeout time.Duration
	// CORSAllowedOrigins enables CORS for these origins ("*" for any;
	// parkd allows that only in dev). Empty disables CORS.
	CORSAllowedOrigins []string
	// TrustedProxies are the peers whose X-Forwarded-For is believed when
	// finding a request's client address.
	TrustedProxies []netip.Prefix
	// Tenancy is the store every tenant-scoped handler goes through.
	Tenancy *tenancy.Store
	// Auth authenticates callers; nil leaves every non-public route
	// answering 401 (fail closed).
	Auth *tenancy.Auth
	// RegistrationOpen enables POST /api/v1/auth/register.
	RegistrationOpen bool
	// Reservations tunes the reservation store (maximum length,
	// idempotency key TTL); the zero value takes the defaults.
	Reservations reservation.Options
	// Limiter enforces the rate limits; nil disables them.
	Limiter ratelimit.Limiter
	// Ingest takes the webhook uplinks of network servers; nil answers
	// the webhook routes 503 (never 2xx for an uplink nobody stored).
	Ingest *ingest.Intake
	// IngestStore serves webhook secrets, orphans and readings; nil
	// answers those routes 503.
	IngestStore *ingest.Store
	// RatePolicies are the policies per tenant (defaults with the
	// tenant's overrides, cached). Login limits come from its base.
	RatePolicies *ratelimit.TenantPolicies
	// LimitKeySecret keys the digests that stand for emails and client
	// addresses in limit keys (ratelimit.NewScopeHasher; at least 32
	// bytes). Every server sharing a Redis needs the same one, or their
	// login and per-IP limits would not add up; parkd passes its JWT
	// secret. Empty means a random secret of this server's own.
	LimitKeySecret []byte
	// ClientIPv4Prefix and ClientIPv6Prefix are how many leading bits of
	// a client's address per-IP limits (login, registration, refresh,
	// failed authentications) key it by; 0 means 32 and 64, so an IPv6
	// client is its /64.
	ClientIPv4Prefix, ClientIPv6Prefix int
}

// Default client prefixes of per-IP limits.
const (
	DefaultClientIPv4Prefix = 32
	DefaultClientIPv6Prefix = 64
)

// Check is one dependency /readyz probes.
type Check struct {
	// Name labels the check in the /readyz answer, e.g. "postgres".
	Name string
	// Probe returns nil when the dependency works. Its error is logged,
	// never sent to the client.
	Probe func(ctx context.Context) error
	// Degrades marks a dependency the server can serve without, less
	// well: while its probe fails, /readyz reports it "degraded" and
	// stays 200, so a load balancer does not drain every instance over
	// it. Redis in fail-open mode is one: the in-process limiter serves.
	Degrades bool
}

// DefaultReadyTimeout bounds each readiness probe unless
// Deps.ReadyTimeout says otherwise.
const DefaultReadyTimeout = 2 * time.Second

// PostgresCheck probes pool with `select 1`.
func PostgresCheck(pool *pgxpool.Pool) Check {
	return Check{Name: "postgres", Probe: func(ctx context.Context) error {
		var one int
		return pool.QueryRow(ctx, "select 1").Scan(&one)
	}}
}

// server holds what handlers share.
type server struct {
	logger  *slog.Logger
	deps    Deps
	metrics *metrics
	ready   *readiness

	scopes             *ratelimit.ScopeHasher // digests in limit keys
	ipv4Bits, ipv6Bits int                    // per-IP limits' prefixes
}

func newServer(deps Deps) *server {
	logger := deps.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if deps.Registry == nil {
		deps.Registry = prometheus.NewRegistry()
	}
	if deps.ReadyTimeout <= 0 {
		deps.ReadyTimeout = DefaultReadyTimeout
	}
	s := &server{logger: logger, deps: deps, ready: newReadiness(),
		ipv4Bits: cmp.Or(deps.ClientIPv4Prefix, DefaultClientIPv4Prefix),
		ipv6Bits: cmp.Or(deps.ClientIPv6Prefix, DefaultClientIPv6Prefix)}
	if s.ipv4Bits < 0 || s.ipv4Bits > 32 || s.ipv6Bits < 0 || s.ipv6Bits > 128 {
		panic(fmt.Sprintf("httpapi: client prefixes /%d and /%d are not IPv4 and IPv6 prefix lengths", s.ipv4Bits, s.ipv6Bits))
	}
	secret := deps.LimitKeySecret
	if len(secret) == 0 {
		secret = make([]byte, 32)
		_, _ = rand.Read(secret)
	}
	scopes, err := ratelimit.NewScopeHasher(secret)
	if err != nil {
		panic("httpapi: Deps.LimitKeySecret: " + err.Error())
	}
	s.scopes = scopes
	return s
}

// NewServer returns parkd's HTTP handler: every route of the route table
// behind the common middleware. It registers the HTTP metrics in
// deps.Registry, so call it once per registry. It panics on an invalid route
// table, a LimitKeySecret shorter than 32 bytes or a client prefix that is
// no prefix length: programming errors (parkd validates its settings).
func NewServer(deps Deps) http.Handler {
	s := newServer(deps)
	s.registerMetrics()
	return s.handler(s.routes())
}

// registerMetrics makes the server's series in its registry: the
// per-request ones and the readiness gauges.
func (s *server) registerMetrics() {
	s.metrics = newMetrics(s.deps.Registry)
	s.deps.Registry.MustRegister(newReadinessCollector(s))
}

// handler serves routes behind the common middleware.
func (s *server) handler(routes []Route) http.Handler {
	if err := validateRoutes(routes); err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	for _, rt := range routes {
		mux.Handle(rt.Method+" "+rt.Pattern, s.route(rt))
	}
	var h http.Handler = problemFallback(mux)
	if len(s.deps.CORSAllowedOrigins) > 0 {
		h = corsHandler(s.deps.CORSAllowedOrigins).Handler(h)
	}
	h = s.recoverPanics(h)
	h = s.withDeadline(h)
	h = s.logRequests(h)
	return h
}

// Routes returns the route table NewServer serves for deps, for the auth
// middleware's tests, the isolation matrix and generated documentation.
func Routes(deps Deps) []Route {
	return newServer(deps).routes()
}

// MetricsHandler serves reg in the Prometheus exposition format, for a
// separate metrics listener (PARKD_METRICS_ADDR).
func MetricsHandler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
}

// problemFallback makes the mux's own answers for requests that match no
// route (404, and 405 with its Allow header) problem details like every
// other error.
func problemFallback(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mux.ServeHTTP(&fallbackWriter{ResponseWriter: w, info: infoFrom(r.Context())}, r)
	})
}

// fallbackWriter replaces a 404 or 405 written before any route matched.
type fallbackWriter struct {
	http.ResponseWriter
	info     *requestInfo
	replaced bool
}

func (w *fallbackWriter) WriteHeader(code int) {
	if w.info != nil && w.info.route == "" && (code == http.StatusNotFound || code == http.StatusMethodNotAllowed) {
		w.replaced = true
		p := Problem{Type: ProblemTypeBase + "not-found", Title: "Not found", Status: code,
			Detail: "no such route", RequestID: w.info.id}
		if code == http.StatusMethodNotAllowed {
			p.Type, p.Title, p.Detail = ProblemTypeBase+"method-not-allowed", "Method not allowed",
				"the route does not allow this method; see the Allow header"
		}
		writeProblem(w.ResponseWriter, p)
		return
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *fallbackWriter) Write(b []byte) (int, error) {
	if w.replaced {
		return len(b), nil // the mux's plain-text body
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *fallbackWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// corsHandler answers preflights and decorates responses for browser
// clients. Park has no cookies, so credentials are never allowed; the
// exposed headers are the ones a client needs to retry and to replay.
func corsHandler(origins []string) *cors.Cors {
	return cors.New(cors.Options{
		AllowedOrigins: slices.Clone(origins),
		AllowedMethods: []string{http.MethodGet, http.MethodPost, http.MethodPatch, http.MethodDelete},
		AllowedHeaders: []string{"Authorization", "Content-Type", "Idempotency-Key", "X-API-Key", "X-Request-Id"},
		ExposedHeaders: []string{"Location", "Retry-After", "RateLimit", "RateLimit-Policy", "Idempotent-Replayed", "X-Request-Id"},
		MaxAge:         600,
	})
}

// handlerFunc is a handler that returns its error instead of writing it;
// handle turns it into a problem response.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// handle adapts h to http.Handler, answering its error through the problem
// table.
func (s *server) handle(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.writeError(w, r, err)
		}
	})
}

// route wraps a route's handler: it records the route for the request log
// and metrics, and puts principal routes behind authentication (webhook routes
// authenticate in their handlers, with the tenant's webhook secrets).
func (s *server) route(rt Route) http.Handler {
	h := rt.Handler
	if rt.Access == AccessPrincipal {
		h = s.authenticate(rt, h)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if info := infoFrom(r.Context()); info != nil {
			info.route = rt.Pattern
		}
		h.ServeHTTP(w, r)
	})
}
