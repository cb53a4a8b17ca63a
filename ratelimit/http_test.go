package ratelimit

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestSetHeaders(t *testing.T) {
	t.Parallel()
	ps := DefaultPolicies()
	tests := []struct {
		name                 string
		res                  Result
		policy, limit, retry string
	}{
		{"api denied (DESIGN §6)",
			Result{Allowed: false, RetryAfter: 10 * time.Millisecond, ResetAfter: 2 * time.Second, Policy: ps.API},
			`"api";q=200;w=2`, `"api";r=0;t=1`, "1"},
		{"api allowed",
			Result{Allowed: true, Remaining: 150, ResetAfter: 500 * time.Millisecond, Policy: ps.API},
			`"api";q=200;w=2`, `"api";r=150;t=1`, ""},
		{"full quota",
			Result{Allowed: true, Remaining: 400, Policy: ps.Webhook},
			`"webhook";q=400;w=2`, `"webhook";r=400;t=0`, ""},
		{"allowed, last unit",
			Result{Allowed: true, Remaining: 0, ResetAfter: 1999 * time.Millisecond, Policy: ps.API},
			`"api";q=200;w=2`, `"api";r=0;t=2`, ""},
		{"login per IP: retry rounds up",
			Result{Allowed: false, RetryAfter: 1500 * time.Millisecond, ResetAfter: 30 * time.Second, Policy: ps.LoginIP},
			`"login_ip";q=30;w=30`, `"login_ip";r=0;t=2`, "2"},
		{"whole seconds stay whole",
			Result{Allowed: false, RetryAfter: 6 * time.Second, ResetAfter: time.Minute, Policy: ps.LoginEmailIP},
			`"login_email_ip";q=10;w=60`, `"login_email_ip";r=0;t=6`, "6"},
		{"a microsecond over rounds up",
			Result{Allowed: false, RetryAfter: 6*time.Second + time.Microsecond, Policy: ps.LoginEmailIP},
			`"login_email_ip";q=10;w=60`, `"login_email_ip";r=0;t=7`, "7"},
		{"fail-closed denial without a retry time still says 1",
			Result{Allowed: false, Policy: ps.Orphan},
			`"orphan";q=20;w=4`, `"orphan";r=0;t=1`, "1"},
		{"window rounds up",
			Result{Allowed: true, Remaining: 9, ResetAfter: 333333 * time.Microsecond, Policy: Policy{Name: "x", Rate: 3, Burst: 10}},
			`"x";q=10;w=4`, `"x";r=9;t=1`, ""},
		{"no policy: no headers", Result{Allowed: true}, "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			SetHeaders(h, tt.res)
			if got := h.Get(HeaderPolicy); got != tt.policy {
				t.Errorf("RateLimit-Policy = %q, want %q", got, tt.policy)
			}
			if got := h.Get(HeaderRateLimit); got != tt.limit {
				t.Errorf("RateLimit = %q, want %q", got, tt.limit)
			}
			if got := h.Get(HeaderRetryAfter); got != tt.retry {
				t.Errorf("Retry-After = %q, want %q", got, tt.retry)
			}
		})
	}
}

func TestMiddleware(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	l := NewLocal(LocalOptions{Now: clock.Now})
	p := Policy{Name: "api", Rate: 1, Burst: 2}
	choose := func(r *http.Request) (Policy, string, bool) {
		tenant := r.Header.Get("X-Tenant")
		return p, Key(p.Name, tenant), tenant != ""
	}
	var denied []Result
	onDeny := func(w http.ResponseWriter, _ *http.Request, res Result) {
		denied = append(denied, res)
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusTooManyRequests)
	}
	next := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	h := Middleware(l, choose, onDeny)(next)

	do := func(tenant string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodGet, "/api/v1/sites", nil)
		if tenant != "" {
			r.Header.Set("X-Tenant", tenant)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	for i, want := range []string{`"api";r=1;t=1`, `"api";r=0;t=2`} {
		w := do("t1")
		if w.Code != http.StatusNoContent || w.Header().Get(HeaderRateLimit) != want || w.Header().Get(HeaderPolicy) != `"api";q=2;w=2` || w.Header().Get(HeaderRetryAfter) != "" {
			t.Fatalf("request %d: %d %v, want 204 with RateLimit %s", i, w.Code, w.Header(), want)
		}
	}
	w := do("t1")
	if w.Code != http.StatusTooManyRequests || w.Header().Get(HeaderRetryAfter) != "1" || w.Header().Get(HeaderRateLimit) != `"api";r=0;t=1` {
		t.Fatalf("third request: %d %v, want 429 with Retry-After 1", w.Code, w.Header())
	}
	if len(denied) != 1 || denied[0].Allowed || denied[0].Policy != p {
		t.Fatalf("onDeny got %+v", denied)
	}
	if w := do("t2"); w.Code != http.StatusNoContent {
		t.Errorf("another tenant: %d, want its own quota", w.Code)
	}
	if w := do(""); w.Code != http.StatusNoContent || w.Header().Get(HeaderRateLimit) != "" {
		t.Errorf("unlimited request: %d %v, want 204 without headers", w.Code, w.Header())
	}
	clock.Advance(time.Second)
	if w := do("t1"); w.Code != http.StatusNoContent {
		t.Errorf("after Retry-After: %d, want 204", w.Code)
	}
}

func TestMiddlewareDefaults(t *testing.T) {
	t.Parallel()
	l := NewLocal(LocalOptions{})
	p := Policy{Name: "orphan", Rate: 1.0 / 60, Burst: 1}
	next := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {})
	h := Middleware(l, func(*http.Request) (Policy, string, bool) { return p, "k", true }, nil)(next)
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/", nil))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/", nil))
	if w.Code != http.StatusTooManyRequests || !strings.Contains(w.Body.String(), "rate limit exceeded (orphan): retry in 60 s") || w.Header().Get(HeaderRetryAfter) != "60" {
		t.Errorf("default deny: %d %q %v", w.Code, w.Body, w.Header())
	}

	// A limiter that cannot decide lets the request through.
	bad := Middleware(l, func(*http.Request) (Policy, string, bool) { return Policy{Name: "api"}, "k", true }, nil)(next)
	w = httptest.NewRecorder()
	bad.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/", nil))
	if w.Code != http.StatusOK || w.Header().Get(HeaderRateLimit) != "" {
		t.Errorf("undecided: %d %v, want 200 without headers", w.Code, w.Header())
	}
}

func TestAllowAll(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := newFakeClock()
	l := NewLocal(LocalOptions{Now: clock.Now})
	ps := DefaultPolicies()
	email, ip := "alice@example.com", "192.0.2.1"
	checks := func(email, ip string) []Check {
		return []Check{
			{ps.LoginEmailIP, Key(NameLoginEmailIP, testScopes.Scope(email, ip))},
			{ps.LoginEmail, Key(NameLoginEmail, testScopes.Scope(email))},
			{ps.LoginIP, Key(NameLoginIP, testScopes.Scope(ip))},
		}
	}
	for i := range 10 {
		res, err := AllowAll(ctx, l, 1, checks(email, ip)...)
		if err != nil || !res.Allowed || res.Policy.Name != NameLoginEmailIP || res.Remaining != 9-i {
			t.Fatalf("attempt %d: %+v, %v; want allowed, the pair's policy the tightest", i+1, res, err)
		}
	}
	res, err := AllowAll(ctx, l, 1, checks(email, ip)...)
	if err != nil || res.Allowed || res.Policy.Name != NameLoginEmailIP {
		t.Fatalf("11th attempt: %+v, %v; want denied by the pair's policy", res, err)
	}
	// The denial charged neither the email nor the IP: 10 of 50 and 10
	// of 30 used. From other IPs the email's limit comes next.
	for i := range 40 {
		res, err := AllowAll(ctx, l, 1, checks(email, "198.51.100."+string(rune('0'+i%10))+string(rune('0'+i/10)))...)
		if err != nil || !res.Allowed {
			t.Fatalf("other IP %d: %+v, %v", i, res, err)
		}
	}
	res, _ = AllowAll(ctx, l, 1, checks(email, "203.0.113.9")...)
	if res.Allowed || res.Policy.Name != NameLoginEmail {
		t.Errorf("51st attempt on one email: %+v, want denied by the email's policy", res)
	}
	if res, err := AllowAll(ctx, l, 1); err != nil || !res.Allowed {
		t.Errorf("no checks: %+v, %v; want allowed", res, err)
	}
}
