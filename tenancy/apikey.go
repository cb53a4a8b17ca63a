package tenancy

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"hash/crc32"
	"math/big"
	"strings"
)

// API keys look like park_<key_id>_<secret>: key_id is public and finds the
// key (and so its tenant); secret is 32 random base62 characters followed by
// a 6-character base62 CRC-32 of everything before it, so secret scanners and
// the server reject mistyped or made-up strings without a database trip.
// Only SHA-256 of the secret is stored.
const (
	apiKeyPrefix    = "park_"
	apiKeyIDLen     = 12
	apiKeySecretLen = 32
	apiKeyCheckLen  = 6
	// MaxAPIKeyLen bounds what ParseAPIKey looks at.
	MaxAPIKeyLen = len(apiKeyPrefix) + apiKeyIDLen + 1 + apiKeySecretLen + apiKeyCheckLen
)

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// ErrMalformedKey means a string is not a Park API key.
var ErrMalformedKey = errors.New("malformed API key")

// NewAPIKey is a freshly generated key: Token is shown once, KeyID and
// SecretHash are stored.
type NewAPIKey struct {
	KeyID      string
	Token      string
	SecretHash [32]byte
}

// GenerateAPIKey makes a new random key.
func GenerateAPIKey() (NewAPIKey, error) {
	id, err := randomBase62(apiKeyIDLen)
	if err != nil {
		return NewAPIKey{}, err
	}
	body, err := randomBase62(apiKeySecretLen)
	if err != nil {
		return NewAPIKey{}, err
	}
	prefix := apiKeyPrefix + id + "_"
	secret := body + checksum(prefix+body)
	return NewAPIKey{KeyID: id, Token: prefix + secret, SecretHash: HashAPISecret(secret)}, nil
}

// ParseAPIKey splits a key into its public id and its secret, checking the
// format and checksum. It does not touch the database.
func ParseAPIKey(token string) (keyID, secret string, err error) {
	if len(token) != MaxAPIKeyLen || !strings.HasPrefix(token, apiKeyPrefix) {
		return "", "", ErrMalformedKey
	}
	rest := token[len(apiKeyPrefix):]
	if rest[apiKeyIDLen] != '_' {
		return "", "", ErrMalformedKey
	}
	keyID, secret = rest[:apiKeyIDLen], rest[apiKeyIDLen+1:]
	if !isBase62(keyID) || !isBase62(secret) {
		return "", "", ErrMalformedKey
	}
	body, sum := secret[:apiKeySecretLen], secret[apiKeySecretLen:]
	want := checksum(apiKeyPrefix + keyID + "_" + body)
	if subtle.ConstantTimeCompare([]byte(sum), []byte(want)) != 1 {
		return "", "", ErrMalformedKey
	}
	return keyID, secret, nil
}

// LooksLikeAPIKey reports whether a bearer token is meant as an API key
// rather than a JWT, so the caller can pick the right check.
func LooksLikeAPIKey(token string) bool { return strings.HasPrefix(token, apiKeyPrefix) }

// HashAPISecret is what the database stores for a secret.
func HashAPISecret(secret string) [32]byte { return sha256.Sum256([]byte(secret)) }

// APISecretMatches compares a presented secret with a stored hash in
// constant time.
func APISecretMatches(secret string, stored []byte) bool {
	h := HashAPISecret(secret)
	return subtle.ConstantTimeCompare(h[:], stored) == 1
}

func checksum(s string) string {
	n := uint64(crc32.ChecksumIEEE([]byte(s)))
	out := make([]byte, apiKeyCheckLen)
	for i := apiKeyCheckLen - 1; i >= 0; i-- {
		out[i] = base62[n%62]
		n /= 62
	}
	return string(out)
}

func isBase62(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z') {
			return false
		}
	}
	return true
}

// randomBase62 returns n uniformly random base62 characters.
func randomBase62(n int) (string, error) {
	out := make([]byte, n)
	max := big.NewInt(62)
	for i := range out {
		v, err := rand.Int(rand.Reader, max)
		if err != nil {
			return "", err
		}
		out[i] = base62[v.Int64()]
	}
	return string(out), nil
}
