package tenancy_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"golang.org/x/crypto/bcrypt"

	"github.com/parkhq/park/internal/pgtest"
	"github.com/parkhq/park/tenancy"
)

// countingBcrypt is real bcrypt that records the cost of every comparison
// and every hash it makes, so a test can add up the work a login does — the
// quantity its timing follows — without a stopwatch.
type countingBcrypt struct {
	mu       sync.Mutex
	compares []int
	hashes   []int
	// beforeGenerate, when set, runs once before the next hash is made.
	beforeGenerate func()
}

func (c *countingBcrypt) GenerateFromPassword(pw []byte, cost int) ([]byte, error) {
	c.mu.Lock()
	c.hashes = append(c.hashes, cost)
	hook := c.beforeGenerate
	c.beforeGenerate = nil
	c.mu.Unlock()
	if hook != nil {
		hook()
	}
	return bcrypt.GenerateFromPassword(pw, cost)
}

func (c *countingBcrypt) CompareHashAndPassword(hash, pw []byte) error {
	cost, err := bcrypt.Cost(hash)
	if err != nil {
		cost = -1 // compared against something that is no bcrypt hash
	}
	c.mu.Lock()
	c.compares = append(c.compares, cost)
	c.mu.Unlock()
	return bcrypt.CompareHashAndPassword(hash, pw)
}

func (c *countingBcrypt) Cost(hash []byte) (int, error) { return bcrypt.Cost(hash) }

// take returns and forgets what was recorded since the last call.
func (c *countingBcrypt) take() (compares, hashes []int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	compares, hashes = c.compares, c.hashes
	c.compares, c.hashes = nil, nil
	return compares, hashes
}

// work is the bcrypt work of comparisons at these costs, in units of one
// cost-0 round: cost k takes 2^k.
func work(costs []int) int {
	w := 0
	for _, k := range costs {
		w += 1 << k
	}
	return w
}

const currentCost = 6

type rehashBundle struct {
	*authBundle
	bc  *countingBcrypt
	reg *prometheus.Registry
}

func setupCountingAuth(t *testing.T) *rehashBundle {
	t.Helper()
	db := pgtest.NewDB(t)
	clock := &testClock{now: time.Now().UTC().Truncate(time.Second)}
	bc := &countingBcrypt{}
	hasher, err := tenancy.NewHasherWith(currentCost, 4, bc)
	if err != nil {
		t.Fatal(err)
	}
	if _, hashes := bc.take(); !slices.Equal(hashes, []int{4, 5, 6}) {
		t.Fatalf("dummy hashes made at costs %v, want one at every cost up to the current one", hashes)
	}
	tokens, err := tenancy.NewTokens([]byte(strings.Repeat("k", 32)), nil, 0, clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	store := tenancy.NewStore(db.ServerPool(t, 8))
	a, err := tenancy.NewAuth(store, tenancy.AuthConfig{Hasher: hasher, Tokens: tokens, CacheTTL: 5 * time.Second, Now: clock.Now, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	return &rehashBundle{authBundle: &authBundle{admin: db.AdminPool(t), store: store, auth: a, clock: clock}, bc: bc, reg: reg}
}

// setHash stores a hash of password at cost for user, as an older
// configuration would have left it.
func (b *rehashBundle) setHash(t *testing.T, user uuid.UUID, password string, cost int) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(password), cost)
	if err != nil {
		t.Fatal(err)
	}
	b.exec(t, `UPDATE users SET password_hash = $2 WHERE id = $1`, user, string(h))
	return string(h)
}

func (b *rehashBundle) storedCost(t *testing.T, user uuid.UUID) (string, int) {
	t.Helper()
	var h string
	if err := b.admin.QueryRow(context.Background(), `SELECT password_hash FROM users WHERE id = $1`, user).Scan(&h); err != nil {
		t.Fatal(err)
	}
	c, err := bcrypt.Cost([]byte(h))
	if err != nil {
		t.Fatalf("stored hash %q: %v", h, err)
	}
	return h, c
}

func (b *rehashBundle) rehashes(t *testing.T, result string) float64 {
	t.Helper()
	mfs, err := b.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "park_password_rehashes_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if labelIs(m, "result", result) {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func labelIs(m *dto.Metric, name, value string) bool {
	for _, l := range m.GetLabel() {
		if l.GetName() == name && l.GetValue() == value {
			return true
		}
	}
	return false
}

// TestFailedLoginCostsOneCurrentComparison: whatever the stored hash (none,
// not bcrypt, the current cost, a lower one), a failed login does bcrypt
// work equal to one comparison at the configured cost, so its time does
// not tell an existing account from an unknown email. A hash at a higher
// cost is the documented exception: it is compared at its own cost.
func TestFailedLoginCostsOneCurrentComparison(t *testing.T) {
	t.Parallel()
	b := setupCountingAuth(t)
	ctx := context.Background()
	same := b.register(t, "same@acme.com", "acme")
	low4 := b.register(t, "low4@beta.com", "beta")
	low5 := b.register(t, "low5@gamma.com", "gamma")
	high := b.register(t, "high@delta.com", "delta")
	garbled := b.register(t, "garbled@eps.com", "eps")
	b.setHash(t, low4.User.ID, "password123", 4)
	b.setHash(t, low5.User.ID, "password123", 5)
	b.setHash(t, high.User.ID, "password123", 7)
	b.exec(t, `UPDATE users SET password_hash = 'not-a-hash' WHERE id = $1`, garbled.User.ID)
	b.bc.take()

	for _, c := range []struct {
		name, email  string
		wantCompares []int
	}{
		// Skipping the dummy comparison for unknown emails would make
		// this zero comparisons.
		{"unknown email", "nobody@acme.com", []int{6}},
		{"no bcrypt hash", "garbled@eps.com", []int{6}},
		{"current cost", "same@acme.com", []int{6}},
		// 2^4 (real) + 2^4 + 2^5 (dummies) = 2^6.
		{"cost 4", "low4@beta.com", []int{4, 4, 5}},
		{"cost 5", "low5@gamma.com", []int{5, 5}},
		// The exception: no padding can make 2^7 shorter.
		{"cost 7", "high@delta.com", []int{7}},
	} {
		_, err := b.auth.Login(ctx, c.email, "wrong-password", "")
		if !errors.Is(err, tenancy.ErrBadCredentials) {
			t.Errorf("%s: %v", c.name, err)
		}
		compares, hashes := b.bc.take()
		if !slices.Equal(compares, c.wantCompares) {
			t.Errorf("%s: a failed login compared at costs %v, want %v", c.name, compares, c.wantCompares)
		}
		if c.name != "cost 7" && work(compares) != work([]int{currentCost}) {
			t.Errorf("%s: a failed login did bcrypt work %d, want %d (one comparison at cost %d)", c.name, work(compares), work([]int{currentCost}), currentCost)
		}
		if len(hashes) != 0 {
			t.Errorf("%s: a failed login hashed (costs %v)", c.name, hashes)
		}
	}
	// A failed login never rewrites the hash.
	for _, u := range []uuid.UUID{low4.User.ID, high.User.ID, same.User.ID} {
		if _, c := b.storedCost(t, u); c == currentCost && u != same.User.ID {
			t.Errorf("a failed login rehashed user %s", u)
		}
	}
	if n := b.rehashes(t, tenancy.RehashDone); n != 0 {
		t.Errorf("rehashes counted after failed logins: %v", n)
	}
}

// TestLoginRehashes: a successful login with a hash of another cost
// replaces it with one at the configured cost (up or down), through the
// compare-and-swap writer, and counts it; a hash at the configured cost is
// left alone.
func TestLoginRehashes(t *testing.T) {
	t.Parallel()
	b := setupCountingAuth(t)
	ctx := context.Background()
	low := b.register(t, "low@acme.com", "acme")
	high := b.register(t, "high@beta.com", "beta")
	same := b.register(t, "same@gamma.com", "gamma")
	b.setHash(t, low.User.ID, "password123", 4)
	b.setHash(t, high.User.ID, "password123", 7)
	sameHash, _ := b.storedCost(t, same.User.ID)
	b.bc.take()

	for _, c := range []struct {
		name         string
		user         uuid.UUID
		email        string
		wantCompares []int
	}{
		{"lower cost", low.User.ID, "low@acme.com", []int{4}},
		{"higher cost", high.User.ID, "high@beta.com", []int{7}},
	} {
		if _, err := b.auth.Login(ctx, c.email, "password123", ""); err != nil {
			t.Fatalf("%s: login: %v", c.name, err)
		}
		compares, hashes := b.bc.take()
		if !slices.Equal(compares, c.wantCompares) || !slices.Equal(hashes, []int{currentCost}) {
			t.Errorf("%s: compared at %v and hashed at %v, want %v and [%d]", c.name, compares, hashes, c.wantCompares, currentCost)
		}
		if _, cost := b.storedCost(t, c.user); cost != currentCost {
			t.Errorf("%s: stored cost %d after login, want %d", c.name, cost, currentCost)
		}
		// The new hash works, and is now compared at the current cost.
		if _, err := b.auth.Login(ctx, c.email, "password123", ""); err != nil {
			t.Errorf("%s: login with the new hash: %v", c.name, err)
		}
		if compares, hashes := b.bc.take(); !slices.Equal(compares, []int{currentCost}) || len(hashes) != 0 {
			t.Errorf("%s: second login compared at %v, hashed at %v", c.name, compares, hashes)
		}
	}
	if n := b.rehashes(t, tenancy.RehashDone); n != 2 {
		t.Errorf("park_password_rehashes_total{result=done} = %v, want 2", n)
	}

	if _, err := b.auth.Login(ctx, "same@gamma.com", "password123", ""); err != nil {
		t.Fatal(err)
	}
	if _, hashes := b.bc.take(); len(hashes) != 0 {
		t.Errorf("a hash at the current cost was rehashed")
	}
	if h, _ := b.storedCost(t, same.User.ID); h != sameHash {
		t.Errorf("a hash at the current cost was rewritten")
	}
	if n := b.rehashes(t, tenancy.RehashDone); n != 2 {
		t.Errorf("rehashes after a current-cost login: %v, want 2", n)
	}
}

// TestRehashLosesToConcurrentChange: when the stored hash changes between
// the login's read and its rehash (another login's rehash, a password
// change), the swap finds another hash and writes nothing; the login still
// succeeds and the metric says "stale".
func TestRehashLosesToConcurrentChange(t *testing.T) {
	t.Parallel()
	b := setupCountingAuth(t)
	ctx := context.Background()
	u := b.register(t, "race@acme.com", "acme")
	b.setHash(t, u.User.ID, "password123", 4)
	b.bc.take()
	// The hasher makes the rehash's new hash after the login read the old
	// one; changing the row at that moment is the race, made certain.
	changed := b.setHashOnNextGenerate(t, u.User.ID)
	if _, err := b.auth.Login(ctx, "race@acme.com", "password123", ""); err != nil {
		t.Fatalf("login: %v", err)
	}
	if h, _ := b.storedCost(t, u.User.ID); h != *changed {
		t.Errorf("the rehash overwrote a concurrent change: stored %q, want %q", h, *changed)
	}
	if b.rehashes(t, tenancy.RehashStale) != 1 || b.rehashes(t, tenancy.RehashDone) != 0 {
		t.Errorf("metric: stale %v done %v, want 1 and 0", b.rehashes(t, tenancy.RehashStale), b.rehashes(t, tenancy.RehashDone))
	}
}

// setHashOnNextGenerate makes the hasher, before it generates its next
// hash, store another hash for user, as a concurrent password change
// would; it returns where that hash will be.
func (b *rehashBundle) setHashOnNextGenerate(t *testing.T, user uuid.UUID) *string {
	t.Helper()
	var changed string
	b.bc.mu.Lock()
	defer b.bc.mu.Unlock()
	b.bc.beforeGenerate = func() {
		h, err := bcrypt.GenerateFromPassword([]byte("password456"), 4)
		if err != nil {
			t.Error(err)
			return
		}
		changed = string(h)
		if _, err := b.admin.Exec(context.Background(), `UPDATE users SET password_hash = $2 WHERE id = $1`, user, changed); err != nil {
			t.Error(err)
		}
	}
	return &changed
}
