// Package reservations holds `parkctl reservations audit|prune-keys`: the
// reservation integrity audit and the pruning of expired idempotency keys,
// both across every tenant as park_ops (the park_admin login), through the
// reservation package's store.
package reservations

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/parkhq/park/internal/parkctl/cmdutil"
	"github.com/parkhq/park/reservation"
)

// NewCmdReservations returns the `reservations` noun.
func NewCmdReservations(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "reservations <command>",
		Short: "Audit reservations and prune idempotency keys",
		Long: `Audit reservations and prune expired idempotency keys across every tenant.

--database-url (or PARKCTL_DATABASE_URL) must be a login that can act as
park_ops, such as park_admin: both verbs read or delete across tenants.`,
		Example: "  parkctl reservations audit\n  parkctl reservations prune-keys",
	}
	cmd.AddCommand(NewCmdAudit(f, nil), NewCmdPruneKeys(f, nil))
	return cmd
}

// storeFunc opens the reservation operator methods on the run's pool.
func storeFunc(f *cmdutil.Factory) func(ctx context.Context) (*reservation.Ops, error) {
	return func(ctx context.Context) (*reservation.Ops, error) {
		ops, err := f.Ops(ctx)
		if err != nil {
			return nil, err
		}
		return reservation.NewOps(ops, reservation.Options{Now: f.Now}), nil
	}
}
