package tenancy_test

import (
	"testing"

	"github.com/google/uuid"

	"github.com/parkhq/park/tenancy"
)

func TestMemberList(t *testing.T) {
	t.Parallel()
	b := newResBundle(t)
	ctx := testCtx(t)
	tenant, other := b.tenant(t), b.tenant(t)
	want := map[uuid.UUID]tenancy.Role{}
	for _, r := range []tenancy.Role{tenancy.RoleOwner, tenancy.RoleAdmin, tenancy.RoleOperator, tenancy.RoleViewer, tenancy.RoleViewer} {
		want[b.member(t, tenant, r)] = r
	}
	outsider := b.member(t, other, tenancy.RoleOwner)

	all := collect(t, 2, func(p tenancy.PageParams) (*tenancy.Page[tenancy.Member], error) {
		return b.store.MemberList(ctx, tenant, p)
	})
	if len(all) != len(want) {
		t.Fatalf("%d members, want %d", len(all), len(want))
	}
	for _, m := range all {
		if want[m.UserID] != m.Role || m.Email == "" || m.Name == "" || m.UserID == outsider {
			t.Fatalf("member %+v", m)
		}
		delete(want, m.UserID)
	}
	page, err := b.store.MemberList(ctx, other, tenancy.PageParams{})
	if err != nil || len(page.Items) != 1 || page.Items[0].UserID != outsider {
		t.Fatalf("other tenant: %+v, %v", page, err)
	}
}
