package space

import (
	"context"
	"strings"

	"github.com/google/uuid"
	"github.com/spf13/cobra"

	"github.com/parkhq/park/internal/parkctl/cmdutil"
	"github.com/parkhq/park/internal/parkctl/output"
	"github.com/parkhq/park/internal/parkctl/site"
)

// ListOptions are the dependencies and flags of `space list`.
type ListOptions struct {
	Deps

	Tenant string
	// Site keeps the spaces of one site (id or name); "" keeps all.
	Site string
}

// NewCmdList returns `space list`. runF replaces the run function in tests
// of flag parsing.
func NewCmdList(f *cmdutil.Factory, runF func(*ListOptions) error) *cobra.Command {
	opts := &ListOptions{Deps: newDeps(f)}
	cmd := &cobra.Command{
		Use:   "list --tenant SLUG|ID [--site SITE]",
		Short: "List a tenant's live spaces",
		Long: strings.TrimSpace(`
List a tenant's live spaces, oldest first, or those of one site with --site
(its id or name): ID, SITE, CODE, NAME, SENSOR and STATE ("-" for no name or
sensor). With -o json, an array of space objects.`),
		Example: strings.TrimPrefix(`
  parkctl space list --tenant acme
  parkctl space list --tenant acme --site North -o json | jq -r '.[].code'`, "\n"),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(opts)
			}
			return listRun(cmd.Context(), opts)
		},
	}
	cmdutil.AddTenantFlag(cmd, &opts.Tenant, true)
	cmdutil.AddSiteFlag(cmd, &opts.Site, "list the spaces of this site only (its id or name)")
	return cmd
}

func listRun(ctx context.Context, opts *ListOptions) error {
	p, err := opts.Printer()
	if err != nil {
		return err
	}
	store, t, err := opts.Open(ctx, opts.Tenant)
	if err != nil {
		return err
	}
	var siteID uuid.UUID
	if opts.Site != "" {
		st, err := site.Find(ctx, store, t.ID, opts.Site)
		if err != nil {
			return err
		}
		siteID = st.ID
	}
	spaces, err := all(ctx, store, t.ID, siteID)
	if err != nil {
		return err
	}
	return output.List(p, spaces, listColumns()...)
}
