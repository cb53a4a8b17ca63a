package tenant

import (
	"context"
	"strings"

	"github.com/spf13/cobra"

	"github.com/parkhq/park/internal/parkctl/cmdutil"
	"github.com/parkhq/park/internal/parkctl/iostreams"
	"github.com/parkhq/park/internal/parkctl/output"
	"github.com/parkhq/park/tenancy"
)

// ListOptions are the dependencies and flags of `tenant list`.
type ListOptions struct {
	IO      *iostreams.IOStreams
	Printer func() (*output.Printer, error)
	Store   StoreFunc

	// Status keeps the tenants with this status only; "" lists all.
	Status string
}

// NewCmdList returns `tenant list`. runF replaces the run function in tests
// of flag parsing.
func NewCmdList(f *cmdutil.Factory, runF func(*ListOptions) error) *cobra.Command {
	opts := &ListOptions{IO: f.IOStreams, Printer: f.Printer, Store: storeFunc(f)}
	cmd := &cobra.Command{
		Use:   "list [--status active|suspended]",
		Short: "List every tenant",
		Long: strings.TrimSpace(`
List every tenant of the platform, oldest first: SLUG, NAME, STATUS and
CREATED (RFC 3339, UTC). With -o json, an array of tenant objects with their
settings.

The list is read as park_ops, which sees every tenant; a login whose park_ops
does not bypass row-level security gets an error, never a partial list.`),
		Example: strings.TrimPrefix(`
  parkctl tenant list
  parkctl tenant list --status suspended
  parkctl tenant list -o json | jq -r '.[].slug'`, "\n"),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch opts.Status {
			case "", tenancy.StatusActive, tenancy.StatusSuspended:
			default:
				return cmdutil.FlagErrorf("--status must be %s or %s, not %q", tenancy.StatusActive, tenancy.StatusSuspended, opts.Status)
			}
			if runF != nil {
				return runF(opts)
			}
			return listRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Status, "status", "", "list only tenants with this status: active or suspended")
	return cmd
}

func listRun(ctx context.Context, opts *ListOptions) error {
	p, err := opts.Printer()
	if err != nil {
		return err
	}
	store, err := opts.Store(ctx)
	if err != nil {
		return err
	}
	list, err := store.TenantListAll(ctx, tenancy.TenantListAllParams{Status: opts.Status})
	if err != nil {
		return err
	}
	return output.List(p, list,
		output.Column[tenancy.Tenant]{Header: "SLUG", Value: func(t tenancy.Tenant) string { return t.Slug }},
		output.Column[tenancy.Tenant]{Header: "NAME", Value: func(t tenancy.Tenant) string { return t.Name }},
		output.Column[tenancy.Tenant]{Header: "STATUS", Value: func(t tenancy.Tenant) string { return t.Status }},
		output.Column[tenancy.Tenant]{Header: "CREATED", Value: func(t tenancy.Tenant) string { return formatTime(t.CreatedAt) }},
	)
}
