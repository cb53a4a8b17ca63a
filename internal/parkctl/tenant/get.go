package tenant

import (
	"context"
	"strings"

	"github.com/spf13/cobra"

	"github.com/parkhq/park/internal/parkctl/cmdutil"
	"github.com/parkhq/park/internal/parkctl/iostreams"
	"github.com/parkhq/park/internal/parkctl/output"
)

// GetOptions are the dependencies and arguments of `tenant get`.
type GetOptions struct {
	IO      *iostreams.IOStreams
	Printer func() (*output.Printer, error)
	Store   StoreFunc

	Slug string
}

// NewCmdGet returns `tenant get`. runF replaces the run function in tests of
// flag parsing.
func NewCmdGet(f *cmdutil.Factory, runF func(*GetOptions) error) *cobra.Command {
	opts := &GetOptions{IO: f.IOStreams, Printer: f.Printer, Store: storeFunc(f)}
	cmd := &cobra.Command{
		Use:   "get SLUG",
		Short: "Show one tenant",
		Long: strings.TrimSpace(`
Show one tenant: id, slug, name, status, its effective rate limits (marked
"(default)" where the tenant has no override) and timestamps. With -o json,
the tenant object: "settings" holds what is stored, so "settings.limits" lists
the overrides only. An unknown slug exits 3.`),
		Example: strings.TrimPrefix(`
  parkctl tenant get acme
  parkctl tenant get acme -o json | jq .settings.limits`, "\n"),
		Args: slugArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Slug = args[0]
			if runF != nil {
				return runF(opts)
			}
			return getRun(cmd.Context(), opts)
		},
	}
	cmdutil.CompleteTenantArg(cmd)
	return cmd
}

func getRun(ctx context.Context, opts *GetOptions) error {
	p, err := opts.Printer()
	if err != nil {
		return err
	}
	store, err := opts.Store(ctx)
	if err != nil {
		return err
	}
	t, err := cmdutil.ResolveTenant(ctx, store, opts.Slug)
	if err != nil {
		return err
	}
	return printTenant(p, *t)
}
