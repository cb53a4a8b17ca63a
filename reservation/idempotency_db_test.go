package reservation_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/parkhq/park/reservation"
	"github.com/parkhq/park/tenancy"
)

func TestIdempotentReplay(t *testing.T) {
	t.Parallel()
	b := newBundle(t, 4)
	ctx := testCtx(t)
	tenant, user := b.tenant(t), uuid.New()
	space := b.space(t, tenant)
	start, end := b.slot(1, 1)

	p := params(tenant, user, space, start, end)
	p.IdempotencyKey = "key-1"
	first, err := b.store.CreateIdempotent(ctx, p, render)
	if err != nil {
		t.Fatal(err)
	}
	if first.Status != http.StatusCreated || first.Replayed || first.Reservation == nil || first.Err != nil {
		t.Fatalf("first answer %+v", first)
	}
	var body reservation.Reservation
	if err := json.Unmarshal(first.Body, &body); err != nil || body.ID != first.Reservation.ID || *body.RequestID != "key-1" {
		t.Fatalf("first body %s: %v", first.Body, err)
	}

	// The same request again, and with request_id in the body instead of
	// the header: the stored answer, byte for byte.
	for _, mut := range []func(*reservation.CreateParams){
		func(q *reservation.CreateParams) {},
		func(q *reservation.CreateParams) { q.IdempotencyKey, q.RequestID = "", "key-1" },
		func(q *reservation.CreateParams) { q.RequestID = "key-1" },
		// The range in another zone is the same range.
		func(q *reservation.CreateParams) {
			q.StartsAt, q.EndsAt = q.StartsAt.In(time.FixedZone("X", -5*3600)), q.EndsAt.In(time.FixedZone("X", -5*3600))
		},
	} {
		q := *p
		mut(&q)
		again, err := b.store.CreateIdempotent(ctx, &q, render)
		if err != nil {
			t.Fatal(err)
		}
		if !again.Replayed || again.Status != first.Status || !bytes.Equal(again.Body, first.Body) || again.Reservation != nil {
			t.Fatalf("replay %+v, want the first answer %s", again, first.Body)
		}
	}
	// Even after the reservation was cancelled: the answer is the one
	// that was given.
	if _, err := b.store.Cancel(ctx, &reservation.CancelParams{TenantID: tenant, Actor: "user:x", ID: first.Reservation.ID}); err != nil {
		t.Fatal(err)
	}
	again, err := b.store.CreateIdempotent(ctx, p, render)
	if err != nil || !again.Replayed || !bytes.Equal(again.Body, first.Body) {
		t.Fatalf("replay after cancel: %+v, %v", again, err)
	}

	// Another request under the same key.
	for name, mut := range map[string]func(*reservation.CreateParams){
		"space": func(q *reservation.CreateParams) { q.SpaceID = b.space(t, tenant) },
		"start": func(q *reservation.CreateParams) { q.StartsAt = q.StartsAt.Add(-time.Minute) },
		"end":   func(q *reservation.CreateParams) { q.EndsAt = q.EndsAt.Add(time.Minute) },
	} {
		q := *p
		mut(&q)
		if _, err := b.store.CreateIdempotent(ctx, &q, render); !errors.Is(err, reservation.ErrKeyReused) {
			t.Fatalf("key reused for another %s: %v", name, err)
		}
	}

	// Keys belong to one principal: another user's "key-1" is a request
	// of its own (and finds the slot free again, as it was cancelled).
	other := uuid.New()
	q := params(tenant, other, space, start, end)
	q.IdempotencyKey = "key-1"
	theirs, err := b.store.CreateIdempotent(ctx, q, render)
	if err != nil || theirs.Replayed || theirs.Status != http.StatusCreated || theirs.Reservation.ID == first.Reservation.ID {
		t.Fatalf("another principal's key: %+v, %v", theirs, err)
	}
	if n := b.count(t, `select count(*) from idempotency_keys where tenant_id = $1`, tenant); n != 2 {
		t.Fatalf("%d keys stored, want 2", n)
	}
}

// TestIdempotentRefusalsAreStored: a missing space and an overlap are final
// answers: replayed even after the world changed.
func TestIdempotentRefusalsAreStored(t *testing.T) {
	t.Parallel()
	b := newBundle(t, 4)
	ctx := testCtx(t)
	tenant, user := b.tenant(t), uuid.New()
	space := b.space(t, tenant)
	start, end := b.slot(1, 2)

	// 404, then the space appears with that very id.
	missing := uuid.New()
	p := params(tenant, user, missing, start, end)
	p.IdempotencyKey = "k404"
	ans, err := b.store.CreateIdempotent(ctx, p, render)
	if err != nil || ans.Status != http.StatusNotFound || !errors.Is(ans.Err, tenancy.ErrNotFound) || ans.Replayed {
		t.Fatalf("missing space: %+v, %v", ans, err)
	}
	if _, err := b.admin.Exec(ctx, `insert into spaces (tenant_id, id, site_id, code)
		select tenant_id, $2, site_id, 'B2' from spaces where id = $1`, space, missing); err != nil {
		t.Fatal(err)
	}
	again, err := b.store.CreateIdempotent(ctx, p, render)
	if err != nil || !again.Replayed || again.Status != http.StatusNotFound || !bytes.Equal(again.Body, ans.Body) {
		t.Fatalf("replayed 404: %+v, %v", again, err)
	}

	// 409, then the reservation in the way is cancelled.
	blocker, err := b.store.Create(ctx, params(tenant, user, space, start, end))
	if err != nil {
		t.Fatal(err)
	}
	p = params(tenant, user, space, start.Add(time.Hour), end.Add(time.Hour))
	p.RequestID = "k409"
	ans, err = b.store.CreateIdempotent(ctx, p, render)
	var c *reservation.ConflictError
	if err != nil || ans.Status != http.StatusConflict || !errors.As(ans.Err, &c) || c.Conflicting.ID != blocker.ID {
		t.Fatalf("overlap: %+v, %v", ans, err)
	}
	if !bytes.Contains(ans.Body, []byte(blocker.ID.String())) {
		t.Fatalf("the stored 409 does not name %s: %s", blocker.ID, ans.Body)
	}
	if _, err := b.store.Cancel(ctx, &reservation.CancelParams{TenantID: tenant, Actor: "user:x", ID: blocker.ID}); err != nil {
		t.Fatal(err)
	}
	again, err = b.store.CreateIdempotent(ctx, p, render)
	if err != nil || !again.Replayed || again.Status != http.StatusConflict || !bytes.Equal(again.Body, ans.Body) {
		t.Fatalf("replayed 409: %+v, %v", again, err)
	}
}

// TestIdempotentFailuresAreNotStored: invalid input and server failures
// leave the key unused.
func TestIdempotentFailuresAreNotStored(t *testing.T) {
	t.Parallel()
	b := newBundle(t, 4)
	ctx := testCtx(t)
	tenant, user := b.tenant(t), uuid.New()
	space := b.space(t, tenant)
	start, end := b.slot(1, 1)

	bad := params(tenant, user, space, end, start)
	bad.IdempotencyKey = "k"
	_, err := b.store.CreateIdempotent(ctx, bad, render)
	wantFields(t, "invalid", err, "ends_at")

	// A render failure (a 5xx) rolls the booking back with the key.
	p := params(tenant, user, space, start, end)
	p.IdempotencyKey = "k"
	boom := errors.New("boom")
	_, err = b.store.CreateIdempotent(ctx, p, func(*reservation.Reservation, error) (int, []byte, error) { return 0, nil, boom })
	if !errors.Is(err, boom) {
		t.Fatalf("render failure: %v", err)
	}
	// So is a 5xx status.
	_, err = b.store.CreateIdempotent(ctx, p, func(*reservation.Reservation, error) (int, []byte, error) {
		return http.StatusServiceUnavailable, []byte(`{}`), nil
	})
	if err == nil {
		t.Fatal("a 503 answer was stored")
	}
	if n := b.count(t, `select count(*) from idempotency_keys`) + b.count(t, `select count(*) from reservations`); n != 0 {
		t.Fatalf("%d rows left behind by failed requests", n)
	}
	ans, err := b.store.CreateIdempotent(ctx, p, render)
	if err != nil || ans.Replayed || ans.Status != http.StatusCreated {
		t.Fatalf("the key after failures: %+v, %v", ans, err)
	}
}

// TestKeyExpiry: a key is forgotten after its TTL, and PruneExpiredKeys
// removes expired keys of every tenant in batches.
func TestKeyExpiry(t *testing.T) {
	t.Parallel()
	b := newBundle(t, 4)
	ctx := testCtx(t)
	tenant, other, user := b.tenant(t), b.tenant(t), uuid.New()
	space, otherSpace := b.space(t, tenant), b.space(t, other)
	base, _ := b.slot(72, 0)

	book := func(tenant, space uuid.UUID, key string, start time.Time) *reservation.Answer {
		t.Helper()
		p := params(tenant, user, space, start, start.Add(time.Hour))
		p.IdempotencyKey = key
		ans, err := b.store.CreateIdempotent(ctx, p, render)
		if err != nil {
			t.Fatal(err)
		}
		return ans
	}
	first := book(tenant, space, "k", base)
	b.clock.Advance(reservation.DefaultKeyTTL - time.Second)
	if ans := book(tenant, space, "k", base); !ans.Replayed || !bytes.Equal(ans.Body, first.Body) {
		t.Fatalf("just before expiry: %+v", ans)
	}
	// A second later the key is forgotten: another request may use it.
	b.clock.Advance(time.Second)
	if ans := book(tenant, space, "k", base.Add(2*time.Hour)); ans.Replayed || ans.Status != http.StatusCreated {
		t.Fatalf("after expiry: %+v", ans)
	}

	// Six keys of two tenants expire ("k" and these); two stay.
	for i, k := range []string{"a", "b", "c"} {
		book(tenant, space, k, base.Add(time.Duration(4+i)*time.Hour))
	}
	book(other, otherSpace, "a", base.Add(4*time.Hour))
	book(other, otherSpace, "b", base.Add(5*time.Hour))
	b.clock.Advance(time.Hour)
	book(tenant, space, "fresh", base.Add(10*time.Hour))
	book(other, otherSpace, "fresh", base.Add(10*time.Hour))
	b.clock.Advance(reservation.DefaultKeyTTL - time.Minute)

	ops := reservation.NewOps(tenancy.NewOps(opsPool(t, b)), reservation.Options{Now: b.clock.Now})
	n, err := ops.PruneExpiredKeys(ctx, 2)
	if err != nil || n != 6 {
		t.Fatalf("pruned %d, %v; want 6", n, err)
	}
	if n := b.count(t, `select count(*) from idempotency_keys where key = 'fresh'`); n != 2 || b.count(t, `select count(*) from idempotency_keys`) != 2 {
		t.Fatalf("the unexpired keys did not survive the pruning")
	}
	if n, err := ops.PruneExpiredKeys(ctx, 0); err != nil || n != 0 {
		t.Fatalf("second prune: %d, %v", n, err)
	}
	// The server's login cannot prune across tenants.
	serverOps := reservation.NewOps(tenancy.NewOps(b.db.ServerPool(t, 1)), reservation.Options{})
	if _, err := serverOps.PruneExpiredKeys(ctx, 0); err == nil {
		t.Fatal("park_server pruned keys of every tenant")
	}
}

// TestDeadlockIsRetried: a booking chosen as a deadlock victim runs again
// and succeeds; the caller never sees the deadlock.
func TestDeadlockIsRetried(t *testing.T) {
	t.Parallel()
	b := newBundle(t, 4)
	ctx := testCtx(t)
	tenant, user := b.tenant(t), uuid.New()
	space := b.space(t, tenant)
	start, end := b.slot(1, 1)
	var retries atomic.Int32
	// The retry waits until the other side has let go, or it could take
	// the key again before the other side's insert does, and deadlock
	// anew.
	released := make(chan struct{})
	reservation.SetRetryHook(b.store, func(attempt int, err error) {
		if !errors.Is(err, tenancy.ErrSerialization) {
			t.Errorf("retry %d after %v", attempt, err)
		}
		retries.Add(1)
		<-released
	})

	// The other side of the deadlock: a superuser session that locks the
	// space, and then waits for the booking's idempotency key. Its own
	// deadlock timeout is long, so the booking's (1 s) finds the cycle.
	conn, err := b.admin.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `set deadlock_timeout = '1min'`); err != nil {
		t.Fatal(err)
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.Background())
	if _, err := tx.Exec(ctx, `select 1 from spaces where id = $1 for update`, space); err != nil {
		t.Fatal(err)
	}

	p := params(tenant, user, space, start, end)
	p.IdempotencyKey = "deadlock"
	type result struct {
		ans *reservation.Answer
		err error
	}
	done := make(chan result, 1)
	go func() {
		ans, err := b.store.CreateIdempotent(ctx, p, render)
		done <- result{ans, err}
	}()
	// Wait until the booking holds its key and waits for the space.
	for {
		var waiting bool
		if err := b.admin.QueryRow(ctx, `select exists (select 1 from pg_stat_activity
			where datname = current_database() and usename = 'park_server' and wait_event_type = 'Lock')`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	fp := reservation.Fingerprint(space, start, end, "deadlock")
	if _, err := tx.Exec(ctx, `insert into idempotency_keys (tenant_id, principal_id, key, fingerprint, expires_at)
		values ($1, $2, 'deadlock', $3, now() + interval '1 hour') on conflict do nothing`, tenant, user, fp[:]); err != nil {
		t.Fatalf("the other side of the deadlock failed, not the booking: %v", err)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	close(released)
	r := <-done
	if r.err != nil || r.ans.Status != http.StatusCreated || r.ans.Replayed {
		t.Fatalf("booking after a deadlock: %+v, %v", r.ans, r.err)
	}
	if n := retries.Load(); n != 1 {
		t.Fatalf("%d retries, want 1", n)
	}
	if n := b.count(t, `select count(*) from reservations`); n != 1 {
		t.Fatalf("%d reservations", n)
	}
}

// TestReplayAfterTheBookingEnded: retrying a booking after it is over still
// gets the stored answer; a new request for a slot that is over is 400 and
// stores nothing, so the key stays usable.
func TestReplayAfterTheBookingEnded(t *testing.T) {
	t.Parallel()
	b := newBundle(t, 4)
	ctx := testCtx(t)
	tenant, user := b.tenant(t), uuid.New()
	space := b.space(t, tenant)
	start := b.clock.Now().Add(time.Hour).Truncate(time.Second)
	p := params(tenant, user, space, start, start.Add(time.Hour))
	p.IdempotencyKey = "late-retry"
	first, err := b.store.CreateIdempotent(ctx, p, render)
	if err != nil || first.Status != http.StatusCreated {
		t.Fatalf("first: %+v %v", first, err)
	}
	b.clock.Advance(3 * time.Hour) // the booking is over
	again, err := b.store.CreateIdempotent(ctx, p, render)
	if err != nil || !again.Replayed || !bytes.Equal(again.Body, first.Body) {
		t.Fatalf("retry after the end: %+v %v", again, err)
	}
	late := params(tenant, user, space, start, start.Add(time.Hour))
	late.IdempotencyKey = "new-but-late"
	if _, err := b.store.CreateIdempotent(ctx, late, render); !errors.Is(err, tenancy.ErrInvalid) {
		t.Fatalf("a new booking that is over: %v", err)
	}
	late.StartsAt, late.EndsAt = b.clock.Now().Add(time.Hour).Truncate(time.Second), b.clock.Now().Add(2*time.Hour).Truncate(time.Second)
	if ans, err := b.store.CreateIdempotent(ctx, late, render); err != nil || ans.Replayed || ans.Status != http.StatusCreated {
		t.Fatalf("the key after a refused request: %+v %v", ans, err)
	}
}
