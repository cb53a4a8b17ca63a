package readings

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/parkhq/park/internal/parkctl/cmdutil"
	"github.com/parkhq/park/internal/parkctl/output"
	"github.com/parkhq/park/internal/retention"
	"github.com/parkhq/park/tenancy"
)

// auditTimeout bounds the writing of the audit event after a prune that
// failed or was interrupted part-way: what went is still recorded.
const auditTimeout = 10 * time.Second

// PruneOptions are the dependencies and flags of `readings prune`.
type PruneOptions struct {
	Deps

	// Tenant, when set, limits the prune to that tenant (slug or id).
	Tenant string
	// DryRun counts instead of deleting.
	DryRun bool
}

// pruneResult is what prune prints: the rows per kind, deleted or (dry
// run) past retention.
type pruneResult struct {
	retention.Counts
	DryRun bool `json:"dry_run"`
}

// NewCmdPrune returns `readings prune`. runF replaces the run function in
// tests of flag parsing.
func NewCmdPrune(f *cmdutil.Factory, runF func(*PruneOptions) error) *cobra.Command {
	opts := &PruneOptions{Deps: newDeps(f)}
	cmd := &cobra.Command{
		Use:   "prune [--tenant SLUG|ID] [--dry-run]",
		Short: "Delete readings past their tenant's retention, old dedupe records and expired idempotency keys",
		Long: strings.TrimSpace(`
Delete what Park keeps only for a while and print how many rows of each kind
went:

  readings          sensor readings received longer ago than the tenant's
                    reading_retention_days (90 when the tenant sets none)
  uplink_dedupe     the records that recognise repeated uplinks, once last
                    seen more than 7 days ago
  idempotency_keys  Idempotency-Keys whose time is up (an expired key is
                    ignored whether or not it was deleted)

Without --tenant every tenant is pruned, in batches of 5000 rows, until
nothing past retention is left. parkd does the same every hour
(PARKD_MAINTENANCE_INTERVAL); the two take turns batch by batch, so running
this while parkd prunes is safe and deletes each row once. With --tenant
only that tenant's rows go. --dry-run counts what would go and deletes
nothing.

Only rows past retention are deleted, so nothing is asked. Every prune (not
a dry run) is recorded in the audit log with the counts and the actor
"operator:<login name of the person running parkctl>": in the tenant's log
with --tenant, else as a platform event.

-o json prints {"readings": N, "uplink_dedupe": N, "idempotency_keys": N,
"dry_run": false}.`),
		Example: strings.TrimPrefix(`
  parkctl readings prune --dry-run
  parkctl readings prune
  parkctl readings prune --tenant acme -o json`, "\n"),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(opts)
			}
			return pruneRun(cmd.Context(), opts)
		},
	}
	cmdutil.AddTenantFlag(cmd, &opts.Tenant, false)
	cmd.Flags().BoolVar(&opts.DryRun, "dry-run", false, "count what would be deleted, delete nothing")
	return cmd
}

func pruneRun(ctx context.Context, opts *PruneOptions) error {
	p, err := opts.Printer()
	if err != nil {
		return err
	}
	var (
		store Store
		t     *tenancy.Tenant
	)
	if opts.Tenant != "" {
		store, t, err = opts.Open(ctx, opts.Tenant)
	} else {
		store, err = opts.Store(ctx)
	}
	if err != nil {
		return err
	}

	var c retention.Counts
	switch {
	case opts.DryRun && t != nil:
		c, err = store.CountTenant(ctx, t.ID)
	case opts.DryRun:
		c, err = store.CountAll(ctx)
	case t != nil:
		c, err = store.PruneTenant(ctx, t.ID, opts.Actor())
	default:
		c, err = store.PruneAll(ctx)
		if err == nil || c.Total() > 0 {
			actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), auditTimeout)
			err = errors.Join(err, store.RecordPrune(actx, opts.Actor(), c))
			cancel()
		}
	}
	scope := "every tenant"
	if t != nil {
		scope = "tenant " + t.Slug
	}
	if err != nil {
		if c.Total() > 0 {
			return fmt.Errorf("%w (after deleting %s of %s)", err, describe(c), scope)
		}
		return err
	}
	verb := "pruned"
	if opts.DryRun {
		verb = "would prune"
	}
	fmt.Fprintf(opts.IO.ErrOut, "%s %s of %s\n", verb, describe(c), scope)
	return output.Object(p, pruneResult{Counts: c, DryRun: opts.DryRun}, columns()...)
}

// describe says the counts in words.
func describe(c retention.Counts) string {
	return fmt.Sprintf("%d reading(s), %d dedupe record(s) and %d idempotency key(s)",
		c.Readings, c.UplinkDedupe, c.IdempotencyKeys)
}

// columns are the rows of the result printed as a table.
func columns() []output.Column[pruneResult] {
	cols := make([]output.Column[pruneResult], 0, len(retention.Kinds))
	for _, k := range retention.Kinds {
		cols = append(cols, output.Column[pruneResult]{Header: string(k),
			Value: func(r pruneResult) string { return fmt.Sprint(r.Get(k)) }})
	}
	return cols
}
