package ingest_test

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parkhq/park/ingest"
	"github.com/parkhq/park/tenancy"
)

// cacheFixture is an Intake on a secret fixture's store and clock, whose
// tenant look-ups are counted.
type cacheFixture struct {
	*secretFixture
	slug    string
	lookups atomic.Int64
	intake  *ingest.Intake
}

func newCacheFixture(t *testing.T, ttl time.Duration) *cacheFixture {
	t.Helper()
	f := &cacheFixture{secretFixture: newSecretFixture(t, keyring(t, 1, 1))}
	if err := f.db.AdminPool(t).QueryRow(context.Background(),
		`select slug from tenants where id = $1`, f.tenant).Scan(&f.slug); err != nil {
		t.Fatal(err)
	}
	tenants := tenancy.NewStore(execPool(t, f.db))
	lookup := func(ctx context.Context, slug string) (*tenancy.WebhookTenant, error) {
		f.lookups.Add(1)
		return tenants.WebhookTenant(ctx, slug)
	}
	f.intake = ingest.NewIntake(lookup, f.store, nil, ingest.IntakeOptions{Now: f.clock.Now, AuthCacheTTL: ttl})
	return f
}

// auth authenticates a token-mode request bearing token.
func (f *cacheFixture) auth(token string) error {
	h := http.Header{}
	h.Set(ingest.HeaderToken, token)
	_, err := f.intake.Authenticate(context.Background(), f.slug, h, []byte(`{}`))
	return err
}

func mustAuth(t *testing.T, f *cacheFixture, token, what string) {
	t.Helper()
	if err := f.auth(token); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func mustRefuse(t *testing.T, f *cacheFixture, token, what string, want error) {
	t.Helper()
	if err := f.auth(token); !errors.Is(err, want) {
		t.Fatalf("%s: got %v, want %v", what, err, want)
	}
}

// TestIntakeAuthCacheTTL: within the TTL a slug's tenant is read once;
// once the TTL has passed on the intake's clock it is read again. A
// negative TTL reads it for every request.
func TestIntakeAuthCacheTTL(t *testing.T) {
	const ttl = 5 * time.Second
	f := newCacheFixture(t, ttl)
	_, tok := f.rotate(t, ingest.ModeToken, nil)
	mustAuth(t, f, tok, "first")
	if n := f.lookups.Load(); n != 1 {
		t.Fatalf("first request: %d look-ups, want 1", n)
	}
	for range 5 {
		mustAuth(t, f, tok, "cached")
	}
	f.clock.Add(ttl - time.Microsecond)
	mustAuth(t, f, tok, "just within the TTL")
	if n := f.lookups.Load(); n != 1 {
		t.Fatalf("within the TTL: %d look-ups, want 1", n)
	}
	f.clock.Add(time.Microsecond)
	mustAuth(t, f, tok, "at the TTL")
	if n := f.lookups.Load(); n != 2 {
		t.Fatalf("at the TTL: %d look-ups, want 2", n)
	}

	off := newCacheFixture(t, -1)
	_, tok = off.rotate(t, ingest.ModeToken, nil)
	for range 3 {
		mustAuth(t, off, tok, "uncached")
	}
	if n := off.lookups.Load(); n != 3 {
		t.Fatalf("cache off: %d look-ups, want 3", n)
	}
}

// TestIntakeCacheRotateThenUse: a secret rotated while the old view is
// cached works at once — both for a tenant that had a secret and for one
// whose "no secret" answer was cached — and the previous secret keeps its
// grace.
func TestIntakeCacheRotateThenUse(t *testing.T) {
	f := newCacheFixture(t, time.Hour)
	mustRefuse(t, f, "whtok_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"no secret yet", ingest.ErrUnauthorized)
	_, first := f.rotate(t, ingest.ModeToken, nil)
	mustAuth(t, f, first, "first secret right after the cached refusal")
	_, second := f.rotate(t, ingest.ModeToken, dur(time.Minute))
	mustAuth(t, f, second, "rotated secret at once")
	mustAuth(t, f, first, "previous secret within its grace")
	mustAuth(t, f, second, "rotated secret, cached")
}

// TestIntakeCacheGraceEndsOnTime: a cached secret whose rotation grace ends
// stops verifying at that instant, not a TTL later.
func TestIntakeCacheGraceEndsOnTime(t *testing.T) {
	f := newCacheFixture(t, time.Hour)
	_, old := f.rotate(t, ingest.ModeToken, nil)
	_, cur := f.rotate(t, ingest.ModeToken, dur(time.Minute))
	mustAuth(t, f, old, "previous secret within its grace")
	mustAuth(t, f, cur, "current secret")
	before := f.lookups.Load()
	f.clock.Add(time.Minute)
	mustRefuse(t, f, old, "previous secret after its grace", ingest.ErrUnauthorized)
	mustAuth(t, f, cur, "current secret after the grace")
	if f.lookups.Load() == before {
		t.Fatal("the refusal was not checked against a fresh read")
	}
}

// TestIntakeCacheRevocation: a revoked secret is refused once the TTL has
// passed (within it, the cached view may still take it: that is the
// documented bound); a suspension likewise.
func TestIntakeCacheRevocation(t *testing.T) {
	const ttl = 5 * time.Second
	f := newCacheFixture(t, ttl)
	sec, tok := f.rotate(t, ingest.ModeToken, nil)
	mustAuth(t, f, tok, "before revocation")
	if _, err := f.store.SecretRevoke(context.Background(), f.tenant, sec.ID, "operator:test"); err != nil {
		t.Fatal(err)
	}
	f.clock.Add(ttl)
	mustRefuse(t, f, tok, "revoked secret after the TTL", ingest.ErrUnauthorized)

	_, tok = f.rotate(t, ingest.ModeToken, nil)
	mustAuth(t, f, tok, "new secret")
	if _, err := f.db.AdminPool(t).Exec(context.Background(),
		`update tenants set status = 'suspended' where id = $1`, f.tenant); err != nil {
		t.Fatal(err)
	}
	f.clock.Add(ttl)
	mustRefuse(t, f, tok, "suspended tenant after the TTL", ingest.ErrSuspended)
	if _, err := f.db.AdminPool(t).Exec(context.Background(),
		`update tenants set status = 'active' where id = $1`, f.tenant); err != nil {
		t.Fatal(err)
	}
	mustAuth(t, f, tok, "reactivated tenant at once")
}

// TestIntakeCacheUnknownSlug: an unknown slug is refused like a tenant
// without secrets and takes the same path as a known tenant's refusal: the
// first request reads afresh, and each later one is refused by the cached
// view and checked once more against a fresh read.
func TestIntakeCacheUnknownSlug(t *testing.T) {
	f := newCacheFixture(t, time.Hour)
	f.slug = "no-such-tenant"
	const tok = "whtok_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	for range 3 {
		err := f.auth(tok)
		if !errors.Is(err, ingest.ErrUnauthorized) || ingest.ReasonOf(err) != ingest.ReasonNoSecret {
			t.Fatalf("unknown slug: %v, want no_secret", err)
		}
	}
	if n := f.lookups.Load(); n != 3 {
		t.Fatalf("unknown slug: %d look-ups, want 3", n)
	}
}
