package httpapi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/parkhq/park/internal/redistest"
	"github.com/parkhq/park/ratelimit"
	"github.com/parkhq/park/tenancy"
)

// limitedAPI is a second server on e's database and auth, with its own
// limiter and registry, as another parkd instance would be.
type limitedAPI struct {
	h       http.Handler
	reg     *prometheus.Registry
	clock   *e2eClock
	limiter ratelimit.Limiter
}

// newLimitedAPI serves e's stores with limiter l (nil: a local limiter). The
// tenant policies are cached with the test's clock; tune, when given,
// changes the Deps last.
func newLimitedAPI(t *testing.T, e *e2e, l ratelimit.Limiter, m *ratelimit.Metrics, reg *prometheus.Registry, tune ...func(*Deps)) *limitedAPI {
	t.Helper()
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	if l == nil {
		var err error
		if m, err = ratelimit.NewMetrics(reg); err != nil {
			t.Fatal(err)
		}
		l = ratelimit.Instrument(ratelimit.NewLocal(ratelimit.LocalOptions{Now: e.clock.Now}), m)
	}
	deps := e.deps
	deps.Registry = reg
	deps.ServeMetrics = true
	deps.Limiter = l
	deps.RatePolicies = ratelimit.NewTenantPolicies(ratelimit.DefaultPolicies(), LimitsLoader(deps.Tenancy), 5*time.Second, e.clock.Now)
	for _, f := range tune {
		f(&deps)
	}
	return &limitedAPI{h: NewServer(deps), reg: reg, clock: e.clock, limiter: l}
}

func (a *limitedAPI) do(method, target, cred, body string) *httptest.ResponseRecorder {
	return a.doFrom("192.0.2.7:1234", method, target, cred, body)
}

// doFrom sends a request from the peer address addr ("ip:port").
func (a *limitedAPI) doFrom(addr, method, target, cred, body string) *httptest.ResponseRecorder {
	var r *http.Request
	if body == "" {
		r = httptest.NewRequest(method, target, nil)
	} else {
		r = httptest.NewRequest(method, target, strings.NewReader(body))
	}
	r.RemoteAddr = addr
	if cred != "" {
		r.Header.Set("Authorization", "Bearer "+cred)
	}
	w := httptest.NewRecorder()
	a.h.ServeHTTP(w, r)
	return w
}

// setLimit changes a tenant's override the way parkctl tenant update does
// (tenancy.Ops.TenantSetLimits, as park_ops).
func (e *e2e) setLimit(t *testing.T, tenant, policy string, rate float64, burst int) {
	t.Helper()
	_, err := tenancy.NewOps(e.admin).TenantSetLimits(context.Background(), &tenancy.TenantSetLimitsParams{
		ID: uuid.MustParse(tenant), Limits: map[string]*tenancy.Limit{policy: {Rate: rate, Burst: burst}}, Actor: "operator:test"})
	if err != nil {
		t.Fatal(err)
	}
}

var rateLimitHeader = regexp.MustCompile(`^"api";r=\d+;t=\d+$`)

// TestAPIRateLimit: allowed answers carry RateLimit, the tenant's override
// applies, a denial is a 429 problem with Retry-After and both headers, and
// a changed limit takes effect within 5 s without a restart.
func TestAPIRateLimit(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	a := e.makeWorld(t, "alpha")
	b := e.makeWorld(t, "bravo")
	api := newLimitedAPI(t, e, nil, nil, nil)

	w := api.do("GET", "/api/v1/sites", a.token, "")
	if w.Code != 200 || !rateLimitHeader.MatchString(w.Header().Get("RateLimit")) || w.Header().Get("RateLimit-Policy") != `"api";q=200;w=2` {
		t.Fatalf("first request: %d RateLimit=%q Policy=%q", w.Code, w.Header().Get("RateLimit"), w.Header().Get("RateLimit-Policy"))
	}

	// An operator lowers A's limit; after the cache's 5 s it holds.
	e.setLimit(t, a.tenant, "api", 0.001, 3)
	e.clock.Advance(5*time.Second + time.Millisecond)
	allowed := 0
	var denied *httptest.ResponseRecorder
	for range 10 {
		w := api.do("GET", "/api/v1/sites", a.token, "")
		if w.Code == 200 {
			allowed++
		} else {
			denied = w
		}
	}
	// The key's state from the old policy has long passed: a fresh burst.
	if allowed != 3 || denied == nil {
		t.Fatalf("with burst 3: %d of 10 allowed", allowed)
	}
	if denied.Code != 429 || denied.Header().Get("Content-Type") != "application/problem+json" ||
		!strings.Contains(denied.Body.String(), "urn:park:problem:rate-limited") {
		t.Fatalf("denial: %d %s", denied.Code, denied.Body)
	}
	if ra := denied.Header().Get("Retry-After"); ra == "" || ra == "0" {
		t.Errorf("Retry-After %q", ra)
	}
	if denied.Header().Get("RateLimit-Policy") != `"api";q=3;w=3000` || !strings.HasPrefix(denied.Header().Get("RateLimit"), `"api";r=0;t=`) {
		t.Errorf("denial headers: %q %q", denied.Header().Get("RateLimit-Policy"), denied.Header().Get("RateLimit"))
	}
	// B is not affected by A's limit.
	if w := api.do("GET", "/api/v1/sites", b.token, ""); w.Code != 200 {
		t.Errorf("B after A is limited: %d", w.Code)
	}
	metrics := api.do("GET", "/metrics", "", "").Body.String()
	if !strings.Contains(metrics, `park_ratelimit_decisions_total{policy="api",result="denied"}`) {
		t.Errorf("no denial metric:\n%s", metrics)
	}
}

// TestLoginRateLimit: 40 bad logins for one email end in 429s with the
// headers, before the password is even checked.
func TestLoginRateLimit(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	e.makeWorld(t, "alpha")
	api := newLimitedAPI(t, e, nil, nil, nil)
	codes := map[int]int{}
	var last *httptest.ResponseRecorder
	for range 40 {
		last = api.do("POST", "/api/v1/auth/login", "", `{"email":"owner@alpha.example","password":"wrong-password"}`)
		codes[last.Code]++
	}
	// (email, IP) allows a burst of 10 per minute.
	if codes[401] != 10 || codes[429] != 30 {
		t.Fatalf("40 bad logins: %v", codes)
	}
	if last.Header().Get("Retry-After") == "" || last.Header().Get("RateLimit-Policy") == "" || last.Header().Get("RateLimit") == "" {
		t.Errorf("429 headers: %v", last.Header())
	}
	// The right password is refused too while the limit holds: guessing
	// must not go on.
	if w := api.do("POST", "/api/v1/auth/login", "", `{"email":"owner@alpha.example","password":"password123"}`); w.Code != 429 {
		t.Errorf("right password while limited: %d", w.Code)
	}
	// Another account from the same address is still allowed (the per-IP
	// limit has a burst of 30 and 40 attempts stopped at the first check).
	if w := api.do("POST", "/api/v1/auth/login", "", `{"email":"someone@else.example","password":"wrong-password"}`); w.Code != 401 {
		t.Errorf("another email: %d", w.Code)
	}
}

// TestSharedRedisLimits: two API servers with their own limiters on one
// Redis admit together what one would.
func TestSharedRedisLimits(t *testing.T) {
	t.Parallel()
	rs := redistest.New(t)
	e := newE2E(t)
	a := e.makeWorld(t, "alpha")
	e.setLimit(t, a.tenant, "api", 0.5, 10)

	servers := make([]*limitedAPI, 2)
	for i := range servers {
		client, err := ratelimit.NewRedisClient(rs.URL())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { client.Close() })
		reg := prometheus.NewRegistry()
		m, err := ratelimit.NewMetrics(reg)
		if err != nil {
			t.Fatal(err)
		}
		l := ratelimit.NewFallback(ratelimit.NewRedis(client, ratelimit.RedisOptions{}), ratelimit.NewLocal(ratelimit.LocalOptions{}),
			ratelimit.FallbackOptions{Logger: slog.New(slog.DiscardHandler), Metrics: m})
		servers[i] = newLimitedAPI(t, e, l, m, reg)
	}
	start := time.Now()
	allowed := 0
	for i := range 30 {
		if w := servers[i%2].do("GET", "/api/v1/sites", a.token, ""); w.Code == 200 {
			allowed++
		} else if w.Code != 429 {
			t.Fatalf("request %d: %d %s", i, w.Code, w.Body)
		}
	}
	// Burst 10 plus 0.5/s for the time the loop took, ±1.
	most := 10 + int(0.5*time.Since(start).Seconds()) + 1
	if allowed < 10 || allowed > most {
		t.Errorf("two servers on one Redis admitted %d, want 10..%d (one server's share)", allowed, most)
	}
}

// TestRedisOutage: with Redis killed the API goes on under the in-process
// limits, the backend-error metric counts, and logins keep being limited.
func TestRedisOutage(t *testing.T) {
	t.Parallel()
	rs := redistest.New(t)
	e := newE2E(t)
	a := e.makeWorld(t, "alpha")
	client, err := ratelimit.NewRedisClient(rs.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	reg := prometheus.NewRegistry()
	m, err := ratelimit.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	l := ratelimit.NewFallback(ratelimit.NewRedis(client, ratelimit.RedisOptions{}), ratelimit.NewLocal(ratelimit.LocalOptions{}),
		ratelimit.FallbackOptions{Logger: slog.New(slog.NewJSONHandler(logs, nil)), Metrics: m})
	api := newLimitedAPI(t, e, l, m, reg)
	if w := api.do("GET", "/api/v1/sites", a.token, ""); w.Code != 200 {
		t.Fatalf("before the outage: %d", w.Code)
	}
	rs.Kill()
	for i := range 5 {
		if w := api.do("GET", "/api/v1/sites", a.token, ""); w.Code != 200 || w.Header().Get("RateLimit") == "" {
			t.Fatalf("request %d during the outage: %d %v", i, w.Code, w.Header())
		}
	}
	metrics := api.do("GET", "/metrics", "", "").Body.String()
	if !regexp.MustCompile(`park_ratelimit_backend_errors_total [1-9]`).MatchString(metrics) {
		t.Errorf("backend errors not counted:\n%s", metrics)
	}
	codes := map[int]int{}
	for range 12 {
		codes[api.do("POST", "/api/v1/auth/login", "", `{"email":"owner@alpha.example","password":"wrong-password"}`).Code]++
	}
	if codes[429] != 2 {
		t.Errorf("logins during the outage: %v, want 10 refused by password and 2 by the limit", codes)
	}
	if n := len(logs.lines(t, "redis limiter unavailable, falling back")); n != 1 {
		t.Errorf("outage logged %d times, want once", n)
	}
}

// TestUnauthenticatedWorkIsLimited: registrations and failed
// authentications from one address are limited per IP (login-IP policy,
// burst 30), each in its own namespace; a bad refresh token is a failed
// authentication too.
func TestUnauthenticatedWorkIsLimited(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	a := e.makeWorld(t, "alpha")
	api := newLimitedAPI(t, e, nil, nil, nil)
	count := func(n int, do func(i int) int) map[int]int {
		codes := map[int]int{}
		for i := range n {
			codes[do(i)]++
		}
		return codes
	}
	bad := count(35, func(int) int { return api.do("GET", "/api/v1/sites", "not-a-token", "").Code })
	if bad[401] != 30 || bad[429] != 5 {
		t.Errorf("failed authentications: %v", bad)
	}
	// The address's own valid credentials still work: only failures are charged.
	if w := api.do("GET", "/api/v1/sites", a.token, ""); w.Code != 200 {
		t.Errorf("valid token after failures: %d", w.Code)
	}
	// From another address: this one's failed authentications are spent.
	refresh := count(32, func(int) int {
		return api.doFrom("192.0.2.8:1234", "POST", "/api/v1/auth/refresh", "", `{"refresh_token":"prt_`+strings.Repeat("A", 43)+`"}`).Code
	})
	if refresh[401] != 30 || refresh[429] != 2 {
		t.Errorf("refreshes with an unknown token: %v, want 30 failed authentications, then 429", refresh)
	}
	reg := count(31, func(i int) int {
		return api.do("POST", "/api/v1/auth/register", "", fmt.Sprintf(`{"user":{"email":"u%d@x.example","name":"U","password":"password123"},"tenant":{"name":"T","slug":"t-%d"}}`, i, i)).Code
	})
	if reg[201] != 30 || reg[429] != 1 {
		t.Errorf("registrations: %v", reg)
	}
}

// refreshToken logs the world's owner in and returns a refresh token.
func (a *limitedAPI) refreshToken(t *testing.T, addr, email string) string {
	t.Helper()
	w := a.doFrom(addr, "POST", "/api/v1/auth/login", "", `{"email":"`+email+`","password":"password123"}`)
	if w.Code != 200 {
		t.Fatalf("login: %d %s", w.Code, w.Body)
	}
	var tok struct {
		RefreshToken string `json:"refresh_token"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &tok); err != nil || tok.RefreshToken == "" {
		t.Fatalf("login answer %s: %v", w.Body, err)
	}
	return tok.RefreshToken
}

// TestRefreshLimit: refreshes and logouts have their own per-IP policy,
// 120/min burst 60 (not the login figures, burst 30), shared between the
// two; a reused, unknown or expired refresh token also counts as a failed
// authentication of the address.
func TestRefreshLimit(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	a := e.makeWorld(t, "alpha")
	api := newLimitedAPI(t, e, nil, nil, nil)
	const addr = "198.51.100.20:1234"
	tok := api.refreshToken(t, addr, a.email)
	for i := range 59 {
		w := api.doFrom(addr, "POST", "/api/v1/auth/refresh", "", `{"refresh_token":"`+tok+`"}`)
		if w.Code != 200 {
			t.Fatalf("refresh %d: %d %s", i+1, w.Code, w.Body)
		}
		var next struct {
			RefreshToken string `json:"refresh_token"`
		}
		if err := json.Unmarshal(w.Body.Bytes(), &next); err != nil {
			t.Fatal(err)
		}
		tok = next.RefreshToken
	}
	// The 60th of the burst is a logout; the 61st request is refused.
	if w := api.doFrom(addr, "POST", "/api/v1/auth/logout", "", `{"refresh_token":"`+tok+`"}`); w.Code != 204 {
		t.Fatalf("logout as the 60th: %d %s", w.Code, w.Body)
	}
	w := api.doFrom(addr, "POST", "/api/v1/auth/refresh", "", `{"refresh_token":"`+tok+`"}`)
	if w.Code != 429 || w.Header().Get("RateLimit-Policy") != `"refresh";q=60;w=30` {
		t.Fatalf("61st: %d %q %s, want 429 under the refresh policy", w.Code, w.Header().Get("RateLimit-Policy"), w.Body)
	}
	// Logins from the address are charged apart.
	if w := api.doFrom(addr, "POST", "/api/v1/auth/login", "", `{"email":"`+a.email+`","password":"password123"}`); w.Code != 200 {
		t.Errorf("login after the refresh burst: %d", w.Code)
	}

	// A reused refresh token (it was spent above) is a failed
	// authentication of its address: with 29 bad credentials after it,
	// the 30th is refused.
	const other = "198.51.100.21:1234"
	spent := api.refreshToken(t, other, a.email)
	if w := api.doFrom(other, "POST", "/api/v1/auth/refresh", "", `{"refresh_token":"`+spent+`"}`); w.Code != 200 {
		t.Fatalf("first use: %d", w.Code)
	}
	if w := api.doFrom(other, "POST", "/api/v1/auth/refresh", "", `{"refresh_token":"`+spent+`"}`); w.Code != 401 {
		t.Fatalf("reuse: %d %s", w.Code, w.Body)
	}
	codes := map[int]int{}
	for range 30 {
		codes[api.doFrom(other, "GET", "/api/v1/sites", "not-a-token", "").Code]++
	}
	if codes[401] != 29 || codes[429] != 1 {
		t.Errorf("bad tokens after a reused refresh token: %v, want 29 × 401 then 429 (the reuse was charged)", codes)
	}
	// So is an unknown token at logout.
	const third = "198.51.100.22:1234"
	if w := api.doFrom(third, "POST", "/api/v1/auth/logout", "", `{"refresh_token":"prt_`+strings.Repeat("B", 43)+`"}`); w.Code != 401 {
		t.Fatalf("logout with an unknown token: %d %s", w.Code, w.Body)
	}
	codes = map[int]int{}
	for range 30 {
		codes[api.doFrom(third, "GET", "/api/v1/sites", "not-a-token", "").Code]++
	}
	if codes[401] != 29 || codes[429] != 1 {
		t.Errorf("bad tokens after an unknown logout token: %v, want 29 × 401 then 429", codes)
	}
}

// TestPerIPLimitsKeyNetworks: per-IP limits key an IPv6 client by its /64
// and an IPv4 client by its address (an IPv4-mapped IPv6 address is the
// IPv4 address); both lengths are settings.
func TestPerIPLimitsKeyNetworks(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	e.makeWorld(t, "alpha")
	logins := func(api *limitedAPI, addr func(i int) string) map[int]int {
		codes := map[int]int{}
		for i := range 40 {
			// A distinct email each time: only the per-IP limit (burst 30)
			// can refuse.
			codes[api.doFrom(addr(i), "POST", "/api/v1/auth/login", "", fmt.Sprintf(`{"email":"u%d@x.example","password":"wrong-password"}`, i)).Code]++
		}
		return codes
	}
	in64 := func(i int) string { return fmt.Sprintf("[2001:db8:1:2:%x::%x]:1234", i, i+1) }

	api := newLimitedAPI(t, e, nil, nil, nil)
	if c := logins(api, in64); c[401] != 30 || c[429] != 10 {
		t.Errorf("40 logins from one /64: %v, want 30 × 401 then 10 × 429", c)
	}
	if c := logins(api, func(i int) string { return fmt.Sprintf("[2001:db8:1:%x::1]:1234", i+3) }); c[401] != 40 {
		t.Errorf("40 logins from 40 /64s: %v, want all 401", c)
	}
	mapped := 0
	for i := range 40 {
		addr := "192.0.2.99:1234"
		if i%2 == 1 {
			addr = "[::ffff:192.0.2.99]:1234"
		}
		if api.doFrom(addr, "POST", "/api/v1/auth/login", "", fmt.Sprintf(`{"email":"m%d@x.example","password":"wrong-password"}`, i)).Code == 429 {
			mapped++
		}
	}
	if mapped != 10 {
		t.Errorf("an IPv4 address and its IPv4-mapped form: %d of 40 refused, want 10 (one key)", mapped)
	}
	if c := logins(api, func(i int) string { return fmt.Sprintf("192.0.2.%d:1234", 100+i) }); c[401] != 40 {
		t.Errorf("40 logins from 40 IPv4 addresses: %v, want all 401", c)
	}

	// Configured: each IPv6 address alone, IPv4 by /24.
	tuned := newLimitedAPI(t, e, nil, nil, nil, func(d *Deps) { d.ClientIPv6Prefix, d.ClientIPv4Prefix = 128, 24 })
	if c := logins(tuned, in64); c[401] != 40 {
		t.Errorf("/128: 40 logins from 40 addresses of a /64: %v, want all 401", c)
	}
	if c := logins(tuned, func(i int) string { return fmt.Sprintf("203.0.113.%d:1234", 100+i) }); c[401] != 30 || c[429] != 10 {
		t.Errorf("/24: 40 logins from one /24: %v, want 30 × 401 then 10 × 429", c)
	}
}

// TestLimitKeysAreKeyedDigests: the Redis keys that stand for an email are
// HMACs under a key derived from the shared secret — not a SHA-256 anyone
// can recompute — so two servers with one secret share them and a server
// with another secret does not.
func TestLimitKeysAreKeyedDigests(t *testing.T) {
	t.Parallel()
	rs := redistest.New(t)
	e := newE2E(t)
	e.makeWorld(t, "alpha")
	server := func(secret string) *limitedAPI {
		client, err := ratelimit.NewRedisClient(rs.URL())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { client.Close() })
		return newLimitedAPI(t, e, ratelimit.NewRedis(client, ratelimit.RedisOptions{}), nil, nil,
			func(d *Deps) { d.LimitKeySecret = []byte(secret) })
	}
	const secret1, secret2 = "shared-secret-one-shared-secret-one", "shared-secret-two-shared-secret-two"
	const email = "victim@x.example"
	login := `{"email":"` + email + `","password":"wrong-password"}`
	a, b, c := server(secret1), server(secret1), server(secret2)
	ctx := context.Background()
	admin := rs.Client(t)
	emailKeys := func() []string {
		keys := admin.Keys(ctx, "*:"+ratelimit.NameLoginEmail).Val()
		slices.Sort(keys)
		return keys
	}

	for range 10 {
		a.do("POST", "/api/v1/auth/login", "", login)
	}
	h1, err := ratelimit.NewScopeHasher([]byte(secret1))
	if err != nil {
		t.Fatal(err)
	}
	want := ratelimit.Key(ratelimit.NameLoginEmail, h1.Scope(email))
	if got := emailKeys(); !slices.Equal(got, []string{want}) {
		t.Fatalf("email keys = %q, want [%q]", got, want)
	}
	sum := sha256.Sum256([]byte(email))
	if strings.Contains(want, hex.EncodeToString(sum[:16])) {
		t.Fatalf("key %q holds the plain SHA-256 of the email", want)
	}
	// The second server with the same secret continues the same counters:
	// its first attempt is the pair's 11th, over the burst of 10.
	if w := b.do("POST", "/api/v1/auth/login", "", login); w.Code != 429 {
		t.Errorf("11th attempt, on the other server with the same secret: %d, want 429", w.Code)
	}
	if got := emailKeys(); len(got) != 1 {
		t.Errorf("after the second server: keys %q, want the one shared key", got)
	}
	// Under another secret the email is another key.
	if w := c.do("POST", "/api/v1/auth/login", "", login); w.Code != 401 {
		t.Errorf("attempt on a server with another secret: %d, want 401 (fresh counters)", w.Code)
	}
	if got := emailKeys(); len(got) != 2 {
		t.Errorf("after a server with another secret: keys %q, want two", got)
	}
}

// TestLoginLimitCannotBeDodged: an attacker cannot step around the login
// limits by changing the case or padding of the email, or by sending
// X-Forwarded-For from a peer that is not a trusted proxy.
func TestLoginLimitCannotBeDodged(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	e.makeWorld(t, "alpha")
	api := newLimitedAPI(t, e, nil, nil, nil)
	spellings := []string{"owner@alpha.example", "OWNER@alpha.example", " Owner@Alpha.Example ", "owner@ALPHA.EXAMPLE"}
	codes := map[int]int{}
	for i := range 12 {
		codes[api.doFrom("198.51.100.30:1234", "POST", "/api/v1/auth/login", "", `{"email":"`+spellings[i%len(spellings)]+`","password":"wrong-password"}`).Code]++
	}
	if codes[429] != 2 {
		t.Errorf("12 attempts on one email in four spellings: %v, want 10 refused by password, then 2 by the (email, IP) limit", codes)
	}

	codes = map[int]int{}
	for i := range 40 {
		r := httptest.NewRequest("POST", "/api/v1/auth/login", strings.NewReader(fmt.Sprintf(`{"email":"x%d@x.example","password":"wrong-password"}`, i)))
		r.RemoteAddr = "198.51.100.31:1234" // not a trusted proxy (none are)
		r.Header.Set("X-Forwarded-For", fmt.Sprintf("203.0.113.%d", i))
		w := httptest.NewRecorder()
		api.h.ServeHTTP(w, r)
		codes[w.Code]++
	}
	if codes[401] != 30 || codes[429] != 10 {
		t.Errorf("40 logins from one peer claiming 40 X-Forwarded-For addresses: %v, want 30 × 401 then 10 × 429", codes)
	}
}

// TestChangedLimitHoldsAfterQuiet is the operator's story: the tenant's
// API limit is lowered to 5/s burst 10, nothing happens for 6 s, then a
// burst of 60 concurrent requests arrives at two servers sharing one
// limiter. Every one of them must run under the new limit: exactly 10 pass
// (the clock stands still, so nothing refills).
func TestChangedLimitHoldsAfterQuiet(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	a := e.makeWorld(t, "alpha")
	shared := ratelimit.NewLocal(ratelimit.LocalOptions{Now: e.clock.Now})
	servers := []*limitedAPI{newLimitedAPI(t, e, shared, nil, nil), newLimitedAPI(t, e, shared, nil, nil)}
	for _, s := range servers { // both have the old limit cached
		if w := s.do("GET", "/api/v1/sites", a.token, ""); w.Code != 200 {
			t.Fatalf("warm-up: %d", w.Code)
		}
	}
	e.setLimit(t, a.tenant, "api", 5, 10)
	e.clock.Advance(6 * time.Second)

	var wg sync.WaitGroup
	var allowed, other atomic.Int64
	start := make(chan struct{})
	for i := range 60 {
		wg.Go(func() {
			<-start
			switch servers[i%2].do("GET", "/api/v1/sites", a.token, "").Code {
			case 200:
				allowed.Add(1)
			case 429:
			default:
				other.Add(1)
			}
		})
	}
	close(start)
	wg.Wait()
	if allowed.Load() != 10 || other.Load() != 0 {
		t.Errorf("60 concurrent requests after the change and 6 s of quiet: %d allowed (%d neither 200 nor 429), want exactly the new burst of 10", allowed.Load(), other.Load())
	}
}
