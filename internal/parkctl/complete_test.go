package parkctl

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parkhq/park/internal/parkctl/cmdutil"
	"github.com/parkhq/park/internal/pgtest"
	"github.com/parkhq/park/tenancy"
)

// complete runs `parkctl __complete args...` (what the shell scripts call
// on Tab) and returns the candidates without their descriptions, the
// directive line, the exit code and standard error.
func complete(t *testing.T, env map[string]string, args ...string) (values []string, directive string, code int, stderr string) {
	t.Helper()
	code, stdout, stderr := runArgs(t, env, append([]string{"__complete"}, args...)...)
	lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
	directive = lines[len(lines)-1]
	values = []string{}
	for _, l := range lines[:len(lines)-1] {
		v, _, _ := strings.Cut(l, "\t")
		values = append(values, v)
	}
	return values, directive, code, stderr
}

// TestCompletionFromDatabase completes tenant slugs, site names and space
// codes from a real database, through the command lines a shell sends.
func TestCompletionFromDatabase(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	ctx := t.Context()
	pool, err := pgxpool.New(ctx, db.OpsURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	ops, store := tenancy.NewOps(pool), tenancy.NewStore(pool)
	const actor = "operator:test"
	var acme *tenancy.Tenant
	for _, slug := range []string{"acme", "beta"} {
		tn, err := ops.TenantCreate(ctx, &tenancy.TenantCreateParams{Name: strings.ToUpper(slug), Slug: slug, Actor: actor})
		if err != nil {
			t.Fatal(err)
		}
		if acme == nil {
			acme = tn
		}
	}
	sites := map[string]*tenancy.Site{}
	for _, name := range []string{"North", "South garage"} {
		s, err := store.SiteCreate(ctx, &tenancy.SiteCreateParams{TenantID: acme.ID, Actor: actor, Name: name, Timezone: "UTC"})
		if err != nil {
			t.Fatal(err)
		}
		sites[name] = s
	}
	for _, sp := range [][2]string{{"North", "A1"}, {"North", "A2"}, {"South garage", "A1"}, {"South garage", "B1"}} {
		if _, err := store.SpaceCreate(ctx, &tenancy.SpaceCreateParams{TenantID: acme.ID, Actor: actor, SiteID: sites[sp[0]].ID, Code: sp[1]}); err != nil {
			t.Fatal(err)
		}
	}

	env := map[string]string{"HOME": t.TempDir(), "PARKCTL_DATABASE_URL": db.OpsURL}
	south := sites["South garage"].ID.String()
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"site", "list", "--tenant", ""}, []string{"acme", "beta"}},
		{[]string{"site", "list", "--tenant", "a"}, []string{"acme"}},
		{[]string{"space", "import", "--tenant", "b"}, []string{"beta"}},
		{[]string{"tenant", "get", ""}, []string{"acme", "beta"}},
		{[]string{"tenant", "suspend", "be"}, []string{"beta"}},
		{[]string{"tenant", "get", "acme", ""}, []string{}},
		{[]string{"site", "get", "--tenant", "acme", ""}, []string{"North", "South garage"}},
		{[]string{"site", "delete", "--tenant", "acme", "S"}, []string{"South garage"}},
		{[]string{"site", "get", "--tenant", "acme", "North", ""}, []string{}},
		{[]string{"site", "get", "--tenant", "beta", ""}, []string{}},
		{[]string{"site", "get", "--tenant", "nosuch", ""}, []string{}},
		{[]string{"site", "get", ""}, []string{"--tenant"}}, // cobra offers a required flag first
		{[]string{"space", "list", "--tenant", "acme", "--site", ""}, []string{"North", "South garage"}},
		{[]string{"space", "create", "--tenant", acme.ID.String(), "--site", "No"}, []string{"North"}},
		{[]string{"space", "get", "--tenant", "acme", "--site", "North", ""}, []string{"A1", "A2"}},
		{[]string{"space", "delete", "--tenant", "acme", "--site", south, ""}, []string{"A1", "B1"}},
		{[]string{"space", "update", "--tenant", "acme", "--site", "nosuch", ""}, []string{}},
		// Without --site, only the codes one space has: A1 is ambiguous.
		{[]string{"space", "get", "--tenant", "acme", ""}, []string{"A2", "B1"}},
		{[]string{"space", "update", "--tenant", "acme", "--site", "North", "A1", "--move-to", ""}, []string{"North", "South garage"}},
		{[]string{"orphans", "assign", "--tenant", "acme", "--site", "South garage", "--space", ""}, []string{"A1", "B1"}},
		{[]string{"orphans", "list", "--tenant", ""}, []string{"acme", "beta"}},
	}
	for _, tt := range tests {
		got, directive, code, stderr := complete(t, env, tt.args...)
		if code != 0 || !slices.Equal(got, tt.want) || directive != ":4" {
			t.Errorf("__complete %q: exit %d, %q %s, want %q :4\nstderr: %s", tt.args, code, got, directive, tt.want, stderr)
		}
		if strings.Contains(stderr, "error") {
			t.Errorf("__complete %q: stderr %q", tt.args, stderr)
		}
	}
}

// TestCompletionWithoutDatabase: with no database URL, or one that does not
// answer, values complete to nothing, quietly and at once, and the exit
// status is 0; commands still complete.
func TestCompletionWithoutDatabase(t *testing.T) {
	t.Parallel()
	for name, env := range map[string]map[string]string{
		"no URL":      {"HOME": t.TempDir()},
		"unreachable": {"HOME": t.TempDir(), "PARKCTL_DATABASE_URL": "postgres://park_admin@127.0.0.1:1/park"},
		"bad config":  {"HOME": t.TempDir(), "PARKCTL_DATABASE_URL": "postgres://park_admin@127.0.0.1:1/park", "PARKCTL_OUTPUT": "xml"},
	} {
		for _, args := range [][]string{
			{"site", "list", "--tenant", ""},
			{"tenant", "get", ""},
			{"site", "get", "--tenant", "acme", ""},
			{"space", "get", "--tenant", "acme", "--site", "North", ""},
		} {
			start := time.Now()
			got, directive, code, stderr := complete(t, env, args...)
			if code != 0 || len(got) != 0 || directive != ":4" {
				t.Errorf("%s: __complete %q: exit %d, %q %s; want nothing, :4", name, args, code, got, directive)
			}
			if strings.Contains(strings.ToLower(stderr), "error") || strings.Contains(stderr, "127.0.0.1") {
				t.Errorf("%s: __complete %q: stderr %q", name, args, stderr)
			}
			if d := time.Since(start); d > cmdutil.CompletionTimeout+time.Second {
				t.Errorf("%s: __complete %q took %s", name, args, d)
			}
		}
	}
	got, _, code, _ := complete(t, map[string]string{"HOME": t.TempDir()}, "sit")
	if code != 0 || !slices.Equal(got, []string{"site"}) {
		t.Errorf("command completion: exit %d, %q", code, got)
	}
}
