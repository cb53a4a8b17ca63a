package retention

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/parkhq/park/tenancy"
)

// auditTimeout bounds the writing of the audit event after a cancelled
// prune.
const auditTimeout = 10 * time.Second

// AuditAction is the action of the audit event a prune by parkctl writes.
const AuditAction = "readings.prune"

// The predicates of "past retention", as park_app with the tenant set and
// as park_ops across tenants. They are the ones of the maint functions of
// migration 00014 (the readings' cut-off is the same SQL function,
// reading_retention_days), so a dry run counts exactly what a prune
// deletes; the tests compare the two.
const (
	// tenantCutoff is now() minus the retention of tenant $1.
	tenantCutoff = `now() - make_interval(days => (select public.reading_retention_days(t.settings)
	                                                from tenants t where t.id = $1::uuid))`
	dedupeCutoff = `now() - interval '7 days'`
)

// tenantPruneSQL deletes one batch ($2 rows at most) of tenant $1's rows of
// each kind, found through the same indexes as the maint functions and
// deleted by ctid.
var tenantPruneSQL = map[Kind]string{
	Readings: `with gone as (
		delete from sensor_readings d
		 where d.ctid = any (array(
		         select s.ctid from sensor_readings s
		          where s.tenant_id = $1::uuid and s.received_at < ` + tenantCutoff + `
		          order by s.received_at limit $2::integer))
		returning 1)
		select count(*) from gone`,
	UplinkDedupe: `with gone as (
		delete from uplink_dedupe d
		 where d.ctid = any (array(
		         select x.ctid from uplink_dedupe x
		          where x.tenant_id = $1::uuid and x.seen_at < ` + dedupeCutoff + `
		          order by x.seen_at limit $2::integer))
		   and d.seen_at < ` + dedupeCutoff + `
		returning 1)
		select count(*) from gone`,
	IdempotencyKeys: `with gone as (
		delete from idempotency_keys k
		 where k.ctid = any (array(
		         select x.ctid from idempotency_keys x
		          where x.tenant_id = $1::uuid and x.expires_at <= now()
		          order by x.expires_at limit $2::integer))
		   and k.expires_at <= now()
		returning 1)
		select count(*) from gone`,
}

// tenantCountSQL counts tenant $1's rows past retention, kind by kind.
const tenantCountSQL = `select
	(select count(*) from sensor_readings s where s.tenant_id = $1::uuid and s.received_at < ` + tenantCutoff + `),
	(select count(*) from uplink_dedupe x where x.tenant_id = $1::uuid and x.seen_at < ` + dedupeCutoff + `),
	(select count(*) from idempotency_keys x where x.tenant_id = $1::uuid and x.expires_at <= now())`

// PruneTenant deletes the tenant's rows past retention — its readings
// older than its reading_retention_days, its dedupe rows older than 7 days,
// its expired idempotency keys — in batches of BatchSize, each a
// transaction as park_app with the tenant set, until none is left. It then
// records one "readings.prune" event with the counts in the tenant's audit
// log under actor. No maintenance lock is needed: row-level security keeps
// it to the tenant, and a row deleted by a concurrent run is counted by
// that run alone. On an error the counts so far come back with it (and are
// audited when any row went).
func (p *Pruner) PruneTenant(ctx context.Context, tenantID uuid.UUID, actor string) (Counts, error) {
	var c Counts
	if actor == "" {
		return c, errors.New("prune tenant: no actor")
	}
	var err error
	for _, k := range Kinds {
		for {
			var n int64
			err = p.db.InTenantTx(ctx, tenantID, func(tx pgx.Tx) error {
				return tx.QueryRow(ctx, tenantPruneSQL[k], tenantID, BatchSize).Scan(&n)
			})
			if err != nil {
				err = fmt.Errorf("prune %s of tenant %s: %w", k, tenantID, err)
				break
			}
			c.Add(k, n)
			if n < BatchSize {
				break
			}
		}
		if err != nil {
			break
		}
	}
	if err != nil && c.Total() == 0 {
		return c, err
	}
	// What was deleted is recorded even when the run was cancelled.
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), auditTimeout)
	defer cancel()
	aerr := p.db.InTenantTx(actx, tenantID, func(tx pgx.Tx) error {
		return tenancy.AppendAudit(actx, tx, tenancy.AuditEvent{Actor: actor, Action: AuditAction,
			Target: tenantID.String(), Details: c.details()})
	})
	if aerr != nil {
		aerr = fmt.Errorf("prune tenant %s: %w", tenantID, aerr)
	}
	return c, errors.Join(err, aerr)
}

// CountTenant counts the tenant's rows past retention, by kind, without
// deleting anything (a dry run), as park_app with the tenant set.
func (p *Pruner) CountTenant(ctx context.Context, tenantID uuid.UUID) (Counts, error) {
	var c Counts
	err := p.db.InTenantTx(ctx, tenantID, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, tenantCountSQL, tenantID).Scan(&c.Readings, &c.UplinkDedupe, &c.IdempotencyKeys)
	})
	if err != nil {
		return Counts{}, fmt.Errorf("count prunable rows of tenant %s: %w", tenantID, err)
	}
	return c, nil
}

// Ops holds the operator-only retention methods, which act across tenants
// as park_ops (parkctl's park_admin login). They are not on Pruner, which
// parkd holds.
type Ops struct {
	db *tenancy.Ops
}

// NewOps returns the operator methods on ops.
func NewOps(ops *tenancy.Ops) *Ops { return &Ops{db: ops} }

// countAllSQL counts the rows past retention of every tenant, by kind: the
// readings with one index range count per tenant, as the maint function
// finds them.
const countAllSQL = `select
	(select coalesce(sum(n), 0)::bigint
	   from tenants t
	  cross join lateral (select count(*) as n from sensor_readings s
	                       where s.tenant_id = t.id
	                         and s.received_at < now() - make_interval(days => public.reading_retention_days(t.settings))) r),
	(select count(*) from uplink_dedupe x where x.seen_at < ` + dedupeCutoff + `),
	(select count(*) from idempotency_keys x where x.expires_at <= now())`

// Count counts the rows past retention of every tenant, by kind, without
// deleting anything (a dry run).
func (o *Ops) Count(ctx context.Context) (Counts, error) {
	var c Counts
	err := o.db.OpsTx(ctx, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, countAllSQL).Scan(&c.Readings, &c.UplinkDedupe, &c.IdempotencyKeys)
	})
	if err != nil {
		return Counts{}, fmt.Errorf("count prunable rows: %w", err)
	}
	return c, nil
}

// RecordPrune writes the platform event (platform_events: it belongs to no
// tenant) of a prune across every tenant: the counts, under actor.
func (o *Ops) RecordPrune(ctx context.Context, actor string, c Counts) error {
	err := o.db.OpsTx(ctx, func(tx pgx.Tx) error {
		return tenancy.AppendPlatformEvent(ctx, tx, tenancy.AuditEvent{Actor: actor, Action: AuditAction, Details: c.details()})
	})
	if err != nil {
		return fmt.Errorf("audit prune: %w", err)
	}
	return nil
}
