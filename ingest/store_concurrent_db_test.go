package ingest_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/parkhq/park/ingest"
)

// TestStoreBatchConcurrentBatches: the Writer runs several batches of one
// tenant at once. Batches that share spaces, each naming them in another
// order, neither deadlock nor fail (each commits on the first try), every
// message is stored once, and each space ends at its newest reading
// whatever order the batches committed in.
func TestStoreBatchConcurrentBatches(t *testing.T) {
	testConcurrentBatches(t, newStoreFixture)
}

func testConcurrentBatches(t *testing.T, newStoreFixture fixtureMaker) {
	const spaces, workers, batches, perBatch = 20, 8, 20, 10
	euis := make([]string, spaces)
	for i := range euis {
		euis[i] = fmt.Sprintf("c%015x", i)
	}
	f := newStoreFixture(t, ingest.StoreOptions{}, euis...)
	newest := make([]time.Time, spaces)
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make(chan error, workers*batches)
	for w := range workers {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 1))
			for b := range batches {
				var ups []*ingest.Uplink
				for j, i := range r.Perm(spaces)[:perBatch] {
					at := t0.Add(time.Duration(r.IntN(1_000_000)) * time.Millisecond)
					occ := r.IntN(2) == 0
					ups = append(ups, reading(euis[i], fmt.Sprintf("w%d-b%d-%d", w, b, j), uint32(b), &occ, at))
					mu.Lock()
					if at.After(newest[i]) {
						newest[i] = at
					}
					mu.Unlock()
				}
				st, err := f.store.StoreBatch(context.Background(), f.tenant, ups)
				if err != nil {
					errs <- err
					return
				}
				for k, s := range st {
					if s != ingest.StatusStored {
						errs <- fmt.Errorf("%s: %s", ups[k].MsgKey, s)
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := f.count(t, `select count(*) from sensor_readings where tenant_id = $1`, f.tenant); n != workers*batches*perBatch {
		t.Errorf("%d readings stored, want %d", n, workers*batches*perBatch)
	}
	for i, eui := range euis {
		got := f.space(t, eui)
		if got.LastReadingAt == nil || !got.LastReadingAt.Equal(newest[i]) {
			t.Errorf("space %s: last reading %v, want %v", eui, got.LastReadingAt, newest[i])
		}
	}
}

// TestStoreBatchConcurrentDuplicates: batches that run at once and hold
// copies of the same messages, each in another order — a network server
// that delivered twice, to one parkd instance or two — neither deadlock
// nor fail: each copy is answered at once, exactly one copy of each message
// is stored (or taken as an orphan) and the others are duplicates, and each
// space ends at its newest reading. Claiming keys in arrival order made
// such batches deadlock (PostgreSQL aborts one after deadlock_timeout).
func TestStoreBatchConcurrentDuplicates(t *testing.T) {
	testConcurrentDuplicates(t, newStoreFixture)
}

func testConcurrentDuplicates(t *testing.T, newStoreFixture fixtureMaker) {
	const spaces, perSpace, unknown, copies, rounds = 30, 2, 5, 3, 10
	euis := make([]string, spaces)
	for i := range euis {
		euis[i] = fmt.Sprintf("d%015x", i)
	}
	f := newStoreFixture(t, ingest.StoreOptions{}, euis...)
	newest := make([]time.Time, spaces)
	for round := range rounds {
		var msgs []*ingest.Uplink
		for i, eui := range euis {
			for j := range perSpace {
				at := t0.Add(time.Duration(round*perSpace+j) * time.Minute)
				occ := (round+j)%2 == 0
				msgs = append(msgs, reading(eui, fmt.Sprintf("r%d-%d-%d", round, i, j), uint32(round), &occ, at))
				newest[i] = at
			}
		}
		for i := range unknown {
			msgs = append(msgs, reading(fmt.Sprintf("e%015x", i), fmt.Sprintf("r%d-u%d", round, i), uint32(round), yes, t0))
		}
		// Each copy of the batch in its own order: as sent, reversed,
		// shuffled.
		r := rand.New(rand.NewPCG(uint64(round), 2))
		orders := make([][]*ingest.Uplink, copies)
		for c := range copies {
			ups := slices.Clone(msgs)
			switch c {
			case 1:
				slices.Reverse(ups)
			case 2:
				r.Shuffle(len(ups), func(i, j int) { ups[i], ups[j] = ups[j], ups[i] })
			}
			orders[c] = ups
		}
		results := make([][]ingest.Status, copies)
		errs := make([]error, copies)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for c := range copies {
			wg.Go(func() {
				<-start
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				results[c], errs[c] = f.store.StoreBatch(ctx, f.tenant, orders[c])
			})
		}
		close(start)
		wg.Wait()
		taken := map[string]int{}
		for c := range copies {
			if errs[c] != nil {
				t.Fatalf("round %d, copy %d: %v", round, c, errs[c])
			}
			for k, st := range results[c] {
				switch st {
				case ingest.StatusStored, ingest.StatusOrphan:
					taken[orders[c][k].MsgKey]++
				case ingest.StatusDuplicate:
				default:
					t.Errorf("round %d, copy %d, %s: %s", round, c, orders[c][k].MsgKey, st)
				}
			}
		}
		for _, u := range msgs {
			if taken[u.MsgKey] != 1 {
				t.Errorf("round %d: message %s taken %d times, want once", round, u.MsgKey, taken[u.MsgKey])
			}
		}
	}
	if n, want := f.count(t, `select count(*) from sensor_readings where tenant_id = $1`, f.tenant), rounds*spaces*perSpace; n != want {
		t.Errorf("%d readings stored, want %d", n, want)
	}
	if n := f.count(t, `select coalesce(sum(uplink_count), 0)::int from orphan_devices where tenant_id = $1`, f.tenant); n != rounds*unknown {
		t.Errorf("orphans counted %d uplinks, want %d", n, rounds*unknown)
	}
	for i, eui := range euis {
		if got := f.space(t, eui); got.LastReadingAt == nil || !got.LastReadingAt.Equal(newest[i]) {
			t.Errorf("space %s: last reading %v, want %v", eui, got.LastReadingAt, newest[i])
		}
	}
}
