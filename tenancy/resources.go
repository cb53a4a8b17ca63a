package tenancy

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// This file holds what the resource stores (tenants, sites, spaces,
// members, API keys) share: error shaping and the one-round-trip read path.
//
// Store methods return errors a client may read: not-found and conflict
// errors are rebuilt here without the *DBError they came from (whose
// message quotes SQL context and which internal/httpapi never exposes),
// while unexpected database failures keep their *DBError for the log.

// constraintOf returns the constraint a translated database error blames,
// or "".
func constraintOf(err error) string {
	var dbErr *DBError
	if errors.As(err, &dbErr) {
		return dbErr.Constraint
	}
	return ""
}

// notFound returns "<what> <id>: not found" when err means not found, and
// nil otherwise.
func notFound(err error, what string, id uuid.UUID) error {
	if errors.Is(err, ErrNotFound) {
		return fmt.Errorf("%s %s: %w", what, id, ErrNotFound)
	}
	return nil
}

// requireActor refuses a write without an actor for the audit log: that is
// a programming error of the caller, not a client's.
func requireActor(actor string) error {
	if actor == "" {
		return errors.New("tenancy: write without an actor")
	}
	return nil
}

// queryRow runs one single-row query in the tenant's scope in one round
// trip (InTenantBatch) and scans it with scan.
func (s *Store) queryRow(ctx context.Context, tenantID uuid.UUID, scan func(pgx.Row) error, sql string, args ...any) error {
	var b pgx.Batch
	b.Queue(sql, args...).QueryRow(scan)
	return s.InTenantBatch(ctx, tenantID, &b)
}

// queryPage runs a keyset-paginated list query in the tenant's scope in one
// round trip. The query must end with `limit $n` and be given limit+1, so
// the extra row tells whether there is a next page. The rows go straight
// into a slice made for limit+1 of them: a page is read on every list
// request, and growing the slice from nil copied it several times over.
func queryPage[T any](ctx context.Context, s *Store, tenantID uuid.UUID, limit int,
	scan func(pgx.Row) (T, error), key func(T) Cursor, sql string, args ...any) (*Page[T], error) {
	rows := make([]T, 0, limit+1)
	var b pgx.Batch
	b.Queue(sql, args...).Query(func(r pgx.Rows) error {
		for r.Next() {
			v, err := scan(r)
			if err != nil {
				return err
			}
			rows = append(rows, v)
		}
		return r.Err()
	})
	if err := s.InTenantBatch(ctx, tenantID, &b); err != nil {
		return nil, err
	}
	return pageOf(rows, limit, key), nil
}

// getByID reads one object of the tenant with sql, which takes the tenant
// as $1 and the id as $2. A missing row — or another tenant's, which RLS
// hides — is ErrNotFound naming noun and id.
func getByID[T any](ctx context.Context, s *Store, tenantID, id uuid.UUID, noun string,
	scan func(pgx.Row) (T, error), sql string) (*T, error) {
	var v T
	err := s.queryRow(ctx, tenantID, func(r pgx.Row) (err error) {
		v, err = scan(r)
		return err
	}, sql, tenantID, id)
	if err != nil {
		if nf := notFound(err, noun, id); nf != nil {
			return nil, nf
		}
		return nil, fmt.Errorf("get %s %s: %w", noun, id, err)
	}
	return &v, nil
}

// listByCreation reads one page of the tenant's objects in (created_at,
// id) order with sql, which takes the tenant as $1, the cursor as ($2, $3)
// and the row limit as $4. what names the list in errors ("sites").
func listByCreation[T any](ctx context.Context, s *Store, tenantID uuid.UUID, page PageParams, what string,
	scan func(pgx.Row) (T, error), key func(T) Cursor, sql string) (*Page[T], error) {
	var v ValidationError
	limit := page.limit(&v)
	if err := v.Err(); err != nil {
		return nil, err
	}
	afterAt, afterID := page.after()
	p, err := queryPage(ctx, s, tenantID, limit, scan, key, sql, tenantID, afterAt, afterID, limit+1)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", what, err)
	}
	return p, nil
}
