package space

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/parkhq/park/internal/parkctl/cmdutil"
	"github.com/parkhq/park/tenancy"
)

// DeleteOptions are the dependencies, argument and flags of `space delete`.
type DeleteOptions struct {
	Deps
	Config func() (*cmdutil.Config, error)

	Tenant string
	// Site is the site of a space code (id or name), or "".
	Site string
	// Space is the space's id or code.
	Space string
}

// NewCmdDelete returns `space delete`. runF replaces the run function in
// tests of flag parsing.
func NewCmdDelete(f *cmdutil.Factory, runF func(*DeleteOptions) error) *cobra.Command {
	opts := &DeleteOptions{Deps: newDeps(f), Config: f.Config}
	cmd := &cobra.Command{
		Use:   "delete --tenant SLUG|ID (SPACE_ID | --site SITE CODE) --yes",
		Short: "Delete a space",
		Long: strings.TrimSpace(`
Delete a live space, named as for "space get". It disappears from the API and
its code and sensor can be used again; its readings and reservations stay as
history. A space with a confirmed reservation that has not ended is refused
(exit 1): cancel the reservation first.

parkctl asks for confirmation; when standard input is not a terminal, pass
--yes.`),
		Example: strings.TrimPrefix(`
  parkctl space delete --tenant acme --site North A-017
  parkctl space delete --tenant acme 0195f1a2-7c4e-7d21-9a0b-3c5d6e7f8091 --yes`, "\n"),
		Args: spaceArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Space = args[0]
			if runF != nil {
				return runF(opts)
			}
			return deleteRun(cmd.Context(), opts)
		},
	}
	cmdutil.AddTenantFlag(cmd, &opts.Tenant, true)
	cmdutil.AddSiteFlag(cmd, &opts.Site, "the site of the space code: its id or name")
	cmdutil.CompleteSpaceArg(cmd)
	return cmd
}

func deleteRun(ctx context.Context, opts *DeleteOptions) error {
	cfg, err := opts.Config()
	if err != nil {
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
	prompt := fmt.Sprintf("Delete space %s (%s) of site %q, tenant %s?", sp.Code, sp.ID, sp.SiteName, t.Slug)
	if err := cmdutil.Confirm(opts.IO, cfg.Yes, prompt); err != nil {
		return err
	}
	if err := store.SpaceDelete(ctx, &tenancy.SpaceDeleteParams{TenantID: t.ID, Actor: opts.Actor(), ID: sp.ID}); err != nil {
		return err
	}
	fmt.Fprintf(opts.IO.ErrOut, "deleted space %s (%s) of site %q, tenant %s\n", sp.Code, sp.ID, sp.SiteName, t.Slug)
	return nil
}
