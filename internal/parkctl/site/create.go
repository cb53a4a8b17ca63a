package site

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/parkhq/park/internal/parkctl/cmdutil"
	"github.com/parkhq/park/tenancy"
)

// CreateOptions are the dependencies and flags of `site create`.
type CreateOptions struct {
	Deps

	Tenant   string
	Name     string
	Timezone string
}

// NewCmdCreate returns `site create`. runF replaces the run function in
// tests of flag parsing.
func NewCmdCreate(f *cmdutil.Factory, runF func(*CreateOptions) error) *cobra.Command {
	opts := &CreateOptions{Deps: newDeps(f)}
	cmd := &cobra.Command{
		Use:   "create --tenant SLUG|ID --name NAME --timezone TZ",
		Short: "Add a site to a tenant",
		Long: strings.TrimSpace(`
Add a site to a tenant and print it. The name must be unique in the tenant
(another site of that name: exit 1); the time zone is an IANA name such as
Europe/Berlin (an unknown one: exit 2). With -o json the site is printed as
an object with its id.`),
		Example: strings.TrimPrefix(`
  parkctl site create --tenant acme --name "North garage" --timezone Europe/Berlin
  parkctl site create --tenant acme --name South --timezone UTC -o json | jq -r .id`, "\n"),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if strings.TrimSpace(opts.Name) == "" {
				return cmdutil.FlagErrorf("--name must not be empty")
			}
			if err := tenancy.ValidateTimezone(opts.Timezone); err != nil {
				return cmdutil.FlagErrorf("--timezone %q: %v", opts.Timezone, err)
			}
			if runF != nil {
				return runF(opts)
			}
			return createRun(cmd.Context(), opts)
		},
	}
	cmdutil.AddTenantFlag(cmd, &opts.Tenant, true)
	cmd.Flags().StringVar(&opts.Name, "name", "", "the site's name, unique in the tenant (required)")
	cmd.Flags().StringVar(&opts.Timezone, "timezone", "", "the site's IANA time zone, such as Europe/Berlin (required)")
	_ = cmd.MarkFlagRequired("name")
	_ = cmd.MarkFlagRequired("timezone")
	return cmd
}

func createRun(ctx context.Context, opts *CreateOptions) error {
	_, err := opts.Printer()
	if err != nil {
		return err
	}
	store, t, err := opts.Open(ctx, opts.Tenant)
	if err != nil {
		return err
	}
	s, err := store.SiteCreate(ctx, &tenancy.SiteCreateParams{TenantID: t.ID, Actor: opts.Actor(), Name: opts.Name, Timezone: opts.Timezone})
	if err != nil {
		return err
	}
	fmt.Fprintf(opts.IO.ErrOut, "created site %q (%s) of tenant %s\n", s.Name, s.ID, t.Slug)
	return outputObject(opts.Deps, s)
}
