package tenancy_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/parkhq/park/tenancy"
)

// TestTenantKeepsAnOwner: demoting or removing the last owner is refused;
// with two owners one may go; two concurrent demotions of the last two
// owners cannot both succeed.
func TestTenantKeepsAnOwner(t *testing.T) {
	t.Parallel()
	b := setupAuth(t)
	ctx := context.Background()
	s := b.register(t, "owner@acme.com", "acme")
	other := b.register(t, "second@beta.com", "beta")
	set := func(user uuid.UUID, role tenancy.Role) error {
		_, err := b.store.MemberSet(ctx, &tenancy.MemberSetParams{TenantID: s.Tenant.ID, UserID: user, Role: role, Actor: "operator:test"})
		return err
	}
	if err := set(s.User.ID, tenancy.RoleAdmin); !errors.Is(err, tenancy.ErrConflict) {
		t.Fatalf("demoting the only owner: %v", err)
	}
	if err := set(s.User.ID, ""); !errors.Is(err, tenancy.ErrConflict) {
		t.Fatalf("removing the only owner: %v", err)
	}
	if err := set(other.User.ID, tenancy.RoleOwner); err != nil {
		t.Fatalf("adding a second owner: %v", err)
	}
	if err := set(uuid.New(), tenancy.RoleViewer); !errors.Is(err, tenancy.ErrNotFound) {
		t.Errorf("adding an unknown user: %v", err)
	}
	if err := set(uuid.New(), ""); !errors.Is(err, tenancy.ErrNotFound) {
		t.Errorf("removing a non-member: %v", err)
	}

	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, u := range []uuid.UUID{s.User.ID, other.User.ID} {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = set(u, tenancy.RoleViewer) }()
	}
	wg.Wait()
	if (errs[0] == nil) == (errs[1] == nil) {
		t.Fatalf("concurrent demotions of the last two owners: %v, %v (want exactly one refused)", errs[0], errs[1])
	}
	var owners int
	b.admin.QueryRow(ctx, `SELECT count(*) FROM user_memberships WHERE tenant_id = $1 AND role = 'owner'`, s.Tenant.ID).Scan(&owners)
	if owners != 1 {
		t.Errorf("%d owners left", owners)
	}
	var audited int
	b.admin.QueryRow(ctx, `SELECT count(*) FROM audit_events WHERE tenant_id = $1 AND action LIKE 'member.%'`, s.Tenant.ID).Scan(&audited)
	if audited != 2 {
		t.Errorf("%d member audit events, want 2 (add, one demotion)", audited)
	}
}
