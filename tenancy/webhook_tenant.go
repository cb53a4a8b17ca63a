package tenancy

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// WebhookTenant is what authenticating a webhook needs to know about the
// tenant its URL names, before the tenant is known: its id (to read its
// secrets under row-level security), its status and its settings (token
// mode, occupancy rule, limits).
type WebhookTenant struct {
	ID       uuid.UUID
	Status   string
	Settings Settings
}

// appPrologue makes a transaction park_app without a tenant: enough for
// the SECURITY DEFINER look-ups, nothing else.
const appPrologue = `select set_config('role', 'park_app', true)`

// WebhookTenant looks a tenant up by the slug of a webhook URL through
// auth.tenant_by_slug, the SECURITY DEFINER look-up that returns only these
// fields: parkd's login reaches one tenant at a time and cannot read the
// tenants table before it knows which. An unknown slug is ErrNotFound; the
// caller answers it exactly as a bad secret, so a slug's existence is not
// revealed.
func (s *Store) WebhookTenant(ctx context.Context, slug string) (*WebhookTenant, error) {
	var t WebhookTenant
	// A transaction rather than one batch: pgx prepares a batch's
	// statements before running any of them, and the login role may not
	// even name schema auth until the prologue has made it park_app.
	err := inTx(ctx, s.pool, appPrologue, nil, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `select id, status, settings from auth.tenant_by_slug($1::text)`, slug).
			Scan(&t.ID, &t.Status, &t.Settings)
	})
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("webhook tenant: %w", ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("webhook tenant: %w", err)
	}
	return &t, nil
}
