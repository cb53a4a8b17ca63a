package reservation

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
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

// errKeyVanished means a key row seen as existing was deleted (pruned)
// before it could be locked; the claim is tried again.
var errKeyVanished = errors.New("idempotency key deleted concurrently")

// claimSQL claims an idempotency key: one row, or nothing when the key
// exists.
const claimSQL = `insert into idempotency_keys (tenant_id, principal_id, key, fingerprint, expires_at)
	values ($1, $2, $3, $4, $5) on conflict do nothing`

// claimAndLock takes the key for this transaction and locks the space, in
// one round trip. It returns the stored answer when an earlier request
// answered the key, ErrKeyReused when it was used for another request, and
// otherwise (nil, nil) with the key this transaction's to answer; live
// reports whether the space was found and locked.
//
// The INSERT … ON CONFLICT DO NOTHING is what makes a concurrent duplicate
// wait: PostgreSQL holds the second insert until the first transaction ends
// and then reports the conflict; the SELECT … FOR UPDATE in existingKey
// then reads the committed answer, and keeps a pruner from deleting the row
// under us. Locks are taken in one order — a new key, the space, an
// existing key's row — and the pruner skips locked rows, so bookings cannot
// deadlock one another (a deadlock with other work is retried).
func (s *Store) claimAndLock(ctx context.Context, tx pgx.Tx, p *CreateParams, fp [32]byte, now time.Time) (ans *Answer, live bool, err error) {
	claimArgs := []any{p.TenantID, p.PrincipalID, p.key(), fp[:], now.Add(s.keyTTL)}
	var claimed bool
	b := &pgx.Batch{}
	b.Queue(claimSQL, claimArgs...).Exec(func(tag pgconn.CommandTag) error {
		claimed = tag.RowsAffected() == 1
		return nil
	})
	b.Queue(lockSpaceSQL, p.TenantID, p.SpaceID).QueryRow(func(r pgx.Row) error {
		var one int
		err := r.Scan(&one)
		live = err == nil
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		return err
	})
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return nil, false, fmt.Errorf("claim idempotency key and lock space: %w", err)
	}
	for attempt := 1; !claimed; attempt++ {
		ans, err := s.existingKey(ctx, tx, p, fp, now)
		switch {
		case errors.Is(err, errKeyVanished) && attempt < 3:
			// Pruned between our insert and our lock: claim it afresh.
			tag, err := tx.Exec(ctx, claimSQL, claimArgs...)
			if err != nil {
				return nil, false, fmt.Errorf("claim idempotency key: %w", err)
			}
			claimed = tag.RowsAffected() == 1
		case err != nil || ans != nil:
			return ans, live, err
		default: // expired and taken over
			claimed = true
		}
	}
	return nil, live, nil
}

// existingKey locks a key row that already exists and decides: replay its
// answer, refuse another request under it, or take it over when expired.
func (s *Store) existingKey(ctx context.Context, tx pgx.Tx, p *CreateParams, fp [32]byte, now time.Time) (*Answer, error) {
	var (
		stored    []byte
		status    *int
		body      *string
		expiresAt time.Time
	)
	err := tx.QueryRow(ctx,
		`select fingerprint, status_code, body::text, expires_at from idempotency_keys
		  where tenant_id = $1 and principal_id = $2 and key = $3 for update`,
		p.TenantID, p.PrincipalID, p.key()).Scan(&stored, &status, &body, &expiresAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, errKeyVanished
	}
	if err != nil {
		return nil, fmt.Errorf("read idempotency key: %w", err)
	}
	if !expiresAt.After(now) {
		// Forgotten: the key is free for a new request.
		_, err := tx.Exec(ctx,
			`update idempotency_keys set fingerprint = $4, status_code = null, body = null,
			        created_at = now(), expires_at = $5
			  where tenant_id = $1 and principal_id = $2 and key = $3`,
			p.TenantID, p.PrincipalID, p.key(), fp[:], now.Add(s.keyTTL))
		if err != nil {
			return nil, fmt.Errorf("renew idempotency key: %w", err)
		}
		return nil, nil
	}
	if string(stored) != string(fp[:]) {
		return nil, ErrKeyReused
	}
	if status == nil || body == nil {
		// The claim and the answer commit together, so a committed key
		// always has its answer.
		return nil, errors.New("idempotency key without an answer")
	}
	return &Answer{Status: *status, Body: []byte(*body), Replayed: true}, nil
}

// storeAnswer records the answer under the claimed key and returns the body
// as stored, which is what every later replay sends.
func storeAnswer(ctx context.Context, tx pgx.Tx, p *CreateParams, status int, body []byte) ([]byte, error) {
	if status < 200 || status > 499 {
		return nil, fmt.Errorf("idempotent answer with status %d: only 2xx and 4xx answers are stored", status)
	}
	var stored string
	err := tx.QueryRow(ctx,
		`update idempotency_keys set status_code = $4, body = $5::jsonb
		  where tenant_id = $1 and principal_id = $2 and key = $3
		  returning body::text`,
		p.TenantID, p.PrincipalID, p.key(), status, string(body)).Scan(&stored)
	if err != nil {
		return nil, fmt.Errorf("store idempotent answer: %w", err)
	}
	return []byte(stored), nil
}

// DefaultPruneBatch is the batch size of PruneExpiredKeys unless given.
const DefaultPruneBatch = 1000

// PruneExpiredKeys deletes expired idempotency keys of every tenant, batch
// rows per transaction (0 means DefaultPruneBatch), until none is left, and
// returns how many it deleted. It runs as park_ops (parkctl's login): the
// server sees one tenant at a time. Keys locked by a request in flight are
// skipped. Pruning is housekeeping only: an expired key is treated as absent
// whether or not it was pruned.
func (s *Store) PruneExpiredKeys(ctx context.Context, batch int) (int64, error) {
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
