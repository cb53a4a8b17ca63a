package tenancy

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
)

// TestVerifiedTokensRemembered: a verified token is answered from memory
// (shown by retiring the secret that signed it: only a remembered token
// still passes) until its exp and not an instant longer; then it is
// checked in full again.
func TestVerifiedTokensRemembered(t *testing.T) {
	t.Parallel()
	secret := []byte(strings.Repeat("s", 32))
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	tokens, err := NewTokens(secret, nil, 0, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	user, tenant := uuid.New(), uuid.New()
	tok, issued, err := tokens.Issue(user, tenant, 7)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tokens.Verify(tok); err != nil {
		t.Fatal(err)
	}
	if tokens.verified.len() != 1 {
		t.Fatalf("%d tokens remembered after one verification", tokens.verified.len())
	}

	// Another secret from now on: a full check would refuse the token.
	tokens.current, tokens.kid = []byte(strings.Repeat("x", 32)), keyID([]byte(strings.Repeat("x", 32)))
	got, err := tokens.Verify(tok)
	if err != nil || got.TenantID != tenant || got.TokenVersion != 7 || got.Subject != user.String() || got.ID != issued.ID {
		t.Fatalf("remembered token: %+v %v", got, err)
	}
	// The caller's copy is its own.
	got.TokenVersion, got.TenantID = 99, uuid.Nil
	if again, _ := tokens.Verify(tok); again == nil || again.TokenVersion != 7 || again.TenantID != tenant {
		t.Fatalf("a caller's change reached the memory: %+v", again)
	}

	// Any change to the token is another key: checked in full, refused.
	parts := strings.Split(tok, ".")
	flipped := []byte(parts[2])
	flipped[0] ^= 1
	for name, other := range map[string]string{
		"signature": parts[0] + "." + parts[1] + "." + string(flipped),
		"prefix":    tok[:len(tok)-1],
		"suffix":    tok + "A",
	} {
		if _, err := tokens.Verify(other); !errors.Is(err, ErrTokenInvalid) {
			t.Errorf("changed %s: %v", name, err)
		}
	}

	// Up to the last instant before exp, from memory; at exp, checked in
	// full (and refused, the secret being gone).
	exp := issued.ExpiresAt.Time
	now = exp.Add(-time.Nanosecond)
	if _, err := tokens.Verify(tok); err != nil {
		t.Fatalf("just before exp: %v", err)
	}
	now = exp
	if _, err := tokens.Verify(tok); !errors.Is(err, ErrTokenInvalid) {
		t.Fatalf("at exp the token was still answered from memory: %v", err)
	}
}

// TestVerifiedTokensNotRememberedPastExp: a token accepted within the
// leeway after its exp is not remembered, and is refused as expired once
// the leeway is over, whether or not it was remembered before.
func TestVerifiedTokensNotRememberedPastExp(t *testing.T) {
	t.Parallel()
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	tokens, err := NewTokens([]byte(strings.Repeat("s", 32)), nil, 0, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	tok, issued, err := tokens.Issue(uuid.New(), uuid.New(), 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tokens.Verify(tok); err != nil {
		t.Fatal(err)
	}
	now = issued.ExpiresAt.Add(tokenLeeway / 2)
	if _, err := tokens.Verify(tok); err != nil {
		t.Fatalf("within the leeway: %v", err)
	}
	if _, ok := tokens.verified.get(tok, issued.ExpiresAt.Add(-time.Second)); !ok {
		t.Fatal("the entry made before exp is gone")
	}
	other, otherClaims, err := tokens.Issue(uuid.New(), uuid.New(), 1)
	if err != nil {
		t.Fatal(err)
	}
	now = otherClaims.ExpiresAt.Add(time.Second)
	if _, err := tokens.Verify(other); err != nil {
		t.Fatalf("within the leeway: %v", err)
	}
	if _, ok := tokens.verified.get(other, otherClaims.ExpiresAt.Add(-time.Second)); ok {
		t.Fatal("a token verified after its exp was remembered")
	}
	now = issued.ExpiresAt.Add(tokenLeeway + time.Second)
	if _, err := tokens.Verify(tok); !errors.Is(err, ErrTokenExpired) {
		t.Fatalf("after the leeway: %v", err)
	}
}

// TestVerifiedTokensBounded: the memory never holds more than its bound;
// when full it drops expired entries first, and without any, everything.
func TestVerifiedTokensBounded(t *testing.T) {
	t.Parallel()
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	c := newVerifiedTokens(3)
	for i := range 10 {
		c.put(string(rune('a'+i)), AccessClaims{}, now.Add(time.Minute), now)
		if c.len() > 3 {
			t.Fatalf("%d entries, bound 3", c.len())
		}
	}
	c = newVerifiedTokens(3)
	c.put("short1", AccessClaims{}, now.Add(time.Second), now)
	c.put("short2", AccessClaims{}, now.Add(time.Second), now)
	c.put("long", AccessClaims{}, now.Add(time.Hour), now)
	later := now.Add(time.Minute)
	c.put("new", AccessClaims{}, later.Add(time.Minute), later)
	if _, ok := c.get("long", later); !ok || c.len() != 2 {
		t.Fatalf("full with two expired entries: %d left, long kept %v", c.len(), ok)
	}
	// Refreshing a remembered token when full drops nothing.
	c.put("third", AccessClaims{}, later.Add(time.Minute), later)
	c.put("long", AccessClaims{}, now.Add(time.Hour), later)
	if c.len() != 3 {
		t.Fatalf("re-put of a known token when full: %d entries", c.len())
	}
	if tokens, _ := NewTokens([]byte(strings.Repeat("s", 32)), nil, 0, nil); tokens.verified.max != MaxVerifiedTokens {
		t.Fatalf("NewTokens bounds its memory at %d, not MaxVerifiedTokens", tokens.verified.max)
	}
}

// TestVerifiedTokensConcurrent: many goroutines verifying the same and
// different tokens at once (run with -race).
func TestVerifiedTokensConcurrent(t *testing.T) {
	t.Parallel()
	tokens, err := NewTokens([]byte(strings.Repeat("s", 32)), nil, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	toks := make([]string, 8)
	for i := range toks {
		if toks[i], _, err = tokens.Issue(uuid.New(), uuid.New(), i); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				k := (g + i) % len(toks)
				c, err := tokens.Verify(toks[k])
				if err != nil || c.TokenVersion != k {
					t.Errorf("token %d: %+v %v", k, c, err)
					return
				}
			}
		}()
	}
	wg.Wait()
}
