package ratelimit

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"time"
)

// Names of the default policies. They appear in keys, in the RateLimit
// headers and as the policy label of park_ratelimit_decisions_total.
const (
	NameAPI          = "api"            // per tenant, every authenticated API request
	NameWebhook      = "webhook"        // per tenant, every authenticated uplink
	NameOrphan       = "orphan"         // per tenant, uplinks from unknown devices
	NameLoginEmailIP = "login_email_ip" // per (email, client IP)
	NameLoginEmail   = "login_email"    // per email
	NameLoginIP      = "login_ip"       // per client IP
	NameRefresh      = "refresh"        // per client IP, token refresh and logout
)

// Bounds of a Policy. The GCRA works in whole microseconds, so a rate above
// MaxRate would round its emission interval to zero; a window beyond
// MaxWindow protects nothing a shorter one does not, and keeps every
// quantity far inside the 2^53 that Lua's numbers hold exactly.
const (
	MaxRate   = 1e6
	MaxBurst  = 1 << 30
	MaxWindow = 366 * 24 * time.Hour
)

const maxNameLen = 64

// FailMode says what a FallbackLimiter does with a policy while Redis is
// unavailable.
type FailMode uint8

const (
	// FailLocal keeps limiting in process (fail open to local limiting):
	// each server then admits up to the full policy, so N servers admit up
	// to N times it until Redis is back. It is the zero value.
	FailLocal FailMode = iota
	// FailClosed denies every request of the policy until Redis is back.
	FailClosed
)

// String returns "local" or "closed".
func (m FailMode) String() string {
	switch m {
	case FailLocal:
		return "local"
	case FailClosed:
		return "closed"
	}
	return fmt.Sprintf("FailMode(%d)", m)
}

// Policy is one limit: a sustained Rate per second, and a Burst that may
// arrive at once after a quiet period. "10 per minute, burst 10" is
// Policy{Name: "login", Rate: 10.0 / 60, Burst: 10}, or
// PerMinute("login", 10, 10).
//
// Policy is comparable, so it can be a map key or compared with ==.
type Policy struct {
	// Name identifies the policy in keys, headers and metrics. It must be
	// 1–64 characters from [A-Za-z0-9_.-] and come from a small, fixed
	// set: it is a metric label, so never put a tenant or a user in it.
	Name string
	// Rate is the sustained rate in events per second, in (0, MaxRate].
	Rate float64
	// Burst is how many events are admitted at once from a full quota, in
	// [1, MaxBurst]; it is also the quota q of the RateLimit-Policy header.
	Burst int
	// OnOutage applies in a FallbackLimiter while Redis is unavailable.
	OnOutage FailMode
}

// PerSecond returns the policy name of rate events per second with the
// given burst.
func PerSecond(name string, rate float64, burst int) Policy {
	return Policy{Name: name, Rate: rate, Burst: burst}
}

// PerMinute returns the policy name of n events per minute with the given
// burst.
func PerMinute(name string, n float64, burst int) Policy {
	return Policy{Name: name, Rate: n / 60, Burst: burst}
}

// Validate reports whether p can be used, as an error wrapping
// ErrInvalidPolicy.
func (p Policy) Validate() error {
	if err := validName(p.Name); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidPolicy, err)
	}
	if !(p.Rate > 0 && p.Rate <= MaxRate) { // also refuses NaN
		return fmt.Errorf("%w: %s: rate %v is not in (0, %g] per second", ErrInvalidPolicy, p.Name, p.Rate, float64(MaxRate))
	}
	if p.Burst < 1 || p.Burst > MaxBurst {
		return fmt.Errorf("%w: %s: burst %d is not in [1, %d]", ErrInvalidPolicy, p.Name, p.Burst, MaxBurst)
	}
	if w := time.Duration(p.tolerance()) * time.Microsecond; w > MaxWindow {
		return fmt.Errorf("%w: %s: burst %d at %v per second takes %v to refill, more than %v", ErrInvalidPolicy, p.Name, p.Burst, p.Rate, w, MaxWindow)
	}
	if p.OnOutage > FailClosed {
		return fmt.Errorf("%w: %s: unknown fail mode %d", ErrInvalidPolicy, p.Name, p.OnOutage)
	}
	return nil
}

// interval is the GCRA emission interval: microseconds per event, at
// least 1.
func (p Policy) interval() int64 {
	return max(1, int64(math.Round(1e6/p.Rate)))
}

// tolerance is the time one full burst takes to refill, in microseconds.
// Validate bounds Burst and Rate first, so it cannot overflow.
func (p Policy) tolerance() int64 {
	return p.interval() * int64(p.Burst)
}

// Window returns the time an empty quota takes to refill completely: Burst
// emission intervals. Rounded up to seconds it is the w of the
// RateLimit-Policy header.
func (p Policy) Window() time.Duration {
	return time.Duration(p.tolerance()) * time.Microsecond
}

func validName(s string) error {
	if s == "" || len(s) > maxNameLen {
		return fmt.Errorf("policy name %q must have 1 to %d characters", s, maxNameLen)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '.' || c == '-') {
			return fmt.Errorf("policy name %q may only contain A-Z, a-z, 0-9, '_', '.' and '-'", s)
		}
	}
	return nil
}

// Key returns the key that limits scope under policy:
// "park:rl:{scope}:policy". The braces make scope the Redis Cluster hash
// tag, so every key of a tenant (scope = the tenant's UUID) lives in one
// slot. Distinct (policy, scope) pairs give distinct keys. Scope should
// not carry personal data: see ScopeHasher.
func Key(policy, scope string) string {
	return "park:rl:{" + scope + "}:" + policy
}

// ScopeHasher makes the scopes of keys built from data that must not be
// stored in the clear or be recomputable from a guess (an email, a client
// IP): HMAC-SHA256 under a key only the servers hold. A plain hash would
// not do: anyone who reads Redis could hash a list of emails or the
// whole IPv4 space and match the keys.
//
// Every server that shares a Redis must use the same secret, or their
// limits on these keys would not add up. Changing the secret moves every
// such key, so their counters start afresh — an accepted cost of a
// rotation.
type ScopeHasher struct {
	key []byte
}

// scopeKeyLabel separates the limit-key digest's key from every other use
// of the secret it is derived from.
const scopeKeyLabel = "park ratelimit key v1"

// NewScopeHasher returns a hasher whose key is HMAC-SHA256(secret, "park
// ratelimit key v1"): derived, so the secret itself (a JWT signing key,
// say) is never used for two purposes. secret must have at least 32
// bytes.
func NewScopeHasher(secret []byte) (*ScopeHasher, error) {
	if len(secret) < 32 {
		return nil, fmt.Errorf("ratelimit: the scope secret has %d bytes, want at least 32", len(secret))
	}
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(scopeKeyLabel))
	return &ScopeHasher{key: m.Sum(nil)}, nil
}

// Scope returns a scope made of parts: 32 hex digits of an HMAC-SHA256
// over the length-prefixed parts, so ("a", "bc") and ("ab", "c") differ.
// Normalise the parts first (lowercase an email, mask an IP to the
// network it is limited by).
func (h *ScopeHasher) Scope(parts ...string) string {
	m := hmac.New(sha256.New, h.key)
	var n [8]byte
	for _, p := range parts {
		binary.BigEndian.PutUint64(n[:], uint64(len(p)))
		m.Write(n[:])
		m.Write([]byte(p))
	}
	return hex.EncodeToString(m.Sum(nil)[:16])
}
