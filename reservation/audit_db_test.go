package reservation_test

import (
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/parkhq/park/reservation"
	"github.com/parkhq/park/tenancy"
)

func TestAudit(t *testing.T) {
	t.Parallel()
	b := newBundle(t, 4)
	ctx := testCtx(t)
	ops := reservation.NewOps(tenancy.NewOps(opsPool(t, b)), reservation.Options{})
	a, other, user := b.tenant(t), b.tenant(t), uuid.New()
	aSpace, gone, otherSpace := b.space(t, a), b.space(t, a), b.space(t, other)
	start, end := b.slot(2, 2)

	audit := func(p reservation.AuditParams) *reservation.AuditReport {
		t.Helper()
		rep, err := ops.Audit(ctx, &p)
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}

	// Real bookings, a cancellation and a deleted space with nothing
	// pending: clean.
	first, err := b.store.Create(ctx, params(a, user, aSpace, start, end))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.store.Create(ctx, params(other, user, otherSpace, start, end)); err != nil {
		t.Fatal(err)
	}
	if err := b.tenancy.SpaceDelete(ctx, &tenancy.SpaceDeleteParams{TenantID: a, Actor: "user:x", ID: gone}); err != nil {
		t.Fatal(err)
	}
	if rep := audit(reservation.AuditParams{}); len(rep.Findings) != 0 || rep.Truncated {
		t.Fatalf("clean database: %+v", rep)
	}

	// The server's login sees one tenant at a time: never "clean".
	serverOps := reservation.NewOps(tenancy.NewOps(b.db.ServerPool(t, 1)), reservation.Options{})
	if _, err := serverOps.Audit(ctx, &reservation.AuditParams{}); !errors.Is(err, reservation.ErrPartialView) {
		t.Fatalf("audit as park_server: %v, want ErrPartialView", err)
	}
	if _, err := ops.Audit(ctx, &reservation.AuditParams{TenantSlug: "nobody"}); !errors.Is(err, tenancy.ErrNotFound) {
		t.Fatalf("unknown tenant: %v", err)
	}

	// Break every invariant behind the constraints' backs.
	for _, sql := range []string{
		`alter table reservations drop constraint reservations_no_overlap`,
		`alter table reservations drop constraint reservations_tenant_id_space_id_fkey`,
	} {
		if _, err := b.admin.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	overlap, onGone, pastOnGone, foreign, nowhere := uuid.New(), uuid.New(), uuid.New(), uuid.New(), uuid.New()
	insert := func(id, tenant, space uuid.UUID, from, to time.Time) {
		t.Helper()
		if _, err := b.admin.Exec(ctx, `insert into reservations (tenant_id, id, space_id, during, created_at)
			values ($1, $2, $3, tstzrange($4, $5), now() - interval '1 day')`, tenant, id, space, from, to); err != nil {
			t.Fatal(err)
		}
	}
	insert(overlap, a, aSpace, start.Add(time.Hour), end.Add(time.Hour))
	insert(onGone, a, gone, start, end)
	insert(pastOnGone, a, gone, start.Add(-72*time.Hour), end.Add(-72*time.Hour)) // over before the deletion: history
	insert(foreign, a, otherSpace, start, end)
	insert(nowhere, a, uuid.New(), start, end)

	rep := audit(reservation.AuditParams{})
	byKind := map[string][]reservation.Finding{}
	for _, f := range rep.Findings {
		byKind[f.Kind] = append(byKind[f.Kind], f)
		if f.TenantID != a || f.TenantSlug != slugOf(a) || f.Detail == "" {
			t.Errorf("finding %+v", f)
		}
	}
	if c := byKind[reservation.FindingConflict]; len(c) != 1 || c[0].SpaceID != aSpace ||
		!(c[0].ReservationID == first.ID && *c[0].ConflictingID == overlap || c[0].ReservationID == overlap && *c[0].ConflictingID == first.ID) {
		t.Errorf("conflicts %+v", c)
	}
	if d := byKind[reservation.FindingDeletedSpace]; len(d) != 1 || d[0].ReservationID != onGone || d[0].SpaceID != gone || !d[0].StartsAt.Equal(start) {
		t.Errorf("deleted spaces %+v", d)
	}
	m := byKind[reservation.FindingTenantMismatch]
	if len(m) != 2 {
		t.Fatalf("mismatches %+v", m)
	}
	for _, f := range m {
		switch f.ReservationID {
		case foreign:
			if f.Detail != "the space belongs to tenant "+other.String()+", not to the reservation's tenant" {
				t.Errorf("foreign space: %q", f.Detail)
			}
		case nowhere:
			if f.Detail != "the space does not exist" {
				t.Errorf("missing space: %q", f.Detail)
			}
		default:
			t.Errorf("mismatch %+v", f)
		}
	}
	if len(rep.Findings) != 4 || rep.Truncated {
		t.Errorf("%d findings, truncated %v; want 4", len(rep.Findings), rep.Truncated)
	}

	// One tenant: the other tenant sees the reservation on its space.
	if rep := audit(reservation.AuditParams{TenantSlug: slugOf(other)}); len(rep.Findings) != 1 || rep.Findings[0].ReservationID != foreign {
		t.Errorf("audit of the other tenant: %+v", rep)
	}
	if rep := audit(reservation.AuditParams{Limit: 1}); len(rep.Findings) != 3 || !rep.Truncated {
		t.Errorf("limit 1 of each kind: %d findings, truncated %v", len(rep.Findings), rep.Truncated)
	}

	// Cancelling the overlap ends the conflict.
	if _, err := b.admin.Exec(ctx, `update reservations set status = 'cancelled', cancelled_at = now() where id = $1`, overlap); err != nil {
		t.Fatal(err)
	}
	for _, f := range audit(reservation.AuditParams{}).Findings {
		if f.Kind == reservation.FindingConflict {
			t.Errorf("conflict after the cancel: %+v", f)
		}
	}
}
