package httpapi

import (
	"context"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// These tests run through the whole API (real auth middleware with its
// cache, real stores and database): key revocation and its authorization,
// and the input that used to answer 500 or slip lookalike text through.

// memberToken registers email (with a tenant of its own), makes the user a
// member of w's tenant with role, and returns an access token for w's
// tenant.
func (e *e2e) memberToken(t *testing.T, w *world, email, role string) string {
	t.Helper()
	slug := "own-" + strings.NewReplacer("@", "-", ".", "-").Replace(email)
	e.json(t, "POST", "/api/v1/auth/register", "", `{"user":{"email":"`+email+`","name":"X","password":"password123"},"tenant":{"name":"Own `+email+`","slug":"`+slug+`"}}`, 201)
	if _, err := e.admin.Exec(context.Background(), `INSERT INTO user_memberships (tenant_id, user_id, role)
		SELECT $1, id, $2 FROM users WHERE email = $3`, w.tenant, role, email); err != nil {
		t.Fatal(err)
	}
	return e.json(t, "POST", "/api/v1/auth/login", "", `{"email":"`+email+`","password":"password123","tenant":"`+w.slug+`"}`, 200)["access_token"].(string)
}

// makeKey makes a key through the API as cred and returns its id and token.
func (e *e2e) makeKey(t *testing.T, cred string) (id, token string) {
	t.Helper()
	k := e.json(t, "POST", "/api/v1/api-keys", cred, `{"name":"k `+uuid.NewString()[:8]+`","scopes":["spaces:read"]}`, 201)
	return k["id"].(string), k["key"].(string)
}

// TestRevokedKeyStopsAtOnce: DELETE /api-keys/{id} evicts the key from the
// authentication cache, so the next request with it is refused — not one
// cache TTL later (the clock here never moves).
func TestRevokedKeyStopsAtOnce(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	a := e.makeWorld(t, "alpha")
	id, key := e.makeKey(t, a.token)
	for range 2 { // the second use is served from the cache
		if w := e.do(t, "GET", "/api/v1/spaces", key, ""); w.Code != 200 {
			t.Fatalf("key before revocation: %d %s", w.Code, w.Body)
		}
	}
	if w := e.do(t, "DELETE", "/api/v1/api-keys/"+id, a.token, ""); w.Code != 204 {
		t.Fatalf("revoke: %d %s", w.Code, w.Body)
	}
	if w := e.do(t, "GET", "/api/v1/spaces", key, ""); w.Code != 401 {
		t.Fatalf("revoked key right after revocation: %d, want 401 (the cache kept it): %s", w.Code, w.Body)
	}
}

// TestAdminMayNotRevokeOwnersKey: an admin revoking a key made by an owner
// gets a 403 problem and the key keeps working; an admin revokes service
// keys and admins' keys; an owner revokes an admin's key.
func TestAdminMayNotRevokeOwnersKey(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	a := e.makeWorld(t, "alpha")
	admin := e.memberToken(t, a, "admin@alpha.example", "admin")
	ownersID, ownersKey := e.makeKey(t, a.token)

	w := e.do(t, "DELETE", "/api/v1/api-keys/"+ownersID, admin, "")
	if w.Code != 403 {
		t.Fatalf("admin revoking an owner's key: %d %s", w.Code, w.Body)
	}
	if p := problemOf(t, w); p["type"] != ProblemTypeBase+"forbidden" || !strings.Contains(p["detail"].(string), "owner") {
		t.Fatalf("problem %v", p)
	}
	if w := e.do(t, "GET", "/api/v1/spaces", ownersKey, ""); w.Code != 200 {
		t.Fatalf("owner's key after the refused revocation: %d %s", w.Code, w.Body)
	}
	if got := e.json(t, "GET", "/api/v1/api-keys/"+ownersID, a.token, "", 200); got["revoked_at"] != nil {
		t.Fatalf("owner's key revoked: %v", got)
	}

	service := e.serviceKey(t, a)
	var serviceID string
	if err := e.admin.QueryRow(context.Background(), `SELECT id::text FROM api_keys WHERE key_id = $1`, strings.Split(service, "_")[1]).Scan(&serviceID); err != nil {
		t.Fatal(err)
	}
	adminsID, adminsKey := e.makeKey(t, admin)
	for name, id := range map[string]string{"service": serviceID, "own": adminsID} {
		if w := e.do(t, "DELETE", "/api/v1/api-keys/"+id, admin, ""); w.Code != 204 {
			t.Errorf("admin revoking a %s key: %d %s", name, w.Code, w.Body)
		}
	}
	if w := e.do(t, "GET", "/api/v1/spaces", service, ""); w.Code != 401 {
		t.Errorf("revoked service key: %d", w.Code)
	}
	if w := e.do(t, "GET", "/api/v1/spaces", adminsKey, ""); w.Code != 401 {
		t.Errorf("revoked admin key: %d", w.Code)
	}
	otherAdminsID, _ := e.makeKey(t, admin)
	if w := e.do(t, "DELETE", "/api/v1/api-keys/"+otherAdminsID, a.token, ""); w.Code != 204 {
		t.Errorf("owner revoking an admin's key: %d %s", w.Code, w.Body)
	}
}

// TestDemotedAdminMakesNoKey: within the cache TTL a demoted admin still
// passes the route's role check, but the store reads the role itself and
// refuses, so no key outlives the demotion.
func TestDemotedAdminMakesNoKey(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	a := e.makeWorld(t, "alpha")
	admin := e.memberToken(t, a, "admin@alpha.example", "admin")
	if w := e.do(t, "GET", "/api/v1/api-keys", admin, ""); w.Code != 200 {
		t.Fatalf("admin listing keys: %d %s", w.Code, w.Body)
	}
	if _, err := e.admin.Exec(context.Background(), `UPDATE user_memberships SET role = 'operator'
		WHERE tenant_id = $1 AND user_id = (SELECT id FROM users WHERE email = 'admin@alpha.example')`, a.tenant); err != nil {
		t.Fatal(err)
	}
	w := e.do(t, "POST", "/api/v1/api-keys", admin, `{"name":"late","scopes":["spaces:read"]}`)
	if w.Code != 403 || problemOf(t, w)["type"] != ProblemTypeBase+"forbidden" {
		t.Fatalf("key made by a demoted admin within the cache TTL: %d %s", w.Code, w.Body)
	}
}

// TestTimestampsOutOfRange: a time outside 1970–9999 in UTC is a 400 naming
// the field — 9999-12-31T23:59:59-23:59 is in year 10000, which used to
// reach the audit encoder and answer 500.
func TestTimestampsOutOfRange(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	a := e.makeWorld(t, "alpha")
	const y10k = "9999-12-31T23:59:59-23:59"
	w := e.do(t, "POST", "/api/v1/api-keys", a.token, `{"name":"far","scopes":["spaces:read"],"expires_at":"`+y10k+`"}`)
	wantFields(t, w, "expires_at")
	if w := e.do(t, "POST", "/api/v1/api-keys", a.token, `{"name":"edge","scopes":["spaces:read"],"expires_at":"9999-12-31T23:59:59Z"}`); w.Code != 201 {
		t.Errorf("expires_at at the end of 9999: %d %s", w.Code, w.Body)
	}

	book := func(starts, ends string) string {
		return `{"space_id":"` + a.space + `","starts_at":"` + starts + `","ends_at":"` + ends + `"}`
	}
	wantFields(t, e.do(t, "POST", "/api/v1/reservations", a.token, book("9999-12-31T23:00:00-23:59", y10k)), "starts_at", "ends_at")
	wantFields(t, e.do(t, "POST", "/api/v1/reservations", a.token, book("9999-12-31T23:00:00Z", y10k)), "ends_at")
	soon := time.Now().UTC().Add(time.Hour).Truncate(time.Second).Format(time.RFC3339)
	wantFields(t, e.do(t, "POST", "/api/v1/reservations", a.token, book("1970-01-01T00:59:59+01:00", soon)), "starts_at")
	// With an idempotency key the input is checked before the key is used.
	keyed := strings.TrimSuffix(book("9999-12-31T23:00:00-23:59", y10k), "}") + `,"request_id":"far-1"}`
	wantFields(t, e.do(t, "POST", "/api/v1/reservations", a.token, keyed), "starts_at", "ends_at")

	q := url.Values{"from": {y10k}, "to": {"1969-12-31T23:59:59Z"}}
	wantFields(t, e.do(t, "GET", "/api/v1/reservations?"+q.Encode(), a.token, ""), "from", "to")
}

// wantFields checks a 400 validation problem naming exactly fields.
func wantFields(t *testing.T, w *httptest.ResponseRecorder, fields ...string) {
	t.Helper()
	p := wantProblem(t, w, 400, "validation", fields...)
	if len(p.Errors) != len(fields) {
		t.Fatalf("problems %v, want only %v", p.Errors, fields)
	}
}

// TestLookalikeNames: names with format characters (U+202E, U+200B,
// U+FEFF) are a 400 naming the field, whatever the resource; names are
// stored in NFC, so a decomposed and a precomposed spelling collide; the
// occupancy lists compare numbers by value.
func TestLookalikeNames(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	a := e.makeWorld(t, "alpha")
	for _, c := range []struct{ method, target, body, field string }{
		{"POST", "/api/v1/sites", `{"name":"\u202eevil","timezone":"UTC"}`, "name"},
		{"PATCH", "/api/v1/sites/" + a.site, `{"name":"North\u200b"}`, "name"},
		{"POST", "/api/v1/spaces", `{"site_id":"` + a.site + `","code":"Z9","name":"\ufeffBay"}`, "name"},
		{"PATCH", "/api/v1/spaces/" + a.space, `{"name":"Bay\u200b"}`, "name"},
		{"POST", "/api/v1/api-keys", `{"name":"ci\u202e","scopes":["spaces:read"]}`, "name"},
		{"PATCH", "/api/v1/tenants/current", `{"name":"\u200bTenant alpha"}`, "name"},
		{"PATCH", "/api/v1/tenants/current", `{"settings":{"occupancy":{"field":"occupied","occupied":[-0.0],"free":[0]}}}`, "settings.occupancy.free"},
		{"PATCH", "/api/v1/tenants/current", `{"settings":{"occupancy":{"field":"occ\u200bupied","occupied":[1],"free":[0]}}}`, "settings.occupancy.field"},
		{"POST", "/api/v1/auth/register", `{"user":{"email":"x@beta.example","name":"Mallory\u202e","password":"password123"},"tenant":{"name":"\u200bBeta","slug":"beta"}}`, "user.name"},
	} {
		w := e.do(t, c.method, c.target, a.token, c.body)
		p := wantProblem(t, w, 400, "validation", c.field)
		if c.field == "user.name" && len(p.Errors["tenant.name"]) == 0 {
			t.Errorf("register: no problem with tenant.name: %s", w.Body)
		}
	}
	site := e.json(t, "POST", "/api/v1/sites", a.token, `{"name":"Cafe\u0301","timezone":"UTC"}`, 201)
	if site["name"] != "Caf\u00e9" {
		t.Fatalf("site name %+q, want NFC", site["name"])
	}
	if w := e.do(t, "POST", "/api/v1/sites", a.token, `{"name":"Caf\u00e9","timezone":"UTC"}`); w.Code != 409 {
		t.Fatalf("the same name precomposed: %d %s", w.Code, w.Body)
	}
}
