package space

import (
	"context"
	"strings"

	"github.com/spf13/cobra"

	"github.com/parkhq/park/internal/parkctl/cmdutil"
)

// GetOptions are the dependencies, argument and flags of `space get`.
type GetOptions struct {
	Deps

	Tenant string
	// Site is the site of a space code (id or name), or "".
	Site string
	// Space is the space's id or code.
	Space string
}

// NewCmdGet returns `space get`. runF replaces the run function in tests of
// flag parsing.
func NewCmdGet(f *cmdutil.Factory, runF func(*GetOptions) error) *cobra.Command {
	opts := &GetOptions{Deps: newDeps(f)}
	cmd := &cobra.Command{
		Use:   "get --tenant SLUG|ID (SPACE_ID | --site SITE CODE)",
		Short: "Show one space",
		Long: strings.TrimSpace(`
Print one live space of a tenant, named by its id, or by its code and --site
(the site's id or name). A code alone is accepted when a single live space of
the tenant has it; a code several spaces share exits 2 with the matches. An
unknown tenant, site or space exits 3.`),
		Example: strings.TrimPrefix(`
  parkctl space get --tenant acme --site North A-017
  parkctl space get --tenant acme 0195f1a2-7c4e-7d21-9a0b-3c5d6e7f8091 -o json`, "\n"),
		Args: spaceArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Space = args[0]
			if runF != nil {
				return runF(opts)
			}
			return getRun(cmd.Context(), opts)
		},
	}
	cmdutil.AddTenantFlag(cmd, &opts.Tenant, true)
	cmdutil.AddSiteFlag(cmd, &opts.Site, "the site of the space code: its id or name")
	cmdutil.CompleteSpaceArg(cmd)
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
	sp, err := Find(ctx, store, t.ID, opts.Site, opts.Space)
	if err != nil {
		return err
	}
	return printSpace(opts.Deps, sp)
}
