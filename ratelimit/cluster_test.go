package ratelimit

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/parkhq/park/internal/redistest"
)

// tenantsPerNode returns, for each master of c, a tenant (a unique scope)
// whose slot that master holds.
func tenantsPerNode(t *testing.T, c *redistest.Cluster) []string {
	t.Helper()
	run := fmt.Sprintf("%016x", rand.Uint64())
	return c.OnePerNode(t, func(i int) string { return fmt.Sprintf("%s-tenant-%d", run, i) }, nil)
}

// waitMarkedFailed waits until the other masters of c mark node lost as
// failed: the outage as the cluster itself sees it, after NodeTimeout.
func waitMarkedFailed(t *testing.T, c *redistest.Cluster, lost int, id string) {
	t.Helper()
	ctx := context.Background()
	for i := range redistest.ClusterSize {
		if i == lost {
			continue
		}
		n := c.Node(i).Client(t)
		deadline := time.Now().Add(5 * redistest.NodeTimeout)
		for {
			nodes, err := n.ClusterNodes(ctx).Result()
			if err == nil && hasFlag(nodes, id, "fail") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("node %d does not mark node %d failed within %v:\n%s", i, lost, 5*redistest.NodeTimeout, nodes)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// hasFlag reports whether the CLUSTER NODES line of node id carries flag.
func hasFlag(nodes, id, flag string) bool {
	for _, l := range strings.Split(nodes, "\n") {
		if f := strings.Fields(l); len(f) > 2 && f[0] == id {
			for _, g := range strings.Split(f[2], ",") {
				if g == flag {
					return true
				}
			}
		}
	}
	return false
}

// instance is one parkd's limiting: a FallbackLimiter over its own Redis
// client and its own local limiter.
type instance struct {
	name  string
	redis *RedisLimiter
	f     *FallbackLimiter
	logs  *logRecorder
	m     *Metrics
}

func newInstance(t *testing.T, name, url string, o RedisOptions, probe time.Duration) *instance {
	t.Helper()
	in := &instance{name: name, redis: NewRedis(newClient(t, url), o), logs: &logRecorder{}, m: newTestMetrics(t)}
	in.f = NewFallback(in.redis, NewLocal(LocalOptions{}), FallbackOptions{Logger: slog.New(in.logs), Metrics: in.m, ProbeInterval: probe})
	return in
}

// TestClusterMasterLost kills one master of a three-master cluster
// (cluster-require-full-coverage no) under two instances, one batching and
// one not. The tenant whose slot the lost master held falls back: each
// instance limits it in process (fail-open, the default) or denies it
// (fail-closed), one warning per instance naming the master. The tenants
// of the live masters keep their shared limits — even when those masters
// have lost the script meanwhile (EVAL loads it on the one node). When
// the master returns, empty, every instance goes back to Redis by itself
// and the lost tenant's limit is shared again.
func TestClusterMasterLost(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := redistest.NewCluster(t, redistest.ClusterOptions{})
	url := c.URL() + "&" + patientTimeouts
	const probe = 10 * time.Millisecond
	insts := []*instance{
		newInstance(t, "batched", url, RedisOptions{}, probe),
		newInstance(t, "unbatched", url, RedisOptions{Pipelines: -1}, probe),
	}
	tenants := tenantsPerNode(t, c)
	open := Policy{Name: NameAPI, Rate: 1.0 / 60, Burst: 5} // nothing refills during the test
	closed := Policy{Name: NameWebhook, Rate: 1.0 / 60, Burst: 5, OnOutage: FailClosed}
	policies := []Policy{open, closed}
	allow := func(in *instance, p Policy, tenant string, n int) Result {
		t.Helper()
		res, err := in.f.Allow(ctx, Key(p.Name, tenant), p, n)
		if err != nil {
			t.Fatalf("%s, %s of %s: %v", in.name, p.Name, tenant, err)
		}
		return res
	}
	// Through Redis first (cost 0: nothing spent), so each client knows
	// the slot map.
	for _, in := range insts {
		for _, tenant := range tenants {
			for _, p := range policies {
				if res := allow(in, p, tenant, 0); !res.Allowed || res.Remaining != 5 {
					t.Fatalf("%s before the outage: %+v", in.name, res)
				}
			}
		}
	}

	const lost = 2
	lostAddr := c.Node(lost).Addr()
	id, err := c.Node(lost).Client(t).ClusterMyID(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	c.Kill(lost)
	waitMarkedFailed(t, c, lost, id)

	// The lost master's tenant: each instance on its own.
	for _, in := range insts {
		for j := range 6 {
			if res := allow(in, open, tenants[lost], 1); res.Allowed != (j < 5) {
				t.Fatalf("%s, lost tenant, call %d: %+v; want the local burst 5 per instance", in.name, j, res)
			}
		}
		if res := allow(in, closed, tenants[lost], 1); res.Allowed || res.RetryAfter != probe {
			t.Errorf("%s, lost tenant, fail-closed: %+v; want denied, retry after the probe interval", in.name, res)
		}
		if !in.f.Degraded() || in.logs.countShard(msgDown, lostAddr) != 1 || in.logs.count(msgDown) != 1 {
			t.Errorf("%s: Degraded %v, %d warnings (%d naming %s); want one naming the lost master",
				in.name, in.f.Degraded(), in.logs.count(msgDown), in.logs.countShard(msgDown, lostAddr), lostAddr)
		}
		if err := in.redis.Ping(ctx); err == nil || !strings.Contains(err.Error(), lostAddr) {
			t.Errorf("%s: Ping with a master lost = %v, want an error naming %s", in.name, err, lostAddr)
		}
	}

	// The live masters' tenants: shared limits, across both instances and
	// both fail modes, with the scripts gone from those masters, while the
	// lost master's tenant keeps calling in between (its failures must not
	// send the others to the fallback).
	for i := range lost {
		if err := c.Node(i).Client(t).ScriptFlush(ctx).Err(); err != nil {
			t.Fatal(err)
		}
	}
	a, b := insts[0], insts[1]
	allowLive := func(in *instance, p Policy, tenant string) Result {
		t.Helper()
		allow(in, open, tenants[lost], 1)
		time.Sleep(probe) // past the probe interval: a lost tenant's call may probe
		allow(in, open, tenants[lost], 1)
		return allow(in, p, tenant, 1)
	}
	for i := range lost {
		for _, p := range policies {
			for j := range 3 {
				if res := allowLive(a, p, tenants[i]); !res.Allowed || res.Remaining != 4-j {
					t.Fatalf("node %d's tenant, %s, through %s, call %d: %+v; want %d remaining", i, p.Name, a.name, j, res, 4-j)
				}
			}
			for j := range 2 {
				if res := allowLive(b, p, tenants[i]); !res.Allowed || res.Remaining != 1-j {
					t.Fatalf("node %d's tenant, %s, through %s, call %d: %+v; want %d remaining, the limit shared", i, p.Name, b.name, j, res, 1-j)
				}
			}
			for _, in := range insts {
				if res := allowLive(in, p, tenants[i]); res.Allowed || res.RetryAfter < 50*time.Second {
					t.Errorf("node %d's tenant, %s, through %s, past the shared burst: %+v; want denied by Redis for about a minute", i, p.Name, in.name, res)
				}
			}
		}
	}
	for _, in := range insts {
		if n := in.logs.count(msgDown); n != 1 {
			t.Errorf("%s: %d warnings, want still only the lost master's", in.name, n)
		}
	}

	c.Restart(lost)
	// Back by itself: the restarted master is empty, so the lost tenant's
	// quota there is full while each instance's local one is spent — an
	// admission is Redis's.
	for _, in := range insts {
		waitFor(t, func() bool { return allow(in, open, tenants[lost], 1).Allowed })
		if in.f.Degraded() || in.logs.countShard(msgRecovered, lostAddr) != 1 {
			t.Errorf("%s after the restart: Degraded %v, %d recoveries naming %s", in.name, in.f.Degraded(), in.logs.countShard(msgRecovered, lostAddr), lostAddr)
		}
		if err := in.redis.Ping(ctx); err != nil {
			t.Errorf("%s: Ping after the restart: %v", in.name, err)
		}
	}
	// Shared again: one admission each so far.
	if res := allow(a, open, tenants[lost], 1); !res.Allowed || res.Remaining != 2 {
		t.Errorf("lost tenant after recovery, through %s: %+v; want 2 remaining", a.name, res)
	}
	if res := allow(b, open, tenants[lost], 1); !res.Allowed || res.Remaining != 1 {
		t.Errorf("lost tenant after recovery, through %s: %+v; want 1 remaining", b.name, res)
	}
	if res := allow(b, closed, tenants[lost], 1); !res.Allowed || res.Remaining != 4 {
		t.Errorf("lost tenant, fail-closed, after recovery: %+v; want admitted by Redis", res)
	}
	for _, in := range insts {
		if n := backendErrors(t, in.m); n < 1 {
			t.Errorf("%s: backend errors %d, want the outage counted", in.name, n)
		}
	}
}

// forceBatch sends calls of cost 1 for keys through l's batcher of the
// keys' master as one pipeline: it holds the batcher's only slot (l has
// Pipelines 1), queues every call, then hands the slot to the first, which
// leads them all. It returns each call's result and error.
func forceBatch(t *testing.T, l *RedisLimiter, p Policy, keys []string) ([]Result, []error) {
	t.Helper()
	ctx := context.Background()
	b := l.batcherFor(ctx, keys[0])
	b.mu.Lock()
	if b.inFlight != 0 || b.maxInFlight != 1 {
		b.mu.Unlock()
		t.Fatalf("batcher busy (%d in flight) or not of one pipeline (%d)", b.inFlight, b.maxInFlight)
	}
	b.inFlight = 1
	b.mu.Unlock()
	res := make([]Result, len(keys))
	errs := make([]error, len(keys))
	var wg sync.WaitGroup
	for i, k := range keys {
		wg.Go(func() { res[i], errs[i] = l.Allow(ctx, k, p, 1) })
	}
	waitFor(t, func() bool { b.mu.Lock(); defer b.mu.Unlock(); return len(b.queue) == len(keys) })
	b.mu.Lock()
	first := b.queue[0]
	b.queue = b.queue[1:]
	b.mu.Unlock()
	first.wake <- true
	wg.Wait()
	return res, errs
}

// migrateSlot moves slot, keys included, from node src to node dst, as
// redis-cli --cluster reshard does: IMPORTING and MIGRATING, MIGRATE of
// its keys, then the slot assigned to dst on every node.
func migrateSlot(t *testing.T, c *redistest.Cluster, slot int64, src, dst int) {
	t.Helper()
	ctx := context.Background()
	srcC, dstC := c.Node(src).Client(t), c.Node(dst).Client(t)
	srcID, err := srcC.ClusterMyID(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	dstID, err := dstC.ClusterMyID(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(dstC.Do(ctx, "CLUSTER", "SETSLOT", slot, "IMPORTING", srcID).Err())
	must(srcC.Do(ctx, "CLUSTER", "SETSLOT", slot, "MIGRATING", dstID).Err())
	host, port, _ := net.SplitHostPort(c.Node(dst).Addr())
	for {
		keys, err := srcC.ClusterGetKeysInSlot(ctx, int(slot), 100).Result()
		must(err)
		if len(keys) == 0 {
			break
		}
		args := []any{"MIGRATE", host, port, "", 0, 5000, "KEYS"}
		for _, k := range keys {
			args = append(args, k)
		}
		must(srcC.Do(ctx, args...).Err())
	}
	order := []int{dst, src}
	for i := range redistest.ClusterSize {
		if i != src && i != dst {
			order = append(order, i)
		}
	}
	for _, i := range order {
		must(c.Node(i).Client(t).Do(ctx, "CLUSTER", "SETSLOT", slot, "NODE", dstID).Err())
	}
}

// TestClusterMovedSlot moves a tenant's slot to another master behind the
// limiters' backs: their slot maps are stale, so their next calls meet
// MOVED — in a pipeline of the batched limiter and one by one in the
// unbatched one — and must follow it to the new master, where the
// tenant's state moved with the slot.
func TestClusterMovedSlot(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := redistest.NewCluster(t, redistest.ClusterOptions{})
	url := c.URL() + "&" + patientTimeouts
	batched := NewRedis(newClient(t, url), RedisOptions{Pipelines: 1})
	unbatched := NewRedis(newClient(t, url), RedisOptions{Pipelines: -1})
	tenant := tenantsPerNode(t, c)[0]
	p := Policy{Name: "t", Rate: 1.0 / 60, Burst: 10}
	keys := []string{Key("a", tenant), Key("b", tenant), Key("c", tenant)}
	for _, l := range []*RedisLimiter{batched, unbatched} {
		for _, k := range keys {
			if _, err := l.Allow(ctx, k, p, 1); err != nil {
				t.Fatal(err)
			}
		}
	}
	slot, err := c.Client(t).ClusterKeySlot(ctx, tenant).Result()
	if err != nil {
		t.Fatal(err)
	}
	migrateSlot(t, c, slot, 0, 1)
	for _, l := range []*RedisLimiter{batched, unbatched} {
		if got := l.Shard(ctx, keys[0]); got != c.Node(0).Addr() {
			t.Fatalf("a limiter already knows the slot moved (shard %s): the test would prove nothing", got)
		}
	}

	res, errs := forceBatch(t, batched, p, keys)
	for i := range keys {
		if errs[i] != nil || !res[i].Allowed || res[i].Remaining != 7 {
			t.Errorf("batched, %s after the move: %+v, %v; want 7 remaining, the state moved with the slot", keys[i], res[i], errs[i])
		}
	}
	for _, k := range keys {
		if res, err := unbatched.Allow(ctx, k, p, 1); err != nil || !res.Allowed || res.Remaining != 6 {
			t.Errorf("unbatched, %s after the move: %+v, %v; want 6 remaining", k, res, err)
		}
	}
	if n, err := c.Node(1).Client(t).Exists(ctx, keys...).Result(); err != nil || n != int64(len(keys)) {
		t.Errorf("%d of the keys on the new master (%v), want all", n, err)
	}
	// The redirection also refreshed the slot map: the keys' batcher and
	// breaker are now the new master's.
	waitFor(t, func() bool { return batched.Shard(ctx, keys[0]) == c.Node(1).Addr() })
}

// TestClusterSlowMasterIsolated pauses one master: its tenant's calls wait
// for the read timeout in every pipeline slot of its batcher, while a
// tenant of another master is answered at once — batches never mix
// masters, so one slow master delays only its own slots.
func TestClusterSlowMasterIsolated(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := redistest.NewCluster(t, redistest.ClusterOptions{})
	l := NewRedis(newClient(t, c.URL()+"&dial_timeout=3s&read_timeout=1s&write_timeout=1s&pool_timeout=3s"), RedisOptions{})
	tenants := tenantsPerNode(t, c)
	p := Policy{Name: "t", Rate: 1e3, Burst: 1e3}
	slow, fast := Key(p.Name, tenants[2]), Key(p.Name, tenants[0])
	for _, k := range []string{slow, fast} {
		if _, err := l.Allow(ctx, k, p, 1); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Node(2).Client(t).Do(ctx, "CLIENT", "PAUSE", 2000, "ALL").Err(); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var failed atomic.Int64
	for range DefaultPipelines {
		wg.Go(func() {
			if _, err := l.Allow(ctx, slow, p, 1); err != nil {
				failed.Add(1)
			}
		})
	}
	sb := l.batcherFor(ctx, slow)
	waitFor(t, func() bool { sb.mu.Lock(); defer sb.mu.Unlock(); return sb.inFlight == DefaultPipelines })
	start := time.Now()
	if _, err := l.Allow(ctx, fast, p, 1); err != nil {
		t.Fatalf("the live master's tenant: %v", err)
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("the live master's tenant waited %v behind the paused master's calls", d)
	}
	wg.Wait()
	if n := failed.Load(); n != DefaultPipelines {
		t.Errorf("%d of the paused master's calls failed, want all %d (read timeout)", n, DefaultPipelines)
	}
}

// cuttingConn passes through, except that a write carrying marker is sent
// and then its reply is swallowed and the connection closed (io.EOF): the
// command ran, but the client cannot know it — the case where resending
// would charge twice.
type cuttingConn struct {
	net.Conn
	marker []byte
	sends  *atomic.Int64
	cut    bool
}

func (c *cuttingConn) Write(p []byte) (int, error) {
	if bytes.Contains(p, c.marker) {
		c.sends.Add(1)
		c.cut = true
	}
	return c.Conn.Write(p)
}

func (c *cuttingConn) Read(p []byte) (int, error) {
	if c.cut {
		c.Conn.Read(p) // the reply: the command has run
		c.Conn.Close()
		return 0, io.EOF
	}
	return c.Conn.Read(p)
}

// TestClusterNeverResends loses the reply of a limiter command after Redis
// ran it: go-redis's cluster client would resend it (to the same node,
// then another), charging the tenant twice; the limiter's commands are
// marked not to be, in a pipeline and alone.
func TestClusterNeverResends(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := redistest.SharedCluster(t)
	tenant := tenantsPerNode(t, c)[1]
	var sends atomic.Int64
	_, o, err := parseRedisURL(c.URL() + "&" + patientTimeouts)
	if err != nil {
		t.Fatal(err)
	}
	o.Dialer = func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &cuttingConn{Conn: conn, marker: []byte("cut-" + tenant), sends: &sends}, nil
	}
	cc := redis.NewClusterClient(o)
	t.Cleanup(func() { cc.Close() })
	plain := NewRedis(newClient(t, c.URL()+"&"+patientTimeouts), RedisOptions{Pipelines: -1})
	p := Policy{Name: "t", Rate: 1.0 / 60, Burst: 10}

	for _, mode := range []struct {
		name string
		o    RedisOptions
	}{{"unbatched", RedisOptions{Pipelines: -1}}, {"batched", RedisOptions{Pipelines: 1}}} {
		l := NewRedis(cc, mode.o)
		warm := Key(mode.name, tenant) // same slot, no marker: learns the slot map
		if _, err := l.Allow(ctx, warm, p, 0); err != nil {
			t.Fatal(err)
		}
		// Keys of the tenant's master, carrying the marker.
		keys := sameMaster(t, c, tenant, mode.name)
		sends.Store(0)
		var errs []error
		if mode.o.Pipelines < 0 {
			keys = keys[:1]
			_, err := l.Allow(ctx, keys[0], p, 1)
			errs = []error{err}
		} else {
			_, errs = forceBatch(t, l, p, keys)
		}
		for i, err := range errs {
			if err == nil {
				t.Errorf("%s: %s answered, yet its reply was cut", mode.name, keys[i])
			}
		}
		if n := sends.Load(); n != 1 {
			t.Errorf("%s: the command went out %d times, want once", mode.name, n)
		}
		for _, k := range keys {
			if res, err := plain.Allow(ctx, k, p, 0); err != nil || res.Remaining != 9 {
				t.Errorf("%s: %s after the cut reply: %+v, %v; want charged once (9 remaining)", mode.name, k, res, err)
			}
		}
	}
}

// sameMaster returns two keys, unique to the test run, carrying the
// marker "cut-"+tenant outside their hash tags, whose slots the master of
// tenant holds.
func sameMaster(t *testing.T, c *redistest.Cluster, tenant, name string) []string {
	t.Helper()
	want, err := c.NodeOf(context.Background(), tenant)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for i := 0; len(keys) < 2; i++ {
		tag := fmt.Sprintf("%s-%s-%d", tenant, name, i)
		n, err := c.NodeOf(context.Background(), tag)
		if err != nil {
			t.Fatal(err)
		}
		if n == want {
			keys = append(keys, "park:rl:{"+tag+"}:cut-"+tenant)
		}
	}
	return keys
}
