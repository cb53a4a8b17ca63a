package tenancy_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parkhq/park/internal/pgtest"
	"github.com/parkhq/park/tenancy"
)

// authBundle is a database with an Auth whose clock the test moves.
type authBundle struct {
	admin *pgxpool.Pool
	store *tenancy.Store
	auth  *tenancy.Auth
	clock *testClock
}

type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func setupAuth(t *testing.T) *authBundle {
	t.Helper()
	db := pgtest.NewDB(t)
	clock := &testClock{now: time.Now().UTC().Truncate(time.Second)}
	hasher, err := tenancy.NewHasher(4, 4)
	if err != nil {
		t.Fatal(err)
	}
	tokens, err := tenancy.NewTokens([]byte(strings.Repeat("k", 32)), nil, 0, clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	store := tenancy.NewStore(db.ServerPool(t, 8))
	a, err := tenancy.NewAuth(store, tenancy.AuthConfig{Hasher: hasher, Tokens: tokens, CacheTTL: 5 * time.Second, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return &authBundle{admin: db.AdminPool(t), store: store, auth: a, clock: clock}
}

func (b *authBundle) register(t *testing.T, email, slug string) *tenancy.Session {
	t.Helper()
	s, err := b.auth.Register(context.Background(), tenancy.RegisterParams{
		Email: email, Name: "Test", Password: "password123", TenantName: "T " + slug, Slug: slug})
	if err != nil {
		t.Fatalf("register %s: %v", email, err)
	}
	return s
}

func (b *authBundle) exec(t *testing.T, sql string, args ...any) {
	t.Helper()
	if _, err := b.admin.Exec(context.Background(), sql, args...); err != nil {
		t.Fatal(err)
	}
}

func TestRegisterAndLogin(t *testing.T) {
	t.Parallel()
	b := setupAuth(t)
	ctx := context.Background()
	s := b.register(t, "test@acme.com", "acme")
	if s.Role != tenancy.RoleOwner || s.AccessToken == "" || s.RefreshToken == "" || s.ExpiresIn != 900 {
		t.Fatalf("session %+v", s)
	}
	p, err := b.auth.PrincipalFromToken(ctx, s.AccessToken)
	if err != nil || p.TenantID != s.Tenant.ID || p.Role != tenancy.RoleOwner {
		t.Fatalf("principal %+v %v", p, err)
	}

	// Duplicate email (any case) and slug are conflicts naming the field.
	_, err = b.auth.Register(ctx, tenancy.RegisterParams{Email: "TEST@acme.com", Name: "X", Password: "password123", TenantName: "Other", Slug: "other"})
	if !errors.Is(err, tenancy.ErrConflict) || !strings.Contains(err.Error(), "user.email") {
		t.Errorf("duplicate email: %v", err)
	}
	_, err = b.auth.Register(ctx, tenancy.RegisterParams{Email: "new@acme.com", Name: "X", Password: "password123", TenantName: "Other", Slug: "acme"})
	if !errors.Is(err, tenancy.ErrConflict) || !strings.Contains(err.Error(), "tenant.slug") {
		t.Errorf("duplicate slug: %v", err)
	}
	var users int
	b.admin.QueryRow(ctx, `SELECT count(*) FROM users`).Scan(&users)
	if users != 1 {
		t.Errorf("failed registrations left %d users", users)
	}

	// Invalid input lists every field.
	_, err = b.auth.Register(ctx, tenancy.RegisterParams{Email: "nope", Password: "short", Slug: "Bad Slug"})
	var ve *tenancy.ValidationError
	if !errors.As(err, &ve) || len(ve.Fields) != 5 {
		t.Errorf("validation: %v", err)
	}

	if _, err := b.auth.Login(ctx, "test@acme.com", "password123", ""); err != nil {
		t.Errorf("login: %v", err)
	}
	if _, err := b.auth.Login(ctx, "Test@ACME.com", "password123", ""); err != nil {
		t.Errorf("login with other case: %v", err)
	}
	for name, c := range map[string][2]string{
		"wrong password": {"test@acme.com", "password124"},
		"unknown email":  {"nobody@acme.com", "password123"},
	} {
		_, err := b.auth.Login(ctx, c[0], c[1], "")
		if !errors.Is(err, tenancy.ErrBadCredentials) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := b.auth.Login(ctx, "test@acme.com", strings.Repeat("x", 73), ""); !errors.Is(err, tenancy.ErrInvalid) {
		t.Errorf("73-byte password: %v", err)
	}
}

func TestLoginSeveralTenants(t *testing.T) {
	t.Parallel()
	b := setupAuth(t)
	ctx := context.Background()
	a := b.register(t, "multi@acme.com", "acme")
	other := b.register(t, "boss@beta.com", "beta")
	b.exec(t, `INSERT INTO user_memberships (tenant_id, user_id, role) VALUES ($1, $2, 'viewer')`, other.Tenant.ID, a.User.ID)

	_, err := b.auth.Login(ctx, "multi@acme.com", "password123", "")
	var ve *tenancy.ValidationError
	if !errors.As(err, &ve) || strings.Join(ve.Fields["tenant"], ",") != "acme,beta" {
		t.Fatalf("several tenants without a choice: %v", err)
	}
	s, err := b.auth.Login(ctx, "multi@acme.com", "password123", "beta")
	if err != nil || s.Tenant.ID != other.Tenant.ID || s.Role != tenancy.RoleViewer {
		t.Fatalf("login to beta: %+v %v", s, err)
	}
	if _, err := b.auth.Login(ctx, "multi@acme.com", "password123", "gamma"); !errors.Is(err, tenancy.ErrBadCredentials) {
		t.Errorf("a tenant the user is not in: %v", err)
	}
	// A wrong password never reveals the memberships.
	if _, err := b.auth.Login(ctx, "multi@acme.com", "password999", ""); !errors.Is(err, tenancy.ErrBadCredentials) {
		t.Errorf("wrong password: %v", err)
	}
}

func TestRefreshRotationAndReuse(t *testing.T) {
	t.Parallel()
	b := setupAuth(t)
	ctx := context.Background()
	s := b.register(t, "r@acme.com", "acme")

	s2, err := b.auth.Refresh(ctx, s.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	if s2.RefreshToken == s.RefreshToken || s2.AccessToken == "" {
		t.Fatal("refresh did not rotate")
	}
	// The spent token presented again: the family is revoked, including
	// the token the legitimate holder just got.
	if _, err := b.auth.Refresh(ctx, s.RefreshToken); !errors.Is(err, tenancy.ErrBadCredentials) {
		t.Fatalf("reuse: %v", err)
	}
	if _, err := b.auth.Refresh(ctx, s2.RefreshToken); !errors.Is(err, tenancy.ErrBadCredentials) {
		t.Fatalf("sibling after reuse: %v", err)
	}

	// Logout revokes the family.
	l, err := b.auth.Login(ctx, "r@acme.com", "password123", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.auth.Logout(ctx, l.RefreshToken); err != nil {
		t.Fatal(err)
	}
	if _, err := b.auth.Refresh(ctx, l.RefreshToken); !errors.Is(err, tenancy.ErrBadCredentials) {
		t.Errorf("refresh after logout: %v", err)
	}
	// Expiry follows the clock.
	l2, _ := b.auth.Login(ctx, "r@acme.com", "password123", "")
	b.clock.Advance(tenancy.DefaultRefreshTTL + time.Second)
	if _, err := b.auth.Refresh(ctx, l2.RefreshToken); !errors.Is(err, tenancy.ErrBadCredentials) {
		t.Errorf("expired refresh token: %v", err)
	}
	for _, bad := range []string{"", "garbage", "prt_" + strings.Repeat("A", 43)} {
		if _, err := b.auth.Refresh(ctx, bad); !errors.Is(err, tenancy.ErrBadCredentials) {
			t.Errorf("refresh %q: %v", bad, err)
		}
	}
}

// TestConcurrentRefresh: of many refreshes with one token, exactly one wins
// and the family then stands revoked.
func TestConcurrentRefresh(t *testing.T) {
	t.Parallel()
	b := setupAuth(t)
	s := b.register(t, "c@acme.com", "acme")
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := b.auth.Refresh(context.Background(), s.RefreshToken); err == nil {
				mu.Lock()
				wins++
				mu.Unlock()
			} else if !errors.Is(err, tenancy.ErrBadCredentials) {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if wins != 1 {
		t.Errorf("%d concurrent refreshes with one token succeeded, want 1", wins)
	}
}

// TestMembershipChangesTakeEffect: removal, demotion and a token_version
// bump stop or shrink a token within the cache TTL, not before the cache
// lets go and never later.
func TestMembershipChangesTakeEffect(t *testing.T) {
	t.Parallel()
	b := setupAuth(t)
	ctx := context.Background()
	s := b.register(t, "m@acme.com", "acme")
	member := b.register(t, "op@beta.com", "beta")
	b.exec(t, `INSERT INTO user_memberships (tenant_id, user_id, role) VALUES ($1, $2, 'admin')`, s.Tenant.ID, member.User.ID)
	sess, err := b.auth.Login(ctx, "op@beta.com", "password123", "acme")
	if err != nil {
		t.Fatal(err)
	}
	p, err := b.auth.PrincipalFromToken(ctx, sess.AccessToken)
	if err != nil || p.Role != tenancy.RoleAdmin {
		t.Fatalf("%+v %v", p, err)
	}

	b.exec(t, `UPDATE user_memberships SET role = 'viewer' WHERE tenant_id = $1 AND user_id = $2`, s.Tenant.ID, member.User.ID)
	p, _ = b.auth.PrincipalFromToken(ctx, sess.AccessToken)
	if p.Role != tenancy.RoleAdmin {
		t.Errorf("demotion seen before the cache expired (TTL must bound staleness, and the cache must work)")
	}
	b.clock.Advance(6 * time.Second)
	p, err = b.auth.PrincipalFromToken(ctx, sess.AccessToken)
	if err != nil || p.Role != tenancy.RoleViewer || p.Has(tenancy.ScopeSitesWrite) {
		t.Errorf("after demotion and TTL: %+v %v", p, err)
	}

	b.exec(t, `DELETE FROM user_memberships WHERE tenant_id = $1 AND user_id = $2`, s.Tenant.ID, member.User.ID)
	b.clock.Advance(6 * time.Second)
	if _, err := b.auth.PrincipalFromToken(ctx, sess.AccessToken); !errors.Is(err, tenancy.ErrUnauthorized) {
		t.Errorf("removed member: %v", err)
	}

	b.exec(t, `UPDATE users SET token_version = token_version + 1 WHERE id = $1`, s.User.ID)
	b.clock.Advance(6 * time.Second)
	if _, err := b.auth.PrincipalFromToken(ctx, s.AccessToken); !errors.Is(err, tenancy.ErrUnauthorized) {
		t.Errorf("token_version bump: %v", err)
	}
	var af *tenancy.AuthFailure
	_, err = b.auth.PrincipalFromToken(ctx, s.AccessToken)
	if !errors.As(err, &af) || af.Reason != "version" {
		t.Errorf("reason: %v", err)
	}

	// Expired access tokens are told apart for the metric.
	b.clock.Advance(time.Hour)
	_, err = b.auth.PrincipalFromToken(ctx, sess.AccessToken)
	if !errors.As(err, &af) || af.Reason != "expired" {
		t.Errorf("expired: %v", err)
	}
}

func TestSuspendedTenant(t *testing.T) {
	t.Parallel()
	b := setupAuth(t)
	ctx := context.Background()
	s := b.register(t, "s@acme.com", "acme")
	key := insertKey(t, b, s.Tenant.ID, nil, []string{"spaces:read"}, nil)
	b.exec(t, `UPDATE tenants SET status = 'suspended' WHERE id = $1`, s.Tenant.ID)
	b.clock.Advance(6 * time.Second)
	if _, err := b.auth.Login(ctx, "s@acme.com", "password123", ""); !errors.Is(err, tenancy.ErrTenantSuspended) {
		t.Errorf("login: %v", err)
	}
	if _, err := b.auth.PrincipalFromToken(ctx, s.AccessToken); !errors.Is(err, tenancy.ErrTenantSuspended) {
		t.Errorf("token: %v", err)
	}
	if _, err := b.auth.PrincipalFromAPIKey(ctx, key); !errors.Is(err, tenancy.ErrTenantSuspended) {
		t.Errorf("key: %v", err)
	}
	if _, err := b.auth.Refresh(ctx, s.RefreshToken); !errors.Is(err, tenancy.ErrTenantSuspended) {
		t.Errorf("refresh: %v", err)
	}
}

// insertKey stores an API key as an operator would, with the row of the
// look-up table that finds its tenant, and returns its token.
func insertKey(t *testing.T, b *authBundle, tenant uuid.UUID, creator *uuid.UUID, scopes []string, expires *time.Time) string {
	t.Helper()
	k, err := tenancy.GenerateAPIKey()
	if err != nil {
		t.Fatal(err)
	}
	b.exec(t, `INSERT INTO api_keys (tenant_id, id, key_id, name, secret_hash, scopes, created_by, expires_at)
		VALUES ($1, $2, $3, 'k', $4, $5, $6, $7)`, tenant, uuid.New(), k.KeyID, k.SecretHash[:], scopes, creator, expires)
	b.exec(t, `INSERT INTO api_key_ids (key_id, tenant_id) VALUES ($1, $2)`, k.KeyID, tenant)
	return k.Token
}

func TestAPIKeyPrincipal(t *testing.T) {
	t.Parallel()
	b := setupAuth(t)
	ctx := context.Background()
	s := b.register(t, "k@acme.com", "acme")
	all := []string{"spaces:read", "spaces:write", "sites:write"}

	service := insertKey(t, b, s.Tenant.ID, nil, all, nil)
	p, err := b.auth.PrincipalFromAPIKey(ctx, service)
	if err != nil || p.Kind != tenancy.PrincipalKey || len(p.Scopes) != 3 || p.TenantID != s.Tenant.ID {
		t.Fatalf("service key: %+v %v", p, err)
	}

	// A key made by a member is cut to the member's current role.
	member := b.register(t, "op@beta.com", "beta")
	b.exec(t, `INSERT INTO user_memberships (tenant_id, user_id, role) VALUES ($1, $2, 'admin')`, s.Tenant.ID, member.User.ID)
	owned := insertKey(t, b, s.Tenant.ID, &member.User.ID, all, nil)
	if p, err := b.auth.PrincipalFromAPIKey(ctx, owned); err != nil || len(p.Scopes) != 3 {
		t.Fatalf("admin's key: %+v %v", p, err)
	}
	b.exec(t, `UPDATE user_memberships SET role = 'operator' WHERE tenant_id = $1 AND user_id = $2`, s.Tenant.ID, member.User.ID)
	b.clock.Advance(6 * time.Second)
	if p, _ := b.auth.PrincipalFromAPIKey(ctx, owned); len(p.Scopes) != 2 || p.Has(tenancy.ScopeSitesWrite) {
		t.Errorf("demoted creator's key: %+v", p.Scopes)
	}
	b.exec(t, `DELETE FROM user_memberships WHERE tenant_id = $1 AND user_id = $2`, s.Tenant.ID, member.User.ID)
	b.clock.Advance(6 * time.Second)
	if p, _ := b.auth.PrincipalFromAPIKey(ctx, owned); len(p.Scopes) != 0 {
		t.Errorf("removed creator's key keeps scopes %v", p.Scopes)
	}

	// last_used_at is written, then not again within the minute.
	var used1, used2 *time.Time
	b.admin.QueryRow(ctx, `SELECT last_used_at FROM api_keys WHERE created_by IS NULL`).Scan(&used1)
	if used1 == nil {
		t.Fatal("last_used_at not written")
	}
	b.clock.Advance(10 * time.Second)
	b.auth.PrincipalFromAPIKey(ctx, service)
	b.admin.QueryRow(ctx, `SELECT last_used_at FROM api_keys WHERE created_by IS NULL`).Scan(&used2)
	if !used2.Equal(*used1) {
		t.Errorf("last_used_at rewritten within a minute: %v then %v", used1, used2)
	}
	b.clock.Advance(time.Minute)
	b.auth.PrincipalFromAPIKey(ctx, service)
	b.admin.QueryRow(ctx, `SELECT last_used_at FROM api_keys WHERE created_by IS NULL`).Scan(&used2)
	if !used2.After(*used1) {
		t.Errorf("last_used_at not refreshed after a minute")
	}

	// Wrong secret with a right key id, unknown id, malformed, revoked, expired.
	wrongSecret := service[:len(service)-38] + strings.Repeat("A", 32) + service[len(service)-6:]
	expiry := b.clock.Now().Add(time.Hour)
	expiring := insertKey(t, b, s.Tenant.ID, nil, all, &expiry)
	revoked := insertKey(t, b, s.Tenant.ID, nil, all, nil)
	b.exec(t, `UPDATE api_keys SET revoked_at = now() WHERE key_id = $1`, strings.Split(revoked, "_")[1])
	other, _ := tenancy.GenerateAPIKey()
	b.clock.Advance(2 * time.Hour)
	for name, tok := range map[string]string{
		"wrong secret": wrongSecret, "unknown": other.Token, "malformed": "park_nope",
		"revoked": revoked, "expired": expiring,
	} {
		if _, err := b.auth.PrincipalFromAPIKey(ctx, tok); !errors.Is(err, tenancy.ErrUnauthorized) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestTokenVersionEndsRefreshTokens: a token_version bump (password reset,
// log out everywhere) ends refresh tokens as well as access tokens.
func TestTokenVersionEndsRefreshTokens(t *testing.T) {
	t.Parallel()
	b := setupAuth(t)
	ctx := context.Background()
	s := b.register(t, "v@acme.com", "acme")
	l, err := b.auth.Login(ctx, "v@acme.com", "password123", "")
	if err != nil {
		t.Fatal(err)
	}
	b.exec(t, `UPDATE users SET token_version = token_version + 1 WHERE id = $1`, s.User.ID)
	for name, tok := range map[string]string{"registration's": s.RefreshToken, "login's": l.RefreshToken} {
		_, err := b.auth.Refresh(ctx, tok)
		var af *tenancy.AuthFailure
		if !errors.As(err, &af) || af.Reason != "version" {
			t.Errorf("%s refresh token after a token_version bump: %v", name, err)
		}
	}
	// A login after the bump gets tokens that work.
	l2, err := b.auth.Login(ctx, "v@acme.com", "password123", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.auth.Refresh(ctx, l2.RefreshToken); err != nil {
		t.Errorf("fresh refresh token: %v", err)
	}
}

// TestAppCannotUpdateUsers: no tenant context may rewrite a user — not even
// its own member's password hash, which could take over another tenant the
// member owns.
func TestAppCannotUpdateUsers(t *testing.T) {
	t.Parallel()
	b := setupAuth(t)
	ctx := context.Background()
	a := b.register(t, "owner@acme.com", "acme")
	victim := b.register(t, "owner@beta.com", "beta")
	b.exec(t, `INSERT INTO user_memberships (tenant_id, user_id, role) VALUES ($1, $2, 'viewer')`, a.Tenant.ID, victim.User.ID)
	for _, stmt := range []string{
		`UPDATE users SET password_hash = 'x' WHERE id = $1`,
		`UPDATE users SET token_version = 99 WHERE id = $1`,
		`UPDATE users SET name = 'x' WHERE id = $1`,
	} {
		err := b.store.InTenantTx(ctx, a.Tenant.ID, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, stmt, victim.User.ID)
			return err
		})
		var de *tenancy.DBError
		if !errors.As(err, &de) || de.Code != "42501" {
			t.Errorf("%s as tenant A: want permission denied, got %v", stmt, err)
		}
	}
	// Nor may a new tenant be inserted with a status or settings.
	err := b.store.InTenantTx(ctx, uuid.New(), func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO tenants (id, name, slug, status, settings) VALUES (app_tenant_id(), 'x', 'x-sneaky', 'active', '{"limits":{"api":{"rate":1e6,"burst":1}}}')`)
		return err
	})
	var de *tenancy.DBError
	if !errors.As(err, &de) || de.Code != "42501" {
		t.Errorf("inserting a tenant with settings as park_app: %v", err)
	}
}

// TestRememberedTokenStillAuthorized: a token the server has verified
// before (and remembers) is still refused on the next request when its
// token_version is bumped, its membership removed or its tenant
// suspended: the memory covers the signature check only, never
// authorization. ForgetMember drops the membership read at once, as a
// change made through this server does, so each refusal shows the token's
// memory was not trusted for it.
func TestRememberedTokenStillAuthorized(t *testing.T) {
	t.Parallel()
	b := setupAuth(t)
	ctx := context.Background()
	reason := func(err error) string {
		var af *tenancy.AuthFailure
		if errors.As(err, &af) {
			return af.Reason
		}
		return ""
	}
	for _, c := range []struct {
		name, sql, reason string
		want              error
	}{
		{"version", `UPDATE users SET token_version = token_version + 1 WHERE id = $2 AND $1::uuid IS NOT NULL`, "version", tenancy.ErrUnauthorized},
		{"removed", `DELETE FROM user_memberships WHERE tenant_id = $1 AND user_id = $2`, "no_membership", tenancy.ErrUnauthorized},
		{"suspended", `UPDATE tenants SET status = 'suspended' WHERE id = $1 AND $2::uuid IS NOT NULL`, "suspended", tenancy.ErrTenantSuspended},
	} {
		s := b.register(t, c.name+"@acme.com", "acme-"+c.name)
		for range 3 {
			if _, err := b.auth.PrincipalFromToken(ctx, s.AccessToken); err != nil {
				t.Fatalf("%s: before the change: %v", c.name, err)
			}
		}
		b.exec(t, c.sql, s.Tenant.ID, s.User.ID)
		b.auth.ForgetMember(s.Tenant.ID, s.User.ID)
		_, err := b.auth.PrincipalFromToken(ctx, s.AccessToken)
		if !errors.Is(err, c.want) || reason(err) != c.reason {
			t.Errorf("%s: %v (reason %q), want %v (%s)", c.name, err, reason(err), c.want, c.reason)
		}
		// Still verifiable: the memory was right about the signature.
		if _, err := b.auth.Tokens().Verify(s.AccessToken); err != nil {
			t.Errorf("%s: the token no longer verifies: %v", c.name, err)
		}
	}
}
