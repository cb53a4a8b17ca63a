package ratelimit

import (
	"context"
	"errors"
	"log/slog"
	"time"
)

// DefaultProbeInterval is how often a FallbackLimiter (any Breakers)
// tries Redis again while it is down.
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
// own): a later call to that shard tries it afresh. The breakers are a
// Breakers, shared in shape with every other fallback on Redis.
type FallbackLimiter struct {
	primary, local Limiter
	m              *Metrics
	every          time.Duration
	breakers       *Breakers
}

// NewFallback returns a limiter asking primary (a RedisLimiter) and, while
// it fails, local (a LocalLimiter).
func NewFallback(primary, local Limiter, o FallbackOptions) *FallbackLimiter {
	if o.ProbeInterval <= 0 {
		o.ProbeInterval = DefaultProbeInterval
	}
	bo := BreakerOptions{Logger: o.Logger, ProbeInterval: o.ProbeInterval, Now: o.Now, OnFailure: o.Metrics.backendError,
		Messages: BreakerMessages{
			Down:      "redis limiter unavailable, falling back",
			Recovered: "redis limiter recovered",
			IdleReset: "redis limiter shard unused, breaker closed untested",
		}}
	if sharder, ok := primary.(Sharder); ok {
		bo.Shard = sharder.Shard
	}
	return &FallbackLimiter{primary: primary, local: local, m: o.Metrics, every: o.ProbeInterval, breakers: NewBreakers(bo)}
}

// Allow implements Limiter. It returns an error only for an invalid
// policy or when ctx ends; a backend failure yields the policy's OnOutage
// answer instead.
func (f *FallbackLimiter) Allow(ctx context.Context, key string, p Policy, n int) (Result, error) {
	if err := check(p, n); err != nil {
		f.m.observe(p, Result{}, err)
		return Result{}, err
	}
	b := f.breakers.For(ctx, key)
	probe, try := b.MayTry()
	if try {
		res, err := f.primary.Allow(ctx, key, p, n)
		switch {
		case err == nil:
			if probe {
				b.Recovered()
			}
			f.m.observe(p, res, nil)
			return res, nil
		case ctx.Err() != nil || errors.Is(err, ErrInvalidPolicy):
			// The caller's doing, not the backend's: no verdict on Redis.
			if probe {
				b.EndProbe()
			}
			f.m.observe(p, Result{}, err)
			return Result{}, err
		}
		b.Failed(err, probe)
	}
	return f.degraded(ctx, key, p, n)
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
	return f.breakers.Degraded()
}
