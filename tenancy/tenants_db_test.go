package tenancy_test

import (
	"strings"
	"testing"

	"github.com/parkhq/park/tenancy"
)

func TestTenantGetAndUpdate(t *testing.T) {
	t.Parallel()
	b := newResBundle(t)
	ctx := testCtx(t)
	tenant := b.tenant(t)
	// Operator-only settings, and a key this version does not know.
	if _, err := b.admin.Exec(ctx, `update tenants set settings = '{"limits":{"api":{"rate":5,"burst":10}},"future_key":{"x":[1,2]}}' where id = $1`, tenant); err != nil {
		t.Fatal(err)
	}

	got, err := b.store.TenantGet(ctx, tenant)
	if err != nil || got.ID != tenant || got.Status != tenancy.StatusActive || got.Settings.Limits["api"].Burst != 10 || got.Settings.Occupancy != nil {
		t.Fatalf("get: %+v, %v", got, err)
	}

	occ := tenancy.Occupancy{Field: "status", Occupied: []any{true, "occupied", 1.0}, Free: []any{false, "free", 0.0}}
	upd, err := b.store.TenantUpdate(ctx, &tenancy.TenantUpdateParams{TenantID: tenant, Actor: testActor,
		Name: tenancy.Some(" Acme Parking "), Occupancy: tenancy.Some(occ),
		WebhookTokenMode: tenancy.Some(false), ReadingRetentionDays: tenancy.Some(30)})
	if err != nil {
		t.Fatal(err)
	}
	s := upd.Settings
	if upd.Name != "Acme Parking" || s.Occupancy == nil || s.Occupancy.Field != "status" || len(s.Occupancy.Free) != 3 ||
		s.WebhookTokenMode == nil || *s.WebhookTokenMode || s.ReadingRetentionDays == nil || *s.ReadingRetentionDays != 30 ||
		s.Limits["api"].Rate != 5 || !upd.UpdatedAt.After(got.UpdatedAt) {
		t.Fatalf("update: %+v %+v", upd, s)
	}

	// Null returns a setting to the default; untouched keys stay as they were.
	upd, err = b.store.TenantUpdate(ctx, &tenancy.TenantUpdateParams{TenantID: tenant, Actor: testActor, ReadingRetentionDays: tenancy.Null[int]()})
	if err != nil || upd.Settings.ReadingRetentionDays != nil || upd.Settings.Occupancy == nil || upd.Name != "Acme Parking" {
		t.Fatalf("clearing update: %+v, %v", upd, err)
	}
	var raw string
	if err := b.admin.QueryRow(ctx, `select settings::text from tenants where id = $1`, tenant).Scan(&raw); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(raw, `"future_key": {"x": [1, 2]}`) || !strings.Contains(raw, `"limits"`) || strings.Contains(raw, "reading_retention_days") {
		t.Fatalf("stored settings %s", raw)
	}
	if n := b.audits(t, tenant, "tenant.update", tenant.String()); n != 2 {
		t.Fatalf("%d tenant.update audit events, want 2", n)
	}
	// No field: nothing written.
	same, err := b.store.TenantUpdate(ctx, &tenancy.TenantUpdateParams{TenantID: tenant, Actor: testActor})
	if err != nil || !same.UpdatedAt.Equal(upd.UpdatedAt) {
		t.Fatalf("empty update: %+v, %v", same, err)
	}
}

func TestTenantUpdateValidation(t *testing.T) {
	t.Parallel()
	b := newResBundle(t)
	ctx := testCtx(t)
	tenant := b.tenant(t)
	many := make([]any, 17)
	for i := range many {
		many[i] = float64(i + 10)
	}
	tests := []struct {
		name   string
		params tenancy.TenantUpdateParams
		fields []string
	}{
		{"null name", tenancy.TenantUpdateParams{Name: tenancy.Null[string]()}, []string{"name"}},
		{"long name", tenancy.TenantUpdateParams{Name: tenancy.Some(strings.Repeat("x", 201))}, []string{"name"}},
		{"retention low", tenancy.TenantUpdateParams{ReadingRetentionDays: tenancy.Some(0)}, []string{"settings.reading_retention_days"}},
		{"retention high", tenancy.TenantUpdateParams{ReadingRetentionDays: tenancy.Some(3651)}, []string{"settings.reading_retention_days"}},
		{"occupancy empty", tenancy.TenantUpdateParams{Occupancy: tenancy.Some(tenancy.Occupancy{})},
			[]string{"settings.occupancy.field", "settings.occupancy.occupied", "settings.occupancy.free"}},
		{"occupancy shapes", tenancy.TenantUpdateParams{Occupancy: tenancy.Some(tenancy.Occupancy{
			Field: strings.Repeat("f", 65), Occupied: []any{map[string]any{"a": 1}, nil}, Free: many})},
			[]string{"settings.occupancy.field", "settings.occupancy.occupied[0]", "settings.occupancy.occupied[1]", "settings.occupancy.free"}},
		{"occupancy overlap", tenancy.TenantUpdateParams{Occupancy: tenancy.Some(tenancy.Occupancy{
			Field: "occupied", Occupied: []any{true, 1.0}, Free: []any{false, 1.0}})},
			[]string{"settings.occupancy.free"}},
	}
	for _, tt := range tests {
		p := tt.params
		p.TenantID, p.Actor = tenant, testActor
		_, err := b.store.TenantUpdate(ctx, &p)
		v := wantFieldError(t, err, tt.fields...)
		if len(v.Fields) != len(tt.fields) {
			t.Errorf("%s: problems %v, want %v", tt.name, v.Fields, tt.fields)
		}
	}
	if n := b.audits(t, tenant, "tenant.update", tenant.String()); n != 0 {
		t.Fatalf("%d audit events after invalid updates", n)
	}
}
