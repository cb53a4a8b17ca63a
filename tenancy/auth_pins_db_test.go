package tenancy_test

import (
	"context"
	"crypto/rand"
	"errors"
	"hash/crc32"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/parkhq/park/tenancy"
)

// Security decisions of the auth code that each test below pins: break the
// line on purpose and the test fails.

// forgeAPIKey builds park_<keyID>_<secret> with a made-up secret and a VALID
// checksum, computed here independently of the package (CRC-32 of
// everything before it, six base62 digits), so it passes every offline
// check and only the stored hash can refuse it.
func forgeAPIKey(t *testing.T, keyID string) string {
	t.Helper()
	const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	body := make([]byte, 32)
	for i := range body {
		n, err := rand.Int(rand.Reader, big.NewInt(62))
		if err != nil {
			t.Fatal(err)
		}
		body[i] = base62[n.Int64()]
	}
	prefix := "park_" + keyID + "_" + string(body)
	n := uint64(crc32.ChecksumIEEE([]byte(prefix)))
	sum := make([]byte, 6)
	for i := 5; i >= 0; i-- {
		sum[i] = base62[n%62]
		n /= 62
	}
	forged := prefix + string(sum)
	if id, _, err := tenancy.ParseAPIKey(forged); err != nil || id != keyID {
		t.Fatalf("forged key does not pass the offline checks (%v): the test would prove nothing", err)
	}
	return forged
}

func authReason(err error) string {
	var af *tenancy.AuthFailure
	if errors.As(err, &af) {
		return af.Reason
	}
	return ""
}

// TestForgedAPIKeySecret: a real key_id with a made-up secret whose checksum
// is valid must not authenticate, whether the key's record is read from the
// database or from the cache. Only the comparison with the stored secret
// hash stands in the way.
func TestForgedAPIKeySecret(t *testing.T) {
	t.Parallel()
	b := setupAuth(t)
	ctx := context.Background()
	s := b.register(t, "forge@acme.com", "acme")
	real := insertKey(t, b, s.Tenant.ID, nil, []string{"spaces:read"}, nil)
	keyID := strings.Split(real, "_")[1]

	// Cold: the record comes from the database.
	_, err := b.auth.PrincipalFromAPIKey(ctx, forgeAPIKey(t, keyID))
	if !errors.Is(err, tenancy.ErrUnauthorized) || authReason(err) != "invalid" {
		t.Fatalf("forged secret, record from the database: %v", err)
	}
	if _, err := b.auth.PrincipalFromAPIKey(ctx, real); err != nil {
		t.Fatalf("real key: %v", err)
	}
	// Warm: the record is cached now.
	_, err = b.auth.PrincipalFromAPIKey(ctx, forgeAPIKey(t, keyID))
	if !errors.Is(err, tenancy.ErrUnauthorized) || authReason(err) != "invalid" {
		t.Fatalf("forged secret, record from the cache: %v", err)
	}
	// And a well-formed key with an id nobody holds is "unknown".
	other, _ := tenancy.GenerateAPIKey()
	if _, err := b.auth.PrincipalFromAPIKey(ctx, other.Token); authReason(err) != "unknown" {
		t.Errorf("unknown key id: %v", err)
	}
}

// TestLogoutRevokesTheFamily: logging out with any token of a family (even
// one already spent by a refresh) ends every token of it, so a stolen
// sibling dies with the session.
func TestLogoutRevokesTheFamily(t *testing.T) {
	t.Parallel()
	b := setupAuth(t)
	ctx := context.Background()
	b.register(t, "family@acme.com", "acme")
	l, err := b.auth.Login(ctx, "family@acme.com", "password123", "")
	if err != nil {
		t.Fatal(err)
	}
	next, err := b.auth.Refresh(ctx, l.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.auth.Logout(ctx, l.RefreshToken); err != nil {
		t.Fatalf("logout with the spent token: %v", err)
	}
	if _, err := b.auth.Refresh(ctx, next.RefreshToken); !errors.Is(err, tenancy.ErrBadCredentials) {
		t.Errorf("the family's live token after logout: %v", err)
	}
	// Another session of the same user is another family: untouched.
	other, err := b.auth.Login(ctx, "family@acme.com", "password123", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.auth.Refresh(ctx, other.RefreshToken); err != nil {
		t.Errorf("another session's token after logout: %v", err)
	}
}

// TestCacheTTLIsCapped: however long a cache TTL is configured, a demotion
// takes effect within MaxCacheTTL.
func TestCacheTTLIsCapped(t *testing.T) {
	t.Parallel()
	b := setupAuth(t)
	ctx := context.Background()
	s := b.register(t, "cap@acme.com", "acme")
	hasher, err := tenancy.NewHasher(4, 1)
	if err != nil {
		t.Fatal(err)
	}
	long, err := tenancy.NewAuth(b.store, tenancy.AuthConfig{Hasher: hasher, Tokens: b.auth.Tokens(), CacheTTL: time.Hour, Now: b.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	if p, err := long.PrincipalFromToken(ctx, s.AccessToken); err != nil || p.Role != tenancy.RoleOwner {
		t.Fatalf("%+v %v", p, err)
	}
	b.exec(t, `UPDATE user_memberships SET role = 'viewer' WHERE tenant_id = $1 AND user_id = $2`, s.Tenant.ID, s.User.ID)
	b.clock.Advance(tenancy.MaxCacheTTL + time.Second)
	if p, err := long.PrincipalFromToken(ctx, s.AccessToken); err != nil || p.Role != tenancy.RoleViewer {
		t.Errorf("demotion not seen after MaxCacheTTL with a configured TTL of an hour: %+v %v", p, err)
	}
}
