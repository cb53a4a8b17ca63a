package ratelimit

import (
	"context"
	"crypto/sha1"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
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

// NewRedisClient returns a client for a limiter from a go-redis URL
// (redis://, rediss:// or unix://). It never retries — a decision that
// cannot be made at once is better made in process, so it dials once —
// and its timeouts are short: DefaultDialTimeout, DefaultIOTimeout for reads, writes and pool
// waits, DefaultPoolSize connections (batching needs few). Query
// parameters of the URL (dial_timeout, read_timeout, write_timeout,
// pool_timeout, pool_size, max_retries, …) override these defaults.
// Context deadlines are honoured.
func NewRedisClient(redisURL string) (*redis.Client, error) {
	o, err := redis.ParseURL(redisURL)
	if err != nil {
		return nil, fmt.Errorf("redis url: %w", err)
	}
	u, err := url.Parse(redisURL)
	if err != nil {
		return nil, fmt.Errorf("redis url: %w", err)
	}
	q := u.Query()
	set := func(name string, apply func()) {
		if !q.Has(name) {
			apply()
		}
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
	return redis.NewClient(o), nil
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
// one slot).
//
// Errors are returned as they are; wrap it in a FallbackLimiter to keep
// deciding while Redis is away.
type RedisLimiter struct {
	client redis.UniversalClient
	batch  *batcher // nil when batching is off
}

// NewRedis returns a limiter on client, ideally one from NewRedisClient
// (or configured alike). The caller keeps ownership of client.
func NewRedis(client redis.UniversalClient, o RedisOptions) *RedisLimiter {
	l := &RedisLimiter{client: client}
	if o.Pipelines >= 0 {
		l.batch = newBatcher(l, orDefault(o.Pipelines, DefaultPipelines), orDefault(o.MaxBatch, DefaultMaxBatch))
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
		reply, err = l.batch.do(ctx, key, args)
	} else {
		reply, err = l.eval(ctx, key, args)
	}
	if err != nil {
		return Result{}, fmt.Errorf("rate limit %s: %w", p.Name, err)
	}
	return parseReply(reply, p)
}

// eval runs the script once by its SHA-1, loading it when Redis does not
// have it (first use, a restart, SCRIPT FLUSH, a failover).
func (l *RedisLimiter) eval(ctx context.Context, key string, args [3]any) ([]int64, error) {
	keys := []string{key}
	reply, err := l.client.EvalSha(ctx, gcraSHA, keys, args[:]...).Int64Slice()
	if isNoScript(err) {
		if err = l.load(ctx); err != nil {
			return nil, err
		}
		reply, err = l.client.EvalSha(ctx, gcraSHA, keys, args[:]...).Int64Slice()
	}
	return reply, err
}

// load loads the script; on a Cluster, into every master.
func (l *RedisLimiter) load(ctx context.Context) error {
	sha, err := l.client.ScriptLoad(ctx, gcraLua).Result()
	if err != nil {
		return fmt.Errorf("load script: %w", err)
	}
	if sha != gcraSHA {
		return fmt.Errorf("load script: redis named it %s, want %s", sha, gcraSHA)
	}
	return nil
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

// Ping checks that Redis answers, for a readiness probe.
func (l *RedisLimiter) Ping(ctx context.Context) error {
	if err := l.client.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("ping redis: %w", err)
	}
	return nil
}
