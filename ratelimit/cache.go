package ratelimit

import (
	"context"
	"sync"
	"time"
)

// DefaultTenantTTL is how long TenantPolicies trusts a tenant's limits: a
// limit changed with parkctl takes effect within it (DESIGN §6: 5 s), for
// every request, the first after a quiet period included.
const DefaultTenantTTL = 5 * time.Second

// LoadLimits returns a tenant's "limits" settings (nil or empty when it
// has none). tenant is whatever key the caller uses, typically the
// tenant's UUID as a string.
type LoadLimits func(ctx context.Context, tenant string) (map[string]Override, error)

// TenantPolicies caches each tenant's policies — the base policies with
// the tenant's overrides — for a TTL counted from the moment their load
// began, so no caller ever gets policies read longer than the TTL ago.
//
// A caller that finds no entry, or one older than the TTL, loads it and
// waits; concurrent callers of that tenant wait for the same load (one
// read per tenant, however many requests). Never is an expired entry
// handed out while it is being refreshed: that would let the first
// requests after a quiet period run under a limit an operator has already
// changed. To spare busy tenants that wait, the first caller in the last
// fifth of an entry's life refreshes it ahead of time, while the others
// keep the still-valid entry.
type TenantPolicies struct {
	base  Policies
	load  LoadLimits
	ttl   time.Duration
	ahead time.Duration // refresh window before expiry
	now   func() time.Time

	mu         sync.Mutex
	m          map[string]*tenantEntry
	untilSweep int
}

type tenantEntry struct {
	ps      Policies
	has     bool          // ps has been loaded
	expires time.Time     // the load's start plus the TTL
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
	return &TenantPolicies{base: base, load: load, ttl: ttl, ahead: ttl / 5, now: now, m: make(map[string]*tenantEntry), untilSweep: minSweep}
}

// TTL returns the longest time a changed tenant limit can go unnoticed.
func (c *TenantPolicies) TTL() time.Duration { return c.ttl }

// Get returns tenant's policies, never ones loaded longer than the TTL
// ago. When loading fails, or the stored limits are invalid, it returns
// the tenant's previous policies (or the base ones) with the error, and
// keeps them for the TTL so a failing database is not asked on every
// request; the caller logs the error and goes on. A load cut short by ctx
// is not kept.
func (c *TenantPolicies) Get(ctx context.Context, tenant string) (Policies, error) {
	for {
		c.mu.Lock()
		now := c.now()
		e, ok := c.m[tenant]
		if !ok {
			e = &tenantEntry{}
			c.makeRoom(now)
			c.m[tenant] = e
		}
		valid := e.has && now.Before(e.expires)
		switch {
		case valid && (e.loading != nil || now.Before(e.expires.Add(-c.ahead))):
			// Valid, and not due, or another caller is refreshing it ahead.
			ps := e.ps
			c.mu.Unlock()
			return ps, nil
		case e.loading != nil:
			// Missing or expired while another caller loads it: wait for
			// that load rather than use what may no longer hold.
			ch := e.loading
			c.mu.Unlock()
			select {
			case <-ch:
				continue // loaded, or its caller gave up: look again
			case <-ctx.Done():
				return c.base, ctx.Err()
			}
		}
		// Missing, expired, or due for a refresh ahead: this caller loads.
		e.loading = make(chan struct{})
		c.mu.Unlock()
		return c.refresh(ctx, tenant, e, now)
	}
}

// refresh loads e, which the caller has marked as loading at start.
func (c *TenantPolicies) refresh(ctx context.Context, tenant string, e *tenantEntry, start time.Time) (Policies, error) {
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
	// Counted from the load's start: what it read is at least that recent.
	e.ps, e.has, e.expires = ps, true, start.Add(c.ttl)
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
