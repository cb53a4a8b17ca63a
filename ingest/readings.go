package ingest

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/parkhq/park/tenancy"
)

// Reading is one stored uplink of a space's sensor.
type Reading struct {
	ID         int64           `json:"id"`
	SpaceID    uuid.UUID       `json:"space_id"`
	DevEUI     string          `json:"dev_eui"`
	FCnt       *int64          `json:"f_cnt"`
	Source     string          `json:"source"`
	Occupied   *bool           `json:"occupied"`
	RSSI       *int            `json:"rssi"`
	SNR        *float64        `json:"snr"`
	ReadAt     time.Time       `json:"read_at"`
	ReceivedAt time.Time       `json:"received_at"`
	Payload    json.RawMessage `json:"payload"`
}

// ReadingCursor is a position in a space's readings, newest first: the last
// reading of the previous page.
type ReadingCursor struct {
	ReadAt time.Time
	ID     int64
}

// Encode returns the cursor as an opaque URL-safe string (unsigned, like
// tenancy.Cursor: it only positions a list of the caller's own tenant).
func (c ReadingCursor) Encode() string {
	var tail [8]byte
	binary.BigEndian.PutUint64(tail[:], uint64(c.ID))
	return encodeKeyset(c.ReadAt, tail)
}

// DecodeReadingCursor reads a cursor made by ReadingCursor.Encode;
// anything else is tenancy.ErrMalformedCursor.
func DecodeReadingCursor(s string) (ReadingCursor, error) {
	t, tail, err := decodeKeyset(s)
	if err != nil {
		return ReadingCursor{}, err
	}
	id := int64(binary.BigEndian.Uint64(tail[:]))
	if id < 0 {
		return ReadingCursor{}, tenancy.ErrMalformedCursor
	}
	return ReadingCursor{ReadAt: t, ID: id}, nil
}

// ReadingListParams select a page of one space's readings.
type ReadingListParams struct {
	TenantID, SpaceID uuid.UUID
	// Since keeps readings read at or after it; zero keeps all.
	Since time.Time
	// Limit is the page size: 0 means tenancy.DefaultPageLimit, at most
	// tenancy.MaxPageLimit.
	Limit int
	// After continues after this reading; nil starts with the newest.
	After *ReadingCursor
}

// ReadingPage is one page of readings; Next is nil on the last page.
type ReadingPage struct {
	Items []Reading
	Next  *ReadingCursor
}

// ReadingList returns one page of a space's readings, newest first, for
// apps that show a space's history. The space must be live and the
// tenant's (else ErrNotFound); the page is read through the index led by
// (tenant_id, space_id, read_at).
func (s *Store) ReadingList(ctx context.Context, p *ReadingListParams) (*ReadingPage, error) {
	var v tenancy.ValidationError
	limit := p.Limit
	switch {
	case limit == 0:
		limit = tenancy.DefaultPageLimit
	case limit < 0 || limit > tenancy.MaxPageLimit:
		v.Add("limit", fmt.Sprintf("must be between 1 and %d", tenancy.MaxPageLimit))
	}
	if !p.Since.IsZero() {
		v.CheckTime("since", p.Since)
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	since := p.Since
	if since.IsZero() {
		since = time.Unix(0, 0).UTC()
	}
	after := ReadingCursor{ReadAt: time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC), ID: 1<<63 - 1}
	if p.After != nil {
		after = *p.After
	}
	var items []Reading
	var b pgx.Batch
	b.Queue(`select 1 from spaces where tenant_id = $1::uuid and id = $2::uuid and deleted_at is null`,
		p.TenantID, p.SpaceID).QueryRow(func(r pgx.Row) error {
		var one int
		return r.Scan(&one)
	})
	b.Queue(`select id, space_id, dev_eui, f_cnt, source, occupied, rssi, snr, read_at, received_at, payload
	           from sensor_readings
	          where tenant_id = $1::uuid and space_id = $2::uuid and read_at >= $3::timestamptz
	            and (read_at, id) < ($4::timestamptz, $5::bigint)
	          order by read_at desc, id desc limit $6::integer`,
		p.TenantID, p.SpaceID, since, after.ReadAt, after.ID, limit+1).Query(func(rows pgx.Rows) error {
		var err error
		items, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Reading, error) {
			var x Reading
			var payload []byte
			err := r.Scan(&x.ID, &x.SpaceID, &x.DevEUI, &x.FCnt, &x.Source, &x.Occupied, &x.RSSI, &x.SNR,
				&x.ReadAt, &x.ReceivedAt, &payload)
			if payload != nil {
				x.Payload = payload
			}
			return x, err
		})
		return err
	})
	if err := s.db.InTenantBatch(ctx, p.TenantID, &b); err != nil {
		return nil, fmt.Errorf("list readings of space %s: %w", p.SpaceID, err)
	}
	page := &ReadingPage{Items: items}
	if page.Items == nil {
		page.Items = []Reading{}
	}
	if len(items) > limit {
		page.Items = items[:limit]
		last := items[limit-1]
		page.Next = &ReadingCursor{ReadAt: last.ReadAt, ID: last.ID}
	}
	return page, nil
}
