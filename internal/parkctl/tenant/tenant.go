// Package tenant holds `parkctl tenant create|list|get|update|suspend|resume|delete`:
// the operator's tenant provisioning, through tenancy.Ops (the operator-only
// methods) and tenancy.Store. Creating a tenant and renaming it go through the same tenant
// transactions as the server (row-level security checks them); the status
// and the rate limits, which only operators may change, are written as
// park_ops, as are the cross-tenant reads.
package tenant

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/parkhq/park/internal/parkctl/cmdutil"
	"github.com/parkhq/park/internal/parkctl/output"
	"github.com/parkhq/park/tenancy"
)

// Store is what the verbs need of a *tenancy.Ops (the operator methods)
// and a *tenancy.Store (TenantUpdate, the change a tenant's own admins can
// make too); tests of the run functions supply a fake.
type Store interface {
	cmdutil.TenantLookup
	TenantCreate(ctx context.Context, p *tenancy.TenantCreateParams) (*tenancy.Tenant, error)
	TenantListAll(ctx context.Context, p tenancy.TenantListAllParams) ([]tenancy.Tenant, error)
	TenantSetStatus(ctx context.Context, p *tenancy.TenantSetStatusParams) (*tenancy.Tenant, error)
	TenantSetLimits(ctx context.Context, p *tenancy.TenantSetLimitsParams) (*tenancy.Tenant, error)
	TenantUpdate(ctx context.Context, p *tenancy.TenantUpdateParams) (*tenancy.Tenant, error)
	TenantDelete(ctx context.Context, p *tenancy.TenantDeleteParams) (*tenancy.TenantDeletion, error)
}

// StoreFunc opens the Store, connecting on first use.
type StoreFunc func(ctx context.Context) (Store, error)

// NewCmdTenant returns the `tenant` noun.
func NewCmdTenant(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "tenant <command>",
		Short: "Create, list, rename, limit, suspend, resume and delete tenants",
		Long: `Create, list, rename, rate-limit, suspend, resume and delete tenants (parking operators).

--database-url (or PARKCTL_DATABASE_URL) must be a login that can act as
park_ops and park_app, such as park_admin: lists and look-ups cross tenants,
and the status and rate limits are operator-only. A tenant is named by its
slug or its id. Every change is recorded in the tenant's audit log with the actor
"operator:<login name of the person running parkctl>"; a deletion, which takes
that log with it, as a platform event.`,
		Example: "  parkctl tenant create --name \"Acme Parking\" --slug acme\n  parkctl tenant list\n  parkctl tenant suspend acme --yes",
	}
	cmd.AddCommand(
		NewCmdCreate(f, nil),
		NewCmdList(f, nil),
		NewCmdGet(f, nil),
		NewCmdUpdate(f, nil),
		NewCmdSuspend(f, nil),
		NewCmdResume(f, nil),
		NewCmdDelete(f, nil),
	)
	return cmd
}

// opsStore is the Store of a real run: the operator methods and the
// tenant store on one pool.
type opsStore struct {
	*tenancy.Ops
	*tenancy.Store
}

// storeFunc opens the tenancy stores on the run's pool.
func storeFunc(f *cmdutil.Factory) StoreFunc {
	return func(ctx context.Context) (Store, error) {
		ops, err := f.Ops(ctx)
		if err != nil {
			return nil, err
		}
		st, err := f.Store(ctx)
		if err != nil {
			return nil, err
		}
		return opsStore{Ops: ops, Store: st}, nil
	}
}

// actorFunc names the person running parkctl for the audit log; see
// cmdutil.Factory.Actor.
func actorFunc(f *cmdutil.Factory) func() string { return f.Actor }

// slugArg is the Args rule of the verbs that name one tenant (by slug or
// id, resolved by cmdutil.ResolveTenant).
func slugArg(_ *cobra.Command, args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("expected one tenant slug or id, got %d arguments", len(args))
	}
	return nil
}

func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// formatLimit shows a tenant's effective limit for one policy, saying when
// it is the platform default.
func formatLimit(t tenancy.Tenant, name string) string {
	if l, ok := t.Settings.Limits[name]; ok {
		// A stored side of zero means the default's (see
		// tenancy.TenantSetLimitsParams).
		def := tenancy.DefaultLimits()[name]
		if l.Rate == 0 {
			l.Rate = def.Rate
		}
		if l.Burst == 0 {
			l.Burst = def.Burst
		}
		return rate(l)
	}
	return rate(tenancy.DefaultLimits()[name]) + " (default)"
}

func rate(l tenancy.Limit) string {
	return strconv.FormatFloat(l.Rate, 'f', -1, 64) + "/s, burst " + strconv.Itoa(l.Burst)
}

// printTenant prints one tenant: field/value rows in table mode (with the
// effective rate limits), the tenancy.Tenant document otherwise.
func printTenant(p *output.Printer, t tenancy.Tenant) error {
	cols := []output.Column[tenancy.Tenant]{
		{Header: "id", Value: func(t tenancy.Tenant) string { return t.ID.String() }},
		{Header: "slug", Value: func(t tenancy.Tenant) string { return t.Slug }},
		{Header: "name", Value: func(t tenancy.Tenant) string { return t.Name }},
		{Header: "status", Value: func(t tenancy.Tenant) string { return t.Status }},
	}
	for _, name := range tenancy.LimitNames() {
		cols = append(cols, output.Column[tenancy.Tenant]{Header: "limits." + name,
			Value: func(t tenancy.Tenant) string { return formatLimit(t, name) }})
	}
	cols = append(cols,
		output.Column[tenancy.Tenant]{Header: "created_at", Value: func(t tenancy.Tenant) string { return formatTime(t.CreatedAt) }},
		output.Column[tenancy.Tenant]{Header: "updated_at", Value: func(t tenancy.Tenant) string { return formatTime(t.UpdatedAt) }},
	)
	return output.Object(p, t, cols...)
}
