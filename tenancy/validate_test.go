package tenancy_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/parkhq/park/tenancy"
)

func TestNormalizeDevEUI(t *testing.T) {
	t.Parallel()
	const want = "70b3d57ed0000001"
	ok := []string{
		"70b3d57ed0000001",
		"70B3D57ED0000001",
		"70-B3-D5-7E-D0-00-00-01",
		"70:b3:d5:7e:d0:00:00:01",
		"70 B3 D5 7E D0 00 00 01",
		"70b3-d57e:d000 0001",
		" 70b3d57ed0000001 ",
	}
	for _, in := range ok {
		got, err := tenancy.NormalizeDevEUI(in)
		if err != nil || got != want {
			t.Errorf("NormalizeDevEUI(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	bad := []string{
		"",
		"70b3d57ed000001",    // 15 digits
		"70b3d57ed00000011",  // 17 digits
		"70b3d57ed000000g",   // not hex
		"0x70b3d57ed0000001", // prefix
		"70_b3_d5_7e_d0_00_00_01",
		"70b3d57ed0000001\n",
		"７０b3d57ed0000001", // full-width digits
		strings.Repeat("-", 100) + "70b3d57ed0000001",
	}
	for _, in := range bad {
		if got, err := tenancy.NormalizeDevEUI(in); err == nil {
			t.Errorf("NormalizeDevEUI(%q) = %q, want an error", in, got)
		}
	}
}

// FuzzNormalizeDevEUI checks the properties ingest and the API rely on: a
// result is always 16 lowercase hex digits, normalizing is idempotent, and
// it equals the input without separators, lowercased.
func FuzzNormalizeDevEUI(f *testing.F) {
	for _, s := range []string{"70b3d57ed0000001", "70-B3-D5-7E-D0-00-00-01", "70:b3", "", "zz", "0000 0000 0000 0000"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, err := tenancy.NormalizeDevEUI(in)
		if err != nil {
			if got != "" {
				t.Fatalf("error with a result %q", got)
			}
			return
		}
		if len(got) != 16 || strings.Trim(got, "0123456789abcdef") != "" {
			t.Fatalf("NormalizeDevEUI(%q) = %q, not 16 lowercase hex digits", in, got)
		}
		if again, err := tenancy.NormalizeDevEUI(got); err != nil || again != got {
			t.Fatalf("not idempotent: %q → %q → %q, %v", in, got, again, err)
		}
		stripped := strings.ToLower(strings.NewReplacer("-", "", ":", "", " ", "").Replace(in))
		if stripped != got {
			t.Fatalf("NormalizeDevEUI(%q) = %q, want %q", in, got, stripped)
		}
	})
}

func TestNormalizeName(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"Main Site", "Main Site", true},
		{"  padded\t", "padded", true},
		{"Parkhaus Zürich 🚗", "Parkhaus Zürich 🚗", true},
		{strings.Repeat("é", 200), strings.Repeat("é", 200), true},
		{strings.Repeat("é", 201), "", false},
		{"", "", false},
		{"   ", "", false},
		{"a\x00b", "", false},
		{"line\nbreak", "", false},
		{"bell\a", "", false},
		{"bad \xff utf8", "", false},
	}
	for _, tt := range tests {
		got, err := tenancy.NormalizeName(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("NormalizeName(%q) = %q, %v; want %q ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
	if got, err := tenancy.NormalizeSpaceName("  "); err != nil || got != "" {
		t.Errorf("NormalizeSpaceName(blank) = %q, %v", got, err)
	}
}

func TestValidateTimezone(t *testing.T) {
	t.Parallel()
	for _, tz := range []string{"UTC", "Europe/Berlin", "America/Los_Angeles", "Asia/Kolkata"} {
		if err := tenancy.ValidateTimezone(tz); err != nil {
			t.Errorf("%q: %v", tz, err)
		}
	}
	for _, tz := range []string{"", "Local", "Mars/Olympus_Mons", "europe/berlin", "../etc/passwd", "/etc/localtime", strings.Repeat("A", 65)} {
		if err := tenancy.ValidateTimezone(tz); err == nil {
			t.Errorf("%q accepted", tz)
		}
	}
}

func TestNormalizeSpaceCode(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"A1": "A1", " P-1.2_b ": "P-1.2_b", "Level 2 A": "Level 2 A", strings.Repeat("x", 64): strings.Repeat("x", 64)} {
		if got, err := tenancy.NormalizeSpaceCode(in); err != nil || got != want {
			t.Errorf("NormalizeSpaceCode(%q) = %q, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "  ", "a/b", "ä1", "a\tb", strings.Repeat("x", 65), "1;drop"} {
		if got, err := tenancy.NormalizeSpaceCode(in); err == nil {
			t.Errorf("NormalizeSpaceCode(%q) = %q, want an error", in, got)
		}
	}
}

func TestValidateSlug(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"acme", "a", "acme-parking-2", strings.Repeat("a", 63)} {
		if err := tenancy.ValidateSlug(s); err != nil {
			t.Errorf("%q: %v", s, err)
		}
	}
	for _, s := range []string{"", "-acme", "acme-", "Acme", "ac_me", "ac me", strings.Repeat("a", 64)} {
		if err := tenancy.ValidateSlug(s); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
}

func TestParseDuration(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]time.Duration{"90d": 90 * 24 * time.Hour, "24h": 24 * time.Hour, "1h30m": 90 * time.Minute, "1d": 24 * time.Hour} {
		if got, err := tenancy.ParseDuration(in); err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "0d", "-1d", "0s", "-5h", "d", "1.5d", "forever", "99999999d"} {
		if got, err := tenancy.ParseDuration(in); err == nil {
			t.Errorf("ParseDuration(%q) = %v, want an error", in, got)
		}
	}
}

func TestOptionalJSON(t *testing.T) {
	t.Parallel()
	type patch struct {
		Name tenancy.Optional[string]            `json:"name"`
		EUI  tenancy.Optional[string]            `json:"eui"`
		Occ  tenancy.Optional[tenancy.Occupancy] `json:"occ"`
		Days tenancy.Optional[int]               `json:"days"`
	}
	var p patch
	if err := json.Unmarshal([]byte(`{"name":"x","eui":null}`), &p); err != nil {
		t.Fatal(err)
	}
	if !p.Name.HasValue() || p.Name.Value != "x" {
		t.Errorf("name: %+v", p.Name)
	}
	if !p.EUI.Set || !p.EUI.Null || p.EUI.HasValue() {
		t.Errorf("eui (null): %+v", p.EUI)
	}
	if p.Occ.Set || p.Days.Set {
		t.Errorf("absent fields set: %+v %+v", p.Occ, p.Days)
	}

	// Nested objects are strict, like the request bodies around them.
	err := json.Unmarshal([]byte(`{"occ":{"field":"o","occupied":[true],"free":[false],"extra":1}}`), &p)
	if err == nil || !strings.Contains(err.Error(), "unknown field") {
		t.Errorf("unknown nested field: %v", err)
	}
	// Type errors keep the path of the field.
	err = json.Unmarshal([]byte(`{"days":"many"}`), &p)
	var typeErr *json.UnmarshalTypeError
	if !errors.As(err, &typeErr) || typeErr.Field != "days" {
		t.Errorf("type error: %#v", err)
	}

	b, err := json.Marshal(struct {
		A tenancy.Optional[int] `json:"a"`
		B tenancy.Optional[int] `json:"b"`
	}{A: tenancy.Some(3), B: tenancy.Null[int]()})
	if err != nil || string(b) != `{"a":3,"b":null}` {
		t.Errorf("marshal: %s %v", b, err)
	}
}

func TestCursorRoundTrip(t *testing.T) {
	t.Parallel()
	for _, c := range []tenancy.Cursor{
		{CreatedAt: time.Date(2025, 10, 19, 12, 34, 56, 123456000, time.UTC), ID: uuid.New()},
		{CreatedAt: time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), ID: uuid.Nil},
		{CreatedAt: time.Date(1969, 12, 31, 23, 59, 59, 999999000, time.UTC), ID: uuid.Max},
	} {
		s := c.Encode()
		got, err := tenancy.DecodeCursor(s)
		if err != nil || !got.CreatedAt.Equal(c.CreatedAt) || got.ID != c.ID {
			t.Errorf("round trip of %+v via %q: %+v, %v", c, s, got, err)
		}
		if strings.ContainsAny(s, "+/=") {
			t.Errorf("cursor %q is not URL-safe", s)
		}
	}
	good := tenancy.Cursor{CreatedAt: time.Now(), ID: uuid.New()}.Encode()
	for _, s := range []string{"", "x", good + "A", good[:len(good)-1], "!" + good[1:], strings.Repeat("A", len(good))} {
		if _, err := tenancy.DecodeCursor(s); !errors.Is(err, tenancy.ErrMalformedCursor) {
			t.Errorf("DecodeCursor(%q) = %v, want ErrMalformedCursor", s, err)
		}
	}
}

// FuzzDecodeCursor: no input panics, and whatever decodes encodes back to
// the same string (a cursor has one spelling).
func FuzzDecodeCursor(f *testing.F) {
	f.Add(tenancy.Cursor{CreatedAt: time.Now(), ID: uuid.New()}.Encode())
	f.Add("")
	f.Add("AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := tenancy.DecodeCursor(s)
		if err != nil {
			return
		}
		if again := c.Encode(); again != s {
			t.Fatalf("DecodeCursor(%q) re-encodes as %q", s, again)
		}
	})
}
