package ratelimit

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func TestGCRA(t *testing.T) {
	t.Parallel()
	const T, burst = 10_000, 3 // 100/s, burst 3
	type step struct {
		at, n      int64 // µs, cost
		allowed    bool
		remaining  int64
		retryAfter int64
		resetAfter int64
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"burst at once, then one per interval", []step{
			{0, 1, true, 2, 0, 10_000},
			{0, 1, true, 1, 0, 20_000},
			{0, 1, true, 0, 0, 30_000},
			{0, 1, false, 0, 10_000, 30_000},
			{9_999, 1, false, 0, 1, 20_001},
			{10_000, 1, true, 0, 0, 30_000},
			{10_000, 1, false, 0, 10_000, 30_000},
		}},
		{"refills to burst, never beyond", []step{
			{0, 3, true, 0, 0, 30_000},
			{25_000, 1, true, 1, 0, 15_000},
			{1_000_000, 0, true, 3, 0, 0},
			{1_000_000, 3, true, 0, 0, 30_000},
		}},
		{"a denied cost consumes nothing", []step{
			{0, 2, true, 1, 0, 20_000},
			{0, 2, false, 0, 10_000, 20_000},
			{0, 1, true, 0, 0, 30_000},
		}},
		{"peek", []step{
			{0, 0, true, 3, 0, 0},
			{0, 1, true, 2, 0, 10_000},
			{5_000, 0, true, 2, 0, 5_000},
			{0, 0, true, 2, 0, 10_000}, // time going back is harmless
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var tat int64
			stored := false
			for i, s := range tt.steps {
				cur := s.at
				if stored {
					cur = tat
				}
				newTAT, d := gcra(s.at, cur, T, burst, s.n)
				want := decision{s.allowed, s.remaining, s.retryAfter, s.resetAfter}
				if d != want {
					t.Fatalf("step %d (at %d, n %d) = %+v, want %+v", i, s.at, s.n, d, want)
				}
				if d.allowed && s.n > 0 {
					tat, stored = newTAT, true
				}
			}
		})
	}
}

func TestLocalAdmitsBurstPlusRate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := newFakeClock()
	l := NewLocal(LocalOptions{Now: clock.Now})
	p := Policy{Name: "t", Rate: 20, Burst: 5}
	key := Key(p.Name, "tenant")
	allowed := 0
	const step, steps = time.Millisecond, 10_000 // 10 s of calls, one per ms
	for i := 0; i <= steps; i++ {
		res, err := l.Allow(ctx, key, p, 1)
		if err != nil {
			t.Fatal(err)
		}
		if res.Allowed {
			allowed++
		}
		clock.Advance(step)
	}
	if want := 5 + 20*10; allowed != want {
		t.Errorf("admitted %d over 10 s, want burst 5 + 20/s × 10 s = %d", allowed, want)
	}
}

func TestLocalResult(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := newFakeClock()
	l := NewLocal(LocalOptions{Now: clock.Now})
	p := DefaultPolicies().API
	key := Key(p.Name, "tenant")
	for i := range 200 {
		res, err := l.Allow(ctx, key, p, 1)
		if err != nil || !res.Allowed || res.Remaining != 199-i {
			t.Fatalf("call %d = %+v, %v; want allowed with %d remaining", i, res, err, 199-i)
		}
	}
	res, err := l.Allow(ctx, key, p, 1)
	want := Result{Allowed: false, Remaining: 0, RetryAfter: 10 * time.Millisecond, ResetAfter: 2 * time.Second, Policy: p}
	if err != nil || res != want {
		t.Fatalf("201st call = %+v, %v; want %+v", res, err, want)
	}
	clock.Advance(10 * time.Millisecond)
	if res, _ := l.Allow(ctx, key, p, 1); !res.Allowed || res.Remaining != 0 || res.ResetAfter != 2*time.Second {
		t.Fatalf("after RetryAfter: %+v, want allowed", res)
	}
	if _, err := l.Allow(ctx, key, p, 201); !errors.Is(err, ErrInvalidPolicy) {
		t.Errorf("cost above burst: err = %v, want ErrInvalidPolicy", err)
	}
	if _, err := l.Allow(ctx, key, Policy{Name: "x"}, 1); !errors.Is(err, ErrInvalidPolicy) {
		t.Errorf("zero policy: err = %v, want ErrInvalidPolicy", err)
	}
}

// TestLocalConcurrent checks exact admission counts under contention: the
// clock is frozen, so exactly Burst calls per key may pass.
func TestLocalConcurrent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := newFakeClock()
	l := NewLocal(LocalOptions{Now: clock.Now})
	p := Policy{Name: "t", Rate: 1, Burst: 250}
	const goroutines, calls, keys = 64, 100, 8 // 6400 calls, 800 per key
	var allowed [keys]atomic.Int64
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range calls {
				k := (g + i) % keys
				res, err := l.Allow(ctx, Key(p.Name, strconv.Itoa(k)), p, 1)
				if err != nil {
					t.Error(err)
					return
				}
				if res.Allowed {
					allowed[k].Add(1)
				}
			}
		})
	}
	wg.Wait()
	for k := range allowed {
		if got := allowed[k].Load(); got != int64(p.Burst) {
			t.Errorf("key %d: %d admitted, want exactly the burst %d", k, got, p.Burst)
		}
	}
}

func TestLocalEvictsFullKeys(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := newFakeClock()
	l := NewLocal(LocalOptions{Now: clock.Now})
	p := Policy{Name: "t", Rate: 10, Burst: 2} // refills in 200 ms
	for i := range 10_000 {
		if _, err := l.Allow(ctx, Key(p.Name, strconv.Itoa(i)), p, 1); err != nil {
			t.Fatal(err)
		}
	}
	if n := l.Len(); n != 10_000 {
		t.Fatalf("Len = %d, want 10000 keys still refilling", n)
	}
	clock.Advance(p.Window())
	for i := range 10_000 {
		if _, err := l.Allow(ctx, Key(p.Name, "later-"+strconv.Itoa(i)), p, 1); err != nil {
			t.Fatal(err)
		}
	}
	// The first 10,000 keys are full again and go as later inserts sweep;
	// a shard sweeps at least once per as many inserts as it holds.
	if n := l.Len(); n >= 15_000 {
		t.Errorf("Len = %d after the first keys refilled, want them mostly swept", n)
	}
	// Dropping a full key changes nothing: it decides as a new one.
	res, _ := l.Allow(ctx, Key(p.Name, "0"), p, 1)
	if !res.Allowed || res.Remaining != 1 {
		t.Errorf("refilled key: %+v, want a full quota", res)
	}
}

func TestLocalMaxKeys(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := newFakeClock()
	const maxKeys = 64 * 16
	l := NewLocal(LocalOptions{Now: clock.Now, MaxKeys: maxKeys})
	p := Policy{Name: "t", Rate: 1.0 / 60, Burst: 5} // nothing refills during the test
	for i := range 50_000 {
		if _, err := l.Allow(ctx, Key(p.Name, strconv.Itoa(i)), p, 1); err != nil {
			t.Fatal(err)
		}
	}
	if n := l.Len(); n > maxKeys {
		t.Errorf("Len = %d, want at most MaxKeys %d", n, maxKeys)
	}
	// The newest key was just charged and is still tracked.
	if res, _ := l.Allow(ctx, Key(p.Name, "49999"), p, 1); res.Remaining != 3 {
		t.Errorf("newest key: %+v, want 3 remaining", res)
	}
}
