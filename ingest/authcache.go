package ingest

import (
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/parkhq/park/tenancy"
)

// DefaultAuthCacheTTL is how long an Intake trusts what it read to
// authenticate a webhook: a slug's tenant (its id, status and settings) and
// a tenant's opened secrets of one mode. Reading them costs four database
// round trips and an AES-GCM opening per secret; a network server sends
// many uplinks a second to one URL, so without the cache authentication
// costs more than storing the reading.
//
// What the TTL means for operators: a secret revoked, a tenant suspended or
// a tenant's settings changed (token mode forbidden, occupancy rule) take
// effect within this long on each parkd instance. A newly rotated secret
// works at once (a request that fails against the cached secrets is
// checked again against fresh ones), and a secret whose grace ends stops at
// that instant (expiry is checked on every use) — on another instance, whose
// cache may hold the secret as read before the rotation gave it an end, at
// most this TTL later.
const DefaultAuthCacheTTL = 5 * time.Second

// maxAuthCacheEntries bounds each of the cache's maps. Unknown slugs are
// cached too (so an unknown slug costs what a known one does), and anyone
// can make up slugs: past the bound the map is emptied, which costs only
// fresh reads.
const maxAuthCacheEntries = 10_000

// authCache holds webhook tenants by slug and opened secrets by tenant and
// mode, each for ttl. It is safe for concurrent use.
type authCache struct {
	ttl time.Duration

	mu      sync.Mutex
	tenants map[string]cachedTenant
	keys    map[keysKey]cachedKeys
}

// cachedTenant is a slug's look-up. An unknown slug is cached with a
// made-up id and known false, so that its (empty) secrets are cached as
// well and it takes exactly the path of a known slug.
type cachedTenant struct {
	tenant *tenancy.WebhookTenant // nil when the slug is unknown
	id     uuid.UUID              // tenant.ID, or the made-up id
	at     time.Time
}

type keysKey struct {
	tenant uuid.UUID
	mode   Mode
}

type cachedKeys struct {
	keys []VerifyKey
	at   time.Time
}

func newAuthCache(ttl time.Duration) *authCache {
	return &authCache{ttl: ttl, tenants: map[string]cachedTenant{}, keys: map[keysKey]cachedKeys{}}
}

// fresh reports whether an entry read at `at` may still be used at now. A
// clock that went backwards makes it stale too.
func (c *authCache) fresh(at, now time.Time) bool {
	age := now.Sub(at)
	return age >= 0 && age < c.ttl
}

func (c *authCache) tenant(slug string, now time.Time) (cachedTenant, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.tenants[slug]
	if ok && !c.fresh(e.at, now) {
		delete(c.tenants, slug)
		ok = false
	}
	return e, ok
}

func (c *authCache) putTenant(slug string, e cachedTenant) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.tenants) >= maxAuthCacheEntries {
		clear(c.tenants)
	}
	c.tenants[slug] = e
}

func (c *authCache) verifyKeys(tenant uuid.UUID, mode Mode, now time.Time) ([]VerifyKey, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := keysKey{tenant, mode}
	e, ok := c.keys[k]
	if ok && !c.fresh(e.at, now) {
		delete(c.keys, k)
		ok = false
	}
	return e.keys, ok
}

func (c *authCache) putVerifyKeys(tenant uuid.UUID, mode Mode, keys []VerifyKey, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.keys) >= maxAuthCacheEntries {
		clear(c.keys)
	}
	c.keys[keysKey{tenant, mode}] = cachedKeys{keys: keys, at: now}
}

// forgetKeys drops the tenant's opened secrets of every mode.
func (c *authCache) forgetKeys(tenant uuid.UUID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := range c.keys {
		if k.tenant == tenant {
			delete(c.keys, k)
		}
	}
}
