package httpapi

import (
	"context"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// account registers a person with a tenant of their own and returns their
// email; the team tests then add that account to another tenant.
func (e *e2e) account(t *testing.T, name string) string {
	t.Helper()
	email := name + "@people.example"
	e.json(t, "POST", "/api/v1/auth/register", "", `{"user":{"email":"`+email+`","name":"`+name+`","password":"password123"},"tenant":{"name":"Home of `+name+`","slug":"home-`+name+`"}}`, 201)
	return email
}

// loginTo logs email in to the tenant slug and returns the access token and
// the refresh token.
func (e *e2e) loginTo(t *testing.T, email, password, slug string) (string, string) {
	t.Helper()
	m := e.json(t, "POST", "/api/v1/auth/login", "", `{"email":"`+email+`","password":"`+password+`","tenant":"`+slug+`"}`, 200)
	return m["access_token"].(string), m["refresh_token"].(string)
}

// add adds email to the caller's tenant with role, wanting status; it
// returns the new member's id on 201.
func (e *e2e) add(t *testing.T, cred, email, role string, status int) string {
	t.Helper()
	m := e.json(t, "POST", "/api/v1/users", cred, `{"email":"`+email+`","role":"`+role+`"}`, status)
	if status != 201 {
		return ""
	}
	if m["email"] != email || m["role"] != role {
		t.Errorf("added %s as %s: %v", email, role, m)
	}
	return m["id"].(string)
}

// TestTeamRoles: owners manage every role, admins operators and viewers
// only; adding needs an existing account and a non-member; PATCH and DELETE
// need a member.
func TestTeamRoles(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	a := e.makeWorld(t, "alpha")
	ann, otto, vic, ada := e.account(t, "ann"), e.account(t, "otto"), e.account(t, "vic"), e.account(t, "ada")

	annID := e.add(t, a.token, ann, "admin", 201)
	ottoID := e.add(t, a.token, otto, "operator", 201)
	annTok, _ := e.loginTo(t, ann, "password123", "alpha")

	// The admin adds viewers and operators, not admins or owners.
	vicID := e.add(t, annTok, vic, "viewer", 201)
	e.add(t, annTok, ada, "admin", 403)
	e.add(t, annTok, ada, "owner", 403)
	// Not an account; a member already; not a role.
	w := e.do(t, "POST", "/api/v1/users", annTok, `{"email":"nobody@people.example","role":"viewer"}`)
	if w.Code != 400 || !strings.Contains(w.Body.String(), `"email":["no account with this email`) {
		t.Errorf("unknown account: %d %s", w.Code, w.Body)
	}
	e.add(t, annTok, vic, "viewer", 409)
	e.add(t, annTok, ada, "boss", 400)

	// The admin changes operators and viewers, not admins or owners.
	if got := e.json(t, "PATCH", "/api/v1/users/"+vicID, annTok, `{"role":"operator"}`, 200); got["role"] != "operator" {
		t.Errorf("admin promotes viewer: %v", got)
	}
	e.json(t, "PATCH", "/api/v1/users/"+vicID, annTok, `{"role":"admin"}`, 403)
	ownerID := e.json(t, "GET", "/api/v1/users?limit=1", a.token, "", 200)["items"].([]any)[0].(map[string]any)["id"].(string)
	e.json(t, "PATCH", "/api/v1/users/"+ownerID, annTok, `{"role":"viewer"}`, 403)
	e.json(t, "DELETE", "/api/v1/users/"+ownerID, annTok, "", 403)
	e.json(t, "DELETE", "/api/v1/users/"+annID, annTok, "", 403) // herself, an admin
	e.json(t, "DELETE", "/api/v1/users/"+ottoID, annTok, "", 204)
	e.json(t, "DELETE", "/api/v1/users/"+ottoID, annTok, "", 404) // gone
	e.json(t, "PATCH", "/api/v1/users/"+ottoID, a.token, `{"role":"viewer"}`, 404)

	// The owner manages everyone.
	if got := e.json(t, "PATCH", "/api/v1/users/"+annID, a.token, `{"role":"owner"}`, 200); got["role"] != "owner" {
		t.Errorf("owner promotes admin: %v", got)
	}
	// Ann is an owner now (her cached role is forgotten at once): she
	// adds an admin.
	e.add(t, annTok, ada, "admin", 201)
	e.json(t, "DELETE", "/api/v1/users/"+annID, a.token, "", 204)

	// An operator is below the routes' role.
	vicTok, _ := e.loginTo(t, vic, "password123", "alpha")
	e.json(t, "GET", "/api/v1/audit-events", vicTok, "", 403)
	e.add(t, vicTok, otto, "viewer", 403)
}

// TestTeamLastOwner: the last owner can be neither demoted nor removed;
// with a second owner either can go.
func TestTeamLastOwner(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	a := e.makeWorld(t, "alpha")
	ownerID := e.json(t, "GET", "/api/v1/users", a.token, "", 200)["items"].([]any)[0].(map[string]any)["id"].(string)
	for _, try := range []struct{ method, body string }{{"PATCH", `{"role":"admin"}`}, {"DELETE", ""}} {
		w := e.do(t, try.method, "/api/v1/users/"+ownerID, a.token, try.body)
		if w.Code != 409 || !strings.Contains(w.Body.String(), "at least one owner") {
			t.Errorf("%s of the last owner: %d %s", try.method, w.Code, w.Body)
		}
	}
	bob := e.account(t, "bob")
	bobID := e.add(t, a.token, bob, "owner", 201)
	bobTok, _ := e.loginTo(t, bob, "password123", "alpha")
	e.json(t, "PATCH", "/api/v1/users/"+ownerID, bobTok, `{"role":"viewer"}`, 200)
	// Bob is the last owner now, and cannot leave.
	e.json(t, "DELETE", "/api/v1/users/"+bobID, bobTok, "", 409)
}

// TestTeamRevokesKeysAtOnce: removing a member, or demoting them below
// admin, revokes the API keys they made, refused by this process at once
// (not after the authorization cache's TTL), as are their own tokens.
func TestTeamRevokesKeysAtOnce(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	a := e.makeWorld(t, "alpha")
	ann, ben := e.account(t, "ann"), e.account(t, "ben")
	annID := e.add(t, a.token, ann, "admin", 201)
	benID := e.add(t, a.token, ben, "admin", 201)
	annTok, _ := e.loginTo(t, ann, "password123", "alpha")
	benTok, _ := e.loginTo(t, ben, "password123", "alpha")
	annKey := e.json(t, "POST", "/api/v1/api-keys", annTok, `{"name":"ann's","scopes":["sites:read"]}`, 201)["key"].(string)
	benKey := e.json(t, "POST", "/api/v1/api-keys", benTok, `{"name":"ben's","scopes":["sites:read"]}`, 201)["key"].(string)
	// Both keys and tokens work, and are cached now.
	for _, cred := range []string{annKey, benKey, annTok, benTok} {
		e.json(t, "GET", "/api/v1/sites", cred, "", 200)
	}
	e.json(t, "GET", "/api/v1/api-keys", benTok, "", 200)

	e.json(t, "DELETE", "/api/v1/users/"+annID, a.token, "", 204)
	e.json(t, "PATCH", "/api/v1/users/"+benID, a.token, `{"role":"operator"}`, 200)
	// No clock moves: the cache would still hold them.
	e.json(t, "GET", "/api/v1/sites", annKey, "", 401)
	e.json(t, "GET", "/api/v1/sites", benKey, "", 401)
	e.json(t, "GET", "/api/v1/sites", annTok, "", 401)
	e.json(t, "GET", "/api/v1/api-keys", benTok, "", 403) // an operator now
	e.json(t, "GET", "/api/v1/sites", benTok, "", 200)

	// Keys never manage members, read the audit trail or change passwords.
	key := e.serviceKey(t, a)
	for _, try := range []struct{ method, path, body string }{
		{"POST", "/api/v1/users", `{"email":"` + ann + `","role":"viewer"}`},
		{"PATCH", "/api/v1/users/" + benID, `{"role":"viewer"}`},
		{"DELETE", "/api/v1/users/" + benID, ""},
		{"GET", "/api/v1/audit-events", ""},
		{"POST", "/api/v1/auth/password", `{"current_password":"password123","new_password":"password456"}`},
	} {
		e.json(t, try.method, try.path, key, try.body, 403)
	}
	members := e.json(t, "GET", "/api/v1/users", a.token, "", 200)["items"].([]any)
	if len(members) != 2 {
		t.Errorf("members after the key's tries: %v", members)
	}
}

// TestAuditEvents: newest first, keyset pages that neither skip nor repeat,
// the action and since filters, bad parameters as field errors.
func TestAuditEvents(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	a := e.makeWorld(t, "alpha")
	b := e.makeWorld(t, "bravo")
	for i := range 5 {
		e.json(t, "POST", "/api/v1/sites", a.token, `{"name":"Extra `+strconv.Itoa(i)+`","timezone":"UTC"}`, 201)
	}
	var want int
	if err := e.admin.QueryRow(context.Background(), `SELECT count(*) FROM audit_events WHERE tenant_id = $1`, a.tenant).Scan(&want); err != nil {
		t.Fatal(err)
	}
	var seen []map[string]any
	ids := map[float64]bool{}
	next := ""
	for pages := 0; ; pages++ {
		if pages > want {
			t.Fatal("pagination does not end")
		}
		target := "/api/v1/audit-events?limit=3"
		if next != "" {
			target += "&cursor=" + url.QueryEscape(next)
		}
		m := e.json(t, "GET", target, a.token, "", 200)
		for _, it := range m["items"].([]any) {
			ev := it.(map[string]any)
			if ids[ev["id"].(float64)] {
				t.Errorf("event %v twice", ev["id"])
			}
			ids[ev["id"].(float64)] = true
			seen = append(seen, ev)
		}
		if m["next_cursor"] == nil {
			break
		}
		next = m["next_cursor"].(string)
	}
	if len(seen) != want || want < 8 {
		t.Fatalf("paged %d events, the tenant has %d", len(seen), want)
	}
	for i := 1; i < len(seen); i++ {
		prev, _ := time.Parse(time.RFC3339Nano, seen[i-1]["at"].(string))
		cur, _ := time.Parse(time.RFC3339Nano, seen[i]["at"].(string))
		if cur.After(prev) || cur.Equal(prev) && seen[i]["id"].(float64) > seen[i-1]["id"].(float64) {
			t.Errorf("event %d is newer than the one before it: %v then %v", i, seen[i-1], seen[i])
		}
	}
	if seen[0]["action"] != "site.create" || seen[0]["details"] == nil {
		t.Errorf("newest event: %v", seen[0])
	}
	for _, ev := range seen {
		if strings.Contains(ev["actor"].(string)+ev["target"].(string), b.tenant) || ev["target"] == b.slug {
			t.Errorf("B's event in A's trail: %v", ev)
		}
	}

	sites := e.json(t, "GET", "/api/v1/audit-events?action=site.create&limit=200", a.token, "", 200)["items"].([]any)
	if len(sites) != 6 {
		t.Errorf("action filter: %d site.create events, want 6: %v", len(sites), sites)
	}
	for _, it := range sites {
		if it.(map[string]any)["action"] != "site.create" {
			t.Errorf("action filter let in %v", it)
		}
	}
	// since: from the third-newest event's time on.
	third, _ := time.Parse(time.RFC3339Nano, seen[2]["at"].(string))
	recent := e.json(t, "GET", "/api/v1/audit-events?since="+url.QueryEscape(third.Format(time.RFC3339Nano)), a.token, "", 200)["items"].([]any)
	if len(recent) < 3 {
		t.Errorf("since %s: %d events", third, len(recent))
	}
	for _, it := range recent {
		at, _ := time.Parse(time.RFC3339Nano, it.(map[string]any)["at"].(string))
		if at.Before(third) {
			t.Errorf("since %s let in %v", third, it)
		}
	}
	future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	if got := e.json(t, "GET", "/api/v1/audit-events?since="+future, a.token, "", 200)["items"].([]any); len(got) != 0 {
		t.Errorf("since the future: %v", got)
	}
	for _, q := range []string{"since=yesterday", "limit=0", "cursor=xyz", "since=0001-01-01T00:00:00Z"} {
		e.json(t, "GET", "/api/v1/audit-events?"+q, a.token, "", 400)
	}
}

// TestPasswordChange: the current password is checked; the change ends
// the user's other sessions (access and refresh tokens) at once in this
// process and answers a new session; the old password stops working.
func TestPasswordChange(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	a := e.makeWorld(t, "alpha")
	tok1, _ := e.loginTo(t, a.email, "password123", "alpha")
	tok2, refresh2 := e.loginTo(t, a.email, "password123", "alpha")
	e.json(t, "GET", "/api/v1/sites", tok2, "", 200) // cached

	w := e.do(t, "POST", "/api/v1/auth/password", tok1, `{"current_password":"wrong-password","new_password":"brand-new-password"}`)
	if w.Code != 400 || !strings.Contains(w.Body.String(), "current_password") {
		t.Fatalf("wrong current password: %d %s", w.Code, w.Body)
	}
	e.json(t, "POST", "/api/v1/auth/password", tok1, `{"current_password":"password123","new_password":"short"}`, 400)
	e.json(t, "GET", "/api/v1/sites", tok2, "", 200) // nothing changed yet

	got := e.json(t, "POST", "/api/v1/auth/password", tok1, `{"current_password":"password123","new_password":"brand-new-password"}`, 200)
	fresh := got["access_token"].(string)
	e.json(t, "GET", "/api/v1/sites", fresh, "", 200)
	e.json(t, "GET", "/api/v1/sites", tok2, "", 401)
	e.json(t, "GET", "/api/v1/sites", a.token, "", 401)
	e.json(t, "POST", "/api/v1/auth/refresh", "", `{"refresh_token":"`+refresh2+`"}`, 401)
	e.json(t, "POST", "/api/v1/auth/refresh", "", `{"refresh_token":"`+got["refresh_token"].(string)+`"}`, 200)
	e.json(t, "POST", "/api/v1/auth/login", "", `{"email":"`+a.email+`","password":"password123"}`, 401)
	e.loginTo(t, a.email, "brand-new-password", "alpha")

	var n int
	if err := e.admin.QueryRow(context.Background(), `SELECT count(*) FROM audit_events WHERE tenant_id = $1 AND action = 'user.password_change'`, a.tenant).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("password_change audit events: %d", n)
	}
}
