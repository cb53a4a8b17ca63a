package ingest

import (
	"container/list"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Standard Webhooks limits (DESIGN §5).
const (
	// StandardTolerance is how far webhook-timestamp may be from now, either
	// way; exactly StandardTolerance is still accepted.
	StandardTolerance = 5 * time.Minute
	// ReplayWindow is how long a webhook-id stays refused after it was
	// accepted. It covers the whole ±StandardTolerance span, so a message
	// older than the window fails the timestamp check instead.
	ReplayWindow = 10 * time.Minute
	// MaxWebhookIDLen bounds webhook-id (it is stored by the replay guard).
	MaxWebhookIDLen = 256
	// MinVerifyKeyLen is the shortest key a verifier uses; shorter ones
	// (an empty key above all) are skipped, so a bad secret row fails
	// closed instead of letting anyone in.
	MinVerifyKeyLen = 16
)

// Header names. http.Header canonicalises them, so any case is accepted.
const (
	HeaderWebhookID        = "Webhook-Id"
	HeaderWebhookTimestamp = "Webhook-Timestamp"
	HeaderWebhookSignature = "Webhook-Signature"
	HeaderSignature        = "X-Webhook-Signature"
	HeaderToken            = "X-Webhook-Token"
	HeaderAuthorization    = "Authorization"
)

// ErrUnauthorized is every verification failure: the caller answers 401
// alike, whatever the reason. errors.Is(err, ErrUnauthorized) holds for all
// of them; ReasonOf tells them apart for metrics.
var ErrUnauthorized = errors.New("ingest: unauthorized")

// Reason says why a request failed verification, for metrics and logs
// only; it never reaches the client.
type Reason string

// The verification failure reasons.
const (
	ReasonMissing   Reason = "missing"   // a header the mode needs is absent
	ReasonMalformed Reason = "malformed" // a header is present but unparsable
	ReasonExpired   Reason = "expired"   // a valid signature outside the tolerance
	ReasonMismatch  Reason = "mismatch"  // no secret matches
	ReasonReplay    Reason = "replay"    // a webhook-id seen within ReplayWindow
	ReasonNoSecret  Reason = "no_secret" // the tenant has no usable secret of the mode
)

// VerifyError is a verification failure; it wraps ErrUnauthorized.
type VerifyError struct {
	Reason Reason
}

func (e *VerifyError) Error() string { return "ingest: unauthorized (" + string(e.Reason) + ")" }

// Unwrap returns ErrUnauthorized.
func (e *VerifyError) Unwrap() error { return ErrUnauthorized }

// ReasonOf returns the reason of a verification failure, or "" when err is
// not one.
func ReasonOf(err error) Reason {
	if ve, ok := errors.AsType[*VerifyError](err); ok {
		return ve.Reason
	}
	return ""
}

func unauthorized(r Reason) error { return &VerifyError{Reason: r} }

// dummyKey stands in when a tenant has no usable secret, so the request
// costs the same work as one checked against a single secret.
var dummyKey = make([]byte, SecretBytes)

// usableKeys drops keys shorter than MinVerifyKeyLen.
func usableKeys(secrets [][]byte) [][]byte {
	keys := make([][]byte, 0, len(secrets))
	for _, k := range secrets {
		if len(k) >= MinVerifyKeyLen {
			keys = append(keys, k)
		}
	}
	return keys
}

// singleHeader returns the one value of a header; present is false when it
// is absent or empty, ok is false when it is repeated.
func singleHeader(h http.Header, name string) (v string, present, ok bool) {
	vs := h.Values(name)
	switch len(vs) {
	case 0:
		return "", false, true
	case 1:
		v = strings.TrimSpace(vs[0])
		return v, v != "", true
	}
	return "", true, false
}

func macSHA256(key []byte, parts ...[]byte) []byte {
	m := hmac.New(sha256.New, key)
	for _, p := range parts {
		m.Write(p)
	}
	return m.Sum(nil)
}

// DetectMode tells which mode a request authenticates with, by its headers:
// webhook-signature → standard; X-Webhook-Signature → hmac;
// X-Webhook-Token, or Authorization: Bearer whtok_… → token. When several
// are present the first in that order wins; the request is then checked
// against secrets of that mode only. ok is false when none is present.
func DetectMode(h http.Header) (Mode, bool) {
	switch {
	case len(h.Values(HeaderWebhookSignature)) > 0:
		return ModeStandard, true
	case len(h.Values(HeaderSignature)) > 0:
		return ModeHMAC, true
	case len(h.Values(HeaderToken)) > 0:
		return ModeToken, true
	}
	if tok, ok := bearer(h.Get(HeaderAuthorization)); ok && strings.HasPrefix(tok, PrefixToken) {
		return ModeToken, true
	}
	return "", false
}

// bearer returns the token of an "Authorization: Bearer <token>" value; the
// scheme is case-insensitive (RFC 9110).
func bearer(v string) (string, bool) {
	scheme, tok, ok := strings.Cut(strings.TrimSpace(v), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

// VerifyStandard checks a Standard Webhooks request: the webhook-signature
// header is a space-separated list of "<version>,<base64>" entries, and a
// "v1" entry must equal the standard base64 of HMAC-SHA256 over
// "<webhook-id>.<webhook-timestamp>.<body>" keyed with one of secrets (the
// decoded bytes after "whsec_"); entries of other versions are ignored.
// webhook-timestamp is unix seconds within ±StandardTolerance of now. It
// returns the webhook-id, which the caller must pass to a ReplayGuard (see
// CheckStandard).
//
// webhook-id must be 1–256 printable ASCII characters without '.', so the
// signed content "id.timestamp.body" cannot be split two ways. The MAC is
// checked before the timestamp, so ReasonExpired means a genuine but stale
// (or clock-skewed) message, not a forgery.
func VerifyStandard(secrets [][]byte, h http.Header, body []byte, now time.Time) (webhookID string, err error) {
	id, idPresent, idOK := singleHeader(h, HeaderWebhookID)
	ts, tsPresent, tsOK := singleHeader(h, HeaderWebhookTimestamp)
	sigValues := h.Values(HeaderWebhookSignature)
	sigHeader := strings.TrimSpace(strings.Join(sigValues, " "))
	if !idPresent || !tsPresent || sigHeader == "" {
		return "", unauthorized(ReasonMissing)
	}
	if !idOK || !tsOK || !validWebhookID(id) {
		return "", unauthorized(ReasonMalformed)
	}
	unix, ok := parseUnixSeconds(ts)
	if !ok {
		return "", unauthorized(ReasonMalformed)
	}
	var sigs [][]byte
	for _, entry := range strings.Fields(sigHeader) {
		version, sig, ok := strings.Cut(entry, ",")
		if !ok || version != "v1" {
			continue
		}
		raw, err := base64.StdEncoding.DecodeString(sig)
		if err != nil || len(raw) != sha256.Size {
			continue
		}
		sigs = append(sigs, raw)
	}
	if len(sigs) == 0 {
		return "", unauthorized(ReasonMalformed)
	}

	keys := usableKeys(secrets)
	noKey := len(keys) == 0
	if noKey {
		keys = [][]byte{dummyKey}
	}
	prefix := []byte(id + "." + ts + ".")
	match := 0
	for _, key := range keys {
		want := macSHA256(key, prefix, body)
		for _, sig := range sigs {
			match |= subtle.ConstantTimeCompare(want, sig)
		}
	}
	switch {
	case noKey:
		return "", unauthorized(ReasonNoSecret)
	case match != 1:
		return "", unauthorized(ReasonMismatch)
	}
	if d := now.Unix() - unix; d > int64(StandardTolerance/time.Second) || d < -int64(StandardTolerance/time.Second) {
		return "", unauthorized(ReasonExpired)
	}
	return id, nil
}

func validWebhookID(id string) bool {
	if len(id) == 0 || len(id) > MaxWebhookIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c <= ' ' || c > '~' || c == '.' {
			return false
		}
	}
	return true
}

// parseUnixSeconds parses 1–12 decimal digits (no sign).
func parseUnixSeconds(s string) (int64, bool) {
	if len(s) == 0 || len(s) > 12 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// ReplayGuard remembers accepted Standard Webhooks message ids. Seen
// records (tenant, id) as seen at at and reports whether it had already
// been seen within ReplayWindow before at; a refused replay does not renew
// the record. Implementations must decide atomically (two concurrent calls
// with one id: exactly one gets false).
//
// Forget drops the record of (tenant, id): the message it let through was
// not stored (refused by a limit, malformed, or a server error), and a
// Standard Webhooks sender retries with the same id, which must then be
// taken, not refused as a replay. It is best effort and reports nothing.
type ReplayGuard interface {
	Seen(ctx context.Context, tenant, id string, at time.Time) (bool, error)
	Forget(ctx context.Context, tenant, id string)
}

// CheckStandard is VerifyStandard followed by replay protection: a
// webhook-id the guard has seen for this tenant within ReplayWindow fails
// with ReasonReplay. Only verified messages reach the guard, so nobody
// without a secret can fill it. A guard failure is returned as is (not
// ErrUnauthorized): the caller answers 5xx and the sender retries.
func CheckStandard(ctx context.Context, guard ReplayGuard, tenant string, secrets [][]byte, h http.Header, body []byte, now time.Time) (webhookID string, err error) {
	if guard == nil {
		return "", errors.New("ingest: CheckStandard without a replay guard")
	}
	id, err := VerifyStandard(secrets, h, body, now)
	if err != nil {
		return "", err
	}
	seen, err := guard.Seen(ctx, tenant, id, now)
	if err != nil {
		return "", fmt.Errorf("ingest: replay guard: %w", err)
	}
	if seen {
		return "", unauthorized(ReasonReplay)
	}
	return id, nil
}

// MemoryReplayGuard is an in-process ReplayGuard for tests and a single
// parkd instance. Entries expire after the window (by the times passed to
// Seen, so tests inject the clock); beyond max entries the oldest is
// dropped, which can only let a replay of that oldest message through —
// still inside the timestamp tolerance check.
type MemoryReplayGuard struct {
	window time.Duration
	max    int

	mu      sync.Mutex
	byKey   map[string]*list.Element
	byOrder *list.List // of *replayEntry, oldest first
}

type replayEntry struct {
	key string
	at  time.Time
}

// NewMemoryReplayGuard returns a guard remembering ids for window (≤ 0:
// ReplayWindow), at most max of them (≤ 0: 100,000).
func NewMemoryReplayGuard(window time.Duration, max int) *MemoryReplayGuard {
	if window <= 0 {
		window = ReplayWindow
	}
	if max <= 0 {
		max = 100_000
	}
	return &MemoryReplayGuard{window: window, max: max, byKey: make(map[string]*list.Element), byOrder: list.New()}
}

// Seen implements ReplayGuard.
func (g *MemoryReplayGuard) Seen(_ context.Context, tenant, id string, at time.Time) (bool, error) {
	key := tenant + "\x00" + id
	g.mu.Lock()
	defer g.mu.Unlock()
	g.evict(at)
	if el, ok := g.byKey[key]; ok {
		e := el.Value.(*replayEntry)
		if at.Sub(e.at) < g.window {
			return true, nil
		}
		e.at = at
		g.byOrder.MoveToBack(el)
		return false, nil
	}
	for g.byOrder.Len() >= g.max {
		g.remove(g.byOrder.Front())
	}
	g.byKey[key] = g.byOrder.PushBack(&replayEntry{key: key, at: at})
	return false, nil
}

// Forget implements ReplayGuard.
func (g *MemoryReplayGuard) Forget(_ context.Context, tenant, id string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if el, ok := g.byKey[tenant+"\x00"+id]; ok {
		g.remove(el)
	}
}

// Len returns the number of remembered ids.
func (g *MemoryReplayGuard) Len() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.byOrder.Len()
}

// evict drops entries at least window older than at, from the oldest.
func (g *MemoryReplayGuard) evict(at time.Time) {
	for el := g.byOrder.Front(); el != nil; el = g.byOrder.Front() {
		if at.Sub(el.Value.(*replayEntry).at) < g.window {
			return
		}
		g.remove(el)
	}
}

func (g *MemoryReplayGuard) remove(el *list.Element) {
	delete(g.byKey, el.Value.(*replayEntry).key)
	g.byOrder.Remove(el)
}

// VerifyHMAC checks the seed's scheme: X-Webhook-Signature is
// "sha256=<hex>" or bare hex (either case, the prefix too) of HMAC-SHA256
// over the raw body, keyed with one of secrets (each the whole secret
// string).
func VerifyHMAC(secrets [][]byte, h http.Header, body []byte) error {
	v, present, ok := singleHeader(h, HeaderSignature)
	if !present {
		return unauthorized(ReasonMissing)
	}
	if !ok {
		return unauthorized(ReasonMalformed)
	}
	if len(v) > len("sha256=") && strings.EqualFold(v[:len("sha256=")], "sha256=") {
		v = v[len("sha256="):]
	}
	if len(v) != hex.EncodedLen(sha256.Size) {
		return unauthorized(ReasonMalformed)
	}
	sig, err := hex.DecodeString(v)
	if err != nil {
		return unauthorized(ReasonMalformed)
	}
	keys := usableKeys(secrets)
	noKey := len(keys) == 0
	if noKey {
		keys = [][]byte{dummyKey}
	}
	match := 0
	for _, key := range keys {
		match |= subtle.ConstantTimeCompare(macSHA256(key, body), sig)
	}
	switch {
	case noKey:
		return unauthorized(ReasonNoSecret)
	case match != 1:
		return unauthorized(ReasonMismatch)
	}
	return nil
}

// VerifyToken checks a static token: X-Webhook-Token, else
// "Authorization: Bearer <token>", must equal one of secrets (each the whole
// secret string). SHA-256 digests are compared in constant time, so neither
// content nor length leaks.
func VerifyToken(secrets [][]byte, h http.Header) error {
	tok, present, ok := singleHeader(h, HeaderToken)
	if !ok {
		return unauthorized(ReasonMalformed)
	}
	if !present {
		auth, authPresent, authOK := singleHeader(h, HeaderAuthorization)
		if !authPresent {
			return unauthorized(ReasonMissing)
		}
		if !authOK {
			return unauthorized(ReasonMalformed)
		}
		if tok, ok = bearer(auth); !ok {
			return unauthorized(ReasonMalformed)
		}
	}
	keys := usableKeys(secrets)
	noKey := len(keys) == 0
	if noKey {
		keys = [][]byte{dummyKey}
	}
	got := sha256.Sum256([]byte(tok))
	match := 0
	for _, key := range keys {
		want := sha256.Sum256(key)
		match |= subtle.ConstantTimeCompare(want[:], got[:])
	}
	switch {
	case noKey:
		return unauthorized(ReasonNoSecret)
	case match != 1:
		return unauthorized(ReasonMismatch)
	}
	return nil
}
