package parkd

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
)

const redacted = "[redacted]"

// Secret is key material from the configuration. It never prints itself:
// every fmt verb, slog and encoding/json show "[redacted]", so a Config can
// be logged whole.
type Secret []byte

// String returns "[redacted]".
func (s Secret) String() string { return redacted }

// GoString returns "[redacted]".
func (s Secret) GoString() string { return redacted }

// Format prints "[redacted]" for every verb, including %x and %v.
func (s Secret) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, redacted) }

// LogValue returns "[redacted]".
func (s Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalText returns "[redacted]" (encoding/json uses it too).
func (s Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// MasterKeySize is the length of an AES-256 master key.
const MasterKeySize = 32

// MasterKey is a versioned AES-256 key that seals webhook secrets at rest
// (DESIGN §5). The version is stored next to every sealed secret, so old
// keys can still open what they sealed during a rotation.
type MasterKey struct {
	// Version numbers the key, from 1.
	Version uint32
	// Key is the 32-byte key.
	Key Secret
}

// IsZero reports whether k is unset.
func (k MasterKey) IsZero() bool { return k.Version == 0 && len(k.Key) == 0 }

// String names the key's version only.
func (k MasterKey) String() string { return fmt.Sprintf("v%d:%s", k.Version, redacted) }

// LogValue names the key's version only.
func (k MasterKey) LogValue() slog.Value { return slog.StringValue(k.String()) }

// ParseMasterKey parses "v<N>:<base64 of 32 bytes>"; a bare base64 value is
// version 1. Standard and URL-safe base64, padded or not, are accepted.
// Errors never quote the key.
func ParseMasterKey(s string) (MasterKey, error) {
	s = strings.TrimSpace(s)
	version := uint32(1)
	if v, rest, ok := strings.Cut(s, ":"); ok {
		if len(v) < 2 || v[0] != 'v' {
			return MasterKey{}, errors.New(`must be "v<N>:<base64>" or bare base64`)
		}
		n, err := strconv.ParseUint(v[1:], 10, 32)
		if err != nil || n == 0 {
			return MasterKey{}, fmt.Errorf("version %q must be a whole number from 1", v)
		}
		version, s = uint32(n), rest
	}
	key, err := decodeBase64(s)
	if err != nil {
		return MasterKey{}, errors.New("key is not valid base64")
	}
	if len(key) != MasterKeySize {
		return MasterKey{}, fmt.Errorf("key must decode to %d bytes, not %d", MasterKeySize, len(key))
	}
	return MasterKey{Version: version, Key: key}, nil
}

// Encode renders k in the form ParseMasterKey reads.
func (k MasterKey) Encode() string {
	return fmt.Sprintf("v%d:%s", k.Version, base64.StdEncoding.EncodeToString(k.Key))
}

// GenerateMasterKey returns a random key with the given version.
func GenerateMasterKey(version uint32) (MasterKey, error) {
	key := make([]byte, MasterKeySize)
	if _, err := rand.Read(key); err != nil {
		return MasterKey{}, err
	}
	return MasterKey{Version: version, Key: key}, nil
}

func decodeBase64(s string) ([]byte, error) {
	s = strings.TrimRight(s, "=")
	if strings.ContainsAny(s, "-_") {
		return base64.RawURLEncoding.DecodeString(s)
	}
	return base64.RawStdEncoding.DecodeString(s)
}
