package reservation_test

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/parkhq/park/reservation"
	"github.com/parkhq/park/tenancy"
)

// serverConns is the pool size of the concurrency tests: enough that many
// bookings are in flight at once, not queued in the pool.
const serverConns = 32

// TestConcurrentOverlaps: 200 goroutines book pairwise-overlapping slots of
// one space at once, half with idempotency keys and half without. Exactly
// one booking is confirmed; every other answer is a conflict naming it;
// nothing else (no serialization failure, no 5xx) comes back.
func TestConcurrentOverlaps(t *testing.T) {
	t.Parallel()
	concurrentOverlaps(t, newBundle(t, serverConns))
}

// concurrentOverlaps is TestConcurrentOverlaps on b.
func concurrentOverlaps(t *testing.T, b *bundle) {
	const n = 200
	ctx := testCtx(t)
	tenant, user := b.tenant(t), uuid.New()
	space := b.space(t, tenant)
	// Slot i is [base+i s, base+1h+i s): any two of the 200 overlap.
	base, _ := b.slot(1, 0)

	type result struct {
		res      *reservation.Reservation // made without a key
		ans      *reservation.Answer      // with a key
		conflict *reservation.ConflictError
		err      error
	}
	results := make([]result, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := params(tenant, user, space, base.Add(time.Duration(i)*time.Second), base.Add(time.Hour+time.Duration(i)*time.Second))
			<-start
			r := &results[i]
			if i%2 == 0 {
				r.res, r.err = b.store.Create(ctx, p)
				errors.As(r.err, &r.conflict)
				return
			}
			p.IdempotencyKey = fmt.Sprintf("key-%d", i)
			r.ans, r.err = b.store.CreateIdempotent(ctx, p, render)
			if r.ans != nil {
				errors.As(r.ans.Err, &r.conflict)
			}
		}()
	}
	close(start)
	wg.Wait()

	var winner uuid.UUID
	var conflicts int
	for i, r := range results {
		switch {
		case r.conflict != nil && (r.ans == nil || r.ans.Status == http.StatusConflict):
			conflicts++
		case r.err == nil && r.res != nil:
			winner = r.res.ID
		case r.err == nil && r.ans != nil && r.ans.Status == http.StatusCreated && r.ans.Reservation != nil:
			winner = r.ans.Reservation.ID
		default:
			t.Errorf("booking %d: %+v", i, r)
		}
	}
	if winner == uuid.Nil || conflicts != n-1 {
		t.Fatalf("%d conflicts and winner %v; want one winner and %d conflicts", conflicts, winner, n-1)
	}
	for i, r := range results {
		if r.conflict != nil && r.conflict.Conflicting.ID != winner {
			t.Errorf("booking %d: conflict names %s, not the winner %s", i, r.conflict.Conflicting.ID, winner)
		}
	}
	if c := b.count(t, `select count(*) from reservations where status = 'confirmed'`); c != 1 {
		t.Errorf("%d confirmed reservations, want 1", c)
	}
	if c := b.count(t, `select count(*) from reservation_conflicts`); c != 0 {
		t.Errorf("%d rows in reservation_conflicts", c)
	}
	// Every keyed request stored its final answer: the winner's 201 and
	// the others' 409s.
	if c := b.count(t, `select count(*) from idempotency_keys where status_code in (201, 409)`); c != n/2 {
		t.Errorf("%d stored answers, want %d", c, n/2)
	}
}

// TestConcurrentSameKey: 100 identical requests with one new idempotency
// key, at once. One reservation is made; all 100 get the same status and
// the same body, 99 of them as replays of the first.
func TestConcurrentSameKey(t *testing.T) {
	t.Parallel()
	concurrentSameKey(t, newBundle(t, serverConns))
}

// concurrentSameKey is TestConcurrentSameKey on b.
func concurrentSameKey(t *testing.T, b *bundle) {
	const n = 100
	ctx := testCtx(t)
	tenant, user := b.tenant(t), uuid.New()
	space := b.space(t, tenant)
	from, to := b.slot(3, 2)

	answers := make([]*reservation.Answer, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := params(tenant, user, space, from, to)
			p.IdempotencyKey = "one-key"
			<-start
			answers[i], errs[i] = b.store.CreateIdempotent(ctx, p, render)
		}()
	}
	close(start)
	wg.Wait()

	replays := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("request %d: %v", i, errs[i])
		}
		a := answers[i]
		if a.Status != http.StatusCreated || !bytes.Equal(a.Body, answers[0].Body) {
			t.Fatalf("request %d: %d %s; request 0: %d %s", i, a.Status, a.Body, answers[0].Status, answers[0].Body)
		}
		if a.Replayed {
			replays++
		}
	}
	if replays != n-1 {
		t.Errorf("%d replays, want %d", replays, n-1)
	}
	if c := b.count(t, `select count(*) from reservations`); c != 1 {
		t.Errorf("%d reservations, want 1", c)
	}
}

// TestBookingRacesSpaceDelete: a booking and the deletion of its space, at
// once, many times. Either the booking wins and the delete is refused, or
// the delete wins and the booking finds no space; never both.
func TestBookingRacesSpaceDelete(t *testing.T) {
	t.Parallel()
	b := newBundle(t, 8)
	ctx := testCtx(t)
	tenant, user := b.tenant(t), uuid.New()
	from, to := b.slot(1, 1)
	for i := range 30 {
		space := b.space(t, tenant)
		var wg sync.WaitGroup
		var bookErr, delErr error
		start := make(chan struct{})
		wg.Add(2)
		go func() {
			defer wg.Done()
			<-start
			_, bookErr = b.store.Create(ctx, params(tenant, user, space, from, to))
		}()
		go func() {
			defer wg.Done()
			<-start
			delErr = b.tenancy.SpaceDelete(ctx, &tenancy.SpaceDeleteParams{TenantID: tenant, Actor: "user:x", ID: space})
		}()
		close(start)
		wg.Wait()
		booked, deleted := bookErr == nil, delErr == nil
		switch {
		case booked && errors.Is(delErr, tenancy.ErrConflict):
		case deleted && errors.Is(bookErr, tenancy.ErrNotFound):
		default:
			t.Fatalf("round %d: booking %v, delete %v", i, bookErr, delErr)
		}
	}
	if c := b.count(t, `select count(*) from reservations r join spaces s on s.tenant_id = r.tenant_id and s.id = r.space_id
		where s.deleted_at is not null`); c != 0 {
		t.Fatalf("%d reservations on deleted spaces", c)
	}
}
