package tenancy_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/parkhq/park/tenancy"
)

func TestSpaceCRUD(t *testing.T) {
	t.Parallel()
	b := newResBundle(t)
	ctx := testCtx(t)
	tenant := b.tenant(t)
	site := b.site(t, tenant, "Garage")
	other := b.site(t, tenant, "Lot")

	sp, err := b.store.SpaceCreate(ctx, &tenancy.SpaceCreateParams{TenantID: tenant, Actor: testActor,
		SiteID: site.ID, Code: " A-1 ", Name: "Near the lift", SensorEUI: ptr("70-B3-D5-7E-D0-00-00-01")})
	if err != nil {
		t.Fatal(err)
	}
	if sp.Code != "A-1" || sp.SiteName != "Garage" || sp.Name != "Near the lift" || sp.State != tenancy.SpaceUnknown ||
		sp.SensorEUI == nil || *sp.SensorEUI != "70b3d57ed0000001" || sp.StateChangedAt != nil || sp.TenantID != tenant {
		t.Fatalf("created %+v", sp)
	}
	if n := b.audits(t, tenant, "space.create", sp.ID.String()); n != 1 {
		t.Fatalf("%d space.create audit events", n)
	}
	got, err := b.store.SpaceGet(ctx, tenant, sp.ID)
	if err != nil || got.Code != "A-1" || got.SiteName != "Garage" || !got.CreatedAt.Equal(sp.CreatedAt) {
		t.Fatalf("get: %+v, %v", got, err)
	}

	// Partial update: the code only.
	upd, err := b.store.SpaceUpdate(ctx, &tenancy.SpaceUpdateParams{TenantID: tenant, Actor: testActor, ID: sp.ID, Code: tenancy.Some("A-2")})
	if err != nil || upd.Code != "A-2" || upd.Name != "Near the lift" || upd.SensorEUI == nil || *upd.SensorEUI != "70b3d57ed0000001" {
		t.Fatalf("code update: %+v, %v", upd, err)
	}
	// Null clears the sensor and the display name; the site can change.
	upd, err = b.store.SpaceUpdate(ctx, &tenancy.SpaceUpdateParams{TenantID: tenant, Actor: testActor, ID: sp.ID,
		SensorEUI: tenancy.Null[string](), Name: tenancy.Null[string](), SiteID: tenancy.Some(other.ID)})
	if err != nil || upd.SensorEUI != nil || upd.Name != "" || upd.SiteID != other.ID || upd.SiteName != "Lot" || upd.Code != "A-2" {
		t.Fatalf("clearing update: %+v, %v", upd, err)
	}
	upd, err = b.store.SpaceUpdate(ctx, &tenancy.SpaceUpdateParams{TenantID: tenant, Actor: testActor, ID: sp.ID, SensorEUI: tenancy.Some("70b3d57ed00000FF")})
	if err != nil || upd.SensorEUI == nil || *upd.SensorEUI != "70b3d57ed00000ff" {
		t.Fatalf("sensor update: %+v, %v", upd, err)
	}
	if n := b.audits(t, tenant, "space.update", sp.ID.String()); n != 3 {
		t.Fatalf("%d space.update audit events, want 3", n)
	}

	if err := b.store.SpaceDelete(ctx, &tenancy.SpaceDeleteParams{TenantID: tenant, Actor: testActor, ID: sp.ID}); err != nil {
		t.Fatal(err)
	}
	_, err = b.store.SpaceGet(ctx, tenant, sp.ID)
	wantNotFound(t, "get deleted", err)
	_, err = b.store.SpaceUpdate(ctx, &tenancy.SpaceUpdateParams{TenantID: tenant, Actor: testActor, ID: sp.ID, Code: tenancy.Some("Z")})
	wantNotFound(t, "update deleted", err)
	err = b.store.SpaceDelete(ctx, &tenancy.SpaceDeleteParams{TenantID: tenant, Actor: testActor, ID: sp.ID})
	wantNotFound(t, "delete deleted", err)
	// Soft: the row stays for history.
	var deleted bool
	if err := b.admin.QueryRow(ctx, `select deleted_at is not null from spaces where id = $1`, sp.ID).Scan(&deleted); err != nil || !deleted {
		t.Fatalf("soft delete: deleted=%v %v", deleted, err)
	}
}

func TestSpaceUniqueness(t *testing.T) {
	t.Parallel()
	b := newResBundle(t)
	ctx := testCtx(t)
	tenant := b.tenant(t)
	site := b.site(t, tenant, "Garage")
	other := b.site(t, tenant, "Lot")
	first := b.space(t, tenant, site.ID, "A1", ptr("0000000000000001"))

	_, err := b.store.SpaceCreate(ctx, &tenancy.SpaceCreateParams{TenantID: tenant, Actor: testActor, SiteID: site.ID, Code: "A1"})
	wantConflict(t, err, "code")
	// Same code on another site is fine; the same sensor in the tenant is not,
	// in whatever notation.
	b.space(t, tenant, other.ID, "A1", nil)
	_, err = b.store.SpaceCreate(ctx, &tenancy.SpaceCreateParams{TenantID: tenant, Actor: testActor, SiteID: other.ID, Code: "B1", SensorEUI: ptr("00:00:00:00:00:00:00:01")})
	wantConflict(t, err, "sensor_eui")
	second := b.space(t, tenant, site.ID, "A2", nil)
	_, err = b.store.SpaceUpdate(ctx, &tenancy.SpaceUpdateParams{TenantID: tenant, Actor: testActor, ID: second.ID, Code: tenancy.Some("A1")})
	wantConflict(t, err, "code")
	_, err = b.store.SpaceUpdate(ctx, &tenancy.SpaceUpdateParams{TenantID: tenant, Actor: testActor, ID: second.ID, SensorEUI: tenancy.Some("0000000000000001")})
	wantConflict(t, err, "sensor_eui")

	// Another tenant may use the same sensor and code.
	bt := b.tenant(t)
	b.space(t, bt, b.site(t, bt, "Garage").ID, "A1", ptr("0000000000000001"))

	// After a soft delete, code and sensor are free again.
	if err := b.store.SpaceDelete(ctx, &tenancy.SpaceDeleteParams{TenantID: tenant, Actor: testActor, ID: first.ID}); err != nil {
		t.Fatal(err)
	}
	reused := b.space(t, tenant, site.ID, "A1", ptr("0000000000000001"))
	if reused.ID == first.ID {
		t.Fatal("the deleted space came back")
	}
}

func TestSpaceValidation(t *testing.T) {
	t.Parallel()
	b := newResBundle(t)
	ctx := testCtx(t)
	tenant := b.tenant(t)
	site := b.site(t, tenant, "Garage")
	sp := b.space(t, tenant, site.ID, "A1", nil)

	_, err := b.store.SpaceCreate(ctx, &tenancy.SpaceCreateParams{TenantID: tenant, Actor: testActor,
		Code: "a/b", Name: strings.Repeat("n", 201), SensorEUI: ptr("not-an-eui")})
	wantFieldError(t, err, "site_id", "code", "name", "sensor_eui")
	_, err = b.store.SpaceCreate(ctx, &tenancy.SpaceCreateParams{TenantID: tenant, Actor: testActor, SiteID: site.ID, Code: strings.Repeat("c", 65)})
	wantFieldError(t, err, "code")

	// A missing site and another tenant's site look the same: a field error.
	foreign := b.site(t, b.tenant(t), "Foreign")
	for _, siteID := range []uuid.UUID{uuid.New(), foreign.ID} {
		_, err = b.store.SpaceCreate(ctx, &tenancy.SpaceCreateParams{TenantID: tenant, Actor: testActor, SiteID: siteID, Code: "X1"})
		v := wantFieldError(t, err, "site_id")
		if v.Fields["site_id"][0] != "no such site" {
			t.Fatalf("site_id problem %v", v.Fields)
		}
		_, err = b.store.SpaceUpdate(ctx, &tenancy.SpaceUpdateParams{TenantID: tenant, Actor: testActor, ID: sp.ID, SiteID: tenancy.Some(siteID)})
		wantFieldError(t, err, "site_id")
	}
	_, err = b.store.SpaceUpdate(ctx, &tenancy.SpaceUpdateParams{TenantID: tenant, Actor: testActor, ID: sp.ID,
		SiteID: tenancy.Null[uuid.UUID](), Code: tenancy.Null[string](), SensorEUI: tenancy.Some("12")})
	wantFieldError(t, err, "site_id", "code", "sensor_eui")

	_, err = b.store.SpaceList(ctx, &tenancy.SpaceListParams{TenantID: tenant, State: "parked", Page: tenancy.PageParams{Limit: 1000}})
	wantFieldError(t, err, "state", "limit")
}

func TestSpaceListFilters(t *testing.T) {
	t.Parallel()
	b := newResBundle(t)
	ctx := testCtx(t)
	tenant := b.tenant(t)
	garage, lot := b.site(t, tenant, "Garage"), b.site(t, tenant, "Lot")
	var garageIDs []uuid.UUID
	for _, c := range []string{"G1", "G2", "G3", "G4", "G5"} {
		garageIDs = append(garageIDs, b.space(t, tenant, garage.ID, c, nil).ID)
	}
	lotSpace := b.space(t, tenant, lot.ID, "L1", nil)
	gone := b.space(t, tenant, lot.ID, "L2", nil)
	if err := b.store.SpaceDelete(ctx, &tenancy.SpaceDeleteParams{TenantID: tenant, Actor: testActor, ID: gone.ID}); err != nil {
		t.Fatal(err)
	}
	// State belongs to ingest; arrange it as the superuser.
	if _, err := b.admin.Exec(ctx, `update spaces set state = 'occupied' where id = any($1)`, []uuid.UUID{garageIDs[1], lotSpace.ID}); err != nil {
		t.Fatal(err)
	}
	// Noise in another tenant.
	bt := b.tenant(t)
	b.space(t, bt, b.site(t, bt, "Garage").ID, "G1", nil)

	list := func(p tenancy.SpaceListParams) []tenancy.Space {
		p.TenantID = tenant
		return collect(t, 2, func(pp tenancy.PageParams) (*tenancy.Page[tenancy.Space], error) {
			p.Page = pp
			return b.store.SpaceList(ctx, &p)
		})
	}
	codes := func(spaces []tenancy.Space) string {
		var cs []string
		for _, s := range spaces {
			cs = append(cs, s.Code)
		}
		return strings.Join(cs, ",")
	}
	for _, tt := range []struct {
		params tenancy.SpaceListParams
		want   string
	}{
		{tenancy.SpaceListParams{}, "G1,G2,G3,G4,G5,L1"},
		{tenancy.SpaceListParams{SiteID: garage.ID}, "G1,G2,G3,G4,G5"},
		{tenancy.SpaceListParams{SiteID: lot.ID}, "L1"},
		{tenancy.SpaceListParams{State: tenancy.SpaceOccupied}, "G2,L1"},
		{tenancy.SpaceListParams{SiteID: garage.ID, State: tenancy.SpaceUnknown}, "G1,G3,G4,G5"},
		{tenancy.SpaceListParams{SiteID: uuid.New()}, ""},
	} {
		if got := codes(list(tt.params)); got != tt.want {
			t.Errorf("list %+v: %s, want %s", tt.params, got, tt.want)
		}
	}
}

func TestSpaceDeleteWithReservations(t *testing.T) {
	t.Parallel()
	b := newResBundle(t)
	ctx := testCtx(t)
	tenant := b.tenant(t)
	site := b.site(t, tenant, "Garage")
	reserve := func(space uuid.UUID, during, status string) {
		t.Helper()
		cancelled := "null"
		if status == "cancelled" {
			cancelled = "now()"
		}
		if _, err := b.admin.Exec(ctx, `insert into reservations (tenant_id, id, space_id, during, status, cancelled_at)
			values ($1, $2, $3, `+during+`, $4, `+cancelled+`)`, tenant, uuid.New(), space, status); err != nil {
			t.Fatal(err)
		}
	}
	del := func(space uuid.UUID) error {
		return b.store.SpaceDelete(ctx, &tenancy.SpaceDeleteParams{TenantID: tenant, Actor: testActor, ID: space})
	}

	future := b.space(t, tenant, site.ID, "F1", nil).ID
	reserve(future, `tstzrange(now() + interval '1 day', now() + interval '2 days')`, "confirmed")
	reserve(future, `tstzrange(now() - interval '2 days', now() - interval '1 day')`, "confirmed")
	if err := del(future); !errors.Is(err, tenancy.ErrConflict) {
		t.Fatalf("delete with a future reservation: %v, want ErrConflict", err)
	}
	ongoing := b.space(t, tenant, site.ID, "O1", nil).ID
	reserve(ongoing, `tstzrange(now() - interval '1 hour', now() + interval '1 hour')`, "confirmed")
	if err := del(ongoing); !errors.Is(err, tenancy.ErrConflict) {
		t.Fatalf("delete with an ongoing reservation: %v, want ErrConflict", err)
	}
	if got, err := b.store.SpaceGet(ctx, tenant, future); err != nil || got.ID != future {
		t.Fatalf("the refused delete deleted: %v", err)
	}

	// Past and cancelled reservations do not hold the space.
	done := b.space(t, tenant, site.ID, "D1", nil).ID
	reserve(done, `tstzrange(now() - interval '2 days', now() - interval '1 day')`, "confirmed")
	reserve(done, `tstzrange(now() + interval '1 day', now() + interval '2 days')`, "cancelled")
	if err := del(done); err != nil {
		t.Fatalf("delete with past and cancelled reservations: %v", err)
	}
	var kept int
	if err := b.admin.QueryRow(ctx, `select count(*) from reservations where space_id = $1`, done).Scan(&kept); err != nil || kept != 2 {
		t.Fatalf("reservations after a soft delete: %d, %v", kept, err)
	}
}

func TestSpaceIsolation(t *testing.T) {
	t.Parallel()
	b := newResBundle(t)
	ctx := testCtx(t)
	a, other := b.tenant(t), b.tenant(t)
	sp := b.space(t, a, b.site(t, a, "Garage").ID, "A1", ptr("0000000000000abc"))

	_, err := b.store.SpaceGet(ctx, other, sp.ID)
	wantNotFound(t, "get", err)
	_, err = b.store.SpaceUpdate(ctx, &tenancy.SpaceUpdateParams{TenantID: other, Actor: testActor, ID: sp.ID, Code: tenancy.Some("mine")})
	wantNotFound(t, "update", err)
	err = b.store.SpaceDelete(ctx, &tenancy.SpaceDeleteParams{TenantID: other, Actor: testActor, ID: sp.ID})
	wantNotFound(t, "delete", err)
	page, err := b.store.SpaceList(ctx, &tenancy.SpaceListParams{TenantID: other, SiteID: sp.SiteID})
	if err != nil || len(page.Items) != 0 {
		t.Fatalf("other tenant's list: %+v, %v", page, err)
	}
	if got, err := b.store.SpaceGet(ctx, a, sp.ID); err != nil || got.Code != "A1" {
		t.Fatalf("A's space after B's attempts: %+v, %v", got, err)
	}
}

// TestListReadsIntoAPageSizedSlice: a page's rows go into a slice made for
// the page and its look-ahead row (limit+1), not one grown from nil by
// appending, which copied the rows read so far several times over on
// every list request.
func TestListReadsIntoAPageSizedSlice(t *testing.T) {
	t.Parallel()
	b := newResBundle(t)
	ctx := testCtx(t)
	tenant := b.tenant(t)
	site := b.site(t, tenant, "Garage")
	if _, err := b.admin.Exec(ctx, `insert into spaces (tenant_id, id, site_id, code)
		select $1, gen_random_uuid(), $2, 'S' || i from generate_series(1, 60) i`, tenant, site.ID); err != nil {
		t.Fatal(err)
	}
	for _, limit := range []int{1, 50, 59, 60, 100} {
		page, err := b.store.SpaceList(ctx, &tenancy.SpaceListParams{TenantID: tenant, Page: tenancy.PageParams{Limit: limit}})
		if err != nil {
			t.Fatal(err)
		}
		if want := min(limit, 60); len(page.Items) != want || cap(page.Items) != limit+1 {
			t.Errorf("limit %d: %d items in a slice of capacity %d, want %d in %d", limit, len(page.Items), cap(page.Items), want, limit+1)
		}
	}
}
