package reservations

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/parkhq/park/internal/parkctl/cmdutil"
	"github.com/parkhq/park/internal/parkctl/iostreams"
	"github.com/parkhq/park/internal/parkctl/output"
	"github.com/parkhq/park/reservation"
)

// Pruner is what prune-keys needs of a *reservation.Store.
type Pruner interface {
	PruneExpiredKeys(ctx context.Context, batch int) (int64, error)
}

// PruneKeysOptions are the dependencies and flags of
// `reservations prune-keys`.
type PruneKeysOptions struct {
	IO      *iostreams.IOStreams
	Printer func() (*output.Printer, error)
	Store   func(ctx context.Context) (Pruner, error)

	// Batch is how many keys each transaction deletes.
	Batch int
}

// pruneResult is what prune-keys prints.
type pruneResult struct {
	Deleted int64 `json:"deleted"`
}

// NewCmdPruneKeys returns `reservations prune-keys`. runF replaces the run
// function in tests.
func NewCmdPruneKeys(f *cmdutil.Factory, runF func(*PruneKeysOptions) error) *cobra.Command {
	open := storeFunc(f)
	opts := &PruneKeysOptions{IO: f.IOStreams, Printer: f.Printer, Store: func(ctx context.Context) (Pruner, error) {
		return open(ctx)
	}}
	cmd := &cobra.Command{
		Use:   "prune-keys [--batch N]",
		Short: "Delete expired idempotency keys of every tenant",
		Long: `Delete the idempotency keys of every tenant whose time is up (24 hours after
first use), a batch per transaction, and print how many went.

An expired key is ignored whether or not it was deleted, so this is
housekeeping: run it from cron, hourly or daily. parkd cannot do it, as its
login sees one tenant at a time. Keys in use by a request in flight are left
for the next run.`,
		Example: "  parkctl reservations prune-keys\n  parkctl reservations prune-keys --batch 5000",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if opts.Batch < 1 {
				return cmdutil.FlagErrorf("--batch must be at least 1")
			}
			if runF != nil {
				return runF(opts)
			}
			return pruneKeysRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().IntVar(&opts.Batch, "batch", reservation.DefaultPruneBatch, "keys deleted per transaction")
	return cmd
}

func pruneKeysRun(ctx context.Context, opts *PruneKeysOptions) error {
	p, err := opts.Printer()
	if err != nil {
		return err
	}
	store, err := opts.Store(ctx)
	if err != nil {
		return err
	}
	n, err := store.PruneExpiredKeys(ctx, opts.Batch)
	if err != nil {
		return fmt.Errorf("%w (after deleting %d)", err, n)
	}
	return output.Object(p, pruneResult{Deleted: n},
		output.Column[pruneResult]{Header: "DELETED", Value: func(r pruneResult) string { return fmt.Sprint(r.Deleted) }})
}
