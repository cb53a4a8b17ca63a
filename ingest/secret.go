package ingest

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// Mode is how a webhook secret authenticates a request (DESIGN §5). Each
// secret has one mode, chosen at creation, and a request is checked only
// against the secrets of the mode it uses (see DetectMode).
type Mode string

// The webhook secret modes.
const (
	// ModeStandard is Standard Webhooks: webhook-id, webhook-timestamp and
	// webhook-signature headers, HMAC-SHA256 keyed with the decoded bytes
	// after "whsec_".
	ModeStandard Mode = "standard"
	// ModeHMAC is the seed's X-Webhook-Signature: HMAC-SHA256 over the raw
	// body keyed with the whole secret string.
	ModeHMAC Mode = "hmac"
	// ModeToken is a static bearer token (Authorization: Bearer or
	// X-Webhook-Token), all that ChirpStack and TTS can send.
	ModeToken Mode = "token"
)

// Secret prefixes, one per mode; a secret names its own mode.
const (
	PrefixStandard = "whsec_"
	PrefixHMAC     = "whmac_"
	PrefixToken    = "whtok_"
)

// SecretBytes is the number of random bytes in every generated secret.
const SecretBytes = 32

// Lengths of generated secrets: whsec_ + 44 padded base64 characters,
// whmac_/whtok_ + 43 unpadded base64url characters.
const (
	standardSecretLen = len(PrefixStandard) + 44
	urlSecretLen      = len(PrefixHMAC) + 43
)

// ErrInvalidMode reports a mode other than standard, hmac or token.
var ErrInvalidMode = errors.New("ingest: webhook secret mode must be standard, hmac or token")

// ErrMalformedSecret reports a string that is not a webhook secret of a
// known mode. It never quotes the string.
var ErrMalformedSecret = errors.New("ingest: malformed webhook secret")

// Valid reports whether m is one of the three modes.
func (m Mode) Valid() bool {
	switch m {
	case ModeStandard, ModeHMAC, ModeToken:
		return true
	}
	return false
}

// ParseMode parses a mode name (as the API and parkctl take it).
func ParseMode(s string) (Mode, error) {
	if m := Mode(s); m.Valid() {
		return m, nil
	}
	return "", ErrInvalidMode
}

// Prefix returns the secret prefix of m, or "" for an invalid mode.
func (m Mode) Prefix() string {
	switch m {
	case ModeStandard:
		return PrefixStandard
	case ModeHMAC:
		return PrefixHMAC
	case ModeToken:
		return PrefixToken
	}
	return ""
}

var (
	stdB64 = base64.StdEncoding.Strict()
	urlB64 = base64.RawURLEncoding.Strict()
)

// GenerateSecret returns a new random secret of the given mode, carrying 32
// random bytes: "whsec_" + standard base64 (padded, 44 characters) for
// standard, as Standard Webhooks libraries expect; "whmac_" or "whtok_" + 43
// unpadded base64url characters for hmac and token, so the secret survives
// headers, URLs and shells unquoted.
func GenerateSecret(mode Mode) (string, error) {
	if !mode.Valid() {
		return "", ErrInvalidMode
	}
	b := make([]byte, SecretBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("ingest: generate webhook secret: %w", err)
	}
	if mode == ModeStandard {
		return PrefixStandard + stdB64.EncodeToString(b), nil
	}
	return mode.Prefix() + urlB64.EncodeToString(b), nil
}

// ParseSecret checks a secret and returns its mode and the key that signs
// or authenticates with it: for standard the decoded bytes after "whsec_"
// (what Standard Webhooks keys its HMAC with); for hmac the whole secret
// string (the seed keys its HMAC with the string as written); for token the
// whole string (the value the sender presents).
//
// Only the canonical form GenerateSecret makes is accepted: the prefix, then
// exactly 32 bytes in the mode's encoding. Errors never quote s.
func ParseSecret(s string) (Mode, []byte, error) {
	switch {
	case strings.HasPrefix(s, PrefixStandard):
		if len(s) != standardSecretLen {
			return "", nil, ErrMalformedSecret
		}
		key, err := stdB64.DecodeString(s[len(PrefixStandard):])
		if err != nil || len(key) != SecretBytes {
			return "", nil, ErrMalformedSecret
		}
		return ModeStandard, key, nil
	case strings.HasPrefix(s, PrefixHMAC):
		if !validURLSecret(s, PrefixHMAC) {
			return "", nil, ErrMalformedSecret
		}
		return ModeHMAC, []byte(s), nil
	case strings.HasPrefix(s, PrefixToken):
		if !validURLSecret(s, PrefixToken) {
			return "", nil, ErrMalformedSecret
		}
		return ModeToken, []byte(s), nil
	}
	return "", nil, ErrMalformedSecret
}

func validURLSecret(s, prefix string) bool {
	if len(s) != urlSecretLen {
		return false
	}
	b, err := urlB64.DecodeString(s[len(prefix):])
	return err == nil && len(b) == SecretBytes
}
