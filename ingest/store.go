package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/parkhq/park/tenancy"
)

// DefaultMaxOrphans is how many orphan devices a tenant may have (DESIGN §2).
const DefaultMaxOrphans = 10000

// OrphanLimiter decides how many of n new orphan uplinks of a tenant may be
// taken in now (the tenant's orphan intake limit); the rest are answered
// orphan_dropped. It returns a number between 0 and n.
type OrphanLimiter interface {
	AllowOrphans(ctx context.Context, tenantID uuid.UUID, n int) (int, error)
}

// StoreOptions tune a Store; zero values take the defaults.
type StoreOptions struct {
	// DedupeWindow is how long an id-less uplink ("fcnt:<n>" key) blocks a
	// repeat of itself; DefaultDedupeWindow when 0.
	DedupeWindow time.Duration
	// MaxOrphans caps a tenant's orphan devices; DefaultMaxOrphans when 0.
	MaxOrphans int
	// Orphans limits orphan intake; nil takes every orphan uplink up to
	// the cap.
	Orphans OrphanLimiter
	// Keyring seals and opens webhook secrets; the secret methods fail
	// without one.
	Keyring *Keyring
	// Now is the clock of secret expiry and use; nil means time.Now.
	Now func() time.Time
	// Logger receives secrets that do not open; nil discards.
	Logger *slog.Logger
}

// Store writes uplinks through tenancy.Store, so every statement runs as
// park_app with the tenant set and row-level security applies. It is safe
// for concurrent use.
type Store struct {
	db   *tenancy.Store
	opts StoreOptions
}

// NewStore returns a Store on db.
func NewStore(db *tenancy.Store, opts StoreOptions) *Store {
	if opts.DedupeWindow == 0 {
		opts.DedupeWindow = DefaultDedupeWindow
	}
	if opts.MaxOrphans <= 0 {
		opts.MaxOrphans = DefaultMaxOrphans
	}
	return &Store{db: db, opts: opts}
}

// A batch is stored by storeKnownSQL alone, in one round trip, unless it
// holds uplinks of devices that are no live space's sensor; those then go
// through storeBatchSQL and storeOrphansSQL in a second transaction, since
// the tenant's orphan limit must be asked (in Go) between the two.
//
// Both batch statements claim each message key in uplink_dedupe (an
// id-less key again once the window has passed; a row comes back exactly
// when the message is new), store a reading for every new message of a
// live space's sensor, and move each space's state to its newest reading
// that carries an occupancy — unless the space already holds a newer
// reading, so a late, older uplink never overwrites the state. Batches of
// one tenant can run at once (several parkd instances, or
// WriterOptions.CommitsInFlight above 1): their space rows are locked in
// id order before the update, so two batches that share spaces wait for
// each other rather than deadlock, and the update, re-checked against the
// row the other committed, still moves state only forward.
//
// Every parameter is cast, so the statements run in pgx's exec mode
// (PgBouncer), where parameters carry no described types.

// batchRowsSQL is the batch as rows, from one array per column.
const batchRowsSQL = `
WITH x AS (
    SELECT * FROM unnest($2::text[], $3::text[], $4::bigint[], $5::text[], $6::boolean[],
                         $7::integer[], $8::double precision[], $9::timestamptz[],
                         $10::timestamptz[], $11::text[])
        AS x(dev_eui, msg_key, f_cnt, source, occupied, rssi, snr, read_at, received_at, payload)
),`

// claimKeysSQL claims the message keys of the rows of CTE %s, in key
// order: a claim of a key another transaction has claimed but not yet
// committed waits for it, so two concurrent batches holding copies of the
// same messages (a network server that delivered twice, to this instance
// or another) would deadlock if each claimed them in its own arrival order.
// In one global order, one of them claims first and the other waits.
const claimKeysSQL = `
claimed AS (
    INSERT INTO uplink_dedupe AS d (tenant_id, dev_eui, msg_key, seen_at)
    SELECT $1::uuid, dev_eui, msg_key, received_at FROM %s ORDER BY dev_eui, msg_key
    ON CONFLICT (tenant_id, dev_eui, msg_key) DO UPDATE SET seen_at = EXCLUDED.seen_at
     WHERE d.msg_key LIKE 'fcnt:%%'
       AND $12::bigint > 0
       AND d.seen_at < EXCLUDED.seen_at - $12::bigint * interval '1 microsecond'
    RETURNING dev_eui, msg_key
),`

// storeNewSQL stores the rows of CTE "new" (new messages of known
// devices, with their space_id) and moves their spaces' state.
const storeNewSQL = `
stored AS (
    INSERT INTO sensor_readings (tenant_id, space_id, dev_eui, f_cnt, source, msg_key, occupied,
                                 rssi, snr, read_at, received_at, payload)
    SELECT $1::uuid, space_id, dev_eui, f_cnt, source, msg_key, occupied,
           rssi, snr, read_at, received_at, payload::jsonb
      FROM new
),
newest AS (
    SELECT space_id,
           max(read_at) AS last_at,
           (array_agg(occupied ORDER BY read_at DESC, received_at DESC)
                FILTER (WHERE occupied IS NOT NULL))[1] AS occ,
           max(read_at) FILTER (WHERE occupied IS NOT NULL) AS occ_at
      FROM new
     GROUP BY space_id
),
locked AS MATERIALIZED (
    SELECT s.id
      FROM spaces s
     WHERE s.tenant_id = $1::uuid AND s.id IN (SELECT space_id FROM newest)
     ORDER BY s.id
       FOR NO KEY UPDATE
),
moved AS (
    UPDATE spaces s
       SET state = CASE WHEN n.occ IS NULL OR n.occ_at <= s.last_reading_at THEN s.state
                        WHEN n.occ THEN 'occupied' ELSE 'free' END,
           state_changed_at = CASE
               WHEN n.occ IS NULL OR n.occ_at <= s.last_reading_at THEN s.state_changed_at
               WHEN s.state = CASE WHEN n.occ THEN 'occupied' ELSE 'free' END THEN s.state_changed_at
               ELSE n.occ_at END,
           last_reading_at = greatest(s.last_reading_at, n.last_at)
      FROM newest n JOIN locked l ON l.id = n.space_id
     WHERE s.tenant_id = $1::uuid AND s.id = n.space_id
       AND (s.last_reading_at IS NULL OR s.last_reading_at < n.last_at)
)`

// storeKnownSQL is a batch's first statement: it stores the uplinks of
// devices that are a live space's sensor and leaves the others untouched
// (not even claimed), so that it needs no decision in Go before the
// COMMIT. It names each new message (true) and each message of an unknown
// device (false); the messages it does not name were duplicates.
var storeKnownSQL = batchRowsSQL + `
known AS MATERIALIZED (
    SELECT x.*, s.id AS space_id
      FROM x
      JOIN spaces s ON s.tenant_id = $1::uuid AND s.sensor_eui = x.dev_eui AND s.deleted_at IS NULL
),` + fmt.Sprintf(claimKeysSQL, "known") + `
new AS (
    SELECT k.* FROM known k JOIN claimed c USING (dev_eui, msg_key)
),` + storeNewSQL + `
SELECT dev_eui, msg_key, true FROM claimed
UNION ALL
SELECT x.dev_eui, x.msg_key, false FROM x WHERE NOT EXISTS (SELECT 1 FROM known k WHERE k.dev_eui = x.dev_eui)`

// storeBatchSQL takes the uplinks storeKnownSQL left: it claims every
// message key, stores those of known devices (a device may have become a
// space's sensor since) and names each new message and whether its device
// is known, for the orphan statement; messages it does not name were
// duplicates.
var storeBatchSQL = batchRowsSQL + fmt.Sprintf(claimKeysSQL, "x") + `
new AS (
    SELECT x.*, s.id AS space_id
      FROM x
      JOIN claimed c USING (dev_eui, msg_key)
      JOIN spaces s ON s.tenant_id = $1::uuid AND s.sensor_eui = x.dev_eui AND s.deleted_at IS NULL
),` + storeNewSQL + `
SELECT c.dev_eui, c.msg_key, EXISTS (SELECT 1 FROM new k WHERE k.dev_eui = c.dev_eui AND k.msg_key = c.msg_key)
  FROM claimed c`

// storeOrphansSQL records uplinks of unknown devices, one row per device
// (aggregated in Go: ON CONFLICT may touch a row once per statement). A
// device already known as an orphan is always updated; a new one is taken
// only while the tenant stays within the cap. An ignored orphan stays
// ignored; an assigned one whose device is unknown again (its space was
// deleted or given another sensor) becomes new. Rows are written in device
// order, for the reason claimKeysSQL gives. The statement returns the
// devices it took.
const storeOrphansSQL = `
WITH x AS (
    SELECT * FROM unnest($2::text[], $3::timestamptz[], $4::timestamptz[], $5::bigint[], $6::text[],
                         $7::text[], $8::boolean[], $9::integer[], $10::double precision[],
                         $11::timestamptz[])
        AS x(dev_eui, first_seen, last_seen, n, source, payload, occupied, rssi, snr, read_at)
),
ranked AS (
    SELECT x.*, o.dev_eui IS NOT NULL AS existing,
           row_number() OVER (PARTITION BY o.dev_eui IS NOT NULL ORDER BY x.dev_eui) AS rank
      FROM x
      LEFT JOIN orphan_devices o ON o.tenant_id = $1::uuid AND o.dev_eui = x.dev_eui
)
INSERT INTO orphan_devices AS o (tenant_id, dev_eui, first_seen_at, last_seen_at, uplink_count,
                                 last_source, last_payload, last_occupied, last_rssi, last_snr, last_read_at)
SELECT $1::uuid, dev_eui, first_seen, last_seen, n, source, payload::jsonb, occupied, rssi, snr, read_at
  FROM ranked
 WHERE existing
    OR rank + (SELECT count(*) FROM orphan_devices WHERE tenant_id = $1::uuid) <= $12::bigint
 ORDER BY dev_eui
ON CONFLICT (tenant_id, dev_eui) DO UPDATE SET
    last_seen_at  = greatest(o.last_seen_at, EXCLUDED.last_seen_at),
    uplink_count  = o.uplink_count + EXCLUDED.uplink_count,
    last_source   = CASE WHEN o.last_read_at > EXCLUDED.last_read_at THEN o.last_source ELSE EXCLUDED.last_source END,
    last_payload  = CASE WHEN o.last_read_at > EXCLUDED.last_read_at THEN o.last_payload ELSE EXCLUDED.last_payload END,
    last_occupied = CASE WHEN o.last_read_at > EXCLUDED.last_read_at THEN o.last_occupied ELSE EXCLUDED.last_occupied END,
    last_rssi     = CASE WHEN o.last_read_at > EXCLUDED.last_read_at THEN o.last_rssi ELSE EXCLUDED.last_rssi END,
    last_snr      = CASE WHEN o.last_read_at > EXCLUDED.last_read_at THEN o.last_snr ELSE EXCLUDED.last_snr END,
    last_read_at  = greatest(o.last_read_at, EXCLUDED.last_read_at),
    status        = CASE WHEN o.status = 'assigned' THEN 'new' ELSE o.status END,
    assigned_space_id = CASE WHEN o.status = 'assigned' THEN NULL ELSE o.assigned_space_id END
RETURNING dev_eui`

// msgID identifies one message within a tenant.
type msgID struct{ devEUI, msgKey string }

// StoreBatch stores one batch of tenantID's uplinks and returns what became
// of each, in order: it is the Writer's CommitFunc. A message seen before
// (or earlier in the same batch) is a duplicate; a new message of a live
// space's sensor is stored and may move the space's state; a new message
// of an unknown device makes or updates an orphan, or is dropped when the
// tenant's orphan limit or cap says so.
//
// The uplinks of known devices are stored in one transaction of one round
// trip (the tenant prologue and storeKnownSQL, committed at once). Uplinks
// of unknown devices, if any, follow in a second transaction of two round
// trips, which asks the orphan limit in between. Each uplink is decided in
// exactly one of them.
//
// The uplinks must come from the decoders, which guarantee every value
// fits its column, so no row can fail on its own; an error therefore fails
// the batch (and the Writer runs its rows one by one). An error of the
// second transaction comes with the statuses of the rows the first one
// committed (see CommitFunc); the others have none. A failed COMMIT is
// reported as ErrCommitUnknown.
func (s *Store) StoreBatch(ctx context.Context, tenantID uuid.UUID, batch []*Uplink) ([]Status, error) {
	statuses := make([]Status, len(batch))
	// Later copies of a message within the batch are duplicates of the
	// first; the statements must see each key once.
	first := make(map[msgID]int, len(batch))
	var cols batchColumns
	for i, u := range batch {
		id := msgID{u.DevEUI, u.MsgKey}
		if _, seen := first[id]; seen {
			statuses[i] = StatusDuplicate
			continue
		}
		first[id] = i
		cols.add(u)
	}

	// What storeKnownSQL named: true for stored, false for an unknown
	// device (left for the second transaction).
	named := make(map[int]bool, len(first))
	var read bool // all of the statement's rows were read: what fails now is the COMMIT
	b := &pgx.Batch{}
	b.Queue(storeKnownSQL, cols.args(tenantID, s.opts.DedupeWindow)...).Query(func(rows pgx.Rows) error {
		if err := scanNamed(rows, first, named); err != nil {
			return fmt.Errorf("store uplinks: %w", err)
		}
		read = true
		return nil
	})
	if err := s.db.InTenantBatch(ctx, tenantID, b); err != nil {
		if read || !refusedByServer(err) {
			// The batch went out with its Sync, which commits it: once
			// its rows are read only the COMMIT can have failed, and an
			// error the server did not report (a lost connection, a
			// deadline, a scan that failed here) may have come after
			// the server committed. Only a statement the server refused
			// surely rolled the batch back.
			return nil, fmt.Errorf("%w: %w", ErrCommitUnknown, err)
		}
		return nil, err
	}
	var unknown []*Uplink
	var unknownIdx []int
	for i, u := range batch {
		if first[msgID{u.DevEUI, u.MsgKey}] != i {
			continue // a later copy: a duplicate already
		}
		stored, ok := named[i]
		switch {
		case !ok:
			statuses[i] = StatusDuplicate
		case stored:
			statuses[i] = StatusStored
		default:
			unknown = append(unknown, u)
			unknownIdx = append(unknownIdx, i)
		}
	}
	if len(unknown) == 0 {
		return statuses, nil
	}
	st, err := s.storeUnknown(ctx, tenantID, unknown)
	if err != nil {
		// The first transaction's rows are committed: their statuses go
		// with the error, which concerns the others.
		for _, i := range unknownIdx {
			statuses[i] = ""
		}
		return statuses, err
	}
	for j, i := range unknownIdx {
		statuses[i] = st[j]
	}
	return statuses, nil
}

// refusedByServer tells an error PostgreSQL reported for a statement (it
// carries a SQLSTATE): the implicit transaction of the batch was then
// aborted, and its Sync rolls it back.
func refusedByServer(err error) bool {
	var dbErr *tenancy.DBError
	return errors.As(err, &dbErr) && dbErr.Code != ""
}

// scanNamed reads the (dev_eui, msg_key, flag) rows of a batch statement
// into named, by the batch index of each message's first copy.
func scanNamed(rows pgx.Rows, first map[msgID]int, named map[int]bool) error {
	for rows.Next() {
		var id msgID
		var flag bool
		if err := rows.Scan(&id.devEUI, &id.msgKey, &flag); err != nil {
			return err
		}
		i, ok := first[id]
		if !ok {
			return fmt.Errorf("unexpected message %s/%s", id.devEUI, id.msgKey)
		}
		named[i] = flag
	}
	return rows.Err()
}

// storeUnknown stores uplinks whose devices storeKnownSQL found unknown, in
// one transaction of two round trips: BEGIN, the prologue and
// storeBatchSQL, which claims their keys and stores any whose device has
// become known since; then, after the orphan limit was asked, the orphan
// statement and COMMIT. ups must hold each message once.
func (s *Store) storeUnknown(ctx context.Context, tenantID uuid.UUID, ups []*Uplink) ([]Status, error) {
	statuses := make([]Status, len(ups))
	first := make(map[msgID]int, len(ups))
	var cols batchColumns
	for i, u := range ups {
		first[msgID{u.DevEUI, u.MsgKey}] = i
		cols.add(u)
	}
	named := make(map[int]bool, len(ups))
	b := &pgx.Batch{}
	b.Queue(storeBatchSQL, cols.args(tenantID, s.opts.DedupeWindow)...).Query(func(rows pgx.Rows) error {
		if err := scanNamed(rows, first, named); err != nil {
			return fmt.Errorf("store uplinks: %w", err)
		}
		return nil
	})
	var committing bool
	err := s.db.InTenantTxBatches(ctx, tenantID, b, func() (*pgx.Batch, error) {
		var orphans []*Uplink
		var orphanIdx []int
		for i := range ups {
			known, isNew := named[i]
			switch {
			case !isNew:
				statuses[i] = StatusDuplicate
			case known:
				statuses[i] = StatusStored
			default:
				orphans = append(orphans, ups[i])
				orphanIdx = append(orphanIdx, i)
			}
		}
		if len(orphans) == 0 {
			committing = true
			return nil, nil
		}
		q, err := s.orphanBatch(ctx, tenantID, orphans, func(taken []bool) {
			for j, i := range orphanIdx {
				if taken[j] {
					statuses[i] = StatusOrphan
				} else {
					statuses[i] = StatusOrphanDropped
				}
			}
			committing = true
		})
		return q, err
	})
	if err != nil {
		if committing {
			// Every statement succeeded, so the error is the COMMIT's
			// own: the rows may or may not be stored.
			return nil, fmt.Errorf("%w: %w", ErrCommitUnknown, err)
		}
		return nil, err
	}
	return statuses, nil
}

// orphanBatch decides, with the tenant's orphan limit, which of the
// uplinks of unknown devices may be taken, and returns the orphan
// statement that records them, whose callback calls done with whether each
// uplink was taken; or nil after calling done itself when none may be.
func (s *Store) orphanBatch(ctx context.Context, tenantID uuid.UUID, ups []*Uplink, done func(taken []bool)) (*pgx.Batch, error) {
	taken := make([]bool, len(ups))
	allowed := len(ups)
	if s.opts.Orphans != nil {
		n, err := s.opts.Orphans.AllowOrphans(ctx, tenantID, len(ups))
		if err != nil {
			// The limit protects storage, not readings: a limiter that
			// cannot decide takes them (the cap still holds), so its
			// outage fails no batch.
			s.logger().WarnContext(ctx, "orphan limit undecided; orphans taken", "tenant", tenantID, "err", err)
			n = len(ups)
		}
		allowed = max(0, min(n, len(ups)))
	}
	if allowed == 0 {
		done(taken)
		return nil, nil
	}
	// The first uplinks of the batch are the ones allowed; aggregate them
	// per device, the newest reading giving the device's "last" figures.
	type agg struct {
		first, last time.Time
		n           int64
		newest      *Uplink
		uplinkIdx   []int
	}
	byDev := map[string]*agg{}
	var order []string
	for i, u := range ups[:allowed] {
		a := byDev[u.DevEUI]
		if a == nil {
			a = &agg{first: u.ReceivedAt, last: u.ReceivedAt, newest: u}
			byDev[u.DevEUI] = a
			order = append(order, u.DevEUI)
		}
		a.n++
		a.uplinkIdx = append(a.uplinkIdx, i)
		if u.ReceivedAt.Before(a.first) {
			a.first = u.ReceivedAt
		}
		if u.ReceivedAt.After(a.last) {
			a.last = u.ReceivedAt
		}
		if u.ReadAt.After(a.newest.ReadAt) {
			a.newest = u
		}
	}
	slices.Sort(order)
	var c orphanColumns
	for _, dev := range order {
		a := byDev[dev]
		c.add(dev, a.first, a.last, a.n, a.newest)
	}
	b := &pgx.Batch{}
	b.Queue(storeOrphansSQL, c.args(tenantID, s.opts.MaxOrphans)...).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var dev string
			if err := rows.Scan(&dev); err != nil {
				return fmt.Errorf("store orphans: %w", err)
			}
			a := byDev[dev]
			if a == nil {
				return errors.New("store orphans: unexpected device " + dev)
			}
			for _, i := range a.uplinkIdx {
				taken[i] = true
			}
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("store orphans: %w", err)
		}
		done(taken)
		return nil
	})
	return b, nil
}

// batchColumns holds a batch as one array per column, the form unnest
// takes in storeBatchSQL.
type batchColumns struct {
	devEUI, msgKey, source []string
	fcnt                   []*int64
	occupied               []*bool
	rssi                   []*int32
	snr                    []*float64
	readAt, receivedAt     []time.Time
	payload                []*string
}

func (c *batchColumns) add(u *Uplink) {
	c.devEUI = append(c.devEUI, u.DevEUI)
	c.msgKey = append(c.msgKey, u.MsgKey)
	c.source = append(c.source, string(u.Source))
	var fcnt *int64
	if u.FCnt != nil {
		v := int64(*u.FCnt)
		fcnt = &v
	}
	c.fcnt = append(c.fcnt, fcnt)
	c.occupied = append(c.occupied, u.Occupied)
	c.rssi = append(c.rssi, rssi32(u.RSSI))
	c.snr = append(c.snr, u.SNR)
	c.readAt = append(c.readAt, u.ReadAt)
	c.receivedAt = append(c.receivedAt, u.ReceivedAt)
	c.payload = append(c.payload, payloadText(u))
}

func (c *batchColumns) args(tenantID uuid.UUID, window time.Duration) []any {
	return []any{tenantID, c.devEUI, c.msgKey, c.fcnt, c.source, c.occupied, c.rssi, c.snr,
		c.readAt, c.receivedAt, c.payload, window.Microseconds()}
}

// orphanColumns holds one row per orphan device for storeOrphansSQL.
type orphanColumns struct {
	devEUI, source      []string
	first, last, readAt []time.Time
	n                   []int64
	payload             []*string
	occupied            []*bool
	rssi                []*int32
	snr                 []*float64
}

func (c *orphanColumns) add(dev string, first, last time.Time, n int64, newest *Uplink) {
	c.devEUI = append(c.devEUI, dev)
	c.first = append(c.first, first)
	c.last = append(c.last, last)
	c.n = append(c.n, n)
	c.source = append(c.source, string(newest.Source))
	c.payload = append(c.payload, payloadText(newest))
	c.occupied = append(c.occupied, newest.Occupied)
	c.rssi = append(c.rssi, rssi32(newest.RSSI))
	c.snr = append(c.snr, newest.SNR)
	c.readAt = append(c.readAt, newest.ReadAt)
}

func (c *orphanColumns) args(tenantID uuid.UUID, maxOrphans int) []any {
	return []any{tenantID, c.devEUI, c.first, c.last, c.n, c.source, c.payload, c.occupied,
		c.rssi, c.snr, c.readAt, int64(maxOrphans)}
}

// payloadText is the stored payload as text for a ::jsonb cast (exec mode
// has no jsonb parameter type), or nil.
func payloadText(u *Uplink) *string {
	if u.Payload == nil {
		return nil
	}
	s := string(u.Payload)
	return &s
}

// rssi32 narrows an RSSI to the column's integer; the decoders bound it.
func rssi32(p *int) *int32 {
	if p == nil {
		return nil
	}
	v := int32(*p)
	return &v
}
