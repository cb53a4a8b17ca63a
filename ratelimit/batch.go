package ratelimit

import (
	"context"
	"slices"
	"sync"
)

// batcher sends concurrent decisions as pipelines of EVALSHAs, at most
// maxInFlight pipelines at a time and no background goroutine: a call that
// finds a free slot leads a batch at once (alone, if nobody waits); a call
// that does not queues. A leader whose pipeline returns hands its slot to
// the oldest queued call, which leads everything queued by then. Batches
// so grow with load and vanish without it, as a group commit does.
type batcher struct {
	l           *RedisLimiter
	maxInFlight int
	maxBatch    int

	mu       sync.Mutex
	inFlight int
	queue    []*call
}

// call is one decision travelling through the batcher.
type call struct {
	key   string
	args  [3]any
	reply []int64
	err   error
	// wake receives exactly one message once the call is queued: false
	// when reply and err are set, true when the call is to lead a batch.
	wake chan bool
}

func newBatcher(l *RedisLimiter, maxInFlight, maxBatch int) *batcher {
	return &batcher{l: l, maxInFlight: maxInFlight, maxBatch: maxBatch}
}

func (b *batcher) do(ctx context.Context, key string, args [3]any) ([]int64, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c := &call{key: key, args: args}
	b.mu.Lock()
	if b.inFlight < b.maxInFlight {
		b.inFlight++
		b.mu.Unlock()
		b.lead(c)
		return c.reply, c.err
	}
	c.wake = make(chan bool, 1)
	b.queue = append(b.queue, c)
	b.mu.Unlock()

	var lead bool
	select {
	case lead = <-c.wake:
	case <-ctx.Done():
		// Leave only if no leader has taken the call yet; otherwise its
		// answer (or its turn to lead) is on the way and must be taken.
		b.mu.Lock()
		if i := slices.Index(b.queue, c); i >= 0 {
			b.queue = slices.Delete(b.queue, i, i+1)
			b.mu.Unlock()
			return nil, ctx.Err()
		}
		b.mu.Unlock()
		lead = <-c.wake
	}
	if lead {
		b.lead(c)
	}
	return c.reply, c.err
}

// lead runs one batch made of first and what is queued, answers it, and
// passes the in-flight slot on.
func (b *batcher) lead(first *call) {
	b.mu.Lock()
	k := min(len(b.queue), b.maxBatch-1)
	batch := make([]*call, 0, k+1)
	batch = append(batch, first)
	batch = append(batch, b.queue[:k]...)
	b.queue = slices.Delete(b.queue, 0, k)
	b.mu.Unlock()

	b.run(batch)
	for _, c := range batch[1:] {
		c.wake <- false
	}

	b.mu.Lock()
	if len(b.queue) == 0 {
		b.inFlight--
		b.mu.Unlock()
		return
	}
	next := b.queue[0]
	b.queue = slices.Delete(b.queue, 0, 1)
	b.mu.Unlock()
	next.wake <- true
}

// run sends batch and sets every call's reply or error. The context is not
// any one caller's, whose cancellation would fail the others: the client's
// read and write timeouts bound the round trip.
func (b *batcher) run(batch []*call) {
	ctx := context.Background()
	if len(batch) == 1 {
		c := batch[0]
		c.reply, c.err = b.l.eval(ctx, c.key, c.args)
		return
	}
	cmds := b.send(ctx, batch, nil, false)
	var again []int
	for i, cmd := range cmds {
		if isNoScript(cmd.Err()) {
			again = append(again, i)
		}
	}
	if len(again) > 0 {
		// Redis lost the script (restart, failover, SCRIPT FLUSH): run what
		// it refused once more by its source, as eval does.
		redo := b.send(ctx, batch, again, true)
		for j, i := range again {
			cmds[i] = redo[j]
		}
	}
	for i, c := range batch {
		c.reply, c.err = b.l.reply(cmds[i])
	}
}

// send pipelines the calls of batch at the given indexes, or all of them
// when only is nil: EVALSHAs, or EVALs of the script's source with script
// set. On a cluster go-redis splits a pipeline by node and follows MOVED
// and ASK replies command by command; each command keeps its own error.
func (b *batcher) send(ctx context.Context, batch []*call, only []int, script bool) []noRetry {
	pipe := b.l.client.Pipeline()
	var cmds []noRetry
	add := func(c *call) {
		cmd := evalCmd(ctx, c.key, c.args, script)
		_ = pipe.Process(ctx, cmd)
		cmds = append(cmds, cmd)
	}
	if only == nil {
		for _, c := range batch {
			add(c)
		}
	} else {
		for _, i := range only {
			add(batch[i])
		}
	}
	// Exec's error is the first command's; each command keeps its own.
	_, _ = pipe.Exec(ctx)
	return cmds
}
