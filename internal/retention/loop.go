package retention

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"
)

// errStopped is the outcome of a run cut short by Stop.
var errStopped = errors.New("stopped")

// minRunTimeout is the least time a run of the loop gets, whatever the
// interval.
const minRunTimeout = time.Minute

// Loop is parkd's periodic maintenance: a Run of its Pruner at start and
// then every interval, until Stop.
type Loop struct {
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
}

// Start runs p.Run at once and then every interval in a goroutine of its
// own, until ctx ends or Stop is called, and logs one line per run
// ("retention", with the counts per kind; a warning when it failed).
// A run gets interval (at least a minute) to finish. Starting at once
// rather than after the first interval means instances restarted more
// often than the interval still prune; a run that finds nothing to do
// costs one small transaction per kind.
func Start(ctx context.Context, p *Pruner, interval time.Duration, logger *slog.Logger) *Loop {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(ctx)
	l := &Loop{cancel: cancel, done: make(chan struct{})}
	timeout := max(interval, minRunTimeout)
	go func() {
		defer close(l.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			rctx, rcancel := context.WithTimeout(ctx, timeout)
			began := time.Now()
			res, err := p.Run(rctx)
			rcancel()
			if ctx.Err() != nil {
				// Stopped mid-run: the batch in flight rolled back, and the
				// next start does the rest. What committed is still told.
				if res.Batches > 0 {
					logger.LogAttrs(context.WithoutCancel(ctx), slog.LevelInfo, "retention",
						res.LogAttrs(time.Since(began), errStopped)...)
				}
				return
			}
			level := slog.LevelInfo
			if err != nil {
				level = slog.LevelWarn
			}
			logger.LogAttrs(ctx, level, "retention", res.LogAttrs(time.Since(began), err)...)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return l
}

// Stop ends the loop and waits for it: a run in progress is cancelled (its
// open batch rolls back). parkd calls it on shutdown, before the pool
// closes. It is safe to call more than once.
func (l *Loop) Stop() {
	l.once.Do(l.cancel)
	<-l.done
}
