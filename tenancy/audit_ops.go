package tenancy

// This file holds the operator's read of the audit log (parkctl audit):
// across tenants, platform events included, as park_ops. Tenant admins read
// their own tenant's events with Store.AuditList (team.go), under row-level
// security.

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// MaxAuditListAll bounds how many events one AuditListAll returns: enough
// for an investigation, small enough that a mistyped limit does not pull
// the whole log into an operator's terminal.
const MaxAuditListAll = 10_000

// OpsAuditEntry is an audit event as an operator reads it: the event with
// the tenant it belongs to. Platform events, which belong to no tenant,
// have a nil TenantID and TenantSlug.
type OpsAuditEntry struct {
	AuditEntry
	TenantID *uuid.UUID `json:"tenant_id"`
	// TenantSlug is the tenant's slug now (a slug never changes today, but
	// the id is the lasting name).
	TenantSlug *string `json:"tenant_slug"`
}

// AuditListAllParams filter AuditListAll. The zero value lists the newest
// DefaultPageLimit events of every tenant and of the platform.
type AuditListAllParams struct {
	// TenantID, when set, keeps that tenant's events only (platform events
	// are then left out); nil keeps every tenant's and the platform's.
	TenantID *uuid.UUID
	// Action, when set, keeps events of exactly this action.
	Action string
	// Since, when set, keeps events at or after it.
	Since *time.Time
	// Limit is how many events to return at most: 1 to MaxAuditListAll;
	// 0 means DefaultPageLimit.
	Limit int
}

// AuditListAll returns audit events newest first (by time, then id), as
// park_ops: of one tenant, or of every tenant together with the platform
// events when p.TenantID is nil. A role that row-level security would
// limit yields ErrPartialView rather than a short list. Invalid filters are
// a *ValidationError.
func (o *Ops) AuditListAll(ctx context.Context, p AuditListAllParams) ([]OpsAuditEntry, error) {
	var v ValidationError
	limit := p.Limit
	switch {
	case limit == 0:
		limit = DefaultPageLimit
	case limit < 0 || limit > MaxAuditListAll:
		v.Add("limit", fmt.Sprintf("must be between 1 and %d", MaxAuditListAll))
	}
	if len(p.Action) > 100 {
		v.Add("action", "must be at most 100 bytes")
	}
	since := time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
	if p.Since != nil && v.CheckTime("since", *p.Since) {
		since = *p.Since
	}
	if p.TenantID != nil && *p.TenantID == uuid.Nil {
		v.Add("tenant_id", "must not be the nil UUID")
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	var list []OpsAuditEntry
	err := o.OpsTx(ctx, func(tx pgx.Tx) error {
		if err := requireFullView(ctx, tx); err != nil {
			return err
		}
		// park_ops bypasses row-level security: the tenant filter here is
		// the only thing that keeps other tenants' events out. Platform
		// events live in a table of their own (migration 00016) and share
		// audit_events' id sequence, so (at, id) orders the two logs as
		// one.
		rows, err := tx.Query(ctx,
			`select e.id, e.actor, e.action, e.target, e.details::text, e.at, e.tenant_id, t.slug
			   from audit_events e
			   join tenants t on t.id = e.tenant_id
			  where ($1::uuid is null or e.tenant_id = $1::uuid)
			    and ($2::text = '' or e.action = $2::text)
			    and e.at >= $3::timestamptz
			 union all
			 select p.id, p.actor, p.action, p.target, p.details::text, p.at, null, null
			   from platform_events p
			  where $1::uuid is null
			    and ($2::text = '' or p.action = $2::text)
			    and p.at >= $3::timestamptz
			  order by 6 desc, 1 desc
			  limit $4::int`,
			p.TenantID, p.Action, since, limit)
		if err != nil {
			return err
		}
		list, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (OpsAuditEntry, error) {
			var e OpsAuditEntry
			var details string
			err := r.Scan(&e.ID, &e.Actor, &e.Action, &e.Target, &details, &e.At, &e.TenantID, &e.TenantSlug)
			e.Details = json.RawMessage(details)
			return e, err
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list audit events: %w", err)
	}
	if list == nil {
		list = []OpsAuditEntry{}
	}
	return list, nil
}
