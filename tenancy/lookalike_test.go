package tenancy_test

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/parkhq/park/tenancy"
)

// TestNormalizeNameLookalikes: names are NFC, and invisible or reordering
// characters (Unicode Cf), controls and line separators are refused with a
// problem naming the character.
func TestNormalizeNameLookalikes(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"Cafe\u0301":                   "Café", // combining acute → precomposed
		"  A\u030angstr\u00f6m ":       "Ångström",
		"\u212b":                       "Å", // ANGSTROM SIGN is canonically Å
		strings.Repeat("e\u0301", 200): strings.Repeat("é", 200),
		"Parkhaus \u00c5 \u05e9\u05dc\u05d5\u05dd": "Parkhaus Å שלום", // right-to-left text itself is fine
	} {
		got, err := tenancy.NormalizeName(in)
		if err != nil || got != want {
			t.Errorf("NormalizeName(%+q) = %+q, %v; want %+q", in, got, err, want)
		}
	}
	for in, code := range map[string]string{
		"evil\u202egnp.exe": "U+202E", // right-to-left override
		"North\u200b":       "U+200B", // zero-width space, inside the trim
		"\ufeffNorth":       "U+FEFF", // byte order mark
		"a\u2066b\u2069":    "U+2066", // left-to-right isolate
		"soft\u00adhyphen":  "U+00AD",
		"a\u200db":          "U+200D", // zero-width joiner
		"line\u2028sep":     "U+2028",
		"para\u2029sep":     "U+2029",
		"del\u007f":         "U+007F",
		"c1\u0085x":         "U+0085",
		"tab\tinside":       "U+0009",
	} {
		got, err := tenancy.NormalizeName(in)
		if err == nil {
			t.Errorf("NormalizeName(%+q) = %+q, want an error", in, got)
			continue
		}
		if !strings.Contains(err.Error(), code) {
			t.Errorf("NormalizeName(%+q): %v does not name %s", in, err, code)
		}
	}
	if got, err := tenancy.NormalizeSpaceName("Bay\u200b"); err == nil {
		t.Errorf("NormalizeSpaceName with U+200B = %+q", got)
	}
}

// TestCheckTime: the bounds are 1970-01-01T00:00:00Z and
// 9999-12-31T23:59:59.999999Z, compared after conversion to UTC.
func TestCheckTime(t *testing.T) {
	t.Parallel()
	parse := func(s string) time.Time {
		tm, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	ok := []string{"1970-01-01T00:00:00Z", "1970-01-01T01:00:00+01:00", "2030-01-01T00:00:00Z",
		"9999-12-31T23:59:59Z", "9999-12-31T23:59:59.999999Z", "9999-12-31T23:59:59+00:01"}
	for _, s := range ok {
		var v tenancy.ValidationError
		if !v.CheckTime("at", parse(s)) || v.Err() != nil {
			t.Errorf("%s refused: %v", s, v.Err())
		}
	}
	bad := []time.Time{
		parse("9999-12-31T23:59:59-23:59"), // year 10000 in UTC
		parse("9999-12-31T23:59:59.9999995Z"),
		parse("1970-01-01T00:59:59+01:00"), // 1969 in UTC
		parse("1969-12-31T23:59:59Z"),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC),
		{},
	}
	for _, tm := range bad {
		var v tenancy.ValidationError
		if v.CheckTime("expires_at", tm) || len(v.Fields["expires_at"]) != 1 {
			t.Errorf("%v accepted: %v", tm, v.Fields)
		}
	}
}

// TestOccupancyComparesByValue: a number in both lists is refused however
// it is written, -0 and 0 included; strings with invisible characters are
// refused.
func TestOccupancyComparesByValue(t *testing.T) {
	t.Parallel()
	negZero := math.Copysign(0, -1)
	for _, pair := range [][2]any{{negZero, 0.0}, {0.0, negZero}, {1.0, 1.0}, {100.0, 1e2}} {
		var v tenancy.ValidationError
		tenancy.ValidateOccupancy(&v, "settings.occupancy", tenancy.Occupancy{Field: "occupied",
			Occupied: []any{true, pair[0]}, Free: []any{false, pair[1]}})
		if len(v.Fields) != 1 || len(v.Fields["settings.occupancy.free"]) != 1 {
			t.Errorf("occupied %v, free %v: problems %v, want one on settings.occupancy.free", pair[0], pair[1], v.Fields)
		}
	}
	var v tenancy.ValidationError
	tenancy.ValidateOccupancy(&v, "o", tenancy.Occupancy{Field: "occupied", Occupied: []any{1.0, "1", true}, Free: []any{0.0, "0", false}})
	if v.Err() != nil {
		t.Errorf("distinct values refused: %v", v.Fields)
	}
	v = tenancy.ValidationError{}
	tenancy.ValidateOccupancy(&v, "o", tenancy.Occupancy{Field: "st\u200bate", Occupied: []any{"occ\u202eupied"}, Free: []any{"free"}})
	if len(v.Fields["o.field"]) != 1 || len(v.Fields["o.occupied[0]"]) != 1 || len(v.Fields) != 2 {
		t.Errorf("format characters: %v", v.Fields)
	}
}
