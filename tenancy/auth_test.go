package tenancy

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

func TestRoleScopes(t *testing.T) {
	cases := []struct {
		role  Role
		scope Scope
		want  bool
	}{
		{RoleViewer, ScopeSpacesRead, true},
		{RoleViewer, ScopeSpacesWrite, false},
		{RoleViewer, ScopeUsersRead, false},
		{RoleOperator, ScopeReservationsWrite, true},
		{RoleOperator, ScopeDevicesWrite, true},
		{RoleOperator, ScopeSitesWrite, false},
		{RoleOperator, ScopeTenantsWrite, false},
		{RoleAdmin, ScopeUsersRead, true},
		{RoleAdmin, ScopeTenantsWrite, true},
		{RoleOwner, ScopeSitesWrite, true},
		{Role(""), ScopeSpacesRead, false},
		{Role("root"), ScopeSpacesRead, false},
	}
	for _, c := range cases {
		if got := c.role.Has(c.scope); got != c.want {
			t.Errorf("%q.Has(%s) = %v", c.role, c.scope, got)
		}
	}
	if !RoleOwner.AtLeast(RoleAdmin) || RoleOperator.AtLeast(RoleAdmin) || !RoleViewer.AtLeast(RoleViewer) || Role("x").AtLeast(RoleViewer) {
		t.Error("AtLeast ordering wrong")
	}
	if len(AllScopes()) != 11 {
		t.Errorf("AllScopes: %v", AllScopes())
	}
	if _, err := ParseRole("Owner"); err != nil {
		t.Error(err)
	}
	if _, err := ParseRole("superuser"); err == nil {
		t.Error("unknown role accepted")
	}
	got, err := ParseScopes([]string{"spaces:read", "devices:read", "spaces:read"})
	if err != nil || len(got) != 2 || got[0] != ScopeDevicesRead {
		t.Errorf("ParseScopes: %v %v", got, err)
	}
	if _, err := ParseScopes([]string{"spaces:admin"}); err == nil {
		t.Error("unknown scope accepted")
	}
	// A guessed scope is answered with the list to choose from.
	_, err = ParseScope("read")
	if err == nil || !strings.Contains(err.Error(), `unknown scope "read"`) {
		t.Fatalf("ParseScope(read): %v", err)
	}
	for _, sc := range AllScopes() {
		if !strings.Contains(err.Error(), string(sc)) {
			t.Errorf("unknown scope error does not name %s: %v", sc, err)
		}
	}
}

func TestEffectiveScopes(t *testing.T) {
	key := []Scope{ScopeSpacesRead, ScopeSpacesWrite, ScopeSitesWrite}
	if got := EffectiveScopes(key, true, ""); len(got) != 3 {
		t.Errorf("service key: %v", got)
	}
	if got := EffectiveScopes(key, false, RoleAdmin); len(got) != 3 {
		t.Errorf("admin's key: %v", got)
	}
	if got := EffectiveScopes(key, false, RoleOperator); len(got) != 2 {
		t.Errorf("operator's key: %v", got)
	}
	if got := EffectiveScopes(key, false, RoleViewer); len(got) != 1 || got[0] != ScopeSpacesRead {
		t.Errorf("viewer's key: %v", got)
	}
	if got := EffectiveScopes(key, false, ""); len(got) != 0 {
		t.Errorf("removed creator's key: %v", got)
	}
}

func TestAPIKeyRoundTrip(t *testing.T) {
	k, err := GenerateAPIKey()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(k.Token, "park_"+k.KeyID+"_") || len(k.Token) != MaxAPIKeyLen {
		t.Fatalf("token %q", k.Token)
	}
	id, secret, err := ParseAPIKey(k.Token)
	if err != nil || id != k.KeyID {
		t.Fatalf("parse: %q %v", id, err)
	}
	if !APISecretMatches(secret, k.SecretHash[:]) {
		t.Error("secret does not match its hash")
	}
	if APISecretMatches(secret+"x", k.SecretHash[:]) {
		t.Error("wrong secret matches")
	}
	k2, _ := GenerateAPIKey()
	if k2.KeyID == k.KeyID || k2.Token == k.Token {
		t.Error("two keys alike")
	}
}

func TestParseAPIKeyRejects(t *testing.T) {
	k, _ := GenerateAPIKey()
	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == 'a' {
			b[i] = 'b'
		} else {
			b[i] = 'a'
		}
		return string(b)
	}
	bad := map[string]string{
		"empty":            "",
		"no prefix":        strings.TrimPrefix(k.Token, "park_"),
		"other prefix":     "pork_" + k.Token[5:],
		"truncated":        k.Token[:len(k.Token)-1],
		"extended":         k.Token + "a",
		"typo in secret":   flip(k.Token, len(k.Token)-10),
		"typo in id":       flip(k.Token, 7),
		"typo in checksum": flip(k.Token, len(k.Token)-1),
		"separator moved":  "park_" + k.KeyID[:11] + "_" + k.KeyID[11:] + k.Token[len("park_")+13:],
		"non-base62":       k.Token[:20] + "-" + k.Token[21:],
		"oversized":        strings.Repeat("park_", 10000),
		"jwt":              "eyJhbGciOiJIUzI1NiJ9.e30.x",
	}
	for name, tok := range bad {
		if _, _, err := ParseAPIKey(tok); !errors.Is(err, ErrMalformedKey) {
			t.Errorf("%s: %q accepted (%v)", name, tok, err)
		}
	}
}

func FuzzParseAPIKey(f *testing.F) {
	k, _ := GenerateAPIKey()
	f.Add(k.Token)
	f.Add("park_")
	f.Add("park_AAAAAAAAAAAA_" + strings.Repeat("A", 38))
	f.Add("\x00\xff")
	f.Fuzz(func(t *testing.T, s string) {
		id, secret, err := ParseAPIKey(s)
		if err != nil {
			return
		}
		// Whatever parses is exactly the documented shape.
		if s != "park_"+id+"_"+secret || len(id) != apiKeyIDLen || !isBase62(id+secret) {
			t.Fatalf("accepted odd key %q", s)
		}
	})
}

func TestPasswordRules(t *testing.T) {
	for pw, ok := range map[string]bool{
		"short":                 false,
		"exactly10!":            true,
		strings.Repeat("x", 72): true,
		strings.Repeat("x", 73): false,
	} {
		if err := ValidatePassword(pw); (err == nil) != ok {
			t.Errorf("ValidatePassword(len %d) = %v", len(pw), err)
		}
	}
}

func TestHasher(t *testing.T) {
	h, err := NewHasher(4, 2)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	hash, err := h.Hash(ctx, "password123")
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Compare(ctx, hash, "password123"); err != nil {
		t.Errorf("right password: %v", err)
	}
	if err := h.Compare(ctx, hash, "password124"); !errors.Is(err, ErrBadPassword) {
		t.Errorf("wrong password: %v", err)
	}
	if err := h.Compare(ctx, "", "password123"); !errors.Is(err, ErrBadPassword) {
		t.Errorf("unknown account: %v", err)
	}
	if _, err := h.Hash(ctx, "short"); err == nil {
		t.Error("short password hashed")
	}
	if _, err := NewHasher(3, 1); err == nil {
		t.Error("cost 3 accepted")
	}
	if _, err := NewHasher(32, 1); err == nil {
		t.Error("cost 32 accepted")
	}
	// A cancelled context gives up waiting for the semaphore.
	full, _ := NewHasher(4, 1)
	full.sem <- struct{}{}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := full.Compare(cctx, hash, "password123"); !errors.Is(err, context.Canceled) {
		t.Errorf("blocked compare: %v", err)
	}
}

func TestTokens(t *testing.T) {
	secret := []byte(strings.Repeat("s", 32))
	old := []byte(strings.Repeat("o", 32))
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	tokens, err := NewTokens(secret, old, 0, clock)
	if err != nil {
		t.Fatal(err)
	}
	user, tenant := uuid.New(), uuid.New()
	tok, claims, err := tokens.Issue(user, tenant, 3)
	if err != nil {
		t.Fatal(err)
	}
	got, err := tokens.Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	if got.TenantID != tenant || got.TokenVersion != 3 || got.Subject != user.String() || got.ID != claims.ID {
		t.Errorf("claims %+v", got)
	}

	// A token signed with the previous secret still verifies during rotation.
	oldTokens, _ := NewTokens(old, nil, 0, clock)
	prevTok, _, _ := oldTokens.Issue(user, tenant, 1)
	if _, err := tokens.Verify(prevTok); err != nil {
		t.Errorf("previous-secret token: %v", err)
	}
	// Without the previous secret configured, it does not.
	noPrev, _ := NewTokens(secret, nil, 0, clock)
	if _, err := noPrev.Verify(prevTok); !errors.Is(err, ErrTokenInvalid) {
		t.Errorf("retired-secret token: %v", err)
	}

	sign := func(method jwt.SigningMethod, key any, c jwt.Claims, kid string) string {
		tk := jwt.NewWithClaims(method, c)
		if kid != "" {
			tk.Header["kid"] = kid
		}
		s, err := tk.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	base := func() *AccessClaims {
		return &AccessClaims{TenantID: tenant, TokenVersion: 1, RegisteredClaims: jwt.RegisteredClaims{
			Issuer: TokenIssuer, Audience: jwt.ClaimStrings{TokenAudience}, Subject: user.String(),
			IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(time.Minute)), ID: "j"}}
	}
	wrongAud := base()
	wrongAud.Audience = jwt.ClaimStrings{"someone-else"}
	wrongIss := base()
	wrongIss.Issuer = "evil"
	noExp := base()
	noExp.ExpiresAt = nil
	expired := base()
	expired.ExpiresAt = jwt.NewNumericDate(now.Add(-time.Minute))
	noTenant := base()
	noTenant.TenantID = uuid.Nil
	noIat := base()
	noIat.IssuedAt = nil
	// A lifetime one second beyond the TTL plus the leeway, issued a minute
	// ago so that it is neither expired nor issued in the future.
	tooLong := base()
	tooLong.IssuedAt = jwt.NewNumericDate(now.Add(-time.Minute))
	tooLong.ExpiresAt = jwt.NewNumericDate(now.Add(-time.Minute + DefaultAccessTTL + tokenLeeway + time.Second))
	longest := base()
	longest.IssuedAt = tooLong.IssuedAt
	longest.ExpiresAt = jwt.NewNumericDate(now.Add(-time.Minute + DefaultAccessTTL + tokenLeeway))
	mapClaims := func(exp any) jwt.MapClaims {
		return jwt.MapClaims{"tid": tenant.String(), "ver": 1, "iss": TokenIssuer, "aud": TokenAudience,
			"sub": user.String(), "iat": now.Unix(), "exp": exp, "jti": "j"}
	}
	stringIat := mapClaims(now.Add(time.Minute).Unix())
	stringIat["iat"] = strconv.FormatInt(now.Unix(), 10)
	withCrit := func(crit any) string {
		tk := jwt.NewWithClaims(jwt.SigningMethodHS256, base())
		tk.Header["kid"] = tokens.kid
		tk.Header["crit"] = crit
		s, err := tk.SignedString(secret)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	// The strict checks must not refuse what they are not about: the
	// longest lifetime allowed, and a numeric exp in a map, both pass.
	for name, tok := range map[string]string{
		"longest lifetime": sign(jwt.SigningMethodHS256, secret, longest, tokens.kid),
		"numeric exp":      sign(jwt.SigningMethodHS256, secret, mapClaims(now.Add(time.Minute).Unix()), tokens.kid),
	} {
		if _, err := tokens.Verify(tok); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}

	header := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT","kid":"` + tokens.kid + `"}`))
	payload := strings.Split(tok, ".")[1]

	bad := map[string]struct {
		token string
		want  error
	}{
		"garbage":      {"not.a.token", ErrTokenInvalid},
		"empty":        {"", ErrTokenInvalid},
		"alg none":     {header + "." + payload + ".", ErrTokenInvalid},
		"wrong secret": {sign(jwt.SigningMethodHS256, []byte(strings.Repeat("w", 32)), base(), tokens.kid), ErrTokenInvalid},
		"wrong aud":    {sign(jwt.SigningMethodHS256, secret, wrongAud, tokens.kid), ErrTokenInvalid},
		"wrong issuer": {sign(jwt.SigningMethodHS256, secret, wrongIss, tokens.kid), ErrTokenInvalid},
		"no expiry":    {sign(jwt.SigningMethodHS256, secret, noExp, tokens.kid), ErrTokenInvalid},
		"expired":      {sign(jwt.SigningMethodHS256, secret, expired, tokens.kid), ErrTokenExpired},
		"HS512":        {sign(jwt.SigningMethodHS512, secret, base(), tokens.kid), ErrTokenInvalid},
		"no kid":       {sign(jwt.SigningMethodHS256, secret, base(), ""), ErrTokenInvalid},
		"no tenant":    {sign(jwt.SigningMethodHS256, secret, noTenant, tokens.kid), ErrTokenInvalid},
		"no iat":       {sign(jwt.SigningMethodHS256, secret, noIat, tokens.kid), ErrTokenInvalid},
		"too long":     {sign(jwt.SigningMethodHS256, secret, tooLong, tokens.kid), ErrTokenInvalid},
		"crit":         {withCrit([]string{"exp"}), ErrTokenInvalid},
		"empty crit":   {withCrit([]string{}), ErrTokenInvalid},
		"string exp":   {sign(jwt.SigningMethodHS256, secret, mapClaims(strconv.FormatInt(now.Add(time.Minute).Unix(), 10)), tokens.kid), ErrTokenInvalid},
		"string iat":   {sign(jwt.SigningMethodHS256, secret, stringIat, tokens.kid), ErrTokenInvalid},
		"unknown kid":  {sign(jwt.SigningMethodHS256, secret, base(), "0123456789ab"), ErrTokenInvalid},
		// The kid picks the one secret tried: a token naming one secret
		// and signed with the other is refused both ways.
		"current secret, previous kid": {sign(jwt.SigningMethodHS256, secret, base(), tokens.prevKID), ErrTokenInvalid},
		"previous secret, current kid": {sign(jwt.SigningMethodHS256, old, base(), tokens.kid), ErrTokenInvalid},
		"tampered body":                {strings.Split(tok, ".")[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"tid":"x"}`)) + "." + strings.Split(tok, ".")[2], ErrTokenInvalid},
	}
	for name, c := range bad {
		if _, err := tokens.Verify(c.token); !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", name, err, c.want)
		}
	}

	// Expiry comes with the clock: 15 minutes plus the leeway.
	now = now.Add(DefaultAccessTTL + tokenLeeway + time.Second)
	if _, err := tokens.Verify(tok); !errors.Is(err, ErrTokenExpired) {
		t.Errorf("after ttl: %v", err)
	}
	if _, err := NewTokens([]byte("short"), nil, 0, nil); err == nil {
		t.Error("short secret accepted")
	}
}

func TestRefreshTokens(t *testing.T) {
	tok, hash, err := GenerateRefreshToken()
	if err != nil {
		t.Fatal(err)
	}
	h, ok := HashRefreshToken(tok)
	if !ok || h != hash {
		t.Error("round trip")
	}
	for _, s := range []string{"", "prt_", tok + "x", "xrt_" + tok[4:], "prt_" + strings.Repeat("*", 43)} {
		if _, ok := HashRefreshToken(s); ok {
			t.Errorf("%q accepted", s)
		}
	}
}

// FuzzVerifyToken feeds arbitrary strings to the access-token check: it
// must never panic, and only a token whose HS256 signature is ours — checked
// here independently of the JWT library — may pass.
func FuzzVerifyToken(f *testing.F) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	secret := []byte(strings.Repeat("s", 32))
	tokens, err := NewTokens(secret, nil, 0, func() time.Time { return now })
	if err != nil {
		f.Fatal(err)
	}
	good, _, _ := tokens.Issue(uuid.New(), uuid.New(), 1)
	f.Add(good)
	f.Add("")
	f.Add("a.b.c")
	f.Add(strings.Repeat("eyJ", 10000))
	f.Add(`eyJhbGciOiJub25lIn0.eyJ0aWQiOiJ4In0.`)
	f.Fuzz(func(t *testing.T, s string) {
		c, err := tokens.Verify(s)
		if err != nil {
			return
		}
		parts := strings.Split(s, ".")
		mac := hmac.New(sha256.New, secret)
		mac.Write([]byte(parts[0] + "." + parts[1]))
		sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
		if len(parts) != 3 || !hmac.Equal(sig, mac.Sum(nil)) {
			t.Fatalf("accepted a token it did not sign: %q (%+v)", s, c)
		}
	})
}

// FuzzHashRefreshToken: malformed refresh tokens are refused offline,
// never with a panic.
func FuzzHashRefreshToken(f *testing.F) {
	tok, _, _ := GenerateRefreshToken()
	f.Add(tok)
	f.Add("prt_")
	f.Add("prt_" + strings.Repeat("\xff", 43))
	f.Fuzz(func(t *testing.T, s string) {
		if _, ok := HashRefreshToken(s); ok && (len(s) != 47 || !strings.HasPrefix(s, "prt_")) {
			t.Fatalf("accepted %q", s)
		}
	})
}
