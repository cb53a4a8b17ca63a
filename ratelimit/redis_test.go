package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parkhq/park/internal/redistest"
	"github.com/redis/go-redis/v9"
)

// limiterClient returns a client made by NewRedisClient for srv, closed
// when the test ends. Its timeouts are longer than the defaults, so that a
// loaded CI machine (race detector, two cores) pausing the test for 200 ms
// does not fail a test about something else; TestFallbackRedisSlow uses
// the defaults.
func limiterClient(t testing.TB, srv *redistest.Server) redis.UniversalClient {
	t.Helper()
	return newClient(t, srv.URL()+"?"+patientTimeouts)
}

// patientTimeouts are the URL parameters of limiterClient.
const patientTimeouts = "dial_timeout=3s&read_timeout=3s&write_timeout=3s&pool_timeout=3s"

func newClient(t testing.TB, url string) redis.UniversalClient {
	t.Helper()
	c, err := NewRedisClient(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// redisModes runs f with batching on and off.
func redisModes(t *testing.T, f func(t *testing.T, o RedisOptions)) {
	for _, m := range []struct {
		name string
		o    RedisOptions
	}{{"batched", RedisOptions{}}, {"unbatched", RedisOptions{Pipelines: -1}}} {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			f(t, m.o)
		})
	}
}

// backend is a Redis the admission tests run against: a single server of
// the test's own, or the test binary's shared three-master Redis Cluster.
type backend struct {
	name  string
	url   string                // for NewRedisClient, with patientTimeouts
	admin redis.UniversalClient // for inspecting keys
	// prefix starts every scope of the test: unique on the shared cluster,
	// whose keys outlive a test (and -count repeats it).
	prefix  string
	cluster *redistest.Cluster // nil on a single server
}

// forBackends runs f, in parallel, on a single Redis and on a Redis
// Cluster: the admission tests hold on both.
func forBackends(t *testing.T, f func(t *testing.T, be backend)) {
	for _, name := range []string{"single", "cluster"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f(t, newBackend(t, name))
		})
	}
}

func newBackend(t *testing.T, name string) backend {
	t.Helper()
	if name == "single" {
		srv := redistest.New(t)
		return backend{name: name, url: srv.URL() + "?" + patientTimeouts, admin: srv.Client(t)}
	}
	c := redistest.SharedCluster(t)
	return backend{name: name, url: c.URL() + "&" + patientTimeouts, admin: c.Client(t),
		prefix: fmt.Sprintf("%016x-", rand.Uint64()), cluster: c}
}

// client returns a limiter client (NewRedisClient, patient timeouts),
// closed when the test ends.
func (be backend) client(t testing.TB) redis.UniversalClient {
	t.Helper()
	return newClient(t, be.url)
}

// key is Key with the backend's prefix on scope.
func (be backend) key(policy, scope string) string { return Key(policy, be.prefix+scope) }

// keys returns the keys matching pattern, from every master of a cluster.
func (be backend) keys(ctx context.Context, pattern string) ([]string, error) {
	cc, ok := be.admin.(*redis.ClusterClient)
	if !ok {
		return be.admin.Keys(ctx, pattern).Result()
	}
	var mu sync.Mutex
	var all []string
	err := cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
		ks, err := c.Keys(ctx, pattern).Result()
		mu.Lock()
		all = append(all, ks...)
		mu.Unlock()
		return err
	})
	return all, err
}

func TestNewRedisClient(t *testing.T) {
	t.Parallel()
	uc, err := NewRedisClient("unix:///tmp/x.sock")
	if err != nil {
		t.Fatal(err)
	}
	defer uc.Close()
	c, ok := uc.(*redis.Client)
	if !ok {
		t.Fatalf("NewRedisClient(unix://…) = %T, want *redis.Client", uc)
	}
	o := c.Options()
	if o.MaxRetries != 0 || o.DialerRetries != 1 || o.DialTimeout != DefaultDialTimeout || o.ReadTimeout != DefaultIOTimeout ||
		o.WriteTimeout != DefaultIOTimeout || o.PoolTimeout != DefaultIOTimeout || o.PoolSize != DefaultPoolSize || !o.ContextTimeoutEnabled {
		t.Errorf("options = retries %d, dial %v, read %v, write %v, pool wait %v, pool %d, ctx %v",
			o.MaxRetries, o.DialTimeout, o.ReadTimeout, o.WriteTimeout, o.PoolTimeout, o.PoolSize, o.ContextTimeoutEnabled)
	}
	uc2, err := NewRedisClient("redis://localhost:1/0?read_timeout=50ms&pool_size=3&max_retries=2")
	if err != nil {
		t.Fatal(err)
	}
	defer uc2.Close()
	c2, ok := uc2.(*redis.Client)
	if !ok {
		t.Fatalf("NewRedisClient(redis://… without addr) = %T, want *redis.Client", uc2)
	}
	if o := c2.Options(); o.ReadTimeout != 50*time.Millisecond || o.PoolSize != 3 || o.MaxRetries != 2 || o.WriteTimeout != DefaultIOTimeout {
		t.Errorf("URL parameters not honoured: read %v, pool %d, retries %d, write %v", o.ReadTimeout, o.PoolSize, o.MaxRetries, o.WriteTimeout)
	}
	if _, err := NewRedisClient("http://nope"); err == nil {
		t.Error("http URL accepted")
	}
}

// TestNewRedisClientCluster: a URL with addr parameters, in the form
// redis.ParseClusterURL reads, makes a cluster client with the limiter's
// defaults, which its parameters override; one without stays a single
// server (TestNewRedisClient).
func TestNewRedisClientCluster(t *testing.T) {
	t.Parallel()
	const url = "redis://127.0.0.1:7001?addr=127.0.0.1:7002&addr=127.0.0.1:7003"
	if !IsClusterURL(url) || IsClusterURL("redis://127.0.0.1:7001/0") || IsClusterURL("unix:///tmp/x.sock") {
		t.Error("IsClusterURL does not tell a cluster URL by its addr parameters")
	}
	uc, err := NewRedisClient(url)
	if err != nil {
		t.Fatal(err)
	}
	defer uc.Close()
	c, ok := uc.(*redis.ClusterClient)
	if !ok {
		t.Fatalf("NewRedisClient(%q) = %T, want *redis.ClusterClient", url, uc)
	}
	o := c.Options()
	if !slices.Equal(o.Addrs, []string{"127.0.0.1:7001", "127.0.0.1:7002", "127.0.0.1:7003"}) {
		t.Errorf("addrs = %v", o.Addrs)
	}
	if o.MaxRetries != -1 || o.MaxRedirects != 1 || o.MinRetryBackoff != 0 || o.MaxRetryBackoff != 0 || o.DialerRetries != 1 ||
		o.DialTimeout != DefaultDialTimeout || o.ReadTimeout != DefaultIOTimeout || o.WriteTimeout != DefaultIOTimeout ||
		o.PoolTimeout != DefaultIOTimeout || o.PoolSize != DefaultPoolSize || o.PipelinePoolSize != -1 || !o.ContextTimeoutEnabled {
		t.Errorf("options = retries %d, redirects %d, backoff %v–%v, dial retries %d, dial %v, read %v, write %v, pool wait %v, pool %d, pipeline pool %d, ctx %v",
			o.MaxRetries, o.MaxRedirects, o.MinRetryBackoff, o.MaxRetryBackoff, o.DialerRetries, o.DialTimeout, o.ReadTimeout,
			o.WriteTimeout, o.PoolTimeout, o.PoolSize, o.PipelinePoolSize, o.ContextTimeoutEnabled)
	}
	uc2, err := NewRedisClient(url + "&read_timeout=50ms&pool_size=3&max_redirects=4")
	if err != nil {
		t.Fatal(err)
	}
	defer uc2.Close()
	if o := uc2.(*redis.ClusterClient).Options(); o.ReadTimeout != 50*time.Millisecond || o.PoolSize != 3 || o.MaxRedirects != 4 || o.WriteTimeout != DefaultIOTimeout {
		t.Errorf("URL parameters not honoured: read %v, pool %d, redirects %d, write %v", o.ReadTimeout, o.PoolSize, o.MaxRedirects, o.WriteTimeout)
	}
	for _, bad := range []string{"unix:///tmp/x.sock?addr=127.0.0.1:7002", "redis://127.0.0.1:7001?addr=nope", "redis://127.0.0.1:7001?addr=127.0.0.1:7002&bogus=1"} {
		if err := ValidateRedisURL(bad); err == nil {
			t.Errorf("ValidateRedisURL(%q) accepted it", bad)
		}
	}
	if err := ValidateRedisURL(url); err != nil {
		t.Errorf("ValidateRedisURL(%q) = %v", url, err)
	}
}

// TestRedisAdmitsBurstPlusRate counts admissions over a real interval:
// Redis keeps the time, so the clock cannot be faked; a fast policy keeps
// the test short and the tolerance (±1 admission = ±50 ms) wide.
func TestRedisAdmitsBurstPlusRate(t *testing.T) {
	t.Parallel()
	forBackends(t, func(t *testing.T, be backend) {
		client := be.client(t)
		redisModes(t, func(t *testing.T, o RedisOptions) {
			testAdmitsBurstPlusRate(t, be, NewRedis(client, o))
		})
	})
}

func testAdmitsBurstPlusRate(t *testing.T, be backend, l *RedisLimiter) {
	ctx := context.Background()
	p := Policy{Name: "t", Rate: 20, Burst: 5}
	key := be.key(p.Name, t.Name())

	// Redis's clock decides; each call is bracketed by ours, so the
	// Redis time between the first and the last call lies within
	// [lastSent − firstDone, lastDone − firstSent] even if the
	// machine stalls. A stall between two calls longer than it takes
	// to refill burst − 1 (0.2 s) fills the quota and wastes the rest:
	// the least count allows for it.
	var firstSent, firstDone, lastSent, lastDone time.Time
	var lost float64
	allowed := 0
	for firstSent.IsZero() || time.Since(firstSent) < 1500*time.Millisecond {
		sent := time.Now()
		res, err := l.Allow(ctx, key, p, 1)
		if err != nil {
			t.Fatal(err)
		}
		done := time.Now()
		if firstSent.IsZero() {
			firstSent, firstDone = sent, done
		} else if g := done.Sub(lastSent).Seconds() - float64(p.Burst-1)/p.Rate; g > 0 {
			lost += g
		}
		lastSent, lastDone = sent, done
		if res.Allowed {
			allowed++
		}
		if allowed < 5 && !res.Allowed {
			t.Fatalf("denied after %d admissions: the burst is 5", allowed)
		}
		time.Sleep(time.Millisecond) // no need to spin
	}
	short, long := lastSent.Sub(firstDone).Seconds(), lastDone.Sub(firstSent).Seconds()
	lo, hi := 5+int(20*(short-lost))-1, 5+int(20*long)+1
	if allowed < lo || allowed > hi {
		t.Errorf("admitted %d in %.3f–%.3f s (stalls wasted up to %.3f s), want burst 5 + 20/s × elapsed = %d…%d", allowed, short, long, lost, lo, hi)
	}
}

func TestRedisResult(t *testing.T) {
	t.Parallel()
	forBackends(t, func(t *testing.T, be backend) {
		client := be.client(t)
		redisModes(t, func(t *testing.T, o RedisOptions) {
			testResult(t, be, NewRedis(client, o))
		})
	})
}

func testResult(t *testing.T, be backend, l *RedisLimiter) {
	ctx := context.Background()
	p := Policy{Name: "t", Rate: 1.0 / 60, Burst: 3} // nothing refills during the test
	key := be.key(p.Name, t.Name())
	for i := range 3 {
		res, err := l.Allow(ctx, key, p, 1)
		if err != nil || !res.Allowed || res.Remaining != 2-i || res.RetryAfter != 0 || res.Policy != p {
			t.Fatalf("call %d = %+v, %v; want allowed, %d remaining", i, res, err, 2-i)
		}
		if want := time.Duration(i+1) * time.Minute; res.ResetAfter > want || res.ResetAfter < want-time.Second {
			t.Errorf("call %d: ResetAfter = %v, want about %v", i, res.ResetAfter, want)
		}
	}
	res, err := l.Allow(ctx, key, p, 1)
	if err != nil || res.Allowed || res.Remaining != 0 || res.RetryAfter < 59*time.Second || res.RetryAfter > time.Minute || res.ResetAfter < 179*time.Second {
		t.Fatalf("4th call = %+v, %v; want denied for about a minute", res, err)
	}
	if _, err := l.Allow(ctx, key, p, 4); !errors.Is(err, ErrInvalidPolicy) {
		t.Errorf("cost above burst: %v, want ErrInvalidPolicy", err)
	}
}

// TestLuaMatchesGo holds gcra.lua and gcra() together: for random
// policies and costs it reads the stored state, runs the script, and
// replays the decision in Go at the time the script saw.
func TestLuaMatchesGo(t *testing.T) {
	t.Parallel()
	forBackends(t, testLuaMatchesGo)
}

func testLuaMatchesGo(t *testing.T, be backend) {
	ctx := context.Background()
	client := be.client(t)
	l := NewRedis(client, RedisOptions{Pipelines: -1})
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 3000 {
		// Intervals from 1 µs to 10 ms, so time moves on between calls
		// and the state is fresh, refilling or exhausted in turn.
		p := Policy{Name: "t", Rate: 1e6 / float64(1+rng.IntN(10_000)), Burst: 1 + rng.IntN(20)}
		key := be.key(p.Name, strconv.Itoa(rng.IntN(8)))
		n := rng.IntN(p.Burst + 1)

		start := time.Now()
		before, err := client.Get(ctx, key).Int64()
		present := err == nil
		if err != nil && !errors.Is(err, redis.Nil) {
			t.Fatal(err)
		}
		reply, err := l.eval(ctx, key, [3]any{p.interval(), int64(p.Burst), int64(n)})
		if err != nil {
			t.Fatal(err)
		}
		now := reply[4]
		tat := now
		if present {
			tat = before // an expired key decides as a missing one: tat ≤ now
		}
		newTAT, d := gcra(now, tat, p.interval(), int64(p.Burst), int64(n))
		got := decision{allowed: reply[0] == 1, remaining: reply[1], retryAfter: reply[2], resetAfter: reply[3]}
		if got != d {
			t.Fatalf("call %d (%+v, n %d, tat %d, now %d): Lua %+v, Go %+v", i, p, n, tat, now, got, d)
		}
		after, err := client.Get(ctx, key).Int64()
		// A key lives until its quota is full again, which may be a few
		// microseconds: on a slow run it may be gone already.
		expired := errors.Is(err, redis.Nil) && time.Duration(d.resetAfter)*time.Microsecond <= time.Since(start)+time.Millisecond
		switch {
		case d.allowed && n > 0 && expired:
		case d.allowed && n > 0:
			if err != nil || after != newTAT {
				t.Fatalf("call %d: stored %d (%v), want %d", i, after, err, newTAT)
			}
		case present && err == nil && after != before:
			t.Fatalf("call %d: a non-charging call changed the state from %d to %d", i, before, after)
		}
	}
}

// TestRedisSharedAcrossInstances checks that two servers, each with its
// own client and limiter, admit together exactly what one would.
func TestRedisSharedAcrossInstances(t *testing.T) {
	t.Parallel()
	forBackends(t, func(t *testing.T, be backend) {
		redisModes(t, func(t *testing.T, o RedisOptions) {
			testSharedAcrossInstances(t, be, o)
		})
	})
}

func testSharedAcrossInstances(t *testing.T, be backend, o RedisOptions) {
	ctx := context.Background()
	p := Policy{Name: "t", Rate: 1.0 / 60, Burst: 50}
	limiters := []*RedisLimiter{NewRedis(be.client(t), o), NewRedis(be.client(t), o)}

	// In turn: what one admits, the other no longer does.
	key := be.key(p.Name, t.Name()+"-turns")
	for i := range 20 {
		if res, err := limiters[0].Allow(ctx, key, p, 1); err != nil || !res.Allowed {
			t.Fatalf("first server, call %d: %+v, %v", i, res, err)
		}
	}
	for i := range 31 {
		res, err := limiters[1].Allow(ctx, key, p, 1)
		if err != nil || res.Allowed != (i < 30) || res.Remaining != max(0, 29-i) {
			t.Fatalf("second server, call %d: %+v, %v; want 30 admitted, then denied", i, res, err)
		}
	}

	// At once: together exactly the burst.
	key = be.key(p.Name, t.Name()+"-together")
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			for range 20 {
				res, err := limiters[g%2].Allow(ctx, key, p, 1)
				if err != nil {
					t.Error(err)
					return
				}
				if res.Allowed {
					allowed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if n := allowed.Load(); n != 50 {
		t.Errorf("admitted %d of 320 calls from two servers, want the burst 50", n)
	}
}

// TestRedisBatchesConcurrentCalls checks that concurrent calls share
// pipelines and every one gets its own answer.
func TestRedisBatchesConcurrentCalls(t *testing.T) {
	t.Parallel()
	forBackends(t, testBatchesConcurrentCalls)
}

func testBatchesConcurrentCalls(t *testing.T, be backend) {
	ctx := context.Background()
	l := NewRedis(be.client(t), RedisOptions{Pipelines: 1})
	p := Policy{Name: "t", Rate: 1.0 / 60, Burst: 10}
	const goroutines, calls = 32, 20
	var allowed [goroutines]atomic.Int64
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for range calls {
				res, err := l.Allow(ctx, be.key(p.Name, strconv.Itoa(g)), p, 1)
				if err != nil {
					t.Error(err)
					return
				}
				if res.Allowed {
					allowed[g].Add(1)
				}
			}
		})
	}
	wg.Wait()
	for g := range allowed {
		if n := allowed[g].Load(); n != 10 {
			t.Errorf("key %d: %d admitted, want the burst 10", g, n)
		}
	}
	for _, b := range l.batchers() {
		b.mu.Lock()
		if b.inFlight != 0 || len(b.queue) != 0 {
			t.Errorf("batcher left %d in flight, %d queued", b.inFlight, len(b.queue))
		}
		b.mu.Unlock()
	}
}

// batchers returns l's batchers: the one of shard "" and a cluster's
// per-master ones.
func (l *RedisLimiter) batchers() []*batcher {
	bs := []*batcher{l.batch}
	l.shardBatches.Range(func(_, v any) bool {
		bs = append(bs, v.(*batcher))
		return true
	})
	return bs
}

func TestRedisBatchCancelledWhileQueued(t *testing.T) {
	t.Parallel()
	srv := redistest.New(t)
	client := limiterClient(t, srv)
	l := NewRedis(client, RedisOptions{Pipelines: 1})
	p := Policy{Name: "t", Rate: 1.0 / 60, Burst: 10}
	// Hold the only pipeline slot, queue a call, cancel it: it must
	// return at once and never be charged.
	l.batch.mu.Lock()
	l.batch.inFlight = 1
	l.batch.mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := l.Allow(ctx, Key(p.Name, "k"), p, 1)
		done <- err
	}()
	waitFor(t, func() bool { l.batch.mu.Lock(); defer l.batch.mu.Unlock(); return len(l.batch.queue) == 1 })
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	l.batch.mu.Lock()
	l.batch.inFlight = 0
	queued := len(l.batch.queue)
	l.batch.mu.Unlock()
	if queued != 0 {
		t.Fatalf("%d calls left queued", queued)
	}
	res, err := l.Allow(context.Background(), Key(p.Name, "k"), p, 1)
	if err != nil || res.Remaining != 9 {
		t.Errorf("after the cancelled call: %+v, %v; want 9 remaining (nothing charged)", res, err)
	}
}

// TestRedisNoScript flushes the script cache under load: every call still
// gets an answer.
func TestRedisNoScript(t *testing.T) {
	t.Parallel()
	forBackends(t, func(t *testing.T, be backend) {
		redisModes(t, func(t *testing.T, o RedisOptions) {
			testNoScript(t, be, o)
		})
	})
}

func testNoScript(t *testing.T, be backend, o RedisOptions) {
	ctx := context.Background()
	admin := be.admin // on a cluster, SCRIPT FLUSH reaches every master
	l := NewRedis(be.client(t), o)
	p := Policy{Name: "t", Rate: 1e5, Burst: 1e5}
	for round := range 5 {
		if err := admin.ScriptFlush(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for g := range 16 {
			wg.Go(func() {
				for i := range 10 {
					if _, err := l.Allow(ctx, be.key(p.Name, fmt.Sprint(g, i)), p, 1); err != nil {
						t.Errorf("round %d: %v", round, err)
						return
					}
				}
			})
		}
		wg.Wait()
	}
}

// TestRedisRestart takes Redis away and brings it back empty (scripts and
// keys gone): the limiter errors while it is down, then answers again by
// itself.
func TestRedisRestart(t *testing.T) {
	t.Parallel()
	redisModes(t, func(t *testing.T, o RedisOptions) {
		ctx := context.Background()
		srv := redistest.New(t)
		l := NewRedis(limiterClient(t, srv), o)
		p := Policy{Name: "t", Rate: 1.0 / 60, Burst: 2}
		key := Key(p.Name, "k")
		if res, err := l.Allow(ctx, key, p, 1); err != nil || res.Remaining != 1 {
			t.Fatalf("before: %+v, %v", res, err)
		}
		srv.Kill()
		start := time.Now()
		if _, err := l.Allow(ctx, key, p, 1); err == nil || errors.Is(err, ErrInvalidPolicy) {
			t.Fatalf("Redis down: err = %v, want a backend error", err)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("a dead Redis took %v to report", d)
		}
		srv.Restart()
		// A connection the pool kept from before may fail once; the next
		// call reconnects and meets NOSCRIPT, which it handles.
		var res Result
		var err error
		for range 2 {
			if res, err = l.Allow(ctx, key, p, 1); err == nil {
				break
			}
		}
		if err != nil || res.Remaining != 1 {
			t.Fatalf("after restart: %+v, %v; want a fresh quota", res, err)
		}
	})
}

// TestRedisKeyExpires checks that a key lives until its quota is full
// again, and not longer.
func TestRedisKeyExpires(t *testing.T) {
	t.Parallel()
	forBackends(t, testKeyExpires)
}

func testKeyExpires(t *testing.T, be backend) {
	ctx := context.Background()
	admin := be.admin
	l := NewRedis(be.client(t), RedisOptions{})
	// 500 ms per call: long enough that a loaded machine reads the TTL
	// before the key expires (50 ms was not, under a busy CI run).
	p := Policy{Name: "t", Rate: 2, Burst: 4}
	key := be.key(p.Name, "k")
	for i := 1; i <= 3; i++ {
		res, err := l.Allow(ctx, key, p, 1)
		if err != nil || !res.Allowed {
			t.Fatal(res, err)
		}
		ttl, err := admin.PTTL(ctx, key).Result()
		if err != nil {
			t.Fatal(err)
		}
		// The TTL is ResetAfter, rounded up to the millisecond, + 1 ms.
		if max := time.Duration(i)*500*time.Millisecond + time.Millisecond; ttl <= 0 || ttl > max {
			t.Errorf("after %d calls: PTTL = %v, want in (0, %v] (ResetAfter %v)", i, ttl, max, res.ResetAfter)
		}
	}
	waitFor(t, func() bool { return admin.Exists(ctx, key).Val() == 0 })
	if res, err := l.Allow(ctx, key, p, 0); err != nil || res.Remaining != 4 {
		t.Errorf("after expiry: %+v, %v; want a full quota", res, err)
	}
	if admin.Exists(ctx, key).Val() != 0 {
		t.Error("a cost-0 call stored a key")
	}
	if keys, err := be.keys(ctx, "*"+be.prefix+"*"); err != nil || len(keys) != 0 {
		t.Errorf("keys left: %q (%v)", keys, err)
	}
}

// TestRedisStoresHashTaggedKeys checks that the limiter stores exactly
// the caller's key, and on a Redis Cluster that every key of one tenant
// lands in one slot — the slot of the tenant's UUID, the hash tag — on
// one master, for many tenants.
func TestRedisStoresHashTaggedKeys(t *testing.T) {
	t.Parallel()
	forBackends(t, testStoresHashTaggedKeys)
}

func testStoresHashTaggedKeys(t *testing.T, be backend) {
	ctx := context.Background()
	l := NewRedis(be.client(t), RedisOptions{})
	ps := DefaultPolicies()
	tenants := 1
	if be.cluster != nil {
		tenants = 30 // spread over the three masters
	}
	masters := map[int]bool{}
	for i := range tenants {
		tenant := be.prefix + fmt.Sprintf("5f0c6a8e-3c1b-4f7e-9a8a-%012x", i)
		for _, p := range []Policy{ps.API, ps.Webhook, ps.Orphan} {
			// A whole burst, so the key lives seconds (its TTL is the time
			// to refill), not one emission interval that a slow run
			// outlasts.
			if _, err := l.Allow(ctx, Key(p.Name, tenant), p, p.Burst); err != nil {
				t.Fatal(err)
			}
		}
		keys, err := be.keys(ctx, "*{"+tenant+"}*")
		if err != nil || len(keys) != 3 {
			t.Fatalf("keys = %q (%v), want the tenant's three", keys, err)
		}
		for _, k := range keys {
			if hashTag(k) != tenant {
				t.Errorf("key %q hashes on %q, want the tenant", k, hashTag(k))
			}
		}
		if be.cluster == nil {
			continue
		}
		want, err := be.admin.ClusterKeySlot(ctx, tenant).Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			if slot, err := be.admin.ClusterKeySlot(ctx, k).Result(); err != nil || slot != want {
				t.Errorf("CLUSTER KEYSLOT %s = %d (%v), want %d, the slot of the tenant %s", k, slot, err, want, tenant)
			}
		}
		// Stored on the master that holds the slot, all three.
		m, err := be.cluster.NodeOf(ctx, tenant)
		if err != nil {
			t.Fatal(err)
		}
		masters[m] = true
		for _, k := range keys {
			if n, err := be.cluster.Node(m).Client(t).Exists(ctx, k).Result(); err != nil || n != 1 {
				t.Errorf("key %s not on node %d, which holds its slot: %d, %v", k, m, n, err)
			}
		}
	}
	if be.cluster != nil && len(masters) != redistest.ClusterSize {
		t.Errorf("%d tenants landed on masters %v, want all %d used", tenants, masters, redistest.ClusterSize)
	}
}

// waitFor polls cond for up to 5 s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5 s")
		}
		time.Sleep(2 * time.Millisecond)
	}
}
