package user

import (
	"context"
	"strings"

	"github.com/spf13/cobra"

	"github.com/parkhq/park/internal/parkctl/cmdutil"
	"github.com/parkhq/park/internal/parkctl/output"
	"github.com/parkhq/park/tenancy"
)

// ListOptions are the dependencies and flags of `user list`.
type ListOptions struct {
	Deps

	Tenant string
}

// NewCmdList returns `user list`. runF replaces the run function in tests
// of flag parsing.
func NewCmdList(f *cmdutil.Factory, runF func(*ListOptions) error) *cobra.Command {
	opts := &ListOptions{Deps: newDeps(f)}
	cmd := &cobra.Command{
		Use:   "list --tenant SLUG|ID",
		Short: "List a tenant's members and their roles",
		Long: strings.TrimSpace(`
List every member of a tenant in the order they joined: ID (the account's
id), EMAIL, NAME, ROLE and JOINED (RFC 3339, UTC). With -o json, an array of
objects with id, email, name, role and created_at (when they joined).`),
		Example: strings.TrimPrefix(`
  parkctl user list --tenant acme
  parkctl user list --tenant acme -o json | jq -r '.[] | select(.role == "owner") | .email'`, "\n"),
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
	members, err := tenancy.AllPages(func(after *tenancy.Cursor) (*tenancy.Page[tenancy.Member], error) {
		return store.MemberList(ctx, t.ID, tenancy.PageParams{Limit: tenancy.MaxPageLimit, After: after})
	})
	if err != nil {
		return err
	}
	return output.List(p, members, listColumns()...)
}
