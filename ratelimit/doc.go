// Package ratelimit limits request rates (DESIGN §6): per tenant for the
// API, webhooks and orphan intake, per email and client IP for logins, and
// per client IP for token refreshes.
// It imports go-redis and Prometheus only, and writes no HTTP bodies of its
// own beyond a plain fallback 429: the caller (httpapi) writes
// problem+json.
//
// # Algorithm
//
// Every limiter here runs GCRA, the generic cell rate algorithm, as
// go-redis/redis_rate does. A Policy of Rate r and Burst b has an emission
// interval T = 1/r and a tolerance τ = b·T; a key's whole state is one
// number, its theoretical arrival time (TAT). A call of cost n at time now
// is admitted when max(TAT, now) + n·T − τ ≤ now, and then moves TAT
// there; a denied call changes nothing. So b calls pass at once after a
// quiet period, then one per T, and a key whose TAT has passed is
// indistinguishable from a missing one — idle state can simply be dropped.
// One pure function, gcra, makes the decision in integer microseconds; the
// Lua script mirrors it line by line, and a test replays the script's
// decisions in Go to hold the two together.
//
// # Redis
//
// RedisLimiter runs the script with EVALSHA, one key per call (so it works
// on Redis Cluster too), and on NOSCRIPT (first use, restart, failover,
// SCRIPT FLUSH) runs it once more by its source with EVAL, which loads it
// on the one node that needs it. The time is Redis's own TIME, read inside
// the script, so every server shares one clock (on a cluster, the clock of
// the master holding the key's slot). Each
// key is SET with a TTL of the time until its quota is full again, so
// idle keys expire by themselves. Concurrent calls are batched into
// pipelines, self-clocked like a group commit: a lone call goes out at
// once, and calls that arrive while DefaultPipelines pipelines are in
// flight leave together when one returns. NewRedisClient makes the client
// a limiter wants: no retries, one dial attempt, timeouts of 200 ms, a
// small pool — a decision that cannot be made at once is better made in
// process. A URL with addr parameters (redis.ParseClusterURL's form) makes
// a Redis Cluster client instead: it follows one MOVED or ASK redirection,
// and the limiter's commands are marked never to be resent after a
// network error (a lost reply may hide a charge). On a cluster the batches
// are per master, so a slow master delays only its own keys. Redis 5 or
// newer is required (scripts replicated by effects, so TIME before a
// write needs no redis.replicate_commands()).
//
// # Keys
//
// Key(policy, scope) is "park:rl:{scope}:policy". The braces make scope
// the Redis Cluster hash tag: with the tenant's UUID as scope, all of a
// tenant's keys share one slot. Login and per-IP scopes go through a
// ScopeHasher: an HMAC-SHA256 under a key derived from a secret every
// server shares, so emails and addresses are neither stored in the clear
// nor recoverable by hashing guesses.
//
// # Tenant policies
//
// TenantPolicies caches each tenant's overrides for a TTL (5 s) counted
// from the start of their read. An entry older than that is never used:
// the caller waits for a fresh read, shared by every concurrent caller of
// the tenant, so a changed limit holds within the TTL for every request.
// The first caller in an entry's last fifth refreshes it early, so busy
// tenants do not wait.
//
// # Outages
//
// FallbackLimiter wraps a RedisLimiter and a LocalLimiter as a circuit
// breaker. The first failed call (error or timeout, never the caller's
// own cancellation) opens it: one warning is logged, and
// park_ratelimit_backend_errors_total counts every failed call. While it
// is open no request waits on Redis; each policy gets its OnOutage answer
// — FailLocal (the default) decides in process, FailClosed denies — and
// one call per probe interval tries Redis again. The first probe that
// succeeds closes it and logs the recovery. On a Redis Cluster (a primary
// that is a Sharder) there is one breaker per master: a lost master sends
// only its slots' keys to the fallback, and its lines name it; a breaker
// no call needs for ShardIdleReset closes untested (its slots may have
// failed over to another address). These breakers are a Breakers, which
// any other fallback on Redis (the webhook replay guard) uses too, with
// log lines of its own. Login and refresh policies are
// always FailLocal (Policies.WithFailMode leaves them so): during an
// outage they keep limiting, per server. go-redis logs through a
// process-wide logger of its own; RouteRedisLogs makes its lines debug
// records of the program's slog logger. LocalLimiter keeps its state in 64
// mutex-guarded shards, drops keys once their quota is full again, and
// bounds the keys it holds.
//
// # HTTP
//
// SetHeaders writes the IETF RateLimit header fields draft's
// RateLimit-Policy ("api";q=200;w=2: quota = Burst, window in seconds)
// and RateLimit ("api";r=0;t=1: remaining, seconds until the quota is full
// again — or, when denied, until the request would pass) on every limited
// response, and Retry-After (whole seconds, rounded up, at least 1) on a
// denial. Middleware applies one policy chosen per request and hands
// denials to the caller's writer.
//
// # Metrics
//
// One Metrics per server, registered on the server's registry:
// park_ratelimit_decisions_total{policy,result} (allowed, denied, error)
// and park_ratelimit_backend_errors_total.
package ratelimit
