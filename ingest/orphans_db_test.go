package ingest_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/parkhq/park/ingest"
	"github.com/parkhq/park/tenancy"
)

func TestOrphanAssignAppliesLastReading(t *testing.T) {
	t.Parallel()
	testOrphanAssign(t, newStoreFixture)
}

func testOrphanAssign(t *testing.T, newStoreFixture fixtureMaker) {
	// A space without a sensor, and one with another sensor.
	f := newStoreFixture(t, ingest.StoreOptions{}, euiA)
	ctx := context.Background()
	bare := uuid.New()
	if _, err := f.admin.Exec(ctx, `insert into spaces (tenant_id, id, site_id, code)
		select tenant_id, $2, site_id, 'BARE' from spaces where tenant_id = $1 limit 1`, f.tenant, bare); err != nil {
		t.Fatal(err)
	}
	f.storeBatch(t, reading(euiX, "o1", 1, no, t0), reading(euiX, "o2", 2, yes, t0.Add(time.Minute)))

	assign := func(eui string, space uuid.UUID) (*ingest.Orphan, error) {
		return f.store.OrphanAssign(ctx, &ingest.OrphanAssignParams{TenantID: f.tenant, DevEUI: eui, SpaceID: space, Actor: "operator:test"})
	}
	if _, err := assign(euiX, f.spaces[euiA]); !errors.Is(err, tenancy.ErrConflict) {
		t.Fatalf("assign to a space with another sensor: %v", err)
	}
	if _, err := assign("f0000000000000aa", bare); !errors.Is(err, tenancy.ErrNotFound) {
		t.Fatalf("assign an unknown orphan: %v", err)
	}
	if _, err := assign(euiX, uuid.New()); !errors.Is(err, tenancy.ErrNotFound) {
		t.Fatalf("assign to an unknown space: %v", err)
	}
	if _, err := assign("not-an-eui", bare); !errors.Is(err, tenancy.ErrInvalid) {
		t.Fatalf("assign a malformed EUI: %v", err)
	}

	// Separators and case are accepted, as everywhere a DevEUI is taken.
	o, err := assign("F0:00:00:00:00:00:00:FF", bare)
	if err != nil {
		t.Fatal(err)
	}
	if o.Status != ingest.OrphanAssigned || o.AssignedSpaceID == nil || *o.AssignedSpaceID != bare {
		t.Fatalf("orphan after assign: %+v", o)
	}
	var state string
	var sensor string
	var last time.Time
	if err := f.admin.QueryRow(ctx, `select state, sensor_eui, last_reading_at from spaces where tenant_id = $1 and id = $2`,
		f.tenant, bare).Scan(&state, &sensor, &last); err != nil {
		t.Fatal(err)
	}
	if state != "occupied" || sensor != euiX || !last.Equal(t0.Add(time.Minute)) {
		t.Fatalf("space after assign: %s %s %v", state, sensor, last)
	}
	// The device's next uplink is a reading of the space.
	if st := f.storeBatch(t, reading(euiX, "o3", 3, no, t0.Add(2*time.Minute))); st[0] != ingest.StatusStored {
		t.Fatalf("uplink after assign: %v", st)
	}
	if n := f.count(t, `select count(*) from sensor_readings where tenant_id = $1 and space_id = $2`, f.tenant, bare); n != 2 {
		t.Fatalf("%d readings of the space, want the applied one and the new one", n)
	}
	page, err := f.store.OrphanList(ctx, &ingest.OrphanListParams{TenantID: f.tenant})
	if err != nil || len(page.Items) != 0 {
		t.Fatalf("open orphans after assign: %+v %v", page, err)
	}
	if n := f.count(t, `select count(*) from audit_events where tenant_id = $1 and action = 'orphan.assign'`, f.tenant); n != 1 {
		t.Fatalf("%d assign audit events", n)
	}
}

func TestOrphanAssignKeepsNewerState(t *testing.T) {
	t.Parallel()
	f := newStoreFixture(t, ingest.StoreOptions{}, euiA)
	ctx := context.Background()
	// The space's sensor is removed after a reading at t0+1h; the orphan's
	// last reading is older, so it is history and leaves the state alone.
	f.storeBatch(t, reading(euiA, "k", 1, yes, t0.Add(time.Hour)))
	if _, err := f.admin.Exec(ctx, `update spaces set sensor_eui = null where tenant_id = $1`, f.tenant); err != nil {
		t.Fatal(err)
	}
	f.storeBatch(t, reading(euiX, "o", 1, no, t0))
	if _, err := f.store.OrphanAssign(ctx, &ingest.OrphanAssignParams{
		TenantID: f.tenant, DevEUI: euiX, SpaceID: f.spaces[euiA], Actor: "a"}); err != nil {
		t.Fatal(err)
	}
	var state string
	if err := f.admin.QueryRow(ctx, `select state from spaces where tenant_id = $1`, f.tenant).Scan(&state); err != nil {
		t.Fatal(err)
	}
	if state != "occupied" {
		t.Fatalf("an older orphan reading moved the space to %s", state)
	}
}

func TestOrphanListIgnorePurge(t *testing.T) {
	t.Parallel()
	f := newStoreFixture(t, ingest.StoreOptions{})
	ctx := context.Background()
	for i := range 7 {
		f.storeBatch(t, reading(fmt.Sprintf("f0000000000000%02x", i), "m", 1, yes, t0.Add(time.Duration(i)*time.Minute)))
	}
	// Pages of 3, newest first, neither skipping nor repeating.
	var seen []string
	params := &ingest.OrphanListParams{TenantID: f.tenant, Limit: 3}
	for {
		page, err := f.store.OrphanList(ctx, params)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range page.Items {
			seen = append(seen, o.DevEUI[14:])
		}
		if page.Next == nil {
			break
		}
		c, err := ingest.DecodeOrphanCursor(page.Next.Encode())
		if err != nil {
			t.Fatal(err)
		}
		params.After = &c
	}
	if fmt.Sprint(seen) != "[06 05 04 03 02 01 00]" {
		t.Fatalf("pages: %v", seen)
	}

	if _, err := f.store.OrphanIgnore(ctx, f.tenant, "f000000000000006", "operator:test"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.OrphanIgnore(ctx, f.tenant, "f0000000000000ee", "operator:test"); !errors.Is(err, tenancy.ErrNotFound) {
		t.Fatalf("ignore unknown: %v", err)
	}
	ignored, err := f.store.OrphanList(ctx, &ingest.OrphanListParams{TenantID: f.tenant, Status: ingest.OrphanIgnored})
	if err != nil || len(ignored.Items) != 1 {
		t.Fatalf("ignored: %+v %v", ignored, err)
	}
	// An ignored orphan keeps counting, and stays ignored.
	f.storeBatch(t, reading("f000000000000006", "m2", 2, yes, t0.Add(time.Hour)))
	o, err := f.store.OrphanGet(ctx, f.tenant, "f000000000000006")
	if err != nil || o.Status != ingest.OrphanIgnored || o.UplinkCount != 2 {
		t.Fatalf("ignored orphan after an uplink: %+v %v", o, err)
	}

	// Purge those not heard from since t0+3m (received one second after
	// their reading): 00, 01, 02.
	n, err := f.store.OrphanPurge(ctx, f.tenant, t0.Add(3*time.Minute), "operator:test")
	if err != nil || n != 3 {
		t.Fatalf("purge older: %d %v", n, err)
	}
	n, err = f.store.OrphanPurge(ctx, f.tenant, time.Time{}, "operator:test")
	if err != nil || n != 4 {
		t.Fatalf("purge all: %d %v", n, err)
	}
	if _, err := f.store.OrphanList(ctx, &ingest.OrphanListParams{TenantID: f.tenant, Status: "lost"}); !errors.Is(err, tenancy.ErrInvalid) {
		t.Fatalf("bad status: %v", err)
	}
	if _, err := f.store.OrphanList(ctx, &ingest.OrphanListParams{TenantID: f.tenant, Limit: tenancy.MaxPageLimit + 1}); !errors.Is(err, tenancy.ErrInvalid) {
		t.Fatalf("bad limit: %v", err)
	}
}

func TestOrphansAreTenantScoped(t *testing.T) {
	t.Parallel()
	f := newStoreFixture(t, ingest.StoreOptions{})
	ctx := context.Background()
	f.storeBatch(t, reading(euiX, "m", 1, yes, t0))
	other := newTenant(t, f.db)
	if _, err := f.store.OrphanGet(ctx, other, euiX); !errors.Is(err, tenancy.ErrNotFound) {
		t.Fatalf("other tenant reads the orphan: %v", err)
	}
	if _, err := f.store.OrphanIgnore(ctx, other, euiX, "a"); !errors.Is(err, tenancy.ErrNotFound) {
		t.Fatalf("other tenant ignores the orphan: %v", err)
	}
	if n, err := f.store.OrphanPurge(ctx, other, time.Time{}, "a"); err != nil || n != 0 {
		t.Fatalf("other tenant purged %d: %v", n, err)
	}
	if o, err := f.store.OrphanGet(ctx, f.tenant, euiX); err != nil || o.Status != ingest.OrphanNew {
		t.Fatalf("orphan after the other tenant's attempts: %+v %v", o, err)
	}
}

func FuzzDecodeOrphanCursor(f *testing.F) {
	f.Add(ingest.OrphanCursor{LastSeenAt: t0, DevEUI: euiA}.Encode())
	f.Add("")
	f.Add("AAAAAAAAAAAAAAAAAAAAAAA")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ingest.DecodeOrphanCursor(s)
		if err != nil {
			if !errors.Is(err, tenancy.ErrMalformedCursor) {
				t.Fatalf("error %v is not ErrMalformedCursor", err)
			}
			return
		}
		if c.Encode() != s {
			t.Fatalf("%q decodes to %+v, which encodes to %q", s, c, c.Encode())
		}
	})
}

func TestReadingList(t *testing.T) {
	t.Parallel()
	f := newStoreFixture(t, ingest.StoreOptions{}, euiA, euiB)
	ctx := context.Background()
	for i := range 7 {
		f.storeBatch(t, reading(euiA, fmt.Sprintf("m%d", i), uint32(i), yes, t0.Add(time.Duration(i)*time.Minute)))
	}
	f.storeBatch(t, reading(euiB, "other", 1, yes, t0))
	var seen []int64
	params := &ingest.ReadingListParams{TenantID: f.tenant, SpaceID: f.spaces[euiA], Limit: 3, Since: t0.Add(time.Minute)}
	for {
		page, err := f.store.ReadingList(ctx, params)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range page.Items {
			if r.SpaceID != f.spaces[euiA] {
				t.Fatalf("a reading of another space: %+v", r)
			}
			seen = append(seen, *r.FCnt)
		}
		if page.Next == nil {
			break
		}
		c, err := ingest.DecodeReadingCursor(page.Next.Encode())
		if err != nil {
			t.Fatal(err)
		}
		params.After = &c
	}
	// Newest first, since t0+1m: 6 down to 1.
	if fmt.Sprint(seen) != "[6 5 4 3 2 1]" {
		t.Fatalf("pages: %v", seen)
	}
	other := newTenant(t, f.db)
	if _, err := f.store.ReadingList(ctx, &ingest.ReadingListParams{TenantID: other, SpaceID: f.spaces[euiA]}); !errors.Is(err, tenancy.ErrNotFound) {
		t.Fatalf("another tenant's space: %v", err)
	}
	if _, err := f.store.ReadingList(ctx, &ingest.ReadingListParams{TenantID: f.tenant, SpaceID: uuid.New()}); !errors.Is(err, tenancy.ErrNotFound) {
		t.Fatalf("unknown space: %v", err)
	}
	for _, p := range []*ingest.ReadingListParams{
		{TenantID: f.tenant, SpaceID: f.spaces[euiA], Limit: -1},
		{TenantID: f.tenant, SpaceID: f.spaces[euiA], Since: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)},
	} {
		if _, err := f.store.ReadingList(ctx, p); !errors.Is(err, tenancy.ErrInvalid) {
			t.Errorf("%+v: %v, want ErrInvalid", p, err)
		}
	}
}

func FuzzDecodeReadingCursor(f *testing.F) {
	f.Add(ingest.ReadingCursor{ReadAt: t0, ID: 42}.Encode())
	f.Add("")
	f.Add("AQAAAAAAAAAAAAAAAAAAAAA")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ingest.DecodeReadingCursor(s)
		if err != nil {
			if !errors.Is(err, tenancy.ErrMalformedCursor) {
				t.Fatalf("error %v is not ErrMalformedCursor", err)
			}
			return
		}
		if c.Encode() != s {
			t.Fatalf("%q decodes to %+v, which encodes to %q", s, c, c.Encode())
		}
	})
}

func TestOrphanCountsAcrossTenants(t *testing.T) {
	t.Parallel()
	f := newStoreFixture(t, ingest.StoreOptions{})
	ctx := context.Background()
	f.storeBatch(t, reading(euiX, "m", 1, yes, t0), reading("f000000000000001", "m", 1, yes, t0))
	if _, err := f.store.OrphanIgnore(ctx, f.tenant, euiX, "a"); err != nil {
		t.Fatal(err)
	}
	other := newTenant(t, f.db)
	otherStore := ingest.NewStore(tenancy.NewStore(execPool(t, f.db)), ingest.StoreOptions{})
	if _, err := otherStore.StoreBatch(ctx, other, []*ingest.Uplink{reading(euiX, "m", 1, yes, t0)}); err != nil {
		t.Fatal(err)
	}
	// park_server, which reads one tenant at a time, gets the numbers of
	// all through the definer function, and nothing else.
	counts, err := f.store.OrphanCounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(counts) != "map[assigned:0 ignored:1 new:2]" {
		t.Fatalf("counts %v", counts)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(ingest.NewOrphanCollector(f.store, 5*time.Second, nil))
	mfs, err := reg.Gather()
	if err != nil || len(mfs) != 1 || len(mfs[0].GetMetric()) != 3 {
		t.Fatalf("gathered %v, %v", mfs, err)
	}
}
