package space

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/parkhq/park/internal/parkctl/cmdutil"
	"github.com/parkhq/park/internal/parkctl/site"
	"github.com/parkhq/park/tenancy"
)

// CreateOptions are the dependencies and flags of `space create`.
type CreateOptions struct {
	Deps

	Tenant string
	// Site is the site's id or name.
	Site string
	Code string
	Name string
	// SensorEUI is the normalized DevEUI, or nil.
	SensorEUI *string
}

// NewCmdCreate returns `space create`. runF replaces the run function in
// tests of flag parsing.
func NewCmdCreate(f *cmdutil.Factory, runF func(*CreateOptions) error) *cobra.Command {
	opts := &CreateOptions{Deps: newDeps(f)}
	var eui string
	cmd := &cobra.Command{
		Use:   "create --tenant SLUG|ID --site SITE --code CODE [--sensor-eui EUI] [--name NAME]",
		Short: "Add a space to a site",
		Long: strings.TrimSpace(`
Add a space to a site (named by its id or name) and print it. The code must be
unique among the site's live spaces and the sensor among the tenant's (a
clash exits 1); the sensor is a DevEUI of 16 hex digits, with ':', '-' or ' '
separators allowed. A new space's state is unknown until its sensor reports.
An unknown tenant or site exits 3.`),
		Example: strings.TrimPrefix(`
  parkctl space create --tenant acme --site North --code A-017
  parkctl space create --tenant acme --site North --code A-018 --sensor-eui 70:b3:d5:7e:d0:00:12:34 --name "By the lift" -o json`, "\n"),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, err := tenancy.NormalizeSpaceCode(opts.Code); err != nil {
				return cmdutil.FlagErrorf("--code %q: %v", opts.Code, err)
			}
			if cmd.Flags().Changed("sensor-eui") {
				e, err := normalizeEUI("sensor-eui", eui)
				if err != nil {
					return err
				}
				opts.SensorEUI = &e
			}
			if runF != nil {
				return runF(opts)
			}
			return createRun(cmd.Context(), opts)
		},
	}
	cmdutil.AddTenantFlag(cmd, &opts.Tenant, true)
	cmdutil.AddSiteFlag(cmd, &opts.Site, "the site: its id or name (required)")
	cmd.Flags().StringVar(&opts.Code, "code", "", "the space's code, unique in the site (required)")
	cmd.Flags().StringVar(&opts.Name, "name", "", "a display name")
	cmd.Flags().StringVar(&eui, "sensor-eui", "", "the DevEUI of the space's sensor")
	_ = cmd.MarkFlagRequired("site")
	_ = cmd.MarkFlagRequired("code")
	return cmd
}

func createRun(ctx context.Context, opts *CreateOptions) error {
	if _, err := opts.Printer(); err != nil {
		return err
	}
	store, t, err := opts.Open(ctx, opts.Tenant)
	if err != nil {
		return err
	}
	st, err := site.Find(ctx, store, t.ID, opts.Site)
	if err != nil {
		return err
	}
	sp, err := store.SpaceCreate(ctx, &tenancy.SpaceCreateParams{TenantID: t.ID, Actor: opts.Actor(), SiteID: st.ID,
		Code: opts.Code, Name: opts.Name, SensorEUI: opts.SensorEUI})
	if err != nil {
		return err
	}
	fmt.Fprintf(opts.IO.ErrOut, "created space %s (%s) in site %q of tenant %s\n", sp.Code, sp.ID, st.Name, t.Slug)
	return printSpace(opts.Deps, sp)
}
