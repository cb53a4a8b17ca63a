package ratelimit_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"time"

	"github.com/parkhq/park/ratelimit"
	"github.com/prometheus/client_golang/prometheus"
)

// This is how a server wires the package: in process only without a Redis
// URL, else Redis with the in-process limiter as its fallback; tenant
// policies cached for 5 s; the API limit charged per tenant after
// authentication, with the caller's own 429 writer.
func Example_server() {
	var (
		redisURL = os.Getenv("PARKD_REDIS_URL")
		logger   = slog.New(slog.NewJSONHandler(os.Stderr, nil))
		reg      = prometheus.NewRegistry() // the server's own registry
		// The tenant's settings "limits", from the tenancy store.
		loadLimits = func(ctx context.Context, tenant string) (map[string]ratelimit.Override, error) { return nil, nil }
		// The authenticated tenant, from the auth middleware's context.
		tenantOf = func(r *http.Request) (string, bool) { return r.Header.Get("X-Tenant"), true }
		// httpapi's problem+json writer; headers are already set.
		writeProblem = func(w http.ResponseWriter, r *http.Request, res ratelimit.Result) {
			w.WriteHeader(http.StatusTooManyRequests)
		}
	)

	metrics, err := ratelimit.NewMetrics(reg)
	if err != nil {
		panic(err)
	}
	local := ratelimit.NewLocal(ratelimit.LocalOptions{})
	limiter := ratelimit.Instrument(local, metrics)
	if redisURL != "" {
		client, err := ratelimit.NewRedisClient(redisURL)
		if err != nil {
			panic(err)
		}
		defer client.Close()
		limiter = ratelimit.NewFallback(ratelimit.NewRedis(client, ratelimit.RedisOptions{}), local,
			ratelimit.FallbackOptions{Logger: logger, Metrics: metrics})
	}
	base := ratelimit.DefaultPolicies() // .WithFailMode(ratelimit.FailClosed) to deny during outages
	policies := ratelimit.NewTenantPolicies(base, loadLimits, ratelimit.DefaultTenantTTL, nil)

	limitAPI := ratelimit.Middleware(limiter, func(r *http.Request) (ratelimit.Policy, string, bool) {
		tenant, ok := tenantOf(r)
		if !ok {
			return ratelimit.Policy{}, "", false
		}
		ps, err := policies.Get(r.Context(), tenant)
		if err != nil {
			logger.Warn("tenant limits", "tenant", tenant, "error", err)
		}
		return ps.API, ratelimit.Key(ratelimit.NameAPI, tenant), true
	}, writeProblem)
	_ = limitAPI // wrap the authenticated API routes with it

	// A login attempt is charged to three limits, most specific first.
	login := func(ctx context.Context, email, ip string) (ratelimit.Result, error) {
		return ratelimit.AllowAll(ctx, limiter, 1,
			ratelimit.Check{Policy: base.LoginEmailIP, Key: ratelimit.Key(ratelimit.NameLoginEmailIP, ratelimit.HashScope(email, ip))},
			ratelimit.Check{Policy: base.LoginEmail, Key: ratelimit.Key(ratelimit.NameLoginEmail, ratelimit.HashScope(email))},
			ratelimit.Check{Policy: base.LoginIP, Key: ratelimit.Key(ratelimit.NameLoginIP, ratelimit.HashScope(ip))},
		)
	}
	_ = login
}

func ExampleMiddleware() {
	start := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	l := ratelimit.NewLocal(ratelimit.LocalOptions{Now: func() time.Time { return start }})
	api := ratelimit.DefaultPolicies().API
	h := ratelimit.Middleware(l, func(r *http.Request) (ratelimit.Policy, string, bool) {
		return api, ratelimit.Key(api.Name, "tenant-1"), true
	}, nil)(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))

	for i := 1; i <= 201; i++ {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/api/v1/sites", nil))
		if i == 1 || i > 199 {
			fmt.Println(i, w.Code, w.Header().Get("RateLimit-Policy"), w.Header().Get("RateLimit"))
		}
		if ra := w.Header().Get("Retry-After"); ra != "" {
			fmt.Println("Retry-After:", ra)
		}
	}
	// Output:
	// 1 200 "api";q=200;w=2 "api";r=199;t=1
	// 200 200 "api";q=200;w=2 "api";r=0;t=2
	// 201 429 "api";q=200;w=2 "api";r=0;t=1
	// Retry-After: 1
}
