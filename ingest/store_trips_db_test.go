package ingest_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/parkhq/park/ingest"
	"github.com/parkhq/park/internal/pgtest"
	"github.com/parkhq/park/tenancy"
)

// countingStore is a Store on a one-connection park_server pool in mode
// whose round trips c counts; the pool never pings on its own.
func countingStore(t *testing.T, f *storeFixture, mode pgx.QueryExecMode, c *pgtest.TripCounter, opts ingest.StoreOptions) *ingest.Store {
	t.Helper()
	return ingest.NewStore(tenancy.NewStore(f.db.OneConnPool(t, mode, c.Dial)), opts)
}

// TestStoreBatchRoundTrips: a batch of known devices' uplinks is stored in
// one round trip (the prologue and one statement, committed at Sync); one
// with uplinks of an unknown device takes two more for them (the orphan
// limit is asked between). Both statement modes are counted, the cached
// one after a warm-up batch of each kind.
func TestStoreBatchRoundTrips(t *testing.T) {
	t.Parallel()
	f := newStoreFixture(t, ingest.StoreOptions{}, euiA, euiB)
	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeCacheStatement, pgx.QueryExecModeExec} {
		t.Run(mode.String(), func(t *testing.T) {
			var c pgtest.TripCounter
			store := countingStore(t, f, mode, &c, ingest.StoreOptions{Orphans: &limitTo{left: 100}})
			for round := range 2 {
				for _, tc := range []struct {
					name  string
					ups   []*ingest.Uplink
					want  string
					trips int64
				}{
					{"known", []*ingest.Uplink{
						reading(euiA, fmt.Sprintf("%s-a%d", mode, round), 1, yes, t0),
						reading(euiB, fmt.Sprintf("%s-b%d", mode, round), 1, no, t0),
						reading(euiA, fmt.Sprintf("%s-a%d", mode, round), 1, yes, t0),
					}, "[stored stored duplicate]", 1},
					{"with an orphan", []*ingest.Uplink{
						reading(euiA, fmt.Sprintf("%s-c%d", mode, round), 2, yes, t0),
						reading(euiX, fmt.Sprintf("%s-x%d", mode, round), 1, yes, t0),
					}, "[stored orphan]", 3},
				} {
					before := c.Trips()
					st, err := store.StoreBatch(context.Background(), f.tenant, tc.ups)
					if err != nil || fmt.Sprint(st) != tc.want {
						t.Fatalf("%s: %v, %v; want %s", tc.name, st, err, tc.want)
					}
					if n := c.Trips() - before; round == 1 && n != tc.trips {
						t.Errorf("%s: %d round trips, want %d", tc.name, n, tc.trips)
					}
				}
			}
		})
	}
}

// cancelling is an orphan limit that cancels the batch's context, so the
// second transaction fails before its COMMIT is sent.
type cancelling struct{ cancel context.CancelFunc }

func (c cancelling) AllowOrphans(_ context.Context, _ uuid.UUID, n int) (int, error) {
	c.cancel()
	return n, nil
}

// TestStoreBatchSecondTransactionFails: when the transaction of the
// unknown devices' uplinks fails, the known devices' uplinks stay stored
// (their transaction committed first) and come back with their statuses
// beside the error; the others have none and nothing of them is kept, not
// even their message claims, so a retry stores them.
func TestStoreBatchSecondTransactionFails(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f := newStoreFixture(t, ingest.StoreOptions{Orphans: cancelling{cancel}}, euiA)
	ups := []*ingest.Uplink{reading(euiX, "x1", 1, yes, t0), reading(euiA, "a1", 1, yes, t0)}
	st, err := f.store.StoreBatch(ctx, f.tenant, ups)
	if !errors.Is(err, context.Canceled) || errors.Is(err, ingest.ErrCommitUnknown) || fmt.Sprint(st) != "[ stored]" {
		t.Fatalf("StoreBatch = %q, %v; want [\"\" stored] and the cancellation", st, err)
	}
	if n := f.count(t, `select count(*) from sensor_readings where tenant_id = $1 and dev_eui = $2`, f.tenant, euiA); n != 1 {
		t.Errorf("%d readings of the known device, want 1", n)
	}
	if n := f.count(t, `select count(*) from uplink_dedupe where tenant_id = $1 and dev_eui = $2`, f.tenant, euiX); n != 0 {
		t.Errorf("the unknown device's message is claimed (%d rows) though its transaction failed", n)
	}
	// Run again, as the writer does: the known uplink is a duplicate now,
	// the other an orphan.
	f.store = ingest.NewStore(tenancy.NewStore(execPool(t, f.db)), ingest.StoreOptions{})
	if st := f.storeBatch(t, ups...); fmt.Sprint(st) != "[orphan duplicate]" {
		t.Fatalf("again: %v", st)
	}
}

// TestStoreBatchUnreportedErrorIsUnknownOutcome: a batch goes out with the
// Sync that commits it, so an error PostgreSQL did not report — here the
// writer's deadline passing while the statement waits for a space's row
// lock — may come while the server goes on to commit. StoreBatch must call
// it a commit of unknown outcome (every uplink answered 503), never a
// rollback.
func TestStoreBatchUnreportedErrorIsUnknownOutcome(t *testing.T) {
	t.Parallel()
	f := newStoreFixture(t, ingest.StoreOptions{}, euiA)
	ctx := context.Background()
	tx, err := f.admin.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `select 1 from spaces where tenant_id = $1 and id = $2 for update`,
		f.tenant, f.spaces[euiA]); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	_, err = f.store.StoreBatch(short, f.tenant, []*ingest.Uplink{reading(euiA, "m1", 1, yes, t0)})
	if !errors.Is(err, ingest.ErrCommitUnknown) {
		t.Fatalf("StoreBatch = %v, want ErrCommitUnknown", err)
	}
	// A statement the server refuses is a rollback, not an unknown outcome.
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	bad := reading(euiA, "m2", 2, yes, t0)
	bad.Source = "no-such-source" // violates the column's check
	if _, err := f.store.StoreBatch(ctx, f.tenant, []*ingest.Uplink{bad}); err == nil || errors.Is(err, ingest.ErrCommitUnknown) {
		t.Fatalf("StoreBatch of a refused row = %v, want an error other than ErrCommitUnknown", err)
	}
}
