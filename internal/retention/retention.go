// Package retention deletes what Park keeps only for a while: sensor
// readings older than their tenant's reading_retention_days, uplink_dedupe
// rows older than 7 days and expired idempotency keys (DESIGN §9).
//
// The cross-tenant path is the Pruner: parkd runs it hourly (Start) and
// `parkctl readings prune` to completion. parkd's login reaches one tenant
// at a time, so each batch calls one of the parameterless SECURITY DEFINER
// functions of migration 00014 (maint.prune_readings and its siblings,
// owned by park_maint), as park_app with no tenant set. Each call deletes at
// most BatchSize rows that it decides itself are past retention, and returns
// how many it deleted.
//
// "Once across all instances" holds through PgBouncer's transaction mode:
// every batch is one transaction that first takes a transaction-level
// advisory lock (pg_try_advisory_xact_lock), which PostgreSQL releases at
// COMMIT or ROLLBACK on whatever server connection the transaction ran.
// A session lock would outlive the transaction on a pooled server
// connection and block, or be released by, someone else. While one
// instance runs a batch, another instance's attempt finds the lock taken
// and ends its run (Result.Busy): the first is doing the work.
//
// The tenant-scoped path (PruneTenant, CountTenant) runs as park_app with
// the tenant set, through tenancy.Store.InTenantTx, so row-level security
// bounds it to that tenant. Counting across tenants for a dry run is
// operator work, as park_ops, on Ops.
package retention

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/parkhq/park/tenancy"
)

// BatchSize is how many rows one call of a maint.prune_* function deletes
// at most: the constant inside the functions (migration 00014). A batch
// that deletes fewer means nothing more was past retention when it ran.
const BatchSize = 5000

// DefaultMaxBatches bounds the batches of each kind in one run of parkd's
// maintenance, so a backlog (a retention shortened from years to days) is
// worked off over several runs rather than in one long burst of deletes.
const DefaultMaxBatches = 200

// DefaultReadingRetentionDays is how long readings are kept when a tenant
// sets no reading_retention_days: the ELSE of reading_retention_days() in
// migration 00014.
const DefaultReadingRetentionDays = 90

// DedupeRetention is how long an uplink_dedupe row is kept after it was
// last seen: longer than the longest dedupe window (168h).
const DedupeRetention = 7 * 24 * time.Hour

// lockKey is the transaction-level advisory lock every cross-tenant batch
// takes ("parkmnt"; distinct from the migrations' session lock).
const lockKey int64 = 0x7061726b6d6e74

// maxAttempts is how often a batch that met a row lock (the functions'
// short lock_timeout) or lost a deadlock is tried before the run gives up.
const maxAttempts = 3

// Kind is one kind of row that retention deletes; it is the kind label of
// park_pruned_rows_total and a key of Counts' JSON.
type Kind string

// The kinds, in the order a run prunes them.
const (
	Readings        Kind = "readings"
	UplinkDedupe    Kind = "uplink_dedupe"
	IdempotencyKeys Kind = "idempotency_keys"
)

// Kinds lists every Kind in run order.
var Kinds = []Kind{Readings, UplinkDedupe, IdempotencyKeys}

// pruneSQL calls each kind's maintenance function.
var pruneSQL = map[Kind]string{
	Readings:        `select maint.prune_readings()`,
	UplinkDedupe:    `select maint.prune_uplink_dedupe()`,
	IdempotencyKeys: `select maint.prune_idempotency_keys()`,
}

// Counts are rows per kind: deleted, or past retention in a dry run.
type Counts struct {
	Readings        int64 `json:"readings"`
	UplinkDedupe    int64 `json:"uplink_dedupe"`
	IdempotencyKeys int64 `json:"idempotency_keys"`
}

// Get returns the count of kind k.
func (c Counts) Get(k Kind) int64 {
	switch k {
	case Readings:
		return c.Readings
	case UplinkDedupe:
		return c.UplinkDedupe
	case IdempotencyKeys:
		return c.IdempotencyKeys
	}
	return 0
}

// Add adds n to the count of kind k.
func (c *Counts) Add(k Kind, n int64) {
	switch k {
	case Readings:
		c.Readings += n
	case UplinkDedupe:
		c.UplinkDedupe += n
	case IdempotencyKeys:
		c.IdempotencyKeys += n
	}
}

// Total is the sum over every kind.
func (c Counts) Total() int64 { return c.Readings + c.UplinkDedupe + c.IdempotencyKeys }

// details are the counts as audit event details.
func (c Counts) details() map[string]any {
	return map[string]any{
		string(Readings): c.Readings, string(UplinkDedupe): c.UplinkDedupe, string(IdempotencyKeys): c.IdempotencyKeys,
	}
}

// Options tune a Pruner; zero values take the defaults.
type Options struct {
	// MaxBatches bounds the batches of each kind per Run:
	// DefaultMaxBatches when 0, no bound when negative (parkctl, which
	// runs to completion).
	MaxBatches int
	// Wait makes each batch wait for the lock (parkctl: run to completion,
	// between another instance's batches) instead of ending the run when
	// another instance holds it (parkd).
	Wait bool
	// Metrics counts what was deleted; nil counts nothing.
	Metrics *Metrics

	// afterBatch, set by tests only, runs after a batch's delete and
	// before its COMMIT, while the batch still holds the lock.
	afterBatch func(Kind)
}

// Pruner deletes rows past retention across tenants, in batches, through
// the maint functions. It is safe for concurrent use.
type Pruner struct {
	db   *tenancy.Store
	opts Options
}

// NewPruner returns a Pruner on db, whose login must be a member of
// park_app (parkd's park_server; parkctl's park_admin through park_owner).
func NewPruner(db *tenancy.Store, opts Options) *Pruner {
	if opts.MaxBatches == 0 {
		opts.MaxBatches = DefaultMaxBatches
	}
	return &Pruner{db: db, opts: opts}
}

// Batch prunes one batch of kind k in one transaction as park_app: take the
// maintenance lock, call the kind's maint function, commit. It returns the
// rows deleted, and ok false (nothing done) when Options.Wait is off and
// another transaction holds the lock. A batch that met a locked row (the
// functions' lock_timeout) is tried again, up to three times.
func (p *Pruner) Batch(ctx context.Context, k Kind) (n int64, ok bool, err error) {
	q, known := pruneSQL[k]
	if !known {
		return 0, false, fmt.Errorf("prune: unknown kind %q", k)
	}
	for attempt := 1; ; attempt++ {
		n, ok, err = p.batch(ctx, k, q)
		if err == nil || !errors.Is(err, tenancy.ErrSerialization) || attempt == maxAttempts || ctx.Err() != nil {
			break
		}
	}
	if err != nil {
		return 0, false, fmt.Errorf("prune %s: %w", k, err)
	}
	if ok {
		p.opts.Metrics.pruned(k, n)
	}
	return n, ok, nil
}

func (p *Pruner) batch(ctx context.Context, k Kind, q string) (n int64, ok bool, err error) {
	err = p.db.AppTx(ctx, func(tx pgx.Tx) error {
		if p.opts.Wait {
			if _, err := tx.Exec(ctx, `select pg_advisory_xact_lock($1::bigint)`, lockKey); err != nil {
				return err
			}
		} else {
			if err := tx.QueryRow(ctx, `select pg_try_advisory_xact_lock($1::bigint)`, lockKey).Scan(&ok); err != nil {
				return err
			}
			if !ok {
				return nil
			}
		}
		ok = true
		if err := tx.QueryRow(ctx, q).Scan(&n); err != nil {
			return err
		}
		if p.opts.afterBatch != nil {
			p.opts.afterBatch(k)
		}
		return nil
	})
	if err != nil {
		return 0, false, err
	}
	return n, ok, nil
}

// Result is what one Run did.
type Result struct {
	// Deleted are the rows deleted, by kind.
	Deleted Counts
	// Batches is the number of batches that ran (took the lock).
	Batches int
	// Busy reports that another instance held the lock: this run stopped
	// there and left the rest to it.
	Busy bool
	// More lists the kinds that reached Options.MaxBatches with full
	// batches: rows past retention remain for the next run.
	More []Kind
}

// Run prunes every kind in turn, batch after batch until a batch deletes
// fewer than BatchSize rows or the kind has had Options.MaxBatches batches.
// Without Options.Wait it stops at the first batch that finds the lock
// taken (Result.Busy). On an error the result holds what was deleted before
// it.
func (p *Pruner) Run(ctx context.Context) (*Result, error) {
	res := &Result{}
	for _, k := range Kinds {
		for i := 0; p.opts.MaxBatches < 0 || i < p.opts.MaxBatches; i++ {
			n, ok, err := p.Batch(ctx, k)
			if err != nil {
				// A run cancelled by its caller (parkd stopping) did not fail.
				if !errors.Is(ctx.Err(), context.Canceled) {
					p.opts.Metrics.run("error")
				}
				return res, err
			}
			if !ok {
				res.Busy = true
				p.opts.Metrics.run("busy")
				return res, nil
			}
			res.Batches++
			res.Deleted.Add(k, n)
			if n < BatchSize {
				break
			}
			if i+1 == p.opts.MaxBatches {
				res.More = append(res.More, k)
			}
		}
	}
	p.opts.Metrics.run("done")
	return res, nil
}

// LogAttrs are a run's outcome as log attributes: the counts, the batches,
// the duration and the result (done, busy, more, stopped or failed, the
// last with the error).
func (r *Result) LogAttrs(took time.Duration, err error) []slog.Attr {
	result := "done"
	switch {
	case errors.Is(err, errStopped):
		result, err = "stopped", nil
	case err != nil:
		result = "failed"
	case r.Busy:
		result = "busy"
	case len(r.More) > 0:
		result = "more"
	}
	attrs := []slog.Attr{
		slog.String("result", result),
		slog.Int64(string(Readings), r.Deleted.Readings),
		slog.Int64(string(UplinkDedupe), r.Deleted.UplinkDedupe),
		slog.Int64(string(IdempotencyKeys), r.Deleted.IdempotencyKeys),
		slog.Int("batches", r.Batches),
		slog.Duration("duration", took),
	}
	if len(r.More) > 0 {
		more := make([]string, len(r.More))
		for i, k := range r.More {
			more[i] = string(k)
		}
		attrs = append(attrs, slog.Any("more", more))
	}
	if err != nil {
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	return attrs
}
