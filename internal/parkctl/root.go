package parkctl

import (
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"strings"
	"sync"

	"github.com/spf13/cobra"
	"github.com/spf13/viper"

	"github.com/parkhq/park/internal/parkctl/apikey"
	"github.com/parkhq/park/internal/parkctl/audit"
	"github.com/parkhq/park/internal/parkctl/cmdutil"
	"github.com/parkhq/park/internal/parkctl/dashboard"
	"github.com/parkhq/park/internal/parkctl/db"
	"github.com/parkhq/park/internal/parkctl/migrate"
	"github.com/parkhq/park/internal/parkctl/orphans"
	"github.com/parkhq/park/internal/parkctl/output"
	"github.com/parkhq/park/internal/parkctl/readings"
	"github.com/parkhq/park/internal/parkctl/reservations"
	"github.com/parkhq/park/internal/parkctl/site"
	"github.com/parkhq/park/internal/parkctl/smoke"
	"github.com/parkhq/park/internal/parkctl/space"
	"github.com/parkhq/park/internal/parkctl/tenant"
	"github.com/parkhq/park/internal/parkctl/user"
	"github.com/parkhq/park/internal/parkctl/webhooksecret"
)

// Command groups in `parkctl --help`. A noun sets its GroupID to one of
// these.
const (
	groupDatabase   = "database"
	groupTenancy    = "tenancy"
	groupOperations = "operations"
)

const rootLong = `parkctl provisions and repairs a Park deployment straight against Postgres.

Configuration comes from flags, then PARKCTL_* environment variables, then the
config file ($XDG_CONFIG_HOME/parkctl/config.yaml, else
~/.config/parkctl/config.yaml; keys database_url, admin_url, master_key,
master_keys_old, output, verbose, bcrypt_cost, db_tenant_prologue). The first
one that sets a value wins.

Data goes to standard output and messages to standard error. With -o table
(the default) a terminal gets aligned columns under a header; a pipe or file
gets tab-separated rows with no header and no colour (set NO_COLOR to turn
colour off on a terminal too). -o json prints an object for a single result
and an array for a list (never null); -o yaml prints the same document as YAML.

Destructive verbs ask for confirmation; when standard input is not a terminal
they need --yes.

Exit codes:
  0  success
  1  error
  2  usage: unknown command or flag, bad arguments, invalid configuration
  3  not found
  4  an audit or verification found problems`

// NewRootCmd builds the parkctl command tree on f and installs f.Config,
// which resolves flags, environment and config file with a viper instance of
// its own. Nouns plug in here as packages with a NewCmd<Noun>(f) function.
//
// Sub-commands must not define PersistentPreRun(E): cobra runs only the
// nearest one, and the root's validates flags and loads the configuration.
func NewRootCmd(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:           "parkctl <command> <subcommand> [flags]",
		Short:         "Operate a Park deployment",
		Long:          rootLong,
		Version:       version(),
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	cmd.Example = strings.TrimPrefix(`
  parkctl tenant create --name "Acme Parking" --slug acme
  parkctl site list --tenant acme -o json
  parkctl smoke --url https://staging.park.example
  source <(parkctl completion bash)`, "\n")
	cmd.SetIn(f.IOStreams.In)
	cmd.SetOut(f.IOStreams.Out)
	cmd.SetErr(f.IOStreams.ErrOut)
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return cmdutil.FlagErrorWrap(err) })

	format := output.Table
	pf := cmd.PersistentFlags()
	pf.String("config", "", "config file (default $XDG_CONFIG_HOME/parkctl/config.yaml; env PARKCTL_CONFIG)")
	pf.String("database-url", "", "Postgres URL (env PARKCTL_DATABASE_URL)")
	pf.String("master-key", "", "master key that seals webhook secrets, v<N>:<base64> (env PARKCTL_MASTER_KEY; prefer the variable: command lines are visible to other users)")
	pf.VarP(&format, "output", "o", "output format: table, json or yaml (env PARKCTL_OUTPUT); table has no header when stdout is not a terminal")
	pf.Bool("yes", false, "confirm destructive actions without asking (required when stdin is not a terminal)")
	pf.Bool("verbose", false, "log diagnostics to stderr (env PARKCTL_VERBOSE)")

	v := viper.New()
	var (
		once   sync.Once
		cfg    *cmdutil.Config
		cfgErr error
	)
	f.Config = func() (*cmdutil.Config, error) {
		once.Do(func() {
			cfg, cfgErr = loadConfig(v, pf, f.LookupEnv)
			if cfgErr == nil && cfg.Verbose && f.LogLevel != nil {
				f.LogLevel.Set(slog.LevelDebug)
			}
		})
		return cfg, cfgErr
	}
	cmd.PersistentPreRunE = func(c *cobra.Command, _ []string) error {
		if c.Name() == cobra.ShellCompRequestCmd {
			// Completion loads the configuration itself, when a value
			// needs the database, and fails quietly.
			return nil
		}
		// Cobra checks required flags and flag groups after this hook and
		// returns plain errors; check them here so they exit 2.
		if err := c.ValidateRequiredFlags(); err != nil {
			return cmdutil.FlagErrorWrap(err)
		}
		if err := c.ValidateFlagGroups(); err != nil {
			return cmdutil.FlagErrorWrap(err)
		}
		_, err := f.Config()
		return err
	}

	cmd.AddCommand(
		inGroup(groupDatabase, db.NewCmdDB(f)),
		inGroup(groupDatabase, migrate.NewCmdMigrate(f)),
		inGroup(groupTenancy, tenant.NewCmdTenant(f)),
		inGroup(groupTenancy, webhooksecret.NewCmdWebhookSecret(f)),
		inGroup(groupTenancy, site.NewCmdSite(f)),
		inGroup(groupTenancy, space.NewCmdSpace(f)),
		inGroup(groupTenancy, user.NewCmdUser(f)),
		inGroup(groupOperations, orphans.NewCmdOrphans(f)),
		inGroup(groupOperations, reservations.NewCmdReservations(f)),
		inGroup(groupTenancy, apikey.NewCmdAPIKey(f)),
		inGroup(groupOperations, audit.NewCmdAudit(f, nil)),
		inGroup(groupOperations, smoke.NewCmdSmoke(f, nil)),
		inGroup(groupOperations, readings.NewCmdReadings(f)),
		inGroup(groupOperations, dashboard.NewCmdDashboard(f, nil)),
	)
	addGroups(cmd)
	addCompletionCmd(cmd)
	addHelpCmd(cmd)
	cmdutil.RegisterCompletions(cmd, f)
	strictArgs(cmd)
	return cmd
}

func inGroup(id string, c *cobra.Command) *cobra.Command {
	c.GroupID = id
	return c
}

// addGroups declares the help groups that have commands, in a fixed order,
// so `parkctl --help` shows no empty heading.
func addGroups(root *cobra.Command) {
	for _, g := range []cobra.Group{
		{ID: groupDatabase, Title: "Database:"},
		{ID: groupTenancy, Title: "Tenants and access:"},
		{ID: groupOperations, Title: "Operations:"},
	} {
		if slices.ContainsFunc(root.Commands(), func(c *cobra.Command) bool { return c.GroupID == g.ID }) {
			root.AddGroup(&g)
		}
	}
}

// strictArgs makes every argument error a usage error (exit 2): a command
// with sub-commands and no run function of its own rejects unknown verbs
// (cobra would print help and exit 0, except at the root), a leaf without an
// Args rule takes no arguments, and whatever an Args rule returns becomes a
// *cmdutil.FlagError.
func strictArgs(c *cobra.Command) {
	for _, sub := range c.Commands() {
		strictArgs(sub)
	}
	if c.HasSubCommands() && !c.Runnable() {
		c.Args = unknownCommand
		c.RunE = func(c *cobra.Command, _ []string) error { return c.Help() }
	}
	if c.Args == nil {
		c.Args = cobra.NoArgs
	}
	validate := c.Args
	c.Args = func(c *cobra.Command, args []string) error {
		return cmdutil.FlagErrorWrap(validate(c, args))
	}
}

func unknownCommand(c *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], c.CommandPath())
	if s := c.SuggestionsFor(args[0]); len(s) > 0 {
		msg += "\n\nDid you mean this?\n\t" + strings.Join(s, "\n\t")
	}
	return errors.New(msg)
}

// version reports the module version and, when the binary was built with
// VCS stamping, the commit.
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := bi.Main.Version
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			v += " (" + s.Value[:12] + ")"
		}
	}
	return v
}

// addCompletionCmd adds cobra's `completion bash|zsh|fish|powershell` to
// root now rather than at execution, so that it gets examples, takes part
// in strictArgs and is seen by the command-tree tests.
func addCompletionCmd(root *cobra.Command) {
	root.InitDefaultCompletionCmd()
	c, _, err := root.Find([]string{"completion"})
	if err != nil || c == root {
		return
	}
	c.Short = "Print a shell completion script (values too, from the database)"
	c.Long = strings.TrimSpace(`
Print the script that makes a shell complete parkctl's commands and flags,
and values from the database: tenant slugs (--tenant, tenant get|update|
suspend|resume), site names (--site, site get|update|delete) and space
codes (space get|update|delete, of --site when it is given). Completing from
the database uses the configured database URL (--database-url,
PARKCTL_DATABASE_URL or the config file); without one, or when the database
does not answer within 2 seconds, values are simply not completed.

See each shell's sub-command for how to load the script.`)
	c.Example = strings.TrimPrefix(`
  source <(parkctl completion bash)
  parkctl completion zsh > "${fpath[1]}/_parkctl"
  parkctl completion fish | source`, "\n")
	examples := map[string]string{
		"bash": `  source <(parkctl completion bash)
  parkctl completion bash > /etc/bash_completion.d/parkctl`,
		"zsh": `  source <(parkctl completion zsh)
  parkctl completion zsh > "${fpath[1]}/_parkctl"`,
		"fish": `  parkctl completion fish | source
  parkctl completion fish > ~/.config/fish/completions/parkctl.fish`,
		"powershell": `  parkctl completion powershell | Out-String | Invoke-Expression`,
	}
	for _, sub := range c.Commands() {
		sub.Example = examples[sub.Name()]
	}
}

// addHelpCmd adds cobra's `help [command]` to root now, with an example,
// and makes an unknown topic a usage error (exit 2); cobra prints help for
// the root and exits 0.
func addHelpCmd(root *cobra.Command) {
	root.InitDefaultHelpCmd()
	c, _, err := root.Find([]string{"help"})
	if err != nil || c == root {
		return
	}
	c.Example = strings.TrimPrefix(`
  parkctl help site
  parkctl help space import`, "\n")
	c.Args = cobra.ArbitraryArgs
	c.Run = nil
	c.RunE = func(c *cobra.Command, args []string) error {
		target, rest, err := c.Root().Find(args)
		if err != nil || len(rest) > 0 {
			return cmdutil.FlagErrorf("unknown help topic %q", strings.Join(args, " "))
		}
		target.InitDefaultHelpFlag()
		target.InitDefaultVersionFlag()
		return target.Help()
	}
}
