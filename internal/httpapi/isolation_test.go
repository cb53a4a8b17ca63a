package httpapi

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parkhq/park/ingest"
	"github.com/parkhq/park/internal/pgtest"
	"github.com/parkhq/park/tenancy"
)

// e2e serves the whole API — the real auth middleware, real stores, a real
// database — with a clock the test moves for the authorization cache.
type e2e struct {
	h     http.Handler
	admin *pgxpool.Pool
	auth  *tenancy.Auth
	deps  Deps
	clock *e2eClock

	// server is the park_server pool the API runs on.
	server *pgxpool.Pool
}

type e2eClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *e2eClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *e2eClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

const e2eSecret = "e2e-jwt-secret-of-at-least-32-bytes!"

// e2eCacheTTL is the authorization cache TTL in these tests.
const e2eCacheTTL = 2 * time.Second

func newE2E(t *testing.T) *e2e {
	t.Helper()
	db := pgtest.NewDB(t)
	return newE2EOn(t, db, db.ServerPool(t, 8))
}

// newE2EOn serves the API from server, a park_server pool on db: direct, or
// through PgBouncer (pgbouncertest), with the tenant store built with opts
// (the tenant prologue). Fixtures are arranged directly, as the superuser.
func newE2EOn(t *testing.T, db *pgtest.DB, server *pgxpool.Pool, opts ...tenancy.StoreOption) *e2e {
	t.Helper()
	clock := &e2eClock{now: time.Now().UTC()}
	hasher, err := tenancy.NewHasher(4, 4)
	if err != nil {
		t.Fatal(err)
	}
	tokens, err := tenancy.NewTokens([]byte(e2eSecret), nil, 0, clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	store := tenancy.NewStore(server, opts...)
	auth, err := tenancy.NewAuth(store, tenancy.AuthConfig{Hasher: hasher, Tokens: tokens, CacheTTL: e2eCacheTTL, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	// Ingest as parkd wires it: secrets sealed under a master key, the
	// group-commit writer, the intake.
	keyring := &ingest.Keyring{Current: 1, Keys: map[int][]byte{1: []byte("e2e-master-key-of-exactly-32-byt")}}
	ingestStore := ingest.NewStore(store, ingest.StoreOptions{Keyring: keyring})
	writer, err := ingest.NewWriter(ingestStore.StoreBatch, ingest.WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = writer.Close(context.Background()) })
	intake := ingest.NewIntake(store.WebhookTenant, ingestStore, writer, ingest.IntakeOptions{Now: clock.Now})
	deps := Deps{Tenancy: store, Auth: auth, RegistrationOpen: true, Ingest: intake, IngestStore: ingestStore}
	return &e2e{h: NewServer(deps), admin: db.AdminPool(t), server: server, auth: auth, deps: deps, clock: clock}
}

// do sends one request; cred is a bearer token or API key ("" for none).
func (e *e2e) do(t *testing.T, method, target, cred, body string) *httptest.ResponseRecorder {
	t.Helper()
	var r *http.Request
	if body == "" {
		r = httptest.NewRequest(method, target, nil)
	} else {
		r = httptest.NewRequest(method, target, strings.NewReader(body))
	}
	if cred != "" {
		r.Header.Set("Authorization", "Bearer "+cred)
	}
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, r)
	return w
}

// json sends a request that must answer status, and decodes the body.
func (e *e2e) json(t *testing.T, method, target, cred, body string, status int) map[string]any {
	t.Helper()
	w := e.do(t, method, target, cred, body)
	if w.Code != status {
		t.Fatalf("%s %s: status %d, want %d: %s", method, target, w.Code, status, w.Body)
	}
	var m map[string]any
	if w.Body.Len() > 0 {
		if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil {
			t.Fatalf("%s %s: %v: %s", method, target, err, w.Body)
		}
	}
	return m
}

// world is one tenant made through the API, with one object of every kind.
type world struct {
	slug, email, token string
	tenant             string
	site, space, key   string
	reservation        string
	secretID           string   // a webhook secret (token mode)
	webhookToken       string   // its value
	orphan             string   // the EUI of an orphan device
	secrets            []string // every value of this tenant another must never see
}

func (e *e2e) makeWorld(t *testing.T, slug string) *world {
	t.Helper()
	w := &world{slug: slug, email: "owner@" + slug + ".example"}
	reg := e.json(t, "POST", "/api/v1/auth/register", "", `{"user":{"email":"`+w.email+`","name":"Owner `+slug+`","password":"password123"},"tenant":{"name":"Tenant `+slug+`","slug":"`+slug+`"}}`, 201)
	w.token = reg["access_token"].(string)
	w.tenant = reg["tenant"].(map[string]any)["id"].(string)
	w.site = e.json(t, "POST", "/api/v1/sites", w.token, `{"name":"Site of `+slug+`","timezone":"Europe/Berlin"}`, 201)["id"].(string)
	w.space = e.json(t, "POST", "/api/v1/spaces", w.token, `{"site_id":"`+w.site+`","code":"CODE-`+slug+`","name":"Space of `+slug+`","sensor_eui":"`+strings.Repeat(slug[:1], 16)+`"}`, 201)["id"].(string)
	key := e.json(t, "POST", "/api/v1/api-keys", w.token, `{"name":"Key of `+slug+`","scopes":["spaces:read"]}`, 201)
	w.key = key["id"].(string)
	w.reservation = e.json(t, "POST", "/api/v1/reservations", w.token, reservationBody(w.space), 201)["id"].(string)
	sec := e.json(t, "POST", "/api/v1/webhook-secrets", w.token, `{"mode":"token"}`, 201)
	w.secretID, w.webhookToken = sec["id"].(string), sec["secret"].(string)
	// A reading of the space and an orphan, through the tenant's webhook.
	w.orphan = strings.Repeat(slug[:1], 15) + "0"
	for eui, want := range map[string]string{strings.Repeat(slug[:1], 16): "stored", w.orphan: "orphan"} {
		got := e.json(t, "POST", "/api/v1/webhooks/uplink/"+slug, w.webhookToken,
			`{"dev_eui":"`+eui+`","f_cnt":1,"occupied":true}`, 200)
		if got["status"] != want {
			t.Fatalf("uplink of %s: %v, want %s", eui, got, want)
		}
	}
	var userID string
	if err := e.admin.QueryRow(context.Background(), `SELECT id::text FROM users WHERE email = $1`, w.email).Scan(&userID); err != nil {
		t.Fatal(err)
	}
	w.secrets = []string{w.tenant, w.site, w.space, w.key, userID, key["key_id"].(string),
		"Tenant " + slug, "Site of " + slug, "CODE-" + slug, "Space of " + slug, "Key of " + slug, w.email, w.reservation,
		w.secretID, w.webhookToken, w.orphan}
	return w
}

// reservationBody books space for an hour, a day from now.
func reservationBody(space string) string {
	from := time.Now().UTC().Truncate(time.Hour).Add(24 * time.Hour)
	return `{"space_id":"` + space + `","starts_at":"` + from.Format(time.RFC3339) +
		`","ends_at":"` + from.Add(time.Hour).Format(time.RFC3339) + `"}`
}

// serviceKey gives w a service key (as parkctl would) holding every scope.
func (e *e2e) serviceKey(t *testing.T, w *world, scopes ...tenancy.Scope) string {
	t.Helper()
	if scopes == nil {
		scopes = tenancy.AllScopes()
	}
	k, err := tenancy.GenerateAPIKey()
	if err != nil {
		t.Fatal(err)
	}
	names := make([]string, len(scopes))
	for i, s := range scopes {
		names[i] = string(s)
	}
	if _, err := e.admin.Exec(context.Background(), `INSERT INTO api_keys (tenant_id, id, key_id, name, secret_hash, scopes)
		VALUES ($1, $2, $3, 'service', $4, $5)`, w.tenant, uuid.New(), k.KeyID, k.SecretHash[:], names); err != nil {
		t.Fatal(err)
	}
	// The look-up row that finds the key's tenant (tenancy writes it with
	// the key).
	if _, err := e.admin.Exec(context.Background(), `INSERT INTO api_key_ids (key_id, tenant_id) VALUES ($1, $2)`,
		k.KeyID, w.tenant); err != nil {
		t.Fatal(err)
	}
	return k.Token
}

var pathParam = regexp.MustCompile(`\{[^}]+\}`)

// TestIsolationMatrix walks the route table: for every authenticated route,
// B's owner token and a B key holding every scope call it with A's ids.
// Routes with an id answer 404 (403 for routes keys may not call); lists
// show nothing of A; no answer carries a byte of A's data; A's objects are
// unchanged afterwards. A route whose path parameter has no fixture, or a
// write route without a body below, fails the test: a new route cannot
// escape the matrix.
func TestIsolationMatrix(t *testing.T) {
	t.Parallel()
	isolationMatrix(t, newE2E(t), false)
}

// isolationMatrix runs the matrix on e. With interleave, A reads its own
// sites after every request of B's, so that A's and B's transactions
// alternate; through PgBouncer's pool-1 entry they alternate on one server
// connection, where a setting either left behind would show in the other's
// answers.
func isolationMatrix(t *testing.T, e *e2e, interleave bool) {
	a := e.makeWorld(t, "alpha")
	b := e.makeWorld(t, "bravo")
	bKey := e.serviceKey(t, b)
	var aOwner string
	if err := e.admin.QueryRow(context.Background(), `SELECT id::text FROM users WHERE email = $1`, a.email).Scan(&aOwner); err != nil {
		t.Fatal(err)
	}

	// A's object for each parameterised route prefix.
	fixtures := map[string]string{
		"/api/v1/sites/{id}":    a.site,
		"/api/v1/spaces/{id}":   a.space,
		"/api/v1/api-keys/{id}": a.key,
		"/api/v1/users/{id}":    aOwner,

		"/api/v1/reservations/{id}":        a.reservation,
		"/api/v1/reservations/{id}/cancel": a.reservation,

		"/api/v1/webhook-secrets/{id}":             a.secretID,
		"/api/v1/devices/orphans/{dev_eui}/assign": a.orphan,
		"/api/v1/devices/orphans/{dev_eui}/ignore": a.orphan,
		"/api/v1/spaces/{id}/readings":             a.space,
	}
	// Bodies for writes. A's ids appear where a body names a parent, so
	// the body itself is a cross-tenant attempt too.
	bodies := map[string]string{
		"PATCH /api/v1/tenants/current": `{"name":"Renamed by B"}`,
		"POST /api/v1/sites":            `{"name":"B site","timezone":"UTC"}`,
		"PATCH /api/v1/sites/{id}":      `{"name":"Hijacked"}`,
		"POST /api/v1/api-keys":         `{"name":"B key","scopes":["spaces:read"]}`,
		"POST /api/v1/spaces":           `{"site_id":"` + a.site + `","code":"X1"}`,
		"PATCH /api/v1/spaces/{id}":     `{"name":"Hijacked"}`,
		// Adding a member names an account by email: one nobody has.
		"POST /api/v1/users":         `{"email":"nobody@nowhere.example","role":"viewer"}`,
		"PATCH /api/v1/users/{id}":   `{"role":"viewer"}`,
		"POST /api/v1/auth/password": `{"current_password":"not-the-password","new_password":"another-password"}`,

		"POST /api/v1/reservations":             reservationBody(a.space),
		"POST /api/v1/reservations/{id}/cancel": `{}`,

		"POST /api/v1/webhook-secrets":                  `{"mode":"hmac"}`,
		"POST /api/v1/devices/orphans/{dev_eui}/assign": `{"space_id":"` + a.space + `"}`,
		"POST /api/v1/devices/orphans/{dev_eui}/ignore": `{}`,
	}
	// Creating in one's own tenant is fine; these answers are B's own.
	ownCreate := map[string]bool{"POST /api/v1/sites": true, "POST /api/v1/api-keys": true, "PATCH /api/v1/tenants/current": true,
		"POST /api/v1/webhook-secrets": true}

	covered := 0
	for _, rt := range Routes(e.deps) {
		if rt.Access != AccessPrincipal {
			continue
		}
		route := rt.Method + " " + rt.Pattern
		path := rt.Pattern
		hasParam := pathParam.MatchString(path)
		if hasParam {
			id, ok := fixtures[rt.Pattern]
			if !ok {
				t.Errorf("%s: no fixture for its path parameter; add one to the matrix", route)
				continue
			}
			path = pathParam.ReplaceAllString(path, id)
		}
		body, hasBody := bodies[route]
		if (rt.Method == "POST" || rt.Method == "PATCH") && !hasBody {
			t.Errorf("%s: no body in the matrix; add one", route)
			continue
		}
		covered++
		for _, who := range []struct {
			name, cred string
			isKey      bool
		}{{"B owner", b.token, false}, {"B key", bKey, true}} {
			w := e.do(t, rt.Method, path, who.cred, body)
			ctx := who.name + " " + route
			if interleave {
				e.ownSitesOnly(t, a, b, "after "+ctx)
			}
			switch {
			case who.isKey && !rt.KeyAllowed:
				if w.Code != http.StatusForbidden {
					t.Errorf("%s: key on a users-only route answered %d, want 403: %s", ctx, w.Code, w.Body)
				}
			case hasParam:
				if w.Code != http.StatusNotFound {
					t.Errorf("%s with A's id: %d, want 404: %s", ctx, w.Code, w.Body)
				}
			case route == "POST /api/v1/reservations":
				// A's space is no space of B's.
				if w.Code != http.StatusNotFound {
					t.Errorf("%s on A's space: %d, want 404: %s", ctx, w.Code, w.Body)
				}
			case route == "POST /api/v1/users" || route == "POST /api/v1/auth/password":
				// No such account; not B's password: field errors.
				if w.Code != http.StatusBadRequest {
					t.Errorf("%s: %d, want 400: %s", ctx, w.Code, w.Body)
				}
			case route == "POST /api/v1/spaces":
				if w.Code/100 != 4 {
					t.Errorf("%s on A's site: %d, want 4xx: %s", ctx, w.Code, w.Body)
				}
			case ownCreate[route]:
				// The second caller's create meets the first's name: 409.
				if w.Code/100 != 2 && w.Code != http.StatusConflict {
					t.Errorf("%s: %d: %s", ctx, w.Code, w.Body)
				}
			default:
				if w.Code != http.StatusOK {
					t.Errorf("%s: %d: %s", ctx, w.Code, w.Body)
				}
			}
			for _, s := range a.secrets {
				// The one value a request sent may come back in a
				// field error; nothing else of A's may.
				if strings.Contains(w.Body.String(), s) && !strings.Contains(path+body, s) {
					t.Errorf("%s: the answer carries A's %q: %s", ctx, s, w.Body)
				}
			}
		}
	}
	// Webhook routes: a tenant's secret opens its own URL only. Every
	// refusal reads the same, whether the slug exists or not.
	var refusals []string
	for _, rt := range Routes(e.deps) {
		if rt.Access != AccessWebhook {
			continue
		}
		covered++
		url := func(slug string) string { return strings.Replace(rt.Pattern, "{slug}", slug, 1) + "?event=up" }
		body := `{"dev_eui":"` + a.orphan + `","f_cnt":2,"occupied":false}`
		for _, try := range []struct{ name, url, cred string }{
			{"A's secret on B's URL", url(b.slug), a.webhookToken},
			{"B's secret on A's URL", url(a.slug), b.webhookToken},
			{"no secret on A's URL", url(a.slug), ""},
			{"A's secret on an unknown slug", url("nobody"), a.webhookToken},
		} {
			w := e.do(t, "POST", try.url, try.cred, body)
			if w.Code != http.StatusUnauthorized {
				t.Errorf("%s %s: %d, want 401: %s", rt.Pattern, try.name, w.Code, w.Body)
				continue
			}
			var p map[string]any
			_ = json.Unmarshal(w.Body.Bytes(), &p)
			delete(p, "correlation_id")
			delete(p, "request_id")
			got, _ := json.Marshal(p)
			refusals = append(refusals, string(got))
			if interleave {
				e.ownSitesOnly(t, a, b, "after "+rt.Pattern+" "+try.name)
			}
		}
	}
	for _, r := range refusals {
		if r != refusals[0] {
			t.Errorf("webhook refusals differ: %s and %s", refusals[0], r)
		}
	}
	if covered < 27 {
		t.Errorf("the matrix covered %d routes; the table has more", covered)
	}

	// A's objects are all still there and unchanged.
	got := e.json(t, "GET", "/api/v1/sites/"+a.site, a.token, "", 200)
	if got["name"] != "Site of alpha" {
		t.Errorf("A's site after the matrix: %v", got)
	}
	got = e.json(t, "GET", "/api/v1/spaces/"+a.space, a.token, "", 200)
	if got["name"] != "Space of alpha" {
		t.Errorf("A's space after the matrix: %v", got)
	}
	got = e.json(t, "GET", "/api/v1/api-keys/"+a.key, a.token, "", 200)
	if got["revoked_at"] != nil {
		t.Errorf("A's key revoked by B: %v", got)
	}
	got = e.json(t, "GET", "/api/v1/reservations/"+a.reservation, a.token, "", 200)
	if got["status"] != "confirmed" {
		t.Errorf("A's reservation after the matrix: %v", got)
	}
	got = e.json(t, "GET", "/api/v1/tenants/current", a.token, "", 200)
	if got["name"] != "Tenant alpha" {
		t.Errorf("A's tenant: %v", got)
	}
	members := e.json(t, "GET", "/api/v1/users", a.token, "", 200)["items"].([]any)
	if len(members) != 1 || members[0].(map[string]any)["role"] != "owner" {
		t.Errorf("A's members after the matrix: %v", members)
	}
	orphans := e.json(t, "GET", "/api/v1/devices/orphans", a.token, "", 200)["items"].([]any)
	if len(orphans) != 1 || orphans[0].(map[string]any)["uplink_count"] != 1.0 {
		t.Errorf("A's orphans after the matrix: %v", orphans)
	}
	readings := e.json(t, "GET", "/api/v1/spaces/"+a.space+"/readings", a.token, "", 200)["items"].([]any)
	if len(readings) != 1 {
		t.Errorf("A's readings after the matrix: %v", readings)
	}
	if got := e.json(t, "POST", "/api/v1/webhooks/uplink/"+a.slug, a.webhookToken,
		`{"dev_eui":"`+a.orphan+`","f_cnt":3}`, 200); got["status"] != "orphan" {
		t.Errorf("A's secret after the matrix: %v", got)
	}
}

// TestScopesAndRoles: a key lacking a scope, a viewer writing, a key on a
// key-management route, an operator on an admin route.
func TestScopesAndRoles(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	a := e.makeWorld(t, "alpha")

	readOnly := e.serviceKey(t, a, tenancy.ScopeSpacesRead)
	w := e.do(t, "POST", "/api/v1/spaces", readOnly, `{"site_id":"`+a.site+`","code":"K1"}`)
	if w.Code != 403 || !strings.Contains(w.Body.String(), "spaces:write") {
		t.Errorf("key without spaces:write: %d %s", w.Code, w.Body)
	}
	// The scope check comes before any lookup: a made-up id gets 403, not 404.
	w = e.do(t, "DELETE", "/api/v1/spaces/"+uuid.NewString(), readOnly, "")
	if w.Code != 403 {
		t.Errorf("scope before lookup: %d %s", w.Code, w.Body)
	}
	if w := e.do(t, "GET", "/api/v1/spaces", readOnly, ""); w.Code != 200 {
		t.Errorf("key with spaces:read listing spaces: %d %s", w.Code, w.Body)
	}

	full := e.serviceKey(t, a)
	if w := e.do(t, "GET", "/api/v1/api-keys", full, ""); w.Code != 403 {
		t.Errorf("key managing keys: %d %s", w.Code, w.Body)
	}
	if w := e.do(t, "GET", "/api/v1/api-keys", "", ""); w.Code != 401 {
		t.Errorf("no credentials: %d %s", w.Code, w.Body)
	}

	for _, role := range []string{"viewer", "operator"} {
		email := role + "@alpha.example"
		e.json(t, "POST", "/api/v1/auth/register", "", `{"user":{"email":"`+email+`","name":"X","password":"password123"},"tenant":{"name":"Own `+role+`","slug":"own-`+role+`"}}`, 201)
		if _, err := e.admin.Exec(context.Background(), `INSERT INTO user_memberships (tenant_id, user_id, role)
			SELECT $1, id, $2 FROM users WHERE email = $3`, a.tenant, role, email); err != nil {
			t.Fatal(err)
		}
		tok := e.json(t, "POST", "/api/v1/auth/login", "", `{"email":"`+email+`","password":"password123","tenant":"alpha"}`, 200)["access_token"].(string)
		if w := e.do(t, "GET", "/api/v1/spaces", tok, ""); w.Code != 200 {
			t.Errorf("%s reading: %d", role, w.Code)
		}
		if w := e.do(t, "POST", "/api/v1/sites", tok, `{"name":"N","timezone":"UTC"}`); w.Code != 403 || !strings.Contains(w.Body.String(), "sites:write") {
			t.Errorf("%s creating a site: %d %s", role, w.Code, w.Body)
		}
		if w := e.do(t, "GET", "/api/v1/api-keys", tok, ""); w.Code != 403 {
			t.Errorf("%s listing keys: %d %s", role, w.Code, w.Body)
		}
		wantWrite := 403
		if role == "operator" {
			wantWrite = 201
		}
		if w := e.do(t, "POST", "/api/v1/spaces", tok, `{"site_id":"`+a.site+`","code":"`+role+`"}`); w.Code != wantWrite {
			t.Errorf("%s creating a space: %d, want %d: %s", role, w.Code, wantWrite, w.Body)
		}
	}
}

// TestBadTokens: every broken credential is a 401 problem, never a 500.
func TestBadTokens(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	a := e.makeWorld(t, "alpha")
	claims := func(mut func(*tenancy.AccessClaims)) *tenancy.AccessClaims {
		sub, _ := uuid.Parse(a.secrets[4])
		c := &tenancy.AccessClaims{TenantID: uuid.MustParse(a.tenant), TokenVersion: 1, RegisteredClaims: jwt.RegisteredClaims{
			Issuer: tenancy.TokenIssuer, Audience: jwt.ClaimStrings{tenancy.TokenAudience}, Subject: sub.String(),
			IssuedAt: jwt.NewNumericDate(e.clock.Now()), ExpiresAt: jwt.NewNumericDate(e.clock.Now().Add(time.Minute)), ID: "x"}}
		if mut != nil {
			mut(c)
		}
		return c
	}
	// The kid of the test secret, read from a real token's header.
	hdr, _ := base64.RawURLEncoding.DecodeString(strings.Split(a.token, ".")[0])
	var h struct {
		Kid string `json:"kid"`
	}
	json.Unmarshal(hdr, &h)
	signWith := func(key []byte, c jwt.Claims, header map[string]any) string {
		tk := jwt.NewWithClaims(jwt.SigningMethodHS256, c)
		tk.Header["kid"] = h.Kid
		for k, v := range header {
			tk.Header[k] = v
		}
		s, err := tk.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	sign := func(key []byte, c *tenancy.AccessClaims) string { return signWith(key, c, nil) }
	now := e.clock.Now()
	stringExp := jwt.MapClaims{"tid": a.tenant, "ver": 1, "iss": tenancy.TokenIssuer, "aud": tenancy.TokenAudience,
		"sub": a.secrets[4], "iat": now.Unix(), "exp": strconv.FormatInt(now.Add(time.Minute).Unix(), 10), "jti": "x"}
	numericExp := maps.Clone(stringExp)
	numericExp["exp"] = now.Add(time.Minute).Unix()
	if w := e.do(t, "GET", "/api/v1/sites", signWith([]byte(e2eSecret), numericExp, nil), ""); w.Code != 200 {
		t.Fatalf("a well-made token with map claims: %d %s", w.Code, w.Body)
	}
	// Stale: issued under token_version 1, after the user's version moved on.
	stale := sign([]byte(e2eSecret), claims(nil))
	if w := e.do(t, "GET", "/api/v1/sites", sign([]byte(e2eSecret), claims(nil)), ""); w.Code != 200 {
		t.Fatalf("a well-made token: %d %s", w.Code, w.Body)
	}
	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT","kid":"`+h.Kid+`"}`)) + "." +
		strings.Split(a.token, ".")[1] + "."
	bad := map[string]string{
		"expired":      sign([]byte(e2eSecret), claims(func(c *tenancy.AccessClaims) { c.ExpiresAt = jwt.NewNumericDate(e.clock.Now().Add(-time.Hour)) })),
		"alg none":     none,
		"wrong secret": sign([]byte(strings.Repeat("w", 40)), claims(nil)),
		"wrong aud":    sign([]byte(e2eSecret), claims(func(c *tenancy.AccessClaims) { c.Audience = jwt.ClaimStrings{"other"} })),
		"garbage":      "garbage",
		"empty bearer": " ",
		"bad key":      "park_" + strings.Repeat("A", 51),
		"crit header":  signWith([]byte(e2eSecret), claims(nil), map[string]any{"crit": []string{"exp"}}),
		"string exp":   signWith([]byte(e2eSecret), stringExp, nil),
		"too long": sign([]byte(e2eSecret), claims(func(c *tenancy.AccessClaims) {
			c.ExpiresAt = jwt.NewNumericDate(now.Add(tenancy.DefaultAccessTTL + time.Minute))
		})),
	}
	// Every credential that was sent and does not authenticate gets one
	// answer, which does not read as "you sent nothing".
	sent := map[string]*httptest.ResponseRecorder{}
	for name, tok := range bad {
		sent[name] = e.do(t, "GET", "/api/v1/sites", tok, "")
	}
	sent["wrong password"] = e.do(t, "POST", "/api/v1/auth/login", "", `{"email":"`+a.email+`","password":"password999"}`)
	sent["unknown email"] = e.do(t, "POST", "/api/v1/auth/login", "", `{"email":"nobody@alpha.example","password":"password123"}`)
	sent["other scheme"] = func() *httptest.ResponseRecorder {
		r := httptest.NewRequest("GET", "/api/v1/sites", nil)
		r.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("a:b")))
		w := httptest.NewRecorder()
		e.h.ServeHTTP(w, r)
		return w
	}()
	if _, err := e.admin.Exec(context.Background(), `UPDATE users SET token_version = token_version + 1 WHERE email = $1`, a.email); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(e2eCacheTTL + time.Millisecond)
	sent["stale token"] = e.do(t, "GET", "/api/v1/sites", stale, "")
	for name, w := range sent {
		if w.Code != 401 || w.Header().Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s: %d %s", name, w.Code, w.Body)
			continue
		}
		if strings.Contains(w.Body.String(), a.tenant) {
			t.Errorf("%s: the 401 names the tenant", name)
		}
		var p Problem
		if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil {
			t.Fatal(err)
		}
		if p.Type != ProblemTypeBase+"unauthorized" || p.Title != "Unauthorized" || p.Detail != "invalid or expired credentials" {
			t.Errorf("%s: problem %+v, want the one answer for bad credentials", name, p)
		}
	}
	// Nothing sent at all reads differently.
	w := e.do(t, "GET", "/api/v1/sites", "", "")
	var p Problem
	if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil || w.Code != 401 || p.Detail != "authentication is required" {
		t.Errorf("no credential: %d %+v %v", w.Code, p, err)
	}
}

// TestRemovedMemberStops: a removed member's token and API key stop working
// within the authorization cache TTL.
func TestRemovedMemberStops(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	a := e.makeWorld(t, "alpha")
	e.json(t, "POST", "/api/v1/auth/register", "", `{"user":{"email":"admin@alpha.example","name":"X","password":"password123"},"tenant":{"name":"Own","slug":"own"}}`, 201)
	if _, err := e.admin.Exec(context.Background(), `INSERT INTO user_memberships (tenant_id, user_id, role)
		SELECT $1, id, 'admin' FROM users WHERE email = 'admin@alpha.example'`, a.tenant); err != nil {
		t.Fatal(err)
	}
	tok := e.json(t, "POST", "/api/v1/auth/login", "", `{"email":"admin@alpha.example","password":"password123","tenant":"alpha"}`, 200)["access_token"].(string)
	key := e.json(t, "POST", "/api/v1/api-keys", tok, `{"name":"admin key","scopes":["spaces:read","sites:read"]}`, 201)["key"].(string)
	if w := e.do(t, "GET", "/api/v1/spaces", key, ""); w.Code != 200 {
		t.Fatalf("key before removal: %d %s", w.Code, w.Body)
	}
	if _, err := e.admin.Exec(context.Background(), `DELETE FROM user_memberships WHERE tenant_id = $1
		AND user_id = (SELECT id FROM users WHERE email = 'admin@alpha.example')`, a.tenant); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(e2eCacheTTL + time.Millisecond)
	if w := e.do(t, "GET", "/api/v1/sites", tok, ""); w.Code != 401 {
		t.Errorf("removed member's token after the TTL: %d %s", w.Code, w.Body)
	}
	if w := e.do(t, "GET", "/api/v1/spaces", key, ""); w.Code != 403 {
		t.Errorf("removed member's key after the TTL: %d %s", w.Code, w.Body)
	}
}

// TestKeyOnUsersOnlyRoute: a real key on a key-management route is 403; a
// made-up key there is 401, as on every route.
func TestKeyOnUsersOnlyRoute(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	a := e.makeWorld(t, "alpha")
	key := e.serviceKey(t, a)
	if w := e.do(t, "GET", "/api/v1/api-keys", key, ""); w.Code != 403 || !strings.Contains(w.Body.String(), "API keys cannot call this route") {
		t.Errorf("real key: %d %s", w.Code, w.Body)
	}
	fake, _ := tenancy.GenerateAPIKey()
	if w := e.do(t, "GET", "/api/v1/api-keys", fake.Token, ""); w.Code != 401 {
		t.Errorf("made-up key: %d %s", w.Code, w.Body)
	}
	r := httptest.NewRequest("GET", "/api/v1/api-keys", nil)
	r.Header.Set("X-API-Key", key)
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, r)
	if w.Code != 403 {
		t.Errorf("real key in X-API-Key: %d %s", w.Code, w.Body)
	}
}

// TestLoginFromAStrangersPage: a form-typed or type-less login or
// registration is a "simple" cross-origin request a stranger's page can
// make from a visitor's browser; with an Origin header it is refused
// (415), while curl (no Origin) keeps working as the seed's session does.
func TestLoginFromAStrangersPage(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	e.makeWorld(t, "alpha")
	login := `{"email":"owner@alpha.example","password":"password123"}`
	register := `{"user":{"email":"x@evil.example","name":"X","password":"password123"},"tenant":{"name":"X","slug":"xevil"}}`
	for _, c := range []struct {
		path, body, ctype, origin string
		want                      int
	}{
		{"/api/v1/auth/login", login, "application/x-www-form-urlencoded", "https://evil.example", 415},
		{"/api/v1/auth/login", login, "", "https://evil.example", 415},
		{"/api/v1/auth/register", register, "application/x-www-form-urlencoded", "https://evil.example", 415},
		{"/api/v1/auth/login", login, "application/json", "https://app.example", 200},
		{"/api/v1/auth/login", login, "application/x-www-form-urlencoded", "", 200},
		{"/api/v1/auth/login", login, "", "", 200},
	} {
		r := httptest.NewRequest("POST", c.path, strings.NewReader(c.body))
		if c.ctype != "" {
			r.Header.Set("Content-Type", c.ctype)
		}
		if c.origin != "" {
			r.Header.Set("Origin", c.origin)
		}
		w := httptest.NewRecorder()
		e.h.ServeHTTP(w, r)
		if w.Code != c.want {
			t.Errorf("%s type %q origin %q: %d, want %d: %s", c.path, c.ctype, c.origin, w.Code, c.want, w.Body)
		}
	}
}
