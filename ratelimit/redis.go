package ratelimit

import (
	"context"
	"crypto/sha1"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

//go:embed gcra.lua
var gcraLua string

// gcraSHA is the script's SHA-1, the name EVALSHA runs it by.
var gcraSHA = func() string {
	sum := sha1.Sum([]byte(gcraLua))
	return hex.EncodeToString(sum[:])
}()

// Defaults of NewRedisClient. A limiter answers within these or not at
// all: a FallbackLimiter then decides in process.
const (
	DefaultDialTimeout = 250 * time.Millisecond
	DefaultIOTimeout   = 200 * time.Millisecond // read, write and pool waits
	DefaultPoolSize    = 8
)

// NewRedisClient returns a client for a limiter from a go-redis URL:
// redis://, rediss:// or unix:// for one server; a redis:// or rediss://
// URL with addr parameters for a Redis Cluster, in the form
// redis.ParseClusterURL reads — redis://host1:port1?addr=host2:port2&addr=host3:port3
// — which makes a *redis.ClusterClient (a URL without addr stays a
// single server, a *redis.Client).
//
// It never retries — a decision that cannot be made at once is better made
// in process, so it dials once — and its timeouts are short:
// DefaultDialTimeout, DefaultIOTimeout for reads, writes and pool waits,
// DefaultPoolSize connections (per node on a cluster; batching needs
// few). A cluster client follows one MOVED or ASK redirection
// (max_redirects=1), so a resharded slot costs one more round trip, not a
// decision in process; the limiter's commands are never resent after a
// network error either way. Query parameters of the URL (dial_timeout,
// read_timeout, write_timeout, pool_timeout, pool_size, max_retries,
// max_redirects, …) override these defaults. Context deadlines are
// honoured.
func NewRedisClient(redisURL string) (redis.UniversalClient, error) {
	o, co, err := parseRedisURL(redisURL)
	if err != nil {
		return nil, fmt.Errorf("redis url: %w", err)
	}
	if co != nil {
		return redis.NewClusterClient(co), nil
	}
	return redis.NewClient(o), nil
}

// ValidateRedisURL reports whether NewRedisClient accepts redisURL, without
// making a client. The error is go-redis's own, which may quote parts of
// the URL (a password among them: redact it before showing it).
func ValidateRedisURL(redisURL string) error {
	_, _, err := parseRedisURL(redisURL)
	return err
}

// IsClusterURL reports whether redisURL names a Redis Cluster: it has at
// least one addr query parameter.
func IsClusterURL(redisURL string) bool {
	u, err := url.Parse(redisURL)
	return err == nil && u.Query().Has("addr")
}

// parseRedisURL returns the options of NewRedisClient's client: one server's
// or, for a cluster URL, a cluster's.
func parseRedisURL(redisURL string) (*redis.Options, *redis.ClusterOptions, error) {
	u, err := url.Parse(redisURL)
	if err != nil {
		return nil, nil, err
	}
	q := u.Query()
	set := func(name string, apply func()) {
		if !q.Has(name) {
			apply()
		}
	}
	if q.Has("addr") {
		o, err := redis.ParseClusterURL(redisURL)
		if err != nil {
			return nil, nil, err
		}
		// The nodes' clients never retry; the cluster client's loop over
		// redirections does not resend the limiter's commands after a
		// network error (see noRetry), so one redirection is safe.
		set("max_retries", func() { o.MaxRetries = -1 })
		set("max_redirects", func() { o.MaxRedirects = 1 })
		// Between a redirection and its retry: at once.
		set("min_retry_backoff", func() { o.MinRetryBackoff = -1 })
		set("max_retry_backoff", func() { o.MaxRetryBackoff = -1 })
		o.DialerRetries = 1
		set("dial_timeout", func() { o.DialTimeout = DefaultDialTimeout })
		set("read_timeout", func() { o.ReadTimeout = DefaultIOTimeout })
		set("write_timeout", func() { o.WriteTimeout = DefaultIOTimeout })
		set("pool_timeout", func() { o.PoolTimeout = DefaultIOTimeout })
		set("pool_size", func() { o.PoolSize = DefaultPoolSize })
		set("pipeline_pool_size", func() { o.PipelinePoolSize = -1 })
		o.ContextTimeoutEnabled = true
		return nil, o, nil
	}
	o, err := redis.ParseURL(redisURL)
	if err != nil {
		return nil, nil, err
	}
	set("max_retries", func() { o.MaxRetries = -1 })
	// go-redis dials up to 5 times, 100 ms apart, by default: a dead Redis
	// would cost every probe half a second.
	o.DialerRetries = 1
	set("dial_timeout", func() { o.DialTimeout = DefaultDialTimeout })
	set("read_timeout", func() { o.ReadTimeout = DefaultIOTimeout })
	set("write_timeout", func() { o.WriteTimeout = DefaultIOTimeout })
	set("pool_timeout", func() { o.PoolTimeout = DefaultIOTimeout })
	set("pool_size", func() { o.PoolSize = DefaultPoolSize })
	// Batches are pipelines: keep them on the one small pool rather than
	// go-redis's second, dedicated pipeline pool.
	set("pipeline_pool_size", func() { o.PipelinePoolSize = -1 })
	o.ContextTimeoutEnabled = true
	return o, nil, nil
}

// RedisOptions configure a RedisLimiter.
type RedisOptions struct {
	// Pipelines caps the pipelines of batched decisions in flight at once.
	// Concurrent calls queue while that many are in flight and go out
	// together, in one pipeline, as soon as one returns (self-clocked, as
	// a group commit: no timer delays a lone call). 0 means
	// DefaultPipelines; a negative value turns batching off, so that each
	// call sends its own EVALSHA.
	Pipelines int
	// MaxBatch caps the decisions in one pipeline; 0 means
	// DefaultMaxBatch.
	MaxBatch int
}

// Defaults of RedisOptions.
const (
	DefaultPipelines = 4
	DefaultMaxBatch  = 128
)

// RedisLimiter decides with GCRA on Redis: one EVALSHA of one key per
// decision, time from Redis TIME, so any number of servers share limits.
// It works with a single Redis, a Sentinel failover client or a Redis
// Cluster (one key per script call; Key puts all of a tenant's keys in
// one slot, so a tenant's decisions are made by one master, by its
// clock).
//
// On a Cluster it batches per master: a pipeline never waits on a master
// other than its own, so a lost or slow master delays only the decisions
// of its slots. It is a Sharder, so a FallbackLimiter keeps one breaker
// per master.
//
// Errors are returned as they are; wrap it in a FallbackLimiter to keep
// deciding while Redis is away.
type RedisLimiter struct {
	client  redis.UniversalClient
	masters *Masters // which master holds a key, on a cluster

	// batch is the batcher of shard "" (every key on a single server, and
	// a cluster's keys until its slot map is known); nil when batching is
	// off. shardBatches holds a cluster's other batchers, one per master
	// address.
	batch               *batcher
	shardBatches        sync.Map // string → *batcher
	pipelines, maxBatch int
}

// NewRedis returns a limiter on client, ideally one from NewRedisClient
// (or configured alike). The caller keeps ownership of client.
func NewRedis(client redis.UniversalClient, o RedisOptions) *RedisLimiter {
	l := &RedisLimiter{client: client, masters: NewMasters(client)}
	if o.Pipelines >= 0 {
		l.pipelines, l.maxBatch = orDefault(o.Pipelines, DefaultPipelines), orDefault(o.MaxBatch, DefaultMaxBatch)
		l.batch = newBatcher(l, l.pipelines, l.maxBatch)
	}
	return l
}

func orDefault(v, def int) int {
	if v <= 0 {
		return def
	}
	return v
}

// Allow implements Limiter.
func (l *RedisLimiter) Allow(ctx context.Context, key string, p Policy, n int) (Result, error) {
	if err := check(p, n); err != nil {
		return Result{}, err
	}
	args := [3]any{p.interval(), int64(p.Burst), int64(n)}
	var (
		reply []int64
		err   error
	)
	if l.batch != nil {
		reply, err = l.batcherFor(ctx, key).do(ctx, key, args)
	} else {
		reply, err = l.eval(ctx, key, args)
	}
	if err != nil {
		return Result{}, fmt.Errorf("rate limit %s: %w", p.Name, err)
	}
	return parseReply(reply, p)
}

// Shard implements Sharder: on a Redis Cluster, the address of the master
// that holds key's slot in go-redis's slot map; "" on a single server, and
// on a cluster until a first command has succeeded (before that, asking
// for the slot map would make a call wait on the network, which a
// FallbackLimiter's open breaker promises it does not).
func (l *RedisLimiter) Shard(ctx context.Context, key string) string {
	return l.masters.Master(ctx, key)
}

// batcherFor returns the batcher of key's master.
func (l *RedisLimiter) batcherFor(ctx context.Context, key string) *batcher {
	shard := l.Shard(ctx, key)
	if shard == "" {
		return l.batch
	}
	if b, ok := l.shardBatches.Load(shard); ok {
		return b.(*batcher)
	}
	b, _ := l.shardBatches.LoadOrStore(shard, newBatcher(l, l.pipelines, l.maxBatch))
	return b.(*batcher)
}

// noRetry is a command go-redis must not send again after a network error
// (its cluster client otherwise retries on the same node, then on
// another): a GCRA call whose reply was lost may have been charged, and a
// second charge for one request is worse than a decision in process. A
// MOVED or ASK reply is still followed — it says the command did not run.
// Embedding *redis.Cmd keeps every other method of the command.
type noRetry struct{ *redis.Cmd }

// NoRetry implements redis.Cmder.
func (noRetry) NoRetry() bool { return true }

// evalCmd returns the EVALSHA of the script for key, or with script set
// the EVAL of its source.
func evalCmd(ctx context.Context, key string, args [3]any, script bool) noRetry {
	if script {
		return noRetry{redis.NewCmd(ctx, "eval", gcraLua, 1, key, args[0], args[1], args[2])}
	}
	return noRetry{redis.NewCmd(ctx, "evalsha", gcraSHA, 1, key, args[0], args[1], args[2])}
}

// eval runs the script once by its SHA-1, and by its source when Redis does
// not have it (first use, a restart, SCRIPT FLUSH, a failover): EVAL runs
// and caches it on the one node that holds the key, so a cluster with
// another master down still loads it where it is needed (SCRIPT LOAD
// would go to every master, and fail).
func (l *RedisLimiter) eval(ctx context.Context, key string, args [3]any) ([]int64, error) {
	cmd := evalCmd(ctx, key, args, false)
	_ = l.client.Process(ctx, cmd)
	if isNoScript(cmd.Err()) {
		cmd = evalCmd(ctx, key, args, true)
		_ = l.client.Process(ctx, cmd)
	}
	return l.reply(cmd)
}

// reply returns cmd's reply, and notes a cluster's slot map as known once
// a command has succeeded.
func (l *RedisLimiter) reply(cmd noRetry) ([]int64, error) {
	r, err := cmd.Int64Slice()
	if err == nil {
		l.masters.Answered()
	}
	return r, err
}

func isNoScript(err error) bool {
	return err != nil && redis.HasErrorPrefix(err, "NOSCRIPT")
}

// errReply reports a reply of the wrong shape: another script answered to
// our SHA-1, or a proxy mangled it.
var errReply = errors.New("unexpected reply from the rate limit script")

func parseReply(r []int64, p Policy) (Result, error) {
	if len(r) != 5 || r[0] < 0 || r[0] > 1 || r[1] < 0 || r[2] < 0 || r[3] < 0 {
		return Result{}, fmt.Errorf("rate limit %s: %w: %v", p.Name, errReply, r)
	}
	return decision{allowed: r[0] == 1, remaining: r[1], retryAfter: r[2], resetAfter: r[3]}.result(p), nil
}

// Ping checks that Redis answers, for a readiness probe: on a Redis
// Cluster, every master in the slot map, since a lost master leaves its
// tenants to the fallback.
func (l *RedisLimiter) Ping(ctx context.Context) error {
	if cluster, ok := l.client.(*redis.ClusterClient); ok {
		err := cluster.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
			if err := c.Ping(ctx).Err(); err != nil {
				return fmt.Errorf("%s: %w", c.Options().Addr, err)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("ping redis cluster: %w", err)
		}
		return nil
	}
	if err := l.client.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("ping redis: %w", err)
	}
	return nil
}
