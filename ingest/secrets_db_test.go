package ingest_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/parkhq/park/ingest"
	"github.com/parkhq/park/internal/pgtest"
	"github.com/parkhq/park/tenancy"
)

// clock is a settable clock for expiry and grace.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func keyring(t *testing.T, current int, versions ...int) *ingest.Keyring {
	t.Helper()
	k := &ingest.Keyring{Current: current, Keys: map[int][]byte{}}
	for _, v := range versions {
		b := make([]byte, ingest.MasterKeySize)
		if _, err := rand.Read(b); err != nil {
			t.Fatal(err)
		}
		k.Keys[v] = b
	}
	return k
}

type secretFixture struct {
	db     *pgtest.DB
	tenant uuid.UUID
	clock  *clock
	store  *ingest.Store
	logs   *bytes.Buffer
}

func newSecretFixture(t *testing.T, kr *ingest.Keyring) *secretFixture {
	t.Helper()
	db := pgtest.NewDB(t)
	f := &secretFixture{db: db, tenant: newTenant(t, db), clock: &clock{now: time.Now().UTC().Truncate(time.Microsecond)},
		logs: &bytes.Buffer{}}
	f.store = f.storeWith(t, kr)
	return f
}

func (f *secretFixture) storeWith(t *testing.T, kr *ingest.Keyring) *ingest.Store {
	return ingest.NewStore(tenancy.NewStore(execPool(t, f.db)), ingest.StoreOptions{
		Keyring: kr, Now: f.clock.Now, Logger: slog.New(slog.NewJSONHandler(f.logs, nil)),
	})
}

func (f *secretFixture) rotate(t *testing.T, mode ingest.Mode, grace *time.Duration) (*ingest.Secret, string) {
	t.Helper()
	sec, value, err := f.store.SecretRotate(context.Background(), &ingest.SecretRotateParams{
		TenantID: f.tenant, Mode: mode, Grace: grace, Actor: "operator:test"})
	if err != nil {
		t.Fatal(err)
	}
	return sec, value
}

// keysFor returns the values of the secrets that verify mode now.
func (f *secretFixture) keysFor(t *testing.T, mode ingest.Mode) []string {
	t.Helper()
	keys, err := f.store.VerifyKeys(context.Background(), f.tenant, mode)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, k := range keys {
		out = append(out, string(k.Key))
	}
	return out
}

func dur(d time.Duration) *time.Duration { return &d }

func TestSecretRotateAndGrace(t *testing.T) {
	t.Parallel()
	f := newSecretFixture(t, keyring(t, 1, 1))

	first, v1 := f.rotate(t, ingest.ModeToken, nil)
	if !strings.HasPrefix(v1, ingest.PrefixToken) || first.Mode != ingest.ModeToken || first.ExpiresAt != nil {
		t.Fatalf("first secret: %+v %q", first, v1)
	}
	hmacSec, vh := f.rotate(t, ingest.ModeHMAC, nil)
	if got := f.keysFor(t, ingest.ModeToken); len(got) != 1 || got[0] != v1 {
		t.Fatalf("token keys %v", got)
	}

	// Rotating token mode gives the old token 24 h; the hmac secret, of
	// another mode, is untouched.
	f.clock.Add(time.Second)
	_, v2 := f.rotate(t, ingest.ModeToken, nil)
	if got := f.keysFor(t, ingest.ModeToken); len(got) != 2 || got[0] != v2 || got[1] != v1 {
		t.Fatalf("within the grace: %v", got)
	}
	f.clock.Add(ingest.DefaultGrace - time.Second)
	if got := f.keysFor(t, ingest.ModeToken); len(got) != 2 {
		t.Fatalf("a second before the grace ends: %d keys", len(got))
	}
	f.clock.Add(time.Second)
	if got := f.keysFor(t, ingest.ModeToken); len(got) != 1 || got[0] != v2 {
		t.Fatalf("after the grace: %v", got)
	}
	if got := f.keysFor(t, ingest.ModeHMAC); len(got) != 1 || got[0] != vh {
		t.Fatalf("hmac secret after a token rotation: %v", got)
	}

	// --grace 0 ends the previous secret at once.
	f.clock.Add(time.Second)
	_, v3 := f.rotate(t, ingest.ModeToken, dur(0))
	if got := f.keysFor(t, ingest.ModeToken); len(got) != 1 || got[0] != v3 {
		t.Fatalf("after a rotation with no grace: %v", got)
	}

	// A standard secret verifies with its decoded bytes.
	_, vs := f.rotate(t, ingest.ModeStandard, nil)
	_, want, _ := ingest.ParseSecret(vs)
	if got := f.keysFor(t, ingest.ModeStandard); len(got) != 1 || got[0] != string(want) {
		t.Fatal("standard key is not the decoded secret")
	}

	list, err := f.store.SecretList(context.Background(), f.tenant)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 5 {
		t.Fatalf("%d secrets listed, want 5", len(list))
	}
	active := 0
	for _, s := range list {
		if s.Active(f.clock.Now()) {
			active++
		}
	}
	if active != 3 { // newest token, hmac, standard
		t.Fatalf("%d active secrets, want 3", active)
	}

	// Revocation ends a secret at once, and is idempotent.
	for range 2 {
		sec, err := f.store.SecretRevoke(context.Background(), f.tenant, hmacSec.ID, "operator:test")
		if err != nil || sec.RevokedAt == nil {
			t.Fatalf("revoke: %+v %v", sec, err)
		}
	}
	if got := f.keysFor(t, ingest.ModeHMAC); len(got) != 0 {
		t.Fatal("a revoked secret still verifies")
	}
}

func TestSecretRotateValidation(t *testing.T) {
	t.Parallel()
	f := newSecretFixture(t, keyring(t, 1, 1))
	for _, p := range []*ingest.SecretRotateParams{
		{TenantID: f.tenant, Mode: "plain", Actor: "a"},
		{TenantID: f.tenant, Mode: ingest.ModeHMAC, Grace: dur(-time.Second), Actor: "a"},
		{TenantID: f.tenant, Mode: ingest.ModeHMAC, Grace: dur(ingest.MaxGrace + time.Second), Actor: "a"},
	} {
		if _, _, err := f.store.SecretRotate(context.Background(), p); !errors.Is(err, tenancy.ErrInvalid) {
			t.Errorf("%+v: %v, want ErrInvalid", p, err)
		}
	}
	// A tenant that forbids token mode gets no token secret.
	admin := f.db.AdminPool(t)
	if _, err := admin.Exec(context.Background(),
		`update tenants set settings = settings || '{"webhook_token_mode": false}' where id = $1`, f.tenant); err != nil {
		t.Fatal(err)
	}
	_, _, err := f.store.SecretRotate(context.Background(), &ingest.SecretRotateParams{
		TenantID: f.tenant, Mode: ingest.ModeToken, Actor: "a"})
	var v *tenancy.ValidationError
	if !errors.As(err, &v) || len(v.Fields["mode"]) == 0 {
		t.Fatalf("token mode forbidden: %v", err)
	}
}

func TestSecretIsolationAndAudit(t *testing.T) {
	t.Parallel()
	f := newSecretFixture(t, keyring(t, 1, 1))
	sec, value := f.rotate(t, ingest.ModeHMAC, nil)
	other := newTenant(t, f.db)

	// Another tenant neither sees, verifies with, nor revokes it.
	if keys, err := f.store.VerifyKeys(context.Background(), other, ingest.ModeHMAC); err != nil || len(keys) != 0 {
		t.Fatalf("other tenant's keys: %v %v", keys, err)
	}
	if list, err := f.store.SecretList(context.Background(), other); err != nil || len(list) != 0 {
		t.Fatalf("other tenant's list: %v %v", list, err)
	}
	if _, err := f.store.SecretRevoke(context.Background(), other, sec.ID, "a"); !errors.Is(err, tenancy.ErrNotFound) {
		t.Fatalf("revoke from another tenant: %v", err)
	}

	// The value is sealed at rest and never in the audit log.
	admin := f.db.AdminPool(t)
	var sealed []byte
	var details string
	if err := admin.QueryRow(context.Background(),
		`select sealed from webhook_secrets where id = $1`, sec.ID).Scan(&sealed); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte(value)) || bytes.Contains(sealed, []byte(value[len(ingest.PrefixHMAC):])) {
		t.Fatal("the secret is stored in the clear")
	}
	if err := admin.QueryRow(context.Background(),
		`select string_agg(action || ' ' || details::text, ';') from audit_events where tenant_id = $1`, f.tenant).Scan(&details); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(details, value[len(ingest.PrefixHMAC):]) || !strings.Contains(details, "webhook_secret.rotate") {
		t.Fatalf("audit: %s", details)
	}
}

func TestSecretKeyVersions(t *testing.T) {
	t.Parallel()
	old := keyring(t, 1, 1)
	f := newSecretFixture(t, old)
	_, value := f.rotate(t, ingest.ModeToken, nil)

	// A new current key that can still open v1 verifies the old secret;
	// a keyring without v1 cannot, fails closed and says so in the log.
	rotated := keyring(t, 2, 2)
	rotated.Keys[1] = old.Keys[1]
	if keys, err := f.storeWith(t, rotated).VerifyKeys(context.Background(), f.tenant, ingest.ModeToken); err != nil ||
		len(keys) != 1 || string(keys[0].Key) != value {
		t.Fatalf("with the old key kept: %v %v", keys, err)
	}
	lost := keyring(t, 2, 2)
	keys, err := f.storeWith(t, lost).VerifyKeys(context.Background(), f.tenant, ingest.ModeToken)
	if err != nil || len(keys) != 0 {
		t.Fatalf("without the old key: %v %v", keys, err)
	}
	if !strings.Contains(f.logs.String(), "does not open") || strings.Contains(f.logs.String(), value) {
		t.Fatalf("log: %s", f.logs.String())
	}
}

func TestSecretUsedThrottled(t *testing.T) {
	t.Parallel()
	f := newSecretFixture(t, keyring(t, 1, 1))
	sec, _ := f.rotate(t, ingest.ModeToken, nil)
	lastUsed := func() *time.Time {
		list, err := f.store.SecretList(context.Background(), f.tenant)
		if err != nil {
			t.Fatal(err)
		}
		return list[0].LastUsedAt
	}
	if lastUsed() != nil {
		t.Fatal("a new secret has been used")
	}
	start := f.clock.Now()
	use := func() {
		t.Helper()
		if err := f.store.SecretUsed(context.Background(), f.tenant, sec.ID); err != nil {
			t.Fatal(err)
		}
	}
	use()
	f.clock.Add(30 * time.Second)
	use() // within the interval: not written
	if got := lastUsed(); got == nil || !got.Equal(start) {
		t.Fatalf("last used %v, want %v", got, start)
	}
	f.clock.Add(31 * time.Second)
	use()
	if got := lastUsed(); got == nil || !got.Equal(f.clock.Now()) {
		t.Fatalf("last used %v, want %v", got, f.clock.Now())
	}
}
