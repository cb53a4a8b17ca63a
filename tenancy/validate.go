package tenancy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // site time zones must not depend on the host's zoneinfo
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Limits of the validated fields. They match the CHECK constraints of the
// schema, which stay as the last line; the validators here exist so a
// client learns every problem at once, field by field, in words.
const (
	// MaxNameLen bounds tenant, site, space, user and API key names, in
	// characters.
	MaxNameLen = 200
	// MaxCodeLen bounds a space's code, in characters.
	MaxCodeLen = 64
	// MaxTimezoneLen bounds a site's IANA time zone name.
	MaxTimezoneLen = 64
	// maxDevEUIInput bounds what NormalizeDevEUI looks at: 16 digits with a
	// separator between every two, and some slack for spaces.
	maxDevEUIInput = 64
)

// NormalizeName trims surrounding white space from a name, normalises it
// to NFC and checks it is 1 to MaxNameLen characters without control or
// format characters. NFC makes a name typed with a combining accent
// ("e\u0301") and the same name typed precomposed ("é") one name, so
// uniqueness and comparisons see what people see. Format characters
// (Unicode category Cf: bidi overrides such as U+202E, zero-width spaces
// and joiners, U+FEFF) are invisible or reorder the text around them, so a
// name holding one can pass for another.
func NormalizeName(s string) (string, error) {
	s = strings.TrimSpace(s)
	if err := printable(s); err != nil {
		return "", err
	}
	s = norm.NFC.String(s)
	switch n := utf8.RuneCountInString(s); {
	case n == 0:
		return "", errors.New("must not be empty")
	case n > MaxNameLen:
		return "", fmt.Errorf("must be at most %d characters", MaxNameLen)
	}
	return s, nil
}

// NormalizeSpaceName is NormalizeName for a space's optional display name:
// empty is allowed.
func NormalizeSpaceName(s string) (string, error) {
	if strings.TrimSpace(s) == "" {
		return "", nil
	}
	return NormalizeName(s)
}

// printable refuses invalid UTF-8, control characters (which includes NUL,
// which PostgreSQL text cannot hold, and line breaks, as do the line and
// paragraph separators U+2028 and U+2029) and format characters (Unicode
// category Cf). The problem names the first offending character.
func printable(s string) error {
	if !utf8.ValidString(s) {
		return errors.New("must be valid UTF-8")
	}
	for _, r := range s {
		switch {
		case unicode.IsControl(r), unicode.In(r, unicode.Zl, unicode.Zp):
			return fmt.Errorf("must not contain control characters (found %U)", r)
		case unicode.Is(unicode.Cf, r):
			return fmt.Errorf("must not contain invisible format characters such as bidi overrides or zero-width spaces (found %U)", r)
		}
	}
	return nil
}

// The range of every timestamp the API accepts: years 1970 to 9999 in UTC.
// A time outside it cannot be written as RFC 3339 (encoding/json refuses
// years past 9999, so an answer or an audit event holding one would fail
// with a 500), and none before 1970 means anything to a parking system.
var (
	// MinTime is the earliest timestamp accepted: 1970-01-01T00:00:00Z.
	MinTime = time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)
	// MaxTime is the latest: 9999-12-31T23:59:59.999999Z. PostgreSQL keeps
	// microseconds and rounds to them, so a later instant of the same
	// second could be stored as year 10000.
	MaxTime = time.Date(9999, 12, 31, 23, 59, 59, 999_999_000, time.UTC)
)

// CheckTime records a problem with field in e when t, converted to UTC,
// falls outside MinTime–MaxTime (such as 9999-12-31T23:59:59-23:59, which
// is in year 10000 in UTC). It reports whether t is in range. Every
// timestamp a client sends goes through it.
func (e *ValidationError) CheckTime(field string, t time.Time) bool {
	if t.Before(MinTime) || t.After(MaxTime) {
		e.Add(field, "must fall within the years 1970 to 9999 in UTC, not "+t.UTC().Format("2006-01-02T15:04:05Z07:00"))
		return false
	}
	return true
}

// ValidateTimezone checks that tz is an IANA time zone name such as
// "Europe/Berlin" or "UTC". It refuses "" and "Local", which time.LoadLocation
// accepts but which mean the server's zone, not the site's. Names are
// case-sensitive, and the zone database is compiled in (time/tzdata), so the
// answer does not depend on the host.
func ValidateTimezone(tz string) error {
	switch {
	case tz == "":
		return errors.New("must not be empty; use an IANA name such as Europe/Berlin or UTC")
	case tz == "Local":
		return errors.New(`"Local" is not a time zone; use an IANA name such as Europe/Berlin or UTC`)
	case len(tz) > MaxTimezoneLen:
		return fmt.Errorf("must be at most %d characters", MaxTimezoneLen)
	}
	if _, err := time.LoadLocation(tz); err != nil {
		return fmt.Errorf("unknown time zone %q; use an IANA name such as Europe/Berlin or UTC", tz)
	}
	return nil
}

// NormalizeSpaceCode trims surrounding white space from a space code and
// checks it is 1 to MaxCodeLen characters of ASCII letters, digits, '-',
// '_', '.' and ' '.
func NormalizeSpaceCode(s string) (string, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return "", errors.New("must not be empty")
	case len(s) > MaxCodeLen:
		return "", fmt.Errorf("must be at most %d characters", MaxCodeLen)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isCodeByte(c) {
			return "", fmt.Errorf("must contain only letters, digits, '-', '_', '.' and spaces, not %q", firstRune(s[i:]))
		}
	}
	return s, nil
}

func isCodeByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '-' || c == '_' || c == '.' || c == ' '
}

func firstRune(s string) rune {
	r, _ := utf8.DecodeRuneInString(s)
	return r
}

// NormalizeDevEUI turns a LoRaWAN DevEUI as people and network servers
// write it — any case, with or without '-', ':' or space separators — into
// the 16 lowercase hexadecimal digits that Park stores and compares
// (DESIGN §5). The API and ingest both use it, so a sensor registered as
// "70-B3-D5-7E-D0-00-00-01" matches uplinks for "70b3d57ed0000001".
func NormalizeDevEUI(s string) (string, error) {
	if len(s) > maxDevEUIInput {
		return "", errors.New("must be 16 hexadecimal digits")
	}
	var out [16]byte
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '-' || c == ':' || c == ' ':
			continue
		case c >= '0' && c <= '9' || c >= 'a' && c <= 'f':
		case c >= 'A' && c <= 'F':
			c += 'a' - 'A'
		default:
			return "", fmt.Errorf("must be 16 hexadecimal digits, not %q", firstRune(s[i:]))
		}
		if n == len(out) {
			return "", errors.New("must be 16 hexadecimal digits, not more")
		}
		out[n] = c
		n++
	}
	if n != len(out) {
		return "", fmt.Errorf("must be 16 hexadecimal digits, not %d", n)
	}
	return string(out[:]), nil
}

// ValidateSlug checks a tenant slug: 1 to 63 lowercase letters, digits and
// hyphens, starting and ending with a letter or digit (a DNS label, so it
// fits in host names and webhook URLs).
func ValidateSlug(s string) error {
	if s == "" || len(s) > 63 {
		return errors.New("must be 1 to 63 characters")
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		alnum := c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
		if !alnum && (c != '-' || i == 0 || i == len(s)-1) {
			return errors.New("must be lowercase letters, digits and inner hyphens")
		}
	}
	return nil
}

// ParseDuration reads a lifetime such as "90d", "36h" or "1h30m": a whole
// number of days with the suffix "d", or anything time.ParseDuration
// accepts. It refuses zero and negative durations.
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	var d time.Duration
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseInt(days, 10, 32)
		if err != nil || n > 100*365 {
			return 0, fmt.Errorf("%q is not a duration such as 90d or 24h", s)
		}
		d = time.Duration(n) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, fmt.Errorf("%q is not a duration such as 90d or 24h", s)
		}
	}
	if d <= 0 {
		return 0, errors.New("must be positive")
	}
	return d, nil
}

// ConflictError is a collision of one field with existing data: a site
// name, a space code or sensor, that is already taken. It matches
// ErrConflict under errors.Is; Field is the JSON name of the field, so a
// client can tell which one to change.
type ConflictError struct {
	Field string
	// Problem says what collided, for the client ("another site is named
	// \"North\"").
	Problem string
}

// Error names the field and the problem.
func (e *ConflictError) Error() string { return e.Field + ": " + e.Problem }

// Is makes a *ConflictError match ErrConflict.
func (e *ConflictError) Is(target error) bool { return target == ErrConflict }

// Optional is one field of a partial update (PATCH): absent (leave the
// stored value alone), JSON null (clear it, where that is allowed), or a
// value. Decoded from JSON, an absent key leaves it zero (Set false); any
// present key, null included, sets Set.
type Optional[T any] struct {
	// Set reports that the field was given.
	Set bool
	// Null reports that it was given as null.
	Null bool
	// Value is the given value when Set && !Null.
	Value T
}

// Some returns an Optional holding v.
func Some[T any](v T) Optional[T] { return Optional[T]{Set: true, Value: v} }

// Null returns an Optional that clears the field.
func Null[T any]() Optional[T] { return Optional[T]{Set: true, Null: true} }

// HasValue reports whether o carries a value (it is set and not null).
func (o Optional[T]) HasValue() bool { return o.Set && !o.Null }

// UnmarshalJSON records that the field was present. encoding/json calls it
// for a JSON null as well, which is what tells null from absent. The value
// is decoded strictly, like every request body of Park's API: an unknown
// field in an object value is an error.
func (o *Optional[T]) UnmarshalJSON(b []byte) error {
	o.Set = true
	var zero T
	o.Value = zero
	if string(bytes.TrimSpace(b)) == "null" {
		o.Null = true
		return nil
	}
	o.Null = false
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode(&o.Value)
}

// MarshalJSON writes the value, or null when o is unset or null.
func (o Optional[T]) MarshalJSON() ([]byte, error) {
	if !o.HasValue() {
		return []byte("null"), nil
	}
	return json.Marshal(o.Value)
}
