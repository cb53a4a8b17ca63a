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

// Get returns one reservation of the tenant, whatever its status and
// whether or not its space still exists; another tenant's is ErrNotFound.
func (s *Store) Get(ctx context.Context, tenantID, id uuid.UUID) (*Reservation, error) {
	var res Reservation
	var b pgx.Batch
	b.Queue(`select `+columns+` from reservations where tenant_id = $1 and id = $2`, tenantID, id).
		QueryRow(func(r pgx.Row) (err error) {
			res, err = scan(r)
			return err
		})
	if err := s.db.InTenantBatch(ctx, tenantID, &b); err != nil {
		if errors.Is(err, tenancy.ErrNotFound) {
			return nil, fmt.Errorf("reservation %s: %w", id, tenancy.ErrNotFound)
		}
		return nil, fmt.Errorf("get reservation %s: %w", id, err)
	}
	return &res, nil
}

// ListParams select and page the reservations List returns.
type ListParams struct {
	TenantID uuid.UUID
	// SpaceID keeps one space's reservations; uuid.Nil keeps all.
	SpaceID uuid.UUID
	// From and To keep the reservations that overlap [From, To); a zero
	// bound is open.
	From, To time.Time
	// Status keeps one status; "" keeps both.
	Status string
	// Page is the page to return. The list is ordered by (starts_at, id),
	// and a tenancy.Cursor holds that position (its CreatedAt field
	// carries starts_at).
	Page tenancy.PageParams
}

// List returns one page of the tenant's reservations in start order,
// including those of deleted spaces.
func (s *Store) List(ctx context.Context, p *ListParams) (*tenancy.Page[Reservation], error) {
	var v tenancy.ValidationError
	limit := p.Page.Limit
	switch {
	case limit == 0:
		limit = tenancy.DefaultPageLimit
	case limit < 0 || limit > tenancy.MaxPageLimit:
		v.Add("limit", fmt.Sprintf("must be between 1 and %d", tenancy.MaxPageLimit))
	}
	if p.Status != "" && !ValidStatus(p.Status) {
		v.Add("status", "must be confirmed or cancelled")
	}
	for _, b := range []struct {
		field string
		t     time.Time
	}{{"from", p.From}, {"to", p.To}} {
		if !b.t.IsZero() {
			v.CheckTime(b.field, b.t)
		}
	}
	if !p.From.IsZero() && !p.To.IsZero() && !p.To.After(p.From) {
		v.Add("to", "must be after from")
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	var space *uuid.UUID
	if p.SpaceID != uuid.Nil {
		space = &p.SpaceID
	}
	var status *string
	if p.Status != "" {
		status = &p.Status
	}
	// Before any timestamp PostgreSQL stores: the first page.
	afterAt, afterID := time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), uuid.Nil
	if p.Page.After != nil {
		afterAt, afterID = p.Page.After.CreatedAt, p.Page.After.ID
	}
	var rows []Reservation
	var b pgx.Batch
	b.Queue(`select `+columns+` from reservations
		  where tenant_id = $1
		    and ($2::uuid is null or space_id = $2)
		    and ($3::text is null or status = $3)
		    and during && tstzrange($4, $5, '[)')
		    and (lower(during), id) > ($6, $7)
		  order by lower(during), id limit $8`,
		p.TenantID, space, status, nullTime(p.From), nullTime(p.To), afterAt, afterID, limit+1).
		Query(func(r pgx.Rows) error {
			var err error
			rows, err = pgx.CollectRows(r, func(row pgx.CollectableRow) (Reservation, error) { return scan(row) })
			return err
		})
	if err := s.db.InTenantBatch(ctx, p.TenantID, &b); err != nil {
		return nil, fmt.Errorf("list reservations: %w", err)
	}
	page := &tenancy.Page[Reservation]{Items: rows}
	if page.Items == nil {
		page.Items = []Reservation{}
	}
	if len(rows) > limit {
		page.Items = rows[:limit]
		last := rows[limit-1]
		page.Next = &tenancy.Cursor{CreatedAt: last.StartsAt, ID: last.ID}
	}
	return page, nil
}

// nullTime is nil for the zero time: an open range bound.
func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// CancelParams are the inputs of Cancel.
type CancelParams struct {
	TenantID uuid.UUID
	Actor    string
	ID       uuid.UUID
}

// Cancel cancels a confirmed reservation, which frees its slot at once. A
// reservation already cancelled is returned unchanged (cancelling is
// idempotent); one that has ended is ErrConflict, as it is history; another
// tenant's is ErrNotFound. An ongoing reservation may be cancelled: the rest
// of its slot is freed.
func (s *Store) Cancel(ctx context.Context, p *CancelParams) (*Reservation, error) {
	if p.Actor == "" {
		return nil, errors.New("reservation: cancel without an actor")
	}
	var res Reservation
	err := s.retry(ctx, func() error {
		return s.db.InTenantTx(ctx, p.TenantID, func(tx pgx.Tx) error {
			var err error
			res, err = scan(tx.QueryRow(ctx,
				`select `+columns+` from reservations where tenant_id = $1 and id = $2 for update`, p.TenantID, p.ID))
			if err != nil {
				return err
			}
			if res.Status == StatusCancelled {
				return nil
			}
			if !res.EndsAt.After(s.now()) {
				return fmt.Errorf("it ended at %s, and a past reservation stays as it was: %w",
					res.EndsAt.Format(time.RFC3339), tenancy.ErrConflict)
			}
			res, err = scan(tx.QueryRow(ctx,
				`update reservations set status = 'cancelled', cancelled_at = now()
				  where tenant_id = $1 and id = $2
				  returning `+columns, p.TenantID, p.ID))
			if err != nil {
				return err
			}
			return tenancy.AppendAudit(ctx, tx, tenancy.AuditEvent{Actor: p.Actor, Action: "reservation.cancel",
				Target: p.ID.String(), Details: map[string]any{"space_id": res.SpaceID, "starts_at": res.StartsAt, "ends_at": res.EndsAt}})
		})
	})
	if err != nil {
		if errors.Is(err, tenancy.ErrNotFound) {
			return nil, fmt.Errorf("reservation %s: %w", p.ID, tenancy.ErrNotFound)
		}
		return nil, fmt.Errorf("cancel reservation %s: %w", p.ID, err)
	}
	return &res, nil
}
