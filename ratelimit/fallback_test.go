package ratelimit

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parkhq/park/internal/redistest"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

const (
	msgDown      = "redis limiter unavailable, falling back"
	msgRecovered = "redis limiter recovered"
)

// logRecorder is a slog.Handler that keeps the messages it receives, and
// the shard each names (and the whole records, for their attributes).
type logRecorder struct {
	mu     sync.Mutex
	msgs   []string
	shards []string // "" for a record without a shard attribute
	recs   []slog.Record
}

func (r *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *logRecorder) WithGroup(string) slog.Handler            { return r }
func (r *logRecorder) Handle(_ context.Context, rec slog.Record) error {
	shard := ""
	rec.Attrs(func(a slog.Attr) bool {
		if a.Key == "shard" {
			shard = a.Value.String()
		}
		return true
	})
	r.mu.Lock()
	r.msgs = append(r.msgs, rec.Message)
	r.shards = append(r.shards, shard)
	r.recs = append(r.recs, rec.Clone())
	r.mu.Unlock()
	return nil
}

// countShard counts the records of msg that name shard.
func (r *logRecorder) countShard(msg, shard string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for i, m := range r.msgs {
		if m == msg && r.shards[i] == shard {
			n++
		}
	}
	return n
}

func (r *logRecorder) count(msg string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, m := range r.msgs {
		if m == msg {
			n++
		}
	}
	return n
}

func newTestMetrics(t *testing.T) *Metrics {
	t.Helper()
	m, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func counterValue(t testing.TB, c prometheus.Counter) int {
	t.Helper()
	var out dto.Metric
	if err := c.Write(&out); err != nil {
		t.Fatal(err)
	}
	return int(out.GetCounter().GetValue())
}

func decisions(t testing.TB, m *Metrics, policy, result string) int {
	t.Helper()
	return counterValue(t, m.decisions.WithLabelValues(policy, result))
}

func backendErrors(t testing.TB, m *Metrics) int {
	t.Helper()
	return counterValue(t, m.backendErrors)
}

// TestFallbackRedisKilled kills Redis under load: the limiter goes on
// answering in process, logs the outage once, counts it, and returns to
// Redis by itself once Redis is back.
func TestFallbackRedisKilled(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := redistest.New(t)
	m := newTestMetrics(t)
	logs := &logRecorder{}
	f := NewFallback(NewRedis(limiterClient(t, srv), RedisOptions{}), NewLocal(LocalOptions{}),
		FallbackOptions{Logger: slog.New(logs), Metrics: m, ProbeInterval: 10 * time.Millisecond})
	p := Policy{Name: "api", Rate: 1.0 / 60, Burst: 5}
	key := Key(p.Name, "tenant")
	for i := range 3 {
		if res, err := f.Allow(ctx, key, p, 1); err != nil || !res.Allowed || res.Remaining != 4-i {
			t.Fatalf("call %d through Redis: %+v, %v", i, res, err)
		}
	}

	srv.Kill()
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for range 10 {
				res, err := f.Allow(ctx, key, p, 1)
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
	// Keep calling across several probe intervals: the probes fail
	// quietly.
	for start := time.Now(); time.Since(start) < 100*time.Millisecond; time.Sleep(time.Millisecond) {
		if res, err := f.Allow(ctx, key, p, 1); err != nil || res.Allowed {
			t.Fatalf("local quota exhausted, yet %+v, %v", res, err)
		}
	}
	if n := allowed.Load(); n != 5 {
		t.Errorf("admitted %d during the outage, want the local burst 5", n)
	}
	if !f.Degraded() {
		t.Error("Degraded() = false during the outage")
	}
	if n := logs.count(msgDown); n != 1 {
		t.Errorf("%d %q lines, want 1", n, msgDown)
	}
	if n := backendErrors(t, m); n < 2 {
		t.Errorf("backend errors = %d, want the failure and failed probes", n)
	}
	if a, d := decisions(t, m, "api", ResultAllowed), decisions(t, m, "api", ResultDenied); a != 3+5 || d < 155 {
		t.Errorf("decisions: %d allowed, %d denied; want 8 allowed, at least 155 denied", a, d)
	}

	srv.Restart() // empty: a fresh quota in Redis
	waitFor(t, func() bool {
		res, err := f.Allow(ctx, key, p, 1)
		return err == nil && res.Allowed
	})
	if f.Degraded() {
		t.Error("Degraded() = true after recovery")
	}
	if n := logs.count(msgRecovered); n != 1 {
		t.Errorf("%d %q lines, want 1", n, msgRecovered)
	}
	if n := logs.count(msgDown); n != 1 {
		t.Errorf("%d %q lines after recovery, want still 1", n, msgDown)
	}
}

// TestFallbackRedisSlow pauses Redis: a call times out within the
// client's short timeout and is answered in process.
func TestFallbackRedisSlow(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := redistest.New(t)
	logs := &logRecorder{}
	f := NewFallback(NewRedis(newClient(t, srv.URL()), RedisOptions{}), NewLocal(LocalOptions{}),
		FallbackOptions{Logger: slog.New(logs), ProbeInterval: 10 * time.Millisecond})
	p := Policy{Name: "api", Rate: 1.0 / 60, Burst: 5}
	key := Key(p.Name, "tenant")
	if _, err := f.Allow(ctx, key, p, 1); err != nil {
		t.Fatal(err)
	}
	if err := srv.Client(t).Do(ctx, "CLIENT", "PAUSE", 2000, "ALL").Err(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	res, err := f.Allow(ctx, key, p, 1)
	if err != nil || !res.Allowed || res.Remaining != 4 {
		t.Fatalf("paused Redis: %+v, %v; want the local quota", res, err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("answered after %v, want within the client's timeout", d)
	}
	if !f.Degraded() || logs.count(msgDown) != 1 {
		t.Errorf("Degraded() = %v, %d %q lines", f.Degraded(), logs.count(msgDown), msgDown)
	}
}

func TestFallbackFailClosed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := redistest.New(t)
	m := newTestMetrics(t)
	f := NewFallback(NewRedis(limiterClient(t, srv), RedisOptions{}), NewLocal(LocalOptions{}),
		FallbackOptions{Metrics: m, ProbeInterval: time.Second})
	ps := DefaultPolicies().WithFailMode(FailClosed)
	tenant := "tenant"
	if res, err := f.Allow(ctx, Key(NameAPI, tenant), ps.API, 1); err != nil || !res.Allowed {
		t.Fatalf("through Redis: %+v, %v", res, err)
	}
	srv.Kill()
	for range 3 {
		res, err := f.Allow(ctx, Key(NameAPI, tenant), ps.API, 1)
		if err != nil || res.Allowed || res.RetryAfter != time.Second || res.Policy != ps.API {
			t.Fatalf("fail-closed during an outage: %+v, %v; want denied, retry after the probe interval", res, err)
		}
	}
	if n := decisions(t, m, NameAPI, ResultError); n != 3 {
		t.Errorf("decisions{api,error} = %d, want 3", n)
	}
	// Login policies go on limiting, fail-closed configured or not.
	scope := testScopes.Scope("alice@example.com", "192.0.2.1")
	for i := range 11 {
		res, err := f.Allow(ctx, Key(NameLoginEmailIP, scope), ps.LoginEmailIP, 1)
		if err != nil || res.Allowed != (i < 10) {
			t.Fatalf("login attempt %d during the outage: %+v, %v; want 10 admitted, then denied", i+1, res, err)
		}
	}
}

// fakePrimary is a primary limiter whose failures a test controls.
type fakePrimary struct {
	calls atomic.Int64
	fail  atomic.Bool
	gate  chan struct{} // when set, each call waits for it
}

func (f *fakePrimary) Allow(ctx context.Context, _ string, p Policy, _ int) (Result, error) {
	f.calls.Add(1)
	if f.gate != nil {
		<-f.gate
	}
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	if f.fail.Load() {
		return Result{}, errors.New("connection refused")
	}
	return Result{Allowed: true, Remaining: 1000, Policy: p}, nil
}

// TestFallbackBreaker drives the breaker with a fake primary and clock:
// while open, calls never touch the primary except one probe per interval.
func TestFallbackBreaker(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := newFakeClock()
	primary := &fakePrimary{}
	m := newTestMetrics(t)
	logs := &logRecorder{}
	f := NewFallback(primary, NewLocal(LocalOptions{Now: clock.Now}),
		FallbackOptions{Logger: slog.New(logs), Metrics: m, ProbeInterval: time.Second, Now: clock.Now})
	p := Policy{Name: "api", Rate: 1.0 / 60, Burst: 100}

	if res, _ := f.Allow(ctx, "k", p, 1); res.Remaining != 1000 {
		t.Fatalf("healthy: %+v, want the primary's answer", res)
	}
	primary.fail.Store(true)
	if res, err := f.Allow(ctx, "k", p, 1); err != nil || res.Remaining != 99 {
		t.Fatalf("first failure: %+v, %v; want the local answer", res, err)
	}
	for range 50 {
		f.Allow(ctx, "k", p, 1)
	}
	clock.Advance(999 * time.Millisecond)
	f.Allow(ctx, "k", p, 1)
	if n := primary.calls.Load(); n != 2 {
		t.Fatalf("primary called %d times, want 2: none while the breaker is open", n)
	}
	clock.Advance(time.Millisecond)
	f.Allow(ctx, "k", p, 1) // the probe, which fails
	f.Allow(ctx, "k", p, 1)
	if n := primary.calls.Load(); n != 3 {
		t.Fatalf("primary called %d times, want 3: one probe per interval", n)
	}
	if n, w := backendErrors(t, m), logs.count(msgDown); n != 2 || w != 1 {
		t.Errorf("backend errors %d, warnings %d; want 2 and 1", n, w)
	}

	// One probe at a time: others answer locally while it is in flight.
	clock.Advance(time.Second)
	primary.fail.Store(false)
	gated := &fakePrimary{gate: make(chan struct{})}
	f.primary = gated
	probeDone := make(chan Result)
	go func() {
		res, _ := f.Allow(ctx, "k", p, 1)
		probeDone <- res
	}()
	waitFor(t, func() bool { return gated.calls.Load() == 1 })
	for range 10 {
		if res, _ := f.Allow(ctx, "k", p, 1); res.Remaining == 1000 {
			t.Fatal("a second call reached the primary during the probe")
		}
	}
	close(gated.gate)
	if res := <-probeDone; res.Remaining != 1000 {
		t.Fatalf("successful probe: %+v, want the primary's answer", res)
	}
	if f.Degraded() || logs.count(msgRecovered) != 1 || gated.calls.Load() != 1 {
		t.Errorf("after the probe: Degraded %v, %d recoveries logged, %d calls", f.Degraded(), logs.count(msgRecovered), gated.calls.Load())
	}
	if res, _ := f.Allow(ctx, "k", p, 1); res.Remaining != 1000 {
		t.Errorf("after recovery: %+v, want the primary's answer", res)
	}
}

// TestFallbackCallerErrors checks that the caller's own failures neither
// open the breaker nor fall back.
func TestFallbackCallerErrors(t *testing.T) {
	t.Parallel()
	primary := &fakePrimary{}
	m := newTestMetrics(t)
	f := NewFallback(primary, NewLocal(LocalOptions{}), FallbackOptions{Metrics: m})
	p := Policy{Name: "api", Rate: 1, Burst: 1}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := f.Allow(ctx, "k", p, 1); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: err = %v, want context.Canceled", err)
	}
	if _, err := f.Allow(context.Background(), "k", Policy{Name: "api"}, 1); !errors.Is(err, ErrInvalidPolicy) {
		t.Errorf("invalid policy: err = %v, want ErrInvalidPolicy", err)
	}
	if _, err := f.Allow(context.Background(), "k", p, 2); !errors.Is(err, ErrInvalidPolicy) {
		t.Errorf("cost above burst: err = %v, want ErrInvalidPolicy", err)
	}
	if f.Degraded() || backendErrors(t, m) != 0 {
		t.Errorf("caller errors opened the breaker (Degraded %v, %d backend errors)", f.Degraded(), backendErrors(t, m))
	}
	if n := decisions(t, m, "api", ResultError); n != 3 {
		t.Errorf("decisions{api,error} = %d, want 3", n)
	}
	if n := primary.calls.Load(); n != 1 {
		t.Errorf("primary called %d times, want once (invalid calls never reach it)", n)
	}
}

func TestMetricsRegistration(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewMetrics(reg); err == nil {
		t.Error("registering twice on one registry succeeded")
	}
	l := Instrument(NewLocal(LocalOptions{}), m)
	p := Policy{Name: "orphan", Rate: 1.0 / 60, Burst: 1}
	l.Allow(context.Background(), "k", p, 1)
	l.Allow(context.Background(), "k", p, 1)
	l.Allow(context.Background(), "k", Policy{Name: "{tenant-1}"}, 1)
	m.backendError()
	got := map[string]int{}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		for _, mt := range f.GetMetric() {
			name := f.GetName()
			for _, l := range mt.GetLabel() {
				name += " " + l.GetName() + "=" + l.GetValue()
			}
			got[name] = int(mt.GetCounter().GetValue())
		}
	}
	want := map[string]int{
		"park_ratelimit_backend_errors_total":                         1,
		"park_ratelimit_decisions_total policy=invalid result=error":  1,
		"park_ratelimit_decisions_total policy=orphan result=allowed": 1,
		"park_ratelimit_decisions_total policy=orphan result=denied":  1,
	}
	if !maps.Equal(got, want) {
		t.Errorf("gathered %v, want %v", got, want)
	}
	var nilMetrics *Metrics // records nothing, panics never
	nilMetrics.observe(p, Result{}, nil)
	nilMetrics.backendError()
}

// shardedPrimary is a primary limiter whose keys live on shards, named by
// the key's part before "/" (none: shard ""), each of which a test can
// take down.
type shardedPrimary struct {
	mu    sync.Mutex
	down  map[string]bool
	calls map[string]int
}

func newShardedPrimary() *shardedPrimary {
	return &shardedPrimary{down: map[string]bool{}, calls: map[string]int{}}
}

func (s *shardedPrimary) Shard(_ context.Context, key string) string {
	shard, _, ok := strings.Cut(key, "/")
	if !ok {
		return ""
	}
	return shard
}

func (s *shardedPrimary) Allow(ctx context.Context, key string, p Policy, _ int) (Result, error) {
	shard := s.Shard(ctx, key)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls[shard]++
	if s.down[shard] {
		return Result{}, errors.New("connection refused")
	}
	return Result{Allowed: true, Remaining: 1000, Policy: p}, nil
}

func (s *shardedPrimary) set(shard string, down bool) {
	s.mu.Lock()
	s.down[shard] = down
	s.mu.Unlock()
}

func (s *shardedPrimary) callsTo(shard string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[shard]
}

// TestFallbackShards: with a sharded primary (a Redis Cluster), a shard's
// failure opens only its own breaker; the other shards' keys still reach
// the primary, each outage is logged once naming its shard, and each
// shard recovers through its own probe.
func TestFallbackShards(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := newFakeClock()
	primary := newShardedPrimary()
	logs := &logRecorder{}
	f := NewFallback(primary, NewLocal(LocalOptions{Now: clock.Now}),
		FallbackOptions{Logger: slog.New(logs), ProbeInterval: time.Second, Now: clock.Now})
	p := Policy{Name: "api", Rate: 1.0 / 60, Burst: 100}
	fromPrimary := func(key string) bool {
		res, err := f.Allow(ctx, key, p, 1)
		if err != nil {
			t.Fatal(err)
		}
		return res.Remaining == 1000
	}

	primary.set("a", true)
	if fromPrimary("a/t1") {
		t.Fatal("shard a down, yet the primary's answer")
	}
	for range 20 {
		if fromPrimary("a/t2") {
			t.Fatal("shard a's breaker let a call through before the probe interval")
		}
		if !fromPrimary("b/t3") || !fromPrimary("unsharded") {
			t.Fatal("shard a's outage sent another shard's key to the fallback")
		}
	}
	if n := primary.callsTo("a"); n != 1 {
		t.Errorf("shard a called %d times, want 1 (its breaker is open)", n)
	}
	if !f.Degraded() || logs.countShard(msgDown, "a") != 1 || logs.count(msgDown) != 1 {
		t.Errorf("Degraded %v, warnings %d (shard a %d); want true, 1 naming a", f.Degraded(), logs.count(msgDown), logs.countShard(msgDown, "a"))
	}

	primary.set("b", true)
	fromPrimary("b/t3")
	if logs.countShard(msgDown, "b") != 1 {
		t.Errorf("shard b's outage: %d warnings naming it, want 1", logs.countShard(msgDown, "b"))
	}

	primary.set("a", false)
	clock.Advance(time.Second)
	if !fromPrimary("a/t2") {
		t.Fatal("shard a back, its probe did not reach the primary")
	}
	if !f.Degraded() || logs.countShard(msgRecovered, "a") != 1 {
		t.Errorf("shard a recovered, b down: Degraded %v, %d recoveries of a", f.Degraded(), logs.countShard(msgRecovered, "a"))
	}
	if fromPrimary("b/t3") {
		t.Error("shard b's breaker closed with shard a's")
	}
	primary.set("b", false)
	clock.Advance(time.Second)
	if !fromPrimary("b/t3") || f.Degraded() || logs.countShard(msgRecovered, "b") != 1 {
		t.Errorf("all shards back: Degraded %v, %d recoveries of b", f.Degraded(), logs.countShard(msgRecovered, "b"))
	}
}

// TestFallbackShardIdleReset: an open shard breaker no call needs for
// ShardIdleReset is closed untested (a failover may have moved its slots
// to a new address), and a later call to the shard tries it afresh; one
// that calls keep needing stays open.
func TestFallbackShardIdleReset(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := newFakeClock()
	primary := newShardedPrimary()
	logs := &logRecorder{}
	f := NewFallback(primary, NewLocal(LocalOptions{Now: clock.Now}),
		FallbackOptions{Logger: slog.New(logs), ProbeInterval: time.Second, Now: clock.Now})
	p := Policy{Name: "api", Rate: 1.0 / 60, Burst: 100}
	primary.set("a", true)
	primary.set("c", true)
	f.Allow(ctx, "a/t", p, 1)
	f.Allow(ctx, "c/t", p, 1)
	// Shard c keeps being needed every 10 s; shard a is not; b is healthy.
	for range 7 {
		clock.Advance(10 * time.Second)
		f.Allow(ctx, "c/t", p, 1)
		f.Allow(ctx, "b/t", p, 1)
	}
	const msgReset = "redis limiter shard unused, breaker closed untested"
	if logs.countShard(msgReset, "a") != 1 || logs.count(msgReset) != 1 {
		t.Errorf("resets logged: %d (shard a %d), want 1 of a", logs.count(msgReset), logs.countShard(msgReset, "a"))
	}
	if !f.Degraded() {
		t.Error("Degraded() = false, yet shard c is down and needed")
	}
	before := primary.callsTo("a")
	f.Allow(ctx, "a/t", p, 1)
	if primary.callsTo("a") != before+1 || logs.countShard(msgDown, "a") != 2 {
		t.Errorf("after the reset shard a was not tried afresh: %d calls, %d warnings", primary.callsTo("a")-before, logs.countShard(msgDown, "a"))
	}
	primary.set("c", false)
	clock.Advance(time.Second)
	primary.set("a", false)
	f.Allow(ctx, "a/t", p, 1)
	f.Allow(ctx, "c/t", p, 1)
	if f.Degraded() {
		t.Error("Degraded() = true with every shard back")
	}
}
