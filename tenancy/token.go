package tenancy

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// Token defaults (DESIGN §4).
const (
	DefaultAccessTTL  = 15 * time.Minute
	DefaultRefreshTTL = 30 * 24 * time.Hour
	TokenIssuer       = "parkd"
	TokenAudience     = "park-api"
	tokenLeeway       = 30 * time.Second
	// MinJWTSecretLen is the shortest HS256 secret parkd accepts.
	MinJWTSecretLen = 32
)

// Token verification failures, distinguished for the auth-failure metric;
// every one answers 401 alike.
var (
	ErrTokenExpired = errors.New("token expired")
	ErrTokenInvalid = errors.New("token invalid")
)

// AccessClaims are the claims of an access token.
type AccessClaims struct {
	TenantID     uuid.UUID `json:"tid"`
	TokenVersion int       `json:"ver"`
	jwt.RegisteredClaims
}

// UserID is the subject as a UUID.
func (c *AccessClaims) UserID() (uuid.UUID, error) { return uuid.Parse(c.Subject) }

// Tokens issues and verifies HS256 access tokens. The current secret signs;
// the previous one (during a rotation) still verifies. Each secret is named
// in the header by a kid derived from it, so no configuration names keys.
type Tokens struct {
	current, previous []byte
	kid, prevKID      string
	ttl               time.Duration
	now               func() time.Time
	verified          *verifiedTokens
}

// NewTokens makes a Tokens; previous may be nil. now may be nil (time.Now).
func NewTokens(current, previous []byte, ttl time.Duration, now func() time.Time) (*Tokens, error) {
	if len(current) < MinJWTSecretLen {
		return nil, fmt.Errorf("JWT secret must be at least %d bytes", MinJWTSecretLen)
	}
	if previous != nil && len(previous) < MinJWTSecretLen {
		return nil, fmt.Errorf("previous JWT secret must be at least %d bytes", MinJWTSecretLen)
	}
	if ttl <= 0 {
		ttl = DefaultAccessTTL
	}
	if now == nil {
		now = time.Now
	}
	t := &Tokens{current: current, kid: keyID(current), ttl: ttl, now: now, verified: newVerifiedTokens(MaxVerifiedTokens)}
	if previous != nil {
		t.previous, t.prevKID = previous, keyID(previous)
	}
	return t, nil
}

func keyID(secret []byte) string {
	h := sha256.Sum256(append([]byte("park jwt kid\x00"), secret...))
	return hex.EncodeToString(h[:6])
}

// TTL is the lifetime of an access token.
func (t *Tokens) TTL() time.Duration { return t.ttl }

// Issue signs an access token for user in tenant.
func (t *Tokens) Issue(userID, tenantID uuid.UUID, tokenVersion int) (string, *AccessClaims, error) {
	now := t.now()
	claims := &AccessClaims{
		TenantID:     tenantID,
		TokenVersion: tokenVersion,
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    TokenIssuer,
			Audience:  jwt.ClaimStrings{TokenAudience},
			Subject:   userID.String(),
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(t.ttl)),
			ID:        uuid.NewString(),
		},
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, claims)
	tok.Header["kid"] = t.kid
	s, err := tok.SignedString(t.current)
	if err != nil {
		return "", nil, fmt.Errorf("sign token: %w", err)
	}
	return s, claims, nil
}

// Verify checks an access token: HS256 only, our issuer and audience, an
// expiry (with a small leeway), a known kid. It is stricter than the JWT
// library on what Issue never makes: a crit header (an extension we cannot
// honour, RFC 7515 §4.1.11), a time claim that is not a JSON number (a
// string "exp" the library would read as a number), no iat, and a lifetime
// exp − iat beyond the access TTL plus the leeway (a token minted for longer
// than this server would ever issue, e.g. with a leaked secret).
//
// A token that passed is remembered, keyed by the whole token, until its
// exp (not exp plus the leeway): a client sends the same token on every
// request for up to DefaultAccessTTL, and parsing it and checking its HMAC
// every time was a fifth of the server's own cost of a small read. Any
// change to a remembered token is another key, checked in full. Only
// verification is remembered: the caller (Auth.PrincipalFromToken) still
// checks membership and token_version on every request. The returned
// claims are the caller's own copy; their Audience and time pointers are
// shared and must not be modified.
func (t *Tokens) Verify(token string) (*AccessClaims, error) {
	now := t.now()
	if c, ok := t.verified.get(token, now); ok {
		return &c, nil
	}
	claims, err := t.verify(token)
	if err != nil {
		return nil, err
	}
	t.verified.put(token, *claims, claims.ExpiresAt.Time, now)
	return claims, nil
}

// verify is Verify without the memory of verified tokens.
func (t *Tokens) verify(token string) (*AccessClaims, error) {
	claims := &AccessClaims{}
	parser := jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(TokenIssuer),
		jwt.WithAudience(TokenAudience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(tokenLeeway),
		jwt.WithTimeFunc(t.now),
	)
	_, err := parser.ParseWithClaims(token, claims, func(tok *jwt.Token) (any, error) {
		if _, ok := tok.Header["crit"]; ok {
			return nil, errors.New("crit header")
		}
		if err := numericTimeClaims(tok.Raw); err != nil {
			return nil, err
		}
		kid, _ := tok.Header["kid"].(string)
		switch {
		case kid == t.kid:
			return t.current, nil
		case t.previous != nil && kid == t.prevKID:
			return t.previous, nil
		}
		return nil, errors.New("unknown kid")
	})
	if err != nil {
		if errors.Is(err, jwt.ErrTokenExpired) {
			return nil, ErrTokenExpired
		}
		return nil, fmt.Errorf("%w: %v", ErrTokenInvalid, err)
	}
	if _, err := claims.UserID(); err != nil || claims.TenantID == uuid.Nil || claims.ID == "" {
		return nil, fmt.Errorf("%w: missing subject, tenant or id", ErrTokenInvalid)
	}
	if claims.IssuedAt == nil {
		return nil, fmt.Errorf("%w: no iat", ErrTokenInvalid)
	}
	if life := claims.ExpiresAt.Sub(claims.IssuedAt.Time); life > t.ttl+tokenLeeway {
		return nil, fmt.Errorf("%w: lifetime %s exceeds %s", ErrTokenInvalid, life, t.ttl+tokenLeeway)
	}
	return claims, nil
}

// numericTimeClaims refuses a token whose exp, iat or nbf is present but not
// a JSON number: RFC 7519 §2 defines NumericDate as a number, and the JWT
// library would also accept a numeric string.
func numericTimeClaims(raw string) error {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return errors.New("malformed token")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return errors.New("malformed payload")
	}
	var times struct {
		Exp, Iat, Nbf json.RawMessage
	}
	if err := json.Unmarshal(payload, &times); err != nil {
		return errors.New("malformed payload")
	}
	for name, v := range map[string]json.RawMessage{"exp": times.Exp, "iat": times.Iat, "nbf": times.Nbf} {
		v = bytes.TrimSpace(v)
		if len(v) > 0 && v[0] != '-' && (v[0] < '0' || v[0] > '9') {
			return fmt.Errorf("%s is not a number", name)
		}
	}
	return nil
}

// MaxVerifiedTokens bounds how many verified access tokens a Tokens
// remembers (about 600 bytes each): more than the tokens a server's users
// hold at once, and a few megabytes at most.
const MaxVerifiedTokens = 10_000

// verifiedTokens remembers the claims of verified access tokens until each
// token's exp. It holds at most max entries; when full it drops the
// expired ones, and if none are, everything (so a flood of distinct valid
// tokens costs one sweep per max insertions, and a cold cache is only
// slower).
type verifiedTokens struct {
	mu      sync.RWMutex
	max     int
	entries map[string]verifiedToken
}

type verifiedToken struct {
	claims AccessClaims
	exp    time.Time // not trusted from this instant on
}

func newVerifiedTokens(max int) *verifiedTokens {
	return &verifiedTokens{max: max, entries: make(map[string]verifiedToken)}
}

// get returns the claims of token if it was verified and now is before its
// exp.
func (c *verifiedTokens) get(token string, now time.Time) (AccessClaims, bool) {
	c.mu.RLock()
	e, ok := c.entries[token]
	c.mu.RUnlock()
	if !ok || !now.Before(e.exp) {
		return AccessClaims{}, false
	}
	return e.claims, true
}

// put remembers a verified token until exp; a token already at or past its
// exp (accepted within the leeway) is not remembered.
func (c *verifiedTokens) put(token string, claims AccessClaims, exp, now time.Time) {
	if !now.Before(exp) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[token]; !ok && len(c.entries) >= c.max {
		for k, e := range c.entries {
			if !now.Before(e.exp) {
				delete(c.entries, k)
			}
		}
		if len(c.entries) >= c.max {
			clear(c.entries)
		}
	}
	c.entries[token] = verifiedToken{claims: claims, exp: exp}
}

// len is the number of remembered tokens, expired ones included.
func (c *verifiedTokens) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.entries)
}

// refreshTokenPrefix marks Park refresh tokens.
const refreshTokenPrefix = "prt_"

// GenerateRefreshToken returns a new opaque refresh token and the hash the
// database stores.
func GenerateRefreshToken() (token string, hash [32]byte, err error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", hash, err
	}
	token = refreshTokenPrefix + base64.RawURLEncoding.EncodeToString(b)
	return token, sha256.Sum256([]byte(token)), nil
}

// HashRefreshToken returns the stored form of a presented refresh token, or
// false when it cannot be one (wrong prefix or length), without a database
// trip.
func HashRefreshToken(token string) ([32]byte, bool) {
	if len(token) != len(refreshTokenPrefix)+43 || token[:len(refreshTokenPrefix)] != refreshTokenPrefix {
		return [32]byte{}, false
	}
	if _, err := base64.RawURLEncoding.DecodeString(token[len(refreshTokenPrefix):]); err != nil {
		return [32]byte{}, false
	}
	return sha256.Sum256([]byte(token)), true
}
