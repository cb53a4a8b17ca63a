package ratelimit

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

func TestPolicyValidate(t *testing.T) {
	t.Parallel()
	ok := Policy{Name: "api", Rate: 100, Burst: 200}
	tests := []struct {
		name   string
		change func(*Policy)
		want   string // "" = valid
	}{
		{"valid", func(*Policy) {}, ""},
		{"fail closed", func(p *Policy) { p.OnOutage = FailClosed }, ""},
		{"max rate", func(p *Policy) { p.Rate = MaxRate; p.Burst = 1 }, ""},
		{"slow", func(p *Policy) { p.Rate = 1.0 / 3600; p.Burst = 24 }, ""},
		{"empty name", func(p *Policy) { p.Name = "" }, "name"},
		{"long name", func(p *Policy) { p.Name = strings.Repeat("a", 65) }, "name"},
		{"colon in name", func(p *Policy) { p.Name = "a:b" }, "may only contain"},
		{"brace in name", func(p *Policy) { p.Name = "a}" }, "may only contain"},
		{"quote in name", func(p *Policy) { p.Name = `a"` }, "may only contain"},
		{"zero rate", func(p *Policy) { p.Rate = 0 }, "rate"},
		{"negative rate", func(p *Policy) { p.Rate = -1 }, "rate"},
		{"NaN rate", func(p *Policy) { p.Rate = math.NaN() }, "rate"},
		{"infinite rate", func(p *Policy) { p.Rate = math.Inf(1) }, "rate"},
		{"rate too high", func(p *Policy) { p.Rate = 2e6 }, "rate"},
		{"zero burst", func(p *Policy) { p.Burst = 0 }, "burst"},
		{"burst too high", func(p *Policy) { p.Burst = MaxBurst + 1 }, "burst"},
		{"window too long", func(p *Policy) { p.Rate = 1e-6; p.Burst = 100 }, "refill"},
		{"fail mode", func(p *Policy) { p.OnOutage = 7 }, "fail mode"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := ok
			tt.change(&p)
			err := p.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Validate(%+v) = %v, want nil", p, err)
			case tt.want != "" && (err == nil || !errors.Is(err, ErrInvalidPolicy) || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("Validate(%+v) = %v, want ErrInvalidPolicy mentioning %q", p, err, tt.want)
			}
		})
	}
}

func TestDefaultPolicies(t *testing.T) {
	t.Parallel()
	ps := DefaultPolicies()
	if err := ps.Validate(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		p        Policy
		name     string
		interval int64 // µs
		burst    int
		window   time.Duration
	}{
		{ps.API, NameAPI, 10_000, 200, 2 * time.Second},
		{ps.Webhook, NameWebhook, 5_000, 400, 2 * time.Second},
		{ps.Orphan, NameOrphan, 200_000, 20, 4 * time.Second},
		{ps.LoginEmailIP, NameLoginEmailIP, 6_000_000, 10, time.Minute},
		{ps.LoginEmail, NameLoginEmail, 1_200_000, 50, time.Minute},
		{ps.LoginIP, NameLoginIP, 1_000_000, 30, 30 * time.Second},
		{ps.Refresh, NameRefresh, 500_000, 60, 30 * time.Second},
	}
	for _, tt := range tests {
		if tt.p.Name != tt.name || tt.p.interval() != tt.interval || tt.p.Burst != tt.burst || tt.p.Window() != tt.window || tt.p.OnOutage != FailLocal {
			t.Errorf("%s = %+v (interval %dµs, window %v), want interval %dµs, burst %d, window %v, FailLocal",
				tt.name, tt.p, tt.p.interval(), tt.p.Window(), tt.interval, tt.burst, tt.window)
		}
	}
}

func TestWithFailModeKeepsLoginLocal(t *testing.T) {
	t.Parallel()
	ps := DefaultPolicies().WithFailMode(FailClosed)
	for _, p := range []Policy{ps.API, ps.Webhook, ps.Orphan} {
		if p.OnOutage != FailClosed {
			t.Errorf("%s: OnOutage = %v, want closed", p.Name, p.OnOutage)
		}
	}
	for _, p := range []Policy{ps.LoginEmailIP, ps.LoginEmail, ps.LoginIP, ps.Refresh} {
		if p.OnOutage != FailLocal {
			t.Errorf("%s: OnOutage = %v, want local", p.Name, p.OnOutage)
		}
	}
}

func TestWithOverrides(t *testing.T) {
	t.Parallel()
	base := DefaultPolicies().WithFailMode(FailClosed)
	tests := []struct {
		name    string
		limits  map[string]Override
		want    func(*Policies)
		wantErr []string
	}{
		{name: "none", limits: nil, want: func(*Policies) {}},
		{name: "api both", limits: map[string]Override{"api": {Rate: 50, Burst: 100}},
			want: func(p *Policies) { p.API.Rate, p.API.Burst = 50, 100 }},
		{name: "rate only keeps burst", limits: map[string]Override{"webhook": {Rate: 10}},
			want: func(p *Policies) { p.Webhook.Rate = 10 }},
		{name: "burst only keeps rate", limits: map[string]Override{"orphan": {Burst: 1}},
			want: func(p *Policies) { p.Orphan.Burst = 1 }},
		{name: "all three", limits: map[string]Override{"api": {Rate: 1, Burst: 1}, "webhook": {Rate: 2, Burst: 2}, "orphan": {Rate: 3, Burst: 3}},
			want: func(p *Policies) {
				p.API.Rate, p.API.Burst = 1, 1
				p.Webhook.Rate, p.Webhook.Burst = 2, 2
				p.Orphan.Rate, p.Orphan.Burst = 3, 3
			}},
		{name: "login is not a tenant's", limits: map[string]Override{"login_ip": {Rate: 1000}}, wantErr: []string{`unknown policy "login_ip"`}},
		{name: "negative", limits: map[string]Override{"api": {Rate: -1}}, wantErr: []string{"limits.api", "negative"}},
		{name: "too fast", limits: map[string]Override{"api": {Rate: 1e7}}, wantErr: []string{"limits.api", "rate"}},
		{name: "every problem at once", limits: map[string]Override{"nope": {}, "api": {Burst: -1}, "webhook": {Rate: 1e9}},
			wantErr: []string{`"nope"`, "limits.api", "limits.webhook"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := base.WithOverrides(tt.limits)
			if tt.wantErr != nil {
				if err == nil || !errors.Is(err, ErrInvalidPolicy) {
					t.Fatalf("err = %v, want ErrInvalidPolicy", err)
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("err = %q, want it to mention %q", err, w)
					}
				}
				if got != base {
					t.Errorf("policies changed on error: %+v", got)
				}
				if ValidateOverrides(tt.limits) == nil {
					t.Error("ValidateOverrides accepts what WithOverrides refuses")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := base
			tt.want(&want)
			if got != want {
				t.Errorf("got  %+v\nwant %+v", got, want)
			}
			if err := ValidateOverrides(tt.limits); err != nil {
				t.Errorf("ValidateOverrides = %v", err)
			}
		})
	}
}

// hashTag returns the part of key Redis Cluster hashes: the text between
// the first '{' and the first '}' after it, when not empty.
func hashTag(key string) string {
	open := strings.IndexByte(key, '{')
	if open < 0 {
		return key
	}
	end := strings.IndexByte(key[open+1:], '}')
	if end <= 0 {
		return key
	}
	return key[open+1 : open+1+end]
}

func TestKeyHashTag(t *testing.T) {
	t.Parallel()
	tenant := "5f0c6a8e-3c1b-4f7e-9a8a-2d7e4b1c9f00"
	if got, want := Key(NameAPI, tenant), "park:rl:{"+tenant+"}:api"; got != want {
		t.Errorf("Key = %q, want %q", got, want)
	}
	for _, p := range DefaultPolicies().all() {
		if got := hashTag(Key(p.Name, tenant)); got != tenant {
			t.Errorf("hash tag of %q = %q, want the tenant: one slot per tenant", Key(p.Name, tenant), got)
		}
	}
	scope := testScopes.Scope("alice@example.com", "192.0.2.1")
	if len(scope) != 32 || hashTag(Key(NameLoginEmailIP, scope)) != scope {
		t.Errorf("Scope = %q: want 32 hex digits usable as a hash tag", scope)
	}
}

// testScopes is a ScopeHasher for tests.
var testScopes = func() *ScopeHasher {
	h, err := NewScopeHasher([]byte("test-secret-test-secret-test-secret"))
	if err != nil {
		panic(err)
	}
	return h
}()

// TestScopeHasher: scopes are keyed digests — distinct for distinct
// parts, never the plain SHA-256 a dictionary could rebuild, and different
// under another secret — and the secret must be long enough.
func TestScopeHasher(t *testing.T) {
	t.Parallel()
	seen := map[string][]string{}
	for _, parts := range [][]string{{"ab", "c"}, {"a", "bc"}, {"abc"}, {"abc", ""}, {}, {""}, {"alice@example.com"}, {"alice@example.com", "192.0.2.1"}} {
		s := testScopes.Scope(parts...)
		if prev, dup := seen[s]; dup {
			t.Errorf("Scope(%q) = Scope(%q) = %s", parts, prev, s)
		}
		seen[s] = parts
		if strings.Contains(s, "alice") || strings.ContainsAny(s, "{}:") {
			t.Errorf("Scope(%q) = %q", parts, s)
		}
	}
	if testScopes.Scope("a", "b") != testScopes.Scope("a", "b") {
		t.Error("Scope is not deterministic")
	}

	// The unkeyed digest of the same length-prefixed encoding, and of the
	// bare email: what anyone could recompute.
	email := "alice@example.com"
	plain := sha256.New()
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(email)))
	plain.Write(n[:])
	plain.Write([]byte(email))
	bare := sha256.Sum256([]byte(email))
	got := testScopes.Scope(email)
	if got == hex.EncodeToString(plain.Sum(nil)[:16]) || got == hex.EncodeToString(bare[:16]) {
		t.Errorf("Scope(%q) = %s is an unkeyed SHA-256", email, got)
	}
	other, err := NewScopeHasher([]byte("another-secret-another-secret-another"))
	if err != nil {
		t.Fatal(err)
	}
	if other.Scope(email) == got {
		t.Error("two secrets give the same scope")
	}
	same, _ := NewScopeHasher([]byte("test-secret-test-secret-test-secret"))
	if same.Scope(email) != got {
		t.Error("one secret gives two scopes: servers sharing it would not share limits")
	}
	// The key is derived, not the secret itself.
	m := hmac.New(sha256.New, []byte("test-secret-test-secret-test-secret"))
	binary.BigEndian.PutUint64(n[:], uint64(len(email)))
	m.Write(n[:])
	m.Write([]byte(email))
	if got == hex.EncodeToString(m.Sum(nil)[:16]) {
		t.Error("Scope is keyed with the secret itself, not a key derived from it")
	}
	if _, err := NewScopeHasher(make([]byte, 31)); err == nil {
		t.Error("a 31-byte secret was accepted")
	}
}
