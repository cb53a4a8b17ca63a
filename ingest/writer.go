package ingest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/parkhq/park/tenancy"
)

// Status is what became of one uplink; the webhook answers it as
// {"status": …}.
type Status string

// The outcomes of a stored batch (DESIGN §5).
const (
	StatusStored        Status = "stored"
	StatusDuplicate     Status = "duplicate"
	StatusOrphan        Status = "orphan"
	StatusOrphanDropped Status = "orphan_dropped"
)

// CommitFunc stores one batch of one tenant's uplinks and returns one Status
// per uplink, in the batch's order. It returns an error wrapping
// ErrCommitUnknown when a COMMIT itself failed or its outcome is unknown;
// any other error means the transaction rolled back and nothing of it was
// stored. A CommitFunc that stores a batch in more than one transaction
// (StoreBatch does) returns with an error the statuses of the uplinks an
// earlier transaction committed, one per uplink with "" for the others,
// which the error concerns; a nil slice means it concerns them all.
type CommitFunc func(ctx context.Context, tenantID uuid.UUID, batch []*Uplink) ([]Status, error)

// ErrCommitUnknown marks a batch whose COMMIT failed or whose outcome is
// unknown (the connection dropped while committing). Its rows may or may not
// be stored, so the writer neither retries them nor answers 2xx: every
// request of the batch gets the error (a 5xx).
var ErrCommitUnknown = errors.New("ingest: commit outcome unknown")

// ErrWriterClosed answers uplinks submitted after Close began (a 503: the
// network server may send them to another instance).
var ErrWriterClosed = errors.New("ingest: writer is shutting down")

// DefaultMaxBatch caps the uplinks one commit takes (DESIGN §5: about 500).
const DefaultMaxBatch = 500

// DefaultCommitsInFlight is how many commits of one tenant may run at once:
// one, as the design's group commit has it — each batch takes everything
// queued when the tenant's previous commit returns. More in flight can lift
// a single busy tenant's throughput on a database with idle cores (see
// BENCHMARKS.md), at the price of concurrent batches of one tenant, which
// StoreBatch makes safe by locking space rows in id order.
const DefaultCommitsInFlight = 1

// DefaultCommitTimeout bounds one batch's transaction. It is the writer's own
// deadline, not a request's: once an uplink is queued its outcome is decided
// by the batch, whatever happens to the request that brought it.
const DefaultCommitTimeout = 10 * time.Second

// WriterOptions tune a Writer; zero values take the defaults.
type WriterOptions struct {
	// MaxBatch caps the uplinks of one commit (DefaultMaxBatch).
	MaxBatch int
	// CommitTimeout bounds each commit (DefaultCommitTimeout).
	CommitTimeout time.Duration
	// CommitsInFlight caps the commits of one tenant running at once
	// (DefaultCommitsInFlight); 1 makes each wait for the previous one.
	CommitsInFlight int
	// Registerer receives the writer's metrics; nil registers none.
	Registerer prometheus.Registerer
}

// Writer is the self-clocked group-commit writer of DESIGN §5. Each tenant
// has at most CommitsInFlight commits running: an uplink that arrives while
// all of them run waits in a queue, and when one of them returns, it takes
// everything queued (up to MaxBatch) into its next commit. No timer delays a
// lone uplink (it starts a commit of its own when a slot is free), and
// under load batches grow by themselves to what the database can take, so
// throughput follows commit latency rather than request count. Commits of
// one tenant that run at once are independent transactions; StoreBatch is
// written to be correct under that (dedupe by unique key, state moved only
// forward, space rows locked in id order).
//
// When a batch fails before its COMMIT (nothing stored), the writer runs its
// uplinks again one by one, so one bad row costs only its own request;
// unless the database is unavailable or the deadline passed, which no row
// caused: then every request of the batch gets that error (a 503) at once. When
// the COMMIT itself fails or its outcome is unknown, every request of the
// batch gets the error, since answering 2xx for a reading that may be lost
// is the one thing the writer must never do.
//
// A Writer is safe for concurrent use. Close drains it.
type Writer struct {
	commit  CommitFunc
	opts    WriterOptions
	metrics *writerMetrics

	mu      sync.Mutex
	queues  map[uuid.UUID]*tenantQueue
	queued  int
	closed  bool
	running sync.WaitGroup
}

// tenantQueue is one tenant's uplinks waiting for the next commit. A queue
// exists while its tenant has a drainer goroutine; the goroutine removes it
// when it finds it empty.
type tenantQueue struct {
	items    []*pending
	drainers int // goroutines committing this queue
}

// pending is one submitted uplink and where its outcome goes.
type pending struct {
	uplink *Uplink
	done   chan outcome
}

type outcome struct {
	status Status
	err    error
}

// NewWriter returns a writer that stores batches with commit. It fails only
// when opts.Registerer refuses the metrics.
func NewWriter(commit CommitFunc, opts WriterOptions) (*Writer, error) {
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = DefaultMaxBatch
	}
	if opts.CommitTimeout <= 0 {
		opts.CommitTimeout = DefaultCommitTimeout
	}
	if opts.CommitsInFlight <= 0 {
		opts.CommitsInFlight = DefaultCommitsInFlight
	}
	w := &Writer{commit: commit, opts: opts, queues: map[uuid.UUID]*tenantQueue{}}
	m, err := newWriterMetrics(opts.Registerer, w.depth)
	if err != nil {
		return nil, err
	}
	w.metrics = m
	return w, nil
}

// Submit queues u for tenantID's next commit and waits for its outcome. It
// returns ErrWriterClosed once Close has begun. Once u is queued, Submit
// waits for its batch even if ctx ends: the batch is bounded by the writer's
// CommitTimeout, and the outcome must be known before anyone answers.
func (w *Writer) Submit(ctx context.Context, tenantID uuid.UUID, u *Uplink) (Status, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	p := &pending{uplink: u, done: make(chan outcome, 1)}
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return "", ErrWriterClosed
	}
	q, ok := w.queues[tenantID]
	if !ok {
		q = &tenantQueue{}
		w.queues[tenantID] = q
	}
	q.items = append(q.items, p)
	if q.drainers < w.opts.CommitsInFlight {
		// Every drainer is committing (one that is not would take
		// this uplink at once): a free slot starts another commit.
		q.drainers++
		w.running.Add(1)
		go w.drain(tenantID, q)
	}
	w.queued++
	w.mu.Unlock()
	o := <-p.done
	return o.status, o.err
}

// drain commits tenantID's queue batch after batch until it is empty; up to
// CommitsInFlight drainers of one queue run at once. The first batch usually
// holds just the uplink that started the goroutine: nothing waits for
// company.
func (w *Writer) drain(tenantID uuid.UUID, q *tenantQueue) {
	defer w.running.Done()
	for {
		w.mu.Lock()
		if len(q.items) == 0 {
			q.drainers--
			if q.drainers == 0 {
				delete(w.queues, tenantID)
			}
			w.mu.Unlock()
			return
		}
		n := min(len(q.items), w.opts.MaxBatch)
		batch := make([]*pending, n)
		copy(batch, q.items)
		rest := copy(q.items, q.items[n:])
		clear(q.items[rest:])
		q.items = q.items[:rest]
		w.queued -= n
		w.mu.Unlock()
		w.run(tenantID, batch)
	}
}

// run commits one batch and answers every request in it.
func (w *Writer) run(tenantID uuid.UUID, batch []*pending) {
	w.metrics.batch(len(batch))
	ups := make([]*Uplink, len(batch))
	for i, p := range batch {
		ups[i] = p.uplink
	}
	statuses, err := w.commitOnce(tenantID, ups)
	if err != nil && statuses != nil {
		// Committed in an earlier transaction of the batch: answered as
		// such; the error concerns the rest.
		rest := batch[:0:0]
		for i, p := range batch {
			if statuses[i] != "" {
				p.done <- outcome{status: statuses[i]}
			} else {
				rest = append(rest, p)
			}
		}
		batch = rest
	}
	switch {
	case err == nil:
		for i, p := range batch {
			p.done <- outcome{status: statuses[i]}
		}
	case errors.Is(err, ErrCommitUnknown) || len(batch) == 1 || unavailable(err):
		for _, p := range batch {
			p.done <- outcome{err: err}
		}
	default:
		// Nothing was stored: find the row that failed by running each
		// alone, so the others are stored and answered as usual.
		for _, p := range batch {
			st, err := w.commitOnce(tenantID, []*Uplink{p.uplink})
			if err == nil {
				p.done <- outcome{status: st[0]}
			} else {
				p.done <- outcome{err: err}
			}
		}
	}
}

// unavailable tells a failure that no row caused: the database is down or
// too slow for the writer's deadline. Running each row alone would only
// repeat it once per row, keeping every request of the batch waiting
// (behind PgBouncer each attempt may wait for a server connection) for the
// same answer.
func unavailable(err error) bool {
	return errors.Is(err, tenancy.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded)
}

// Queued returns the number of uplinks waiting for a commit (the ones in
// commits under way not included).
func (w *Writer) Queued() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.queued
}

func (w *Writer) depth() float64 { return float64(w.Queued()) }

// commitOnce runs the commit function under the writer's deadline and checks
// that it kept its contract.
func (w *Writer) commitOnce(tenantID uuid.UUID, ups []*Uplink) (st []Status, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), w.opts.CommitTimeout)
	defer cancel()
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("ingest: commit panicked: %v", r)
		}
	}()
	st, err = w.commit(ctx, tenantID, ups)
	if (err == nil || st != nil) && len(st) != len(ups) {
		return nil, fmt.Errorf("ingest: commit returned %d statuses for %d uplinks", len(st), len(ups))
	}
	if err != nil && st != nil && !slices.Contains(st, "") {
		// Every uplink has a status, yet the commit failed: trust
		// neither, answer the error to all.
		st = nil
	}
	return st, err
}

// Close stops taking uplinks (Submit answers ErrWriterClosed) and waits until
// every queued uplink has been committed and answered, or ctx ends. parkd
// calls it after its HTTP server has stopped and before its pool closes.
func (w *Writer) Close(ctx context.Context) error {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
	done := make(chan struct{})
	go func() {
		w.running.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("ingest: writer drain: %w", ctx.Err())
	}
}

// writerMetrics are the writer's Prometheus series; a nil *writerMetrics
// records nothing.
type writerMetrics struct {
	rows prometheus.Histogram
}

func newWriterMetrics(reg prometheus.Registerer, depth func() float64) (*writerMetrics, error) {
	if reg == nil {
		return nil, nil
	}
	m := &writerMetrics{rows: prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "park_ingest_batch_rows",
		Help:    "Uplinks per group commit of the ingest writer.",
		Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256, 500},
	})}
	queue := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "park_ingest_queue_depth",
		Help: "Uplinks waiting for their tenant's next group commit.",
	}, depth)
	for _, c := range []prometheus.Collector{m.rows, queue} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register ingest metrics: %w", err)
		}
	}
	return m, nil
}

func (m *writerMetrics) batch(n int) {
	if m != nil {
		m.rows.Observe(float64(n))
	}
}
