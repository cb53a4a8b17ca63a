package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/parkhq/park/tenancy"
)

// StatusIgnored answers a ChirpStack event other than "up" (join, status,
// ack, txack, log, location, integration): authenticated, then dropped.
const StatusIgnored Status = "ignored"

// ErrSuspended refuses a webhook of a suspended tenant. It is told only to
// a sender whose secret is valid; anyone else gets ErrUnauthorized, as for
// an unknown slug.
var ErrSuspended = errors.New("ingest: tenant suspended")

// TenantLookup finds the tenant a webhook URL names (tenancy.Store's
// WebhookTenant); an unknown slug is tenancy.ErrNotFound.
type TenantLookup func(ctx context.Context, slug string) (*tenancy.WebhookTenant, error)

// IntakeOptions tune an Intake; zero values take the defaults.
type IntakeOptions struct {
	// Guard refuses replayed Standard Webhooks message ids: a
	// RedisReplayGuard to share the window across instances; nil means an
	// in-process MemoryReplayGuard (one parkd instance).
	Guard ReplayGuard
	// Now is the clock of signatures, replay and arrival; nil means
	// time.Now.
	Now func() time.Time
	// Logger receives failures to record a secret's use; nil discards.
	Logger *slog.Logger
	// AuthCacheTTL is how long a slug's tenant and a tenant's opened
	// secrets are reused (see DefaultAuthCacheTTL, which 0 means); a
	// negative value reads them afresh for every request.
	AuthCacheTTL time.Duration
}

// Intake takes webhook requests from network servers: it authenticates them
// against the tenant's secrets and hands decoded uplinks to the writer. It
// knows nothing of HTTP responses; internal/httpapi turns its results and
// errors into answers.
type Intake struct {
	lookup TenantLookup
	store  *Store
	writer *Writer
	guard  ReplayGuard
	now    func() time.Time
	logger *slog.Logger
	cache  *authCache // nil: no caching

	mu   sync.Mutex
	used map[uuid.UUID]time.Time // when each secret's use was last written
}

// maxReplayEntries bounds the in-process replay guard.
const maxReplayEntries = 100_000

// NewIntake returns an Intake that finds tenants with lookup, reads secrets
// from store and stores uplinks through writer.
func NewIntake(lookup TenantLookup, store *Store, writer *Writer, opts IntakeOptions) *Intake {
	in := &Intake{lookup: lookup, store: store, writer: writer, guard: opts.Guard, now: opts.Now,
		logger: opts.Logger, used: map[uuid.UUID]time.Time{}}
	if in.guard == nil {
		in.guard = NewMemoryReplayGuard(ReplayWindow, maxReplayEntries)
	}
	if in.now == nil {
		in.now = time.Now
	}
	if in.logger == nil {
		in.logger = slog.New(slog.DiscardHandler)
	}
	switch {
	case opts.AuthCacheTTL == 0:
		in.cache = newAuthCache(DefaultAuthCacheTTL)
	case opts.AuthCacheTTL > 0:
		in.cache = newAuthCache(opts.AuthCacheTTL)
	}
	return in
}

// Authenticate checks a webhook request for the tenant slug names. The
// request is checked only against the tenant's live secrets of the mode its
// headers use (DetectMode). A failure is an error wrapping ErrUnauthorized
// (ReasonOf tells why, for metrics); a valid request of a suspended tenant
// is ErrSuspended. Other errors are the server's (5xx).
//
// An unknown slug takes the same path as a tenant without secrets: the
// secrets of a made-up tenant id are read (none) and a dummy key is
// checked, so the answer and its time do not tell whether the slug exists.
//
// The tenant and its opened secrets come from the intake's cache while it
// is fresh (DefaultAuthCacheTTL). A request that the cached view refuses
// for want of a matching secret, or as suspended, is checked once more
// against a fresh read, so a secret rotated a moment ago works at once; a
// revocation or suspension takes effect when the cached view expires.
func (in *Intake) Authenticate(ctx context.Context, slug string, h http.Header, body []byte) (*tenancy.WebhookTenant, error) {
	now := in.now()
	mode, ok := DetectMode(h)
	if !ok {
		return nil, unauthorized(ReasonMissing)
	}
	t, cached, err := in.authenticate(ctx, slug, mode, h, body, now, in.cache != nil)
	if cached && refetchable(err) {
		t, _, err = in.authenticate(ctx, slug, mode, h, body, now, false)
	}
	return t, err
}

// Forget undoes what Authenticate recorded of a Standard Webhooks request
// of tenant whose message was then not stored (the tenant's limit refused
// it, it was malformed, or the server failed): the sender retries with the
// same webhook-id, which must be taken then, not refused as a replay. Other
// modes record nothing, and Forget does nothing for them.
func (in *Intake) Forget(ctx context.Context, tenant uuid.UUID, h http.Header) {
	if mode, ok := DetectMode(h); !ok || mode != ModeStandard {
		return
	}
	// The id as VerifyStandard took it: a request that reached the guard
	// had exactly one well-formed webhook-id.
	if id, _, ok := singleHeader(h, HeaderWebhookID); ok && validWebhookID(id) {
		in.guard.Forget(ctx, tenant.String(), id)
	}
}

// refetchable tells the failures a stale cache can cause: a secret it does
// not hold yet, a tenant it still sees as suspended.
func refetchable(err error) bool {
	if errors.Is(err, ErrSuspended) {
		return true
	}
	r := ReasonOf(err)
	return r == ReasonMismatch || r == ReasonNoSecret
}

// authenticate is one attempt of Authenticate, with the cache (useCache)
// or with fresh reads, which then refill the cache; cached reports whether
// anything came from the cache.
func (in *Intake) authenticate(ctx context.Context, slug string, mode Mode, h http.Header, body []byte,
	now time.Time, useCache bool) (t *tenancy.WebhookTenant, cached bool, err error) {
	var ct cachedTenant
	hit := false
	if useCache {
		ct, hit = in.cache.tenant(slug, now)
	}
	if hit {
		cached = true
	} else {
		t, err := in.lookup(ctx, slug)
		if err != nil && !errors.Is(err, tenancy.ErrNotFound) {
			return nil, cached, err
		}
		ct = cachedTenant{tenant: t, id: uuid.New(), at: now}
		if t != nil {
			ct.id = t.ID
		}
		if in.cache != nil {
			in.cache.putTenant(slug, ct)
		}
	}
	t = ct.tenant
	known := t != nil

	var keys []VerifyKey
	hit = false
	if useCache {
		keys, hit = in.cache.verifyKeys(ct.id, mode, now)
	}
	if hit {
		cached = true
	} else {
		if keys, err = in.store.VerifyKeys(ctx, ct.id, mode); err != nil {
			return nil, cached, err
		}
		if in.cache != nil {
			in.cache.putVerifyKeys(ct.id, mode, keys, now)
		}
	}
	if mode == ModeToken && known && t.Settings.WebhookTokenMode != nil && !*t.Settings.WebhookTokenMode {
		keys = nil // the tenant forbids token mode: no token can match
	}
	idx, webhookID, err := verifyAny(mode, keys, h, body, now)
	if err != nil {
		return nil, cached, err
	}
	if !known {
		// Unreachable (a made-up tenant has no keys), and kept so that it
		// stays so.
		return nil, cached, unauthorized(ReasonNoSecret)
	}
	// A suspended tenant's message is refused before the replay guard
	// records it, so that it is taken when the sender retries after the
	// tenant is reactivated (and the fresh read that follows a cached
	// "suspended" does not find it recorded).
	if t.Status == tenancy.StatusSuspended {
		return nil, cached, ErrSuspended
	}
	if mode == ModeStandard {
		seen, err := in.guard.Seen(ctx, t.ID.String(), webhookID, now)
		if err != nil {
			return nil, cached, fmt.Errorf("ingest: replay guard: %w", err)
		}
		if seen {
			return nil, cached, unauthorized(ReasonReplay)
		}
	}
	in.markUsed(ctx, t.ID, keys[idx].ID, now)
	return t, cached, nil
}

// verifyAny checks the request against each key alone, so the key that
// matched is known (for last_used_at), and returns its index. A key past
// its ExpiresAt is skipped (a cached key ends on time). With no live keys,
// a dummy key is checked so the work is the same and the answer is
// ReasonNoSecret. Of the failures, the most telling reason is returned: a
// malformed or stale request says so whatever the keys.
func verifyAny(mode Mode, keys []VerifyKey, h http.Header, body []byte, now time.Time) (int, string, error) {
	var last error
	for i, k := range keys {
		if k.ExpiresAt != nil && !k.ExpiresAt.After(now) {
			continue
		}
		id, err := verifyOne(mode, k.Key, h, body, now)
		if err == nil {
			return i, id, nil
		}
		if last == nil || ReasonOf(last) == ReasonMismatch {
			last = err
		}
	}
	if last == nil {
		_, _ = verifyOne(mode, dummyKey, h, body, now)
		return -1, "", unauthorized(ReasonNoSecret)
	}
	return -1, "", last
}

// verifyOne checks the request against one key of mode.
func verifyOne(mode Mode, key []byte, h http.Header, body []byte, now time.Time) (string, error) {
	one := [][]byte{key}
	switch mode {
	case ModeStandard:
		return VerifyStandard(one, h, body, now)
	case ModeHMAC:
		return "", VerifyHMAC(one, h, body)
	case ModeToken:
		return "", VerifyToken(one, h)
	}
	return "", unauthorized(ReasonMalformed)
}

// markUsed records a secret's use at most once per SecretUseInterval per
// process (the database throttles across processes too). A failure is
// logged: it must not fail a reading.
func (in *Intake) markUsed(ctx context.Context, tenantID, secretID uuid.UUID, now time.Time) {
	in.mu.Lock()
	last, ok := in.used[secretID]
	due := !ok || now.Sub(last) >= SecretUseInterval
	if due {
		in.used[secretID] = now
	}
	if len(in.used) > maxReplayEntries {
		clear(in.used) // a bound, not a cache policy: at worst a few more writes
	}
	in.mu.Unlock()
	if !due {
		return
	}
	if err := in.store.SecretUsed(ctx, tenantID, secretID); err != nil {
		in.logger.Warn("webhook secret use not recorded", "tenant", tenantID, "secret", secretID, "err", err)
	}
}

// Accept decodes body as an uplink of src for tenant t (whose occupancy
// rule reads the payload) and stores it through the writer; the returned
// status is known only once the reading is committed. A malformed body is a
// *DecodeError and nothing is written.
func (in *Intake) Accept(ctx context.Context, t *tenancy.WebhookTenant, src Source, body []byte, arrival time.Time) (Status, error) {
	var u *Uplink
	var err error
	switch src {
	case SourceChirpStack:
		u, err = DecodeChirpStack(body, arrival, t.Settings.Occupancy)
	case SourceTTS:
		u, err = DecodeTTS(body, arrival, t.Settings.Occupancy)
	case SourceGeneric:
		u, err = DecodeGeneric(body, arrival, t.Settings.Occupancy)
	default:
		return "", fmt.Errorf("ingest: unknown source %q", src)
	}
	if err != nil {
		return "", err
	}
	return in.writer.Submit(ctx, t.ID, u)
}

// ForgetSecrets drops what this Intake cached of the tenant's secrets, so a
// revocation made through this process holds at once here (other processes
// stop accepting the secret within the cache TTL), as tenancy.Auth's
// ForgetKey does for API keys.
func (in *Intake) ForgetSecrets(tenantID uuid.UUID) {
	if in.cache != nil {
		in.cache.forgetKeys(tenantID)
	}
}

// Now returns the intake's clock reading, the arrival time of a request.
func (in *Intake) Now() time.Time { return in.now() }
