package tenancy_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parkhq/park/tenancy"
)

// TestMemberChangeRevokesKeys: removing a member, or leaving them below
// admin, revokes every key they made in the tenant in the same
// transaction (audited, listed in the result); a re-added or re-promoted
// member gets none of them back. Other members' keys, service keys and the
// member's keys in another tenant are untouched.
func TestMemberChangeRevokesKeys(t *testing.T) {
	t.Parallel()
	b := setupAuth(t)
	ctx := context.Background()
	owner := b.register(t, "owner@acme.com", "acme")
	other := b.register(t, "adm@beta.com", "beta")
	tenant, member := owner.Tenant.ID, other.User.ID
	const actor = "user:owner"
	set := func(role tenancy.Role) *tenancy.MemberSetResult {
		t.Helper()
		res, err := b.store.MemberSet(ctx, &tenancy.MemberSetParams{TenantID: tenant, UserID: member, Role: role, Actor: actor})
		if err != nil {
			t.Fatalf("set role %q: %v", role, err)
		}
		return res
	}
	makeKey := func(tenant, creator uuid.UUID, name string) *tenancy.CreatedAPIKey {
		t.Helper()
		var by *uuid.UUID
		if creator != uuid.Nil {
			by = &creator
		}
		k, err := b.store.APIKeyCreate(ctx, &tenancy.APIKeyCreateParams{TenantID: tenant, Actor: actor, Name: name,
			Scopes: []string{"spaces:read"}, CreatedBy: by})
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	live := func(k *tenancy.CreatedAPIKey) bool {
		t.Helper()
		var revoked *time.Time
		if err := b.admin.QueryRow(ctx, `SELECT revoked_at FROM api_keys WHERE id = $1`, k.ID).Scan(&revoked); err != nil {
			t.Fatal(err)
		}
		return revoked == nil
	}
	ids := func(keys []tenancy.APIKey) []uuid.UUID {
		out := []uuid.UUID{}
		for _, k := range keys {
			if k.RevokedAt == nil {
				t.Errorf("key %s listed as revoked without revoked_at", k.KeyID)
			}
			out = append(out, k.ID)
		}
		return out
	}

	if res := set(tenancy.RoleAdmin); res.Action != "member.add" || res.PreviousRole != "" || len(res.RevokedKeys) != 0 {
		t.Fatalf("add: %+v", res)
	}
	k1, k2 := makeKey(tenant, member, "one"), makeKey(tenant, member, "two")
	ownersKey, serviceKey, elsewhere := makeKey(tenant, owner.User.ID, "owner's"), makeKey(tenant, uuid.Nil, "svc"), makeKey(other.Tenant.ID, member, "beta")
	// An expired key is revoked too: expiry is a date, revocation final.
	insertKey(t, b, tenant, &member, []string{"spaces:read"}, new(time.Now().Add(-time.Hour)))
	if p, err := b.auth.PrincipalFromAPIKey(ctx, k1.Key); err != nil || !p.Has(tenancy.ScopeSpacesRead) {
		t.Fatalf("member's key before removal: %+v, %v", p, err)
	}

	res := set("")
	if res.Action != "member.remove" || res.PreviousRole != tenancy.RoleAdmin {
		t.Fatalf("remove: %+v", res)
	}
	got := ids(res.RevokedKeys)
	if len(got) != 3 || got[0] != k1.ID || got[1] != k2.ID {
		t.Fatalf("revoked %v, want %s, %s and the expired key, oldest first", got, k1.ID, k2.ID)
	}
	if live(k1) || live(k2) || !live(ownersKey) || !live(serviceKey) || !live(elsewhere) {
		t.Fatal("removal revoked the wrong keys")
	}
	var expiredLive bool
	b.admin.QueryRow(ctx, `SELECT revoked_at IS NULL FROM api_keys WHERE created_by = $1 AND expires_at < now()`, member).Scan(&expiredLive)
	if expiredLive {
		t.Fatal("the member's expired key was not revoked")
	}
	var audited int
	if err := b.admin.QueryRow(ctx, `SELECT count(*) FROM audit_events WHERE tenant_id = $1 AND action = 'api_key.revoke'
		AND actor = $2 AND details->>'reason' = 'member.remove' AND target = ANY($3)`,
		tenant, actor, []string{k1.ID.String(), k2.ID.String(), got[2].String()}).Scan(&audited); err != nil {
		t.Fatal(err)
	}
	if audited != 3 {
		t.Fatalf("%d revocation audit events, want 3", audited)
	}
	for _, k := range res.RevokedKeys {
		b.auth.ForgetKey(k.KeyID)
	}
	if _, err := b.auth.PrincipalFromAPIKey(ctx, k1.Key); !errors.Is(err, tenancy.ErrUnauthorized) {
		t.Fatalf("removed member's key: %v", err)
	}

	// Re-added as admin: the old keys stay dead, past any cache.
	if res := set(tenancy.RoleAdmin); res.Action != "member.add" || len(res.RevokedKeys) != 0 {
		t.Fatalf("re-add: %+v", res)
	}
	b.clock.Advance(10 * time.Second)
	for _, k := range []*tenancy.CreatedAPIKey{k1, k2} {
		var af *tenancy.AuthFailure
		if _, err := b.auth.PrincipalFromAPIKey(ctx, k.Key); !errors.As(err, &af) || af.Reason != "revoked" {
			t.Errorf("re-added member's old key %s: %v", k.Name, err)
		}
	}

	// A demotion below admin revokes; a role change at or above admin does not.
	k3 := makeKey(tenant, member, "three")
	if res := set(tenancy.RoleOwner); res.Action != "member.set_role" || len(res.RevokedKeys) != 0 || !live(k3) {
		t.Fatalf("promotion to owner: %+v", res)
	}
	if res := set(tenancy.RoleAdmin); len(res.RevokedKeys) != 0 || !live(k3) {
		t.Fatalf("owner to admin: %+v", res)
	}
	if res := set(tenancy.RoleOperator); !slices.Equal(ids(res.RevokedKeys), []uuid.UUID{k3.ID}) || live(k3) {
		t.Fatalf("demotion to operator: %+v", res)
	}
	if res := set(tenancy.RoleAdmin); len(res.RevokedKeys) != 0 || live(k3) {
		t.Fatalf("promotion back to admin: %+v", res)
	}
	if !live(ownersKey) || !live(serviceKey) || !live(elsewhere) {
		t.Fatal("a member change revoked another's key")
	}

	// A membership ended outside MemberSet (plain SQL) leaves its keys
	// live; adding the member again revokes them rather than revive them.
	k4 := makeKey(tenant, member, "four")
	b.exec(t, `DELETE FROM user_memberships WHERE tenant_id = $1 AND user_id = $2`, tenant, member)
	if res := set(tenancy.RoleAdmin); res.Action != "member.add" || !slices.Equal(ids(res.RevokedKeys), []uuid.UUID{k4.ID}) || live(k4) {
		t.Fatalf("re-add after a removal by SQL: %+v", res)
	}
}

// TestAPIKeyCreateWaitsForMemberChange: a key's creation share-locks its
// creator's membership, so a removal in flight (holding the row lock)
// makes it wait and then fail, rather than slip a key past the removal's
// revocation.
func TestAPIKeyCreateWaitsForMemberChange(t *testing.T) {
	t.Parallel()
	b := newResBundle(t)
	ctx := testCtx(t)
	tenant := b.tenant(t)
	admin := b.member(t, tenant, tenancy.RoleAdmin)

	tx, err := b.admin.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `DELETE FROM user_memberships WHERE tenant_id = $1 AND user_id = $2`, tenant, admin); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := b.store.APIKeyCreate(ctx, &tenancy.APIKeyCreateParams{TenantID: tenant, Actor: testActor, Name: "k",
			Scopes: []string{"spaces:read"}, CreatedBy: &admin})
		done <- err
	}()
	waitForLockWait(t, b.admin, done, "key created while its creator's removal was in flight")
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, tenancy.ErrForbidden) {
		t.Fatalf("key creation after its creator's removal: %v, want ErrForbidden", err)
	}
	var keys int
	b.admin.QueryRow(ctx, `SELECT count(*) FROM api_keys WHERE tenant_id = $1`, tenant).Scan(&keys)
	if keys != 0 {
		t.Fatalf("%d keys", keys)
	}
}

// TestAPIKeyCreateNeedsAdmin: the store reads the creator's role itself,
// so a member below admin (say, demoted while a cached principal still
// says admin) gets no key.
func TestAPIKeyCreateNeedsAdmin(t *testing.T) {
	t.Parallel()
	b := newResBundle(t)
	ctx := testCtx(t)
	tenant := b.tenant(t)
	for _, role := range []tenancy.Role{tenancy.RoleViewer, tenancy.RoleOperator} {
		user := b.member(t, tenant, role)
		_, err := b.store.APIKeyCreate(ctx, &tenancy.APIKeyCreateParams{TenantID: tenant, Actor: testActor, Name: "k",
			Scopes: []string{"spaces:read"}, CreatedBy: &user})
		if !errors.Is(err, tenancy.ErrForbidden) {
			t.Errorf("%s making a key: %v, want ErrForbidden", role, err)
		}
	}
	for _, role := range []tenancy.Role{tenancy.RoleAdmin, tenancy.RoleOwner} {
		user := b.member(t, tenant, role)
		if _, err := b.store.APIKeyCreate(ctx, &tenancy.APIKeyCreateParams{TenantID: tenant, Actor: testActor, Name: "k " + string(role),
			Scopes: []string{"sites:write", "users:read"}, CreatedBy: &user}); err != nil {
			t.Errorf("%s making a key: %v", role, err)
		}
	}
}

// TestAPIKeyRevokeRoles: an owner revokes any key; an admin revokes
// service keys and keys of creators up to admin, not an owner's; nobody
// below admin, and no outsider, revokes anything.
func TestAPIKeyRevokeRoles(t *testing.T) {
	t.Parallel()
	b := newResBundle(t)
	ctx := testCtx(t)
	tenant := b.tenant(t)
	owner, admin, admin2 := b.member(t, tenant, tenancy.RoleOwner), b.member(t, tenant, tenancy.RoleAdmin), b.member(t, tenant, tenancy.RoleAdmin)
	operator := b.member(t, tenant, tenancy.RoleOperator)
	outsider := b.member(t, b.tenant(t), tenancy.RoleOwner)
	key := func(creator *uuid.UUID) uuid.UUID {
		t.Helper()
		k, err := b.store.APIKeyCreate(ctx, &tenancy.APIKeyCreateParams{TenantID: tenant, Actor: testActor, Name: uuid.NewString(),
			Scopes: []string{"spaces:read"}, CreatedBy: creator})
		if err != nil {
			t.Fatal(err)
		}
		return k.ID
	}
	revoke := func(by uuid.UUID, id uuid.UUID) error {
		_, err := b.store.APIKeyRevoke(ctx, &tenancy.APIKeyRevokeParams{TenantID: tenant, Actor: testActor, ID: id, RevokedBy: &by})
		return err
	}
	ownersKey := key(&owner)
	for name, by := range map[string]uuid.UUID{"admin": admin, "operator": operator, "outsider": outsider} {
		if err := revoke(by, ownersKey); !errors.Is(err, tenancy.ErrForbidden) {
			t.Errorf("%s revoking an owner's key: %v, want ErrForbidden", name, err)
		}
	}
	if err := revoke(operator, key(&admin)); !errors.Is(err, tenancy.ErrForbidden) {
		t.Errorf("operator revoking an admin's key: %v", err)
	}
	if n := b.audits(t, tenant, "api_key.revoke", ownersKey.String()); n != 0 {
		t.Fatalf("refused revocations audited %d times", n)
	}
	for name, id := range map[string]uuid.UUID{"own": key(&admin), "another admin's": key(&admin2), "a service": key(nil)} {
		if err := revoke(admin, id); err != nil {
			t.Errorf("admin revoking %s key: %v", name, err)
		}
	}
	if err := revoke(owner, ownersKey); err != nil {
		t.Fatalf("owner revoking an owner's key: %v", err)
	}
	// Refused whether or not the key is revoked already.
	if err := revoke(admin, ownersKey); !errors.Is(err, tenancy.ErrForbidden) {
		t.Errorf("admin revoking a revoked owner's key: %v", err)
	}
	for name, id := range map[string]uuid.UUID{"admin's": key(&admin2), "service": key(nil)} {
		if err := revoke(owner, id); err != nil {
			t.Errorf("owner revoking an %s key: %v", name, err)
		}
	}
	// A promotion counts at once: the creator's role is read, not stored.
	promoted := key(&admin2)
	if _, err := b.admin.Exec(ctx, `UPDATE user_memberships SET role = 'owner' WHERE user_id = $1`, admin2); err != nil {
		t.Fatal(err)
	}
	if err := revoke(admin, promoted); !errors.Is(err, tenancy.ErrForbidden) {
		t.Errorf("admin revoking a key of a creator now owner: %v", err)
	}
}

// waitForLockWait returns once a session of the test's database waits for
// a lock, and fails the test with msg if done reports first (the code
// under test did not wait).
func waitForLockWait(t *testing.T, admin *pgxpool.Pool, done <-chan error, msg string) {
	t.Helper()
	ctx := testCtx(t)
	for waiting := false; !waiting; {
		select {
		case err := <-done:
			t.Fatalf("%s: %v", msg, err)
		case <-time.After(10 * time.Millisecond):
		}
		if err := admin.QueryRow(ctx, `SELECT count(*) > 0 FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
	}
}

// TestLastOwnerLockWaits: MemberSet locks every owner row before counting
// owners, so a demotion of owner B waits for a demotion of owner A still in
// flight, then counts again and refuses: the tenant keeps an owner. (The
// concurrent part of TestTenantKeepsAnOwner only catches a missing lock
// when the two demotions happen to overlap.)
func TestLastOwnerLockWaits(t *testing.T) {
	t.Parallel()
	b := newResBundle(t)
	ctx := testCtx(t)
	tenant := b.tenant(t)
	ownerA, ownerB := b.member(t, tenant, tenancy.RoleOwner), b.member(t, tenant, tenancy.RoleOwner)

	// A's demotion, in flight: it holds A's row.
	tx, err := b.admin.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `UPDATE user_memberships SET role = 'viewer' WHERE tenant_id = $1 AND user_id = $2`, tenant, ownerA); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := b.store.MemberSet(ctx, &tenancy.MemberSetParams{TenantID: tenant, UserID: ownerB, Role: tenancy.RoleViewer, Actor: testActor})
		done <- err
	}()
	waitForLockWait(t, b.admin, done, "B demoted while A's demotion was in flight")
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, tenancy.ErrLastOwner) {
		t.Fatalf("demoting B after A: %v, want ErrLastOwner", err)
	}
}
