package ratelimit

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// limitsStore is a tenant settings table for TenantPolicies' loader.
type limitsStore struct {
	mu     sync.Mutex
	limits map[string]map[string]Override
	err    error
	loads  atomic.Int64
	gate   chan struct{} // when set, loads wait for it
	during func()        // when set, every load calls it (a slow load)
}

func (s *limitsStore) load(ctx context.Context, tenant string) (map[string]Override, error) {
	s.mu.Lock()
	gate, during := s.gate, s.during
	s.mu.Unlock()
	s.loads.Add(1)
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if during != nil {
		during()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.limits[tenant], s.err
}

func (s *limitsStore) set(tenant string, l map[string]Override, err error) {
	s.mu.Lock()
	s.limits[tenant], s.err = l, err
	s.mu.Unlock()
}

func TestTenantPoliciesTTL(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := newFakeClock()
	store := &limitsStore{limits: map[string]map[string]Override{"t1": {"api": {Rate: 10, Burst: 20}}}}
	base := DefaultPolicies()
	c := NewTenantPolicies(base, store.load, 0, clock.Now)

	ps, err := c.Get(ctx, "t1")
	if err != nil || ps.API.Rate != 10 || ps.API.Burst != 20 || ps.Webhook != base.Webhook {
		t.Fatalf("t1 = %+v, %v; want its API override", ps.API, err)
	}
	if ps, _ := c.Get(ctx, "t2"); ps != base {
		t.Fatalf("t2 without limits = %+v, want the base policies", ps)
	}
	store.set("t1", map[string]Override{"api": {Rate: 1, Burst: 1}}, nil)
	// Before the refresh-ahead window (the TTL's last fifth): cached.
	clock.Advance(DefaultTenantTTL - DefaultTenantTTL/5 - time.Millisecond)
	if ps, _ := c.Get(ctx, "t1"); ps.API.Rate != 10 {
		t.Fatalf("within the TTL: rate %v, want the cached 10", ps.API.Rate)
	}
	if n := store.loads.Load(); n != 2 {
		t.Fatalf("%d loads, want 2 (one per tenant)", n)
	}
	clock.Advance(DefaultTenantTTL/5 + time.Millisecond)
	if ps, _ := c.Get(ctx, "t1"); ps.API.Rate != 1 {
		t.Fatalf("after %v: rate %v, want the changed 1", DefaultTenantTTL, ps.API.Rate)
	}
}

func TestTenantPoliciesErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := newFakeClock()
	store := &limitsStore{limits: map[string]map[string]Override{"t1": {"api": {Rate: 10}}}}
	base := DefaultPolicies()
	c := NewTenantPolicies(base, store.load, time.Second, clock.Now)
	if ps, _ := c.Get(ctx, "t1"); ps.API.Rate != 10 {
		t.Fatal(ps.API)
	}

	// A failing database: the previous policies, the error once, and no
	// load on every request.
	boom := errors.New("database down")
	store.set("t1", nil, boom)
	clock.Advance(time.Second)
	ps, err := c.Get(ctx, "t1")
	if !errors.Is(err, boom) || ps.API.Rate != 10 {
		t.Fatalf("failed refresh = %v, %v; want the previous policies and the error", ps.API, err)
	}
	loads := store.loads.Load()
	if ps, err := c.Get(ctx, "t1"); err != nil || ps.API.Rate != 10 || store.loads.Load() != loads {
		t.Fatalf("right after a failed refresh: %v, %v, %d loads; want the kept policies, no load", ps.API, err, store.loads.Load()-loads)
	}
	// A new tenant while the database fails: the base policies.
	if ps, err := c.Get(ctx, "t3"); !errors.Is(err, boom) || ps != base {
		t.Fatalf("new tenant, failing load = %+v, %v", ps, err)
	}
	// Invalid stored limits: the error, and the base policies.
	store.set("t4", map[string]Override{"api": {Rate: -5}}, nil)
	store.set("t1", map[string]Override{"api": {Rate: 10}}, nil)
	if ps, err := c.Get(ctx, "t4"); !errors.Is(err, ErrInvalidPolicy) || ps != base {
		t.Fatalf("invalid limits = %+v, %v; want the base policies and ErrInvalidPolicy", ps, err)
	}
}

func TestTenantPoliciesSharesLoads(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	store := &limitsStore{limits: map[string]map[string]Override{"t1": {"webhook": {Burst: 7}}}, gate: make(chan struct{})}
	c := NewTenantPolicies(DefaultPolicies(), store.load, 0, clock.Now)

	// A caller that gives up while loading leaves nothing behind.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Get(ctx, "t1"); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled load: %v", err)
	}

	var wg sync.WaitGroup
	results := make(chan Policies, 20)
	for range 20 {
		wg.Go(func() {
			ps, err := c.Get(context.Background(), "t1")
			if err != nil {
				t.Error(err)
			}
			results <- ps
		})
	}
	waitFor(t, func() bool { return store.loads.Load() == 2 })
	close(store.gate)
	wg.Wait()
	close(results)
	for ps := range results {
		if ps.Webhook.Burst != 7 {
			t.Errorf("webhook burst %d, want 7", ps.Webhook.Burst)
		}
	}
	if n := store.loads.Load(); n != 2 {
		t.Errorf("%d loads, want 2: the cancelled one, then one shared by 20 callers", n)
	}
}

// TestTenantPoliciesExpiredEntryWaits: once an entry is older than the
// TTL, no caller gets it any more, not even while another caller refreshes
// it — the first requests after a quiet period must already run under a
// changed limit. Concurrent callers share the one load.
func TestTenantPoliciesExpiredEntryWaits(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := newFakeClock()
	store := &limitsStore{limits: map[string]map[string]Override{"t1": {"api": {Rate: 100, Burst: 200}}}}
	c := NewTenantPolicies(DefaultPolicies(), store.load, 0, clock.Now)
	if ps, _ := c.Get(ctx, "t1"); ps.API.Burst != 200 {
		t.Fatal(ps.API)
	}
	// parkctl tenant update t1 --api-rate 5 --api-burst 10, then quiet.
	store.mu.Lock()
	store.gate = make(chan struct{})
	store.limits["t1"] = map[string]Override{"api": {Rate: 5, Burst: 10}}
	store.mu.Unlock()
	clock.Advance(DefaultTenantTTL)

	var wg sync.WaitGroup
	results := make(chan Policies, 20)
	for range 20 {
		wg.Go(func() {
			ps, err := c.Get(ctx, "t1")
			if err != nil {
				t.Error(err)
			}
			results <- ps
		})
	}
	waitFor(t, func() bool { return store.loads.Load() == 2 })
	// A caller arriving while the refresh runs waits for it: here until
	// its own deadline, since the load is held.
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if ps, err := c.Get(short, "t1"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("during the refresh of an expired entry: %+v, %v; want to wait (deadline exceeded), not the old policies", ps.API, err)
	}
	close(store.gate)
	wg.Wait()
	close(results)
	for ps := range results {
		if ps.API.Rate != 5 || ps.API.Burst != 10 {
			t.Errorf("after the TTL: %+v, want rate 5 burst 10", ps.API)
		}
	}
	if n := store.loads.Load(); n != 2 {
		t.Errorf("%d loads, want 2: the first, then one shared by 21 callers", n)
	}
}

// TestTenantPoliciesTTLFromLoadStart: an entry's TTL runs from the start of
// its load, so a slow load does not stretch how long a change goes unseen.
func TestTenantPoliciesTTLFromLoadStart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := newFakeClock()
	store := &limitsStore{limits: map[string]map[string]Override{"t1": {"api": {Rate: 10}}}}
	store.during = func() { clock.Advance(2 * time.Second) }
	c := NewTenantPolicies(DefaultPolicies(), store.load, 0, clock.Now)
	if ps, _ := c.Get(ctx, "t1"); ps.API.Rate != 10 {
		t.Fatal(ps.API)
	}
	store.mu.Lock()
	store.during = nil
	store.limits["t1"] = map[string]Override{"api": {Rate: 1}}
	store.mu.Unlock()
	clock.Advance(DefaultTenantTTL - 2*time.Second) // 5 s after the load began
	if ps, _ := c.Get(ctx, "t1"); ps.API.Rate != 1 {
		t.Fatalf("%v after the load began: rate %v, want the changed 1", DefaultTenantTTL, ps.API.Rate)
	}
}

// TestTenantPoliciesRefreshAhead: in the last fifth of an entry's life the
// first caller refreshes it, while the others keep the still-valid entry
// without waiting.
func TestTenantPoliciesRefreshAhead(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := newFakeClock()
	store := &limitsStore{limits: map[string]map[string]Override{"t1": {"orphan": {Rate: 1}}}}
	c := NewTenantPolicies(DefaultPolicies(), store.load, 0, clock.Now)
	if ps, _ := c.Get(ctx, "t1"); ps.Orphan.Rate != 1 {
		t.Fatal(ps.Orphan)
	}
	store.mu.Lock()
	store.gate = make(chan struct{})
	store.limits["t1"] = map[string]Override{"orphan": {Rate: 2}}
	store.mu.Unlock()
	clock.Advance(DefaultTenantTTL - DefaultTenantTTL/5 - time.Millisecond)
	if ps, _ := c.Get(ctx, "t1"); ps.Orphan.Rate != 1 || store.loads.Load() != 1 {
		t.Fatalf("before the refresh window: %v, %d loads", ps.Orphan, store.loads.Load())
	}
	clock.Advance(time.Millisecond)
	refreshed := make(chan Policies)
	go func() {
		ps, _ := c.Get(ctx, "t1")
		refreshed <- ps
	}()
	waitFor(t, func() bool { return store.loads.Load() == 2 })
	if ps, err := c.Get(ctx, "t1"); err != nil || ps.Orphan.Rate != 1 {
		t.Fatalf("during the early refresh: %v, %v; want the still-valid policies at once", ps.Orphan, err)
	}
	close(store.gate)
	if ps := <-refreshed; ps.Orphan.Rate != 2 {
		t.Fatalf("refreshed: %v, want rate 2", ps.Orphan)
	}
	clock.Advance(DefaultTenantTTL / 5) // past the first entry's expiry
	if ps, _ := c.Get(ctx, "t1"); ps.Orphan.Rate != 2 || store.loads.Load() != 2 {
		t.Fatalf("after the refresh: %v, %d loads; want rate 2 from the early load", ps.Orphan, store.loads.Load())
	}
}
