package tenancy

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Ops holds the operator-only methods (tenants_ops.go, tenants_delete.go): the ones that act
// across tenants as park_ops, or change what only operators may change (a
// tenant's status and rate limits). They live on their own type rather than
// on Store so that server code, which holds a Store, cannot call them by
// mistake: parkctl makes an Ops with NewOps on the park_admin login.
// It is safe for concurrent use.
type Ops struct {
	store *Store
}

// NewOps returns an Ops on pool. The pool's login must be a member of
// park_ops and park_app (the park_admin login): the cross-tenant reads and
// operator writes run as park_ops, tenant creation as park_app (with the
// tenant prologue opts select; see WithTenantPrologue).
func NewOps(pool *pgxpool.Pool, opts ...StoreOption) *Ops {
	return &Ops{store: NewStore(pool, opts...)}
}

// OpsTx runs fn in a transaction as park_ops, which bypasses row-level
// security, for parkctl's cross-tenant reads, audits and operator-only
// writes, and commits when fn returns nil. No tenant is set. The pool's
// login must be a member of park_ops (the park_admin login); parkd never
// calls this (parkd dev's demo set-up aside, which uses the admin login).
func (o *Ops) OpsTx(ctx context.Context, fn func(pgx.Tx) error) error {
	return o.store.opsTx(ctx, fn)
}

// TenantByID returns the tenant with id, across tenants (as park_ops), or
// an error matching ErrNotFound.
func (o *Ops) TenantByID(ctx context.Context, id uuid.UUID) (*Tenant, error) {
	var t Tenant
	err := o.OpsTx(ctx, func(tx pgx.Tx) error {
		var err error
		t, err = scanTenant(tx.QueryRow(ctx, `select `+tenantColumns+` from tenants where id = $1::uuid`, id))
		return missing(ctx, tx, err)
	})
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil, fmt.Errorf("tenant %s: %w", id, ErrNotFound)
		}
		return nil, fmt.Errorf("get tenant %s: %w", id, err)
	}
	return &t, nil
}
