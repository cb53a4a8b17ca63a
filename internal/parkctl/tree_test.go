package parkctl

import (
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/parkhq/park/internal/parkctl/iostreams"
)

// The command-tree checks walk whatever NewRootCmd registers, so a noun or
// verb added later is held to the same rules without touching this file.

// tree returns every command of a fresh root (the root included) that a
// user can see: hidden ones, such as cobra's __complete, are left out.
func tree(t *testing.T) (root *cobra.Command, all []*cobra.Command) {
	t.Helper()
	ios, _, _, _ := iostreams.Test()
	root = NewRootCmd(NewFactory(ios, mapEnv(nil)))
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Hidden {
			return
		}
		all = append(all, c)
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	return root, all
}

// args returns the arguments that name c ("site list" → [site list]).
func args(c *cobra.Command) []string {
	return strings.Fields(strings.TrimPrefix(c.CommandPath(), "parkctl"))
}

func TestEveryCommandHasAnExample(t *testing.T) {
	t.Parallel()
	_, all := tree(t)
	if len(all) < 40 {
		t.Fatalf("walked %d commands; the tree is not what it seems", len(all))
	}
	env := map[string]string{"HOME": t.TempDir()}
	for _, c := range all {
		path := c.CommandPath()
		if c.Short == "" {
			t.Errorf("%s: no short description", path)
		}
		if strings.TrimSpace(c.Example) == "" {
			t.Errorf("%s: no example", path)
			continue
		}
		for _, line := range strings.Split(c.Example, "\n") {
			if !strings.HasPrefix(line, "  ") {
				t.Errorf("%s: example line %q is not indented", path, line)
			}
		}
		if !strings.Contains(c.Example+"\n", path+" ") && !strings.Contains(c.Example+"\n", path+"\n") {
			t.Errorf("%s: the example does not show %q", path, path)
		}
		code, stdout, stderr := runArgs(t, env, append(args(c), "--help")...)
		if code != 0 || !strings.Contains(stdout, "Examples:\n"+c.Example) || stderr != "" {
			t.Errorf("%s --help: exit %d, stderr %q; stdout has no examples:\n%s", path, code, stderr, stdout)
		}
	}
}

func TestRootHelpListsEveryNoun(t *testing.T) {
	t.Parallel()
	root, _ := tree(t)
	code, stdout, _ := runArgs(t, map[string]string{"HOME": t.TempDir()}, "--help")
	if code != 0 {
		t.Fatalf("--help: exit %d", code)
	}
	nouns := 0
	for _, c := range root.Commands() {
		if c.Hidden {
			continue
		}
		nouns++
		re := regexp.MustCompile(`(?m)^  ` + regexp.QuoteMeta(c.Name()) + ` +` + regexp.QuoteMeta(c.Short) + `$`)
		if !re.MatchString(stdout) {
			t.Errorf("parkctl --help does not list %s (%q):\n%s", c.Name(), c.Short, stdout)
		}
	}
	for _, noun := range []string{"db", "migrate", "tenant", "site", "space", "webhook-secret", "orphans", "reservations", "smoke", "completion"} {
		if c, _, err := root.Find([]string{noun}); err != nil || c.Name() != noun {
			t.Errorf("no noun %s", noun)
		}
	}
	if nouns < 10 {
		t.Errorf("%d nouns", nouns)
	}
}

// TestUnknownSubcommandIsAUsageError: an unknown verb of any noun (or an
// unknown noun, or an unknown help topic) exits 2 with the error and the
// usage on stderr and nothing on stdout; an unknown flag on any verb too.
func TestUnknownSubcommandIsAUsageError(t *testing.T) {
	t.Parallel()
	root, all := tree(t)
	env := map[string]string{"HOME": t.TempDir()}
	check := func(argv []string, wantErr string) {
		t.Helper()
		code, stdout, stderr := runArgs(t, env, argv...)
		if code != 2 || stdout != "" || !strings.Contains(stderr, wantErr) || !strings.Contains(stderr, "\nUsage:\n") {
			t.Errorf("parkctl %s: exit %d (want 2)\nstdout: %q\nstderr: %q (want %q and the usage)",
				strings.Join(argv, " "), code, stdout, stderr, wantErr)
		}
	}
	check([]string{"frobnicate"}, `error: unknown command "frobnicate" for "parkctl"`)
	check([]string{"help", "frobnicate"}, `error: unknown help topic "frobnicate"`)
	check([]string{"help", "site", "frobnicate"}, `error: unknown help topic "site frobnicate"`)
	for _, c := range all {
		if c == root {
			continue
		}
		if c.HasSubCommands() {
			check(append(args(c), "frobnicate"), `error: unknown command "frobnicate" for "`+c.CommandPath()+`"`)
			continue
		}
		check(append(args(c), "--frobnicate"), "error: unknown flag: --frobnicate")
	}
}

// TestBareVerbsWithoutADatabaseAreUsageErrors runs every verb with no
// arguments, no flags and no database URL: each says what is missing (a
// flag, an argument, the database URL) and exits 2 — none does anything,
// none fails otherwise. Printing help and completion scripts need nothing.
func TestBareVerbsWithoutADatabaseAreUsageErrors(t *testing.T) {
	t.Parallel()
	_, all := tree(t)
	env := map[string]string{"HOME": t.TempDir()}
	for _, c := range all {
		if c.HasSubCommands() || c.Name() == "help" || c.HasParent() && c.Parent().Name() == "completion" {
			continue
		}
		code, stdout, stderr := runArgs(t, env, args(c)...)
		if code != 2 || stdout != "" || !strings.HasPrefix(stderr, "error: ") {
			t.Errorf("parkctl %s: exit %d (want 2)\nstdout: %q\nstderr: %q", strings.Join(args(c), " "), code, stdout, stderr)
		}
	}
}

// TestVerbsNeedTheDatabaseURL: verbs given everything else say how to give
// the database URL, and exit 2.
func TestVerbsNeedTheDatabaseURL(t *testing.T) {
	t.Parallel()
	env := map[string]string{"HOME": t.TempDir()}
	for _, argv := range [][]string{
		{"migrate", "status"},
		{"tenant", "list"},
		{"tenant", "get", "acme"},
		{"site", "list", "--tenant", "acme"},
		{"site", "get", "--tenant", "acme", "North"},
		{"space", "list", "--tenant", "acme"},
		{"space", "get", "--tenant", "acme", "--site", "North", "A1"},
		{"webhook-secret", "list", "--tenant", "acme"},
		{"orphans", "list", "--tenant", "acme"},
		{"reservations", "audit"},
		{"reservations", "prune-keys"},
	} {
		code, stdout, stderr := runArgs(t, env, argv...)
		if code != 2 || stdout != "" || !strings.Contains(stderr, "error: no database URL: use --database-url or set PARKCTL_DATABASE_URL") {
			t.Errorf("parkctl %s: exit %d, stdout %q, stderr %q", strings.Join(argv, " "), code, stdout, stderr)
		}
	}
}

// TestTenantAndSiteFlagsComplete: every --tenant and --site flag of the
// tree completes from the database, which it does when it was added with
// cmdutil.AddTenantFlag / AddSiteFlag.
func TestTenantAndSiteFlagsComplete(t *testing.T) {
	t.Parallel()
	_, all := tree(t)
	seen := 0
	for _, c := range all {
		for _, name := range []string{"tenant", "site"} {
			if c.LocalFlags().Lookup(name) == nil {
				continue
			}
			seen++
			if _, ok := c.GetFlagCompletionFunc(name); !ok {
				t.Errorf("%s --%s does not complete: add it with cmdutil.Add%sFlag", c.CommandPath(), name, strings.ToUpper(name[:1])+name[1:])
			}
		}
	}
	if seen < 20 {
		t.Errorf("only %d --tenant/--site flags found", seen)
	}
}
