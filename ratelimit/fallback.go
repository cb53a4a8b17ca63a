package ratelimit

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultProbeInterval is how often a FallbackLimiter tries Redis again
// while it is down.
const DefaultProbeInterval = 500 * time.Millisecond

// FallbackOptions configure a FallbackLimiter.
type FallbackOptions struct {
	// Logger receives one warning when an outage starts and one line
	// when it ends; nil discards them.
	Logger *slog.Logger
	// Metrics counts decisions and backend errors; nil counts nothing.
	Metrics *Metrics
	// ProbeInterval is the least time between two tries of Redis while it
	// is down; 0 means DefaultProbeInterval. Between tries no request
	// waits on a dead Redis.
	ProbeInterval time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// FallbackLimiter decides with a primary limiter (Redis) and, while that
// fails, with a local one. It is a circuit breaker: the first failed call
// (an error or a timeout, not the caller's own cancellation) opens it;
// while open, each policy gets its OnOutage answer at once — FailLocal
// asks the local limiter, FailClosed denies — and one call per
// ProbeInterval tries the primary again; the first probe that succeeds
// closes it. Each outage logs one warning and one recovery line.
type FallbackLimiter struct {
	primary, local Limiter
	log            *slog.Logger
	m              *Metrics
	every          time.Duration
	now            func() time.Time

	down atomic.Bool // read without mu on the hot path

	mu        sync.Mutex
	since     time.Time // when the outage began
	nextProbe time.Time
	probing   bool
}

// NewFallback returns a limiter asking primary (a RedisLimiter) and, while
// it fails, local (a LocalLimiter).
func NewFallback(primary, local Limiter, o FallbackOptions) *FallbackLimiter {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.ProbeInterval <= 0 {
		o.ProbeInterval = DefaultProbeInterval
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &FallbackLimiter{primary: primary, local: local, log: o.Logger, m: o.Metrics, every: o.ProbeInterval, now: o.Now}
}

// Allow implements Limiter. It returns an error only for an invalid
// policy or when ctx ends; a backend failure yields the policy's OnOutage
// answer instead.
func (f *FallbackLimiter) Allow(ctx context.Context, key string, p Policy, n int) (Result, error) {
	if err := check(p, n); err != nil {
		f.m.observe(p, Result{}, err)
		return Result{}, err
	}
	probe, try := f.mayTry()
	if try {
		res, err := f.primary.Allow(ctx, key, p, n)
		switch {
		case err == nil:
			if probe {
				f.recovered()
			}
			f.m.observe(p, res, nil)
			return res, nil
		case ctx.Err() != nil || errors.Is(err, ErrInvalidPolicy):
			// The caller's doing, not the backend's: no verdict on Redis.
			if probe {
				f.endProbe()
			}
			f.m.observe(p, Result{}, err)
			return Result{}, err
		}
		f.failed(err, probe)
	}
	return f.degraded(ctx, key, p, n)
}

// mayTry says whether to call the primary, and whether that call is the
// probe of an open breaker.
func (f *FallbackLimiter) mayTry() (probe, try bool) {
	if !f.down.Load() {
		return false, true
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.down.Load() {
		return false, true
	}
	if f.probing || f.now().Before(f.nextProbe) {
		return false, false
	}
	f.probing = true
	return true, true
}

func (f *FallbackLimiter) failed(err error, probe bool) {
	f.m.backendError()
	now := f.now()
	f.mu.Lock()
	defer f.mu.Unlock()
	if probe {
		f.probing = false
		f.nextProbe = now.Add(f.every)
		return
	}
	if f.down.Load() {
		return // a call that began before the outage was noticed
	}
	f.down.Store(true)
	f.since = now
	f.nextProbe = now.Add(f.every)
	f.log.Warn("redis limiter unavailable, falling back", "error", err, "probe_interval", f.every)
}

func (f *FallbackLimiter) recovered() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.probing = false
	if !f.down.Load() {
		return
	}
	f.down.Store(false)
	f.log.Info("redis limiter recovered", "outage", f.now().Sub(f.since).Round(time.Millisecond))
}

func (f *FallbackLimiter) endProbe() {
	f.mu.Lock()
	f.probing = false
	f.mu.Unlock()
}

// degraded answers while the primary is unavailable.
func (f *FallbackLimiter) degraded(ctx context.Context, key string, p Policy, n int) (Result, error) {
	if p.OnOutage == FailClosed {
		res := Result{RetryAfter: f.every, ResetAfter: f.every, Policy: p}
		f.m.decision(p.Name, ResultError)
		return res, nil
	}
	res, err := f.local.Allow(ctx, key, p, n)
	f.m.observe(p, res, err)
	return res, err
}

// Degraded reports whether the breaker is open: decisions are being made
// without Redis. A readiness probe may report it.
func (f *FallbackLimiter) Degraded() bool {
	return f.down.Load()
}
