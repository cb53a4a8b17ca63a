package ratelimit

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Messages of the breakers under test.
var testBreakerMsgs = BreakerMessages{Down: "test down", Recovered: "test recovered", IdleReset: "test idle reset"}

// lines returns the records r received since its last reset, each as
// "LEVEL msg key=value …", and forgets them.
func (r *logRecorder) lines() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, rec := range r.recs {
		line := rec.Level.String() + " " + rec.Message
		rec.Attrs(func(a slog.Attr) bool {
			line += " " + a.String()
			return true
		})
		out = append(out, line)
	}
	r.msgs, r.shards, r.recs = nil, nil, nil
	return out
}

// keyShard is a Shard function: the key's part before "/", or "".
var keyShard = newShardedPrimary().Shard

type breakerFixture struct {
	clock    *fakeClock
	logs     *logRecorder
	failures atomic.Int64
	s        *Breakers
}

func newBreakerFixture(shard func(context.Context, string) string, every time.Duration) *breakerFixture {
	fx := &breakerFixture{clock: newFakeClock(), logs: &logRecorder{}}
	fx.s = NewBreakers(BreakerOptions{Shard: shard, Logger: slog.New(fx.logs), ProbeInterval: every, Now: fx.clock.Now,
		Messages: testBreakerMsgs, OnFailure: func() { fx.failures.Add(1) }})
	return fx
}

func wantLines(t *testing.T, h *logRecorder, want ...string) {
	t.Helper()
	if got := h.lines(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("log lines:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func wantTry(t *testing.T, b *Breaker, wantProbe, wantTry bool) {
	t.Helper()
	if probe, try := b.MayTry(); probe != wantProbe || try != wantTry {
		t.Fatalf("MayTry() = probe %v, try %v; want %v, %v", probe, try, wantProbe, wantTry)
	}
}

// TestBreakersOpenProbeRecover: the first failure opens the breaker with
// one warning; while open, one call per probe interval is a probe, a
// failed probe stays quiet and waits another interval, and the probe that
// succeeds closes it with one recovery line. Every failure is passed to
// OnFailure.
func TestBreakersOpenProbeRecover(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	fx := newBreakerFixture(nil, time.Second)
	b := fx.s.For(ctx, "any")
	if b != fx.s.For(ctx, "a/other") {
		t.Fatal("without a Shard function, two keys got two breakers")
	}
	wantTry(t, b, false, true)
	if fx.s.Degraded() || b.Open() {
		t.Fatal("a new breaker is open")
	}

	b.Failed(errors.New("connection refused"), false)
	wantLines(t, fx.logs, `WARN test down error=connection refused probe_interval=1s`)
	if !fx.s.Degraded() || !b.Open() {
		t.Fatal("the first failure did not open the breaker")
	}
	// A call that began before the outage was noticed fails too: counted,
	// not logged again.
	b.Failed(errors.New("i/o timeout"), false)
	wantLines(t, fx.logs)

	for range 5 {
		wantTry(t, b, false, false)
	}
	fx.clock.Advance(999 * time.Millisecond)
	wantTry(t, b, false, false)
	fx.clock.Advance(time.Millisecond)
	wantTry(t, b, true, true)
	wantTry(t, b, false, false) // the probe is under way: nobody else
	b.Failed(errors.New("connection refused"), true)
	wantLines(t, fx.logs)
	wantTry(t, b, false, false)
	fx.clock.Advance(time.Second)
	wantTry(t, b, true, true)
	fx.clock.Advance(250 * time.Millisecond)
	b.Recovered()
	wantLines(t, fx.logs, `INFO test recovered outage=2.25s`)
	if fx.s.Degraded() || b.Open() {
		t.Fatal("the successful probe left the breaker open")
	}
	wantTry(t, b, false, true)
	if n := fx.failures.Load(); n != 3 {
		t.Errorf("OnFailure called %d times, want 3 (every failed call)", n)
	}
}

// TestBreakersOneProbeAtATime: of many concurrent calls once the probe
// interval is over, exactly one is the probe, and the others do not call
// the backend.
func TestBreakersOneProbeAtATime(t *testing.T) {
	t.Parallel()
	fx := newBreakerFixture(nil, time.Second)
	b := fx.s.For(context.Background(), "k")
	b.Failed(errors.New("down"), false)
	fx.clock.Advance(time.Second)
	var probes, tries atomic.Int64
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			probe, try := b.MayTry()
			if probe {
				probes.Add(1)
			}
			if try {
				tries.Add(1)
			}
		})
	}
	wg.Wait()
	if probes.Load() != 1 || tries.Load() != 1 {
		t.Errorf("%d probes, %d tries; want 1, 1", probes.Load(), tries.Load())
	}
}

// TestBreakersCallerCancellation: a probe the caller ends without a
// verdict (its own cancellation) leaves the breaker open and quiet, and
// the next call may probe at once.
func TestBreakersCallerCancellation(t *testing.T) {
	t.Parallel()
	fx := newBreakerFixture(nil, time.Second)
	b := fx.s.For(context.Background(), "k")
	b.Failed(errors.New("down"), false)
	fx.logs.lines()
	fx.clock.Advance(time.Second)
	wantTry(t, b, true, true)
	b.EndProbe()
	if !b.Open() || !fx.s.Degraded() {
		t.Error("a cancelled probe closed the breaker")
	}
	wantLines(t, fx.logs)
	wantTry(t, b, true, true) // no interval to wait: the probe said nothing
	if n := fx.failures.Load(); n != 1 {
		t.Errorf("OnFailure called %d times, want 1 (the cancellation is not a failure)", n)
	}
}

// TestBreakersShardsIndependent: each shard has its own breaker; one
// shard's failure and recovery leave the others as they are, and
// Degraded holds while any is open.
func TestBreakersShardsIndependent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	fx := newBreakerFixture(keyShard, time.Second)
	a, b, one := fx.s.For(ctx, "a/1"), fx.s.For(ctx, "b/1"), fx.s.For(ctx, "unsharded")
	if a != fx.s.For(ctx, "a/2") || a == b || a == one || b == one {
		t.Fatal("breakers not one per shard")
	}
	if a.Shard() != "a" || b.Shard() != "b" || one.Shard() != "" {
		t.Fatalf("shards %q %q %q", a.Shard(), b.Shard(), one.Shard())
	}

	a.Failed(errors.New("down"), false)
	wantLines(t, fx.logs, `WARN test down shard=a error=down probe_interval=1s`)
	wantTry(t, a, false, false)
	wantTry(t, b, false, true)
	wantTry(t, one, false, true)
	b.Failed(errors.New("down"), false)
	wantLines(t, fx.logs, `WARN test down shard=b error=down probe_interval=1s`)

	fx.clock.Advance(time.Second)
	wantTry(t, a, true, true)
	a.Recovered()
	wantLines(t, fx.logs, `INFO test recovered shard=a outage=1s`)
	if !fx.s.Degraded() || !b.Open() {
		t.Fatal("shard a's recovery closed shard b's breaker")
	}
	wantTry(t, b, true, true)
	b.Recovered()
	if fx.s.Degraded() {
		t.Error("Degraded() = true with every shard back")
	}
}

// TestBreakersIdleReset: an open shard breaker no call has needed for
// ShardIdleReset (or ten probe intervals, when longer) closes untested,
// with one line naming it; one that calls keep needing stays open, and so
// does the breaker of shard "" (it has no address to go stale).
func TestBreakersIdleReset(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tc := range []struct {
		every, idle time.Duration
	}{{time.Second, ShardIdleReset}, {10 * time.Second, 100 * time.Second}} {
		fx := newBreakerFixture(keyShard, tc.every)
		for _, key := range []string{"a/1", "c/1", "unsharded"} {
			fx.s.For(ctx, key).Failed(errors.New("down"), false)
		}
		fx.logs.lines()
		// Shard c is needed at every probe interval; a is not.
		needC := func(until time.Duration) {
			for start := fx.clock.Now(); fx.clock.Now().Sub(start) < until; {
				fx.clock.Advance(tc.every)
				if c := fx.s.For(ctx, "c/1"); c.Open() {
					if probe, _ := c.MayTry(); probe {
						c.Failed(errors.New("down"), true)
					}
				}
			}
		}
		needC(tc.idle - tc.every)
		fx.s.For(ctx, "b/1")
		if !fx.s.For(ctx, "a/1").Open() {
			t.Fatalf("every %v: shard a closed before %v", tc.every, tc.idle)
		}
		wantLines(t, fx.logs)
		needC(tc.every) // its call at tc.idle sweeps
		wantLines(t, fx.logs, "INFO test idle reset shard=a outage="+tc.idle.String())
		if a := fx.s.For(ctx, "a/1"); a.Open() {
			t.Fatalf("every %v: shard a still open after %v unused", tc.every, tc.idle)
		}
		if !fx.s.For(ctx, "c/1").Open() || !fx.s.For(ctx, "unsharded").Open() || !fx.s.Degraded() {
			t.Fatalf("every %v: a breaker still needed, or shard \"\"'s, closed by the idle reset", tc.every)
		}
		// The next call to shard a tries it afresh.
		a := fx.s.For(ctx, "a/1")
		wantTry(t, a, false, true)
		a.Failed(errors.New("down"), false)
		wantLines(t, fx.logs, "WARN test down shard=a error=down probe_interval="+tc.every.String())
	}
}

// TestBreakersIdleResetDegraded: once the idle reset has closed the last
// open breaker, Degraded is false again (it counts open breakers).
func TestBreakersIdleResetDegraded(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	fx := newBreakerFixture(keyShard, time.Second)
	fx.s.For(ctx, "a/1").Failed(errors.New("down"), false)
	fx.clock.Advance(ShardIdleReset)
	if !fx.s.Degraded() {
		t.Fatal("Degraded() = false before any call swept")
	}
	fx.s.For(ctx, "b/1")
	if fx.s.Degraded() {
		t.Error("Degraded() = true after the idle reset closed the only open breaker")
	}
}

// TestBreakersDefaults: empty messages and a zero probe interval take the
// defaults, and a nil Logger and OnFailure are allowed.
func TestBreakersDefaults(t *testing.T) {
	t.Parallel()
	logs := &logRecorder{}
	clock := newFakeClock()
	s := NewBreakers(BreakerOptions{Logger: slog.New(logs), Now: clock.Now})
	b := s.For(context.Background(), "k")
	b.Failed(errors.New("down"), false)
	wantLines(t, logs, "WARN redis unavailable error=down probe_interval="+DefaultProbeInterval.String())
	NewBreakers(BreakerOptions{}).For(context.Background(), "k").Failed(errors.New("down"), false)
}
