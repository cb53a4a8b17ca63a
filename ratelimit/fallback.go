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

// Sharder is implemented by a primary limiter whose keys live on
// backends that fail apart, such as the masters of a Redis Cluster
// (RedisLimiter is one). A FallbackLimiter keeps one breaker per shard, so
// a lost master sends only the keys of its slots to the local limiter.
type Sharder interface {
	// Shard names the backend that decides key, quickly and without
	// waiting on the network; "" when there is only one or it is not
	// known yet.
	Shard(ctx context.Context, key string) string
}

// FallbackLimiter decides with a primary limiter (Redis) and, while that
// fails, with a local one. It is a circuit breaker: the first failed call
// (an error or a timeout, not the caller's own cancellation) opens it;
// while open, each policy gets its OnOutage answer at once — FailLocal
// asks the local limiter, FailClosed denies — and one call per
// ProbeInterval tries the primary again; the first probe that succeeds
// closes it. Each outage logs one warning and one recovery line.
//
// When the primary is a Sharder (RedisLimiter on a Redis Cluster), each
// shard has a breaker of its own: a lost master opens only its own, and
// the keys of the other masters go on sharing their limits. Its warning
// and recovery lines name the shard. A shard's breaker that no call has
// needed for ShardIdleReset is closed again without a probe (a failover
// may have moved its slots to a new address, which has a breaker of its
// own): a later call to that shard tries it afresh.
type FallbackLimiter struct {
	primary, local Limiter
	sharder        Sharder // nil: one breaker for every key
	log            *slog.Logger
	m              *Metrics
	every          time.Duration
	idleReset      time.Duration
	now            func() time.Time

	one       breaker      // the breaker of shard ""
	shards    sync.Map     // shard name → *breaker, for named shards
	open      atomic.Int64 // breakers open now
	nextSweep atomic.Int64 // Unix ns: the earliest time to look for idle open breakers
}

// ShardIdleReset is how long a shard's open breaker stays open without a
// call needing it, at least; ten probe intervals when those are longer.
const ShardIdleReset = time.Minute

// breaker is the circuit breaker of one shard.
type breaker struct {
	shard string
	down  atomic.Bool // read without mu on the hot path

	mu        sync.Mutex
	since     time.Time // when the outage began
	nextProbe time.Time
	lastUsed  time.Time // the last call that found it open
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
	f := &FallbackLimiter{primary: primary, local: local, log: o.Logger, m: o.Metrics, every: o.ProbeInterval,
		idleReset: max(ShardIdleReset, 10*o.ProbeInterval), now: o.Now}
	f.sharder, _ = primary.(Sharder)
	return f
}

// Allow implements Limiter. It returns an error only for an invalid
// policy or when ctx ends; a backend failure yields the policy's OnOutage
// answer instead.
func (f *FallbackLimiter) Allow(ctx context.Context, key string, p Policy, n int) (Result, error) {
	if err := check(p, n); err != nil {
		f.m.observe(p, Result{}, err)
		return Result{}, err
	}
	b := f.breakerFor(ctx, key)
	probe, try := f.mayTry(b)
	if try {
		res, err := f.primary.Allow(ctx, key, p, n)
		switch {
		case err == nil:
			if probe {
				f.recovered(b)
			}
			f.m.observe(p, res, nil)
			return res, nil
		case ctx.Err() != nil || errors.Is(err, ErrInvalidPolicy):
			// The caller's doing, not the backend's: no verdict on Redis.
			if probe {
				f.endProbe(b)
			}
			f.m.observe(p, Result{}, err)
			return Result{}, err
		}
		f.failed(b, err, probe)
	}
	return f.degraded(ctx, key, p, n)
}

// breakerFor returns the breaker of key's shard.
func (f *FallbackLimiter) breakerFor(ctx context.Context, key string) *breaker {
	if f.sharder == nil {
		return &f.one
	}
	if f.open.Load() > 0 {
		f.sweepIdle()
	}
	shard := f.sharder.Shard(ctx, key)
	if shard == "" {
		return &f.one
	}
	if b, ok := f.shards.Load(shard); ok {
		return b.(*breaker)
	}
	b, _ := f.shards.LoadOrStore(shard, &breaker{shard: shard})
	return b.(*breaker)
}

// mayTry says whether to call the primary, and whether that call is the
// probe of an open breaker.
func (f *FallbackLimiter) mayTry(b *breaker) (probe, try bool) {
	if !b.down.Load() {
		return false, true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.down.Load() {
		return false, true
	}
	now := f.now()
	b.lastUsed = now
	if b.probing || now.Before(b.nextProbe) {
		return false, false
	}
	b.probing = true
	return true, true
}

func (f *FallbackLimiter) failed(b *breaker, err error, probe bool) {
	f.m.backendError()
	now := f.now()
	b.mu.Lock()
	defer b.mu.Unlock()
	if probe {
		b.probing = false
		b.nextProbe = now.Add(f.every)
		return
	}
	if b.down.Load() {
		return // a call that began before the outage was noticed
	}
	b.down.Store(true)
	f.open.Add(1)
	b.since, b.lastUsed = now, now
	b.nextProbe = now.Add(f.every)
	f.log.Warn("redis limiter unavailable, falling back", b.attrs(slog.Any("error", err), slog.Duration("probe_interval", f.every))...)
}

func (f *FallbackLimiter) recovered(b *breaker) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.probing = false
	if !b.down.Load() {
		return
	}
	b.down.Store(false)
	f.open.Add(-1)
	f.log.Info("redis limiter recovered", b.attrs(slog.Duration("outage", f.now().Sub(b.since).Round(time.Millisecond)))...)
}

func (f *FallbackLimiter) endProbe(b *breaker) {
	b.mu.Lock()
	b.probing = false
	b.mu.Unlock()
}

// attrs returns the attributes of a log line about b: the shard's name
// first, when it has one.
func (b *breaker) attrs(more ...any) []any {
	if b.shard == "" {
		return more
	}
	return append([]any{slog.String("shard", b.shard)}, more...)
}

// sweepIdle closes the open shard breakers no call has needed for
// idleReset, at most once per probe interval.
func (f *FallbackLimiter) sweepIdle() {
	now := f.now()
	next := f.nextSweep.Load()
	if now.UnixNano() < next || !f.nextSweep.CompareAndSwap(next, now.Add(f.every).UnixNano()) {
		return
	}
	f.shards.Range(func(_, v any) bool {
		b := v.(*breaker)
		if !b.down.Load() {
			return true
		}
		b.mu.Lock()
		defer b.mu.Unlock()
		if b.down.Load() && !b.probing && now.Sub(b.lastUsed) >= f.idleReset {
			b.down.Store(false)
			f.open.Add(-1)
			f.log.Info("redis limiter shard unused, breaker closed untested",
				b.attrs(slog.Duration("outage", now.Sub(b.since).Round(time.Millisecond)))...)
		}
		return true
	})
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

// Degraded reports whether a breaker is open: some decisions are being
// made without Redis (on a Redis Cluster, those of a lost master's
// slots). A readiness probe may report it.
func (f *FallbackLimiter) Degraded() bool {
	return f.open.Load() > 0
}
