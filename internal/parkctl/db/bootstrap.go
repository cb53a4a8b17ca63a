package db

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/parkhq/park/internal/bootstrap"
	"github.com/parkhq/park/internal/parkctl/cmdutil"
	"github.com/parkhq/park/internal/parkctl/iostreams"
	"github.com/parkhq/park/internal/parkctl/output"
)

// BootstrapOptions are the dependencies and flags of `db bootstrap`.
type BootstrapOptions struct {
	IO        *iostreams.IOStreams
	Config    func() (*cmdutil.Config, error)
	Printer   func() (*output.Printer, error)
	Bootstrap func(ctx context.Context, adminURL string, opts bootstrap.Options) (*bootstrap.Result, error)

	AdminURL     string
	CreateLogins bool
}

// logins is what --create-logins prints: the two URLs, nothing else.
type logins struct {
	ServerURL string `json:"server_url"`
	AdminURL  string `json:"admin_url"`
}

// NewCmdBootstrap returns `db bootstrap`. runF replaces the run function in
// tests of flag parsing.
func NewCmdBootstrap(f *cmdutil.Factory, runF func(*BootstrapOptions) error) *cobra.Command {
	opts := &BootstrapOptions{
		IO:        f.IOStreams,
		Config:    f.Config,
		Printer:   f.Printer,
		Bootstrap: bootstrap.Run,
	}
	cmd := &cobra.Command{
		Use:   "bootstrap --admin-url URL [--create-logins]",
		Short: "Create Park's roles and prepare a database (idempotent)",
		Long: strings.TrimSpace(`
Create the cluster-wide roles park_owner, park_app, park_auth and park_ops,
give the database to park_owner and create the btree_gist extension.

--admin-url (or PARKCTL_ADMIN_URL) must connect to the target database as a
superuser. Running it again changes nothing; two runs at once are safe.

With --create-logins it also creates the login roles park_server (member of
park_app only: the URL for parkd serve) and park_admin (member of park_owner and
park_ops: the URL for parkctl and migrations), gives both new random passwords
and prints their URLs on standard output. The passwords are shown only this
once; running it again replaces them.`),
		Example: strings.TrimPrefix(`
  parkctl db bootstrap --admin-url postgres://postgres@db.internal/park
  parkctl db bootstrap --admin-url "$SUPERUSER_URL" --create-logins -o json`, "\n"),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !cmd.Flags().Changed("admin-url") {
				cfg, err := opts.Config()
				if err != nil {
					return err
				}
				opts.AdminURL = cfg.AdminURL
			}
			if opts.AdminURL == "" {
				return cmdutil.FlagErrorf("--admin-url is required (or set PARKCTL_ADMIN_URL)")
			}
			if runF != nil {
				return runF(opts)
			}
			return bootstrapRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.AdminURL, "admin-url", "", "superuser URL of the database to prepare (env PARKCTL_ADMIN_URL)")
	cmd.Flags().BoolVar(&opts.CreateLogins, "create-logins", false, "also create the park_server and park_admin logins with new passwords and print their URLs")
	return cmd
}

func bootstrapRun(ctx context.Context, opts *BootstrapOptions) error {
	p, err := opts.Printer()
	if err != nil {
		return err
	}
	res, err := opts.Bootstrap(ctx, opts.AdminURL, bootstrap.Options{CreateLogins: opts.CreateLogins})
	if err != nil {
		return err
	}
	w := opts.IO.ErrOut
	fmt.Fprintf(w, "roles %s, %s, %s, %s, %s are in place\n",
		bootstrap.RoleOwner, bootstrap.RoleApp, bootstrap.RoleAuth, bootstrap.RoleOps, bootstrap.RoleMaint)
	fmt.Fprintf(w, "database %q is owned by %s and has the btree_gist extension\n", res.Database, bootstrap.RoleOwner)
	if !opts.CreateLogins {
		fmt.Fprintln(w, "next: parkctl migrate up")
		return nil
	}
	fmt.Fprintf(w, "logins %s and %s have new passwords; their URLs follow and are not shown again\n",
		bootstrap.RoleServer, bootstrap.RoleAdmin)
	return output.Object(p, logins{ServerURL: res.ServerURL, AdminURL: res.AdminURL},
		output.Column[logins]{Header: "server_url", Value: func(l logins) string { return l.ServerURL }},
		output.Column[logins]{Header: "admin_url", Value: func(l logins) string { return l.AdminURL }},
	)
}
