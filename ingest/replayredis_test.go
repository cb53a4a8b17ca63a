package ingest_test

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/redis/go-redis/v9"

	"github.com/parkhq/park/ingest"
	"github.com/parkhq/park/internal/redistest"
	"github.com/parkhq/park/ratelimit"
)

// Log lines of a RedisReplayGuard's outage and recovery.
const (
	msgReplayDown      = "redis replay guard unavailable, checking webhook ids per instance"
	msgReplayRecovered = "redis replay guard recovered"
	msgReplayIdleReset = "redis replay guard shard unused, breaker closed untested"
)

// patientTimeouts are longer than NewRedisClient's defaults, so that a
// loaded machine (race detector, two cores) pausing the test does not send
// a check to the fallback in a test about something else.
const patientTimeouts = "dial_timeout=3s&read_timeout=3s&write_timeout=3s&pool_timeout=3s"

// replayBackend is a Redis the replay tests run against: a single server
// of the test's own, or the test binary's shared Redis Cluster.
type replayBackend struct {
	name  string
	url   string                // for ratelimit.NewRedisClient
	admin redis.UniversalClient // for inspecting keys
	// prefix starts every tenant of the test: unique on the shared
	// cluster, whose keys outlive a test (and -count repeats it).
	prefix  string
	cluster *redistest.Cluster // nil on a single server
}

// forReplayBackends runs f, in parallel, on a single Redis and on a Redis
// Cluster.
func forReplayBackends(t *testing.T, f func(t *testing.T, be replayBackend)) {
	for _, name := range []string{"single", "cluster"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			prefix := fmt.Sprintf("%016x-", rand.Uint64())
			if name == "single" {
				srv := redistest.New(t)
				f(t, replayBackend{name: name, url: srv.URL() + "?" + patientTimeouts, admin: srv.Client(t), prefix: prefix})
				return
			}
			c := redistest.SharedCluster(t)
			f(t, replayBackend{name: name, url: c.URL() + "&" + patientTimeouts, admin: c.Client(t), prefix: prefix, cluster: c})
		})
	}
}

// client returns a client made as parkd makes the limiter's, closed when
// the test ends.
func (be replayBackend) client(t testing.TB) redis.UniversalClient {
	t.Helper()
	return newRedisClient(t, be.url)
}

func newRedisClient(t testing.TB, url string) redis.UniversalClient {
	t.Helper()
	c, err := ratelimit.NewRedisClient(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// keys returns the replay keys of the backend matching pattern, from every
// master of a cluster.
func (be replayBackend) keys(t *testing.T, pattern string) []string {
	t.Helper()
	ctx := context.Background()
	cc, ok := be.admin.(*redis.ClusterClient)
	if !ok {
		ks, err := be.admin.Keys(ctx, pattern).Result()
		if err != nil {
			t.Fatal(err)
		}
		return ks
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
	if err != nil {
		t.Fatal(err)
	}
	return all
}

// fakeClock is an injected clock a test moves by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Unix(1_900_000_000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// seen calls g.Seen and fails the test on an error: a RedisReplayGuard
// never returns one.
func seen(t *testing.T, g ingest.ReplayGuard, tenant, id string, at time.Time) bool {
	t.Helper()
	s, err := g.Seen(context.Background(), tenant, id, at)
	if err != nil {
		t.Fatalf("Seen(%s, %.40q): %v", tenant, id, err)
	}
	return s
}

// TestRedisReplayGuard: an id is accepted once per tenant, and its replay
// is refused — by another instance too (a guard with its own memory on
// the same Redis), which the in-process guard could not do. A refused
// replay does not renew the key's window, and the key carries the tenant's
// hash tag, so it shares the slot of the tenant's rate limits.
func TestRedisReplayGuard(t *testing.T) {
	t.Parallel()
	forReplayBackends(t, func(t *testing.T, be replayBackend) {
		ctx := context.Background()
		a := ingest.NewRedisReplayGuard(be.client(t), ingest.RedisReplayOptions{})
		b := ingest.NewRedisReplayGuard(be.client(t), ingest.RedisReplayOptions{})
		now := time.Now()
		t1, t2 := be.prefix+"tenant-1", be.prefix+"tenant-2"

		if seen(t, a, t1, "msg_1", now) {
			t.Fatal("first use refused")
		}
		if !seen(t, a, t1, "msg_1", now) {
			t.Error("replay on the same instance accepted")
		}
		if !seen(t, b, t1, "msg_1", now) {
			t.Error("replay on another instance accepted: the window is not shared")
		}
		if seen(t, b, t2, "msg_1", now) {
			t.Error("another tenant's same id refused")
		}
		if !seen(t, a, t2, "msg_1", now) {
			t.Error("the other tenant's replay, on the other instance, accepted")
		}

		key := ingest.ReplayKey(t1, "msg_1")
		if ks := be.keys(t, ingest.ReplayKeyPrefix+"{"+be.prefix+"*"); len(ks) != 2 {
			t.Errorf("replay keys %q, want the two tenants' one each", ks)
		}
		ttl1, err := be.admin.PTTL(ctx, key).Result()
		if err != nil || ttl1 <= 0 || ttl1 > ingest.ReplayWindow {
			t.Fatalf("PTTL of %s = %v, %v; want within the 10-minute window", key, ttl1, err)
		}
		time.Sleep(50 * time.Millisecond)
		if !seen(t, b, t1, "msg_1", time.Now()) {
			t.Fatal("replay accepted")
		}
		ttl2, err := be.admin.PTTL(ctx, key).Result()
		if err != nil || ttl2 > ttl1-40*time.Millisecond {
			t.Errorf("PTTL %v after a refused replay, %v before: the replay renewed the window", ttl2, ttl1)
		}

		if be.cluster != nil {
			slot := func(k string) int64 {
				s, err := be.admin.ClusterKeySlot(ctx, k).Result()
				if err != nil {
					t.Fatal(err)
				}
				return s
			}
			if s, want := slot(key), slot(ratelimit.Key(ratelimit.NameWebhook, t1)); s != want {
				t.Errorf("replay key in slot %d, the tenant's webhook limit in %d", s, want)
			}
		}
	})
}

// TestRedisReplayGuardWindowExpires: the key lives for the window (PX), an
// injected short one here, then the id is accepted again — by an instance
// that has never seen it (Redis's expiry alone decides) and by the one that
// accepted it (its own memory, judged by the injected clock, agrees).
// Within the window the other instance refuses it.
// TestRedisReplayGuardForget: an id forgotten by the instance that took
// it (its message was not stored) is new again on every instance, and
// forgetting one id leaves the tenant's others.
func TestRedisReplayGuardForget(t *testing.T) {
	t.Parallel()
	forReplayBackends(t, func(t *testing.T, be replayBackend) {
		ctx := context.Background()
		a := ingest.NewRedisReplayGuard(be.client(t), ingest.RedisReplayOptions{})
		b := ingest.NewRedisReplayGuard(be.client(t), ingest.RedisReplayOptions{})
		now := time.Now()
		t1 := be.prefix + "tenant-1"
		if seen(t, a, t1, "msg_1", now) || seen(t, a, t1, "msg_2", now) {
			t.Fatal("first use refused")
		}
		a.Forget(ctx, t1, "msg_1")
		if seen(t, b, t1, "msg_1", now) {
			t.Error("a forgotten id refused by another instance")
		}
		a.Forget(ctx, t1, "msg_1") // b has it now; a forgets it again
		if seen(t, a, t1, "msg_1", now) {
			t.Error("a forgotten id refused by the instance that forgot it")
		}
		if !seen(t, b, t1, "msg_2", now) {
			t.Error("forgetting msg_1 let msg_2 be replayed")
		}
		a.Forget(ctx, t1, "never-seen") // nothing to forget: no error, no key
		if ks := be.keys(t, ingest.ReplayKeyPrefix+"{"+be.prefix+"*"); len(ks) != 2 {
			t.Errorf("replay keys %q, want msg_1's and msg_2's", ks)
		}
	})
}

func TestRedisReplayGuardWindowExpires(t *testing.T) {
	t.Parallel()
	forReplayBackends(t, func(t *testing.T, be replayBackend) {
		ctx := context.Background()
		// Redis expires the key in real time: the window must outlast
		// the few calls below on a loaded machine (300 ms did not).
		const window = 2 * time.Second
		clock := newFakeClock()
		newGuard := func() *ingest.RedisReplayGuard {
			return ingest.NewRedisReplayGuard(be.client(t), ingest.RedisReplayOptions{Window: window, Now: clock.Now})
		}
		a, b := newGuard(), newGuard()
		tenant := be.prefix + "tenant"
		if seen(t, a, tenant, "msg_w", clock.Now()) {
			t.Fatal("first use refused")
		}
		key := ingest.ReplayKey(tenant, "msg_w")
		if ttl, err := be.admin.PTTL(ctx, key).Result(); err != nil || ttl <= 0 || ttl > window {
			t.Fatalf("PTTL %v, %v; want the injected window of %v", ttl, err, window)
		}
		if !seen(t, b, tenant, "msg_w", clock.Now()) {
			t.Fatal("replay within the window accepted by the other instance")
		}
		// Redis's own expiry: wait for the key to go, at most a few windows.
		deadline := time.Now().Add(10 * window)
		for {
			n, err := be.admin.Exists(ctx, key).Result()
			if err != nil {
				t.Fatal(err)
			}
			if n == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s still exists %v after it was set with PX %v", key, 10*window, window)
			}
			time.Sleep(20 * time.Millisecond)
		}
		c := newGuard() // an instance that never saw it
		if seen(t, c, tenant, "msg_w", clock.Now()) {
			t.Fatal("refused after the window, by an instance that never saw it")
		}
		if !seen(t, b, tenant, "msg_w", clock.Now()) {
			t.Fatal("the new acceptance's replay accepted")
		}
		// a accepted the id at the start: its memory holds it until the
		// injected clock has moved a window on, whatever Redis says.
		if err := be.admin.Del(ctx, key).Err(); err != nil {
			t.Fatal(err)
		}
		if !seen(t, a, tenant, "msg_w", clock.Now()) {
			t.Fatal("an id this instance accepted within the window, unknown to Redis, accepted again")
		}
		clock.Add(window)
		if err := be.admin.Del(ctx, key).Err(); err != nil {
			t.Fatal(err)
		}
		if seen(t, a, tenant, "msg_w", clock.Now()) {
			t.Fatal("refused a window after this instance accepted it")
		}
	})
}

// TestRedisReplayGuardConcurrent: many checks of one id at once, spread
// over three instances, accept it exactly once. Run with -race -count=10.
func TestRedisReplayGuardConcurrent(t *testing.T) {
	t.Parallel()
	forReplayBackends(t, func(t *testing.T, be replayBackend) {
		guards := make([]*ingest.RedisReplayGuard, 3)
		for i := range guards {
			guards[i] = ingest.NewRedisReplayGuard(be.client(t), ingest.RedisReplayOptions{})
		}
		tenant := be.prefix + "tenant"
		for round := range 5 {
			id := fmt.Sprintf("msg_c%d", round)
			var accepted atomic.Int64
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i := range 24 {
				wg.Go(func() {
					<-start
					s, err := guards[i%len(guards)].Seen(context.Background(), tenant, id, time.Now())
					if err != nil {
						t.Error(err)
						return
					}
					if !s {
						accepted.Add(1)
					}
				})
			}
			close(start)
			wg.Wait()
			if n := accepted.Load(); n != 1 {
				t.Fatalf("round %d: %d of 24 concurrent checks accepted %s, want 1", round, n, id)
			}
		}
	})
}

// TestReplayKeyBounded: whatever the webhook-id and tenant strings — huge,
// with braces, control bytes, separators or nothing — the key has a fixed
// shape and at most 123 bytes, the id never appears in it, and a tenant
// that is a UUID is the key's hash tag as it is. Stored, hostile ids still
// make one bounded key each.
func TestReplayKeyBounded(t *testing.T) {
	t.Parallel()
	huge := strings.Repeat("x", 1<<20)
	ids := []string{
		"", "msg", huge, "{" + huge + "}", "}{", "{}", "a}b{c", "\x00\r\n\t ", "park:replay:{t}:x",
		strings.Repeat("{", 300), "é漢字", "*", "?[a]", "\xff\xfe",
	}
	tenants := []string{"0b8f7c9e-3d4e-4c5b-9a1f-2e3d4c5b6a7f", "", "{", "}", "a{b}c", huge, "t:x", "with space",
		strings.Repeat("a", 64), strings.Repeat("a", 65)}
	keys := map[string]bool{}
	for _, tenant := range tenants {
		for _, id := range ids {
			k := ingest.ReplayKey(tenant, id)
			if len(k) > 123 {
				t.Errorf("ReplayKey(%.20q, %.20q) is %d bytes", tenant, id, len(k))
			}
			tag, rest, ok := hashTag(k)
			if !ok || !strings.HasPrefix(k, ingest.ReplayKeyPrefix+"{") || len(rest) != 1+43 {
				t.Errorf("ReplayKey(%.20q, %.20q) = %q: not prefix{tag}:digest", tenant, id, k)
			}
			if len(id) > 2 && strings.Contains(k, id) {
				t.Errorf("ReplayKey(%.20q, %.20q) = %q holds the id", tenant, id, k)
			}
			if tenant == tenants[0] || tenant == strings.Repeat("a", 64) {
				if tag != tenant {
					t.Errorf("ReplayKey(%q, …) hash tag %q, want the tenant", tenant, tag)
				}
			} else if strings.ContainsAny(tag, "{}: ") || tag == "" {
				t.Errorf("ReplayKey(%.20q, …) hash tag %q", tenant, tag)
			}
			if keys[k] {
				t.Errorf("ReplayKey(%.20q, %.20q) = %q collides", tenant, id, k)
			}
			keys[k] = true
		}
	}

	// Through a real Redis: one bounded key per distinct hostile id.
	srv := redistest.New(t)
	g := ingest.NewRedisReplayGuard(newRedisClient(t, srv.URL()+"?"+patientTimeouts), ingest.RedisReplayOptions{})
	now := time.Now()
	for _, id := range ids {
		if seen(t, g, tenants[0], id, now) {
			t.Errorf("hostile id %.20q refused on first use", id)
		}
		if !seen(t, g, tenants[0], id, now) {
			t.Errorf("hostile id %.20q accepted twice", id)
		}
	}
	stored, err := srv.Client(t).Keys(context.Background(), "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) != len(ids) {
		t.Errorf("%d keys stored for %d ids", len(stored), len(ids))
	}
	for _, k := range stored {
		if len(k) > 123 {
			t.Errorf("stored key of %d bytes", len(k))
		}
	}
}

// hashTag returns a key's Redis Cluster hash tag (between the first '{' and
// the first '}' after it) and what follows it.
func hashTag(key string) (tag, rest string, ok bool) {
	_, after, ok := strings.Cut(key, "{")
	if !ok {
		return "", "", false
	}
	tag, rest, ok = strings.Cut(after, "}")
	return tag, rest, ok && tag != ""
}

// logRecorder is a slog.Handler that keeps the messages it receives.
type logRecorder struct {
	mu   sync.Mutex
	msgs []string
	recs []slog.Record
}

func (r *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *logRecorder) WithGroup(string) slog.Handler            { return r }
func (r *logRecorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, rec.Message)
	r.recs = append(r.recs, rec)
	return nil
}

// count returns how many records had message msg (and, when shard is not
// "", a shard attribute of that value).
func (r *logRecorder) count(msg, shard string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, rec := range r.recs {
		if rec.Message != msg {
			continue
		}
		found := shard == ""
		rec.Attrs(func(a slog.Attr) bool {
			if a.Key == "shard" && a.Value.String() == shard {
				found = true
			}
			return true
		})
		if found {
			n++
		}
	}
	return n
}

// fallbacks returns park_webhook_replay_fallbacks_total of m.
func fallbacks(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "park_webhook_replay_fallbacks_total" {
			var m *dto.Metric = mf.GetMetric()[0]
			return m.GetCounter().GetValue()
		}
	}
	t.Fatal("park_webhook_replay_fallbacks_total not registered")
	return 0
}

// TestRedisReplayGuardRedisKilled: with Redis gone, checks are decided in
// process at once — no error, so no 5xx — refusing the replays of ids this
// instance accepted before and during the outage; the outage is one
// warning and counted. When Redis returns (empty), the guard goes back to
// it by itself, with one recovery line, and ids are shared again.
func TestRedisReplayGuardRedisKilled(t *testing.T) {
	t.Parallel()
	srv := redistest.New(t)
	url := srv.URL() + "?" + patientTimeouts
	logs := &logRecorder{}
	reg := prometheus.NewRegistry()
	m, err := ingest.NewReplayMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	const probe = 10 * time.Millisecond
	a := ingest.NewRedisReplayGuard(newRedisClient(t, url), ingest.RedisReplayOptions{
		Logger: slog.New(logs), Metrics: m, ProbeInterval: probe})
	b := ingest.NewRedisReplayGuard(newRedisClient(t, url), ingest.RedisReplayOptions{ProbeInterval: probe})
	const tenant = "tenant"
	now := time.Now()
	if seen(t, a, tenant, "before", now) {
		t.Fatal("first use refused")
	}

	srv.Kill()
	if seen(t, a, tenant, "during", now) {
		t.Fatal("a new id refused during the outage")
	}
	if !seen(t, a, tenant, "during", now) {
		t.Error("a replay of an id accepted during the outage accepted")
	}
	if !seen(t, a, tenant, "before", now) {
		t.Error("a replay of an id accepted before the outage accepted")
	}
	if !a.Degraded() {
		t.Error("Degraded() = false during the outage")
	}
	// Checks across several probe intervals: the probes fail quietly, and
	// no check waits long on the dead Redis.
	checks := 3
	for i, loop := 0, time.Now(); i < 5 || time.Since(loop) < 100*time.Millisecond; i++ {
		checks++
		start := time.Now()
		if seen(t, a, tenant, fmt.Sprintf("during-%d", i), time.Now()) {
			t.Fatal("a new id refused during the outage")
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("a check took %v during the outage", d)
		}
		time.Sleep(time.Millisecond)
	}
	if n := logs.count(msgReplayDown, ""); n != 1 {
		t.Errorf("%d %q lines, want 1", n, msgReplayDown)
	}
	if n := fallbacks(t, reg); n != float64(checks) {
		t.Errorf("park_webhook_replay_fallbacks_total = %v, want every check of the outage, %d", n, checks)
	}

	srv.Restart() // empty
	deadline := time.Now().Add(30 * time.Second)
	for i := 0; a.Degraded(); i++ {
		if time.Now().After(deadline) {
			t.Fatal("still degraded 30s after Redis returned")
		}
		seen(t, a, tenant, fmt.Sprintf("after-%d", i), time.Now())
		time.Sleep(probe)
	}
	if n := logs.count(msgReplayRecovered, ""); n != 1 {
		t.Errorf("%d %q lines, want 1", n, msgReplayRecovered)
	}
	if n := logs.count(msgReplayDown, ""); n != 1 {
		t.Errorf("%d %q lines after recovery, want still 1", n, msgReplayDown)
	}
	// Shared again: b refuses what a accepts now.
	if seen(t, a, tenant, "recovered", time.Now()) {
		t.Fatal("a new id refused after recovery")
	}
	for !seen(t, b, tenant, "recovered", time.Now()) { // b's breaker may still be probing
		if time.Now().After(deadline) {
			t.Fatal("the other instance accepts the replay after recovery")
		}
		if !b.Degraded() {
			t.Fatal("the other instance, not degraded, accepts the replay after recovery")
		}
		time.Sleep(probe)
	}
	// a still refuses what it accepted during the outage, which Redis
	// never saw.
	if !seen(t, a, tenant, "during", time.Now()) {
		t.Error("after recovery, a replay of an id accepted during the outage accepted")
	}
}

// TestRedisReplayGuardClusterMasterLost: on a Redis Cluster with one master
// down, only the tenants of that master's slots are checked per instance
// (one warning naming it); the others' replays are still refused across
// instances. When the master returns, its tenants are shared again.
func TestRedisReplayGuardClusterMasterLost(t *testing.T) {
	t.Parallel()
	c := redistest.NewCluster(t, redistest.ClusterOptions{})
	url := c.URL() + "&" + patientTimeouts
	const probe = 10 * time.Millisecond
	logs := &logRecorder{}
	a := ingest.NewRedisReplayGuard(newRedisClient(t, url), ingest.RedisReplayOptions{Logger: slog.New(logs), ProbeInterval: probe})
	b := ingest.NewRedisReplayGuard(newRedisClient(t, url), ingest.RedisReplayOptions{ProbeInterval: probe})

	tenants := tenantPerMaster(t, c)
	now := time.Now()
	for _, tenant := range tenants { // each client learns the slot map
		for _, g := range []*ingest.RedisReplayGuard{a, b} {
			seen(t, g, tenant, "warm-up", now)
		}
	}

	const lost = 1
	lostAddr := c.Node(lost).Addr()
	c.Kill(lost)
	for i, tenant := range tenants {
		id := "msg-during"
		if seen(t, a, tenant, id, now) {
			t.Fatalf("node %d's tenant: a new id refused", i)
		}
		if !seen(t, a, tenant, id, now) {
			t.Errorf("node %d's tenant: the replay on the same instance accepted", i)
		}
		other := seen(t, b, tenant, id, now)
		if i == lost && other {
			t.Errorf("the lost master's tenant: the replay refused by the other instance, which cannot know it")
		}
		if i != lost && !other {
			t.Errorf("node %d's tenant: the replay accepted by the other instance while its master is up", i)
		}
	}
	if !a.Degraded() || logs.count(msgReplayDown, lostAddr) != 1 || logs.count(msgReplayDown, "") != 1 {
		t.Errorf("Degraded %v, %d warnings (%d naming %s); want one naming the lost master",
			a.Degraded(), logs.count(msgReplayDown, ""), logs.count(msgReplayDown, lostAddr), lostAddr)
	}

	c.Restart(lost)
	deadline := time.Now().Add(30 * time.Second)
	for i := 0; a.Degraded(); i++ {
		if time.Now().After(deadline) {
			t.Fatal("still degraded 30s after the master returned")
		}
		seen(t, a, tenants[lost], fmt.Sprintf("after-%d", i), time.Now())
		time.Sleep(probe)
	}
	if n := logs.count(msgReplayRecovered, lostAddr); n != 1 {
		t.Errorf("%d recovery lines naming %s, want 1", n, lostAddr)
	}
	if seen(t, a, tenants[lost], "msg-after", time.Now()) {
		t.Fatal("a new id refused after the recovery")
	}
	for !seen(t, b, tenants[lost], "msg-after", time.Now()) {
		if !b.Degraded() || time.Now().After(deadline) {
			t.Fatal("the lost master's tenant: the other instance accepts the replay after the recovery")
		}
		time.Sleep(probe)
	}
}

// tenantPerMaster returns a tenant whose replay keys live on each master
// of c, in the order of c's nodes.
func tenantPerMaster(t *testing.T, c *redistest.Cluster) []string {
	t.Helper()
	return c.OnePerNode(t, func(i int) string { return fmt.Sprintf("tenant-%d", i) },
		func(tenant string) string { return ingest.ReplayKey(tenant, "x") })
}

// TestRedisReplayGuardClusterIdleReset: a lost master's open breaker that
// no check has needed for ratelimit.ShardIdleReset closes untested (with
// replicas, a failover moves its slots to a new address, whose breaker is
// another), so Degraded is false again instead of staying true for good;
// the next check of that master's tenants tries it afresh.
func TestRedisReplayGuardClusterIdleReset(t *testing.T) {
	t.Parallel()
	c := redistest.NewCluster(t, redistest.ClusterOptions{})
	clock := newFakeClock()
	logs := &logRecorder{}
	const probe = time.Second
	g := ingest.NewRedisReplayGuard(newRedisClient(t, c.URL()+"&"+patientTimeouts),
		ingest.RedisReplayOptions{Logger: slog.New(logs), ProbeInterval: probe, Now: clock.Now})
	tenants := tenantPerMaster(t, c)
	now := time.Now()
	for _, tenant := range tenants { // the client learns the slot map
		seen(t, g, tenant, "warm-up", now)
	}
	const lost, live = 1, 0
	lostAddr := c.Node(lost).Addr()
	c.Kill(lost)
	seen(t, g, tenants[lost], "during", now)
	if !g.Degraded() || logs.count(msgReplayDown, lostAddr) != 1 {
		t.Fatalf("master lost: Degraded %v, %d warnings naming %s", g.Degraded(), logs.count(msgReplayDown, lostAddr), lostAddr)
	}

	// Only the live master's tenant is checked from now on.
	clock.Add(ratelimit.ShardIdleReset - probe)
	seen(t, g, tenants[live], "live-1", now)
	if !g.Degraded() {
		t.Fatal("the breaker closed before ShardIdleReset")
	}
	clock.Add(probe)
	seen(t, g, tenants[live], "live-2", now)
	if g.Degraded() || logs.count(msgReplayIdleReset, lostAddr) != 1 {
		t.Errorf("unused for ShardIdleReset: Degraded %v, %d %q lines naming %s; want false, 1",
			g.Degraded(), logs.count(msgReplayIdleReset, lostAddr), msgReplayIdleReset, lostAddr)
	}
	if n := logs.count(msgReplayRecovered, ""); n != 0 {
		t.Errorf("%d recovery lines: the idle reset is no recovery", n)
	}

	// Tried afresh: the master is still down, so it opens again.
	seen(t, g, tenants[lost], "after", now)
	if !g.Degraded() || logs.count(msgReplayDown, lostAddr) != 2 {
		t.Errorf("after the reset: Degraded %v, %d warnings naming %s; want true, 2 (tried afresh)",
			g.Degraded(), logs.count(msgReplayDown, lostAddr), lostAddr)
	}
}
