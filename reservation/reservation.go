package reservation

import (
	"math/rand/v2"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/parkhq/park/tenancy"
)

// Reservation statuses.
const (
	StatusConfirmed = "confirmed"
	StatusCancelled = "cancelled"
)

// ValidStatus reports whether s is a reservation status.
func ValidStatus(s string) bool { return s == StatusConfirmed || s == StatusCancelled }

// Reservation holds a space for [StartsAt, EndsAt) while it is confirmed.
// A cancelled reservation keeps its range for history and holds nothing.
type Reservation struct {
	ID       uuid.UUID `json:"id"`
	TenantID uuid.UUID `json:"tenant_id"`
	SpaceID  uuid.UUID `json:"space_id"`
	StartsAt time.Time `json:"starts_at"`
	EndsAt   time.Time `json:"ends_at"`
	Status   string    `json:"status"`
	// RequestID is the idempotency key the reservation was made with (the
	// Idempotency-Key header or the body's request_id), or nil.
	RequestID *string `json:"request_id"`
	// CreatedBy is the user who booked, or nil when an API key did (the
	// audit log names the key).
	CreatedBy   *uuid.UUID `json:"created_by"`
	CreatedAt   time.Time  `json:"created_at"`
	CancelledAt *time.Time `json:"cancelled_at"`
}

// Defaults of Options.
const (
	// DefaultMaxDuration is the longest reservation unless configured.
	DefaultMaxDuration = 7 * 24 * time.Hour
	// DefaultKeyTTL is how long an idempotency key is remembered.
	DefaultKeyTTL = 24 * time.Hour
)

// maxRetries is how many times a booking is run again after a deadlock or
// serialization failure (DESIGN §7) before the error goes to the caller.
const maxRetries = 3

// Options configure a Store. The zero value takes the defaults.
type Options struct {
	// MaxDuration is the longest reservation accepted; 0 means
	// DefaultMaxDuration.
	MaxDuration time.Duration
	// KeyTTL is how long an idempotency key and its answer are kept; a
	// key older than this is forgotten and may be used again. 0 means
	// DefaultKeyTTL.
	KeyTTL time.Duration
	// Now is the clock for validation and key expiry; nil means time.Now.
	// Timestamps the database writes (created_at, cancelled_at) come from
	// the database's clock.
	Now func() time.Time
}

// Store books, reads and cancels reservations. It is safe for concurrent
// use. The operator-only methods (Audit, PruneExpiredKeys) are on Ops.
type Store struct {
	db          *tenancy.Store
	maxDuration time.Duration
	keyTTL      time.Duration
	now         func() time.Time

	// onRetry, when set (by tests), is called before a booking is run
	// again.
	onRetry func(attempt int, err error)
	// backoff returns the pause before retry attempt n (1-based).
	backoff func(attempt int) time.Duration
}

// NewStore returns a Store whose transactions go through db, as park_app
// with the tenant set, for bookings and reads.
func NewStore(db *tenancy.Store, opts Options) *Store {
	s := &Store{db: db, maxDuration: opts.MaxDuration, keyTTL: opts.KeyTTL, now: opts.Now}
	if s.maxDuration <= 0 {
		s.maxDuration = DefaultMaxDuration
	}
	if s.keyTTL <= 0 {
		s.keyTTL = DefaultKeyTTL
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.backoff = jitter
	return s
}

// jitter spreads retries of transactions that collided, so they do not
// collide again in lockstep: up to 5 ms times the attempt.
func jitter(attempt int) time.Duration {
	return time.Duration(rand.Int64N(int64(5*time.Millisecond) * int64(attempt)))
}

// columns are what scan reads, in order.
const columns = `tenant_id, id, space_id, lower(during), upper(during), status, request_id, created_by, created_at, cancelled_at`

func scan(row pgx.Row) (Reservation, error) {
	var r Reservation
	err := row.Scan(&r.TenantID, &r.ID, &r.SpaceID, &r.StartsAt, &r.EndsAt, &r.Status, &r.RequestID,
		&r.CreatedBy, &r.CreatedAt, &r.CancelledAt)
	r.StartsAt, r.EndsAt, r.CreatedAt = r.StartsAt.UTC(), r.EndsAt.UTC(), r.CreatedAt.UTC()
	if r.CancelledAt != nil {
		c := r.CancelledAt.UTC()
		r.CancelledAt = &c
	}
	return r, err
}

// Ops holds the operator-only reservation methods, Audit and
// PruneExpiredKeys, which act across tenants as park_ops. They are not on
// Store so that server code, which holds a Store, cannot call them; parkctl
// makes an Ops with NewOps on the park_admin login. It is safe for
// concurrent use.
type Ops struct {
	db  *tenancy.Ops
	now func() time.Time
}

// NewOps returns an Ops whose transactions run as park_ops through db.
// Only opts.Now is used.
func NewOps(db *tenancy.Ops, opts Options) *Ops {
	o := &Ops{db: db, now: opts.Now}
	if o.now == nil {
		o.now = time.Now
	}
	return o
}
