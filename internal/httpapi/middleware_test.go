package httpapi

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/parkhq/park/tenancy"
)

// counter returns park_http_requests_total for the labels, or -1.
func counter(t *testing.T, reg *prometheus.Registry, route, method, status string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "park_http_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if labels(m) == "method="+method+",route="+route+",status="+status {
				return m.GetCounter().GetValue()
			}
		}
	}
	return -1
}

func labels(m *dto.Metric) string {
	var parts []string
	for _, l := range m.GetLabel() {
		parts = append(parts, l.GetName()+"="+l.GetValue())
	}
	return strings.Join(parts, ",")
}

// allLabels lists every label value of the HTTP series.
func allLabels(t *testing.T, reg *prometheus.Registry) string {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, mf := range mfs {
		if strings.HasPrefix(mf.GetName(), "park_http_") {
			for _, m := range mf.GetMetric() {
				out = append(out, labels(m))
			}
		}
	}
	return strings.Join(out, "\n")
}

func TestRequestLogAndMetricsUseThePattern(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Deps{}, func(s *server) []Route {
		return []Route{{Method: "GET", Pattern: "/things/{id}", Access: AccessPublic, Handler: s.handle(func(w http.ResponseWriter, r *http.Request) error {
			return encode(w, http.StatusOK, map[string]string{"id": r.PathValue("id")})
		})}}
	})
	w := f.do(t, "GET", "/things/abc-123?token=s3cret", nil, "X-Request-Id", "req-42")
	if w.Code != 200 || w.Header().Get("X-Request-Id") != "req-42" {
		t.Fatalf("%d %v", w.Code, w.Header())
	}
	w = f.do(t, "GET", "/nowhere/xyz", nil)
	if p := problemOf(t, w); w.Code != 404 || p["type"] != ProblemTypeBase+"not-found" {
		t.Fatalf("unmatched: %d %s", w.Code, w.Body)
	}
	w = f.do(t, "BREW", "/things/1", nil)
	if p := problemOf(t, w); w.Code != 405 || p["type"] != ProblemTypeBase+"method-not-allowed" || w.Header().Get("Allow") == "" {
		t.Fatalf("wrong method: %d %v %s", w.Code, w.Header(), w.Body)
	}

	reqs := f.log.lines(t, "request")
	if len(reqs) != 3 {
		t.Fatalf("%d request lines", len(reqs))
	}
	first := reqs[0]
	if first["request_id"] != "req-42" || first["route"] != "/things/{id}" || first["status"].(float64) != 200 ||
		first["method"] != "GET" || first["client_ip"] != "192.0.2.1" {
		t.Fatalf("log line: %v", first)
	}
	if _, ok := first["duration_ms"].(float64); !ok {
		t.Fatalf("no duration: %v", first)
	}
	if strings.Contains(f.log.b.String(), "s3cret") {
		t.Fatal("the query string was logged")
	}
	if reqs[1]["route"] != "unmatched" || reqs[1]["status"].(float64) != 404 {
		t.Fatalf("unmatched: %v", reqs[1])
	}

	if got := counter(t, f.reg, "/things/{id}", "GET", "200"); got != 1 {
		t.Fatalf("counter for the pattern = %v", got)
	}
	if got := counter(t, f.reg, "unmatched", "GET", "404"); got != 1 {
		t.Fatalf("counter for unmatched = %v", got)
	}
	if got := counter(t, f.reg, "unmatched", "OTHER", "405"); got != 1 {
		t.Fatalf("counter for a strange method = %v\n%s", got, allLabels(t, f.reg))
	}
	if all := allLabels(t, f.reg); strings.Contains(all, "abc-123") || strings.Contains(all, "xyz") || strings.Contains(all, "BREW") {
		t.Fatalf("raw path or method in labels:\n%s", all)
	}
}

// TestRequestIDs: a well-formed X-Request-Id (1–128 of A-Za-z0-9._-) is
// kept, echoed and logged; anything else is replaced by a fresh id, which
// is what the response, the log line and a problem's correlation_id carry:
// the malformed id itself is never logged.
func TestRequestIDs(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Deps{}, nil)
	for _, id := range []string{"req-42", "a.b_C-9", strings.Repeat("a", 128), "0"} {
		w := f.do(t, "GET", "/healthz", nil, "X-Request-Id", id)
		if got := w.Header().Get("X-Request-Id"); got != id {
			t.Errorf("well-formed request id %q answered as %q", id, got)
		}
	}
	bad := []string{"has space", `{"json":1}`, strings.Repeat("b", 129), "evil\nline", "ctl\x01x", "tab\tx",
		"caf\u00e9", "quote\"x", "semi;x", "slash/x", "\u202eRTL"}
	for _, id := range bad {
		w := f.do(t, "GET", "/nowhere", nil, "X-Request-Id", id)
		got := w.Header().Get("X-Request-Id")
		if got == id || !validRequestID(got) {
			t.Errorf("request id %q kept as %q", id, got)
		}
		if p := problemOf(t, w); p["correlation_id"] != got {
			t.Errorf("correlation_id %v, X-Request-Id %q", p["correlation_id"], got)
		}
	}
	lines := f.log.lines(t, "request")
	if len(lines) != 4+len(bad) {
		t.Fatalf("%d request lines", len(lines))
	}
	for i, l := range lines[4:] {
		if id, _ := l["request_id"].(string); !validRequestID(id) || id == bad[i] {
			t.Errorf("logged request id %q for %q", id, bad[i])
		}
	}
	log := f.log.b.String()
	// Fragments a generated id (hex) cannot contain by chance: "caf" alone
	// is three hex digits and turned up in one run in a few hundred.
	for _, frag := range []string{"has space", strings.Repeat("b", 129), "evil", "ctl", "caf\u00e9", `caf\u00e9`, "RTL", "semi"} {
		if strings.Contains(log, frag) {
			t.Errorf("a malformed request id reached the log: %q", frag)
		}
	}
}

func TestRecoverPanics(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Deps{}, func(s *server) []Route {
		return []Route{
			{Method: "GET", Pattern: "/boom", Access: AccessPublic, Handler: http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("secret-ish detail") })},
			{Method: "GET", Pattern: "/abort", Access: AccessPublic, Handler: http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic(http.ErrAbortHandler) })},
		}
	})
	w := f.do(t, "GET", "/boom", nil)
	if w.Code != 500 {
		t.Fatalf("status %d", w.Code)
	}
	p := problemOf(t, w)
	if id := w.Header().Get("X-Request-Id"); strings.Contains(w.Body.String(), "secret-ish") || id == "" || p["correlation_id"] != id {
		t.Fatalf("body %s", w.Body)
	}
	panics := f.log.lines(t, "handler panicked")
	if len(panics) != 1 || !strings.Contains(panics[0]["stack"].(string), "TestRecoverPanics") {
		t.Fatalf("panic log: %v", panics)
	}
	reqs := f.log.lines(t, "request")
	if len(reqs) != 1 || reqs[0]["status"].(float64) != 500 || reqs[0]["route"] != "/boom" || reqs[0]["level"] != "ERROR" {
		t.Fatalf("request log: %v", reqs)
	}

	// net/http's own abort passes through (and is still logged).
	func() {
		defer func() {
			if r := recover(); r != http.ErrAbortHandler {
				t.Fatalf("recovered %v", r)
			}
		}()
		f.do(t, "GET", "/abort", nil)
	}()
	if reqs := f.log.lines(t, "request"); len(reqs) != 2 {
		t.Fatalf("abort not logged: %v", reqs)
	}
}

func TestNonPublicRoutesFailClosed(t *testing.T) {
	t.Parallel()
	called := false
	f := newFixture(t, Deps{}, func(s *server) []Route {
		return []Route{{Method: "GET", Pattern: "/api/v1/sites", Scope: tenancy.ScopeSitesRead, KeyAllowed: true,
			Handler: http.HandlerFunc(func(http.ResponseWriter, *http.Request) { called = true })}}
	})
	w := f.do(t, "GET", "/api/v1/sites", nil)
	if w.Code != 401 || called {
		t.Fatalf("status %d, handler called %v", w.Code, called)
	}
}

func TestValidateRoutes(t *testing.T) {
	t.Parallel()
	h := http.NotFoundHandler()
	tests := []struct {
		name   string
		routes []Route
		want   string
	}{
		{"ok", []Route{{Method: "GET", Pattern: "/a", Access: AccessPublic, Handler: h}, {Method: "POST", Pattern: "/a", Scope: tenancy.ScopeSitesWrite, Handler: h}}, ""},
		{"method", []Route{{Method: "get", Pattern: "/a", Access: AccessPublic, Handler: h}}, "unknown method"},
		{"pattern", []Route{{Method: "GET", Pattern: "a", Access: AccessPublic, Handler: h}}, "must start with /"},
		{"handler", []Route{{Method: "GET", Pattern: "/a", Access: AccessPublic}}, "no handler"},
		{"duplicate", []Route{{Method: "GET", Pattern: "/a", Access: AccessPublic, Handler: h}, {Method: "GET", Pattern: "/a", Access: AccessPublic, Handler: h}}, "duplicate"},
		{"unguarded", []Route{{Method: "GET", Pattern: "/a", Handler: h}}, "without scope or role"},
		{"public with scope", []Route{{Method: "GET", Pattern: "/a", Access: AccessPublic, Scope: tenancy.ScopeSitesRead, Handler: h}}, "public route with scope"},
	}
	for _, tt := range tests {
		err := validateRoutes(tt.routes)
		if (tt.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("%s: err = %v, want %q", tt.name, err, tt.want)
		}
	}
}

func TestRouteTable(t *testing.T) {
	t.Parallel()
	if err := validateRoutes(Routes(Deps{ServeMetrics: true})); err != nil {
		t.Fatal(err)
	}
	for _, rt := range Routes(Deps{}) {
		if rt.Pattern == "/metrics" {
			t.Fatal("/metrics in the table without ServeMetrics")
		}
	}
}

func TestMetricsRoute(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Deps{ServeMetrics: true}, nil)
	f.do(t, "GET", "/healthz", nil)
	w := f.do(t, "GET", "/metrics", nil)
	if w.Code != 200 || !strings.Contains(w.Body.String(), `park_http_requests_total{method="GET",route="/healthz",status="200"} 1`) {
		t.Fatalf("metrics: %d\n%s", w.Code, w.Body)
	}
	if w := newFixture(t, Deps{}, nil).do(t, "GET", "/metrics", nil); w.Code != 404 {
		t.Fatalf("/metrics without ServeMetrics: %d", w.Code)
	}
}

func TestTwoServersInOneProcess(t *testing.T) {
	t.Parallel()
	a, b := NewServer(Deps{ServeMetrics: true}), NewServer(Deps{ServeMetrics: true})
	for _, h := range []http.Handler{a, b, a} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", "/healthz", nil))
		if w.Code != 200 {
			t.Fatal(w.Code)
		}
	}
	w := httptest.NewRecorder()
	b.ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(w.Body)
	if !strings.Contains(string(body), `park_http_requests_total{method="GET",route="/healthz",status="200"} 1`) {
		t.Fatalf("b counted a's requests:\n%s", body)
	}
}

func TestCORS(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Deps{CORSAllowedOrigins: []string{"https://app.example"}}, nil)
	w := f.do(t, "OPTIONS", "/healthz", nil, "Origin", "https://app.example", "Access-Control-Request-Method", "GET")
	if w.Header().Get("Access-Control-Allow-Origin") != "https://app.example" {
		t.Fatalf("allowed preflight: %d %v", w.Code, w.Header())
	}
	w = f.do(t, "GET", "/healthz", nil, "Origin", "https://evil.example")
	if w.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("foreign origin allowed: %v", w.Header())
	}
	if reqs := f.log.lines(t, "request"); reqs[0]["route"] != "cors-preflight" {
		t.Fatalf("preflight route label: %v", reqs[0])
	}
	if w := newFixture(t, Deps{}, nil).do(t, "GET", "/healthz", nil, "Origin", "https://app.example"); w.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Fatal("CORS without configured origins")
	}
}

func TestClientIP(t *testing.T) {
	t.Parallel()
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
	tests := []struct {
		remote string
		xff    []string
		want   string
	}{
		{"203.0.113.9:1234", nil, "203.0.113.9"},
		{"203.0.113.9:1234", []string{"1.2.3.4"}, "203.0.113.9"}, // untrusted peer: header ignored
		{"10.0.0.5:1234", []string{"198.51.100.7"}, "198.51.100.7"},
		{"10.0.0.5:1234", []string{"6.6.6.6, 198.51.100.7, 10.0.0.9"}, "198.51.100.7"}, // left of the client is its claim
		{"10.0.0.5:1234", []string{"6.6.6.6", "198.51.100.7"}, "198.51.100.7"},         // several headers
		{"10.0.0.5:1234", []string{"10.1.1.1"}, "10.1.1.1"},                            // all trusted: the farthest
		{"10.0.0.5:1234", []string{"garbage, 198.51.100.7"}, "198.51.100.7"},
		{"10.0.0.5:1234", []string{"198.51.100.7, garbage"}, "10.0.0.5"},
		{"[fd00::1]:1234", []string{"2001:db8::7"}, "2001:db8::7"},
		{"[::ffff:10.0.0.5]:1234", []string{"198.51.100.7"}, "198.51.100.7"}, // mapped IPv4 peer
	}
	for _, tt := range tests {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = tt.remote
		for _, v := range tt.xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		if got := clientIP(r, trusted).String(); got != tt.want {
			t.Errorf("%s %q: got %s, want %s", tt.remote, tt.xff, got, tt.want)
		}
	}
}
