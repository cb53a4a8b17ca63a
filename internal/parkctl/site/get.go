package site

import (
	"context"
	"strings"

	"github.com/spf13/cobra"

	"github.com/parkhq/park/internal/parkctl/cmdutil"
)

// GetOptions are the dependencies, argument and flags of `site get`.
type GetOptions struct {
	Deps

	Tenant string
	// Site is the site's id or name.
	Site string
}

// NewCmdGet returns `site get`. runF replaces the run function in tests of
// flag parsing.
func NewCmdGet(f *cmdutil.Factory, runF func(*GetOptions) error) *cobra.Command {
	opts := &GetOptions{Deps: newDeps(f)}
	cmd := &cobra.Command{
		Use:   "get --tenant SLUG|ID SITE",
		Short: "Show one site",
		Long: strings.TrimSpace(`
Print one site of a tenant, named by its id or its name. An unknown tenant or
site exits 3.`),
		Example: strings.TrimPrefix(`
  parkctl site get --tenant acme "North garage"
  parkctl site get --tenant acme 0195f1a2-7c4e-7d21-9a0b-3c5d6e7f8091 -o json`, "\n"),
		Args: siteArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Site = args[0]
			if runF != nil {
				return runF(opts)
			}
			return getRun(cmd.Context(), opts)
		},
	}
	cmdutil.AddTenantFlag(cmd, &opts.Tenant, true)
	cmdutil.CompleteSiteArg(cmd)
	return cmd
}

func getRun(ctx context.Context, opts *GetOptions) error {
	if _, err := opts.Printer(); err != nil {
		return err
	}
	store, t, err := opts.Open(ctx, opts.Tenant)
	if err != nil {
		return err
	}
	s, err := Find(ctx, store, t.ID, opts.Site)
	if err != nil {
		return err
	}
	return outputObject(opts.Deps, s)
}
