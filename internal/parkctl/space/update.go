package space

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"github.com/spf13/cobra"

	"github.com/parkhq/park/internal/parkctl/cmdutil"
	"github.com/parkhq/park/internal/parkctl/site"
	"github.com/parkhq/park/tenancy"
)

// UpdateOptions are the dependencies, argument and flags of `space update`.
type UpdateOptions struct {
	Deps

	Tenant string
	// Site is the site of a space code (id or name), or "".
	Site string
	// Space is the space's id or code.
	Space string
	// MoveTo is the site (id or name) to move the space to, or "".
	MoveTo string
	Code   tenancy.Optional[string]
	Name   tenancy.Optional[string]
	// SensorEUI set with a value gives the space that sensor; set null
	// removes its sensor.
	SensorEUI tenancy.Optional[string]
}

// NewCmdUpdate returns `space update`. runF replaces the run function in
// tests of flag parsing.
func NewCmdUpdate(f *cmdutil.Factory, runF func(*UpdateOptions) error) *cobra.Command {
	opts := &UpdateOptions{Deps: newDeps(f)}
	var code, name, eui string
	var noSensor bool
	cmd := &cobra.Command{
		Use:   "update --tenant SLUG|ID (SPACE_ID | --site SITE CODE) [--code C] [--name N] [--sensor-eui E | --no-sensor] [--move-to SITE]",
		Short: "Change a space's code, name, sensor or site",
		Long: strings.TrimSpace(`
Change a live space and print it. The space is named as for "space get": by
its id, or by its code and --site. --code gives it a new code, --name a new
display name ("" clears it), --sensor-eui a new sensor and --no-sensor
removes its sensor; --move-to moves it to another site of the tenant. The
rules of "space create" apply: a code taken in the site or a sensor on
another live space exits 1. Without a change, exits 2.`),
		Example: strings.TrimPrefix(`
  parkctl space update --tenant acme --site North A-017 --sensor-eui 70b3d57ed0001234
  parkctl space update --tenant acme --site North A-017 --code A-017b --name "Wide bay"
  parkctl space update --tenant acme 0195f1a2-7c4e-7d21-9a0b-3c5d6e7f8091 --no-sensor --move-to South`, "\n"),
		Args: spaceArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Space = args[0]
			flags := cmd.Flags()
			if flags.Changed("code") {
				c, err := tenancy.NormalizeSpaceCode(code)
				if err != nil {
					return cmdutil.FlagErrorf("--code %q: %v", code, err)
				}
				opts.Code = tenancy.Some(c)
			}
			if flags.Changed("name") {
				opts.Name = tenancy.Some(name)
			}
			switch {
			case flags.Changed("sensor-eui") && noSensor:
				return cmdutil.FlagErrorf("--sensor-eui and --no-sensor conflict")
			case flags.Changed("sensor-eui"):
				e, err := normalizeEUI("sensor-eui", eui)
				if err != nil {
					return err
				}
				opts.SensorEUI = tenancy.Some(e)
			case noSensor:
				opts.SensorEUI = tenancy.Null[string]()
			}
			if !opts.Code.Set && !opts.Name.Set && !opts.SensorEUI.Set && opts.MoveTo == "" {
				return cmdutil.FlagErrorf("nothing to update: give --code, --name, --sensor-eui, --no-sensor or --move-to")
			}
			if runF != nil {
				return runF(opts)
			}
			return updateRun(cmd.Context(), opts)
		},
	}
	cmdutil.AddTenantFlag(cmd, &opts.Tenant, true)
	cmdutil.AddSiteFlag(cmd, &opts.Site, "the site of the space code: its id or name")
	cmdutil.CompleteSpaceArg(cmd)
	cmd.Flags().StringVar(&code, "code", "", "the space's new code")
	cmd.Flags().StringVar(&name, "name", "", "the space's new display name (\"\" clears it)")
	cmd.Flags().StringVar(&eui, "sensor-eui", "", "the DevEUI of the space's new sensor")
	cmd.Flags().BoolVar(&noSensor, "no-sensor", false, "remove the space's sensor")
	cmd.Flags().StringVar(&opts.MoveTo, "move-to", "", "move the space to this site (its id or name)")
	cmdutil.CompleteSiteFlag(cmd, "move-to")
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
	old, err := Find(ctx, store, t.ID, opts.Site, opts.Space)
	if err != nil {
		return err
	}
	var siteID tenancy.Optional[uuid.UUID]
	if opts.MoveTo != "" {
		st, err := site.Find(ctx, store, t.ID, opts.MoveTo)
		if err != nil {
			return err
		}
		siteID = tenancy.Some(st.ID)
	}
	sp, err := store.SpaceUpdate(ctx, &tenancy.SpaceUpdateParams{TenantID: t.ID, Actor: opts.Actor(), ID: old.ID,
		SiteID: siteID, Code: opts.Code, Name: opts.Name, SensorEUI: opts.SensorEUI})
	if err != nil {
		return err
	}
	fmt.Fprintf(opts.IO.ErrOut, "updated space %s (%s) in site %q of tenant %s\n", sp.Code, sp.ID, sp.SiteName, t.Slug)
	return printSpace(opts.Deps, sp)
}
