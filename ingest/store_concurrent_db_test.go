package ingest_test

import (
	"context"
	"fmt"
	"math/rand/v2"
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
