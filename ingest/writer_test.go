package ingest_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/parkhq/park/ingest"
	"github.com/parkhq/park/ratelimit"
	"github.com/parkhq/park/tenancy"
)

// These tests drive the writer's batching with commit functions that record
// what they were given; the SQL commit is tested against Postgres elsewhere.
// Most run the writer with one commit in flight per tenant, where batching
// is easiest to pin down; TestWriterCommitsInFlight covers several.

// gate is a commit function that blocks each call until released and
// records the batch sizes it saw.
type gate struct {
	mu      sync.Mutex
	sizes   []int
	entered chan int
	release chan struct{}
}

func newGate() *gate {
	return &gate{entered: make(chan int, 100), release: make(chan struct{})}
}

func (g *gate) commit(_ context.Context, _ uuid.UUID, batch []*ingest.Uplink) ([]ingest.Status, error) {
	g.mu.Lock()
	g.sizes = append(g.sizes, len(batch))
	g.mu.Unlock()
	g.entered <- len(batch)
	<-g.release
	return stored(len(batch)), nil
}

func (g *gate) seen() []int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]int(nil), g.sizes...)
}

func stored(n int) []ingest.Status {
	st := make([]ingest.Status, n)
	for i := range st {
		st[i] = ingest.StatusStored
	}
	return st
}

func up(key string) *ingest.Uplink {
	return &ingest.Uplink{DevEUI: "0011223344556677", MsgKey: key}
}

func newWriter(t *testing.T, commit ingest.CommitFunc, opts ingest.WriterOptions) *ingest.Writer {
	t.Helper()
	w, err := ingest.NewWriter(commit, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := w.Close(ctx); err != nil {
			t.Error(err)
		}
	})
	return w
}

// submitAll submits n uplinks of tenant concurrently and returns their
// results once all have answered.
func submitAll(w *ingest.Writer, tenant uuid.UUID, keys []string) <-chan error {
	errc := make(chan error, len(keys))
	for _, k := range keys {
		go func() {
			st, err := w.Submit(context.Background(), tenant, up(k))
			if err == nil && st != ingest.StatusStored {
				err = fmt.Errorf("%s: status %q", k, st)
			}
			errc <- err
		}()
	}
	return errc
}

// waitQueued waits until the writer reports n queued uplinks.
func waitQueued(t *testing.T, reg *prometheus.Registry, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := gatherGauge(t, reg, "park_ingest_queue_depth")
		if got == float64(n) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("queue depth %v, want %d", got, n)
		}
		time.Sleep(time.Millisecond)
	}
}

func gatherGauge(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

func batchHistogram(t *testing.T, reg *prometheus.Registry) (uint64, float64) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "park_ingest_batch_rows" {
			h := mf.GetMetric()[0].GetHistogram()
			return h.GetSampleCount(), h.GetSampleSum()
		}
	}
	t.Fatal("no park_ingest_batch_rows")
	return 0, 0
}

func keys(prefix string, n int) []string {
	ks := make([]string, n)
	for i := range ks {
		ks[i] = fmt.Sprintf("%s%d", prefix, i)
	}
	return ks
}

func TestWriterLoneUplinkCommitsAtOnce(t *testing.T) {
	t.Parallel()
	var calls [][]string
	var mu sync.Mutex
	w := newWriter(t, func(_ context.Context, _ uuid.UUID, b []*ingest.Uplink) ([]ingest.Status, error) {
		mu.Lock()
		defer mu.Unlock()
		var ks []string
		for _, u := range b {
			ks = append(ks, u.MsgKey)
		}
		calls = append(calls, ks)
		return stored(len(b)), nil
	}, ingest.WriterOptions{CommitsInFlight: 1})
	tenant := uuid.New()
	for i := range 3 {
		st, err := w.Submit(context.Background(), tenant, up(fmt.Sprint(i)))
		if err != nil || st != ingest.StatusStored {
			t.Fatalf("submit %d: %q, %v", i, st, err)
		}
	}
	// Sequential submits never wait for company: three commits of one.
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(calls) != "[[0] [1] [2]]" {
		t.Fatalf("commits %v, want three of one", calls)
	}
}

func TestWriterGroupsWhileCommitRuns(t *testing.T) {
	t.Parallel()
	g := newGate()
	reg := prometheus.NewRegistry()
	w := newWriter(t, g.commit, ingest.WriterOptions{CommitsInFlight: 1, Registerer: reg})
	tenant := uuid.New()

	first := submitAll(w, tenant, []string{"first"})
	<-g.entered // the first commit is in flight, holding one uplink
	rest := submitAll(w, tenant, keys("k", 40))
	waitQueued(t, reg, 40)
	close(g.release)
	for range 1 {
		if err := <-first; err != nil {
			t.Fatal(err)
		}
	}
	for range 40 {
		if err := <-rest; err != nil {
			t.Fatal(err)
		}
	}
	// Everything that queued during the first commit went in the second.
	if got := fmt.Sprint(g.seen()); got != "[1 40]" {
		t.Fatalf("batches %s, want [1 40]", got)
	}
	if n, sum := batchHistogram(t, reg); n != 2 || sum != 41 {
		t.Fatalf("batch histogram: %d batches, %v rows; want 2 and 41", n, sum)
	}
	if got := gatherGauge(t, reg, "park_ingest_queue_depth"); got != 0 {
		t.Fatalf("queue depth after drain: %v", got)
	}
}

func TestWriterMaxBatch(t *testing.T) {
	t.Parallel()
	g := newGate()
	reg := prometheus.NewRegistry()
	w := newWriter(t, g.commit, ingest.WriterOptions{MaxBatch: 3, CommitsInFlight: 1, Registerer: reg})
	tenant := uuid.New()
	first := submitAll(w, tenant, []string{"first"})
	<-g.entered
	rest := submitAll(w, tenant, keys("k", 7))
	waitQueued(t, reg, 7)
	close(g.release)
	<-first
	for range 7 {
		if err := <-rest; err != nil {
			t.Fatal(err)
		}
	}
	if got := fmt.Sprint(g.seen()); got != "[1 3 3 1]" {
		t.Fatalf("batches %s, want [1 3 3 1]", got)
	}
}

func TestWriterTenantsDoNotWaitForEachOther(t *testing.T) {
	t.Parallel()
	slow, fast := uuid.New(), uuid.New()
	block := make(chan struct{})
	w := newWriter(t, func(_ context.Context, tenant uuid.UUID, b []*ingest.Uplink) ([]ingest.Status, error) {
		if tenant == slow {
			<-block
		}
		return stored(len(b)), nil
	}, ingest.WriterOptions{CommitsInFlight: 1})
	slowDone := submitAll(w, slow, []string{"s"})
	st, err := w.Submit(context.Background(), fast, up("f"))
	if err != nil || st != ingest.StatusStored {
		t.Fatalf("fast tenant: %q, %v", st, err)
	}
	close(block)
	if err := <-slowDone; err != nil {
		t.Fatal(err)
	}
}

func TestWriterRerunsRowByRow(t *testing.T) {
	t.Parallel()
	g := newGate()
	var mu sync.Mutex
	var sizes []int
	failing := errors.New("row refused")
	started := false
	w := newWriter(t, func(ctx context.Context, tenant uuid.UUID, b []*ingest.Uplink) ([]ingest.Status, error) {
		mu.Lock()
		first := !started
		started = true
		sizes = append(sizes, len(b))
		mu.Unlock()
		if first {
			return g.commit(ctx, tenant, b)
		}
		for _, u := range b {
			if u.MsgKey == "bad" {
				return nil, failing
			}
		}
		return stored(len(b)), nil
	}, ingest.WriterOptions{CommitsInFlight: 1})
	tenant := uuid.New()
	first := submitAll(w, tenant, []string{"first"})
	<-g.entered
	type res struct {
		key string
		st  ingest.Status
		err error
	}
	results := make(chan res, 3)
	for _, k := range []string{"a", "bad", "b"} {
		go func() {
			st, err := w.Submit(context.Background(), tenant, up(k))
			results <- res{k, st, err}
		}()
	}
	// Wait until the three are queued behind the first commit.
	for {
		mu.Lock()
		n := len(sizes)
		mu.Unlock()
		if n != 1 {
			t.Fatal("a second commit began before the first ended")
		}
		if w.Queued() == 3 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	close(g.release)
	<-first
	for range 3 {
		r := <-results
		switch r.key {
		case "bad":
			if !errors.Is(r.err, failing) {
				t.Errorf("bad row: %q, %v; want its error", r.st, r.err)
			}
		default:
			if r.err != nil || r.st != ingest.StatusStored {
				t.Errorf("row %s: %q, %v; want stored", r.key, r.st, r.err)
			}
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if got := fmt.Sprint(sizes); got != "[1 3 1 1 1]" {
		t.Fatalf("commits %s, want the batch of 3 then each row alone", got)
	}
}

func TestWriterUnknownCommitFailsTheWholeBatch(t *testing.T) {
	t.Parallel()
	g := newGate()
	var mu sync.Mutex
	calls := 0
	w := newWriter(t, func(ctx context.Context, tenant uuid.UUID, b []*ingest.Uplink) ([]ingest.Status, error) {
		mu.Lock()
		calls++
		n := calls
		mu.Unlock()
		if n == 1 {
			return g.commit(ctx, tenant, b)
		}
		return nil, fmt.Errorf("commit: connection reset: %w", ingest.ErrCommitUnknown)
	}, ingest.WriterOptions{CommitsInFlight: 1})
	tenant := uuid.New()
	first := submitAll(w, tenant, []string{"first"})
	<-g.entered
	rest := submitAll(w, tenant, keys("k", 5))
	for w.Queued() != 5 {
		time.Sleep(time.Millisecond)
	}
	close(g.release)
	<-first
	for range 5 {
		if err := <-rest; !errors.Is(err, ingest.ErrCommitUnknown) {
			t.Fatalf("got %v, want ErrCommitUnknown for every row", err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if calls != 2 {
		t.Fatalf("%d commits; an unknown outcome must not be retried", calls)
	}
}

func TestWriterCommitContract(t *testing.T) {
	t.Parallel()
	w := newWriter(t, func(context.Context, uuid.UUID, []*ingest.Uplink) ([]ingest.Status, error) {
		return nil, nil // no status for the uplink
	}, ingest.WriterOptions{CommitsInFlight: 1})
	if _, err := w.Submit(context.Background(), uuid.New(), up("x")); err == nil || !strings.Contains(err.Error(), "statuses") {
		t.Fatalf("got %v, want a contract error", err)
	}
	w2 := newWriter(t, func(context.Context, uuid.UUID, []*ingest.Uplink) ([]ingest.Status, error) {
		panic("boom")
	}, ingest.WriterOptions{CommitsInFlight: 1})
	if _, err := w2.Submit(context.Background(), uuid.New(), up("x")); err == nil || !strings.Contains(err.Error(), "panicked") {
		t.Fatalf("got %v, want the panic as an error", err)
	}
}

func TestWriterCommitDeadline(t *testing.T) {
	t.Parallel()
	w := newWriter(t, func(ctx context.Context, _ uuid.UUID, b []*ingest.Uplink) ([]ingest.Status, error) {
		<-ctx.Done()
		return nil, fmt.Errorf("commit: %w: %w", ingest.ErrCommitUnknown, ctx.Err())
	}, ingest.WriterOptions{CommitTimeout: 20 * time.Millisecond})
	// The request's own context has no deadline; the writer's bounds it.
	if _, err := w.Submit(context.Background(), uuid.New(), up("x")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want the writer's deadline", err)
	}
}

func TestWriterCloseDrains(t *testing.T) {
	t.Parallel()
	g := newGate()
	w, err := ingest.NewWriter(g.commit, ingest.WriterOptions{CommitsInFlight: 1})
	if err != nil {
		t.Fatal(err)
	}
	tenant := uuid.New()
	first := submitAll(w, tenant, []string{"first"})
	<-g.entered
	queued := submitAll(w, tenant, keys("k", 3))
	for w.Queued() != 3 {
		time.Sleep(time.Millisecond)
	}

	closed := make(chan error, 1)
	go func() { closed <- w.Close(context.Background()) }()
	// Once Close has begun, new uplinks are refused, while the ones queued
	// before it are still committed. A submit that raced ahead of Close is
	// queued and answered with the rest.
	raced := 0
	lateErrs := make(chan error, 1000)
	deadline := time.Now().Add(10 * time.Second)
	for refused := false; !refused; {
		go func() {
			_, err := w.Submit(context.Background(), tenant, up("late"))
			lateErrs <- err
		}()
		select {
		case err := <-lateErrs:
			if !errors.Is(err, ingest.ErrWriterClosed) {
				t.Fatalf("late submit: %v", err)
			}
			refused = true
		case <-time.After(5 * time.Millisecond):
			raced++
		}
		if time.Now().After(deadline) {
			t.Fatal("Submit still accepted after Close")
		}
	}
	select {
	case err := <-closed:
		t.Fatalf("Close returned %v while a commit was in flight", err)
	case <-time.After(20 * time.Millisecond):
	}
	close(g.release)
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	<-first
	for range 3 {
		if err := <-queued; err != nil {
			t.Fatalf("a queued uplink was not committed: %v", err)
		}
	}
	for range raced {
		if err := <-lateErrs; err != nil {
			t.Fatalf("an uplink accepted before Close was not committed: %v", err)
		}
	}
}

func TestWriterCloseTimeout(t *testing.T) {
	t.Parallel()
	g := newGate()
	w, err := ingest.NewWriter(g.commit, ingest.WriterOptions{CommitsInFlight: 1})
	if err != nil {
		t.Fatal(err)
	}
	done := submitAll(w, uuid.New(), []string{"x"})
	<-g.entered
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := w.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close: %v, want the deadline", err)
	}
	close(g.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestWriterMetricsRegistration(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	commit := func(context.Context, uuid.UUID, []*ingest.Uplink) ([]ingest.Status, error) { return nil, nil }
	if _, err := ingest.NewWriter(commit, ingest.WriterOptions{CommitsInFlight: 1, Registerer: reg}); err != nil {
		t.Fatal(err)
	}
	if _, err := ingest.NewWriter(commit, ingest.WriterOptions{CommitsInFlight: 1, Registerer: reg}); err == nil {
		t.Fatal("a second writer on one registry registered its metrics twice")
	}
	if _, err := ingest.NewWriter(commit, ingest.WriterOptions{CommitsInFlight: 1}); err != nil {
		t.Fatalf("nil registerer: %v", err)
	}
}

func TestOrphanLimitTakesWhatRemains(t *testing.T) {
	t.Parallel()
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	local := ratelimit.NewLocal(ratelimit.LocalOptions{Now: func() time.Time { return now }})
	policy := ratelimit.Policy{Name: ratelimit.NameOrphan, Rate: 1, Burst: 4}
	lim := &ingest.OrphanLimit{Limiter: local, Policy: func(context.Context, uuid.UUID) ratelimit.Policy { return policy }}
	tenant := uuid.New()
	for i, step := range []struct{ ask, want int }{
		{3, 3},  // within the burst
		{3, 1},  // one left: taken, the rest dropped
		{2, 0},  // none left
		{10, 0}, // more than a burst is asked as a burst
	} {
		got, err := lim.AllowOrphans(context.Background(), tenant, step.ask)
		if err != nil || got != step.want {
			t.Fatalf("step %d: asked %d, got %d (%v), want %d", i, step.ask, got, err, step.want)
		}
	}
	// Another tenant has its own allowance.
	if got, _ := lim.AllowOrphans(context.Background(), uuid.New(), 10); got != 4 {
		t.Fatalf("another tenant got %d, want a burst of 4", got)
	}
}

// TestWriterCommitsInFlight: with CommitsInFlight n, uplinks that arrive
// while commits run start new commits of their own until n run at once;
// later ones queue, and the first commit to return takes them all.
func TestWriterCommitsInFlight(t *testing.T) {
	t.Parallel()
	g := newGate()
	reg := prometheus.NewRegistry()
	w := newWriter(t, g.commit, ingest.WriterOptions{CommitsInFlight: 3, Registerer: reg})
	tenant := uuid.New()
	var running []<-chan error
	for i := range 3 {
		running = append(running, submitAll(w, tenant, []string{fmt.Sprint("r", i)}))
		<-g.entered // each starts a commit at once: nothing waits for a slot
	}
	rest := submitAll(w, tenant, keys("k", 20))
	waitQueued(t, reg, 20)
	select {
	case n := <-g.entered:
		t.Fatalf("a fourth commit (of %d) started with three in flight", n)
	case <-time.After(20 * time.Millisecond):
	}
	g.release <- struct{}{} // one of the three returns and takes the queue
	if n := <-g.entered; n != 20 {
		t.Fatalf("next batch %d uplinks, want the 20 queued", n)
	}
	close(g.release)
	for _, c := range running {
		if err := <-c; err != nil {
			t.Fatal(err)
		}
	}
	for range 20 {
		if err := <-rest; err != nil {
			t.Fatal(err)
		}
	}
	if got := gatherGauge(t, reg, "park_ingest_queue_depth"); got != 0 {
		t.Fatalf("queue depth after drain: %v", got)
	}
}

// TestWriterUnavailableFailsTheBatchAtOnce: a batch that fails because the
// database is unavailable (or the writer's deadline passed) is not run
// again row by row: each rerun would fail the same way, and behind
// PgBouncer each may wait for a server connection, so the batch's requests
// would wait once per row for the same 503.
func TestWriterUnavailableFailsTheBatchAtOnce(t *testing.T) {
	t.Parallel()
	for _, cause := range []error{
		&tenancy.DBError{Kind: tenancy.ErrUnavailable},
		fmt.Errorf("store uplinks: %w", context.DeadlineExceeded),
	} {
		g := newGate()
		var mu sync.Mutex
		calls := 0
		w := newWriter(t, func(ctx context.Context, tenant uuid.UUID, b []*ingest.Uplink) ([]ingest.Status, error) {
			mu.Lock()
			calls++
			n := calls
			mu.Unlock()
			if n == 1 {
				return g.commit(ctx, tenant, b)
			}
			return nil, fmt.Errorf("begin transaction: %w", cause)
		}, ingest.WriterOptions{CommitsInFlight: 1})
		tenant := uuid.New()
		first := submitAll(w, tenant, []string{"first"})
		<-g.entered
		rest := submitAll(w, tenant, keys("k", 5))
		for w.Queued() != 5 {
			time.Sleep(time.Millisecond)
		}
		close(g.release)
		<-first
		for range 5 {
			if err := <-rest; !errors.Is(err, cause) && !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("got %v, want %v for every row", err, cause)
			}
		}
		mu.Lock()
		if calls != 2 {
			t.Errorf("%v: %d commits, want 2: the batch of 5 was run again row by row", cause, calls)
		}
		mu.Unlock()
	}
}

// TestWriterPartialCommit: a commit that stores a batch in two
// transactions and fails in the second returns the statuses the first
// committed; those uplinks are answered with them, never run again, and
// only the rest get the error — run again one by one, or answered the
// error when the second COMMIT's outcome is unknown.
func TestWriterPartialCommit(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		err    error
		sizes  string
		others string // what x and bad are answered
	}{
		{"rolled back", errors.New("second transaction failed"), "[1 4 1 1]", "x orphan, bad row refused"},
		{"commit unknown", fmt.Errorf("%w: connection lost", ingest.ErrCommitUnknown), "[1 4]",
			"x ingest: commit outcome unknown: connection lost, bad ingest: commit outcome unknown: connection lost"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			g := newGate()
			var mu sync.Mutex
			var sizes []int
			w := newWriter(t, func(ctx context.Context, tenant uuid.UUID, b []*ingest.Uplink) ([]ingest.Status, error) {
				mu.Lock()
				n := len(sizes)
				sizes = append(sizes, len(b))
				mu.Unlock()
				switch {
				case n == 0:
					return g.commit(ctx, tenant, b)
				case len(b) > 1:
					// k… committed in a first transaction; the
					// second, with the others, failed.
					st := make([]ingest.Status, len(b))
					for i, u := range b {
						if strings.HasPrefix(u.MsgKey, "k") {
							st[i] = ingest.StatusStored
						}
					}
					return st, tc.err
				case b[0].MsgKey == "bad":
					return nil, errors.New("row refused")
				}
				return []ingest.Status{ingest.StatusOrphan}, nil
			}, ingest.WriterOptions{CommitsInFlight: 1})
			tenant := uuid.New()
			first := submitAll(w, tenant, []string{"first"})
			<-g.entered
			type res struct {
				st  ingest.Status
				err error
			}
			keys := []string{"k1", "x", "k2", "bad"}
			results := make(map[string]chan res, len(keys))
			for _, k := range keys {
				results[k] = make(chan res, 1)
				go func() {
					st, err := w.Submit(context.Background(), tenant, up(k))
					results[k] <- res{st, err}
				}()
			}
			for w.Queued() != len(keys) {
				time.Sleep(time.Millisecond)
			}
			close(g.release)
			<-first
			for _, k := range []string{"k1", "k2"} {
				if r := <-results[k]; r.err != nil || r.st != ingest.StatusStored {
					t.Errorf("%s: %q, %v; want stored", k, r.st, r.err)
				}
			}
			var others []string
			for _, k := range []string{"x", "bad"} {
				r := <-results[k]
				if r.err != nil {
					others = append(others, k+" "+r.err.Error())
				} else {
					others = append(others, k+" "+string(r.st))
				}
			}
			if got := strings.Join(others, ", "); got != tc.others {
				t.Errorf("answers %q, want %q", got, tc.others)
			}
			mu.Lock()
			defer mu.Unlock()
			if got := fmt.Sprint(sizes); got != tc.sizes {
				t.Fatalf("commits %s, want %s", got, tc.sizes)
			}
		})
	}
}

// TestWriterCloseDrainsEveryCommitInFlight: with several commits of a
// tenant in flight, Close returns only once every one of them and every
// uplink queued behind them is committed and answered, not when the first
// commit returns.
func TestWriterCloseDrainsEveryCommitInFlight(t *testing.T) {
	t.Parallel()
	g := newGate()
	reg := prometheus.NewRegistry()
	w, err := ingest.NewWriter(g.commit, ingest.WriterOptions{CommitsInFlight: 3, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	tenant := uuid.New()
	var running []<-chan error
	for i := range 3 {
		running = append(running, submitAll(w, tenant, []string{fmt.Sprint("r", i)}))
		<-g.entered
	}
	queued := submitAll(w, tenant, keys("k", 5))
	waitQueued(t, reg, 5)
	closed := make(chan error, 1)
	go func() { closed <- w.Close(context.Background()) }()
	// Release the commits one at a time: the first to return takes the
	// queue, so four commits in all must return before Close does.
	for i := range 4 {
		select {
		case err := <-closed:
			t.Fatalf("Close returned %v with %d of 4 commits done", err, i)
		case <-time.After(20 * time.Millisecond):
		}
		g.release <- struct{}{}
	}
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	for _, c := range running {
		if err := <-c; err != nil {
			t.Fatal(err)
		}
	}
	for range 5 {
		if err := <-queued; err != nil {
			t.Fatalf("a queued uplink was not committed: %v", err)
		}
	}
	if got := fmt.Sprint(g.seen()); got != "[1 1 1 5]" {
		t.Fatalf("commits %s, want [1 1 1 5]", got)
	}
}
