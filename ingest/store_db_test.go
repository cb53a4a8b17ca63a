package ingest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parkhq/park/ingest"
	"github.com/parkhq/park/internal/pgtest"
	"github.com/parkhq/park/ratelimit"
	"github.com/parkhq/park/tenancy"
)

// storeFixture is a tenant with one site and spaces with sensors, and a
// Store that writes as park_app.
type storeFixture struct {
	db     *pgtest.DB
	admin  *pgxpool.Pool
	tenant uuid.UUID
	store  *ingest.Store
	spaces map[string]uuid.UUID // by sensor EUI
}

// newStoreFixture writes through a pool in pgx's exec mode, the mode
// PgBouncer needs, where parameters have no described types: every
// statement must cast its parameters. TestStoreBatchThroughWriter uses the
// default mode.
func newStoreFixture(t *testing.T, opts ingest.StoreOptions, euis ...string) *storeFixture {
	t.Helper()
	db := pgtest.NewDB(t)
	f := &storeFixture{db: db, admin: db.AdminPool(t), tenant: newTenant(t, db), spaces: map[string]uuid.UUID{}}
	f.store = ingest.NewStore(tenancy.NewStore(execPool(t, db)), opts)
	f.addSpaces(t, f.tenant, euis...)
	return f
}

// fixtureMaker makes a storeFixture: newStoreFixture, or a variant whose
// store goes another way (through PgBouncer, in pgx's default mode), so one
// test body runs each way.
type fixtureMaker func(t *testing.T, opts ingest.StoreOptions, euis ...string) *storeFixture

func execPool(t *testing.T, db *pgtest.DB) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(db.ServerURL + "&default_query_exec_mode=exec")
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 8
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

func (f *storeFixture) addSpaces(t *testing.T, tenant uuid.UUID, euis ...string) {
	t.Helper()
	ctx := context.Background()
	site := uuid.New()
	if _, err := f.admin.Exec(ctx, `insert into sites (tenant_id, id, name, timezone) values ($1, $2, $3, 'UTC')`,
		tenant, site, "site-"+site.String()[:8]); err != nil {
		t.Fatal(err)
	}
	for i, eui := range euis {
		id := uuid.New()
		if _, err := f.admin.Exec(ctx, `insert into spaces (tenant_id, id, site_id, code, sensor_eui) values ($1, $2, $3, $4, $5)`,
			tenant, id, site, fmt.Sprintf("S%d", i), eui); err != nil {
			t.Fatal(err)
		}
		if tenant == f.tenant {
			f.spaces[eui] = id
		}
	}
}

type spaceState struct {
	State         string
	ChangedAt     *time.Time
	LastReadingAt *time.Time
}

func (f *storeFixture) space(t *testing.T, eui string) spaceState {
	t.Helper()
	var s spaceState
	if err := f.admin.QueryRow(context.Background(),
		`select state, state_changed_at, last_reading_at from spaces where tenant_id = $1 and id = $2`,
		f.tenant, f.spaces[eui]).Scan(&s.State, &s.ChangedAt, &s.LastReadingAt); err != nil {
		t.Fatal(err)
	}
	return s
}

func (f *storeFixture) count(t *testing.T, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := f.admin.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func (f *storeFixture) storeBatch(t *testing.T, ups ...*ingest.Uplink) []ingest.Status {
	t.Helper()
	st, err := f.store.StoreBatch(context.Background(), f.tenant, ups)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

var t0 = time.Date(2030, 5, 1, 12, 0, 0, 0, time.UTC)

// reading makes an uplink as a decoder would.
func reading(eui, key string, fcnt uint32, occupied *bool, readAt time.Time) *ingest.Uplink {
	rssi, snr := -97, 7.25
	return &ingest.Uplink{
		Source: ingest.SourceChirpStack, DevEUI: eui, FCnt: &fcnt, MsgKey: key,
		ReadAt: readAt, ReceivedAt: readAt.Add(time.Second), Occupied: occupied,
		RSSI: &rssi, SNR: &snr, Payload: json.RawMessage(`{"occupied":true,"battery":3.1}`),
	}
}

var (
	yes = ptr(true)
	no  = ptr(false)
)

const (
	euiA = "a000000000000001"
	euiB = "a000000000000002"
	euiX = "f0000000000000ff" // no space has it
)

func TestStoreBatchStoresAndDedupes(t *testing.T) {
	t.Parallel()
	testStoresAndDedupes(t, newStoreFixture)
}

func testStoresAndDedupes(t *testing.T, newStoreFixture fixtureMaker) {
	f := newStoreFixture(t, ingest.StoreOptions{}, euiA, euiB)

	st := f.storeBatch(t,
		reading(euiA, "m1", 1, yes, t0),
		reading(euiB, "m2", 1, no, t0),
		reading(euiA, "m1", 1, yes, t0), // the same message twice in one batch
	)
	if fmt.Sprint(st) != "[stored stored duplicate]" {
		t.Fatalf("statuses %v", st)
	}
	if got := f.space(t, euiA); got.State != "occupied" || !got.LastReadingAt.Equal(t0) || !got.ChangedAt.Equal(t0) {
		t.Fatalf("space A: %+v", got)
	}
	if got := f.space(t, euiB); got.State != "free" {
		t.Fatalf("space B: %+v", got)
	}
	// The same message again in a later batch is a duplicate and stores
	// nothing; the same frame counter under a new message id (after a
	// rejoin) is a new reading.
	st = f.storeBatch(t, reading(euiA, "m1", 1, yes, t0), reading(euiA, "m3", 1, no, t0.Add(time.Minute)))
	if fmt.Sprint(st) != "[duplicate stored]" {
		t.Fatalf("statuses %v", st)
	}
	if n := f.count(t, `select count(*) from sensor_readings where tenant_id = $1`, f.tenant); n != 3 {
		t.Fatalf("%d readings stored, want 3", n)
	}
	if got := f.space(t, euiA); got.State != "free" || !got.ChangedAt.Equal(t0.Add(time.Minute)) {
		t.Fatalf("space A after the new reading: %+v", got)
	}

	// What was stored is what the uplink said.
	var (
		fcnt     int64
		src, key string
		rssi     int
		snr      float64
		payload  map[string]any
	)
	if err := f.admin.QueryRow(context.Background(),
		`select f_cnt, source, msg_key, rssi, snr, payload from sensor_readings where tenant_id = $1 and msg_key = 'm2'`,
		f.tenant).Scan(&fcnt, &src, &key, &rssi, &snr, &payload); err != nil {
		t.Fatal(err)
	}
	if fcnt != 1 || src != "chirpstack" || rssi != -97 || snr != 7.25 || payload["battery"] != 3.1 {
		t.Fatalf("stored row: %v %v %v %v %v %v", fcnt, src, key, rssi, snr, payload)
	}
}

func TestStoreBatchOlderReadingKeepsNewerState(t *testing.T) {
	t.Parallel()
	f := newStoreFixture(t, ingest.StoreOptions{}, euiA)
	f.storeBatch(t, reading(euiA, "new", 2, yes, t0))
	// A late uplink read earlier: stored as history, state untouched.
	if st := f.storeBatch(t, reading(euiA, "old", 1, no, t0.Add(-time.Minute))); st[0] != ingest.StatusStored {
		t.Fatalf("status %v", st)
	}
	if got := f.space(t, euiA); got.State != "occupied" || !got.LastReadingAt.Equal(t0) {
		t.Fatalf("a late, older reading moved the space: %+v", got)
	}
	// Within one batch, the newest reading decides, whatever the order.
	f.storeBatch(t,
		reading(euiA, "b2", 4, yes, t0.Add(3*time.Minute)),
		reading(euiA, "b1", 3, no, t0.Add(2*time.Minute)),
	)
	if got := f.space(t, euiA); got.State != "occupied" || !got.LastReadingAt.Equal(t0.Add(3*time.Minute)) ||
		!got.ChangedAt.Equal(t0) {
		t.Fatalf("batch order decided the state: %+v", got)
	}
	// A newer reading without occupancy advances last_reading_at only.
	f.storeBatch(t, reading(euiA, "status", 5, nil, t0.Add(4*time.Minute)))
	if got := f.space(t, euiA); got.State != "occupied" || !got.LastReadingAt.Equal(t0.Add(4*time.Minute)) {
		t.Fatalf("after a reading without occupancy: %+v", got)
	}
}

func TestStoreBatchIDLessWindow(t *testing.T) {
	t.Parallel()
	testIDLessWindow(t, newStoreFixture)
}

func testIDLessWindow(t *testing.T, newStoreFixture fixtureMaker) {
	f := newStoreFixture(t, ingest.StoreOptions{DedupeWindow: 5 * time.Minute}, euiA)
	at := func(d time.Duration, fcnt uint32) *ingest.Uplink {
		u := reading(euiA, fmt.Sprintf("fcnt:%d", fcnt), fcnt, yes, t0.Add(d))
		u.Source = ingest.SourceGeneric
		return u
	}
	steps := []struct {
		u    *ingest.Uplink
		want ingest.Status
	}{
		{at(0, 7), ingest.StatusStored},
		{at(4*time.Minute, 7), ingest.StatusDuplicate},
		{at(10*time.Minute, 7), ingest.StatusStored}, // the counter came round again after a rejoin
	}
	for i, s := range steps {
		if st := f.storeBatch(t, s.u); st[0] != s.want {
			t.Errorf("step %d: %v, want %v", i, st[0], s.want)
		}
	}
	// A keyed message never comes back, however late.
	f.storeBatch(t, reading(euiA, "id-1", 9, yes, t0))
	if st := f.storeBatch(t, reading(euiA, "id-1", 9, yes, t0.Add(time.Hour))); st[0] != ingest.StatusDuplicate {
		t.Errorf("keyed repeat: %v", st[0])
	}
}

func TestStoreBatchConcurrentCopies(t *testing.T) {
	t.Parallel()
	testConcurrentCopies(t, newStoreFixture)
}

func testConcurrentCopies(t *testing.T, newStoreFixture fixtureMaker) {
	f := newStoreFixture(t, ingest.StoreOptions{}, euiA)
	var wg sync.WaitGroup
	results := make(chan ingest.Status, 20)
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			u := reading(euiA, "fcnt:3", 3, yes, t0)
			st, err := f.store.StoreBatch(context.Background(), f.tenant, []*ingest.Uplink{u})
			if err != nil {
				t.Error(err)
				return
			}
			results <- st[0]
		}()
	}
	wg.Wait()
	close(results)
	stored := 0
	for st := range results {
		if st == ingest.StatusStored {
			stored++
		}
	}
	if stored != 1 {
		t.Fatalf("%d of 20 concurrent copies stored, want 1", stored)
	}
	if n := f.count(t, `select count(*) from sensor_readings where tenant_id = $1`, f.tenant); n != 1 {
		t.Fatalf("%d rows, want 1", n)
	}
}

func TestStoreBatchOrphans(t *testing.T) {
	t.Parallel()
	testOrphans(t, newStoreFixture)
}

func testOrphans(t *testing.T, newStoreFixture fixtureMaker) {
	f := newStoreFixture(t, ingest.StoreOptions{MaxOrphans: 2}, euiA)
	st := f.storeBatch(t,
		reading(euiX, "o1", 1, yes, t0),
		reading(euiX, "o2", 2, no, t0.Add(time.Minute)),
		reading(euiA, "k1", 1, yes, t0),
	)
	if fmt.Sprint(st) != "[orphan orphan stored]" {
		t.Fatalf("statuses %v", st)
	}
	var (
		count    int64
		occupied bool
		status   string
		first    time.Time
		lastRead time.Time
	)
	if err := f.admin.QueryRow(context.Background(),
		`select uplink_count, last_occupied, status, first_seen_at, last_read_at from orphan_devices where tenant_id = $1 and dev_eui = $2`,
		f.tenant, euiX).Scan(&count, &occupied, &status, &first, &lastRead); err != nil {
		t.Fatal(err)
	}
	if count != 2 || occupied || status != "new" || !first.Equal(t0.Add(time.Second)) || !lastRead.Equal(t0.Add(time.Minute)) {
		t.Fatalf("orphan: count %d occupied %v status %s first %v last read %v", count, occupied, status, first, lastRead)
	}
	// No reading is stored for an unknown device.
	if n := f.count(t, `select count(*) from sensor_readings where tenant_id = $1 and dev_eui = $2`, f.tenant, euiX); n != 0 {
		t.Fatalf("%d readings for an orphan", n)
	}

	// The cap is 2: one more new device fits, the next is dropped, and
	// the known orphans still count their uplinks.
	st = f.storeBatch(t,
		reading("f000000000000001", "p1", 1, yes, t0),
		reading("f000000000000002", "p2", 1, yes, t0),
		reading(euiX, "o3", 3, yes, t0.Add(2*time.Minute)),
	)
	if fmt.Sprint(st) != "[orphan orphan_dropped orphan]" {
		t.Fatalf("statuses at the cap: %v", st)
	}
	if n := f.count(t, `select count(*) from orphan_devices where tenant_id = $1`, f.tenant); n != 2 {
		t.Fatalf("%d orphans, cap 2", n)
	}
	if n := f.count(t, `select uplink_count from orphan_devices where tenant_id = $1 and dev_eui = $2`, f.tenant, euiX); n != 3 {
		t.Fatalf("known orphan counted %d uplinks, want 3", n)
	}
}

// limitTo allows at most n orphan uplinks in all.
type limitTo struct {
	mu   sync.Mutex
	left int
}

func (l *limitTo) AllowOrphans(_ context.Context, _ uuid.UUID, n int) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	k := min(n, l.left)
	l.left -= k
	return k, nil
}

func TestStoreBatchOrphanLimit(t *testing.T) {
	t.Parallel()
	testOrphanLimit(t, newStoreFixture)
}

func testOrphanLimit(t *testing.T, newStoreFixture fixtureMaker) {
	f := newStoreFixture(t, ingest.StoreOptions{Orphans: &limitTo{left: 1}})
	st := f.storeBatch(t, reading(euiX, "o1", 1, yes, t0), reading(euiX, "o2", 2, yes, t0))
	if fmt.Sprint(st) != "[orphan orphan_dropped]" {
		t.Fatalf("statuses %v", st)
	}
	if n := f.count(t, `select uplink_count from orphan_devices where tenant_id = $1`, f.tenant); n != 1 {
		t.Fatalf("orphan counted %d uplinks, want 1", n)
	}
}

func TestStoreBatchTenantIsolation(t *testing.T) {
	t.Parallel()
	f := newStoreFixture(t, ingest.StoreOptions{}, euiA)
	other := newTenant(t, f.db)
	f.addSpaces(t, other, euiB)
	// The other tenant's sensor is unknown here: an orphan of this tenant,
	// never a reading of the other tenant's space.
	if st := f.storeBatch(t, reading(euiB, "x1", 1, yes, t0)); st[0] != ingest.StatusOrphan {
		t.Fatalf("status %v", st)
	}
	if n := f.count(t, `select count(*) from sensor_readings where tenant_id = $1`, other); n != 0 {
		t.Fatalf("%d readings landed in the other tenant", n)
	}
	if n := f.count(t, `select count(*) from spaces where tenant_id = $1 and last_reading_at is not null`, other); n != 0 {
		t.Fatal("the other tenant's space moved")
	}
}

func TestStoreBatchThroughWriter(t *testing.T) {
	t.Parallel()
	testThroughWriter(t, func(t *testing.T, opts ingest.StoreOptions, euis ...string) *storeFixture {
		f := newStoreFixture(t, opts, euis...)
		// pgx's default mode, parkd's own without PgBouncer.
		f.store = ingest.NewStore(tenancy.NewStore(f.db.ServerPool(t, 8)), opts)
		return f
	})
}

// TestStoreBatchThroughWriterInFlight: testThroughWriter with four
// commits of the tenant in flight, so batches that share devices and hold
// copies of the same messages commit at once.
func TestStoreBatchThroughWriterInFlight(t *testing.T) {
	t.Parallel()
	testThroughWriterInFlight(t, newStoreFixture)
}

// testThroughWriter: 100 concurrent uplinks through the group-commit
// writer are answered as stored exactly as often as rows were stored.
func testThroughWriter(t *testing.T, newStoreFixture fixtureMaker) {
	throughWriter(t, newStoreFixture, ingest.WriterOptions{})
}

func testThroughWriterInFlight(t *testing.T, newStoreFixture fixtureMaker) {
	throughWriter(t, newStoreFixture, ingest.WriterOptions{CommitsInFlight: 4})
}

func throughWriter(t *testing.T, newStoreFixture fixtureMaker, opts ingest.WriterOptions) {
	f := newStoreFixture(t, ingest.StoreOptions{}, euiA, euiB)
	w, err := ingest.NewWriter(f.store.StoreBatch, opts)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	got := map[ingest.Status]int{}
	// Each message is sent twice, as a network server that delivered
	// twice would: the copies may land in one batch or in two.
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m := i % 100
			eui := []string{euiA, euiB, euiX}[m%3]
			st, err := w.Submit(context.Background(), f.tenant, reading(eui, fmt.Sprintf("k%d", m%50), uint32(m), yes, t0.Add(time.Duration(m)*time.Second)))
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			got[st]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	stored := f.count(t, `select count(*) from sensor_readings where tenant_id = $1`, f.tenant)
	if got[ingest.StatusStored] != stored || stored != 67 {
		t.Fatalf("%d answered stored, %d rows, want 67 (the messages of known devices)", got[ingest.StatusStored], stored)
	}
	if got[ingest.StatusOrphan] != 33 || got[ingest.StatusDuplicate] != 100 {
		t.Fatalf("answers %v, want 33 orphan and 100 duplicate", got)
	}
	// Each space ends at its newest reading (messages 99 and 97).
	for eui, m := range map[string]int{euiA: 99, euiB: 97} {
		if sp := f.space(t, eui); sp.LastReadingAt == nil || !sp.LastReadingAt.Equal(t0.Add(time.Duration(m)*time.Second)) {
			t.Errorf("space %s: last reading %v, want message %d's", eui, sp.LastReadingAt, m)
		}
	}
}

func TestOrphanLimitFromPolicy(t *testing.T) {
	t.Parallel()
	local := ratelimit.NewLocal(ratelimit.LocalOptions{})
	policy := ratelimit.Policy{Name: ratelimit.NameOrphan, Rate: 0.001, Burst: 3}
	lim := &ingest.OrphanLimit{Limiter: local, Policy: func(context.Context, uuid.UUID) ratelimit.Policy { return policy }}
	f := newStoreFixture(t, ingest.StoreOptions{Orphans: lim})
	// Five uplinks of unknown devices against a burst of 3: three taken.
	st := f.storeBatch(t,
		reading("f000000000000001", "a", 1, yes, t0), reading("f000000000000002", "b", 1, yes, t0),
		reading("f000000000000003", "c", 1, yes, t0), reading("f000000000000004", "d", 1, yes, t0),
		reading("f000000000000005", "e", 1, yes, t0))
	if fmt.Sprint(st) != "[orphan orphan orphan orphan_dropped orphan_dropped]" {
		t.Fatalf("statuses %v", st)
	}
	// The allowance is spent: the next orphan is dropped, a known-device
	// reading is not an orphan and is untouched by the limit.
	if st := f.storeBatch(t, reading("f000000000000006", "f", 1, yes, t0)); st[0] != ingest.StatusOrphanDropped {
		t.Fatalf("after the burst: %v", st)
	}
}
