package reservation_test

import (
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/parkhq/park/reservation"
	"github.com/parkhq/park/tenancy"
)

func TestCreateGetCancel(t *testing.T) {
	t.Parallel()
	b := newBundle(t, 4)
	ctx := testCtx(t)
	tenant, user := b.tenant(t), uuid.New()
	space := b.space(t, tenant)
	start, end := b.slot(2, 2)

	res, err := b.store.Create(ctx, params(tenant, user, space, start, end))
	if err != nil {
		t.Fatal(err)
	}
	if res.TenantID != tenant || res.SpaceID != space || !res.StartsAt.Equal(start) || !res.EndsAt.Equal(end) ||
		res.Status != reservation.StatusConfirmed || res.RequestID != nil || res.CreatedBy == nil || *res.CreatedBy != user ||
		res.CancelledAt != nil || res.StartsAt.Location() != time.UTC {
		t.Fatalf("created %+v", res)
	}
	got, err := b.store.Get(ctx, tenant, res.ID)
	if err != nil || got.ID != res.ID || !got.CreatedAt.Equal(res.CreatedAt) || got.Status != reservation.StatusConfirmed {
		t.Fatalf("get: %+v, %v", got, err)
	}
	if n := b.count(t, `select count(*) from audit_events where tenant_id = $1 and action = 'reservation.create' and target = $2 and actor = $3`,
		tenant, res.ID.String(), "user:"+user.String()); n != 1 {
		t.Fatalf("%d reservation.create audit events", n)
	}

	// Adjacent ranges do not overlap ([) ranges).
	if _, err := b.store.Create(ctx, params(tenant, user, space, end, end.Add(time.Hour))); err != nil {
		t.Fatalf("adjacent after: %v", err)
	}
	if _, err := b.store.Create(ctx, params(tenant, user, space, start.Add(-time.Hour), start)); err != nil {
		t.Fatalf("adjacent before: %v", err)
	}

	// An overlap names the reservation in the way.
	_, err = b.store.Create(ctx, params(tenant, user, space, start.Add(time.Hour), end.Add(time.Hour)))
	var c *reservation.ConflictError
	if !errors.As(err, &c) || !errors.Is(err, tenancy.ErrConflict) {
		t.Fatalf("overlap: %v", err)
	}
	if c.SpaceID != space || c.Conflicting.ID != res.ID || !c.Conflicting.StartsAt.Equal(start) || !c.Conflicting.EndsAt.Equal(end) {
		t.Fatalf("conflict %+v, want reservation %s [%s, %s)", c, res.ID, start, end)
	}

	// Cancelling frees the slot, once.
	cancelled, err := b.store.Cancel(ctx, &reservation.CancelParams{TenantID: tenant, Actor: "user:x", ID: res.ID})
	if err != nil || cancelled.Status != reservation.StatusCancelled || cancelled.CancelledAt == nil {
		t.Fatalf("cancel: %+v, %v", cancelled, err)
	}
	again, err := b.store.Cancel(ctx, &reservation.CancelParams{TenantID: tenant, Actor: "user:x", ID: res.ID})
	if err != nil || again.Status != reservation.StatusCancelled || !again.CancelledAt.Equal(*cancelled.CancelledAt) {
		t.Fatalf("cancel again: %+v, %v", again, err)
	}
	if n := b.count(t, `select count(*) from audit_events where action = 'reservation.cancel' and target = $1`, res.ID.String()); n != 1 {
		t.Fatalf("%d reservation.cancel audit events, want 1", n)
	}
	if _, err := b.store.Create(ctx, params(tenant, user, space, start, end)); err != nil {
		t.Fatalf("booking the freed slot: %v", err)
	}

	// A reservation that has ended is history.
	b.clock.Advance(5 * time.Hour)
	old, err := b.store.List(ctx, &reservation.ListParams{TenantID: tenant, Status: reservation.StatusConfirmed})
	if err != nil || len(old.Items) != 3 {
		t.Fatalf("list: %+v, %v", old, err)
	}
	_, err = b.store.Cancel(ctx, &reservation.CancelParams{TenantID: tenant, Actor: "user:x", ID: old.Items[0].ID})
	if !errors.Is(err, tenancy.ErrConflict) {
		t.Fatalf("cancel a past reservation: %v", err)
	}

	_, err = b.store.Get(ctx, tenant, uuid.New())
	wantNotFound(t, "get unknown", err)
	_, err = b.store.Cancel(ctx, &reservation.CancelParams{TenantID: tenant, Actor: "user:x", ID: uuid.New()})
	wantNotFound(t, "cancel unknown", err)
}

func TestCreateValidation(t *testing.T) {
	t.Parallel()
	b := newBundle(t, 2)
	ctx := testCtx(t)
	tenant, user := b.tenant(t), uuid.New()
	space := b.space(t, tenant)
	now := b.clock.Now().UTC().Truncate(time.Second)
	h := time.Hour
	tests := []struct {
		name       string
		mut        func(p *reservation.CreateParams)
		fields     []string
		idempotent bool
	}{
		{"no space", func(p *reservation.CreateParams) { p.SpaceID = uuid.Nil }, []string{"space_id"}, false},
		{"no times", func(p *reservation.CreateParams) { p.StartsAt, p.EndsAt = time.Time{}, time.Time{} }, []string{"starts_at", "ends_at"}, false},
		{"fraction", func(p *reservation.CreateParams) { p.StartsAt = p.StartsAt.Add(time.Millisecond) }, []string{"starts_at"}, false},
		{"end before start", func(p *reservation.CreateParams) { p.EndsAt = p.StartsAt.Add(-h) }, []string{"ends_at"}, false},
		{"empty range", func(p *reservation.CreateParams) { p.EndsAt = p.StartsAt }, []string{"ends_at"}, false},
		{"in the past", func(p *reservation.CreateParams) { p.StartsAt, p.EndsAt = now.Add(-2*h), now.Add(-h) }, []string{"ends_at"}, false},
		{"ends now", func(p *reservation.CreateParams) { p.StartsAt, p.EndsAt = now.Add(-2*h), now }, []string{"ends_at"}, false},
		{"too long", func(p *reservation.CreateParams) {
			p.EndsAt = p.StartsAt.Add(reservation.DefaultMaxDuration + time.Second)
		}, []string{"ends_at"}, false},
		{"bad request id", func(p *reservation.CreateParams) { p.RequestID = "a\nb" }, []string{"request_id"}, true},
		{"long key", func(p *reservation.CreateParams) { p.IdempotencyKey = string(make([]byte, 256)) }, []string{"Idempotency-Key"}, true},
		{"key and request id differ", func(p *reservation.CreateParams) { p.IdempotencyKey, p.RequestID = "a", "b" }, []string{"request_id"}, true},
	}
	for _, tt := range tests {
		p := params(tenant, user, space, now.Add(h), now.Add(2*h))
		tt.mut(p)
		var err error
		if tt.idempotent {
			_, err = b.store.CreateIdempotent(ctx, p, render)
		} else {
			_, err = b.store.Create(ctx, p)
		}
		wantFields(t, tt.name, err, tt.fields...)
	}
	// Ongoing, exactly the longest, and both forms of the key agreeing are
	// fine.
	ok := []*reservation.CreateParams{
		params(tenant, user, space, now.Add(-h), now.Add(h)),
		params(tenant, user, space, now.Add(10*h), now.Add(10*h+reservation.DefaultMaxDuration)),
	}
	for i, p := range ok {
		if _, err := b.store.Create(ctx, p); err != nil {
			t.Errorf("valid request %d: %v", i, err)
		}
	}
	p := params(tenant, user, b.space(t, tenant), now.Add(h), now.Add(2*h))
	p.IdempotencyKey, p.RequestID = "same", "same"
	if _, err := b.store.CreateIdempotent(ctx, p, render); err != nil {
		t.Errorf("header and request_id equal: %v", err)
	}

	// The maximum length is the store's setting.
	short := reservation.NewStore(b.tenancy, reservation.Options{MaxDuration: 90 * time.Minute, Now: b.clock.Now})
	_, err := short.Create(ctx, params(tenant, user, space, now.Add(20*h), now.Add(22*h)))
	wantFields(t, "longer than the setting", err, "ends_at")
}

func TestSpaceScope(t *testing.T) {
	t.Parallel()
	b := newBundle(t, 4)
	ctx := testCtx(t)
	a, other, user := b.tenant(t), b.tenant(t), uuid.New()
	aSpace, otherSpace := b.space(t, a), b.space(t, other)
	start, end := b.slot(1, 1)

	_, err := b.store.Create(ctx, params(a, user, uuid.New(), start, end))
	wantNotFound(t, "unknown space", err)
	_, err = b.store.Create(ctx, params(a, user, otherSpace, start, end))
	wantNotFound(t, "another tenant's space", err)

	res, err := b.store.Create(ctx, params(a, user, aSpace, start, end))
	if err != nil {
		t.Fatal(err)
	}
	// The other tenant sees nothing of it.
	_, err = b.store.Get(ctx, other, res.ID)
	wantNotFound(t, "get another tenant's", err)
	_, err = b.store.Cancel(ctx, &reservation.CancelParams{TenantID: other, Actor: "user:x", ID: res.ID})
	wantNotFound(t, "cancel another tenant's", err)
	page, err := b.store.List(ctx, &reservation.ListParams{TenantID: other})
	if err != nil || len(page.Items) != 0 {
		t.Fatalf("other tenant's list: %+v, %v", page, err)
	}

	// A deleted space takes no bookings; its reservations stay readable.
	if _, err := b.store.Cancel(ctx, &reservation.CancelParams{TenantID: a, Actor: "user:x", ID: res.ID}); err != nil {
		t.Fatal(err)
	}
	if err := b.tenancy.SpaceDelete(ctx, &tenancy.SpaceDeleteParams{TenantID: a, Actor: "user:x", ID: aSpace}); err != nil {
		t.Fatal(err)
	}
	_, err = b.store.Create(ctx, params(a, user, aSpace, start, end))
	wantNotFound(t, "deleted space", err)
	if got, err := b.store.Get(ctx, a, res.ID); err != nil || got.SpaceID != aSpace {
		t.Fatalf("reservation of a deleted space: %+v, %v", got, err)
	}
}

func TestList(t *testing.T) {
	t.Parallel()
	b := newBundle(t, 4)
	ctx := testCtx(t)
	tenant, user := b.tenant(t), uuid.New()
	s1, s2 := b.space(t, tenant), b.space(t, tenant)
	// Booked out of order; listed by start. Hours 1..12 on s1 and s2
	// alternately, 2 h each, so none overlaps on a space.
	var want []uuid.UUID
	for _, h := range []int{5, 1, 9, 3, 11, 7} {
		start, end := b.slot(h, 1)
		sp := s1
		if h%4 == 3 {
			sp = s2
		}
		res, err := b.store.Create(ctx, params(tenant, user, sp, start, end))
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, res.ID)
	}
	all := collect(t, 4, func(pp tenancy.PageParams) (*tenancy.Page[reservation.Reservation], error) {
		return b.store.List(ctx, &reservation.ListParams{TenantID: tenant, Page: pp})
	})
	if len(all) != 6 {
		t.Fatalf("listed %d, want 6", len(all))
	}
	for i := 1; i < len(all); i++ {
		if !all[i].StartsAt.After(all[i-1].StartsAt) {
			t.Fatalf("not in start order: %v then %v", all[i-1].StartsAt, all[i].StartsAt)
		}
	}

	// Filters: space, status, and overlap with [from, to).
	onS2, err := b.store.List(ctx, &reservation.ListParams{TenantID: tenant, SpaceID: s2})
	if err != nil || len(onS2.Items) != 3 {
		t.Fatalf("space filter: %d, %v", len(onS2.Items), err)
	}
	if _, err := b.store.Cancel(ctx, &reservation.CancelParams{TenantID: tenant, Actor: "user:x", ID: want[1]}); err != nil {
		t.Fatal(err)
	}
	for status, n := range map[string]int{reservation.StatusCancelled: 1, reservation.StatusConfirmed: 5} {
		page, err := b.store.List(ctx, &reservation.ListParams{TenantID: tenant, Status: status})
		if err != nil || len(page.Items) != n {
			t.Fatalf("status %s: %d, %v", status, len(page.Items), err)
		}
	}
	from, _ := b.slot(3, 0)
	to, _ := b.slot(7, 0) // [3h, 7h) overlaps the slots at 3 and 5, not 7
	page, err := b.store.List(ctx, &reservation.ListParams{TenantID: tenant, From: from, To: to})
	if err != nil || len(page.Items) != 2 || page.Items[0].ID != want[3] || page.Items[1].ID != want[0] {
		t.Fatalf("range filter: %+v, %v", page, err)
	}
	page, err = b.store.List(ctx, &reservation.ListParams{TenantID: tenant, From: to.Add(30 * time.Minute)})
	if err != nil || len(page.Items) != 3 { // 7 (still running at 7:30), 9, 11
		t.Fatalf("open-ended range: %d, %v", len(page.Items), err)
	}

	_, err = b.store.List(ctx, &reservation.ListParams{TenantID: tenant, Status: "maybe", From: to, To: from, Page: tenancy.PageParams{Limit: 500}})
	wantFields(t, "bad filters", err, "status", "to", "limit")
}

// collect pages through a list with page size limit and returns every
// item, checking the page sizes.
func collect[T any](t *testing.T, limit int, list func(tenancy.PageParams) (*tenancy.Page[T], error)) []T {
	t.Helper()
	var all []T
	params := tenancy.PageParams{Limit: limit}
	for pages := 0; ; pages++ {
		if pages > 1000 {
			t.Fatal("pagination does not end")
		}
		p, err := list(params)
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Items) > limit {
			t.Fatalf("page of %d items, limit %d", len(p.Items), limit)
		}
		all = append(all, p.Items...)
		if p.Next == nil {
			return all
		}
		c, err := tenancy.DecodeCursor(p.Next.Encode())
		if err != nil {
			t.Fatal(err)
		}
		params.After = &c
	}
}
