package parkd

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parkhq/park/internal/pgtest"
)

// TestAuthDocExamples runs the shell examples of docs/auth.md, in order and
// as written, against a real parkd with open registration (as make run
// has), so the page stays true: every curl must answer the status the page
// describes. Only the address is replaced, and the API key the page shows
// is replaced with the one its creation example made.
func TestAuthDocExamples(t *testing.T) {
	t.Parallel()
	requireTools(t, "sh", "curl", "jq")
	page, err := os.ReadFile("../../docs/auth.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```sh\n(.*?)```").FindAllStringSubmatch(string(page), -1)
	if len(blocks) < 8 {
		t.Fatalf("auth.md has %d shell examples", len(blocks))
	}

	db := pgtest.NewDB(t)
	e := serveEnv(db.ServerURL)
	e["PARKD_REGISTRATION"] = "open"
	p := start(t, []string{"serve"}, e, time.Minute)
	host := strings.TrimPrefix(p.base, "http://")

	// The examples up to the tenant choice, then the rest: in between, the
	// user joins a second tenant, as the page's choice needs.
	var before, after []string
	choice := -1
	for i, b := range blocks {
		text := strings.ReplaceAll(b[1], "127.0.0.1:8000", host)
		if strings.Contains(text, `"tenant": "acme"`) && choice < 0 {
			choice = i
		}
		if strings.Contains(text, "/api/v1/api-keys") {
			text = "KEYJSON=$(" + strings.TrimSpace(text) + ")\necho \"$KEYJSON\"\n"
		}
		text = regexp.MustCompile(`(?m)^KEY=park_\S+$`).ReplaceAllLiteralString(text, `KEY=$(echo "$KEYJSON" | jq -r .key)`)
		if choice < 0 {
			before = append(before, text)
		} else {
			after = append(after, text)
		}
	}
	if choice < 0 {
		t.Fatal(`auth.md has no login with "tenant": "acme"`)
	}
	before = append(before, `echo "TOKEN=$TOKEN"`, `echo "REFRESH=$REFRESH"`)

	first := runShell(t, before)
	if got := strings.Fields(first.stderr); first.err != nil || !slices.Equal(got, []string{"201", "200", "200"}) {
		t.Fatalf("register and login examples answered %v (want 201 200 200): %v\nstdout:\n%s\nstderr:\n%s", got, first.err, first.stdout, first.stderr)
	}
	vars := regexp.MustCompile(`(?m)^(TOKEN|REFRESH)=(\S+)$`).FindAllStringSubmatch(first.stdout, -1)
	if len(vars) != 2 {
		t.Fatalf("no TOKEN and REFRESH after login:\n%s", first.stdout)
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := db.AdminPool(t).Exec(ctx, `
		with t as (insert into tenants (id, name, slug) values (gen_random_uuid(), 'Demo', 'demo') returning id)
		insert into user_memberships (tenant_id, user_id, role)
		select t.id, u.id, 'viewer' from t, users u where u.email = 'ana@example.com'`); err != nil {
		t.Fatal(err)
	}
	// Without a tenant, the login lists the slugs to choose from.
	resp, err := http.Post(p.base+"/api/v1/auth/login", "application/json",
		strings.NewReader(`{"email": "ana@example.com", "password": "correct horse battery"}`))
	if err != nil {
		t.Fatal(err)
	}
	var problem struct {
		Errors map[string][]string `json:"errors"`
	}
	json.NewDecoder(resp.Body).Decode(&problem)
	resp.Body.Close()
	if resp.StatusCode != 400 || !slices.Equal(problem.Errors["tenant"], []string{"acme", "demo"}) {
		t.Fatalf("login with two memberships and no tenant: %d %v", resp.StatusCode, problem.Errors)
	}

	rest := append([]string{vars[0][0], vars[1][0]}, after...)
	second := runShell(t, rest)
	// The logout example prints its own status (204) on stdout.
	want := []string{"200", "200", "200", "201", "200", "200"}
	if got := strings.Fields(second.stderr); second.err != nil || !slices.Equal(got, want) || !strings.Contains(second.stdout, "204\n") {
		t.Fatalf("the examples from the tenant choice on answered %v (want %v, and 204 from logout): %v\nstdout:\n%s\nstderr:\n%s",
			got, want, second.err, second.stdout, second.stderr)
	}
}
