package ingest

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/google/uuid"
)

func randKey(t *testing.T) []byte {
	t.Helper()
	k := make([]byte, MasterKeySize)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

func TestSealRoundTrip(t *testing.T) {
	t.Parallel()
	key := randKey(t)
	tenant, id := uuid.New(), uuid.New()
	for _, mode := range []Mode{ModeStandard, ModeHMAC, ModeToken} {
		secret, _ := mustSecret(t, mode)
		sealed, err := Seal(key, 3, tenant, id, []byte(secret))
		if err != nil {
			t.Fatal(err)
		}
		if len(sealed) != len(secret)+SealOverhead {
			t.Fatalf("sealed length %d, want %d", len(sealed), len(secret)+SealOverhead)
		}
		if bytes.Contains(sealed, []byte(secret)) || bytes.Contains(sealed, []byte(secret[6:16])) {
			t.Fatal("plaintext visible in the sealed value")
		}
		got, err := Open(key, 3, tenant, id, sealed)
		if err != nil || string(got) != secret {
			t.Fatalf("Open = %q, %v", got, err)
		}
		again, _ := Seal(key, 3, tenant, id, []byte(secret))
		if bytes.Equal(again[:SealNonceSize], sealed[:SealNonceSize]) || bytes.Equal(again, sealed) {
			t.Fatal("nonce reused")
		}
	}
	// Empty plaintext still authenticates.
	sealed, err := Seal(key, 1, tenant, id, nil)
	if err != nil || len(sealed) != SealOverhead {
		t.Fatalf("empty: %d bytes, %v", len(sealed), err)
	}
	if got, err := Open(key, 1, tenant, id, sealed); err != nil || len(got) != 0 {
		t.Fatalf("empty open: %q, %v", got, err)
	}
}

func TestSealTamper(t *testing.T) {
	t.Parallel()
	key, otherKey := randKey(t), randKey(t)
	tenant, id := uuid.New(), uuid.New()
	const version = 2
	secret := []byte("whmac_" + strings.Repeat("A", 43))
	sealed, err := Seal(key, version, tenant, id, secret)
	if err != nil {
		t.Fatal(err)
	}
	flip := func(i int) []byte {
		b := bytes.Clone(sealed)
		b[i] ^= 0x01
		return b
	}
	cases := []struct {
		name    string
		key     []byte
		version int
		tenant  uuid.UUID
		id      uuid.UUID
		sealed  []byte
	}{
		{"wrong key", otherKey, version, tenant, id, sealed},
		{"wrong version", key, version + 1, tenant, id, sealed},
		{"wrong tenant", key, version, uuid.New(), id, sealed},
		{"wrong secret id", key, version, tenant, uuid.New(), sealed},
		{"tenant and id swapped", key, version, id, tenant, sealed},
		{"nonce byte flipped", key, version, tenant, id, flip(0)},
		{"ciphertext byte flipped", key, version, tenant, id, flip(SealNonceSize + 3)},
		{"tag byte flipped", key, version, tenant, id, flip(len(sealed) - 1)},
		{"truncated tag", key, version, tenant, id, sealed[:len(sealed)-1]},
		{"truncated to nonce+tag", key, version, tenant, id, sealed[:SealOverhead]},
		{"shorter than overhead", key, version, tenant, id, sealed[:SealOverhead-1]},
		{"nonce only", key, version, tenant, id, sealed[:SealNonceSize]},
		{"empty", key, version, tenant, id, nil},
		{"extended", key, version, tenant, id, append(bytes.Clone(sealed), 0)},
	}
	for _, tc := range cases {
		got, err := Open(tc.key, tc.version, tc.tenant, tc.id, tc.sealed)
		if !errors.Is(err, ErrOpen) || got != nil {
			t.Errorf("%s: Open = %q, %v; want ErrOpen", tc.name, got, err)
		}
	}
	// Every single-bit flip anywhere fails.
	for i := range len(sealed) * 8 {
		b := bytes.Clone(sealed)
		b[i/8] ^= 1 << (i % 8)
		if _, err := Open(key, version, tenant, id, b); !errors.Is(err, ErrOpen) {
			t.Fatalf("bit %d flipped: %v", i, err)
		}
	}
}

func TestSealBadParameters(t *testing.T) {
	t.Parallel()
	tenant, id := uuid.New(), uuid.New()
	for _, tc := range []struct {
		name    string
		key     []byte
		version int
	}{
		{"short key", make([]byte, 16), 1},
		{"long key", make([]byte, 33), 1},
		{"no key", nil, 1},
		{"version 0", make([]byte, 32), 0},
		{"negative version", make([]byte, 32), -1},
		{"version over uint32", make([]byte, 32), 1 << 32},
	} {
		if _, err := Seal(tc.key, tc.version, tenant, id, []byte("x")); err == nil {
			t.Errorf("%s: Seal accepted", tc.name)
		}
		if _, err := Open(tc.key, tc.version, tenant, id, make([]byte, 64)); err == nil || errors.Is(err, ErrOpen) {
			t.Errorf("%s: Open err = %v, want a configuration error", tc.name, err)
		}
	}
}

func TestSealAdditionalData(t *testing.T) {
	t.Parallel()
	tenant := uuid.MustParse("00112233-4455-6677-8899-aabbccddeeff")
	id := uuid.MustParse("ffeeddcc-bbaa-9988-7766-554433221100")
	got := sealAD(258, tenant, id)
	want := append(append(append([]byte{}, tenant[:]...), id[:]...), 0, 0, 1, 2)
	if !bytes.Equal(got, want) {
		t.Fatalf("additional data %x, want %x", got, want)
	}
}

func TestKeyring(t *testing.T) {
	t.Parallel()
	k1, k2 := randKey(t), randKey(t)
	tenant, id := uuid.New(), uuid.New()
	old := &Keyring{Current: 1, Keys: map[int][]byte{1: k1}}
	if err := old.Validate(); err != nil {
		t.Fatal(err)
	}
	sealed1, v, err := old.Seal(tenant, id, []byte("whtok_one"))
	if err != nil || v != 1 {
		t.Fatalf("Seal = v%d, %v", v, err)
	}

	// Rotation: v2 current, v1 kept to open.
	ring := &Keyring{Current: 2, Keys: map[int][]byte{1: k1, 2: k2}}
	if err := ring.Validate(); err != nil {
		t.Fatal(err)
	}
	if got, err := ring.Open(1, tenant, id, sealed1); err != nil || string(got) != "whtok_one" {
		t.Fatalf("open v1 after rotation: %q, %v", got, err)
	}
	if !ring.NeedsReseal(1) || ring.NeedsReseal(2) {
		t.Fatal("NeedsReseal")
	}
	resealed, v, err := ring.Reseal(1, tenant, id, sealed1)
	if err != nil || v != 2 {
		t.Fatalf("Reseal = v%d, %v", v, err)
	}
	if got, err := Open(k2, 2, tenant, id, resealed); err != nil || string(got) != "whtok_one" {
		t.Fatalf("resealed opens with k2: %q, %v", got, err)
	}
	// The stored version must go with the value.
	if _, err := ring.Open(1, tenant, id, resealed); !errors.Is(err, ErrOpen) {
		t.Fatalf("resealed under the old version: %v", err)
	}
	if _, err := ring.Open(2, uuid.New(), id, resealed); !errors.Is(err, ErrOpen) {
		t.Fatalf("wrong tenant: %v", err)
	}
	if _, err := ring.Open(2, tenant, uuid.New(), resealed); !errors.Is(err, ErrOpen) {
		t.Fatalf("wrong id: %v", err)
	}
	// v1 retired: its secrets no longer open, and the error says why.
	retired := &Keyring{Current: 2, Keys: map[int][]byte{2: k2}}
	if _, err := retired.Open(1, tenant, id, sealed1); !errors.Is(err, ErrUnknownKeyVersion) {
		t.Fatalf("retired version: %v", err)
	}
	if _, _, err := retired.Reseal(1, tenant, id, sealed1); !errors.Is(err, ErrUnknownKeyVersion) {
		t.Fatalf("reseal retired version: %v", err)
	}
	// Same key number, different key: tampering-alike.
	swapped := &Keyring{Current: 1, Keys: map[int][]byte{1: k2}}
	if _, err := swapped.Open(1, tenant, id, sealed1); !errors.Is(err, ErrOpen) {
		t.Fatalf("wrong key under v1: %v", err)
	}

	for name, bad := range map[string]*Keyring{
		"nil":             nil,
		"empty":           {},
		"current missing": {Current: 3, Keys: map[int][]byte{1: k1}},
		"short key":       {Current: 1, Keys: map[int][]byte{1: k1[:31]}},
		"version 0":       {Current: 0, Keys: map[int][]byte{0: k1}},
		"old version bad": {Current: 1, Keys: map[int][]byte{1: k1, -2: k2}},
	} {
		if err := bad.Validate(); err == nil {
			t.Errorf("%s: Validate accepted", name)
		}
	}
	if _, _, err := (&Keyring{Current: 3, Keys: map[int][]byte{1: k1}}).Seal(tenant, id, nil); !errors.Is(err, ErrUnknownKeyVersion) {
		t.Fatalf("seal without current key: %v", err)
	}
	var nilRing *Keyring
	if _, _, err := nilRing.Seal(tenant, id, nil); err == nil {
		t.Fatal("nil keyring sealed")
	}
	if _, err := nilRing.Open(1, tenant, id, sealed1); err == nil {
		t.Fatal("nil keyring opened")
	}
}

func TestKeyringNeverPrintsKeys(t *testing.T) {
	t.Parallel()
	key := bytes.Repeat([]byte{0xAB}, MasterKeySize)
	ring := Keyring{Current: 2, Keys: map[int][]byte{2: key, 1: bytes.Repeat([]byte{0xCD}, MasterKeySize)}}
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("x", "ring", ring, "ptr", &ring)
	js, err := json.Marshal(struct{ R Keyring }{ring})
	if err != nil {
		t.Fatal(err)
	}
	outs := []string{
		fmt.Sprint(ring), fmt.Sprintf("%v %+v %#v %x %X %s %q", ring, ring, ring, ring, ring, ring, ring),
		fmt.Sprintf("%v %+v %#v %x", &ring, &ring, &ring, &ring), logs.String(), string(js),
	}
	for _, out := range outs {
		low := strings.ToLower(out)
		if strings.Contains(low, "abab") || strings.Contains(low, "cdcd") || strings.Contains(out, "171") || strings.Contains(out, "q6ur") {
			t.Fatalf("key material printed: %s", out)
		}
	}
	if got := ring.String(); got != "Keyring{current v2; versions v1 v2}" {
		t.Fatalf("String = %q", got)
	}
}
