package reservation_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/parkhq/park/reservation"
	"github.com/parkhq/park/tenancy"
)

func TestParseKey(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("k", reservation.MaxKeyLen)
	tests := []struct {
		header, want string
		ok           bool
	}{
		{"abc", "abc", true},
		{"  abc\t", "abc", true},
		{`"abc"`, "abc", true},
		{` "a b" `, "a b", true},
		{`"a\"b\\c"`, `a"b\c`, true},
		{"8e03978e-40d5-43e8-bc93-6894a57f9324", "8e03978e-40d5-43e8-bc93-6894a57f9324", true},
		{long, long, true},
		{`"` + long + `"`, long, true},
		{"~!#$%&'()*+,-./:;<=>?@[]^_`{|}", "~!#$%&'()*+,-./:;<=>?@[]^_`{|}", true},
		{"", "", false},
		{"   ", "", false},
		{`""`, "", false},
		{long + "k", "", false},
		{`"abc`, "", false},
		{`"abc"x`, "", false},
		{`"a\nb"`, "", false},
		{`"a\`, "", false},
		{"a\x00b", "", false},
		{"a\nb", "", false},
		{"ключ", "", false},
		{"a\x7fb", "", false},
	}
	for _, tt := range tests {
		got, err := reservation.ParseKey(tt.header)
		if tt.ok != (err == nil) || got != tt.want {
			t.Errorf("ParseKey(%q) = %q, %v; want %q, ok %v", tt.header, got, err, tt.want, tt.ok)
		}
		if err != nil && !errors.Is(err, reservation.ErrMalformedKey) {
			t.Errorf("ParseKey(%q): %v does not match ErrMalformedKey", tt.header, err)
		}
	}
}

// FuzzParseKey: whatever the header, a key that parses is valid, and a
// valid key sent quoted (with escapes) parses back to itself.
func FuzzParseKey(f *testing.F) {
	for _, s := range []string{"abc", `"a\"b"`, `"`, `\`, " ", `"a" "b"`, "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		k, err := reservation.ParseKey(header)
		if err != nil {
			return
		}
		if !reservation.ValidKey(k) {
			t.Fatalf("ParseKey(%q) = %q, which is not a valid key", header, k)
		}
		quoted := `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(k) + `"`
		if back, err := reservation.ParseKey(quoted); err != nil || back != k {
			t.Fatalf("ParseKey(%q) = %q, %v; want %q", quoted, back, err, k)
		}
	})
}

func TestFingerprint(t *testing.T) {
	t.Parallel()
	space := uuid.MustParse("6f1c2f6e-2b7b-4b8e-9a51-1d2f3c4b5a69")
	start := time.Date(2030, 1, 2, 10, 0, 0, 0, time.UTC)
	end := start.Add(time.Hour)
	base := reservation.Fingerprint(space, start, end, "k1")

	// The same instants in another zone are the same request.
	berlin := time.FixedZone("CET", 3600)
	if reservation.Fingerprint(space, start.In(berlin), end.In(berlin), "k1") != base {
		t.Error("the fingerprint depends on the time zone")
	}
	for name, fp := range map[string][32]byte{
		"space":      reservation.Fingerprint(uuid.New(), start, end, "k1"),
		"start":      reservation.Fingerprint(space, start.Add(time.Second), end, "k1"),
		"end":        reservation.Fingerprint(space, start, end.Add(time.Second), "k1"),
		"request id": reservation.Fingerprint(space, start, end, "k2"),
		"no id":      reservation.Fingerprint(space, start, end, ""),
	} {
		if fp == base {
			t.Errorf("another %s, same fingerprint", name)
		}
	}
}

func TestConflictError(t *testing.T) {
	t.Parallel()
	c := &reservation.ConflictError{SpaceID: uuid.MustParse("00000000-0000-0000-0000-000000000003"),
		Conflicting: reservation.ConflictingReservation{ID: uuid.MustParse("00000000-0000-0000-0000-00000000000a"),
			StartsAt: time.Date(2030, 1, 1, 10, 0, 0, 0, time.UTC), EndsAt: time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)}}
	want := "space 00000000-0000-0000-0000-000000000003 is already reserved from 2030-01-01T10:00:00Z to 2030-01-01T12:00:00Z (reservation 00000000-0000-0000-0000-00000000000a)"
	if c.Error() != want {
		t.Errorf("Error() = %q", c.Error())
	}
	if !errors.Is(fmt.Errorf("create reservation: %w", c), tenancy.ErrConflict) {
		t.Error("a ConflictError does not match tenancy.ErrConflict")
	}
}
