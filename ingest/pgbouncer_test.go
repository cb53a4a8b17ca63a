package ingest_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/parkhq/park/ingest"
	"github.com/parkhq/park/internal/pgbouncertest"
	"github.com/parkhq/park/internal/pgtest"
	"github.com/parkhq/park/tenancy"
)

// TestClaimMessageThroughPgBouncer: the claim statement behind PgBouncer in
// exec mode, where its parameters travel as untyped text: the window still
// counts in microseconds (a timestamp that lost its fraction would make the
// 600 µs repeat below look new), and 20 concurrent copies through the
// pool-8 entry still make exactly one new message.
func TestClaimMessageThroughPgBouncer(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	tenant := newTenant(t, db)
	b := pgbouncertest.New(t, db)
	store := tenancy.NewStore(b.ServerPool(t, pgbouncertest.Wide, 20))
	ctx := context.Background()
	const eui = "0011223344556677"
	claim := func(key string, at time.Time, window time.Duration) (bool, error) {
		var isNew bool
		err := store.InTenantTx(ctx, tenant, func(tx pgx.Tx) error {
			var err error
			isNew, err = ingest.ClaimMessage(ctx, tx, tenant, eui, key, at, window)
			return err
		})
		return isNew, err
	}

	t0 := time.Date(2030, 5, 1, 12, 0, 0, 900_000, time.UTC)
	const window = time.Millisecond
	for _, s := range []struct {
		name string
		at   time.Time
		want bool
	}{
		{"first", t0, true},
		{"600 µs later, within the window", t0.Add(600 * time.Microsecond), false},
		{"1.1 ms after the first, past the window", t0.Add(1100 * time.Microsecond), true},
	} {
		got, err := claim("fcnt:1", s.at, window)
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if got != s.want {
			t.Errorf("%s: new=%v, want %v", s.name, got, s.want)
		}
	}

	var wg sync.WaitGroup
	var mu sync.Mutex
	newCount := 0
	start := make(chan struct{})
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			isNew, err := claim("dedup-id-1", t0, 0)
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			if isNew {
				newCount++
			}
			mu.Unlock()
		}()
	}
	close(start)
	wg.Wait()
	if newCount != 1 {
		t.Errorf("%d of 20 concurrent copies were new, want exactly 1", newCount)
	}
}

// newBouncedStoreFixture is newStoreFixture with the store's pool going
// through PgBouncer's pool-8 entry in exec mode, 20 client connections on
// 8 server connections in transaction pooling, as production may run.
func newBouncedStoreFixture(t *testing.T, opts ingest.StoreOptions, euis ...string) *storeFixture {
	t.Helper()
	f := newStoreFixture(t, opts, euis...)
	b := pgbouncertest.New(t, f.db)
	f.store = ingest.NewStore(tenancy.NewStore(b.ServerPool(t, pgbouncertest.Wide, 20)), opts)
	return f
}

// TestIngestThroughPgBouncer runs the ingest store's important tests with
// every statement going through PgBouncer: dedupe (in a batch, across
// batches, by window, 20 concurrent copies), group commit through the
// writer, concurrent batches of one tenant, and orphans (cap, limit,
// assignment).
func TestIngestThroughPgBouncer(t *testing.T) {
	t.Parallel()
	for name, body := range map[string]func(*testing.T, fixtureMaker){
		"dedupe":                   testStoresAndDedupes,
		"dedupe window":            testIDLessWindow,
		"dedupe concurrent copies": testConcurrentCopies,
		"group commit":             testThroughWriter,
		"group commit in flight":   testThroughWriterInFlight,
		"concurrent batches":       testConcurrentBatches,
		"concurrent duplicates":    testConcurrentDuplicates,
		"orphans":                  testOrphans,
		"orphan limit":             testOrphanLimit,
		"orphan assign":            testOrphanAssign,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			body(t, newBouncedStoreFixture)
		})
	}
}

// TestStoreBatchThroughPgBouncer: StoreBatch behind PgBouncer's transaction
// mode in exec mode — the known devices' uplinks in one pipeline committed
// at its Sync, the orphan's in a transaction of two round trips — and
// concurrent writers of copies of one batch store each message once.
func TestStoreBatchThroughPgBouncer(t *testing.T) {
	t.Parallel()
	f := newStoreFixture(t, ingest.StoreOptions{}, euiA, euiB)
	b := pgbouncertest.New(t, f.db)
	store := ingest.NewStore(tenancy.NewStore(b.ServerPool(t, pgbouncertest.Wide, 20)),
		ingest.StoreOptions{Orphans: &limitTo{left: 100}})
	ctx := context.Background()
	st, err := store.StoreBatch(ctx, f.tenant, []*ingest.Uplink{
		reading(euiA, "a1", 1, yes, t0), reading(euiX, "x1", 1, yes, t0), reading(euiB, "b1", 1, no, t0),
	})
	if err != nil || fmt.Sprint(st) != "[stored orphan stored]" {
		t.Fatalf("StoreBatch = %v, %v", st, err)
	}
	if got := f.space(t, euiB).State; got != "free" {
		t.Errorf("space of %s is %s, want free", euiB, got)
	}

	var wg sync.WaitGroup
	var mu sync.Mutex
	stored := 0
	start := make(chan struct{})
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			st, err := store.StoreBatch(ctx, f.tenant, []*ingest.Uplink{
				reading(euiA, "a2", 2, no, t0.Add(time.Minute)), reading(euiB, "b2", 2, yes, t0.Add(time.Minute)),
			})
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			for _, s := range st {
				if s == ingest.StatusStored {
					stored++
				}
			}
			mu.Unlock()
		}()
	}
	close(start)
	wg.Wait()
	if stored != 2 {
		t.Errorf("%d stored answers from 10 concurrent copies of a batch of 2, want 2", stored)
	}
	if n := f.count(t, `select count(*) from sensor_readings where tenant_id = $1`, f.tenant); n != 4 {
		t.Errorf("%d readings, want 4", n)
	}
}
