package parkctl

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/parkhq/park/internal/parkctl/cmdutil"
	"github.com/parkhq/park/internal/parkctl/iostreams"
	"github.com/parkhq/park/internal/parkctl/output"
	"github.com/parkhq/park/tenancy"
)

func TestExitCode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"nil", nil, 0},
		{"plain error", errors.New("boom"), 1},
		{"silent", cmdutil.ErrSilent, 1},
		{"wrapped silent", fmt.Errorf("x: %w", cmdutil.ErrSilent), 1},
		{"cancelled", cmdutil.ErrCancelled, 1},
		{"flag error", cmdutil.FlagErrorf("bad flag"), 2},
		{"wrapped flag error", fmt.Errorf("ctx: %w", cmdutil.FlagErrorf("bad flag")), 2},
		{"not found", fmt.Errorf("tenant %q: %w", "acme", cmdutil.ErrNotFound), 3},
		{"problems", cmdutil.Problems("2 problems"), 4},
		{"explicit exit error", &cmdutil.ExitError{Code: 3, Err: errors.New("gone")}, 3},
		{"silent exit error", &cmdutil.ExitError{Code: 4, Err: cmdutil.ErrSilent}, 4},
		{"exit error beats its cause", &cmdutil.ExitError{Code: 4, Err: cmdutil.ErrNotFound}, 4},
		{"context canceled", context.Canceled, 1},
	}
	for _, tt := range tests {
		if got := exitCode(tt.err); got != tt.want {
			t.Errorf("%s: exitCode(%v) = %d, want %d", tt.name, tt.err, got, tt.want)
		}
	}
}

func TestPrintError(t *testing.T) {
	t.Parallel()
	for _, err := range []error{nil, cmdutil.ErrSilent, fmt.Errorf("a: %w", cmdutil.ErrSilent), &cmdutil.ExitError{Code: 4}} {
		var b strings.Builder
		printError(&b, nil, err)
		if b.Len() != 0 {
			t.Errorf("printError(%v) printed %q, want nothing", err, b.String())
		}
	}
	var b strings.Builder
	printError(&b, nil, cmdutil.Problems("migrate verify: 2 problem(s) found"))
	if b.String() != "error: migrate verify: 2 problem(s) found\n" {
		t.Errorf("got %q", b.String())
	}
}

// runArgs runs parkctl in process with test streams and the given
// environment, and returns the exit code and both outputs.
func runArgs(t *testing.T, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ios, _, out, errOut := iostreams.Test()
	f := NewFactory(ios, mapEnv(env))
	code = run(t.Context(), f, args)
	return code, out.String(), errOut.String()
}

func mapEnv(env map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := env[k]; return v, ok }
}

func TestRunExitCodes(t *testing.T) {
	t.Parallel()
	noDB := map[string]string{"HOME": t.TempDir()}
	tests := []struct {
		name       string
		args       []string
		want       int
		wantStdout string
		wantStderr string
	}{
		{"help", []string{"--help"}, 0, "migrate", ""},
		{"no command prints help", nil, 0, "Database:", ""},
		{"help lists db", []string{"--help"}, 0, "db ", ""},
		{"unknown command", []string{"nosuch"}, 2, "", `unknown command "nosuch" for "parkctl"`},
		{"unknown command shows usage", []string{"nosuch"}, 2, "", "Usage:"},
		{"suggestion", []string{"migrat"}, 2, "", "Did you mean this?\n\tmigrate"},
		{"unknown verb", []string{"migrate", "upp"}, 2, "", `unknown command "upp" for "parkctl migrate"`},
		{"group without verb prints help", []string{"migrate"}, 0, "Available Commands", ""},
		{"unknown flag", []string{"--nosuch"}, 2, "", "unknown flag: --nosuch"},
		{"unknown flag on a verb", []string{"migrate", "status", "--nosuch"}, 2, "", "unknown flag"},
		{"bad output format", []string{"-o", "xml", "migrate", "status"}, 2, "", `invalid output format "xml"`},
		{"extra argument", []string{"migrate", "status", "extra"}, 2, "", `unknown command "extra"`},
		{"no database URL", []string{"migrate", "status"}, 2, "", "no database URL"},
		{"bootstrap needs an admin URL", []string{"db", "bootstrap"}, 2, "", "--admin-url is required"},
		{"verb help", []string{"migrate", "verify", "--help"}, 0, "exits 4", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, stdout, stderr := runArgs(t, noDB, tt.args...)
			if code != tt.want {
				t.Errorf("exit code %d, want %d\nstdout: %s\nstderr: %s", code, tt.want, stdout, stderr)
			}
			if !strings.Contains(stdout, tt.wantStdout) {
				t.Errorf("stdout %q does not contain %q", stdout, tt.wantStdout)
			}
			if !strings.Contains(stderr, tt.wantStderr) {
				t.Errorf("stderr %q does not contain %q", stderr, tt.wantStderr)
			}
		})
	}
}

// probe runs parkctl with an extra leaf command that captures the resolved
// configuration.
func probe(t *testing.T, env map[string]string, args ...string) (*cmdutil.Config, int, string) {
	t.Helper()
	ios, _, _, errOut := iostreams.Test()
	f := NewFactory(ios, mapEnv(env))
	root := NewRootCmd(f)
	var cfg *cmdutil.Config
	root.AddCommand(&cobra.Command{Use: "probe", RunE: func(*cobra.Command, []string) error {
		var err error
		cfg, err = f.Config()
		return err
	}})
	root.SetArgs(append([]string{"probe"}, args...))
	_, err := root.ExecuteC()
	printError(errOut, nil, err)
	return cfg, exitCode(err), errOut.String()
}

func writeFile(t *testing.T, path, content string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// masterKey returns a master key of version v in the configured form.
func masterKey(v int) string {
	return fmt.Sprintf("v%d:%s", v, base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{byte(v)}, 32)))
}

func TestConfigPrecedence(t *testing.T) {
	t.Parallel()
	xdg := t.TempDir()
	writeFile(t, filepath.Join(xdg, "parkctl", "config.yaml"),
		"database_url: postgres://file/db\nmaster_key: "+masterKey(1)+"\noutput: yaml\nadmin_url: postgres://file/admin\n")
	base := map[string]string{"XDG_CONFIG_HOME": xdg, "HOME": t.TempDir()}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	tests := []struct {
		name   string
		env    map[string]string
		args   []string
		db     string
		key    int // the keyring's current version
		format output.Format
		admin  string
	}{
		{"file only", base, nil, "postgres://file/db", 1, output.YAML, "postgres://file/admin"},
		{"env beats file", with("PARKCTL_DATABASE_URL", "postgres://env/db", "PARKCTL_OUTPUT", "json", "PARKCTL_ADMIN_URL", "postgres://env/admin"),
			nil, "postgres://env/db", 1, output.JSON, "postgres://env/admin"},
		{"empty env is unset", with("PARKCTL_DATABASE_URL", ""), nil, "postgres://file/db", 1, output.YAML, "postgres://file/admin"},
		{"flag beats env", with("PARKCTL_DATABASE_URL", "postgres://env/db", "PARKCTL_MASTER_KEY", masterKey(2), "PARKCTL_OUTPUT", "json"),
			[]string{"--database-url", "postgres://flag/db", "-o", "table"}, "postgres://flag/db", 2, output.Table, "postgres://file/admin"},
		{"flag beats file", base, []string{"--master-key", masterKey(3)}, "postgres://file/db", 3, output.YAML, "postgres://file/admin"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, code, stderr := probe(t, tt.env, tt.args...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			if cfg.DatabaseURL != tt.db || cfg.Keyring == nil || cfg.Keyring.Current != tt.key || cfg.Output != tt.format || cfg.AdminURL != tt.admin {
				t.Errorf("got db=%q keyring=%v output=%q admin=%q, want %q v%d %q %q",
					cfg.DatabaseURL, cfg.Keyring, cfg.Output, cfg.AdminURL, tt.db, tt.key, tt.format, tt.admin)
			}
			if cfg.File != filepath.Join(xdg, "parkctl", "config.yaml") {
				t.Errorf("File = %q", cfg.File)
			}
		})
	}
}

func TestConfigFileLocation(t *testing.T) {
	t.Parallel()
	home := t.TempDir()
	homeFile := writeFile(t, filepath.Join(home, ".config", "parkctl", "config.yaml"), "database_url: postgres://home/db\n")
	other := writeFile(t, filepath.Join(t.TempDir(), "other.yaml"), "database_url: postgres://other/db\n")

	t.Run("HOME fallback without XDG_CONFIG_HOME", func(t *testing.T) {
		t.Parallel()
		cfg, code, stderr := probe(t, map[string]string{"HOME": home})
		if code != 0 || cfg.DatabaseURL != "postgres://home/db" || cfg.File != homeFile {
			t.Fatalf("code %d cfg %+v stderr %s", code, cfg, stderr)
		}
	})
	t.Run("relative XDG_CONFIG_HOME is ignored", func(t *testing.T) {
		t.Parallel()
		cfg, code, _ := probe(t, map[string]string{"HOME": home, "XDG_CONFIG_HOME": "rel"})
		if code != 0 || cfg.DatabaseURL != "postgres://home/db" {
			t.Fatalf("code %d cfg %+v", code, cfg)
		}
	})
	t.Run("missing default file is fine", func(t *testing.T) {
		t.Parallel()
		cfg, code, stderr := probe(t, map[string]string{"HOME": t.TempDir()})
		if code != 0 || cfg.File != "" || cfg.Output != output.Table {
			t.Fatalf("code %d cfg %+v stderr %s", code, cfg, stderr)
		}
	})
	t.Run("--config", func(t *testing.T) {
		t.Parallel()
		cfg, code, _ := probe(t, map[string]string{"HOME": home}, "--config", other)
		if code != 0 || cfg.DatabaseURL != "postgres://other/db" || cfg.File != other {
			t.Fatalf("code %d cfg %+v", code, cfg)
		}
	})
	t.Run("PARKCTL_CONFIG", func(t *testing.T) {
		t.Parallel()
		cfg, code, _ := probe(t, map[string]string{"HOME": home, "PARKCTL_CONFIG": other})
		if code != 0 || cfg.DatabaseURL != "postgres://other/db" {
			t.Fatalf("code %d cfg %+v", code, cfg)
		}
	})
	t.Run("missing explicit file is an error", func(t *testing.T) {
		t.Parallel()
		_, code, stderr := probe(t, map[string]string{"HOME": home}, "--config", filepath.Join(t.TempDir(), "nope.yaml"))
		if code != 2 || !strings.Contains(stderr, "nope.yaml") {
			t.Fatalf("code %d stderr %s", code, stderr)
		}
	})
	t.Run("missing PARKCTL_CONFIG file is an error", func(t *testing.T) {
		t.Parallel()
		_, code, _ := probe(t, map[string]string{"HOME": home, "PARKCTL_CONFIG": filepath.Join(t.TempDir(), "nope.yaml")})
		if code != 2 {
			t.Fatalf("code %d", code)
		}
	})
}

func TestConfigProblemsReportedTogether(t *testing.T) {
	t.Parallel()
	file := writeFile(t, filepath.Join(t.TempDir(), "c.yaml"), "databse_url: typo\noutput: xml\nyes: true\n")
	_, code, stderr := probe(t, map[string]string{"PARKCTL_VERBOSE": "maybe", "PARKCTL_MASTER_KEY": "v0:abc",
		"PARKCTL_MASTER_KEYS_OLD": "v1:abc," + masterKey(2) + ",x1:abc"}, "--config", file)
	if code != 2 {
		t.Fatalf("exit %d, want 2", code)
	}
	for _, want := range []string{`unknown setting "databse_url"`, `unknown setting "yes"`, `invalid output format "xml"`, `invalid boolean "maybe"`,
		"master_key: version must be a whole number from 1", "master_keys_old: key 1: key must decode to 32 bytes",
		`master_keys_old: key 3: must be "v<N>:<base64>"`} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr %q does not mention %q", stderr, want)
		}
	}
}

func TestConfigMasterKeys(t *testing.T) {
	t.Parallel()
	home := t.TempDir()
	cfg, code, stderr := probe(t, map[string]string{"HOME": home, "PARKCTL_MASTER_KEY": masterKey(3),
		"PARKCTL_MASTER_KEYS_OLD": masterKey(1) + ", " + masterKey(2)})
	if code != 0 || cfg.Keyring == nil || cfg.Keyring.Current != 3 || len(cfg.Keyring.Keys) != 3 {
		t.Fatalf("code %d keyring %v: %s", code, cfg.Keyring, stderr)
	}
	// Bare base64 is v1.
	cfg, code, stderr = probe(t, map[string]string{"HOME": home, "PARKCTL_MASTER_KEY": strings.TrimPrefix(masterKey(1), "v1:")})
	if code != 0 || cfg.Keyring == nil || cfg.Keyring.Current != 1 {
		t.Fatalf("bare base64: code %d keyring %v: %s", code, cfg.Keyring, stderr)
	}
	cfg, code, _ = probe(t, map[string]string{"HOME": home})
	if code != 0 || cfg.Keyring != nil {
		t.Fatalf("no key: code %d keyring %v", code, cfg.Keyring)
	}
	if _, err := cfg.RequireKeyring(); cmdutil.ExitCode(err) != cmdutil.ExitUsage || !strings.Contains(err.Error(), "PARKCTL_MASTER_KEY") {
		t.Fatalf("RequireKeyring without a key: %v", err)
	}
	for name, env := range map[string]map[string]string{
		"old without current": {"PARKCTL_MASTER_KEYS_OLD": masterKey(1)},
		"repeated version":    {"PARKCTL_MASTER_KEY": masterKey(2), "PARKCTL_MASTER_KEYS_OLD": masterKey(2)},
	} {
		env["HOME"] = home
		_, code, stderr := probe(t, env)
		if code != 2 || !strings.Contains(stderr, "master_keys_old") || strings.Contains(stderr, strings.TrimPrefix(masterKey(2), "v2:")) {
			t.Errorf("%s: exit %d, stderr %q", name, code, stderr)
		}
	}
}

func TestConfigBcryptCost(t *testing.T) {
	t.Parallel()
	home := t.TempDir()
	cfg, code, stderr := probe(t, map[string]string{"HOME": home})
	if code != 0 || cfg.BcryptCost != tenancy.DefaultBcryptCost {
		t.Fatalf("default: exit %d, cost %v: %s", code, cfg, stderr)
	}
	file := writeFile(t, filepath.Join(t.TempDir(), "c.yaml"), "bcrypt_cost: 5\n")
	cfg, code, stderr = probe(t, map[string]string{"HOME": home}, "--config", file)
	if code != 0 || cfg.BcryptCost != 5 {
		t.Fatalf("file: exit %d, cost %v: %s", code, cfg, stderr)
	}
	cfg, code, stderr = probe(t, map[string]string{"HOME": home, "PARKCTL_BCRYPT_COST": "4"}, "--config", file)
	if code != 0 || cfg.BcryptCost != 4 {
		t.Fatalf("env: exit %d, cost %v: %s", code, cfg, stderr)
	}
	for bad, want := range map[string]string{"3": "between 4 and 31, is 3", "32": "between 4 and 31, is 32", "twelve": `a whole number, not "twelve"`} {
		_, code, stderr := probe(t, map[string]string{"HOME": home, "PARKCTL_BCRYPT_COST": bad})
		if code != 2 || !strings.Contains(stderr, "bcrypt_cost: must be "+want) {
			t.Errorf("PARKCTL_BCRYPT_COST=%s: exit %d, stderr %q", bad, code, stderr)
		}
	}
}

// TestConfigTenantPrologue: PARKCTL_DB_TENANT_PROLOGUE (or the file's
// db_tenant_prologue) chooses how tenant transactions set their tenant,
// set_config by default; anything else is a usage error naming the values.
func TestConfigTenantPrologue(t *testing.T) {
	t.Parallel()
	home := t.TempDir()
	cfg, code, stderr := probe(t, map[string]string{"HOME": home})
	if code != 0 || cfg.TenantPrologue != tenancy.PrologueSetConfig {
		t.Fatalf("default: exit %d, %v: %s", code, cfg, stderr)
	}
	file := writeFile(t, filepath.Join(t.TempDir(), "c.yaml"), "db_tenant_prologue: set_local\n")
	cfg, code, stderr = probe(t, map[string]string{"HOME": home}, "--config", file)
	if code != 0 || cfg.TenantPrologue != tenancy.PrologueSetLocal {
		t.Fatalf("file: exit %d, %v: %s", code, cfg, stderr)
	}
	cfg, code, stderr = probe(t, map[string]string{"HOME": home, "PARKCTL_DB_TENANT_PROLOGUE": "set_config"}, "--config", file)
	if code != 0 || cfg.TenantPrologue != tenancy.PrologueSetConfig {
		t.Fatalf("env over file: exit %d, %v: %s", code, cfg, stderr)
	}
	_, code, stderr = probe(t, map[string]string{"HOME": home, "PARKCTL_DB_TENANT_PROLOGUE": "SET LOCAL"})
	if code != 2 || !strings.Contains(stderr, `db_tenant_prologue: must be set_config or set_local, not "SET LOCAL"`) {
		t.Errorf("bad value: exit %d, stderr %q", code, stderr)
	}
}

// TestNewVerbsHaveExamples checks the help of the webhook-secret and
// orphans verbs: each has an example that names its own command, and the
// root help lists both nouns.
func TestNewVerbsHaveExamples(t *testing.T) {
	t.Parallel()
	ios, _, _, _ := iostreams.Test()
	root := NewRootCmd(NewFactory(ios, mapEnv(nil)))
	for _, noun := range []string{"webhook-secret", "orphans", "site", "space", "user"} {
		c, _, err := root.Find([]string{noun})
		if err != nil || c.Name() != noun {
			t.Fatalf("no %s noun: %v", noun, err)
		}
		if !strings.Contains(c.Example, "parkctl "+noun+" ") {
			t.Errorf("%s: no example", noun)
		}
		if len(c.Commands()) < 4 {
			t.Errorf("%s has %d verbs", noun, len(c.Commands()))
		}
		for _, verb := range c.Commands() {
			if !strings.Contains(verb.Example, "parkctl "+noun+" "+verb.Name()) {
				t.Errorf("%s %s: no example of itself in %q", noun, verb.Name(), verb.Example)
			}
			if verb.Long == "" {
				t.Errorf("%s %s: no long help", noun, verb.Name())
			}
		}
	}
	code, out, _ := runArgs(t, map[string]string{"HOME": t.TempDir()}, "--help")
	if code != 0 || !strings.Contains(out, "  webhook-secret ") || !strings.Contains(out, "  orphans ") || !strings.Contains(out, "  site ") || !strings.Contains(out, "  space ") || !strings.Contains(out, "  user ") {
		t.Errorf("root help (exit %d) does not list the new nouns:\n%s", code, out)
	}
}

func TestYesIsAFlagOnly(t *testing.T) {
	t.Parallel()
	cfg, code, _ := probe(t, map[string]string{"HOME": t.TempDir(), "PARKCTL_YES": "true"})
	if code != 0 || cfg.Yes {
		t.Fatalf("code %d, Yes %v: PARKCTL_YES must not confirm", code, cfg.Yes)
	}
	cfg, code, _ = probe(t, map[string]string{"HOME": t.TempDir()}, "--yes")
	if code != 0 || !cfg.Yes {
		t.Fatalf("code %d, Yes %v with --yes", code, cfg.Yes)
	}
}

func TestVerboseRaisesLogLevel(t *testing.T) {
	t.Parallel()
	ios, _, _, errOut := iostreams.Test()
	f := NewFactory(ios, mapEnv(map[string]string{"HOME": t.TempDir()}))
	root := NewRootCmd(f)
	root.AddCommand(&cobra.Command{Use: "probe", RunE: func(c *cobra.Command, _ []string) error {
		f.Logger.Debug("hello from probe")
		return nil
	}})
	root.SetArgs([]string{"probe", "--verbose"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(errOut.String(), "hello from probe") {
		t.Errorf("debug log missing with --verbose: %q", errOut.String())
	}
}
