package ratelimit_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/parkhq/park/ratelimit"
	"github.com/prometheus/client_golang/prometheus"
)

// newLimiter is how a server builds its limiter: in process only without a
// Redis URL (one instance), else Redis with the in-process limiter as its
// fallback during outages.
func newLimiter(redisURL string, logger *slog.Logger, metrics *ratelimit.Metrics) (ratelimit.Limiter, func(), error) {
	local := ratelimit.NewLocal(ratelimit.LocalOptions{})
	if redisURL == "" {
		return ratelimit.Instrument(local, metrics), func() {}, nil
	}
	client, err := ratelimit.NewRedisClient(redisURL)
	if err != nil {
		return nil, nil, err
	}
	ratelimit.RouteRedisLogs(logger) // go-redis's own lines into the JSON log
	l := ratelimit.NewFallback(ratelimit.NewRedis(client, ratelimit.RedisOptions{}), local,
		ratelimit.FallbackOptions{Logger: logger, Metrics: metrics})
	return l, func() { client.Close() }, nil
}

// This is how a server wires the package: a limiter (in process here: the
// example has no Redis), tenant policies cached for 5 s, the API limit
// charged per tenant after authentication with the caller's own 429
// writer, and logins charged to three limits under keyed digests.
func Example_server() {
	var (
		logger = slog.New(slog.DiscardHandler) // the server's JSON logger
		reg    = prometheus.NewRegistry()      // the server's own registry
		// The tenant's settings "limits", from the tenancy store: tenant
		// t1 has an API limit of 1/s, burst 2.
		loadLimits = func(ctx context.Context, tenant string) (map[string]ratelimit.Override, error) {
			if tenant == "t1" {
				return map[string]ratelimit.Override{ratelimit.NameAPI: {Rate: 1, Burst: 2}}, nil
			}
			return nil, nil
		}
		// The authenticated tenant, from the auth middleware's context.
		tenantOf = func(r *http.Request) (string, bool) { return r.Header.Get("X-Tenant"), true }
		// httpapi's problem+json writer; headers are already set.
		writeProblem = func(w http.ResponseWriter, r *http.Request, res ratelimit.Result) {
			w.WriteHeader(http.StatusTooManyRequests)
		}
		// A secret every instance shares (parkd uses its JWT secret).
		secret = []byte("a shared secret of at least 32 bytes")
	)

	metrics, err := ratelimit.NewMetrics(reg)
	if err != nil {
		panic(err)
	}
	limiter, closeLimiter, err := newLimiter("", logger, metrics)
	if err != nil {
		panic(err)
	}
	defer closeLimiter()
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
	api := limitAPI(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	for range 3 {
		w := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodGet, "/api/v1/sites", nil)
		r.Header.Set("X-Tenant", "t1")
		api.ServeHTTP(w, r)
		fmt.Println("t1:", w.Code, w.Header().Get("RateLimit-Policy"))
	}

	// A login attempt is charged to three limits, most specific first;
	// emails and addresses enter keys only as keyed digests.
	scopes, err := ratelimit.NewScopeHasher(secret)
	if err != nil {
		panic(err)
	}
	login := func(ctx context.Context, email, ip string) (ratelimit.Result, error) {
		return ratelimit.AllowAll(ctx, limiter, 1,
			ratelimit.Check{Policy: base.LoginEmailIP, Key: ratelimit.Key(ratelimit.NameLoginEmailIP, scopes.Scope(email, ip))},
			ratelimit.Check{Policy: base.LoginEmail, Key: ratelimit.Key(ratelimit.NameLoginEmail, scopes.Scope(email))},
			ratelimit.Check{Policy: base.LoginIP, Key: ratelimit.Key(ratelimit.NameLoginIP, scopes.Scope(ip))},
		)
	}
	allowed := 0
	var last ratelimit.Result
	for range 11 {
		if last, err = login(context.Background(), "alice@example.com", "192.0.2.0/32"); err != nil {
			panic(err)
		}
		if last.Allowed {
			allowed++
		}
	}
	fmt.Println("logins allowed:", allowed, "then denied by", last.Policy.Name)
	// Output:
	// t1: 200 "api";q=2;w=2
	// t1: 200 "api";q=2;w=2
	// t1: 429 "api";q=2;w=2
	// logins allowed: 10 then denied by login_email_ip
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
