package reservation

import (
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/parkhq/park/tenancy"
)

// Errors of this package. Everything else a Store returns is one of
// tenancy's: ErrNotFound (a missing, deleted or other tenant's space or
// reservation), *tenancy.ValidationError, ErrConflict (with
// *ConflictError for an overlap), ErrSerialization, ErrUnavailable.
var (
	// ErrKeyReused: the idempotency key was used before, by the same
	// principal, for a different request (another space, range or
	// request_id). HTTP answers it 422.
	ErrKeyReused = errors.New("the idempotency key was already used for a different request")
	// ErrPartialView: the audit could not see every tenant (the login
	// cannot act as park_ops, or park_ops lost BYPASSRLS), so it refuses to
	// call the data clean.
	ErrPartialView = errors.New("not every tenant is visible")
)

// ConflictError is an overlap with a confirmed reservation of the same
// space. It matches tenancy.ErrConflict under errors.Is and names the
// reservation in the way, so a client can show it or pick another slot.
type ConflictError struct {
	SpaceID uuid.UUID
	// Conflicting is the confirmed reservation the request overlaps (the
	// earliest, when there are several).
	Conflicting ConflictingReservation
}

// ConflictingReservation identifies the reservation in the way.
type ConflictingReservation struct {
	ID       uuid.UUID `json:"id"`
	StartsAt time.Time `json:"starts_at"`
	EndsAt   time.Time `json:"ends_at"`
}

// Error names the conflicting reservation and its range.
func (e *ConflictError) Error() string {
	return fmt.Sprintf("space %s is already reserved from %s to %s (reservation %s)", e.SpaceID,
		e.Conflicting.StartsAt.UTC().Format(time.RFC3339), e.Conflicting.EndsAt.UTC().Format(time.RFC3339), e.Conflicting.ID)
}

// Is makes a *ConflictError match tenancy.ErrConflict.
func (e *ConflictError) Is(target error) bool { return target == tenancy.ErrConflict }
