package reservation_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/parkhq/park/tenancy"
)

// TestIntegrityCountsThroughPgBouncer: parkd's metrics read the
// cross-tenant integrity counts through its server pool, which may be
// PgBouncer in transaction mode (pgx exec mode): the SECURITY DEFINER call
// runs there too and counts a finding of another tenant.
func TestIntegrityCountsThroughPgBouncer(t *testing.T) {
	t.Parallel()
	b := newBouncedBundle(t)
	ctx := testCtx(t)
	a := b.tenant(t)
	gone := b.space(t, a)
	counts, err := b.store.IntegrityCounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(counts) != "map[conflict:0 deleted_space:0 tenant_mismatch:0]" {
		t.Fatalf("clean: %v", counts)
	}
	if err := b.tenancy.SpaceDelete(ctx, &tenancy.SpaceDeleteParams{TenantID: a, Actor: "user:x", ID: gone}); err != nil {
		t.Fatal(err)
	}
	start, end := b.slot(2, 2)
	if _, err := b.admin.Exec(ctx, `insert into reservations (tenant_id, id, space_id, during, created_at)
		values ($1, $2, $3, tstzrange($4, $5), now() - interval '1 day')`, a, uuid.New(), gone, start, end.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	counts, err = b.store.IntegrityCounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(counts) != "map[conflict:0 deleted_space:1 tenant_mismatch:0]" {
		t.Fatalf("a reservation on a deleted space: %v", counts)
	}
}
