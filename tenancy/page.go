package tenancy

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// Page sizes of every list (DESIGN §4: ?limit=).
const (
	DefaultPageLimit = 50
	MaxPageLimit     = 200
)

// Cursor is a position in a list ordered by (created_at, id): the last item
// of the previous page. Keyset pagination, unlike offsets, neither skips nor
// repeats items when rows are added or removed between pages.
type Cursor struct {
	CreatedAt time.Time
	ID        uuid.UUID
}

// cursorVersion is the first byte of an encoded cursor, so the format can
// change without misreading old cursors.
const cursorVersion = 1

// cursorLen is the length of an encoded cursor before base64: version,
// microseconds since the epoch (PostgreSQL's precision), the id.
const cursorLen = 1 + 8 + 16

// ErrMalformedCursor means a cursor string is not one this package made.
var ErrMalformedCursor = errors.New("malformed cursor")

// Encode returns the cursor as an opaque URL-safe string.
//
// The cursor is not signed: it only says where to continue in a list the
// database already limits to the caller's tenant, so a forged one can at
// worst start a page elsewhere in the caller's own data.
func (c Cursor) Encode() string {
	var b [cursorLen]byte
	b[0] = cursorVersion
	binary.BigEndian.PutUint64(b[1:9], uint64(c.CreatedAt.UnixMicro()))
	copy(b[9:], c.ID[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// DecodeCursor reads a cursor made by Cursor.Encode. Anything else yields
// ErrMalformedCursor.
func DecodeCursor(s string) (Cursor, error) {
	if len(s) != base64.RawURLEncoding.EncodedLen(cursorLen) {
		return Cursor{}, ErrMalformedCursor
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil || len(b) != cursorLen || b[0] != cursorVersion {
		return Cursor{}, ErrMalformedCursor
	}
	micros := int64(binary.BigEndian.Uint64(b[1:9]))
	// PostgreSQL timestamps span 4713 BC to 294276 AD; a cursor outside
	// years 1–9999 was not made from a row.
	t := time.UnixMicro(micros).UTC()
	if t.Year() < 1 || t.Year() > 9999 {
		return Cursor{}, ErrMalformedCursor
	}
	var id uuid.UUID
	copy(id[:], b[9:])
	return Cursor{CreatedAt: t, ID: id}, nil
}

// PageParams asks for one page of a list.
type PageParams struct {
	// Limit is the page size: 0 means DefaultPageLimit; at most
	// MaxPageLimit.
	Limit int
	// After continues after this position; nil starts at the beginning.
	After *Cursor
}

// limit returns the effective page size, recording a problem with it in v.
func (p PageParams) limit(v *ValidationError) int {
	switch {
	case p.Limit == 0:
		return DefaultPageLimit
	case p.Limit < 0 || p.Limit > MaxPageLimit:
		v.Add("limit", fmt.Sprintf("must be between 1 and %d", MaxPageLimit))
	}
	return p.Limit
}

// after returns the keyset bounds to continue from; the zero cursor sorts
// before every row.
func (p PageParams) after() (time.Time, uuid.UUID) {
	if p.After == nil {
		// Before any timestamp PostgreSQL can store.
		return time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), uuid.Nil
	}
	return p.After.CreatedAt, p.After.ID
}

// Page is one page of a list. Items is never nil. Next is the position to
// continue from, or nil on the last page.
type Page[T any] struct {
	Items []T
	Next  *Cursor
}

// pageOf trims rows fetched with limit+1 to one page, setting Next when
// there is more.
func pageOf[T any](rows []T, limit int, key func(T) Cursor) *Page[T] {
	if rows == nil {
		rows = []T{}
	}
	p := &Page[T]{Items: rows}
	if len(rows) > limit {
		p.Items = rows[:limit]
		c := key(rows[limit-1])
		p.Next = &c
	}
	return p
}

// AllPages returns the items of every page of a list, in order: list is
// called with nil, then with each page's Next until a page has none.
// The result is never nil.
func AllPages[T any](list func(after *Cursor) (*Page[T], error)) ([]T, error) {
	out := []T{}
	var after *Cursor
	for {
		p, err := list(after)
		if err != nil {
			return nil, err
		}
		out = append(out, p.Items...)
		if p.Next == nil {
			return out, nil
		}
		after = p.Next
	}
}
