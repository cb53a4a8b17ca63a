package tenancy_test

import (
	"slices"
	"testing"

	"github.com/parkhq/park/ratelimit"
	"github.com/parkhq/park/tenancy"
)

// TestDefaultLimitsMatchRateLimiter keeps tenancy's statement of the
// platform defaults and bounds equal to what the server enforces: ratelimit
// may not import tenancy, so the numbers live in both.
func TestDefaultLimitsMatchRateLimiter(t *testing.T) {
	t.Parallel()
	if !slices.Equal(tenancy.LimitNames(), ratelimit.OverridableNames()) {
		t.Fatalf("LimitNames %v, ratelimit.OverridableNames %v", tenancy.LimitNames(), ratelimit.OverridableNames())
	}
	rl := ratelimit.DefaultPolicies()
	want := map[string]ratelimit.Policy{tenancy.LimitAPI: rl.API, tenancy.LimitWebhook: rl.Webhook, tenancy.LimitOrphan: rl.Orphan}
	got := tenancy.DefaultLimits()
	if len(got) != len(want) {
		t.Fatalf("DefaultLimits has %d policies, want %d", len(got), len(want))
	}
	for name, p := range want {
		if got[name].Rate != p.Rate || got[name].Burst != p.Burst {
			t.Errorf("%s: tenancy %+v, ratelimit rate %v burst %d", name, got[name], p.Rate, p.Burst)
		}
	}
	if tenancy.MaxLimitRate != ratelimit.MaxRate || tenancy.MaxLimitBurst > ratelimit.MaxBurst || tenancy.MaxLimitWindow != ratelimit.MaxWindow {
		t.Errorf("bounds differ from the rate limiter's")
	}
	got[tenancy.LimitAPI] = tenancy.Limit{Rate: 1, Burst: 1}
	if tenancy.DefaultLimits()[tenancy.LimitAPI].Rate != tenancy.DefaultAPIRate {
		t.Error("DefaultLimits returned shared state")
	}
}

func TestValidLimit(t *testing.T) {
	t.Parallel()
	for _, r := range []float64{1e-9, 0.5, 1, 1e6} {
		if !tenancy.ValidLimitRate(r) {
			t.Errorf("rate %v refused", r)
		}
	}
	for _, r := range []float64{0, -1, 1e6 + 0.5} {
		if tenancy.ValidLimitRate(r) {
			t.Errorf("rate %v accepted", r)
		}
	}
	for _, b := range []int{1, 200, 10_000_000} {
		if !tenancy.ValidLimitBurst(b) {
			t.Errorf("burst %d refused", b)
		}
	}
	for _, b := range []int{0, -1, 10_000_001} {
		if tenancy.ValidLimitBurst(b) {
			t.Errorf("burst %d accepted", b)
		}
	}
}
