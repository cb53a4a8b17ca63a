package webhooksecret

import (
	"context"
	"strings"

	"github.com/spf13/cobra"

	"github.com/parkhq/park/internal/parkctl/cmdutil"
	"github.com/parkhq/park/internal/parkctl/iostreams"
	"github.com/parkhq/park/internal/parkctl/output"
)

// ListOptions are the dependencies and flags of `webhook-secret list`.
type ListOptions struct {
	IO      *iostreams.IOStreams
	Printer func() (*output.Printer, error)
	Store   func(ctx context.Context) (Store, error)
	Tenants func(ctx context.Context) (cmdutil.TenantLookup, error)

	Tenant string
}

// NewCmdList returns `webhook-secret list`. runF replaces the run function
// in tests of flag parsing.
func NewCmdList(f *cmdutil.Factory, runF func(*ListOptions) error) *cobra.Command {
	opts := &ListOptions{IO: f.IOStreams, Printer: f.Printer, Store: storeFunc(f), Tenants: tenantsFunc(f)}
	cmd := &cobra.Command{
		Use:   "list --tenant SLUG|ID",
		Short: "List a tenant's webhook secrets, never their values",
		Long: strings.TrimSpace(`
List a tenant's webhook secrets, newest first, revoked and expired ones
included: ID, MODE, CREATED, EXPIRES (the end of a rotation's grace, "-" for
none), REVOKED and LAST USED (updated at most once a minute), times in RFC
3339, UTC. Values are never shown. With -o json, an array of objects that
also carry key_version, the master key version each is sealed under.`),
		Example: strings.TrimPrefix(`
  parkctl webhook-secret list --tenant acme
  parkctl webhook-secret list --tenant acme -o json | jq -r '.[] | select(.revoked_at == null) | .id'`, "\n"),
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
	store, t, err := resolve(ctx, opts.Tenants, opts.Store, opts.Tenant)
	if err != nil {
		return err
	}
	list, err := store.SecretList(ctx, t.ID)
	if err != nil {
		return err
	}
	return output.List(p, list, secretColumns()...)
}
