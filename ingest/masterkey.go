package ingest

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
)

// MasterKey is one versioned master key as an operator configures it:
// "v<N>:<base64 of 32 bytes>" (PARKD_MASTER_KEY, PARKCTL_MASTER_KEY). The
// version is stored next to every secret it seals, so that earlier keys
// can still open what they sealed during a key rotation. It never prints
// its key.
type MasterKey struct {
	// Version numbers the key, from 1.
	Version int
	// Key is the 32-byte AES-256 key.
	Key []byte
}

// String names the key's version only.
func (k MasterKey) String() string { return fmt.Sprintf("v%d:[redacted]", k.Version) }

// GoString is String.
func (k MasterKey) GoString() string { return k.String() }

// Format prints String for every verb, so %x and %+v show no key.
func (k MasterKey) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, k.String()) }

// LogValue logs String.
func (k MasterKey) LogValue() slog.Value { return slog.StringValue(k.String()) }

// ParseMasterKey parses "v<N>:<base64 of 32 bytes>"; a bare base64 value is
// version 1. N is a whole number from 1 to 2³²−1. Standard and URL-safe
// base64, padded or not, are accepted, and surrounding white space is
// ignored. Errors never quote the key.
func ParseMasterKey(s string) (MasterKey, error) {
	s = strings.TrimSpace(s)
	version := 1
	if v, rest, ok := strings.Cut(s, ":"); ok {
		if len(v) < 2 || v[0] != 'v' {
			return MasterKey{}, errors.New(`must be "v<N>:<base64>" or bare base64`)
		}
		n, err := strconv.ParseUint(v[1:], 10, 32)
		if err != nil || n == 0 {
			return MasterKey{}, errors.New("version must be a whole number from 1")
		}
		version, s = int(n), rest
	}
	key, err := decodeKeyBase64(s)
	if err != nil {
		return MasterKey{}, errors.New("key is not valid base64")
	}
	if len(key) != MasterKeySize {
		return MasterKey{}, fmt.Errorf("key must decode to %d bytes, not %d", MasterKeySize, len(key))
	}
	return MasterKey{Version: version, Key: key}, nil
}

// ParseMasterKeyList parses a comma-separated list of master keys (the
// earlier keys, PARKD_MASTER_KEYS_OLD and PARKCTL_MASTER_KEYS_OLD); empty
// items are skipped. Every bad key is reported, as "key <position>: …",
// joined with errors.Join.
func ParseMasterKeyList(s string) ([]MasterKey, error) {
	var (
		keys []MasterKey
		errs []error
		i    int
	)
	for part := range strings.SplitSeq(s, ",") {
		if part = strings.TrimSpace(part); part == "" {
			continue
		}
		i++
		k, err := ParseMasterKey(part)
		if err != nil {
			errs = append(errs, fmt.Errorf("key %d: %w", i, err))
			continue
		}
		keys = append(keys, k)
	}
	return keys, errors.Join(errs...)
}

// NewKeyring returns the keyring that seals with current and opens with
// current and every old key. A version used twice is an error: which key
// would open its secrets?
func NewKeyring(current MasterKey, old ...MasterKey) (*Keyring, error) {
	k := &Keyring{Current: current.Version, Keys: map[int][]byte{current.Version: current.Key}}
	for i, o := range old {
		if _, dup := k.Keys[o.Version]; dup {
			return nil, fmt.Errorf("old key %d: version %d is used twice (with the current key or an earlier old key)", i+1, o.Version)
		}
		k.Keys[o.Version] = o.Key
	}
	if err := k.Validate(); err != nil {
		return nil, err
	}
	return k, nil
}

func decodeKeyBase64(s string) ([]byte, error) {
	s = strings.TrimRight(s, "=")
	if strings.ContainsAny(s, "-_") {
		return base64.RawURLEncoding.DecodeString(s)
	}
	return base64.RawStdEncoding.DecodeString(s)
}
