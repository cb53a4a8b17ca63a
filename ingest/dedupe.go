// Package ingest takes LoRaWAN uplinks from network servers (ChirpStack, The
// Things Stack, a generic JSON form), deduplicates them, stores readings and
// moves each space's sensed state; it is the only writer of that state and
// of uplink_dedupe, sensor_readings and orphan_devices.
package ingest

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// DefaultDedupeWindow is how long an id-less uplink's frame counter blocks a
// repeat of itself (PARKD_DEDUPE_WINDOW).
const DefaultDedupeWindow = 5 * time.Minute

// DedupeRetention is how long uplink_dedupe keeps a message key.
const DedupeRetention = 7 * 24 * time.Hour

// Execer is a transaction or connection that runs queries; callers pass the
// transaction opened by tenancy.Store.InTenantTx so RLS scopes the row.
type Execer interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// claimSQL decides "new or duplicate" in one statement, atomically under
// concurrency: the INSERT takes an unseen key; ON CONFLICT takes a seen key
// again only when the window is positive and has passed since it was last
// taken. RETURNING yields a row exactly when the message is new. Never
// check-then-insert: two copies arriving together would both look new.
const claimSQL = `
INSERT INTO uplink_dedupe AS d (tenant_id, dev_eui, msg_key, seen_at)
VALUES ($1, $2, $3, $4)
ON CONFLICT (tenant_id, dev_eui, msg_key) DO UPDATE
   SET seen_at = EXCLUDED.seen_at
 WHERE $5::bigint > 0
   AND d.seen_at < EXCLUDED.seen_at - $5::bigint * interval '1 microsecond'
RETURNING true`

// ClaimMessage records that the message msgKey of devEUI arrived at seenAt
// and reports whether it is new. window > 0 lets the same key count as new
// again once window has passed since it was last taken (id-less uplinks keyed
// "fcnt:<n>", whose counter restarts after a join); window <= 0 takes a key
// once for as long as uplink_dedupe keeps it.
func ClaimMessage(ctx context.Context, q Execer, tenantID uuid.UUID, devEUI, msgKey string, seenAt time.Time, window time.Duration) (bool, error) {
	var isNew bool
	err := q.QueryRow(ctx, claimSQL, tenantID, devEUI, msgKey, seenAt, window.Microseconds()).Scan(&isNew)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("claim uplink %s/%s: %w", devEUI, msgKey, err)
	}
	return isNew, nil
}
