package ratelimit

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// BreakerOptions configure a Breakers.
type BreakerOptions struct {
	// Shard names the backend that serves key, quickly and without
	// waiting on the network (Sharder.Shard); "" puts key on the one
	// breaker of shard "". Nil: one breaker for every key.
	Shard func(ctx context.Context, key string) string
	// Logger receives one warning when a breaker opens and one line when
	// it closes; nil discards them.
	Logger *slog.Logger
	// ProbeInterval is the least time between two tries of an open
	// breaker's backend; 0 means DefaultProbeInterval.
	ProbeInterval time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Messages are the texts of the log lines, which should say what is
	// down; an empty one is generic ("redis unavailable", "redis
	// recovered", "redis shard unused, breaker closed untested").
	Messages BreakerMessages
	// OnFailure is called once for every failed call passed to Failed (a
	// backend error metric); nil calls nothing.
	OnFailure func()
}

// BreakerMessages are the texts of a Breakers' log lines, which name what
// is down to the operator reading them. Each line carries the shard's
// name (attribute "shard") first when it has one.
type BreakerMessages struct {
	// Down is the warning logged when a breaker opens, with attributes
	// "error" and "probe_interval".
	Down string
	// Recovered is logged when a probe succeeds, with "outage".
	Recovered string
	// IdleReset is logged when an open shard's breaker no call needed for
	// ShardIdleReset is closed without a probe, with "outage".
	IdleReset string
}

// withDefaults fills the empty messages.
func (m BreakerMessages) withDefaults() BreakerMessages {
	if m.Down == "" {
		m.Down = "redis unavailable"
	}
	if m.Recovered == "" {
		m.Recovered = "redis recovered"
	}
	if m.IdleReset == "" {
		m.IdleReset = "redis shard unused, breaker closed untested"
	}
	return m
}

// Breakers is the set of circuit breakers in front of a Redis (one) or a
// Redis Cluster (one per master), shared by every caller that falls back
// to something local while Redis fails: the rate limiter
// (FallbackLimiter) and the webhook replay guard (ingest).
//
// A caller asks For the breaker of its key and MayTry whether to call
// Redis. The first failed call (an error or a timeout, never the caller's
// own cancellation: pass those to EndProbe, or to nothing) opens the
// breaker, Failed, and logs one warning; while it is open no call waits
// on Redis, and one call per ProbeInterval is let through as a probe; the
// first probe that succeeds, Recovered, closes it and logs one line. A
// shard's open breaker that no call has needed for ShardIdleReset is
// closed again without a probe (a failover may have moved its slots to a
// new address, which has a breaker of its own): a later call to that
// shard tries it afresh.
type Breakers struct {
	shard     func(ctx context.Context, key string) string
	log       *slog.Logger
	msgs      BreakerMessages
	onFailure func()
	every     time.Duration
	idleReset time.Duration
	now       func() time.Time

	one       Breaker      // the breaker of shard ""
	shards    sync.Map     // shard name → *Breaker, for named shards
	open      atomic.Int64 // breakers open now
	nextSweep atomic.Int64 // Unix ns: the earliest time to look for idle open breakers
}

// ShardIdleReset is how long a shard's open breaker stays open without a
// call needing it, at least; ten probe intervals when those are longer.
const ShardIdleReset = time.Minute

// Breaker is the circuit breaker of one shard. Its methods are safe for
// concurrent use.
type Breaker struct {
	set   *Breakers
	shard string
	down  atomic.Bool // read without mu on the hot path

	mu        sync.Mutex
	since     time.Time // when the outage began
	nextProbe time.Time
	lastUsed  time.Time // the last call that found it open
	probing   bool
}

// NewBreakers returns a set of closed breakers.
func NewBreakers(o BreakerOptions) *Breakers {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.ProbeInterval <= 0 {
		o.ProbeInterval = DefaultProbeInterval
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	s := &Breakers{shard: o.Shard, log: o.Logger, msgs: o.Messages.withDefaults(), onFailure: o.OnFailure,
		every: o.ProbeInterval, idleReset: max(ShardIdleReset, 10*o.ProbeInterval), now: o.Now}
	s.one.set = s
	return s
}

// For returns the breaker of key's shard. It first closes the open shard
// breakers no call has needed for the idle reset, at most once per probe
// interval.
func (s *Breakers) For(ctx context.Context, key string) *Breaker {
	if s.shard == nil {
		return &s.one
	}
	if s.open.Load() > 0 {
		s.sweepIdle()
	}
	shard := s.shard(ctx, key)
	if shard == "" {
		return &s.one
	}
	if b, ok := s.shards.Load(shard); ok {
		return b.(*Breaker)
	}
	b, _ := s.shards.LoadOrStore(shard, &Breaker{set: s, shard: shard})
	return b.(*Breaker)
}

// Degraded reports whether a breaker is open: some calls are being
// answered without Redis (on a Redis Cluster, those of a lost master's
// slots).
func (s *Breakers) Degraded() bool {
	return s.open.Load() > 0
}

// Shard returns the name of b's shard; "" for the one breaker.
func (b *Breaker) Shard() string { return b.shard }

// Open reports whether b is open, without counting as a call that needs
// it (a caller that only skips Redis while it is down, never probing).
func (b *Breaker) Open() bool { return b.down.Load() }

// MayTry says whether to call the backend, and whether that call is the
// probe of an open breaker: the caller must then end it with Recovered,
// Failed(…, true) or EndProbe, or no other probe is let through.
func (b *Breaker) MayTry() (probe, try bool) {
	if !b.down.Load() {
		return false, true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.down.Load() {
		return false, true
	}
	now := b.set.now()
	b.lastUsed = now
	if b.probing || now.Before(b.nextProbe) {
		return false, false
	}
	b.probing = true
	return true, true
}

// Failed records a failed call of the backend (not the caller's own
// cancellation): a failed probe schedules the next one, and the first
// failure of a closed breaker opens it and logs the warning.
func (b *Breaker) Failed(err error, probe bool) {
	s := b.set
	if s.onFailure != nil {
		s.onFailure()
	}
	now := s.now()
	b.mu.Lock()
	defer b.mu.Unlock()
	if probe {
		b.probing = false
		b.nextProbe = now.Add(s.every)
		return
	}
	if b.down.Load() {
		return // a call that began before the outage was noticed
	}
	b.down.Store(true)
	s.open.Add(1)
	b.since, b.lastUsed = now, now
	b.nextProbe = now.Add(s.every)
	s.log.Warn(s.msgs.Down, b.attrs(slog.Any("error", err), slog.Duration("probe_interval", s.every))...)
}

// Recovered records a probe that succeeded: b closes and logs the
// recovery.
func (b *Breaker) Recovered() {
	s := b.set
	b.mu.Lock()
	defer b.mu.Unlock()
	b.probing = false
	if !b.down.Load() {
		return
	}
	b.down.Store(false)
	s.open.Add(-1)
	s.log.Info(s.msgs.Recovered, b.attrs(slog.Duration("outage", s.now().Sub(b.since).Round(time.Millisecond)))...)
}

// EndProbe ends a probe that gave no verdict on the backend (the caller
// cancelled it, or asked for something invalid): b stays as it was, and
// the next call may probe.
func (b *Breaker) EndProbe() {
	b.mu.Lock()
	b.probing = false
	b.mu.Unlock()
}

// attrs returns the attributes of a log line about b: the shard's name
// first, when it has one.
func (b *Breaker) attrs(more ...any) []any {
	if b.shard == "" {
		return more
	}
	return append([]any{slog.String("shard", b.shard)}, more...)
}

// sweepIdle closes the open shard breakers no call has needed for
// idleReset, at most once per probe interval.
func (s *Breakers) sweepIdle() {
	now := s.now()
	next := s.nextSweep.Load()
	if now.UnixNano() < next || !s.nextSweep.CompareAndSwap(next, now.Add(s.every).UnixNano()) {
		return
	}
	s.shards.Range(func(_, v any) bool {
		b := v.(*Breaker)
		if !b.down.Load() {
			return true
		}
		b.mu.Lock()
		defer b.mu.Unlock()
		if b.down.Load() && !b.probing && now.Sub(b.lastUsed) >= s.idleReset {
			b.down.Store(false)
			s.open.Add(-1)
			s.log.Info(s.msgs.IdleReset, b.attrs(slog.Duration("outage", now.Sub(b.since).Round(time.Millisecond)))...)
		}
		return true
	})
}
