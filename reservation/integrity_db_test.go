package reservation_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/parkhq/park/reservation"
	"github.com/parkhq/park/tenancy"
)

// TestConflictNamesAConfirmedReservation: a 409 names the confirmed
// reservation in the way, never a cancelled one that held the slot before,
// nor one of another space. A (cancelled) starts before B, so a look-up
// that forgot the status would name A first; the other space's reservation
// starts earlier still.
func TestConflictNamesAConfirmedReservation(t *testing.T) {
	t.Parallel()
	b := newBundle(t, 4)
	ctx := testCtx(t)
	tenant, user := b.tenant(t), uuid.New()
	space, other := b.space(t, tenant), b.space(t, tenant)
	h := time.Hour
	base, _ := b.slot(2, 0)

	if _, err := b.store.Create(ctx, params(tenant, user, other, base.Add(-h), base.Add(4*h))); err != nil {
		t.Fatal(err)
	}
	a, err := b.store.Create(ctx, params(tenant, user, space, base, base.Add(2*h)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.store.Cancel(ctx, &reservation.CancelParams{TenantID: tenant, Actor: "user:x", ID: a.ID}); err != nil {
		t.Fatal(err)
	}
	bb, err := b.store.Create(ctx, params(tenant, user, space, base.Add(h), base.Add(3*h)))
	if err != nil {
		t.Fatalf("booking over a cancelled reservation: %v", err)
	}

	// C overlaps A's old slot and B: without a key, and with one.
	c := params(tenant, user, space, base.Add(h+30*time.Minute), base.Add(2*h+30*time.Minute))
	_, err = b.store.Create(ctx, c)
	var conflict *reservation.ConflictError
	if !errors.As(err, &conflict) {
		t.Fatalf("overlap: %v", err)
	}
	if conflict.Conflicting.ID != bb.ID || !conflict.Conflicting.StartsAt.Equal(bb.StartsAt) || !conflict.Conflicting.EndsAt.Equal(bb.EndsAt) {
		t.Fatalf("the conflict names %+v; want B %s (A %s is cancelled)", conflict.Conflicting, bb.ID, a.ID)
	}
	c.IdempotencyKey = "c"
	ans, err := b.store.CreateIdempotent(ctx, c, render)
	if err != nil || ans.Status != http.StatusConflict || !errors.As(ans.Err, &conflict) || conflict.Conflicting.ID != bb.ID {
		t.Fatalf("keyed overlap: %+v, %v; want a 409 naming B %s (A %s is cancelled)", ans, err, bb.ID, a.ID)
	}
}

// TestExclusionViolationIsAConflict: should an overlapping confirmed
// reservation reach the table by any path without ON CONFLICT, the EXCLUDE
// constraint refuses it and the store reports tenancy.ErrConflict (a 409),
// not a server error.
func TestExclusionViolationIsAConflict(t *testing.T) {
	t.Parallel()
	b := newBundle(t, 2)
	ctx := testCtx(t)
	tenant, user := b.tenant(t), uuid.New()
	space := b.space(t, tenant)
	start, end := b.slot(1, 2)
	if _, err := b.store.Create(ctx, params(tenant, user, space, start, end)); err != nil {
		t.Fatal(err)
	}
	err := b.tenancy.InTenantTx(ctx, tenant, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `insert into reservations (tenant_id, id, space_id, during)
			values ($1::uuid, $2::uuid, $3::uuid, tstzrange($4::timestamptz, $5::timestamptz, '[)'))`,
			tenant, uuid.New(), space, start.Add(time.Hour), end.Add(time.Hour))
		return err
	})
	var dbErr *tenancy.DBError
	if !errors.Is(err, tenancy.ErrConflict) || !errors.As(err, &dbErr) || dbErr.Code != "23P01" ||
		dbErr.Constraint != "reservations_no_overlap" {
		t.Fatalf("overlapping insert: %v (%#v); want ErrConflict from 23P01 on reservations_no_overlap", err, dbErr)
	}
}

// TestKeysBelongToOneTenant: a user who is a member of two tenants uses
// the same key in both. Each tenant's request is its own: the second is
// neither a replay of the first (which would hand one tenant's reservation
// to the other) nor refused as a reused key.
func TestKeysBelongToOneTenant(t *testing.T) {
	t.Parallel()
	b := newBundle(t, 4)
	ctx := testCtx(t)
	t1, t2, user := b.tenant(t), b.tenant(t), uuid.New()
	s1, s2 := b.space(t, t1), b.space(t, t2)
	start, end := b.slot(1, 1)

	p1 := params(t1, user, s1, start, end)
	p1.IdempotencyKey = "shared"
	first, err := b.store.CreateIdempotent(ctx, p1, render)
	if err != nil || first.Status != http.StatusCreated {
		t.Fatalf("tenant 1: %+v, %v", first, err)
	}
	// The same request under the second tenant (its own space id would
	// differ; this one reuses the first's to make the fingerprints equal).
	p2 := params(t2, user, s1, start, end)
	p2.IdempotencyKey = "shared"
	ans, err := b.store.CreateIdempotent(ctx, p2, render)
	if err != nil || ans.Replayed || ans.Status != http.StatusNotFound {
		t.Fatalf("tenant 2, tenant 1's space: %+v, %v; want a fresh 404", ans, err)
	}
	p3 := params(t2, user, s2, start, end)
	p3.IdempotencyKey = "shared-2"
	if ans, err := b.store.CreateIdempotent(ctx, p3, render); err != nil || ans.Replayed || ans.Status != http.StatusCreated {
		t.Fatalf("tenant 2's own booking: %+v, %v", ans, err)
	}
	if n := b.count(t, `select count(*) from idempotency_keys where key = 'shared'`); n != 2 {
		t.Fatalf("%d rows for the key, want one per tenant", n)
	}
}

// TestBookingAudit: a booking made with a key writes one reservation.create
// event in its tenant, naming the actor, with the details the Go stores
// write for other events; replays and refusals write none.
func TestBookingAudit(t *testing.T) {
	t.Parallel()
	b := newBundle(t, 4)
	ctx := testCtx(t)
	tenant, user := b.tenant(t), uuid.New()
	space := b.space(t, tenant)
	start, end := b.slot(1, 1)

	p := params(tenant, user, space, start, end)
	p.IdempotencyKey = "audited"
	ans, err := b.store.CreateIdempotent(ctx, p, render)
	if err != nil || ans.Status != http.StatusCreated {
		t.Fatalf("%+v, %v", ans, err)
	}
	if _, err := b.store.CreateIdempotent(ctx, p, render); err != nil {
		t.Fatal(err)
	}
	q := params(tenant, user, space, start, end)
	q.IdempotencyKey = "refused"
	if _, err := b.store.CreateIdempotent(ctx, q, render); err != nil {
		t.Fatal(err)
	}
	if n := b.count(t, `select count(*) from audit_events`); n != 1 {
		t.Fatalf("%d audit events, want 1", n)
	}
	var actor, target string
	var eventTenant uuid.UUID
	var details []byte
	if err := b.admin.QueryRow(ctx, `select tenant_id, actor, target, details::text from audit_events where action = 'reservation.create'`).
		Scan(&eventTenant, &actor, &target, &details); err != nil {
		t.Fatal(err)
	}
	if eventTenant != tenant || actor != "user:"+user.String() || target != ans.Reservation.ID.String() {
		t.Fatalf("event of tenant %s by %q on %q", eventTenant, actor, target)
	}
	// The same JSON as encoding/json makes of the Go values.
	want, _ := json.Marshal(map[string]any{"space_id": space, "starts_at": start.UTC(), "ends_at": end.UTC(), "request_id": "audited"})
	var got, wantV map[string]any
	if err := json.Unmarshal(details, &got); err != nil {
		t.Fatal(err)
	}
	_ = json.Unmarshal(want, &wantV)
	gotJSON, _ := json.Marshal(got)
	if wantJSON, _ := json.Marshal(wantV); string(gotJSON) != string(wantJSON) {
		t.Fatalf("details %s, want %s", gotJSON, wantJSON)
	}
}

// TestBookFunctionPrivileges: book_reservation and book_reservation_keyed
// run as their caller, under row-level security, for the transaction's
// tenant only; only park_app may call them, and never without a tenant.
func TestBookFunctionPrivileges(t *testing.T) {
	t.Parallel()
	b := newBundle(t, 2)
	ctx := testCtx(t)
	var definer, public, ops bool
	for _, fn := range []string{"book_reservation", "book_reservation_keyed"} {
		if err := b.admin.QueryRow(ctx, `select p.prosecdef,
			       has_function_privilege('public', p.oid, 'EXECUTE') or exists (
			         select 1 from aclexplode(p.proacl) a where a.grantee = 0 and a.privilege_type = 'EXECUTE'),
			       has_function_privilege('park_ops', p.oid, 'EXECUTE')
			  from pg_proc p where p.proname = $1`, fn).Scan(&definer, &public, &ops); err != nil {
			t.Fatalf("%s: %v", fn, err)
		}
		if definer || public || ops {
			t.Fatalf("%s: security definer %v, executable by PUBLIC %v, by park_ops %v; want none", fn, definer, public, ops)
		}
	}

	// As park_app with no tenant set: refused before anything is written.
	tenant := b.tenant(t)
	space := b.space(t, tenant)
	start, end := b.slot(1, 1)
	conn, err := b.db.ServerPool(t, 1).Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `set local role park_app`); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `savepoint s`); err != nil {
		t.Fatal(err)
	}
	_, err = tx.Exec(ctx, `select * from book_reservation($1::uuid, $2::uuid, $3::timestamptz, $4::timestamptz,
		null, 'user:x', null, null, null, now(), null)`, space, uuid.New(), start, end)
	if err == nil {
		t.Fatal("book_reservation booked with no tenant set")
	}
	if _, err := tx.Exec(ctx, `rollback to savepoint s`); err != nil {
		t.Fatal(err)
	}
	_, err = tx.Exec(ctx, `select * from book_reservation_keyed($1::uuid, $2::uuid, $3::timestamptz, $4::timestamptz,
		null, 'user:x', $5::uuid, 'k', $6::bytea, now(), now() + interval '1 day', 201, '{}', '{}')`,
		space, uuid.New(), start, end, uuid.New(), make([]byte, 32))
	if err == nil || !strings.Contains(err.Error(), "no tenant") {
		t.Fatalf("book_reservation_keyed with no tenant set: %v", err)
	}
}
