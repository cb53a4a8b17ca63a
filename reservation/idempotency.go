package reservation

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// MaxKeyLen is the longest idempotency key (and request_id) accepted.
const MaxKeyLen = 255

// ErrMalformedKey reports an Idempotency-Key header or request_id that is
// not 1–255 printable ASCII characters.
var ErrMalformedKey = errors.New("must be 1–255 printable ASCII characters")

// ParseKey reads an Idempotency-Key header value: a structured-field string
// (RFC 8941: "…", with \" and \\ as the only escapes) as the IETF draft
// defines it, or the bare key that many clients send. Either way the key is
// 1–255 printable ASCII characters (space to tilde). Surrounding spaces and
// tabs are not part of it.
func ParseKey(header string) (string, error) {
	v := strings.Trim(header, " \t")
	if strings.HasPrefix(v, `"`) {
		var b strings.Builder
		i := 1
		for ; i < len(v); i++ {
			c := v[i]
			if c == '"' {
				break
			}
			if c == '\\' {
				i++
				if i == len(v) || (v[i] != '"' && v[i] != '\\') {
					return "", fmt.Errorf("a quoted key may escape only \" and \\: %w", ErrMalformedKey)
				}
				c = v[i]
			}
			b.WriteByte(c)
		}
		if i != len(v)-1 {
			return "", fmt.Errorf("the quoted key is not closed, or text follows it: %w", ErrMalformedKey)
		}
		v = b.String()
	}
	if !ValidKey(v) {
		return "", ErrMalformedKey
	}
	return v, nil
}

// ValidKey reports whether k is a usable idempotency key: 1–MaxKeyLen
// printable ASCII characters.
func ValidKey(k string) bool {
	if len(k) == 0 || len(k) > MaxKeyLen {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x20 || k[i] > 0x7e {
			return false
		}
	}
	return true
}

// Fingerprint identifies what a request asks for, so a key reused for
// another request is caught: SHA-256 over the space, the range in UTC RFC
// 3339 with whole seconds, and the request id (DESIGN §7), separated by
// newlines, which none of them can contain, after a version line.
func Fingerprint(spaceID uuid.UUID, startsAt, endsAt time.Time, requestID string) [32]byte {
	return sha256.Sum256([]byte("park-reservation-v1\n" + spaceID.String() + "\n" +
		startsAt.UTC().Format(time.RFC3339) + "\n" + endsAt.UTC().Format(time.RFC3339) + "\n" + requestID))
}

// Render turns the outcome of a booking into the answer to store with the
// idempotency key and send: for a reservation made (err nil) or a final
// refusal (err is ErrNotFound for the space, or a *ConflictError). status
// must be 2xx or 4xx and body one JSON value. It runs inside the booking's
// transaction, so it must be quick and must not touch the database.
type Render func(res *Reservation, err error) (status int, body []byte, rerr error)

// Answer is the final answer to an idempotent booking.
type Answer struct {
	// Status and Body are the answer as stored: Body is the JSON that
	// Render made, in PostgreSQL's jsonb form, identical for the first
	// request and every replay.
	Status int
	Body   []byte
	// Replayed reports that the answer was stored by an earlier request
	// with the same key.
	Replayed bool
	// Reservation is the reservation this call made; nil on a replay and a
	// refusal.
	Reservation *Reservation
	// Err is the refusal this call rendered (not found or a
	// *ConflictError); nil on success and on a replay.
	Err error
}

// Outcomes of book_reservation (migration 00008) and book_reservation_keyed
// (00018).
const (
	outcomeCreated  = "created"
	outcomeConflict = "conflict"
	outcomeNotFound = "not_found"
	outcomeOver     = "over"
	outcomeReplay   = "replay"
	outcomeReused   = "reused"
)

// bookSQL calls book_reservation (migration 00008) without an idempotency
// key: it locks the live space, inserts the reservation and writes its
// audit event in one statement, so one round trip. Every parameter is
// cast, so the statement works where parameters have no described types
// (pgx exec mode, as through PgBouncer). The key, principal, fingerprint
// and expiry are NULL: keyed bookings go through book_reservation_keyed.
const bookSQL = `select outcome, r_tenant_id, r_id, r_space_id, r_starts_at, r_ends_at, r_status, r_request_id,
	       r_created_by, r_created_at, r_cancelled_at, c_id, c_starts_at, c_ends_at
	  from book_reservation($1::uuid, $2::uuid, $3::timestamptz, $4::timestamptz, $5::uuid, $6::text,
	                        null, null, null, $7::timestamptz, null)`

// booking is what book_reservation answered.
type booking struct {
	outcome string
	// res is the reservation made (outcomeCreated).
	res Reservation
	// conflict is the earliest confirmed reservation in the way
	// (outcomeConflict).
	conflict ConflictingReservation
}

// queueBook queues the book_reservation call for p, which has no key, on
// b; o receives its answer. now judges whether the range is over.
func queueBook(b *pgx.Batch, p *CreateParams, now time.Time, o *booking) {
	b.Queue(bookSQL, pgUUID(p.SpaceID), pgUUID(uuid.New()), p.StartsAt, p.EndsAt, pgUUIDOrNull(p.CreatedBy), p.Actor, now).
		QueryRow(o.scan)
}

// scan reads book_reservation's row. Only the columns of the outcome are
// set; the others are NULL.
func (o *booking) scan(row pgx.Row) error {
	var (
		tenant, id, space, cID              *uuid.UUID
		start, end, createdAt, cStart, cEnd *time.Time
		status                              *string
		r                                   = &o.res
	)
	err := row.Scan(&o.outcome, &tenant, &id, &space, &start, &end, &status, &r.RequestID,
		&r.CreatedBy, &createdAt, &r.CancelledAt, &cID, &cStart, &cEnd)
	if err != nil {
		return fmt.Errorf("book reservation: %w", err)
	}
	missing := func(ptrs ...bool) error {
		for _, absent := range ptrs {
			if absent {
				return fmt.Errorf("book reservation: outcome %s without its columns", o.outcome)
			}
		}
		return nil
	}
	switch o.outcome {
	case outcomeCreated:
		if err := missing(tenant == nil, id == nil, space == nil, start == nil, end == nil, status == nil, createdAt == nil); err != nil {
			return err
		}
		r.TenantID, r.ID, r.SpaceID, r.Status = *tenant, *id, *space, *status
		r.StartsAt, r.EndsAt, r.CreatedAt = start.UTC(), end.UTC(), createdAt.UTC()
	case outcomeConflict:
		if err := missing(cID == nil, cStart == nil, cEnd == nil); err != nil {
			return err
		}
		o.conflict = ConflictingReservation{ID: *cID, StartsAt: cStart.UTC(), EndsAt: cEnd.UTC()}
	}
	return nil
}

// keyedSQL calls book_reservation_keyed (migration 00018), which claims the
// idempotency key with the answer rendered for the booking about to be
// made, locks the live space, inserts the reservation and writes its audit
// event: one statement, so it travels with BEGIN and the prologue. Every
// parameter is cast, so the statement works where parameters have no
// described types (pgx exec mode, as through PgBouncer).
const keyedSQL = `select outcome, r_id, c_id, c_starts_at, c_ends_at, k_status, k_body
	  from book_reservation_keyed($1::uuid, $2::uuid, $3::timestamptz, $4::timestamptz, $5::uuid, $6::text,
	                              $7::uuid, $8::text, $9::bytea, $10::timestamptz, $11::timestamptz,
	                              $12::integer, $13::text, $14::text)`

// keyedBooking is what book_reservation_keyed answered.
type keyedBooking struct {
	outcome string
	// id is the reservation made (outcomeCreated).
	id uuid.UUID
	// conflict is the earliest confirmed reservation in the way
	// (outcomeConflict).
	conflict ConflictingReservation
	// status and body are the answer stored with the key (outcomeCreated,
	// outcomeReplay).
	status int
	body   string
}

// queueKeyed queues the book_reservation_keyed call for p on b, booking
// reservation id with the answer created stored under the key; o receives
// its answer. now judges key expiry and whether the range is over, and is
// the reservation's created_at.
func queueKeyed(b *pgx.Batch, p *CreateParams, id uuid.UUID, fp []byte, now, expiresAt time.Time, created rendered, o *keyedBooking) {
	// The ids go as pgtype.UUID: pgx encodes a uuid.UUID through its
	// driver.Valuer (text, parsed back, after a failed first plan), which
	// cost about a tenth of the client's CPU per booking.
	b.Queue(keyedSQL, pgUUID(p.SpaceID), pgUUID(id), p.StartsAt, p.EndsAt, pgUUIDOrNull(p.CreatedBy), p.Actor,
		pgUUID(p.PrincipalID), p.key(), fp, now, expiresAt, created.status, created.body, auditDetails(p)).QueryRow(o.scan)
}

// pgUUID is id as pgx encodes it directly.
func pgUUID(id uuid.UUID) pgtype.UUID { return pgtype.UUID{Bytes: id, Valid: true} }

// pgUUIDOrNull is pgUUID of *id, or NULL when id is nil.
func pgUUIDOrNull(id *uuid.UUID) pgtype.UUID {
	if id == nil {
		return pgtype.UUID{}
	}
	return pgUUID(*id)
}

// auditDetails is the details of a booking's reservation.create audit
// event, as book_reservation writes them: the space, the range in UTC RFC
// 3339 (whole seconds, as validated) and the key, as JSON text.
func auditDetails(p *CreateParams) string {
	b, _ := json.Marshal(struct {
		SpaceID   uuid.UUID `json:"space_id"`
		StartsAt  string    `json:"starts_at"`
		EndsAt    string    `json:"ends_at"`
		RequestID string    `json:"request_id"`
	}{p.SpaceID, p.StartsAt.UTC().Format(time.RFC3339), p.EndsAt.UTC().Format(time.RFC3339), p.key()})
	return string(b)
}

// scan reads book_reservation_keyed's row. Only the columns of the outcome
// are set; the others are NULL.
func (o *keyedBooking) scan(row pgx.Row) error {
	var (
		id, cID      pgtype.UUID
		cStart, cEnd *time.Time
		status       *int
		body         *string
	)
	if err := row.Scan(&o.outcome, &id, &cID, &cStart, &cEnd, &status, &body); err != nil {
		return fmt.Errorf("book reservation: %w", err)
	}
	missing := func(absent bool) error {
		if absent {
			return fmt.Errorf("book reservation: outcome %s without its columns", o.outcome)
		}
		return nil
	}
	switch o.outcome {
	case outcomeCreated:
		if err := missing(!id.Valid || status == nil || body == nil); err != nil {
			return err
		}
		o.id, o.status, o.body = id.Bytes, *status, *body
	case outcomeConflict:
		if err := missing(!cID.Valid || cStart == nil || cEnd == nil); err != nil {
			return err
		}
		o.conflict = ConflictingReservation{ID: cID.Bytes, StartsAt: cStart.UTC(), EndsAt: cEnd.UTC()}
	case outcomeReplay:
		if err := missing(status == nil || body == nil); err != nil {
			return err
		}
		o.status, o.body = *status, *body
	}
	return nil
}

// storeAnswer queues the update that records a refusal's answer ans under
// the claimed key, whose answer book_reservation_keyed took out. It sets
// ans.Body to the body as stored (PostgreSQL's jsonb form), which is
// what every later replay sends.
func storeAnswer(p *CreateParams, ans *Answer) *pgx.Batch {
	b := &pgx.Batch{}
	b.Queue(`update idempotency_keys set status_code = $4::integer, body = $5::jsonb
		  where tenant_id = $1::uuid and principal_id = $2::uuid and key = $3::text
		  returning body::text`,
		p.TenantID, p.PrincipalID, p.key(), ans.Status, string(ans.Body)).QueryRow(func(r pgx.Row) error {
		var stored string
		if err := r.Scan(&stored); err != nil {
			return fmt.Errorf("store idempotent answer: %w", err)
		}
		ans.Body = []byte(stored)
		return nil
	})
	return b
}

// DefaultPruneBatch is the batch size of PruneExpiredKeys unless given.
const DefaultPruneBatch = 1000

// PruneExpiredKeys deletes expired idempotency keys of every tenant, batch
// rows per transaction (0 means DefaultPruneBatch), until none is left, and
// returns how many it deleted. It runs as park_ops (parkctl's login): the
// server sees one tenant at a time. Keys locked by a request in flight are
// skipped. Pruning is housekeeping only: an expired key is treated as absent
// whether or not it was pruned.
func (s *Ops) PruneExpiredKeys(ctx context.Context, batch int) (int64, error) {
	if batch <= 0 {
		batch = DefaultPruneBatch
	}
	now := s.now()
	var total int64
	for {
		var n int64
		err := s.db.OpsTx(ctx, func(tx pgx.Tx) error {
			tag, err := tx.Exec(ctx,
				`delete from idempotency_keys
				  where (tenant_id, principal_id, key) in (
				        select tenant_id, principal_id, key from idempotency_keys
				         where expires_at <= $1
				         order by expires_at limit $2
				           for update skip locked)`, now, batch)
			n = tag.RowsAffected()
			return err
		})
		if err != nil {
			return total, fmt.Errorf("prune idempotency keys: %w", err)
		}
		total += n
		if n < int64(batch) {
			return total, nil
		}
	}
}
