package tenant

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/parkhq/park/internal/parkctl/cmdutil"
	"github.com/parkhq/park/internal/parkctl/iostreams"
	"github.com/parkhq/park/internal/parkctl/output"
	"github.com/parkhq/park/tenancy"
)

// CreateOptions are the dependencies and flags of `tenant create`.
type CreateOptions struct {
	IO      *iostreams.IOStreams
	Printer func() (*output.Printer, error)
	Store   StoreFunc
	Actor   func() string

	Name string
	Slug string
}

// NewCmdCreate returns `tenant create`. runF replaces the run function in
// tests of flag parsing.
func NewCmdCreate(f *cmdutil.Factory, runF func(*CreateOptions) error) *cobra.Command {
	opts := &CreateOptions{IO: f.IOStreams, Printer: f.Printer, Store: storeFunc(f), Actor: actorFunc(f)}
	cmd := &cobra.Command{
		Use:   "create --name NAME --slug SLUG",
		Short: "Create a tenant",
		Long: strings.TrimSpace(`
Create an active tenant with the platform's default settings and rate limits,
and print it (-o json: the tenant object, with "id" and "settings").

The slug names the tenant in webhook URLs and to parkctl: 1 to 63 lowercase
letters, digits and inner hyphens, unique across the platform, and it cannot
be changed later. The name is what people see: 1 to 200 characters, and it
can be changed with "parkctl tenant update --name".`),
		Example: strings.TrimPrefix(`
  parkctl tenant create --name "Acme Parking" --slug acme
  parkctl tenant create --name "Acme Parking" --slug acme -o json | jq -r .id`, "\n"),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			name, err := tenancy.NormalizeName(opts.Name)
			if err != nil {
				return cmdutil.FlagErrorf("--name %v", err)
			}
			opts.Name = name
			if err := tenancy.ValidateSlug(opts.Slug); err != nil {
				return cmdutil.FlagErrorf("--slug %q: %v", opts.Slug, err)
			}
			if runF != nil {
				return runF(opts)
			}
			return createRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Name, "name", "", "display name of the tenant (required)")
	cmd.Flags().StringVar(&opts.Slug, "slug", "", "unique, permanent identifier: lowercase letters, digits and hyphens (required)")
	_ = cmd.MarkFlagRequired("name")
	_ = cmd.MarkFlagRequired("slug")
	return cmd
}

func createRun(ctx context.Context, opts *CreateOptions) error {
	p, err := opts.Printer()
	if err != nil {
		return err
	}
	store, err := opts.Store(ctx)
	if err != nil {
		return err
	}
	t, err := store.TenantCreate(ctx, &tenancy.TenantCreateParams{Name: opts.Name, Slug: opts.Slug, Actor: opts.Actor()})
	if err != nil {
		return err
	}
	fmt.Fprintf(opts.IO.ErrOut, "created tenant %s (%s)\n", t.Slug, t.ID)
	return printTenant(p, *t)
}
