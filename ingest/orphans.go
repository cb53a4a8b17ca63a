package ingest

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/parkhq/park/tenancy"
)

// Orphan statuses.
const (
	OrphanNew      = "new"
	OrphanIgnored  = "ignored"
	OrphanAssigned = "assigned"
)

// Orphan is a device that sent uplinks to a tenant without belonging to any
// of its live spaces, with the figures of its last uplink.
type Orphan struct {
	DevEUI          string          `json:"dev_eui"`
	TenantID        uuid.UUID       `json:"tenant_id"`
	FirstSeenAt     time.Time       `json:"first_seen_at"`
	LastSeenAt      time.Time       `json:"last_seen_at"`
	UplinkCount     int64           `json:"uplink_count"`
	LastSource      *string         `json:"last_source"`
	LastPayload     json.RawMessage `json:"last_payload"`
	LastOccupied    *bool           `json:"last_occupied"`
	LastRSSI        *int            `json:"last_rssi"`
	LastSNR         *float64        `json:"last_snr"`
	LastReadAt      *time.Time      `json:"last_read_at"`
	Status          string          `json:"status"`
	AssignedSpaceID *uuid.UUID      `json:"assigned_space_id"`
}

const orphanColumnsSQL = `dev_eui, tenant_id, first_seen_at, last_seen_at, uplink_count, last_source,
	last_payload, last_occupied, last_rssi, last_snr, last_read_at, status, assigned_space_id`

func scanOrphan(row pgx.Row) (Orphan, error) {
	var o Orphan
	var payload []byte
	err := row.Scan(&o.DevEUI, &o.TenantID, &o.FirstSeenAt, &o.LastSeenAt, &o.UplinkCount, &o.LastSource,
		&payload, &o.LastOccupied, &o.LastRSSI, &o.LastSNR, &o.LastReadAt, &o.Status, &o.AssignedSpaceID)
	if payload != nil {
		o.LastPayload = payload
	}
	return o, err
}

// OrphanCursor is a position in an orphan list, which is ordered by last
// uplink, newest first: the last orphan of the previous page.
type OrphanCursor struct {
	LastSeenAt time.Time
	DevEUI     string
}

// Encode returns the cursor as an opaque URL-safe string. Like
// tenancy.Cursor it is not signed: it only says where to continue in the
// caller's own list.
func (c OrphanCursor) Encode() string {
	var tail [8]byte
	eui, _ := hex.DecodeString(c.DevEUI)
	copy(tail[:], eui)
	return encodeKeyset(c.LastSeenAt, tail)
}

// DecodeOrphanCursor reads a cursor made by OrphanCursor.Encode; anything
// else is tenancy.ErrMalformedCursor.
func DecodeOrphanCursor(s string) (OrphanCursor, error) {
	t, tail, err := decodeKeyset(s)
	if err != nil {
		return OrphanCursor{}, err
	}
	return OrphanCursor{LastSeenAt: t, DevEUI: hex.EncodeToString(tail[:])}, nil
}

// A keyset cursor of this package: a version byte, a time in microseconds
// since the epoch (PostgreSQL's precision) and 8 bytes that break ties.
const keysetLen = 1 + 8 + 8

func encodeKeyset(t time.Time, tail [8]byte) string {
	var b [keysetLen]byte
	b[0] = 1
	binary.BigEndian.PutUint64(b[1:9], uint64(t.UnixMicro()))
	copy(b[9:], tail[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func decodeKeyset(s string) (time.Time, [8]byte, error) {
	var tail [8]byte
	if len(s) != base64.RawURLEncoding.EncodedLen(keysetLen) {
		return time.Time{}, tail, tenancy.ErrMalformedCursor
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil || len(b) != keysetLen || b[0] != 1 {
		return time.Time{}, tail, tenancy.ErrMalformedCursor
	}
	t := time.UnixMicro(int64(binary.BigEndian.Uint64(b[1:9]))).UTC()
	if t.Year() < 1 || t.Year() > 9999 {
		return time.Time{}, tail, tenancy.ErrMalformedCursor
	}
	copy(tail[:], b[9:])
	return t, tail, nil
}

// OrphanListParams select a page of orphans.
type OrphanListParams struct {
	TenantID uuid.UUID
	// Status filters by status; "" lists the new ones (what needs triage).
	Status string
	// Limit is the page size: 0 means tenancy.DefaultPageLimit, at most
	// tenancy.MaxPageLimit.
	Limit int
	// After continues after this orphan; nil starts with the newest.
	After *OrphanCursor
}

// OrphanPage is one page of orphans; Next is nil on the last page.
type OrphanPage struct {
	Items []Orphan
	Next  *OrphanCursor
}

// OrphanList returns one page of the tenant's orphans with p.Status, the
// most recently heard first.
func (s *Store) OrphanList(ctx context.Context, p *OrphanListParams) (*OrphanPage, error) {
	var v tenancy.ValidationError
	status := p.Status
	switch status {
	case "":
		status = OrphanNew
	case OrphanNew, OrphanIgnored, OrphanAssigned:
	default:
		v.Add("status", "must be new, ignored or assigned")
	}
	limit := p.Limit
	switch {
	case limit == 0:
		limit = tenancy.DefaultPageLimit
	case limit < 0 || limit > tenancy.MaxPageLimit:
		v.Add("limit", fmt.Sprintf("must be between 1 and %d", tenancy.MaxPageLimit))
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	// Past any stored time: the first page.
	after := OrphanCursor{LastSeenAt: time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC), DevEUI: ""}
	if p.After != nil {
		after = *p.After
	}
	var items []Orphan
	var b pgx.Batch
	b.Queue(`select `+orphanColumnsSQL+` from orphan_devices
	          where tenant_id = $1::uuid and status = $2::text
	            and (last_seen_at, dev_eui) < ($3::timestamptz, $4::text)
	          order by last_seen_at desc, dev_eui desc limit $5::integer`,
		p.TenantID, status, after.LastSeenAt, after.DevEUI, limit+1).Query(func(rows pgx.Rows) error {
		var err error
		items, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Orphan, error) { return scanOrphan(r) })
		return err
	})
	if err := s.db.InTenantBatch(ctx, p.TenantID, &b); err != nil {
		return nil, fmt.Errorf("list orphans: %w", err)
	}
	page := &OrphanPage{Items: items}
	if page.Items == nil {
		page.Items = []Orphan{}
	}
	if len(items) > limit {
		page.Items = items[:limit]
		last := items[limit-1]
		page.Next = &OrphanCursor{LastSeenAt: last.LastSeenAt, DevEUI: last.DevEUI}
	}
	return page, nil
}

// OrphanGet returns one orphan of the tenant.
func (s *Store) OrphanGet(ctx context.Context, tenantID uuid.UUID, devEUI string) (*Orphan, error) {
	eui, err := NormalizeDevEUI(devEUI)
	if err != nil {
		return nil, err
	}
	var o Orphan
	var b pgx.Batch
	b.Queue(`select `+orphanColumnsSQL+` from orphan_devices where tenant_id = $1::uuid and dev_eui = $2::text`,
		tenantID, eui).QueryRow(func(r pgx.Row) error {
		var err error
		o, err = scanOrphan(r)
		return err
	})
	if err := s.db.InTenantBatch(ctx, tenantID, &b); err != nil {
		return nil, fmt.Errorf("get orphan %s: %w", eui, err)
	}
	return &o, nil
}

// NormalizeDevEUI returns a DevEUI as 16 lowercase hex digits, accepting
// upper case and the separators ':', '-' and ' ' on input; anything else is
// a *tenancy.ValidationError on "dev_eui".
func NormalizeDevEUI(s string) (string, error) {
	eui, err := tenancy.NormalizeDevEUI(s)
	if err != nil {
		v := &tenancy.ValidationError{}
		v.Add("dev_eui", err.Error())
		return "", v
	}
	return eui, nil
}

// OrphanAssignParams are the inputs of OrphanAssign.
type OrphanAssignParams struct {
	TenantID uuid.UUID
	DevEUI   string
	SpaceID  uuid.UUID
	Actor    string
}

// ErrSpaceHasSensor refuses to assign a device to a space that already has
// another sensor: replacing a sensor is a space update, made on purpose.
var ErrSpaceHasSensor = &tenancy.ConflictError{Field: "space_id", Problem: "the space already has another sensor"}

// OrphanAssign binds an orphan device to a live space of the tenant: the
// space takes the device as its sensor, the orphan's last reading is stored
// as the space's reading (moving its state unless the space holds a newer
// one), and the orphan is marked assigned. From then on the device's uplinks
// are stored readings. An unknown orphan or space is ErrNotFound; a space
// with another sensor is ErrSpaceHasSensor.
func (s *Store) OrphanAssign(ctx context.Context, p *OrphanAssignParams) (*Orphan, error) {
	if p.Actor == "" {
		return nil, errors.New("assign orphan: no actor")
	}
	eui, err := NormalizeDevEUI(p.DevEUI)
	if err != nil {
		return nil, err
	}
	var o Orphan
	err = s.db.InTenantTx(ctx, p.TenantID, func(tx pgx.Tx) error {
		var err error
		o, err = scanOrphan(tx.QueryRow(ctx, `select `+orphanColumnsSQL+` from orphan_devices
			where tenant_id = $1::uuid and dev_eui = $2::text for update`, p.TenantID, eui))
		if err != nil {
			return fmt.Errorf("orphan: %w", err)
		}
		var sensor *string
		if err := tx.QueryRow(ctx, `select sensor_eui from spaces
			where tenant_id = $1::uuid and id = $2::uuid and deleted_at is null for update`,
			p.TenantID, p.SpaceID).Scan(&sensor); err != nil {
			return fmt.Errorf("space: %w", err)
		}
		if sensor != nil && *sensor != eui {
			return ErrSpaceHasSensor
		}
		if _, err := tx.Exec(ctx, `update spaces set sensor_eui = $3::text, updated_at = now()
			where tenant_id = $1::uuid and id = $2::uuid`, p.TenantID, p.SpaceID, eui); err != nil {
			return err
		}
		if o.LastReadAt != nil {
			if err := applyOrphanReading(ctx, tx, p.TenantID, p.SpaceID, &o); err != nil {
				return err
			}
		}
		if o, err = scanOrphan(tx.QueryRow(ctx, `update orphan_devices set status = 'assigned', assigned_space_id = $3::uuid
			where tenant_id = $1::uuid and dev_eui = $2::text returning `+orphanColumnsSQL,
			p.TenantID, eui, p.SpaceID)); err != nil {
			return err
		}
		return tenancy.AppendAudit(ctx, tx, tenancy.AuditEvent{Actor: p.Actor, Action: "orphan.assign", Target: eui,
			Details: map[string]any{"space_id": p.SpaceID.String(), "uplink_count": o.UplinkCount}})
	})
	if err != nil {
		var dbErr *tenancy.DBError
		if errors.As(err, &dbErr) && errors.Is(err, tenancy.ErrConflict) {
			err = &tenancy.ConflictError{Field: "dev_eui", Problem: "another space already has this sensor"}
		}
		return nil, fmt.Errorf("assign orphan %s: %w", eui, err)
	}
	return &o, nil
}

// applyOrphanReading stores the orphan's last uplink as a reading of the
// space and moves the space's state by the rule of StoreBatch.
func applyOrphanReading(ctx context.Context, tx pgx.Tx, tenantID, spaceID uuid.UUID, o *Orphan) error {
	var payload *string
	if o.LastPayload != nil {
		p := string(o.LastPayload)
		payload = &p
	}
	source := string(SourceGeneric)
	if o.LastSource != nil {
		source = *o.LastSource
	}
	_, err := tx.Exec(ctx, `
WITH r AS (
    INSERT INTO sensor_readings (tenant_id, space_id, dev_eui, source, msg_key, occupied, rssi, snr,
                                 read_at, received_at, payload)
    VALUES ($1::uuid, $2::uuid, $3::text, $4::text, 'orphan-assign', $5::boolean, $6::integer,
            $7::double precision, $8::timestamptz, $9::timestamptz, $10::text::jsonb)
)
UPDATE spaces s
   SET state = CASE WHEN $5::boolean IS NULL THEN s.state
                    WHEN $5::boolean THEN 'occupied' ELSE 'free' END,
       state_changed_at = CASE
           WHEN $5::boolean IS NULL THEN s.state_changed_at
           WHEN s.state = CASE WHEN $5::boolean THEN 'occupied' ELSE 'free' END THEN s.state_changed_at
           ELSE $8::timestamptz END,
       last_reading_at = $8::timestamptz
 WHERE s.tenant_id = $1::uuid AND s.id = $2::uuid
   AND (s.last_reading_at IS NULL OR s.last_reading_at < $8::timestamptz)`,
		tenantID, spaceID, o.DevEUI, source, o.LastOccupied, o.LastRSSI, o.LastSNR, *o.LastReadAt,
		o.LastSeenAt, payload)
	return err
}

// OrphanIgnore marks an orphan ignored: it keeps counting uplinks but
// leaves the triage list. An unknown orphan is ErrNotFound.
func (s *Store) OrphanIgnore(ctx context.Context, tenantID uuid.UUID, devEUI, actor string) (*Orphan, error) {
	if actor == "" {
		return nil, errors.New("ignore orphan: no actor")
	}
	eui, err := NormalizeDevEUI(devEUI)
	if err != nil {
		return nil, err
	}
	var o Orphan
	err = s.db.InTenantTx(ctx, tenantID, func(tx pgx.Tx) error {
		var err error
		if o, err = scanOrphan(tx.QueryRow(ctx, `update orphan_devices set status = 'ignored'
			where tenant_id = $1::uuid and dev_eui = $2::text returning `+orphanColumnsSQL, tenantID, eui)); err != nil {
			return err
		}
		return tenancy.AppendAudit(ctx, tx, tenancy.AuditEvent{Actor: actor, Action: "orphan.ignore", Target: eui})
	})
	if err != nil {
		return nil, fmt.Errorf("ignore orphan %s: %w", eui, err)
	}
	return &o, nil
}

// OrphanPurge deletes the tenant's orphans not heard from since before
// (every orphan when before is zero) and returns how many it deleted. A
// purged device that sends again becomes a new orphan.
func (s *Store) OrphanPurge(ctx context.Context, tenantID uuid.UUID, before time.Time, actor string) (int64, error) {
	if actor == "" {
		return 0, errors.New("purge orphans: no actor")
	}
	var n int64
	err := s.db.InTenantTx(ctx, tenantID, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `delete from orphan_devices where tenant_id = $1::uuid
			and ($2::timestamptz is null or last_seen_at < $2::timestamptz)`, tenantID, nullTime(before))
		if err != nil {
			return err
		}
		n = tag.RowsAffected()
		details := map[string]any{"deleted": n}
		if !before.IsZero() {
			details["before"] = before.UTC().Format(time.RFC3339)
		}
		return tenancy.AppendAudit(ctx, tx, tenancy.AuditEvent{Actor: actor, Action: "orphan.purge", Details: details})
	})
	if err != nil {
		return 0, fmt.Errorf("purge orphans: %w", err)
	}
	return n, nil
}

func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}
