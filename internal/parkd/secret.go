package parkd

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"

	"github.com/parkhq/park/ingest"
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
// version 1. The parsing is ingest.ParseMasterKey's, which parkctl shares
// (PARKCTL_MASTER_KEY has the same form). Errors never quote the key.
func ParseMasterKey(s string) (MasterKey, error) {
	k, err := ingest.ParseMasterKey(s)
	if err != nil {
		return MasterKey{}, err
	}
	return MasterKey{Version: uint32(k.Version), Key: k.Key}, nil
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
