package orphans

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/parkhq/park/internal/parkctl/cmdutil"
	"github.com/parkhq/park/internal/parkctl/iostreams"
	"github.com/parkhq/park/internal/parkctl/output"
)

// PurgeOptions are the dependencies and flags of `orphans purge`.
type PurgeOptions struct {
	IO      *iostreams.IOStreams
	Printer func() (*output.Printer, error)
	Config  func() (*cmdutil.Config, error)
	Now     func() time.Time
	Actor   func() string
	deps

	Tenant string
	// OlderThan purges the orphans not heard from for this long; 0 purges
	// every orphan.
	OlderThan time.Duration
}

// purgeResult is what purge prints.
type purgeResult struct {
	Deleted int64 `json:"deleted"`
}

// NewCmdPurge returns `orphans purge`. runF replaces the run function in
// tests of flag parsing.
func NewCmdPurge(f *cmdutil.Factory, runF func(*PurgeOptions) error) *cobra.Command {
	opts := &PurgeOptions{IO: f.IOStreams, Printer: f.Printer, Config: f.Config, Now: f.Now, Actor: f.Actor,
		deps: deps{Store: storeFunc(f), Tenants: tenantsFunc(f)}}
	cmd := &cobra.Command{
		Use:   "purge --tenant SLUG|ID [--older-than DURATION] --yes",
		Short: "Forget a tenant's orphan devices",
		Long: strings.TrimSpace(`
Delete a tenant's orphan devices, whatever their status, that have not been
heard from for --older-than (such as 720h), or all of them without it, and
print how many went. A purged device that sends again comes back as a new
orphan, so purging makes room under the tenant's cap of 10000 orphans without
losing anything that still transmits.

parkctl asks for confirmation; when standard input is not a terminal, pass
--yes.`),
		Example: strings.TrimPrefix(`
  parkctl orphans purge --tenant acme --older-than 720h
  parkctl orphans purge --tenant acme --older-than 168h --yes -o json`, "\n"),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if opts.OlderThan < 0 {
				return cmdutil.FlagErrorf("--older-than must not be negative")
			}
			if runF != nil {
				return runF(opts)
			}
			return purgeRun(cmd.Context(), opts)
		},
	}
	cmdutil.AddTenantFlag(cmd, &opts.Tenant, true)
	cmd.Flags().DurationVar(&opts.OlderThan, "older-than", 0, "purge only orphans not heard from for this long (default: all)")
	return cmd
}

func purgeRun(ctx context.Context, opts *PurgeOptions) error {
	cfg, err := opts.Config()
	if err != nil {
		return err
	}
	p, err := opts.Printer()
	if err != nil {
		return err
	}
	store, t, err := opts.open(ctx, opts.Tenant)
	if err != nil {
		return err
	}
	var before time.Time
	prompt := fmt.Sprintf("Delete every orphan device of tenant %s?", t.Slug)
	if opts.OlderThan > 0 {
		now := time.Now
		if opts.Now != nil {
			now = opts.Now
		}
		before = now().Add(-opts.OlderThan)
		prompt = fmt.Sprintf("Delete the orphan devices of tenant %s not heard from since %s?", t.Slug, formatTime(before))
	}
	if err := cmdutil.Confirm(opts.IO, cfg.Yes, prompt); err != nil {
		return err
	}
	n, err := store.OrphanPurge(ctx, t.ID, before, opts.Actor())
	if err != nil {
		return err
	}
	fmt.Fprintf(opts.IO.ErrOut, "purged %d orphan(s) of tenant %s\n", n, t.Slug)
	return output.Object(p, purgeResult{Deleted: n},
		output.Column[purgeResult]{Header: "deleted", Value: func(r purgeResult) string { return fmt.Sprint(r.Deleted) }})
}
