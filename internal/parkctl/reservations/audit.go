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

// Auditor is what audit needs of a *reservation.Store.
type Auditor interface {
	Audit(ctx context.Context, p *reservation.AuditParams) (*reservation.AuditReport, error)
}

// AuditOptions are the dependencies and flags of `reservations audit`.
type AuditOptions struct {
	IO      *iostreams.IOStreams
	Printer func() (*output.Printer, error)
	Store   func(ctx context.Context) (Auditor, error)
	// Tenants resolves --tenant.
	Tenants func(ctx context.Context) (cmdutil.TenantLookup, error)

	// Tenant is the slug or id of the one tenant to audit; "" audits all.
	Tenant string
	// Limit caps the findings of each kind.
	Limit int
}

// NewCmdAudit returns `reservations audit`. runF replaces the run function
// in tests.
func NewCmdAudit(f *cmdutil.Factory, runF func(*AuditOptions) error) *cobra.Command {
	open := storeFunc(f)
	opts := &AuditOptions{IO: f.IOStreams, Printer: f.Printer, Store: func(ctx context.Context) (Auditor, error) {
		return open(ctx)
	}, Tenants: func(ctx context.Context) (cmdutil.TenantLookup, error) {
		return f.Ops(ctx)
	}}
	cmd := &cobra.Command{
		Use:   "audit [--tenant SLUG|ID]",
		Short: "Find double bookings and other reservation integrity breaks",
		Long: `Find reservations that break Park's invariants, in every tenant or one:

  conflict         two confirmed reservations of one space overlap (a row of
                   the reservation_conflicts view; only a missing EXCLUDE
                   constraint allows it)
  deleted_space    a confirmed reservation on a deleted space that had not
                   ended when the space was deleted, or was made after it
                   (reservations that were over before are history)
  tenant_mismatch  a reservation whose space is not a space of its tenant
                   (missing, or another tenant's)

Each finding is printed on standard output, one per line (-o json: an array of
objects with the reservation ids), and parkctl exits 4. With no findings it
exits 0 and prints nothing (-o json: []).

The audit runs as park_ops, which sees every tenant. A login that cannot act
as park_ops, or a park_ops that no longer bypasses row-level security, sees a
part of the data only: the audit then fails (exit 1) rather than report
"clean". "parkctl migrate verify" checks that the constraints themselves are
in place.`,
		Example: "  parkctl reservations audit\n  parkctl reservations audit --tenant acme -o json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if opts.Limit < 1 {
				return cmdutil.FlagErrorf("--limit must be at least 1")
			}
			if runF != nil {
				return runF(opts)
			}
			return auditRun(cmd.Context(), opts)
		},
	}
	cmdutil.AddTenantFlag(cmd, &opts.Tenant, false)
	cmd.Flags().IntVar(&opts.Limit, "limit", reservation.DefaultAuditLimit, "report at most this many findings of each kind")
	return cmd
}

func auditRun(ctx context.Context, opts *AuditOptions) error {
	p, err := opts.Printer()
	if err != nil {
		return err
	}
	var slug string
	if opts.Tenant != "" {
		tenants, err := opts.Tenants(ctx)
		if err != nil {
			return err
		}
		t, err := cmdutil.ResolveTenant(ctx, tenants, opts.Tenant)
		if err != nil {
			return err
		}
		slug = t.Slug
	}
	store, err := opts.Store(ctx)
	if err != nil {
		return err
	}
	rep, err := store.Audit(ctx, &reservation.AuditParams{TenantSlug: slug, Limit: opts.Limit})
	if err != nil {
		return err
	}
	if err := output.List(p, rep.Findings,
		output.Column[reservation.Finding]{Header: "KIND", Value: func(f reservation.Finding) string { return f.Kind }},
		output.Column[reservation.Finding]{Header: "TENANT", Value: func(f reservation.Finding) string { return tenantName(f) }},
		output.Column[reservation.Finding]{Header: "SPACE", Value: func(f reservation.Finding) string { return f.SpaceID.String() }},
		output.Column[reservation.Finding]{Header: "RESERVATION", Value: func(f reservation.Finding) string { return f.ReservationID.String() }},
		output.Column[reservation.Finding]{Header: "CONFLICTING", Value: func(f reservation.Finding) string {
			if f.ConflictingID == nil {
				return ""
			}
			return f.ConflictingID.String()
		}},
		output.Column[reservation.Finding]{Header: "DETAIL", Value: func(f reservation.Finding) string { return f.Detail }},
	); err != nil {
		return err
	}
	if rep.Truncated {
		fmt.Fprintf(opts.IO.ErrOut, "reservations audit: more findings than --limit %d of some kind; fix these and run it again\n", opts.Limit)
	}
	if n := len(rep.Findings); n > 0 {
		return cmdutil.Problems("reservations audit: %d problem(s) found", n)
	}
	scope := "every tenant"
	if opts.Tenant != "" {
		scope = "tenant " + opts.Tenant
	}
	fmt.Fprintf(opts.IO.ErrOut, "reservations audit: ok, no problems found in %s\n", scope)
	return nil
}

// tenantName is the tenant's slug, or its id when the tenant row is gone.
func tenantName(f reservation.Finding) string {
	if f.TenantSlug != "" {
		return f.TenantSlug
	}
	return f.TenantID.String()
}
