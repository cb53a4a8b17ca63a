package tenancy_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/parkhq/park/tenancy"
)

func TestAPIKeyLifecycle(t *testing.T) {
	t.Parallel()
	b := newResBundle(t)
	ctx := testCtx(t)
	tenant := b.tenant(t)
	admin := b.member(t, tenant, tenancy.RoleAdmin)
	expires := time.Now().Add(90 * 24 * time.Hour).Truncate(time.Microsecond)

	key, err := b.store.APIKeyCreate(ctx, &tenancy.APIKeyCreateParams{TenantID: tenant, Actor: testActor,
		Name: "Test Key", Scopes: []string{"spaces:read", "devices:read", "spaces:read"}, CreatedBy: &admin, ExpiresAt: &expires})
	if err != nil {
		t.Fatal(err)
	}
	if key.Name != "Test Key" || key.CreatedBy == nil || *key.CreatedBy != admin || key.ExpiresAt == nil || !key.ExpiresAt.Equal(expires) ||
		key.RevokedAt != nil || len(key.Scopes) != 2 || key.Scopes[0] != tenancy.ScopeDevicesRead || key.Scopes[1] != tenancy.ScopeSpacesRead {
		t.Fatalf("created %+v", key.APIKey)
	}
	// The token is a valid key whose secret is stored only as its hash.
	keyID, secret, err := tenancy.ParseAPIKey(key.Key)
	if err != nil || keyID != key.KeyID {
		t.Fatalf("token %q: key id %q, %v", key.Key, keyID, err)
	}
	var stored []byte
	if err := b.admin.QueryRow(ctx, `select secret_hash from api_keys where id = $1`, key.ID).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if !tenancy.APISecretMatches(secret, stored) {
		t.Fatal("stored hash does not match the secret")
	}
	var details string
	if err := b.admin.QueryRow(ctx, `select details::text from audit_events where action = 'api_key.create' and target = $1`, key.ID.String()).Scan(&details); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(details, secret) || !strings.Contains(details, key.KeyID) {
		t.Fatalf("audit details %s", details)
	}

	got, err := b.store.APIKeyGet(ctx, tenant, key.ID)
	if err != nil || got.KeyID != key.KeyID {
		t.Fatalf("get: %+v, %v", got, err)
	}
	js, _ := json.Marshal(got)
	if strings.Contains(string(js), secret) || strings.Contains(string(js), `"key"`) {
		t.Fatalf("a read shows the secret: %s", js)
	}

	page, err := b.store.APIKeyList(ctx, tenant, tenancy.PageParams{})
	if err != nil || len(page.Items) != 1 || page.Items[0].ID != key.ID {
		t.Fatalf("list: %+v, %v", page, err)
	}

	var revokedAt *time.Time
	for range 2 { // idempotent
		rk, err := b.store.APIKeyRevoke(ctx, &tenancy.APIKeyRevokeParams{TenantID: tenant, Actor: testActor, ID: key.ID})
		if err != nil || rk.RevokedAt == nil || rk.KeyID != key.KeyID || (revokedAt != nil && !rk.RevokedAt.Equal(*revokedAt)) {
			t.Fatalf("revoke: %+v, %v", rk, err)
		}
		revokedAt = rk.RevokedAt
	}
	got, err = b.store.APIKeyGet(ctx, tenant, key.ID)
	if err != nil || got.RevokedAt == nil {
		t.Fatalf("after revoke: %+v, %v", got, err)
	}
	if n := b.audits(t, tenant, "api_key.revoke", key.ID.String()); n != 1 {
		t.Fatalf("%d revoke audit events, want 1", n)
	}
	_, err = b.store.APIKeyRevoke(ctx, &tenancy.APIKeyRevokeParams{TenantID: tenant, Actor: testActor, ID: uuid.New()})
	wantNotFound(t, "revoke unknown", err)
}

func TestAPIKeyValidation(t *testing.T) {
	t.Parallel()
	b := newResBundle(t)
	ctx := testCtx(t)
	tenant := b.tenant(t)
	operator := b.member(t, tenant, tenancy.RoleOperator)
	past := time.Now().Add(-time.Minute)

	_, err := b.store.APIKeyCreate(ctx, &tenancy.APIKeyCreateParams{TenantID: tenant, Actor: testActor, Name: "", ExpiresAt: &past})
	wantFieldError(t, err, "name", "scopes", "expires_at")
	_, err = b.store.APIKeyCreate(ctx, &tenancy.APIKeyCreateParams{TenantID: tenant, Actor: testActor, Name: "k", Scopes: []string{"spaces:read", "spaces:admin"}})
	v := wantFieldError(t, err, "scopes")
	if !strings.Contains(v.Fields["scopes"][0], "spaces:admin") {
		t.Fatalf("scopes problem does not name the scope: %v", v.Fields)
	}

	// A member below admin makes no key, even with scopes the role holds
	// (TestAPIKeyCreateNeedsAdmin); admins and owners hold every scope.
	_, err = b.store.APIKeyCreate(ctx, &tenancy.APIKeyCreateParams{TenantID: tenant, Actor: testActor, Name: "k",
		Scopes: []string{"spaces:write"}, CreatedBy: &operator})
	if !errors.Is(err, tenancy.ErrForbidden) {
		t.Fatalf("operator's key: %v, want ErrForbidden", err)
	}
	// A creator who is not a member of the tenant.
	stranger := b.member(t, b.tenant(t), tenancy.RoleOwner)
	_, err = b.store.APIKeyCreate(ctx, &tenancy.APIKeyCreateParams{TenantID: tenant, Actor: testActor, Name: "k",
		Scopes: []string{"spaces:read"}, CreatedBy: &stranger})
	if !errors.Is(err, tenancy.ErrForbidden) {
		t.Fatalf("stranger's key: %v, want ErrForbidden", err)
	}
	// A service key (parkctl) has no creator and any scopes.
	svc, err := b.store.APIKeyCreate(ctx, &tenancy.APIKeyCreateParams{TenantID: tenant, Actor: testActor, Name: "svc",
		Scopes: []string{"users:read", "sites:write"}})
	if err != nil || svc.CreatedBy != nil {
		t.Fatalf("service key: %+v, %v", svc, err)
	}
}

func TestAPIKeyIsolation(t *testing.T) {
	t.Parallel()
	b := newResBundle(t)
	ctx := testCtx(t)
	a, other := b.tenant(t), b.tenant(t)
	key, err := b.store.APIKeyCreate(ctx, &tenancy.APIKeyCreateParams{TenantID: a, Actor: testActor, Name: "A's", Scopes: []string{"spaces:read"}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = b.store.APIKeyGet(ctx, other, key.ID)
	wantNotFound(t, "get", err)
	_, err = b.store.APIKeyRevoke(ctx, &tenancy.APIKeyRevokeParams{TenantID: other, Actor: testActor, ID: key.ID})
	wantNotFound(t, "revoke", err)
	page, err := b.store.APIKeyList(ctx, other, tenancy.PageParams{})
	if err != nil || len(page.Items) != 0 {
		t.Fatalf("other tenant's list: %+v, %v", page, err)
	}
	if got, err := b.store.APIKeyGet(ctx, a, key.ID); err != nil || got.RevokedAt != nil {
		t.Fatalf("A's key after B's attempts: %+v, %v", got, err)
	}
}
