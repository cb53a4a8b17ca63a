package ratelimit

import (
	"context"
	"sync"
	"time"
)

// DefaultTenantTTL is how long TenantPolicies trusts a tenant's limits: a
// limit changed with parkctl takes effect within it (DESIGN §6: 5 s).
const DefaultTenantTTL = 5 * time.Second

// LoadLimits returns a tenant's "limits" settings (nil or empty when it
// has none). tenant is whatever key the caller uses, typically the
// tenant's UUID as a string.
type LoadLimits func(ctx context.Context, tenant string) (map[string]Override, error)

// TenantPolicies caches each tenant's policies — the base policies with
// the tenant's overrides — for a TTL. Concurrent misses for one tenant
// share one load, and while a tenant's entry is being refreshed the other
// callers keep the previous value rather than waiting.
type TenantPolicies struct {
	base Policies
	load LoadLimits
	ttl  time.Duration
	now  func() time.Time

	mu         sync.Mutex
	m          map[string]*tenantEntry
	untilSweep int
}

type tenantEntry struct {
	ps      Policies
	has     bool // ps has been loaded
	expires time.Time
	loading chan struct{} // non-nil while a load runs; closed after it
}

// NewTenantPolicies returns a cache of base with each tenant's overrides
// from load, kept for ttl (0 means DefaultTenantTTL). now is the clock
// (nil means time.Now).
func NewTenantPolicies(base Policies, load LoadLimits, ttl time.Duration, now func() time.Time) *TenantPolicies {
	if ttl <= 0 {
		ttl = DefaultTenantTTL
	}
	if now == nil {
		now = time.Now
	}
	return &TenantPolicies{base: base, load: load, ttl: ttl, now: now, m: make(map[string]*tenantEntry), untilSweep: minSweep}
}

// Get returns tenant's policies. When loading fails, or the stored limits
// are invalid, it returns the tenant's previous policies (or the base
// ones) with the error, and keeps them for the TTL so a failing database
// is not asked on every request; the caller logs the error and goes on.
// A load cut short by ctx is not kept.
func (c *TenantPolicies) Get(ctx context.Context, tenant string) (Policies, error) {
	for {
		c.mu.Lock()
		e, ok := c.m[tenant]
		switch {
		case ok && e.has && c.now().Before(e.expires):
			ps := e.ps
			c.mu.Unlock()
			return ps, nil
		case ok && e.loading != nil && e.has:
			ps := e.ps // stale while another caller refreshes it
			c.mu.Unlock()
			return ps, nil
		case ok && e.loading != nil:
			ch := e.loading
			c.mu.Unlock()
			select {
			case <-ch:
				continue // loaded, or its caller gave up: look again
			case <-ctx.Done():
				return c.base, ctx.Err()
			}
		case !ok:
			e = &tenantEntry{}
			c.makeRoom(c.now())
			c.m[tenant] = e
		}
		e.loading = make(chan struct{})
		c.mu.Unlock()
		return c.refresh(ctx, tenant, e)
	}
}

// refresh loads e, which the caller has marked as loading.
func (c *TenantPolicies) refresh(ctx context.Context, tenant string, e *tenantEntry) (Policies, error) {
	loaded := false
	defer func() {
		if !loaded { // load panicked: free the waiters, let the panic go on
			c.mu.Lock()
			close(e.loading)
			e.loading = nil
			if !e.has {
				delete(c.m, tenant)
			}
			c.mu.Unlock()
		}
	}()
	limits, err := c.load(ctx, tenant)
	loaded = true
	ps := c.base
	if err == nil {
		ps, err = c.base.WithOverrides(limits)
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	close(e.loading)
	e.loading = nil
	if err != nil && ctx.Err() != nil {
		// The caller gave up: nothing was learnt about the tenant.
		if !e.has {
			delete(c.m, tenant)
			return c.base, err
		}
		return e.ps, err
	}
	if err != nil && e.has {
		ps = e.ps
	}
	e.ps, e.has, e.expires = ps, true, c.now().Add(c.ttl)
	return ps, err
}

// makeRoom drops expired entries, after as many inserts as the last sweep
// kept entries. The caller holds c.mu.
func (c *TenantPolicies) makeRoom(now time.Time) {
	if c.untilSweep--; c.untilSweep > 0 {
		return
	}
	for k, e := range c.m {
		if e.loading == nil && !now.Before(e.expires) {
			delete(c.m, k)
		}
	}
	c.untilSweep = max(len(c.m), minSweep)
}

// Base returns the policies without any tenant's overrides (the login
// policies, which no tenant overrides, come from here).
func (c *TenantPolicies) Base() Policies { return c.base }
