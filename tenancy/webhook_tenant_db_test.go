package tenancy_test

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parkhq/park/internal/pgtest"
	"github.com/parkhq/park/tenancy"
)

func TestWebhookTenant(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	ctx := context.Background()
	if _, err := db.AdminPool(t).Exec(ctx, `with t as (
		insert into tenants (id, name, slug, status, settings)
		values (gen_random_uuid(), 'Hooks', 'hooks', 'suspended', '{"webhook_token_mode": false}') returning id, slug)
		insert into tenant_slugs (slug, tenant_id) select slug, id from t`); err != nil {
		t.Fatal(err)
	}
	// park_server reaches the tenant only through the definer look-up:
	// it can read no tenant row itself.
	for _, url := range []string{db.ServerURL, db.ServerURL + "&default_query_exec_mode=exec"} {
		cfg, err := pgxpool.ParseConfig(url)
		if err != nil {
			t.Fatal(err)
		}
		cfg.MaxConns = 1 // the check below gets the look-up's connection
		pool, err := pgxpool.NewWithConfig(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(pool.Close)
		store := tenancy.NewStore(pool)
		wt, err := store.WebhookTenant(ctx, "hooks")
		if err != nil {
			t.Fatal(err)
		}
		if wt.Status != tenancy.StatusSuspended || wt.Settings.WebhookTokenMode == nil || *wt.Settings.WebhookTokenMode {
			t.Fatalf("webhook tenant: %+v", wt)
		}
		if _, err := store.WebhookTenant(ctx, "nobody"); !errors.Is(err, tenancy.ErrNotFound) {
			t.Fatalf("unknown slug: %v", err)
		}
		// The role was set for the look-up alone.
		var role string
		if err := pool.QueryRow(ctx, `select current_user`).Scan(&role); err != nil || role != "park_server" {
			t.Fatalf("after the look-up the connection runs as %q (%v)", role, err)
		}
	}
}
