// Package readings holds `parkctl readings prune`: deleting what Park keeps
// only for a while — sensor readings past their tenant's retention, uplink
// dedupe rows older than 7 days, expired idempotency keys — for one tenant
// or for every tenant, through internal/retention.
//
// Across tenants it runs the same maintenance functions as parkd's hourly
// run (SECURITY DEFINER, owned by park_maint, called as park_app) under the
// same transaction-level lock, so the two take turns batch by batch and
// never prune a row twice; its dry run counts as park_ops. For one tenant
// it runs as park_app with the tenant set, like the server's stores, so
// row-level security keeps it to that tenant: narrower than a DELETE grant
// to park_ops, which bypasses row-level security.
package readings

import (
	"context"
	"strings"

	"github.com/google/uuid"
	"github.com/spf13/cobra"

	"github.com/parkhq/park/internal/parkctl/cmdutil"
	"github.com/parkhq/park/internal/retention"
)

// Store is what prune needs of the retention package; tests of the run
// function supply a fake.
type Store interface {
	// PruneTenant deletes the tenant's rows past retention and records one
	// audit event in its log.
	PruneTenant(ctx context.Context, tenantID uuid.UUID, actor string) (retention.Counts, error)
	// CountTenant counts them.
	CountTenant(ctx context.Context, tenantID uuid.UUID) (retention.Counts, error)
	// PruneAll deletes every tenant's rows past retention, to completion.
	PruneAll(ctx context.Context) (retention.Counts, error)
	// CountAll counts them.
	CountAll(ctx context.Context) (retention.Counts, error)
	// RecordPrune writes the platform audit event of a PruneAll.
	RecordPrune(ctx context.Context, actor string, c retention.Counts) error
}

// NewCmdReadings returns the `readings` noun.
func NewCmdReadings(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "readings <command>",
		Short: "Prune sensor readings past their retention",
		Long: `Housekeeping of what Park keeps only for a while: sensor readings past their
tenant's retention, with the uplink dedupe records and idempotency keys that
have run out.

  prune   delete them (or, with --dry-run, count them), for one tenant or all

--database-url must be a login that can act as park_app and park_ops, such
as park_admin.`,
		Example: strings.TrimPrefix(`
  parkctl readings prune --dry-run
  parkctl readings prune --tenant acme`, "\n"),
	}
	cmd.AddCommand(NewCmdPrune(f, nil))
	return cmd
}

// Deps are what the verb opens: the store and the tenant look-up.
type Deps = cmdutil.TenantDeps[Store]

func newDeps(f *cmdutil.Factory) Deps {
	return Deps{
		IO: f.IOStreams, Printer: f.Printer, Actor: f.Actor,
		Store:   storeFunc(f),
		Tenants: func(ctx context.Context) (cmdutil.TenantLookup, error) { return f.Ops(ctx) },
	}
}

// storeFunc opens the retention methods on the run's pool: the Pruner on
// the tenant store (park_app), waiting for parkd's batches rather than
// giving up, with no bound on the batches; the operator methods on the
// operator store (park_ops).
func storeFunc(f *cmdutil.Factory) func(ctx context.Context) (Store, error) {
	return func(ctx context.Context) (Store, error) {
		db, err := f.Store(ctx)
		if err != nil {
			return nil, err
		}
		ops, err := f.Ops(ctx)
		if err != nil {
			return nil, err
		}
		return store{
			Pruner: retention.NewPruner(db, retention.Options{Wait: true, MaxBatches: -1}),
			ops:    retention.NewOps(ops),
		}, nil
	}
}

// store is the Store of a real run.
type store struct {
	*retention.Pruner
	ops *retention.Ops
}

// PruneAll runs the Pruner to completion and returns what it deleted.
func (s store) PruneAll(ctx context.Context) (retention.Counts, error) {
	res, err := s.Run(ctx)
	return res.Deleted, err
}

// CountAll counts every tenant's rows past retention, as park_ops.
func (s store) CountAll(ctx context.Context) (retention.Counts, error) { return s.ops.Count(ctx) }

// RecordPrune writes the platform audit event, as park_ops.
func (s store) RecordPrune(ctx context.Context, actor string, c retention.Counts) error {
	return s.ops.RecordPrune(ctx, actor, c)
}
