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

// AppTx runs fn in a transaction as park_app with no tenant set: row-level
// security shows it nothing, and all it can do is call the SECURITY
// DEFINER functions granted to park_app (look-ups before a tenant is known,
// counts across tenants). A transaction rather than one batch: pgx prepares
// a batch's statements before running any, and the login role may not even
// name those functions' schemas until the prologue has made it park_app.
func (s *Store) AppTx(ctx context.Context, fn func(pgx.Tx) error) error {
	return inTx(ctx, s.pool, statement(appPrologue), fn)
}

// WebhookTenant looks a tenant up by the slug of a webhook URL through
// auth.tenant_by_slug, the SECURITY DEFINER look-up that returns only these
// fields: parkd's login reaches one tenant at a time and cannot read the
// tenants table before it knows which. An unknown slug is ErrNotFound; the
// caller answers it exactly as a bad secret, so a slug's existence is not
// revealed.
func (s *Store) WebhookTenant(ctx context.Context, slug string) (*WebhookTenant, error) {
	var t WebhookTenant
	err := s.AppTx(ctx, func(tx pgx.Tx) error {
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
