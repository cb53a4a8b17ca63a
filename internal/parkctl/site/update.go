package site

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/parkhq/park/internal/parkctl/cmdutil"
	"github.com/parkhq/park/tenancy"
)

// UpdateOptions are the dependencies, argument and flags of `site update`.
type UpdateOptions struct {
	Deps

	Tenant string
	// Site is the site's id or name.
	Site string
	// Name and Timezone are the new values; unset keeps them.
	Name     tenancy.Optional[string]
	Timezone tenancy.Optional[string]
}

// NewCmdUpdate returns `site update`. runF replaces the run function in
// tests of flag parsing.
func NewCmdUpdate(f *cmdutil.Factory, runF func(*UpdateOptions) error) *cobra.Command {
	opts := &UpdateOptions{Deps: newDeps(f)}
	var name, tz string
	cmd := &cobra.Command{
		Use:   "update --tenant SLUG|ID SITE [--name NAME] [--timezone TZ]",
		Short: "Rename a site or change its time zone",
		Long: strings.TrimSpace(`
Change a site's name or time zone, and print the site. The site is named by
its id or its current name. A name another site has exits 1; an unknown time
zone, or neither flag, exits 2; an unknown tenant or site exits 3.`),
		Example: strings.TrimPrefix(`
  parkctl site update --tenant acme "North garage" --name "North"
  parkctl site update --tenant acme North --timezone Europe/Vienna`, "\n"),
		Args: siteArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Site = args[0]
			flags := cmd.Flags()
			if flags.Changed("name") {
				if strings.TrimSpace(name) == "" {
					return cmdutil.FlagErrorf("--name must not be empty")
				}
				opts.Name = tenancy.Optional[string]{Set: true, Value: name}
			}
			if flags.Changed("timezone") {
				if err := tenancy.ValidateTimezone(tz); err != nil {
					return cmdutil.FlagErrorf("--timezone %q: %v", tz, err)
				}
				opts.Timezone = tenancy.Optional[string]{Set: true, Value: tz}
			}
			if !opts.Name.Set && !opts.Timezone.Set {
				return cmdutil.FlagErrorf("nothing to update: give --name or --timezone")
			}
			if runF != nil {
				return runF(opts)
			}
			return updateRun(cmd.Context(), opts)
		},
	}
	cmdutil.AddTenantFlag(cmd, &opts.Tenant, true)
	cmdutil.CompleteSiteArg(cmd)
	cmd.Flags().StringVar(&name, "name", "", "the site's new name")
	cmd.Flags().StringVar(&tz, "timezone", "", "the site's new IANA time zone")
	return cmd
}

func updateRun(ctx context.Context, opts *UpdateOptions) error {
	if _, err := opts.Printer(); err != nil {
		return err
	}
	store, t, err := opts.Open(ctx, opts.Tenant)
	if err != nil {
		return err
	}
	old, err := Find(ctx, store, t.ID, opts.Site)
	if err != nil {
		return err
	}
	s, err := store.SiteUpdate(ctx, &tenancy.SiteUpdateParams{TenantID: t.ID, Actor: opts.Actor(), ID: old.ID, Name: opts.Name, Timezone: opts.Timezone})
	if err != nil {
		return err
	}
	fmt.Fprintf(opts.IO.ErrOut, "updated site %q (%s) of tenant %s\n", s.Name, s.ID, t.Slug)
	return outputObject(opts.Deps, s)
}
