package tenancy_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/parkhq/park/tenancy"
)

func TestSiteCRUD(t *testing.T) {
	t.Parallel()
	b := newResBundle(t)
	ctx := testCtx(t)
	tenant := b.tenant(t)

	site, err := b.store.SiteCreate(ctx, &tenancy.SiteCreateParams{TenantID: tenant, Actor: testActor, Name: "  Main Site ", Timezone: "America/Los_Angeles"})
	if err != nil {
		t.Fatal(err)
	}
	if site.Name != "Main Site" || site.Timezone != "America/Los_Angeles" || site.TenantID != tenant || site.ID == uuid.Nil {
		t.Fatalf("created %+v", site)
	}
	if n := b.audits(t, tenant, "site.create", site.ID.String()); n != 1 {
		t.Fatalf("%d site.create audit events", n)
	}

	got, err := b.store.SiteGet(ctx, tenant, site.ID)
	if err != nil || *got != *site {
		t.Fatalf("get: %+v, %v; want %+v", got, err, site)
	}

	upd, err := b.store.SiteUpdate(ctx, &tenancy.SiteUpdateParams{TenantID: tenant, Actor: testActor, ID: site.ID, Timezone: tenancy.Some("Europe/Berlin")})
	if err != nil {
		t.Fatal(err)
	}
	if upd.Name != "Main Site" || upd.Timezone != "Europe/Berlin" || !upd.UpdatedAt.After(site.UpdatedAt) || !upd.CreatedAt.Equal(site.CreatedAt) {
		t.Fatalf("partial update: %+v", upd)
	}
	// No field: no write.
	same, err := b.store.SiteUpdate(ctx, &tenancy.SiteUpdateParams{TenantID: tenant, Actor: testActor, ID: site.ID})
	if err != nil || !same.UpdatedAt.Equal(upd.UpdatedAt) {
		t.Fatalf("empty update: %+v, %v", same, err)
	}
	if n := b.audits(t, tenant, "site.update", site.ID.String()); n != 1 {
		t.Fatalf("%d site.update audit events, want 1", n)
	}

	if err := b.store.SiteDelete(ctx, &tenancy.SiteDeleteParams{TenantID: tenant, Actor: testActor, ID: site.ID}); err != nil {
		t.Fatal(err)
	}
	_, err = b.store.SiteGet(ctx, tenant, site.ID)
	wantNotFound(t, "get after delete", err)
	err = b.store.SiteDelete(ctx, &tenancy.SiteDeleteParams{TenantID: tenant, Actor: testActor, ID: site.ID})
	wantNotFound(t, "delete again", err)
	if n := b.audits(t, tenant, "site.delete", site.ID.String()); n != 1 {
		t.Fatalf("%d site.delete audit events", n)
	}
}

func TestSiteValidation(t *testing.T) {
	t.Parallel()
	b := newResBundle(t)
	ctx := testCtx(t)
	tenant := b.tenant(t)
	site := b.site(t, tenant, "North")

	tests := []struct {
		name, siteName, tz string
		fields             []string
	}{
		{"empty", "", "UTC", []string{"name"}},
		{"overlong", strings.Repeat("n", 201), "UTC", []string{"name"}},
		{"control", "a\x00b", "UTC", []string{"name"}},
		{"no zone", "x", "", []string{"timezone"}},
		{"local", "x", "Local", []string{"timezone"}},
		{"unknown zone", "x", "Moon/Tranquility", []string{"timezone"}},
		{"both", "", "Nowhere", []string{"name", "timezone"}},
	}
	for _, tt := range tests {
		_, err := b.store.SiteCreate(ctx, &tenancy.SiteCreateParams{TenantID: tenant, Actor: testActor, Name: tt.siteName, Timezone: tt.tz})
		v := wantFieldError(t, err, tt.fields...)
		if len(v.Fields) != len(tt.fields) {
			t.Errorf("%s: problems %v, want only %v", tt.name, v.Fields, tt.fields)
		}
	}
	_, err := b.store.SiteUpdate(ctx, &tenancy.SiteUpdateParams{TenantID: tenant, Actor: testActor, ID: site.ID,
		Name: tenancy.Null[string](), Timezone: tenancy.Some("Local")})
	wantFieldError(t, err, "name", "timezone")

	// Duplicates: 409 naming the field, on create and on rename.
	other := b.site(t, tenant, "South")
	_, err = b.store.SiteCreate(ctx, &tenancy.SiteCreateParams{TenantID: tenant, Actor: testActor, Name: "North", Timezone: "UTC"})
	wantConflict(t, err, "name")
	_, err = b.store.SiteUpdate(ctx, &tenancy.SiteUpdateParams{TenantID: tenant, Actor: testActor, ID: other.ID, Name: tenancy.Some(" North")})
	wantConflict(t, err, "name")
	var dbErr *tenancy.DBError
	if errors.As(err, &dbErr) {
		t.Fatalf("conflict wraps a *DBError: %v", err)
	}
	// Another tenant may use the same name.
	b.site(t, b.tenant(t), "North")
}

func TestSiteIsolation(t *testing.T) {
	t.Parallel()
	b := newResBundle(t)
	ctx := testCtx(t)
	a, other := b.tenant(t), b.tenant(t)
	site := b.site(t, a, "A's site")

	_, err := b.store.SiteGet(ctx, other, site.ID)
	wantNotFound(t, "get", err)
	_, err = b.store.SiteUpdate(ctx, &tenancy.SiteUpdateParams{TenantID: other, Actor: testActor, ID: site.ID, Name: tenancy.Some("mine")})
	wantNotFound(t, "update", err)
	err = b.store.SiteDelete(ctx, &tenancy.SiteDeleteParams{TenantID: other, Actor: testActor, ID: site.ID})
	wantNotFound(t, "delete", err)
	page, err := b.store.SiteList(ctx, other, tenancy.PageParams{})
	if err != nil || len(page.Items) != 0 || page.Next != nil {
		t.Fatalf("other tenant's list: %+v, %v", page, err)
	}
	if got, err := b.store.SiteGet(ctx, a, site.ID); err != nil || got.Name != "A's site" {
		t.Fatalf("A's site after B's attempts: %+v, %v", got, err)
	}
}

func TestSiteListPages(t *testing.T) {
	t.Parallel()
	b := newResBundle(t)
	ctx := testCtx(t)
	tenant := b.tenant(t)
	b.site(t, b.tenant(t), "noise") // another tenant's

	empty, err := b.store.SiteList(ctx, tenant, tenancy.PageParams{})
	if err != nil || empty.Items == nil || len(empty.Items) != 0 || empty.Next != nil {
		t.Fatalf("empty list: %+v, %v", empty, err)
	}

	want := map[uuid.UUID]bool{}
	for i := range 7 {
		want[b.site(t, tenant, "site "+string(rune('a'+i))).ID] = true
	}
	for _, limit := range []int{1, 3, 7, 50} {
		all := collect(t, limit, func(p tenancy.PageParams) (*tenancy.Page[tenancy.Site], error) {
			return b.store.SiteList(ctx, tenant, p)
		})
		seen := map[uuid.UUID]bool{}
		for i, s := range all {
			if !want[s.ID] || seen[s.ID] {
				t.Fatalf("limit %d: unexpected or repeated site %v", limit, s.ID)
			}
			seen[s.ID] = true
			if i > 0 && s.CreatedAt.Before(all[i-1].CreatedAt) {
				t.Fatalf("limit %d: not ordered by created_at", limit)
			}
		}
		if len(seen) != len(want) {
			t.Fatalf("limit %d: %d sites, want %d", limit, len(seen), len(want))
		}
	}

	// A cursor stays valid when the row it names is gone.
	first, err := b.store.SiteList(ctx, tenant, tenancy.PageParams{Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.store.SiteDelete(ctx, &tenancy.SiteDeleteParams{TenantID: tenant, Actor: testActor, ID: first.Items[1].ID}); err != nil {
		t.Fatal(err)
	}
	rest, err := b.store.SiteList(ctx, tenant, tenancy.PageParams{Limit: 50, After: first.Next})
	if err != nil || len(rest.Items) != 5 {
		t.Fatalf("after a deleted cursor row: %d items, %v", len(rest.Items), err)
	}

	for _, limit := range []int{-1, tenancy.MaxPageLimit + 1} {
		_, err := b.store.SiteList(ctx, tenant, tenancy.PageParams{Limit: limit})
		wantFieldError(t, err, "limit")
	}
}

func TestSiteDeleteWithSpaces(t *testing.T) {
	t.Parallel()
	b := newResBundle(t)
	ctx := testCtx(t)
	tenant := b.tenant(t)
	site := b.site(t, tenant, "Garage")
	s1 := b.space(t, tenant, site.ID, "A1", nil)
	s2 := b.space(t, tenant, site.ID, "A2", nil)

	err := b.store.SiteDelete(ctx, &tenancy.SiteDeleteParams{TenantID: tenant, Actor: testActor, ID: site.ID})
	if !errors.Is(err, tenancy.ErrConflict) {
		t.Fatalf("delete with live spaces: %v, want ErrConflict", err)
	}
	for _, id := range []uuid.UUID{s1.ID, s2.ID} {
		if err := b.store.SpaceDelete(ctx, &tenancy.SpaceDeleteParams{TenantID: tenant, Actor: testActor, ID: id}); err != nil {
			t.Fatal(err)
		}
	}
	// Only deleted spaces left: the site goes, and they with it.
	if err := b.store.SiteDelete(ctx, &tenancy.SiteDeleteParams{TenantID: tenant, Actor: testActor, ID: site.ID}); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := b.admin.QueryRow(ctx, `select count(*) from spaces where tenant_id = $1`, tenant).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d spaces left, %v", n, err)
	}
}
