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
func (s *Store) Create(ctx context.Context, p *CreateParams) (*Reservation, error) {
	if p.key() != "" {
		return nil, errors.New("reservation: Create with an idempotency key; use CreateIdempotent")
	}
	if err := s.validate(p, s.now()); err != nil {
		return nil, err
	}
	var res *Reservation
	err := s.retry(ctx, func() error {
		return s.db.InTenantTx(ctx, p.TenantID, func(tx pgx.Tx) error {
			var err error
			res, err = s.book(ctx, tx, p)
			return err
		})
	})
	if err != nil {
		return nil, fmt.Errorf("create reservation: %w", err)
	}
	return res, nil
}

// CreateIdempotent books like Create under the request's idempotency key
// (IdempotencyKey, else RequestID; one is required), scoped to the tenant
// and PrincipalID, all in one transaction (DESIGN §7):
//
//  1. claim the key — a concurrent request with the same key waits here
//     for the first to finish, then gets its answer;
//  2. lock the live space row, as SpaceDelete does;
//  3. insert the reservation (the EXCLUDE constraint decides overlaps);
//  4. store render's answer with the key.
//
// Steps 1 and 2 travel in one round trip.
//
// A key already answered returns that answer again (Replayed); one used
// for a different request is ErrKeyReused; one older than the key TTL is
// forgotten and used afresh. A missing space and an overlap are final
// answers, stored like a success. Invalid input is refused before the key
// is claimed and stores nothing, so a corrected request may use the key;
// errors (database failures, a render error) roll everything back, so 5xx
// answers are never stored.
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
	var ans *Answer
	err := s.retry(ctx, func() error {
		return s.db.InTenantTx(ctx, p.TenantID, func(tx pgx.Tx) error {
			var err error
			ans, err = s.bookIdempotent(ctx, tx, p, fp, render)
			return err
		})
	})
	if err != nil {
		return nil, fmt.Errorf("create reservation: %w", err)
	}
	return ans, nil
}

func (s *Store) bookIdempotent(ctx context.Context, tx pgx.Tx, p *CreateParams, fp [32]byte, render Render) (*Answer, error) {
	now := s.now()
	replay, live, err := s.claimAndLock(ctx, tx, p, fp, now)
	if err != nil || replay != nil {
		return replay, err
	}
	// A new request (no stored answer): now the clock rule applies. Its
	// error rolls back the claim, so nothing is stored.
	if err := checkNotOver(p, now); err != nil {
		return nil, err
	}
	ans := &Answer{}
	var conflict *ConflictError
	if !live {
		ans.Err = spaceNotFound(p.SpaceID)
	} else if ans.Reservation, err = s.insert(ctx, tx, p); errors.As(err, &conflict) {
		ans.Err = err
	} else if err != nil {
		return nil, err
	}
	status, body, err := render(ans.Reservation, ans.Err)
	if err != nil {
		return nil, fmt.Errorf("render answer: %w", err)
	}
	if ans.Body, err = storeAnswer(ctx, tx, p, status, body); err != nil {
		return nil, err
	}
	ans.Status = status
	return ans, nil
}

// lockSpaceSQL locks a live space of the tenant. The lock makes the
// bookings of one space take turns and keeps the space from being deleted
// under a booking: tenancy.SpaceDelete takes the same lock and then looks
// for reservations.
const lockSpaceSQL = `select 1 from spaces where tenant_id = $1 and id = $2 and deleted_at is null for update`

func spaceNotFound(id uuid.UUID) error { return fmt.Errorf("space %s: %w", id, tenancy.ErrNotFound) }

// book locks the space and inserts the reservation in tx.
func (s *Store) book(ctx context.Context, tx pgx.Tx, p *CreateParams) (*Reservation, error) {
	var one int
	err := tx.QueryRow(ctx, lockSpaceSQL, p.TenantID, p.SpaceID).Scan(&one)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, spaceNotFound(p.SpaceID)
	}
	if err != nil {
		return nil, fmt.Errorf("lock space: %w", err)
	}
	return s.insert(ctx, tx, p)
}

// insert adds the reservation to the locked space, with its audit event.
// An overlap is a *ConflictError that leaves tx usable, so the caller can
// still store it as the answer.
func (s *Store) insert(ctx context.Context, tx pgx.Tx, p *CreateParams) (*Reservation, error) {
	var requestID *string
	if k := p.key(); k != "" {
		requestID = &k
	}
	id := uuid.New()
	// ON CONFLICT DO NOTHING without a target covers the exclusion
	// constraint too: an overlap yields no row instead of aborting the
	// transaction.
	for range 3 {
		res, err := scan(tx.QueryRow(ctx,
			`insert into reservations (tenant_id, id, space_id, during, request_id, created_by)
			 values ($1, $2, $3, tstzrange($4, $5, '[)'), $6, $7)
			 on conflict do nothing
			 returning `+columns,
			p.TenantID, id, p.SpaceID, p.StartsAt, p.EndsAt, requestID, p.CreatedBy))
		if err == nil {
			return &res, tenancy.AppendAudit(ctx, tx, tenancy.AuditEvent{
				Actor: p.Actor, Action: "reservation.create", Target: res.ID.String(),
				Details: map[string]any{"space_id": res.SpaceID, "starts_at": res.StartsAt, "ends_at": res.EndsAt, "request_id": res.RequestID}})
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return nil, fmt.Errorf("insert reservation: %w", err)
		}
		c, err := conflictWith(ctx, tx, p)
		if err != nil {
			return nil, err
		}
		if c != nil {
			return nil, c
		}
		// The reservation in the way was cancelled between the insert
		// and the look-up: try again.
	}
	return nil, fmt.Errorf("insert reservation: the conflicting reservation keeps changing: %w", tenancy.ErrSerialization)
}

// conflictWith finds the earliest confirmed reservation of the space that
// overlaps the request, or nil.
func conflictWith(ctx context.Context, tx pgx.Tx, p *CreateParams) (*ConflictError, error) {
	c := &ConflictError{SpaceID: p.SpaceID}
	err := tx.QueryRow(ctx,
		`select id, lower(during), upper(during) from reservations
		  where tenant_id = $1 and space_id = $2 and status = 'confirmed'
		    and during && tstzrange($3, $4, '[)')
		  order by lower(during), id limit 1`,
		p.TenantID, p.SpaceID, p.StartsAt, p.EndsAt).Scan(&c.Conflicting.ID, &c.Conflicting.StartsAt, &c.Conflicting.EndsAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("find conflicting reservation: %w", err)
	}
	c.Conflicting.StartsAt, c.Conflicting.EndsAt = c.Conflicting.StartsAt.UTC(), c.Conflicting.EndsAt.UTC()
	return c, nil
}

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
