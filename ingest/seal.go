package ingest

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"sort"
	"strconv"

	"github.com/google/uuid"
)

// Sealing webhook secrets at rest (DESIGN §5): an HMAC needs the raw
// secret, so it is stored encrypted, not hashed.
const (
	// MasterKeySize is the length of an AES-256 master key.
	MasterKeySize = 32
	// SealNonceSize is the GCM nonce length that leads every sealed value.
	SealNonceSize = 12
	// SealOverhead is how much longer a sealed value is than its plaintext.
	SealOverhead = SealNonceSize + 16
)

// ErrOpen is every failure to open a sealed secret with a key that exists:
// wrong key, version, tenant or secret id, tampering, truncation. They look
// alike on purpose.
var ErrOpen = errors.New("ingest: sealed webhook secret does not open")

// ErrUnknownKeyVersion reports a sealed secret whose master key version is
// not configured (PARKD_MASTER_KEY / PARKD_MASTER_KEYS_OLD).
var ErrUnknownKeyVersion = errors.New("ingest: master key version not configured")

// sealAD is the additional data binding a sealed secret to its row:
// tenant id (16 bytes) ‖ secret id (16 bytes) ‖ key version (4 bytes,
// big-endian). A sealed value copied to another row, tenant or version
// does not open.
func sealAD(version int, tenantID, secretID uuid.UUID) []byte {
	ad := make([]byte, 0, 16+16+4)
	ad = append(ad, tenantID[:]...)
	ad = append(ad, secretID[:]...)
	return binary.BigEndian.AppendUint32(ad, uint32(version))
}

func sealAEAD(key []byte, version int) (cipher.AEAD, error) {
	if len(key) != MasterKeySize {
		return nil, fmt.Errorf("ingest: master key must be %d bytes, not %d", MasterKeySize, len(key))
	}
	if version < 1 || version > math.MaxUint32 {
		return nil, fmt.Errorf("ingest: master key version %d out of range 1–%d", version, uint32(math.MaxUint32))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// Seal encrypts plaintext with AES-256-GCM under key (32 bytes, master key
// version version ≥ 1) with a random 12-byte nonce and
// tenant id ‖ secret id ‖ version as additional data. The result is
// nonce ‖ ciphertext ‖ tag.
func Seal(key []byte, version int, tenantID, secretID uuid.UUID, plaintext []byte) ([]byte, error) {
	aead, err := sealAEAD(key, version)
	if err != nil {
		return nil, err
	}
	out := make([]byte, SealNonceSize, SealNonceSize+len(plaintext)+aead.Overhead())
	if _, err := rand.Read(out); err != nil {
		return nil, fmt.Errorf("ingest: seal nonce: %w", err)
	}
	return aead.Seal(out, out, plaintext, sealAD(version, tenantID, secretID)), nil
}

// Open reverses Seal. Any mismatch of key, version, tenant, secret id or
// content fails with ErrOpen; a malformed key or version with a
// configuration error.
func Open(key []byte, version int, tenantID, secretID uuid.UUID, sealed []byte) ([]byte, error) {
	aead, err := sealAEAD(key, version)
	if err != nil {
		return nil, err
	}
	if len(sealed) < SealNonceSize+aead.Overhead() {
		return nil, ErrOpen
	}
	pt, err := aead.Open(nil, sealed[:SealNonceSize], sealed[SealNonceSize:], sealAD(version, tenantID, secretID))
	if err != nil {
		return nil, ErrOpen
	}
	return pt, nil
}

// Keyring holds the master keys by version: Current seals, every version in
// Keys opens. Build it from parkd's configuration (PARKD_MASTER_KEY and
// PARKD_MASTER_KEYS_OLD). It never prints its keys.
type Keyring struct {
	Current int
	Keys    map[int][]byte
}

// Validate checks that Current is among Keys and every key is 32 bytes
// with a version from 1.
func (k *Keyring) Validate() error {
	if k == nil || len(k.Keys) == 0 {
		return errors.New("ingest: keyring has no master key")
	}
	if _, ok := k.Keys[k.Current]; !ok {
		return fmt.Errorf("ingest: keyring has no key for its current version %d", k.Current)
	}
	for v, key := range k.Keys {
		if v < 1 || v > math.MaxUint32 {
			return fmt.Errorf("ingest: master key version %d out of range", v)
		}
		if len(key) != MasterKeySize {
			return fmt.Errorf("ingest: master key v%d must be %d bytes, not %d", v, MasterKeySize, len(key))
		}
	}
	return nil
}

// Seal seals plaintext under the current key and returns the version to
// store next to it.
func (k *Keyring) Seal(tenantID, secretID uuid.UUID, plaintext []byte) (sealed []byte, version int, err error) {
	if k == nil {
		return nil, 0, errors.New("ingest: nil keyring")
	}
	key, ok := k.Keys[k.Current]
	if !ok {
		return nil, 0, fmt.Errorf("%w: current v%d", ErrUnknownKeyVersion, k.Current)
	}
	sealed, err = Seal(key, k.Current, tenantID, secretID, plaintext)
	if err != nil {
		return nil, 0, err
	}
	return sealed, k.Current, nil
}

// Open opens a secret sealed under the given key version.
func (k *Keyring) Open(version int, tenantID, secretID uuid.UUID, sealed []byte) ([]byte, error) {
	if k == nil {
		return nil, errors.New("ingest: nil keyring")
	}
	key, ok := k.Keys[version]
	if !ok {
		return nil, fmt.Errorf("%w: v%d", ErrUnknownKeyVersion, version)
	}
	return Open(key, version, tenantID, secretID, sealed)
}

// NeedsReseal reports whether a secret sealed under version should move to
// the current key.
func (k *Keyring) NeedsReseal(version int) bool { return version != k.Current }

// Reseal opens a sealed secret and seals it again under the current key
// (parkctl webhook-secret reseal). A secret already under the current key
// is sealed afresh too (new nonce); callers skip it with NeedsReseal.
func (k *Keyring) Reseal(version int, tenantID, secretID uuid.UUID, sealed []byte) ([]byte, int, error) {
	pt, err := k.Open(version, tenantID, secretID, sealed)
	if err != nil {
		return nil, 0, err
	}
	defer clear(pt)
	return k.Seal(tenantID, secretID, pt)
}

// String names the versions only, never the keys.
func (k Keyring) String() string {
	versions := make([]int, 0, len(k.Keys))
	for v := range k.Keys {
		versions = append(versions, v)
	}
	sort.Ints(versions)
	s := "Keyring{current v" + strconv.Itoa(k.Current) + "; versions"
	for _, v := range versions {
		s += " v" + strconv.Itoa(v)
	}
	return s + "}"
}

// GoString is String.
func (k Keyring) GoString() string { return k.String() }

// Format prints String for every verb, so %v, %+v and %x show no key.
func (k Keyring) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, k.String()) }

// LogValue logs String.
func (k Keyring) LogValue() slog.Value { return slog.StringValue(k.String()) }

// MarshalText renders String (encoding/json uses it too).
func (k Keyring) MarshalText() ([]byte, error) { return []byte(k.String()), nil }
