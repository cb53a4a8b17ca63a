package reservation

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/parkhq/park/tenancy"
)

// CreateParams are the inputs of Create and CreateIdempotent.
type CreateParams struct {
	TenantID uuid.UUID
	// PrincipalID scopes idempotency keys: the user's id, or the API key's.
	PrincipalID uuid.UUID
	// Actor names the caller in the audit log (tenancy.Principal.Actor).
	Actor string
	// CreatedBy is the booking user, nil for an API key.
	CreatedBy *uuid.UUID

	SpaceID  uuid.UUID
	StartsAt time.Time
	EndsAt   time.Time
	// RequestID is the body's request_id: the key when there is no
	// Idempotency-Key header. "" means none.
	RequestID string
	// IdempotencyKey is the parsed Idempotency-Key header; "" means none.
	// When both are given they must be equal.
	IdempotencyKey string
}

// key is the idempotency key in force: the header's, else request_id.
func (p *CreateParams) key() string {
	if p.IdempotencyKey != "" {
		return p.IdempotencyKey
	}
	return p.RequestID
}

// validate checks the request against the store's rules at now. Every
// problem is reported at once, per field. A zero now skips the one rule that
// depends on the clock (the reservation must not be over already), which
// CreateIdempotent checks only after finding no stored answer: a retry of a
// booking that has ended since must still get its answer again.
func (s *Store) validate(p *CreateParams, now time.Time) error {
	if p.Actor == "" {
		return errors.New("reservation: create without an actor")
	}
	var v tenancy.ValidationError
	if p.SpaceID == uuid.Nil {
		v.Add("space_id", "is required")
	}
	for _, f := range []struct {
		name string
		t    time.Time
	}{{"starts_at", p.StartsAt}, {"ends_at", p.EndsAt}} {
		switch {
		case f.t.IsZero():
			v.Add(f.name, "is required")
		case f.t.Nanosecond() != 0:
			v.Add(f.name, "must be a whole second")
		default:
			v.CheckTime(f.name, f.t)
		}
	}
	if v.Fields["starts_at"] == nil && v.Fields["ends_at"] == nil {
		switch {
		case !p.EndsAt.After(p.StartsAt):
			v.Add("ends_at", "must be after starts_at")
		case !now.IsZero() && !p.EndsAt.After(now):
			v.Add("ends_at", errOver)
		case p.EndsAt.Sub(p.StartsAt) > s.maxDuration:
			v.Add("ends_at", fmt.Sprintf("the reservation may last at most %s", formatDuration(s.maxDuration)))
		}
	}
	if p.RequestID != "" && !ValidKey(p.RequestID) {
		v.Add("request_id", ErrMalformedKey.Error())
	}
	if p.IdempotencyKey != "" && !ValidKey(p.IdempotencyKey) {
		v.Add("Idempotency-Key", ErrMalformedKey.Error())
	}
	if p.RequestID != "" && p.IdempotencyKey != "" && p.RequestID != p.IdempotencyKey {
		v.Add("request_id", "differs from the Idempotency-Key header; send one, or the same value in both")
	}
	return v.Err()
}

const errOver = "must be in the future: the reservation would be over already"

// checkNotOver is validate's clock rule on its own.
func checkNotOver(p *CreateParams, now time.Time) error {
	if p.EndsAt.After(now) {
		return nil
	}
	v := &tenancy.ValidationError{}
	v.Add("ends_at", errOver)
	return v
}

// formatDuration writes whole days as "7 days", anything else as Go does.
func formatDuration(d time.Duration) string {
	switch {
	case d == 24*time.Hour:
		return "1 day"
	case d%(24*time.Hour) == 0:
		return fmt.Sprintf("%d days", d/(24*time.Hour))
	}
	return d.String()
}

// Create books a space for [StartsAt, EndsAt) without idempotency (the key
// fields must be empty; see CreateIdempotent). It returns the reservation,
// or ErrNotFound when the space is missing, deleted or another tenant's, a
// *ConflictError when the range overlaps a confirmed reservation of the
// space, or a *tenancy.ValidationError.
//
// The booking is one statement (book_reservation: lock the space, insert,
// audit) in one round trip, its own implicit transaction.
func (s *Store) Create(ctx context.Context, p *CreateParams) (*Reservation, error) {
	if p.key() != "" {
		return nil, errors.New("reservation: Create with an idempotency key; use CreateIdempotent")
	}
	now := s.now()
	if err := s.validate(p, now); err != nil {
		return nil, err
	}
	var res *Reservation
	err := s.retry(ctx, func() error {
		var o booking
		var b pgx.Batch
		queueBook(&b, p, now, &o)
		if err := s.db.InTenantBatch(ctx, p.TenantID, &b); err != nil {
			return err
		}
		switch o.outcome {
		case outcomeCreated:
			res = &o.res
			return nil
		case outcomeConflict:
			return &ConflictError{SpaceID: p.SpaceID, Conflicting: o.conflict}
		case outcomeNotFound:
			return spaceNotFound(p.SpaceID)
		case outcomeOver:
			return checkNotOver(p, now)
		}
		return fmt.Errorf("book_reservation: unexpected outcome %q", o.outcome)
	})
	if err != nil {
		return nil, fmt.Errorf("create reservation: %w", err)
	}
	return res, nil
}

// CreateIdempotent books like Create under the request's idempotency key
// (IdempotencyKey, else RequestID; one is required), scoped to the tenant
// and PrincipalID, all in one transaction of two round trips (DESIGN §7):
//
//  1. BEGIN, the tenant prologue and book_reservation_keyed, which claims
//     the key — a concurrent request with the same key waits here for the
//     first to finish, then gets its answer — locks the live space row, as
//     SpaceDelete does, inserts the reservation (the EXCLUDE constraint
//     decides overlaps) and writes the audit event;
//  2. COMMIT, after the stored answer when the booking was refused.
//
// The answer to the reservation it is about to make is rendered before
// step 1, with the reservation's id and created_at (the store's clock)
// chosen here, and the key is claimed with it: the key's row is written
// once. A refusal (the space missing, an overlap) takes that answer out of
// the row again; its own answer is rendered between the two round trips
// and stored with the COMMIT. Render runs in Go, so the library stores
// HTTP answers without knowing HTTP.
//
// A key already answered returns that answer again (Replayed); one used
// for a different request is ErrKeyReused; one older than the key TTL is
// forgotten and used afresh. A missing space and an overlap are final
// answers, stored like a success. Invalid input is refused before the key
// is claimed and stores nothing, so a corrected request may use the key;
// errors (database failures, a render error, a status outside 2xx and 4xx)
// roll everything back, so 5xx answers are never stored. As the success
// answer is rendered before the booking, render runs for a reservation that
// may not be made, and its failure fails the request.
//
// Deadlocks and serialization failures run the transaction again, up to
// three times; after that the error is tenancy.ErrSerialization.
func (s *Store) CreateIdempotent(ctx context.Context, p *CreateParams, render Render) (*Answer, error) {
	if p.key() == "" {
		return nil, errors.New("reservation: CreateIdempotent without an idempotency key")
	}
	if err := s.validate(p, time.Time{}); err != nil {
		return nil, err
	}
	fp := Fingerprint(p.SpaceID, p.StartsAt, p.EndsAt, p.key())
	key := p.key()
	var ans *Answer
	err := s.retry(ctx, func() error {
		// PostgreSQL keeps microseconds: the created_at rendered is the
		// one stored.
		now := s.now().Truncate(time.Microsecond)
		made := &Reservation{
			ID: uuid.New(), TenantID: p.TenantID, SpaceID: p.SpaceID,
			StartsAt: p.StartsAt.UTC(), EndsAt: p.EndsAt.UTC(), Status: StatusConfirmed,
			RequestID: &key, CreatedBy: p.CreatedBy, CreatedAt: now.UTC(),
		}
		created, err := renderAnswer(render, made, nil)
		if err != nil {
			return err
		}
		var o keyedBooking
		first := &pgx.Batch{}
		queueKeyed(first, p, made.ID, fp[:], now, now.Add(s.keyTTL), created, &o)
		return s.db.InTenantTxBatches(ctx, p.TenantID, first, func() (*pgx.Batch, error) {
			var err error
			ans, err = answer(p, &o, made, now, render)
			if err != nil || ans.Replayed || ans.Reservation != nil {
				// A replay, or a booking made with its answer already
				// in the key's row: COMMIT alone.
				return nil, err
			}
			return storeAnswer(p, ans), nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("create reservation: %w", err)
	}
	return ans, nil
}

// answer decides what book_reservation_keyed's outcome o answers: a stored
// answer again, an error that rolls back, the booking made (its answer,
// rendered beforehand, as stored), or a refusal answered by render, whose
// Body storeAnswer then fills in.
func answer(p *CreateParams, o *keyedBooking, made *Reservation, now time.Time, render Render) (*Answer, error) {
	var refusal error
	switch o.outcome {
	case outcomeReplay:
		return &Answer{Status: o.status, Body: []byte(o.body), Replayed: true}, nil
	case outcomeReused:
		return nil, ErrKeyReused
	case outcomeOver:
		// A new request (no stored answer): the clock rule applies. The
		// error rolls back the claim, so nothing is stored.
		return nil, checkNotOver(p, now)
	case outcomeCreated:
		if o.id != made.ID {
			return nil, fmt.Errorf("book_reservation_keyed: made reservation %s, want %s", o.id, made.ID)
		}
		return &Answer{Status: o.status, Body: []byte(o.body), Reservation: made}, nil
	case outcomeConflict:
		refusal = &ConflictError{SpaceID: p.SpaceID, Conflicting: o.conflict}
	case outcomeNotFound:
		refusal = spaceNotFound(p.SpaceID)
	default:
		return nil, fmt.Errorf("book_reservation_keyed: unexpected outcome %q", o.outcome)
	}
	r, err := renderAnswer(render, nil, refusal)
	if err != nil {
		return nil, err
	}
	return &Answer{Status: r.status, Body: []byte(r.body), Err: refusal}, nil
}

// rendered is one answer as render made it.
type rendered struct {
	status int
	body   string
}

// renderAnswer renders the answer to one outcome, a reservation made (err
// nil) or a refusal, and checks that it may be stored.
func renderAnswer(render Render, res *Reservation, err error) (rendered, error) {
	status, body, rerr := render(res, err)
	if rerr != nil {
		return rendered{}, fmt.Errorf("render answer: %w", rerr)
	}
	if status < 200 || status > 499 {
		return rendered{}, fmt.Errorf("idempotent answer with status %d: only 2xx and 4xx answers are stored", status)
	}
	return rendered{status: status, body: string(body)}, nil
}

func spaceNotFound(id uuid.UUID) error { return fmt.Errorf("space %s: %w", id, tenancy.ErrNotFound) }

// retry runs fn, and again after a deadlock or serialization failure, up to
// maxRetries more times. Any other outcome is returned at once.
func (s *Store) retry(ctx context.Context, fn func() error) error {
	for attempt := 1; ; attempt++ {
		err := fn()
		if err == nil || !errors.Is(err, tenancy.ErrSerialization) || attempt > maxRetries {
			return err
		}
		if s.onRetry != nil {
			s.onRetry(attempt, err)
		}
		t := time.NewTimer(s.backoff(attempt))
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
	}
}
