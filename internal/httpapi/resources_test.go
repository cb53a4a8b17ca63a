package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parkhq/park/internal/pgtest"
	"github.com/parkhq/park/tenancy"
)

// resAPI serves the resource routes on a real database with a stand-in for
// the auth middleware: each request carries the principal the test gives
// it. End-to-end tests through the real middleware live with auth.
type resAPI struct {
	mux   *http.ServeMux
	admin *pgxpool.Pool
	store *tenancy.Store
}

func newResAPI(t *testing.T) *resAPI {
	t.Helper()
	db := pgtest.NewDB(t)
	store := tenancy.NewStore(db.ServerPool(t, 4))
	s := newServer(Deps{Tenancy: store})
	mux := http.NewServeMux()
	for _, rt := range s.resourceRoutes() {
		mux.Handle(rt.Method+" "+rt.Pattern, rt.Handler)
	}
	return &resAPI{mux: mux, admin: db.AdminPool(t), store: store}
}

func resCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// user makes a tenant with one member of role and returns the member as a
// principal.
func (a *resAPI) user(t *testing.T, role tenancy.Role) *tenancy.Principal {
	t.Helper()
	ctx := resCtx(t)
	tenant, user := uuid.New(), uuid.New()
	slug := "t-" + tenant.String()[:8]
	if _, err := a.admin.Exec(ctx, `insert into tenants (id, name, slug) values ($1, $2, $2)`, tenant, slug); err != nil {
		t.Fatal(err)
	}
	if _, err := a.admin.Exec(ctx, `insert into users (id, email, name, password_hash) values ($1, $2, 'Test', 'x')`, user, slug+"@example.com"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.admin.Exec(ctx, `insert into user_memberships (tenant_id, user_id, role) values ($1, $2, $3)`, tenant, user, string(role)); err != nil {
		t.Fatal(err)
	}
	return &tenancy.Principal{Kind: tenancy.PrincipalUser, TenantID: tenant, ID: user, Role: role, Scopes: role.Scopes()}
}

// do serves one request as p.
func (a *resAPI) do(t *testing.T, p *tenancy.Principal, method, target, body string, hdr ...string) *httptest.ResponseRecorder {
	t.Helper()
	var r *http.Request
	if body == "" {
		r = httptest.NewRequest(method, target, nil)
	} else {
		r = httptest.NewRequest(method, target, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	if p != nil {
		r = r.WithContext(withPrincipal(r.Context(), p))
	}
	w := httptest.NewRecorder()
	a.mux.ServeHTTP(w, r)
	return w
}

// want checks the status and decodes a JSON body into v (unless nil).
func want(t *testing.T, w *httptest.ResponseRecorder, status int, v any) {
	t.Helper()
	if w.Code != status {
		t.Fatalf("status %d, want %d; body %s", w.Code, status, w.Body)
	}
	if v == nil {
		return
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("content type %q; body %s", ct, w.Body)
	}
	if err := json.Unmarshal(w.Body.Bytes(), v); err != nil {
		t.Fatalf("body: %v: %s", err, w.Body)
	}
}

// wantProblem checks a problem+json answer with status and slug, and that
// each of fields has a problem in errors. It returns the problem.
func wantProblem(t *testing.T, w *httptest.ResponseRecorder, status int, slug string, fields ...string) Problem {
	t.Helper()
	if w.Code != status {
		t.Fatalf("status %d, want %d; body %s", w.Code, status, w.Body)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("content type %q; body %s", ct, w.Body)
	}
	var p Problem
	if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil {
		t.Fatalf("problem: %v: %s", err, w.Body)
	}
	if p.Status != status || p.Type != ProblemTypeBase+slug {
		t.Fatalf("problem %+v, want status %d type %s", p, status, slug)
	}
	for _, f := range fields {
		if len(p.Errors[f]) == 0 {
			t.Fatalf("no problem with %q: %s", f, w.Body)
		}
	}
	return p
}

func TestSiteHandlers(t *testing.T) {
	t.Parallel()
	a := newResAPI(t)
	admin := a.user(t, tenancy.RoleAdmin)

	// The seed's curl sends JSON as a form; it must work all the same.
	w := a.do(t, admin, "POST", "/api/v1/sites", "", "Content-Type", "application/x-www-form-urlencoded")
	wantProblem(t, w, 400, "bad-request") // empty body
	r := httptest.NewRequest("POST", "/api/v1/sites", strings.NewReader(`{"name":"Main Site","timezone":"America/Los_Angeles"}`))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w = httptest.NewRecorder()
	a.mux.ServeHTTP(w, r.WithContext(withPrincipal(r.Context(), admin)))
	var site tenancy.Site
	want(t, w, http.StatusCreated, &site)
	if site.Name != "Main Site" || site.TenantID != admin.TenantID {
		t.Fatalf("created %+v", site)
	}
	loc := w.Header().Get("Location")
	if loc != "/api/v1/sites/"+site.ID.String() {
		t.Fatalf("Location %q", loc)
	}
	var got tenancy.Site
	want(t, a.do(t, admin, "GET", loc, ""), 200, &got)
	if got.ID != site.ID {
		t.Fatalf("get %+v", got)
	}

	var upd tenancy.Site
	want(t, a.do(t, admin, "PATCH", loc, `{"timezone":"Europe/Berlin"}`), 200, &upd)
	if upd.Name != "Main Site" || upd.Timezone != "Europe/Berlin" {
		t.Fatalf("patched %+v", upd)
	}

	// Problems, each as problem+json.
	wantProblem(t, a.do(t, admin, "POST", "/api/v1/sites", `{"name":`), 400, "bad-request")
	wantProblem(t, a.do(t, admin, "POST", "/api/v1/sites", `{"name":"x","timezone":"UTC","capacity":3}`), 400, "validation", "capacity")
	wantProblem(t, a.do(t, admin, "POST", "/api/v1/sites", `{"name":5,"timezone":"UTC"}`), 400, "validation", "name")
	wantProblem(t, a.do(t, admin, "POST", "/api/v1/sites", `{"name":"`+strings.Repeat("n", 201)+`","timezone":"UTC"}`), 400, "validation", "name")
	wantProblem(t, a.do(t, admin, "POST", "/api/v1/sites", `{"name":"x","timezone":"Mars/Base"}`), 400, "validation", "timezone")
	wantProblem(t, a.do(t, admin, "PATCH", loc, `{"name":null}`), 400, "validation", "name")
	p := wantProblem(t, a.do(t, admin, "POST", "/api/v1/sites", `{"name":"Main Site","timezone":"UTC"}`), 409, "conflict")
	if !strings.Contains(p.Detail, "name") {
		t.Fatalf("conflict detail does not name the field: %q", p.Detail)
	}
	p = wantProblem(t, a.do(t, admin, "GET", "/api/v1/sites/not-a-uuid", ""), 400, "bad-request")
	if !strings.Contains(p.Detail, "UUID") {
		t.Fatalf("detail %q", p.Detail)
	}
	wantProblem(t, a.do(t, admin, "GET", "/api/v1/sites/"+uuid.NewString(), ""), 404, "not-found")

	// Another tenant: 404 for everything, and an empty list.
	other := a.user(t, tenancy.RoleAdmin)
	wantProblem(t, a.do(t, other, "GET", loc, ""), 404, "not-found")
	wantProblem(t, a.do(t, other, "PATCH", loc, `{"name":"mine"}`), 404, "not-found")
	wantProblem(t, a.do(t, other, "DELETE", loc, ""), 404, "not-found")
	var list listResponse[tenancy.Site]
	w = a.do(t, other, "GET", "/api/v1/sites", "")
	want(t, w, 200, &list)
	if strings.TrimSpace(w.Body.String()) != `{"items":[],"next_cursor":null}` {
		t.Fatalf("empty list body %s", w.Body)
	}

	// Delete with a live space: 409; without: 204; then 404.
	var space tenancy.Space
	want(t, a.do(t, admin, "POST", "/api/v1/spaces", `{"site_id":"`+site.ID.String()+`","code":"A1"}`), 201, &space)
	wantProblem(t, a.do(t, admin, "DELETE", loc, ""), 409, "conflict")
	want(t, a.do(t, admin, "DELETE", "/api/v1/spaces/"+space.ID.String(), ""), 204, nil)
	w = a.do(t, admin, "DELETE", loc, "")
	want(t, w, 204, nil)
	if w.Body.Len() != 0 {
		t.Fatalf("204 with a body: %s", w.Body)
	}
	wantProblem(t, a.do(t, admin, "GET", loc, ""), 404, "not-found")
}

func TestListPagination(t *testing.T) {
	t.Parallel()
	a := newResAPI(t)
	admin := a.user(t, tenancy.RoleAdmin)
	ids := map[uuid.UUID]bool{}
	for i := range 5 {
		var s tenancy.Site
		want(t, a.do(t, admin, "POST", "/api/v1/sites", `{"name":"S`+string(rune('0'+i))+`","timezone":"UTC"}`), 201, &s)
		ids[s.ID] = true
	}
	target := "/api/v1/sites?limit=2"
	seen := 0
	for pages := 1; ; pages++ {
		var list listResponse[tenancy.Site]
		want(t, a.do(t, admin, "GET", target, ""), 200, &list)
		for _, s := range list.Items {
			if !ids[s.ID] {
				t.Fatalf("page %d: unexpected or repeated %s", pages, s.ID)
			}
			delete(ids, s.ID)
			seen++
		}
		if list.NextCursor == nil {
			if pages != 3 {
				t.Fatalf("%d pages, want 3", pages)
			}
			break
		}
		target = "/api/v1/sites?limit=2&cursor=" + *list.NextCursor
	}
	if seen != 5 || len(ids) != 0 {
		t.Fatalf("saw %d, missing %v", seen, ids)
	}

	for _, q := range []string{"limit=0", "limit=201", "limit=ten", "limit=-1"} {
		wantProblem(t, a.do(t, admin, "GET", "/api/v1/sites?"+q, ""), 400, "validation", "limit")
	}
	wantProblem(t, a.do(t, admin, "GET", "/api/v1/sites?cursor=garbage", ""), 400, "validation", "cursor")
	wantProblem(t, a.do(t, admin, "GET", "/api/v1/spaces?state=parked&site_id=x", ""), 400, "validation", "state", "site_id")
	var list listResponse[tenancy.Site]
	want(t, a.do(t, admin, "GET", "/api/v1/sites?limit=200", ""), 200, &list)
	if len(list.Items) != 5 || list.NextCursor != nil {
		t.Fatalf("limit=200: %d items, next %v", len(list.Items), list.NextCursor)
	}
}

func TestSpaceHandlers(t *testing.T) {
	t.Parallel()
	a := newResAPI(t)
	op := a.user(t, tenancy.RoleOperator)
	site, err := a.store.SiteCreate(resCtx(t), &tenancy.SiteCreateParams{TenantID: op.TenantID, Actor: "user:test", Name: "Garage", Timezone: "UTC"})
	if err != nil {
		t.Fatal(err)
	}
	body := `{"site_id":"` + site.ID.String() + `","code":"A1","sensor_eui":"70-B3-D5-7E-D0-00-00-01","tenant_id":"` + op.TenantID.String() + `"}`
	w := a.do(t, op, "POST", "/api/v1/spaces", body)
	var sp tenancy.Space
	want(t, w, 201, &sp)
	if sp.SensorEUI == nil || *sp.SensorEUI != "70b3d57ed0000001" || sp.State != "unknown" || sp.SiteName != "Garage" {
		t.Fatalf("created %+v", sp)
	}
	loc := w.Header().Get("Location")
	if loc != "/api/v1/spaces/"+sp.ID.String() {
		t.Fatalf("Location %q", loc)
	}
	wantProblem(t, a.do(t, op, "POST", "/api/v1/spaces", body), 409, "conflict")
	wantProblem(t, a.do(t, op, "POST", "/api/v1/spaces", `{"site_id":"`+uuid.NewString()+`","code":"B1"}`), 400, "validation", "site_id")
	wantProblem(t, a.do(t, op, "POST", "/api/v1/spaces", `{"site_id":"nope","code":"B1"}`), 400, "validation", "site_id")
	wantProblem(t, a.do(t, op, "POST", "/api/v1/spaces", `{"code":"B/1","sensor_eui":"xyz"}`), 400, "validation", "site_id", "code", "sensor_eui")

	// PATCH: null removes the sensor; state belongs to ingest.
	var upd tenancy.Space
	want(t, a.do(t, op, "PATCH", loc, `{"sensor_eui":null}`), 200, &upd)
	if upd.SensorEUI != nil || upd.Code != "A1" {
		t.Fatalf("patched %+v", upd)
	}
	w = a.do(t, op, "PATCH", loc, `{"name":"x"}`)
	want(t, w, 200, &upd)
	if !strings.Contains(w.Body.String(), `"sensor_eui":null`) {
		t.Fatalf("a cleared sensor must read as null: %s", w.Body)
	}
	wantProblem(t, a.do(t, op, "PATCH", loc, `{"state":"free"}`), 400, "validation", "state")
	wantProblem(t, a.do(t, op, "PATCH", loc, `{"site_id":null}`), 400, "validation", "site_id")

	var list listResponse[tenancy.Space]
	want(t, a.do(t, op, "GET", "/api/v1/spaces?site_id="+site.ID.String()+"&state=unknown", ""), 200, &list)
	if len(list.Items) != 1 || list.Items[0].ID != sp.ID {
		t.Fatalf("filtered list %+v", list)
	}
	want(t, a.do(t, op, "DELETE", loc, ""), 204, nil)
	wantProblem(t, a.do(t, op, "GET", loc, ""), 404, "not-found")
	// The code is free again.
	want(t, a.do(t, op, "POST", "/api/v1/spaces", body), 201, &sp)
}

func TestBodyTenantID(t *testing.T) {
	t.Parallel()
	a := newResAPI(t)
	admin := a.user(t, tenancy.RoleAdmin)
	other := a.user(t, tenancy.RoleAdmin)

	// The seed's step 5, exactly: the caller's own tenant_id is ignored.
	seed := `{
    "name":"Test Key",
    "tenant_id":"` + admin.TenantID.String() + `",
    "scopes":["spaces:read","devices:read"]
  }`
	w := a.do(t, admin, "POST", "/api/v1/api-keys", seed)
	var key struct {
		tenancy.APIKey
		Key string `json:"key"`
	}
	want(t, w, 201, &key)
	if _, _, err := tenancy.ParseAPIKey(key.Key); err != nil || key.Name != "Test Key" || len(key.Scopes) != 2 {
		t.Fatalf("created key %+v (%v)", key, err)
	}
	if w.Header().Get("Location") != "/api/v1/api-keys/"+key.ID.String() || w.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("headers %v", w.Header())
	}
	if key.CreatedBy == nil || *key.CreatedBy != admin.ID {
		t.Fatalf("created_by %v, want %s", key.CreatedBy, admin.ID)
	}

	// Another tenant's id: 404 on every body-taking endpoint, nothing written.
	foreign := `"tenant_id":"` + other.TenantID.String() + `"`
	for _, req := range []struct{ method, target, body string }{
		{"POST", "/api/v1/api-keys", `{"name":"k","scopes":["spaces:read"],` + foreign + `}`},
		{"POST", "/api/v1/sites", `{"name":"s","timezone":"UTC",` + foreign + `}`},
		{"PATCH", "/api/v1/tenants/current", `{"name":"n",` + foreign + `}`},
		{"POST", "/api/v1/spaces", `{"code":"A1",` + foreign + `}`},
	} {
		wantProblem(t, a.do(t, admin, req.method, req.target, req.body), 404, "not-found")
	}
	wantProblem(t, a.do(t, admin, "POST", "/api/v1/sites", `{"name":"s","timezone":"UTC","tenant_id":"acme"}`), 400, "validation", "tenant_id")
	var list listResponse[tenancy.Site]
	want(t, a.do(t, admin, "GET", "/api/v1/sites", ""), 200, &list)
	if len(list.Items) != 0 {
		t.Fatalf("a refused request wrote %+v", list.Items)
	}
}

func TestAPIKeyHandlers(t *testing.T) {
	t.Parallel()
	a := newResAPI(t)
	admin := a.user(t, tenancy.RoleAdmin)

	var key struct {
		tenancy.APIKey
		Key string `json:"key"`
	}
	before := time.Now()
	want(t, a.do(t, admin, "POST", "/api/v1/api-keys", `{"name":"ci","scopes":["sites:read"],"expires_in":"90d"}`), 201, &key)
	if key.ExpiresAt == nil || key.ExpiresAt.Sub(before) < 90*24*time.Hour-time.Minute || key.ExpiresAt.Sub(before) > 90*24*time.Hour+time.Minute {
		t.Fatalf("expires_at %v", key.ExpiresAt)
	}
	loc := "/api/v1/api-keys/" + key.ID.String()

	for _, tt := range []struct{ body, field string }{
		{`{"name":"k","scopes":["spaces:fly"]}`, "scopes"},
		{`{"name":"k","scopes":[]}`, "scopes"},
		{`{"name":"k","scopes":["sites:read"],"expires_in":"soon"}`, "expires_in"},
		{`{"name":"k","scopes":["sites:read"],"expires_at":"tomorrow"}`, "expires_at"},
		{`{"name":"k","scopes":["sites:read"],"expires_at":"2001-01-01T00:00:00Z"}`, "expires_at"},
		{`{"name":"k","scopes":["sites:read"],"expires_in":"1d","expires_at":"2100-01-01T00:00:00Z"}`, "expires_at"},
	} {
		wantProblem(t, a.do(t, admin, "POST", "/api/v1/api-keys", tt.body), 400, "validation", tt.field)
	}
	// A guessed scope is answered with the scopes to choose from.
	p := wantProblem(t, a.do(t, admin, "POST", "/api/v1/api-keys", `{"name":"k","scopes":["read"]}`), 400, "validation", "scopes")
	if msg := strings.Join(p.Errors["scopes"], " "); !strings.Contains(msg, `unknown scope \"read\"`) && !strings.Contains(msg, `unknown scope "read"`) ||
		!strings.Contains(msg, "spaces:read") || !strings.Contains(msg, "reservations:write") {
		t.Errorf("unknown scope: %q names no valid scope", msg)
	}

	// Reads never show the secret.
	for _, target := range []string{loc, "/api/v1/api-keys"} {
		w := a.do(t, admin, "GET", target, "")
		want(t, w, 200, nil)
		if strings.Contains(w.Body.String(), key.Key) || strings.Contains(w.Body.String(), `"key"`) {
			t.Fatalf("GET %s shows the secret: %s", target, w.Body)
		}
	}
	want(t, a.do(t, admin, "DELETE", loc, ""), 204, nil)
	want(t, a.do(t, admin, "DELETE", loc, ""), 204, nil)
	var got tenancy.APIKey
	want(t, a.do(t, admin, "GET", loc, ""), 200, &got)
	if got.RevokedAt == nil {
		t.Fatal("not revoked")
	}
	other := a.user(t, tenancy.RoleOwner)
	wantProblem(t, a.do(t, other, "GET", loc, ""), 404, "not-found")
	wantProblem(t, a.do(t, other, "DELETE", loc, ""), 404, "not-found")

	// Keys never manage keys, even if a route were misconfigured.
	asKey := &tenancy.Principal{Kind: tenancy.PrincipalKey, TenantID: admin.TenantID, ID: key.ID, KeyID: key.KeyID, Role: tenancy.RoleAdmin}
	wantProblem(t, a.do(t, asKey, "GET", "/api/v1/api-keys", ""), 403, "forbidden")
	// No principal at all is a wiring bug: 401, never an unscoped answer.
	wantProblem(t, a.do(t, nil, "GET", "/api/v1/sites", ""), 401, "unauthorized")
}

func TestTenantHandlers(t *testing.T) {
	t.Parallel()
	a := newResAPI(t)
	admin := a.user(t, tenancy.RoleAdmin)
	if _, err := a.admin.Exec(resCtx(t), `update tenants set settings = '{"limits":{"api":{"rate":5,"burst":10}}}' where id = $1`, admin.TenantID); err != nil {
		t.Fatal(err)
	}
	var ten tenancy.Tenant
	want(t, a.do(t, admin, "GET", "/api/v1/tenants/current", ""), 200, &ten)
	if ten.ID != admin.TenantID || ten.Status != "active" || ten.Settings.Limits["api"].Burst != 10 {
		t.Fatalf("tenant %+v", ten)
	}

	w := a.do(t, admin, "PATCH", "/api/v1/tenants/current",
		`{"name":"Acme","settings":{"occupancy":{"field":"occupied","occupied":[true,"occupied"],"free":[false,"free"]},"reading_retention_days":30}}`)
	want(t, w, 200, &ten)
	if ten.Name != "Acme" || ten.Settings.Occupancy == nil || *ten.Settings.ReadingRetentionDays != 30 || ten.Settings.Limits["api"].Rate != 5 {
		t.Fatalf("patched %s", w.Body)
	}

	p := wantProblem(t, a.do(t, admin, "PATCH", "/api/v1/tenants/current", `{"status":"active","settings":{"limits":{}}}`), 400, "validation", "status", "settings.limits")
	if p.Errors["status"][0] != "read-only: operators change it with parkctl" {
		t.Fatalf("status problem %v", p.Errors)
	}
	wantProblem(t, a.do(t, admin, "PATCH", "/api/v1/tenants/current", `{"settings":{"reading_retention_days":"90"}}`), 400, "validation", "settings.reading_retention_days")
	wantProblem(t, a.do(t, admin, "PATCH", "/api/v1/tenants/current", `{"settings":{"reading_retention_days":0}}`), 400, "validation", "settings.reading_retention_days")
	wantProblem(t, a.do(t, admin, "PATCH", "/api/v1/tenants/current", `{"settings":{"occupancy":{"field":"","occupied":[{}],"free":[]}}}`), 400, "validation",
		"settings.occupancy.field", "settings.occupancy.occupied[0]", "settings.occupancy.free")
	wantProblem(t, a.do(t, admin, "PATCH", "/api/v1/tenants/current", `{"settings":{"occupancy":{"field":"x","occupied":[1],"free":[0],"extra":1}}}`), 400, "validation")

	var members listResponse[tenancy.Member]
	want(t, a.do(t, admin, "GET", "/api/v1/users", ""), 200, &members)
	if len(members.Items) != 1 || members.Items[0].UserID != admin.ID || members.Items[0].Role != tenancy.RoleAdmin || members.NextCursor != nil {
		t.Fatalf("members %+v", members)
	}
}

func TestResourceRoutesTable(t *testing.T) {
	t.Parallel()
	s := newServer(Deps{})
	routes := s.resourceRoutes()
	if err := validateRoutes(routes); err != nil {
		t.Fatal(err)
	}
	for _, rt := range routes {
		apiKeys := strings.HasPrefix(rt.Pattern, "/api/v1/api-keys")
		// Team management and the audit trail: users of role admin and
		// up, never keys.
		team := rt.Pattern == "/api/v1/audit-events" || strings.HasPrefix(rt.Pattern, "/api/v1/users") && rt.Method != http.MethodGet
		switch {
		case rt.Access != AccessPrincipal:
			t.Errorf("%s %s is public", rt.Method, rt.Pattern)
		case team:
			if rt.KeyAllowed || rt.MinRole != tenancy.RoleAdmin {
				t.Errorf("%s %s: users of role admin and up only", rt.Method, rt.Pattern)
			}
		case apiKeys && (rt.KeyAllowed || rt.MinRole != tenancy.RoleAdmin):
			t.Errorf("%s %s: keys must never manage keys, and only admins may", rt.Method, rt.Pattern)
		case !apiKeys && (!rt.KeyAllowed || rt.Scope == ""):
			t.Errorf("%s %s: want a scope and key access", rt.Method, rt.Pattern)
		case !apiKeys && rt.Method != http.MethodGet && strings.HasSuffix(string(rt.Scope), ":read"):
			t.Errorf("%s %s: a write guarded by a read scope", rt.Method, rt.Pattern)
		}
	}
}
