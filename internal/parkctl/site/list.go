package site

import (
	"context"
	"strings"

	"github.com/spf13/cobra"

	"github.com/parkhq/park/internal/parkctl/cmdutil"
	"github.com/parkhq/park/internal/parkctl/output"
	"github.com/parkhq/park/tenancy"
)

// ListOptions are the dependencies and flags of `site list`.
type ListOptions struct {
	Deps

	Tenant string
}

// NewCmdList returns `site list`. runF replaces the run function in tests
// of flag parsing.
func NewCmdList(f *cmdutil.Factory, runF func(*ListOptions) error) *cobra.Command {
	opts := &ListOptions{Deps: newDeps(f)}
	cmd := &cobra.Command{
		Use:   "list --tenant SLUG|ID",
		Short: "List a tenant's sites",
		Long: strings.TrimSpace(`
List all of a tenant's sites, oldest first: ID, NAME, TIMEZONE and CREATED
(RFC 3339, UTC). With -o json, an array of site objects.`),
		Example: strings.TrimPrefix(`
  parkctl site list --tenant acme
  parkctl site list --tenant acme -o json | jq -r '.[].name'`, "\n"),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(opts)
			}
			return listRun(cmd.Context(), opts)
		},
	}
	cmdutil.AddTenantFlag(cmd, &opts.Tenant, true)
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
	sites, err := All(ctx, store, t.ID)
	if err != nil {
		return err
	}
	return output.List(p, sites, listColumns()...)
}

func outputObject(d Deps, s *tenancy.Site) error {
	p, err := d.Printer()
	if err != nil {
		return err
	}
	return output.Object(p, *s, fields()...)
}
