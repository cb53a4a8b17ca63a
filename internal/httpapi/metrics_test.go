package httpapi

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// counterValue returns the counter name{labels} from reg ("k=v,…" in label
// order), or -1.
func counterValue(t *testing.T, reg *prometheus.Registry, name, lbls string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if labels(m) == lbls {
				return m.GetCounter().GetValue()
			}
		}
	}
	return -1
}

// TestAuthMetrics: failed authentications count by reason (an expired
// access token as "expired", no credential as "missing"), and API key
// requests by the scope the route required.
func TestAuthMetrics(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	deps := e.deps
	deps.Registry = prometheus.NewRegistry()
	e.h = NewServer(deps)
	w := e.makeWorld(t, "alpha")
	key := e.json(t, "POST", "/api/v1/api-keys", w.token, `{"name":"k","scopes":["sites:read","spaces:read"]}`, 201)["key"].(string)

	e.json(t, "GET", "/api/v1/sites", key, "", 200)
	e.json(t, "GET", "/api/v1/sites", key, "", 200)
	e.json(t, "GET", "/api/v1/spaces", key, "", 200)
	e.json(t, "GET", "/api/v1/sites", w.token, "", 200) // a user: not counted
	e.json(t, "GET", "/api/v1/sites", "", "", 401)
	e.clock.Advance(20 * time.Minute)
	e.json(t, "GET", "/api/v1/sites", w.token, "", 401)

	for _, c := range []struct {
		name, labels string
		want         float64
	}{
		{"park_api_key_requests_total", "scope=sites:read", 2},
		{"park_api_key_requests_total", "scope=spaces:read", 1},
		{"park_api_key_requests_total", "scope=sites:write", 0},
		{"park_auth_failures_total", "reason=expired", 1},
		{"park_auth_failures_total", "reason=missing", 1},
		{"park_auth_failures_total", "reason=invalid", 0},
	} {
		if got := counterValue(t, deps.Registry, c.name, c.labels); got != c.want {
			t.Errorf("%s{%s} = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
}
