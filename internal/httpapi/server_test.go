package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/parkhq/park/tenancy"
)

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// lines returns the JSON log lines with the given msg.
func (s *syncBuffer) lines(t *testing.T, msg string) []map[string]any {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(s.b.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", l)
		}
		if m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

type fixture struct {
	s   *server
	h   http.Handler
	log *syncBuffer
	reg *prometheus.Registry
}

// newFixture serves the routes that routes makes (nil: the real table)
// for deps.
func newFixture(t *testing.T, deps Deps, routes func(s *server) []Route) *fixture {
	t.Helper()
	log := &syncBuffer{}
	deps.Logger = slog.New(slog.NewJSONHandler(log, nil))
	if deps.Registry == nil {
		deps.Registry = prometheus.NewRegistry()
	}
	s := newServer(deps)
	s.registerMetrics()
	if routes == nil {
		routes = (*server).routes
	}
	return &fixture{s: s, h: s.handler(routes(s)), log: log, reg: deps.Registry}
}

func (f *fixture) do(t *testing.T, method, target string, body io.Reader, hdr ...string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, target, body)
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, r)
	return w
}

func problemOf(t *testing.T, w *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	if ct := w.Header().Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("content type %q, want application/problem+json; body %s", ct, w.Body)
	}
	var p map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil {
		t.Fatalf("problem body: %v: %s", err, w.Body)
	}
	if int(p["status"].(float64)) != w.Code {
		t.Fatalf("problem status %v, response %d", p["status"], w.Code)
	}
	return p
}

func TestHealthz(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Deps{Checks: []Check{{Name: "postgres", Probe: func(context.Context) error {
		t.Error("healthz touched a dependency")
		return nil
	}}}}, nil)
	w := f.do(t, "GET", "/healthz", nil)
	if w.Code != 200 || strings.TrimSpace(w.Body.String()) != `{"status":"ok"}` {
		t.Fatalf("healthz: %d %s", w.Code, w.Body)
	}
	if w.Header().Get("Content-Type") != "application/json" || w.Header().Get("X-Request-Id") == "" {
		t.Fatalf("headers: %v", w.Header())
	}
}

func TestReadyz(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	pgErr := error(nil)
	checks := []Check{
		{Name: "postgres", Probe: func(context.Context) error { mu.Lock(); defer mu.Unlock(); return pgErr }},
		{Name: "redis", Probe: func(context.Context) error { return nil }},
	}
	f := newFixture(t, Deps{Checks: checks}, nil)

	w := f.do(t, "GET", "/readyz", nil)
	if w.Code != 200 {
		t.Fatalf("ready: %d %s", w.Code, w.Body)
	}
	var ok readyAnswer
	if err := json.Unmarshal(w.Body.Bytes(), &ok); err != nil || ok.Status != "ok" || ok.Checks["postgres"] != "ok" || ok.Checks["redis"] != "ok" {
		t.Fatalf("ready body %s (%v)", w.Body, err)
	}

	mu.Lock()
	pgErr = errors.New("dial unix /secret/path: connection refused")
	mu.Unlock()
	for range 2 {
		w = f.do(t, "GET", "/readyz", nil)
		if w.Code != 503 {
			t.Fatalf("not ready: %d %s", w.Code, w.Body)
		}
		p := problemOf(t, w)
		if p["detail"] != "unavailable: postgres" || p["checks"].(map[string]any)["postgres"] != "down" || p["checks"].(map[string]any)["redis"] != "ok" {
			t.Fatalf("not-ready problem: %s", w.Body)
		}
		if strings.Contains(w.Body.String(), "/secret/path") {
			t.Fatalf("the probe's error reached the client: %s", w.Body)
		}
	}
	mu.Lock()
	pgErr = nil
	mu.Unlock()
	if w = f.do(t, "GET", "/readyz", nil); w.Code != 200 {
		t.Fatalf("recovered: %d", w.Code)
	}
	// One line when it went down (with the reason), one when it came back.
	if down := f.log.lines(t, "dependency down"); len(down) != 1 || down[0]["error"] != "dial unix /secret/path: connection refused" {
		t.Fatalf("down lines: %v", down)
	}
	if up := f.log.lines(t, "dependency up"); len(up) != 1 {
		t.Fatalf("up lines: %v", up)
	}
}

// TestReadyzDegraded: a failing check that only Degrades the server (Redis
// while the in-process limiter serves) keeps /readyz at 200, reported
// "degraded", logged once at info; the same failure of a check that does
// not degrade is a 503.
func TestReadyzDegraded(t *testing.T) {
	t.Parallel()
	redisDown := func(context.Context) error { return errors.New("dial unix /tmp/redis.sock: connection refused") }
	pgUp := func(context.Context) error { return nil }
	f := newFixture(t, Deps{Checks: []Check{{Name: "postgres", Probe: pgUp}, {Name: "redis", Probe: redisDown, Degrades: true}}}, nil)
	for range 2 {
		w := f.do(t, "GET", "/readyz", nil)
		var ans readyAnswer
		if err := json.Unmarshal(w.Body.Bytes(), &ans); err != nil || w.Code != 200 || ans.Status != "degraded" ||
			ans.Checks["redis"] != "degraded" || ans.Checks["postgres"] != "ok" {
			t.Fatalf("degraded: %d %s (%v)", w.Code, w.Body, err)
		}
	}
	if n := len(f.log.lines(t, "dependency degraded")); n != 1 {
		t.Errorf("degraded logged %d times, want once", n)
	}
	if n := len(f.log.lines(t, "dependency down")); n != 0 {
		t.Errorf("a degraded dependency logged as down %d times", n)
	}

	closed := newFixture(t, Deps{Checks: []Check{{Name: "postgres", Probe: pgUp}, {Name: "redis", Probe: redisDown}}}, nil)
	w := closed.do(t, "GET", "/readyz", nil)
	if p := problemOf(t, w); w.Code != 503 || p["checks"].(map[string]any)["redis"] != "down" {
		t.Fatalf("not degrading: %d %s", w.Code, w.Body)
	}
}

// gauges returns every sample of the gauges named, as "name{labels} value"
// sorted, from a scrape of reg.
func gauges(t *testing.T, reg *prometheus.Registry, names ...string) string {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, mf := range mfs {
		if !slices.Contains(names, mf.GetName()) {
			continue
		}
		for _, m := range mf.GetMetric() {
			out = append(out, fmt.Sprintf("%s{%s} %g", mf.GetName(), labels(m), m.GetGauge().GetValue()))
		}
	}
	slices.Sort(out)
	return strings.Join(out, "\n")
}

// TestReadinessGauges: a scrape runs the readiness checks, so readiness can
// be alerted on with no prober: park_ready is what /readyz would answer,
// park_dependency_up each check; an outage a scrape sees is logged once.
func TestReadinessGauges(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	pgErr, redisErr := error(nil), error(nil)
	probe := func(e *error) func(context.Context) error {
		return func(context.Context) error { mu.Lock(); defer mu.Unlock(); return *e }
	}
	set := func(e *error, v error) { mu.Lock(); defer mu.Unlock(); *e = v }
	f := newFixture(t, Deps{Checks: []Check{
		{Name: "postgres", Probe: probe(&pgErr)},
		{Name: "redis", Probe: probe(&redisErr), Degrades: true},
	}}, nil)
	scrape := func() string { return gauges(t, f.reg, "park_ready", "park_dependency_up") }

	if got := scrape(); got != "park_dependency_up{dependency=postgres} 1\npark_dependency_up{dependency=redis} 1\npark_ready{} 1" {
		t.Fatalf("all up:\n%s", got)
	}
	set(&redisErr, errors.New("redis down"))
	if got := scrape(); got != "park_dependency_up{dependency=postgres} 1\npark_dependency_up{dependency=redis} 0\npark_ready{} 1" {
		t.Fatalf("redis degraded:\n%s", got)
	}
	set(&pgErr, errors.New("postgres down"))
	for range 2 {
		if got := scrape(); got != "park_dependency_up{dependency=postgres} 0\npark_dependency_up{dependency=redis} 0\npark_ready{} 0" {
			t.Fatalf("postgres down:\n%s", got)
		}
	}
	if down := f.log.lines(t, "dependency down"); len(down) != 1 || down[0]["check"] != "postgres" {
		t.Fatalf("down lines: %v", down)
	}
	set(&pgErr, nil)
	if got := scrape(); !strings.HasSuffix(got, "park_ready{} 1") {
		t.Fatalf("recovered:\n%s", got)
	}
}

func TestReadyzTimesOut(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Deps{ReadyTimeout: 50 * time.Millisecond, Checks: []Check{{Name: "postgres", Probe: func(ctx context.Context) error {
		<-ctx.Done()
		return ctx.Err()
	}}}}, nil)
	start := time.Now()
	w := f.do(t, "GET", "/readyz", nil)
	if w.Code != 503 || time.Since(start) > 5*time.Second {
		t.Fatalf("hung check: %d after %s", w.Code, time.Since(start))
	}
}

func TestProblemTable(t *testing.T) {
	t.Parallel()
	validation := &tenancy.ValidationError{}
	validation.Add("email", "is required")
	dbConflict := tenancy.InterpretError(fmt.Errorf("insert site: %w", tenancy.ErrConflict)) // not a DBError: passes through
	tests := []struct {
		name       string
		err        error
		status     int
		slug       string
		detail     string // exact; "" skips
		header     [2]string
		notInBody  string
		wantFields bool
	}{
		{name: "not found", err: fmt.Errorf("get site 42: %w", tenancy.ErrNotFound), status: 404, slug: "not-found", detail: "get site 42: not found"},
		{name: "conflict", err: dbConflict, status: 409, slug: "conflict", detail: "insert site: conflict"},
		{name: "db conflict hides SQL", err: &tenancy.DBError{Kind: tenancy.ErrConflict, Code: "23505"}, status: 409, slug: "conflict",
			detail: "the request conflicts with existing data"},
		{name: "forbidden", err: fmt.Errorf("delete key: %w", tenancy.ErrForbidden), status: 403, slug: "forbidden", detail: "delete key: forbidden"},
		{name: "unauthorized", err: tenancy.ErrUnauthorized, status: 401, slug: "unauthorized", header: [2]string{"WWW-Authenticate", `Bearer realm="park"`}},
		{name: "validation", err: validation, status: 400, slug: "validation", wantFields: true},
		{name: "invalid", err: fmt.Errorf("limit: %w", tenancy.ErrInvalid), status: 400, slug: "invalid", detail: "limit: invalid input"},
		{name: "too large", err: &http.MaxBytesError{Limit: MaxBodyBytes}, status: 413, slug: "body-too-large"},
		{name: "media type", err: &requestError{status: 415, msg: "nope"}, status: 415, slug: "bad-request", detail: "nope"},
		{name: "serialization", err: tenancy.ErrSerialization, status: 503, slug: "try-again", header: [2]string{"Retry-After", "1"}},
		{name: "unavailable", err: &tenancy.DBError{Kind: tenancy.ErrUnavailable}, status: 503, slug: "unavailable", header: [2]string{"Retry-After", "5"}},
		{name: "deadline", err: context.DeadlineExceeded, status: 503, slug: "timeout"},
		{name: "internal", err: errors.New("pq: password=hunter2 leaked"), status: 500, slug: "internal", notInBody: "hunter2"},
		{name: "no tenant", err: tenancy.ErrNoTenant, status: 500, slug: "internal", notInBody: "tenant"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, Deps{}, errRoute(tt.err))
			w := f.do(t, "GET", "/x", nil)
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d", w.Code, tt.status)
			}
			p := problemOf(t, w)
			if p["type"] != ProblemTypeBase+tt.slug {
				t.Fatalf("type %v, want slug %s", p["type"], tt.slug)
			}
			if id := w.Header().Get("X-Request-Id"); p["title"] == "" || id == "" || p["correlation_id"] != id {
				t.Fatalf("title/correlation_id: %s", w.Body)
			}
			// request_id in a body is a reservation's idempotency key.
			if _, ok := p["request_id"]; ok {
				t.Fatalf("the problem names its correlation id request_id: %s", w.Body)
			}
			if tt.detail != "" && p["detail"] != tt.detail {
				t.Fatalf("detail %q, want %q", p["detail"], tt.detail)
			}
			if tt.header[0] != "" && w.Header().Get(tt.header[0]) != tt.header[1] {
				t.Fatalf("header %s = %q", tt.header[0], w.Header().Get(tt.header[0]))
			}
			if tt.notInBody != "" && strings.Contains(w.Body.String(), tt.notInBody) {
				t.Fatalf("body leaks %q: %s", tt.notInBody, w.Body)
			}
			if fields, _ := p["errors"].(map[string]any); tt.wantFields != (fields != nil) {
				t.Fatalf("errors member: %s", w.Body)
			}
			reqs := f.log.lines(t, "request")
			if len(reqs) != 1 || int(reqs[0]["status"].(float64)) != tt.status {
				t.Fatalf("request log: %v", reqs)
			}
			// Server errors are logged in full; client errors are not.
			_, logged := reqs[0]["error"]
			if logged != (tt.status >= 500) {
				t.Fatalf("request log error attr present=%v for %d", logged, tt.status)
			}
		})
	}
}

// errRoute is a table of one public route GET /x that fails with err.
func errRoute(err error) func(*server) []Route {
	return func(s *server) []Route {
		return []Route{{Method: "GET", Pattern: "/x", Access: AccessPublic, Handler: s.handle(func(http.ResponseWriter, *http.Request) error { return err })}}
	}
}

func TestClientGoneIsNotAnError(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Deps{}, errRoute(fmt.Errorf("query: %w", context.Canceled)))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r := httptest.NewRequest("GET", "/x", nil).WithContext(ctx)
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, r)
	reqs := f.log.lines(t, "request")
	if len(reqs) != 1 || reqs[0]["status"].(float64) != statusClientClosed {
		t.Fatalf("log: %v", reqs)
	}
	if len(f.log.lines(t, "request failed")) != 0 {
		t.Fatal("a vanished client was logged as a failure")
	}
}
