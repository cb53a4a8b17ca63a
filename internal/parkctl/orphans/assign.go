package orphans

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/parkhq/park/ingest"
	"github.com/parkhq/park/internal/parkctl/cmdutil"
	"github.com/parkhq/park/internal/parkctl/iostreams"
	"github.com/parkhq/park/internal/parkctl/output"
	"github.com/parkhq/park/internal/parkctl/space"
)

// AssignOptions are the dependencies, argument and flags of
// `orphans assign`.
type AssignOptions struct {
	IO      *iostreams.IOStreams
	Printer func() (*output.Printer, error)
	Actor   func() string
	deps

	Tenant string
	DevEUI string
	// Space is a space id, or a space code (with Site, or alone when one
	// space of the tenant has it).
	Space string
	// Site is a site id or name; "" looks for the code in every site.
	Site string
}

// NewCmdAssign returns `orphans assign`. runF replaces the run function in
// tests of flag parsing.
func NewCmdAssign(f *cmdutil.Factory, runF func(*AssignOptions) error) *cobra.Command {
	opts := &AssignOptions{IO: f.IOStreams, Printer: f.Printer, Actor: f.Actor, deps: deps{Store: storeFunc(f), Tenants: tenantsFunc(f)}}
	cmd := &cobra.Command{
		Use:   "assign --tenant SLUG|ID DEV_EUI (--space ID | --site SITE --space CODE)",
		Short: "Make an orphan device a space's sensor",
		Long: strings.TrimSpace(`
Make an orphan device the sensor of a live space: the space takes the
device's last reading (and its state, unless the space holds a newer
reading), the orphan is marked assigned, and from now on its uplinks are the
space's readings. A space that has another sensor is refused: replacing a
sensor is a change to the space, made on purpose.

The space is named by its id, or by its code. Codes are unique within a site,
not within a tenant: give the site with --site (its id or name), or give the
code alone when a single space of the tenant has it; a code that several
spaces share is refused with the matches listed (exit 2). An unknown tenant,
device, site or space exits 3.`),
		Example: strings.TrimPrefix(`
  parkctl orphans assign --tenant acme 70b3d57ed0001234 --space 0195f1a2-7c4e-7d21-9a0b-3c5d6e7f8091
  parkctl orphans assign --tenant acme 70b3d57ed0001234 --site "North garage" --space A-017
  parkctl orphans assign --tenant acme 70b3d57ed0001234 --space A-017`, "\n"),
		Args: devEUIArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			eui, err := ingest.NormalizeDevEUI(args[0])
			if err != nil {
				return cmdutil.FlagErrorf("DEV_EUI %q: must be 16 hex digits", args[0])
			}
			opts.DevEUI = eui
			if strings.TrimSpace(opts.Space) == "" {
				return cmdutil.FlagErrorf("--space must not be empty")
			}
			if runF != nil {
				return runF(opts)
			}
			return assignRun(cmd.Context(), opts)
		},
	}
	cmdutil.AddTenantFlag(cmd, &opts.Tenant, true)
	cmd.Flags().StringVar(&opts.Space, "space", "", "the space: its id, or its code (required)")
	cmdutil.CompleteSpaceFlag(cmd, "space")
	cmdutil.AddSiteFlag(cmd, &opts.Site, "the site of the space code: its id or name")
	_ = cmd.MarkFlagRequired("space")
	return cmd
}

func assignRun(ctx context.Context, opts *AssignOptions) error {
	p, err := opts.Printer()
	if err != nil {
		return err
	}
	store, t, err := opts.open(ctx, opts.Tenant)
	if err != nil {
		return err
	}
	if err := requireOrphan(ctx, store, t.ID, opts.DevEUI); err != nil {
		return err
	}
	sp, err := space.Find(ctx, store, t.ID, opts.Site, opts.Space)
	if err != nil {
		return err
	}
	o, err := store.OrphanAssign(ctx, &ingest.OrphanAssignParams{TenantID: t.ID, DevEUI: opts.DevEUI, SpaceID: sp.ID, Actor: opts.Actor()})
	if err != nil {
		return err
	}
	fmt.Fprintf(opts.IO.ErrOut, "assigned orphan %s of tenant %s to space %s (%s)\n", o.DevEUI, t.Slug, sp.Code, sp.ID)
	return output.Object(p, *o, orphanFields()...)
}
