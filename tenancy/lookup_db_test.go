package tenancy_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parkhq/park/internal/pgtest"
	"github.com/parkhq/park/migrations"
	"github.com/parkhq/park/tenancy"
)

// TestLookupRowsFollowTheirRows: the global look-up tables (tenant_slugs,
// api_key_ids; migration 00016) are written in the same transaction as the
// tenant (registration, TenantCreate) or key (APIKeyCreate) they mirror,
// keep slugs unique across both ways of making a tenant, find the tenant
// for webhooks and API keys, and go with the tenant; migrate verify finds
// them in step throughout.
func TestLookupRowsFollowTheirRows(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	ctx := testCtx(t)
	store := tenancy.NewStore(db.ServerPool(t, 4))
	hasher, err := tenancy.NewHasher(4, 2)
	if err != nil {
		t.Fatal(err)
	}
	tokens, err := tenancy.NewTokens([]byte(strings.Repeat("k", 32)), nil, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	auth, err := tenancy.NewAuth(store, tenancy.AuthConfig{Hasher: hasher, Tokens: tokens, CacheTTL: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := pgxpool.ParseConfig(db.OpsURL)
	if err != nil {
		t.Fatal(err)
	}
	opsPool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(opsPool.Close)
	ops := tenancy.NewOps(opsPool)
	verify := func(when string) {
		t.Helper()
		rep, err := migrations.Verify(ctx, db.AdminURL)
		if err != nil {
			t.Fatal(err)
		}
		if !rep.OK() {
			t.Errorf("%s: verify: %q", when, rep.Problems)
		}
	}

	sess, err := auth.Register(ctx, tenancy.RegisterParams{Email: "reg@example.com", Name: "Reg", Password: "password123", TenantName: "Reg", Slug: "reg"})
	if err != nil {
		t.Fatal(err)
	}
	made, err := ops.TenantCreate(ctx, &tenancy.TenantCreateParams{Name: "Made", Slug: "made", Actor: opsActor})
	if err != nil {
		t.Fatal(err)
	}
	for slug, id := range map[string]any{"reg": sess.Tenant.ID, "made": made.ID} {
		wt, err := store.WebhookTenant(ctx, slug)
		if err != nil || wt.ID != id {
			t.Errorf("webhook tenant %q: %+v, %v; want %s", slug, wt, err, id)
		}
	}
	// A slug taken one way is refused the other way, as a conflict on it.
	if _, err := auth.Register(ctx, tenancy.RegisterParams{Email: "two@example.com", Name: "Two", Password: "password123", TenantName: "Two", Slug: "made"}); !errors.Is(err, tenancy.ErrConflict) || !strings.Contains(err.Error(), "tenant.slug") {
		t.Errorf("registering a slug TenantCreate took: %v", err)
	}
	var ce *tenancy.ConflictError
	if _, err := ops.TenantCreate(ctx, &tenancy.TenantCreateParams{Name: "Again", Slug: "reg", Actor: opsActor}); !errors.As(err, &ce) || ce.Field != "slug" {
		t.Errorf("TenantCreate with a registered slug: %v", err)
	}

	key, err := store.APIKeyCreate(ctx, &tenancy.APIKeyCreateParams{TenantID: made.ID, Name: "ci", Scopes: []string{"spaces:read"}, Actor: opsActor})
	if err != nil {
		t.Fatal(err)
	}
	p, err := auth.PrincipalFromAPIKey(ctx, key.Key)
	if err != nil || p.TenantID != made.ID {
		t.Fatalf("key of made: %+v, %v", p, err)
	}
	verify("after the writes")

	if _, err := ops.TenantSetStatus(ctx, &tenancy.TenantSetStatusParams{ID: made.ID, Status: tenancy.StatusSuspended, Actor: opsActor}); err != nil {
		t.Fatal(err)
	}
	res, err := ops.TenantDelete(ctx, &tenancy.TenantDeleteParams{ID: made.ID, Actor: opsActor})
	if err != nil {
		t.Fatal(err)
	}
	if res.Deleted["tenant_slugs"] != 1 || res.Deleted["api_key_ids"] != 1 {
		t.Errorf("deleted %v: want its slug and key id rows", res.Deleted)
	}
	if _, err := store.WebhookTenant(ctx, "made"); !errors.Is(err, tenancy.ErrNotFound) {
		t.Errorf("webhook tenant of a deleted tenant: %v", err)
	}
	if _, err := auth.PrincipalFromAPIKey(ctx, key.Key); !errors.Is(err, tenancy.ErrUnauthorized) {
		t.Errorf("key of a deleted tenant: %v", err)
	}
	verify("after the deletion")
	// The slug is free again.
	if _, err := ops.TenantCreate(ctx, &tenancy.TenantCreateParams{Name: "Made again", Slug: "made", Actor: opsActor}); err != nil {
		t.Errorf("the slug of a deleted tenant: %v", err)
	}
	verify("after the slug's reuse")
}
