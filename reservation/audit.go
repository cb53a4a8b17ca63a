package reservation

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/parkhq/park/tenancy"
)

// Kinds of audit findings.
const (
	// FindingConflict: two confirmed reservations of one space overlap
	// (a row of reservation_conflicts). Only a missing EXCLUDE constraint
	// lets this happen.
	FindingConflict = "conflict"
	// FindingDeletedSpace: a confirmed reservation on a deleted space that
	// had not ended when the space was deleted, or was made after. Space
	// deletion refuses while such reservations exist and booking refuses
	// deleted spaces, so either check was bypassed. Reservations that were
	// over before the deletion are history, not findings.
	FindingDeletedSpace = "deleted_space"
	// FindingTenantMismatch: a reservation whose space is not a space of
	// the reservation's tenant (missing, or another tenant's). Only a
	// missing composite foreign key lets this happen.
	FindingTenantMismatch = "tenant_mismatch"
)

// Finding is one integrity problem the audit found.
type Finding struct {
	Kind          string    `json:"kind"`
	TenantID      uuid.UUID `json:"tenant_id"`
	TenantSlug    string    `json:"tenant_slug"`
	SpaceID       uuid.UUID `json:"space_id"`
	ReservationID uuid.UUID `json:"reservation_id"`
	StartsAt      time.Time `json:"starts_at"`
	EndsAt        time.Time `json:"ends_at"`
	// ConflictingID is the other reservation of a conflict.
	ConflictingID *uuid.UUID `json:"conflicting_id,omitempty"`
	// Detail says what is wrong, for people.
	Detail string `json:"detail"`
}

// DefaultAuditLimit is how many findings of each kind Audit reports unless
// told otherwise.
const DefaultAuditLimit = 1000

// AuditParams narrow an audit.
type AuditParams struct {
	// TenantSlug audits one tenant; "" audits all. An unknown slug is
	// ErrNotFound.
	TenantSlug string
	// Limit caps the findings of each kind; 0 means DefaultAuditLimit.
	Limit int
}

// AuditReport is what an audit found. No findings means clean.
type AuditReport struct {
	Findings []Finding `json:"findings"`
	// Truncated reports that some kind had more findings than the limit.
	Truncated bool `json:"truncated"`
}

// Audit looks for reservations that break the invariants of DESIGN §7:
// overlapping confirmed reservations (the reservation_conflicts view),
// confirmed reservations on deleted spaces, and reservations whose space
// belongs to no space of their tenant. It reads as park_ops, which
// bypasses row-level security; when the login cannot act as park_ops, or
// the role it runs as does not see every tenant, it returns
// ErrPartialView and never a clean report.
func (s *Ops) Audit(ctx context.Context, p *AuditParams) (*AuditReport, error) {
	limit := p.Limit
	if limit <= 0 {
		limit = DefaultAuditLimit
	}
	rep := &AuditReport{Findings: []Finding{}}
	err := s.db.OpsTx(ctx, func(tx pgx.Tx) error {
		var role string
		var seesAll bool
		if err := tx.QueryRow(ctx,
			`select current_user, rolsuper or rolbypassrls from pg_roles where rolname = current_user`).Scan(&role, &seesAll); err != nil {
			return fmt.Errorf("inspect role: %w", err)
		}
		if !seesAll {
			return fmt.Errorf("role %s is subject to row-level security: %w", role, ErrPartialView)
		}
		var tenant *uuid.UUID
		if p.TenantSlug != "" {
			var id uuid.UUID
			err := tx.QueryRow(ctx, `select id from tenants where slug = $1`, p.TenantSlug).Scan(&id)
			if errors.Is(err, pgx.ErrNoRows) {
				return fmt.Errorf("tenant %q: %w", p.TenantSlug, tenancy.ErrNotFound)
			}
			if err != nil {
				return fmt.Errorf("find tenant: %w", err)
			}
			tenant = &id
		}
		for _, check := range []func(context.Context, pgx.Tx, *uuid.UUID, int) ([]Finding, error){
			auditConflicts, auditDeletedSpaces, auditTenantMismatches,
		} {
			found, err := check(ctx, tx, tenant, limit+1)
			if err != nil {
				return err
			}
			if len(found) > limit {
				found, rep.Truncated = found[:limit], true
			}
			rep.Findings = append(rep.Findings, found...)
		}
		return nil
	})
	if err != nil {
		var dbErr *tenancy.DBError
		if errors.As(err, &dbErr) && dbErr.Code == "42501" { // insufficient_privilege: SET ROLE park_ops refused
			return nil, fmt.Errorf("audit reservations: the login cannot act as %s: %w", tenancy.OpsRole, ErrPartialView)
		}
		return nil, fmt.Errorf("audit reservations: %w", err)
	}
	return rep, nil
}

func auditConflicts(ctx context.Context, tx pgx.Tx, tenant *uuid.UUID, limit int) ([]Finding, error) {
	rows, err := tx.Query(ctx, `
		select c.tenant_id, coalesce(t.slug, ''), c.space_id, c.reservation_id,
		       lower(c.reservation_during), upper(c.reservation_during),
		       c.conflicting_id, lower(c.conflicting_during), upper(c.conflicting_during)
		  from reservation_conflicts c
		  left join tenants t on t.id = c.tenant_id
		 where $1::uuid is null or c.tenant_id = $1
		 order by c.tenant_id, c.space_id, lower(c.reservation_during), c.reservation_id, c.conflicting_id
		 limit $2`, tenant, limit)
	if err != nil {
		return nil, fmt.Errorf("audit conflicts: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Finding, error) {
		f := Finding{Kind: FindingConflict}
		var other uuid.UUID
		var otherStart, otherEnd time.Time
		err := r.Scan(&f.TenantID, &f.TenantSlug, &f.SpaceID, &f.ReservationID, &f.StartsAt, &f.EndsAt,
			&other, &otherStart, &otherEnd)
		f.StartsAt, f.EndsAt = f.StartsAt.UTC(), f.EndsAt.UTC()
		f.ConflictingID = &other
		f.Detail = fmt.Sprintf("confirmed reservations %s [%s, %s) and %s [%s, %s) overlap on one space",
			f.ReservationID, rfc(f.StartsAt), rfc(f.EndsAt), other, rfc(otherStart), rfc(otherEnd))
		return f, err
	})
}

func auditDeletedSpaces(ctx context.Context, tx pgx.Tx, tenant *uuid.UUID, limit int) ([]Finding, error) {
	rows, err := tx.Query(ctx, `
		select r.tenant_id, coalesce(t.slug, ''), r.space_id, r.id, lower(r.during), upper(r.during), s.deleted_at
		  from reservations r
		  join spaces s on s.tenant_id = r.tenant_id and s.id = r.space_id
		  left join tenants t on t.id = r.tenant_id
		 where r.status = 'confirmed' and s.deleted_at is not null
		   and (upper(r.during) > s.deleted_at or r.created_at >= s.deleted_at)
		   and ($1::uuid is null or r.tenant_id = $1)
		 order by r.tenant_id, r.space_id, lower(r.during), r.id
		 limit $2`, tenant, limit)
	if err != nil {
		return nil, fmt.Errorf("audit deleted spaces: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Finding, error) {
		f := Finding{Kind: FindingDeletedSpace}
		var deletedAt time.Time
		err := r.Scan(&f.TenantID, &f.TenantSlug, &f.SpaceID, &f.ReservationID, &f.StartsAt, &f.EndsAt, &deletedAt)
		f.StartsAt, f.EndsAt = f.StartsAt.UTC(), f.EndsAt.UTC()
		f.Detail = fmt.Sprintf("confirmed reservation [%s, %s) on a space deleted at %s",
			rfc(f.StartsAt), rfc(f.EndsAt), rfc(deletedAt))
		return f, err
	})
}

func auditTenantMismatches(ctx context.Context, tx pgx.Tx, tenant *uuid.UUID, limit int) ([]Finding, error) {
	rows, err := tx.Query(ctx, `
		select r.tenant_id, coalesce(t.slug, ''), r.space_id, r.id, lower(r.during), upper(r.during), o.tenant_id
		  from reservations r
		  left join tenants t on t.id = r.tenant_id
		  left join spaces s on s.tenant_id = r.tenant_id and s.id = r.space_id
		  left join lateral (
		        select x.tenant_id from spaces x
		         where x.id = r.space_id and x.tenant_id <> r.tenant_id
		         order by x.tenant_id limit 1) o on true
		 where s.id is null
		   and ($1::uuid is null or r.tenant_id = $1 or o.tenant_id = $1)
		 order by r.tenant_id, r.space_id, lower(r.during), r.id
		 limit $2`, tenant, limit)
	if err != nil {
		return nil, fmt.Errorf("audit tenant mismatches: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Finding, error) {
		f := Finding{Kind: FindingTenantMismatch}
		var owner *uuid.UUID
		err := r.Scan(&f.TenantID, &f.TenantSlug, &f.SpaceID, &f.ReservationID, &f.StartsAt, &f.EndsAt, &owner)
		f.StartsAt, f.EndsAt = f.StartsAt.UTC(), f.EndsAt.UTC()
		if owner != nil {
			f.Detail = fmt.Sprintf("the space belongs to tenant %s, not to the reservation's tenant", owner)
		} else {
			f.Detail = "the space does not exist"
		}
		return f, err
	})
}

func rfc(t time.Time) string { return t.UTC().Format(time.RFC3339) }
