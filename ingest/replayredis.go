package ingest

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/parkhq/park/ratelimit"
)

// ReplayKeyPrefix starts every key of a RedisReplayGuard.
const ReplayKeyPrefix = "park:replay:"

// maxReplayTag bounds a tenant written into a key as is; a longer or odd
// tenant string is hashed (see ReplayKey).
const maxReplayTag = 64

// ReplayKey returns the Redis key that records webhook-id id for tenant:
// "park:replay:{tenant}:<digest>", where digest is the unpadded base64url of
// SHA-256(id). The braces are the Redis Cluster hash tag of the tenant, the
// same as the tenant's rate limit keys (ratelimit.Key), so a tenant's
// replay window and limits live on one master. Whatever the caller passes,
// the key is at most 123 bytes: the id is only ever hashed, and a tenant
// that is not 1–64 letters, digits, '-' or '_' (a UUID is) is replaced by
// "h" and the hex of its SHA-256.
func ReplayKey(tenant, id string) string {
	sum := sha256.Sum256([]byte(id))
	return ReplayKeyPrefix + "{" + replayTag(tenant) + "}:" + base64.RawURLEncoding.EncodeToString(sum[:])
}

func replayTag(tenant string) string {
	ok := len(tenant) > 0 && len(tenant) <= maxReplayTag
	for i := 0; ok && i < len(tenant); i++ {
		c := tenant[i]
		ok = 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_'
	}
	if ok {
		return tenant
	}
	// "h" + 64 hex digits cannot be mistaken for a UUID's 36 characters.
	sum := sha256.Sum256([]byte(tenant))
	return "h" + hex.EncodeToString(sum[:])
}

// ReplayMetrics is the replay guard's series,
// park_webhook_replay_fallbacks_total. A nil *ReplayMetrics records
// nothing.
type ReplayMetrics struct {
	fallbacks prometheus.Counter
}

// NewReplayMetrics creates the replay guard's series and registers it on
// reg (nil: not registered, for tests). parkd registers it with or without
// Redis, so that it is there, at 0, before the first outage.
func NewReplayMetrics(reg prometheus.Registerer) (*ReplayMetrics, error) {
	m := &ReplayMetrics{fallbacks: prometheus.NewCounter(prometheus.CounterOpts{
		Name: "park_webhook_replay_fallbacks_total",
		Help: "Standard Webhooks replay checks decided in process because Redis did not answer; they refuse only replays this instance has seen.",
	})}
	if reg != nil {
		if err := reg.Register(m.fallbacks); err != nil {
			return nil, fmt.Errorf("register replay guard metrics: %w", err)
		}
	}
	return m, nil
}

func (m *ReplayMetrics) fallback() {
	if m != nil {
		m.fallbacks.Inc()
	}
}

// RedisReplayOptions configure a RedisReplayGuard; zero values take the
// defaults.
type RedisReplayOptions struct {
	// Window is how long an accepted webhook-id is refused: the PX of its
	// key, and the window of the in-process guard. 0 means ReplayWindow;
	// tests shorten it.
	Window time.Duration
	// Local decides while Redis does not answer, and remembers every id
	// this instance accepts meanwhile and before; nil means a
	// MemoryReplayGuard of Window and 100,000 ids.
	Local *MemoryReplayGuard
	// Logger receives one warning when an outage starts and one line when
	// it ends (per master of a Redis Cluster); nil discards them.
	Logger *slog.Logger
	// Metrics counts the checks decided in process; nil counts nothing.
	Metrics *ReplayMetrics
	// ProbeInterval is the least time between two tries of Redis while it
	// is down; 0 means ratelimit.DefaultProbeInterval. Between tries no
	// request waits on a dead Redis.
	ProbeInterval time.Duration
	// Now is the clock of the probes; nil means time.Now. (The window
	// itself is Redis's PX, and the Local guard's, judged by the times
	// passed to Seen.)
	Now func() time.Time
}

// RedisReplayGuard is a ReplayGuard shared by every server on one Redis or
// Redis Cluster: each check is one atomic SET key 1 NX PX window (see
// ReplayKey), so of any number of concurrent checks of one id, on any
// instances, exactly one finds it new, and a refused replay leaves the
// key, and so its window, as it was.
//
// Every id it accepts is also remembered by an in-process
// MemoryReplayGuard, which decides instead while Redis fails (an error or
// a timeout): the check then refuses the replays this instance has seen,
// as a single server does, and never fails the request. As the rate
// limiter does (DESIGN §6), it is a circuit breaker: the first failure
// opens it and logs one warning, one check per ProbeInterval tries Redis
// again, and the first that succeeds closes it and logs the recovery. On a
// Redis Cluster each master has its own breaker, so a lost master sends
// only its tenants' checks to the fallback, and a master's open breaker
// that no check has needed for ratelimit.ShardIdleReset closes untested (a
// failover may have moved its slots to a new address). The breakers are
// the rate limiter's (ratelimit.Breakers), with lines of their own. An id Redis finds new but this
// instance has seen within the window (Redis lost its keys in a restart
// or failover) is refused too.
type RedisReplayGuard struct {
	client  redis.UniversalClient
	masters *ratelimit.Masters // which master holds a key, on a cluster
	window  time.Duration
	local   *MemoryReplayGuard
	m       *ReplayMetrics

	breakers *ratelimit.Breakers
}

// NewRedisReplayGuard returns a guard on client, ideally the rate
// limiter's (ratelimit.NewRedisClient: no retries, short timeouts). The
// caller keeps ownership of client.
func NewRedisReplayGuard(client redis.UniversalClient, o RedisReplayOptions) *RedisReplayGuard {
	if o.Window <= 0 {
		o.Window = ReplayWindow
	}
	if o.Local == nil {
		o.Local = NewMemoryReplayGuard(o.Window, maxReplayEntries)
	}
	g := &RedisReplayGuard{client: client, masters: ratelimit.NewMasters(client), window: o.Window, local: o.Local, m: o.Metrics}
	g.breakers = ratelimit.NewBreakers(ratelimit.BreakerOptions{Shard: g.masters.Master, Logger: o.Logger,
		ProbeInterval: o.ProbeInterval, Now: o.Now, Messages: ratelimit.BreakerMessages{
			Down:      "redis replay guard unavailable, checking webhook ids per instance",
			Recovered: "redis replay guard recovered",
			IdleReset: "redis replay guard shard unused, breaker closed untested",
		}})
	return g
}

// Seen implements ReplayGuard. It never returns an error: when Redis
// fails, the in-process guard decides.
func (g *RedisReplayGuard) Seen(ctx context.Context, tenant, id string, at time.Time) (bool, error) {
	key := ReplayKey(tenant, id)
	b := g.breakers.For(ctx, key)
	probe, try := b.MayTry()
	if try {
		fresh, err := g.setNX(ctx, key)
		switch {
		case err == nil:
			if probe {
				b.Recovered()
			}
			if !fresh {
				return true, nil // not renewed: the key keeps its PX
			}
			// Shared and new; this instance remembers it too, for an
			// outage, and refuses it if it saw it while Redis was away
			// or before Redis lost its keys.
			return g.local.Seen(ctx, tenant, id, at)
		case ctx.Err() != nil:
			// The caller's deadline or cancellation: no verdict on Redis.
			if probe {
				b.EndProbe()
			}
			return g.local.Seen(ctx, tenant, id, at)
		}
		b.Failed(err, probe)
	}
	g.m.fallback()
	return g.local.Seen(ctx, tenant, id, at)
}

// Forget implements ReplayGuard: the id is dropped from this instance's
// memory and, unless Redis is known to be down, deleted from Redis (a
// failure opens the breaker, as in Seen; a retry of the message then finds
// its key until it expires and is refused, as before Forget existed).
func (g *RedisReplayGuard) Forget(ctx context.Context, tenant, id string) {
	g.local.Forget(ctx, tenant, id)
	key := ReplayKey(tenant, id)
	b := g.breakers.For(ctx, key)
	if b.Open() {
		return
	}
	if err := g.client.Del(ctx, key).Err(); err != nil && ctx.Err() == nil {
		b.Failed(err, false)
	}
}

// noRetryBool is a command go-redis must not send again after a network
// error: a SET NX whose reply was lost may have been applied, and sent
// again it would find its own key and refuse a genuine message as a
// replay. A MOVED or ASK reply is still followed (the command did not
// run).
type noRetryBool struct{ *redis.BoolCmd }

// NoRetry implements redis.Cmder.
func (noRetryBool) NoRetry() bool { return true }

// setNX records key for the window and reports whether it was new.
func (g *RedisReplayGuard) setNX(ctx context.Context, key string) (bool, error) {
	cmd := noRetryBool{redis.NewBoolCmd(ctx, "set", key, "1", "nx", "px", g.window.Milliseconds())}
	_ = g.client.Process(ctx, cmd)
	fresh, err := cmd.Result() // SET NX's nil reply (not set) is false, nil
	if err == nil {
		g.masters.Answered()
	}
	return fresh, err
}

// Degraded reports whether some checks are being made in process (on a
// Redis Cluster, those of a lost master's tenants).
func (g *RedisReplayGuard) Degraded() bool {
	return g.breakers.Degraded()
}
