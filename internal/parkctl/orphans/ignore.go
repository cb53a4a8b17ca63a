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
)

// IgnoreOptions are the dependencies, argument and flags of
// `orphans ignore`.
type IgnoreOptions struct {
	IO      *iostreams.IOStreams
	Printer func() (*output.Printer, error)
	Actor   func() string
	deps

	Tenant string
	DevEUI string
}

// NewCmdIgnore returns `orphans ignore`. runF replaces the run function in
// tests of flag parsing.
func NewCmdIgnore(f *cmdutil.Factory, runF func(*IgnoreOptions) error) *cobra.Command {
	opts := &IgnoreOptions{IO: f.IOStreams, Printer: f.Printer, Actor: f.Actor, deps: deps{Store: storeFunc(f), Tenants: tenantsFunc(f)}}
	cmd := &cobra.Command{
		Use:   "ignore --tenant SLUG|ID DEV_EUI",
		Short: "Take an orphan device off the triage list",
		Long: strings.TrimSpace(`
Mark an orphan device ignored (a neighbour's sensor, a test device): it leaves
the list of new orphans but keeps counting uplinks ("orphans list --status
ignored" shows it), and can still be assigned later. The DevEUI is 16 hex
digits; upper case and ':', '-' or ' ' separators are accepted. The orphan is
printed as it now is. An unknown tenant or device exits 3.`),
		Example: strings.TrimPrefix(`
  parkctl orphans ignore --tenant acme 70b3d57ed0001234
  parkctl orphans ignore --tenant acme 70:B3:D5:7E:D0:00:12:34`, "\n"),
		Args: devEUIArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			eui, err := ingest.NormalizeDevEUI(args[0])
			if err != nil {
				return cmdutil.FlagErrorf("DEV_EUI %q: must be 16 hex digits", args[0])
			}
			opts.DevEUI = eui
			if runF != nil {
				return runF(opts)
			}
			return ignoreRun(cmd.Context(), opts)
		},
	}
	cmdutil.AddTenantFlag(cmd, &opts.Tenant, true)
	return cmd
}

func ignoreRun(ctx context.Context, opts *IgnoreOptions) error {
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
	o, err := store.OrphanIgnore(ctx, t.ID, opts.DevEUI, opts.Actor())
	if err != nil {
		return err
	}
	fmt.Fprintf(opts.IO.ErrOut, "ignored orphan %s of tenant %s\n", o.DevEUI, t.Slug)
	return output.Object(p, *o, orphanFields()...)
}

// devEUIArg is the Args rule of the verbs that name one device.
func devEUIArg(_ *cobra.Command, args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("expected one DevEUI, got %d arguments", len(args))
	}
	return nil
}
