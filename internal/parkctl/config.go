package parkctl

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/pflag"
	"github.com/spf13/viper"
	"golang.org/x/crypto/bcrypt"

	"github.com/parkhq/park/ingest"
	"github.com/parkhq/park/internal/parkctl/cmdutil"
	"github.com/parkhq/park/internal/parkctl/output"
	"github.com/parkhq/park/tenancy"
)

// envPrefix prefixes every environment variable parkctl reads.
const envPrefix = "PARKCTL_"

// setting is one configuration value: its key in the config file, its flag
// (a persistent flag of the root command) and, derived from the key, its
// environment variable (PARKCTL_ + upper-case key).
type setting struct {
	key  string
	flag string // empty when only the environment and the file set it
}

// settings lists everything parkctl reads from the environment and the
// config file. A key in the file that is not here is an error, so a typo
// never passes silently. --yes is deliberately absent: only a flag on the
// command line may skip a confirmation.
func settings() []setting {
	return []setting{
		{key: "database_url", flag: "database-url"},
		{key: "admin_url"}, // db bootstrap's --admin-url is a local flag; see db.NewCmdBootstrap
		{key: "master_key", flag: "master-key"},
		{key: "master_keys_old"}, // secrets: no flag, so they stay off command lines
		{key: "output", flag: "output"},
		{key: "verbose", flag: "verbose"},
		{key: "bcrypt_cost"},        // only `user create|set-password` hash
		{key: "db_tenant_prologue"}, // set_local on Citus, like parkd's PARKD_DB_TENANT_PROLOGUE
	}
}

// loadConfig resolves the configuration with a viper instance of this run:
// flags beat PARKCTL_* variables, which beat the config file. Every problem
// is reported at once, as a usage error (exit 2).
func loadConfig(v *viper.Viper, flags *pflag.FlagSet, lookupEnv func(string) (string, bool)) (*cmdutil.Config, error) {
	var problems []error
	cfg := &cmdutil.Config{}

	path, explicit := configPath(flags, lookupEnv)
	if path != "" {
		v.SetConfigFile(path)
		v.SetConfigType("yaml")
		switch err := v.ReadInConfig(); {
		case err == nil:
			cfg.File = path
			for _, k := range v.AllKeys() {
				if !slices.ContainsFunc(settings(), func(s setting) bool { return s.key == k }) {
					problems = append(problems, fmt.Errorf("config file %s: unknown setting %q", path, k))
				}
			}
		case !explicit && errors.Is(err, fs.ErrNotExist):
			// The default file is optional.
		default:
			problems = append(problems, fmt.Errorf("read config file: %w", err))
		}
	}

	// The environment is merged over the file's values, so viper's own
	// order (flag, then config) yields flag > environment > file without
	// viper reading the process environment itself.
	env := map[string]any{}
	for _, s := range settings() {
		if val, ok := lookupEnv(envPrefix + strings.ToUpper(s.key)); ok && val != "" {
			env[s.key] = val
		}
	}
	if err := v.MergeConfigMap(env); err != nil {
		problems = append(problems, fmt.Errorf("environment: %w", err))
	}
	for _, s := range settings() {
		if s.flag == "" {
			continue
		}
		if err := v.BindPFlag(s.key, flags.Lookup(s.flag)); err != nil {
			return nil, fmt.Errorf("bind flag --%s: %w", s.flag, err)
		}
	}

	cfg.DatabaseURL = v.GetString("database_url")
	cfg.AdminURL = v.GetString("admin_url")
	problems = append(problems, loadKeyring(cfg, v.GetString("master_key"), v.GetString("master_keys_old"))...)
	if f, err := output.ParseFormat(v.GetString("output")); err != nil {
		problems = append(problems, fmt.Errorf("output: %w", err))
	} else {
		cfg.Output = f
	}
	if s := v.GetString("verbose"); s != "" {
		b, err := strconv.ParseBool(s)
		if err != nil {
			problems = append(problems, fmt.Errorf("verbose: invalid boolean %q", s))
		}
		cfg.Verbose = b
	}
	cfg.BcryptCost = tenancy.DefaultBcryptCost
	if s := v.GetString("bcrypt_cost"); s != "" {
		n, err := strconv.Atoi(s)
		switch {
		case err != nil:
			problems = append(problems, fmt.Errorf("bcrypt_cost: must be a whole number, not %q", s))
		case n < bcrypt.MinCost || n > bcrypt.MaxCost:
			problems = append(problems, fmt.Errorf("bcrypt_cost: must be between %d and %d, is %d", bcrypt.MinCost, bcrypt.MaxCost, n))
		default:
			cfg.BcryptCost = n
		}
	}
	cfg.TenantPrologue = tenancy.PrologueSetConfig
	if s := v.GetString("db_tenant_prologue"); s != "" {
		p := tenancy.TenantPrologue(s)
		if !slices.Contains(tenancy.TenantPrologues(), p) {
			problems = append(problems, fmt.Errorf("db_tenant_prologue: must be %s or %s, not %q", tenancy.PrologueSetConfig, tenancy.PrologueSetLocal, s))
		} else {
			cfg.TenantPrologue = p
		}
	}
	cfg.Yes, _ = flags.GetBool("yes")

	if len(problems) > 0 {
		return nil, &cmdutil.ExitError{Code: cmdutil.ExitUsage, Err: fmt.Errorf("invalid configuration:\n  %w", joinIndented(problems))}
	}
	return cfg, nil
}

// loadKeyring parses the master keys into cfg.Keyring and returns every
// problem with them. Old keys without a current key are refused: they
// could open secrets but never seal them, which no verb wants.
func loadKeyring(cfg *cmdutil.Config, current, old string) []error {
	var problems []error
	var cur ingest.MasterKey
	if current != "" {
		k, err := ingest.ParseMasterKey(current)
		if err != nil {
			problems = append(problems, fmt.Errorf("master_key: %w", err))
		}
		cur = k
	}
	olds, err := ingest.ParseMasterKeyList(old)
	if err != nil {
		for _, e := range unwrapJoined(err) {
			problems = append(problems, fmt.Errorf("master_keys_old: %w", e))
		}
	}
	switch {
	case len(problems) > 0:
	case current == "" && old != "":
		problems = append(problems, errors.New("master_keys_old: set without master_key (PARKCTL_MASTER_KEY)"))
	case current != "":
		ring, err := ingest.NewKeyring(cur, olds...)
		if err != nil {
			problems = append(problems, fmt.Errorf("master_keys_old: %w", err))
		}
		cfg.Keyring = ring
	}
	return problems
}

// unwrapJoined returns the errors joined in err by errors.Join, or err.
func unwrapJoined(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// configPath picks the config file: --config, else PARKCTL_CONFIG (both
// explicit: the file must exist), else the default
// $XDG_CONFIG_HOME/parkctl/config.yaml or ~/.config/parkctl/config.yaml,
// which may be missing.
func configPath(flags *pflag.FlagSet, lookupEnv func(string) (string, bool)) (path string, explicit bool) {
	if f := flags.Lookup("config"); f != nil && f.Changed {
		return f.Value.String(), true
	}
	if p, ok := lookupEnv(envPrefix + "CONFIG"); ok && p != "" {
		return p, true
	}
	// XDG: a relative XDG_CONFIG_HOME is invalid and ignored.
	if dir, ok := lookupEnv("XDG_CONFIG_HOME"); ok && filepath.IsAbs(dir) {
		return filepath.Join(dir, "parkctl", "config.yaml"), false
	}
	if home, ok := lookupEnv("HOME"); ok && home != "" {
		return filepath.Join(home, ".config", "parkctl", "config.yaml"), false
	}
	return "", false
}

// joinIndented joins errors one per line, indented under a heading.
func joinIndented(errs []error) error {
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = e.Error()
	}
	return errors.New(strings.Join(msgs, "\n  "))
}
