// Package tenant holds `parkctl tenant create|list|get|update|suspend|resume`:
// the operator's tenant provisioning, through tenancy.Store's operator
// methods. Creating a tenant and renaming it go through the same tenant
// transactions as the server (row-level security checks them); the status
// and the rate limits, which only operators may change, are written as
// park_ops, as are the cross-tenant reads.
package tenant

import (
	"context"
	"errors"
	"fmt"
	"os/user"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/parkhq/park/internal/parkctl/cmdutil"
	"github.com/parkhq/park/internal/parkctl/output"
	"github.com/parkhq/park/tenancy"
)

// Store is what the verbs need of a *tenancy.Store; tests of the run
// functions supply a fake.
type Store interface {
	TenantCreate(ctx context.Context, p *tenancy.TenantCreateParams) (*tenancy.Tenant, error)
	TenantBySlug(ctx context.Context, slug string) (*tenancy.Tenant, error)
	TenantListAll(ctx context.Context, p tenancy.TenantListAllParams) ([]tenancy.Tenant, error)
	TenantSetStatus(ctx context.Context, p *tenancy.TenantSetStatusParams) (*tenancy.Tenant, error)
	TenantSetLimits(ctx context.Context, p *tenancy.TenantSetLimitsParams) (*tenancy.Tenant, error)
	TenantUpdate(ctx context.Context, p *tenancy.TenantUpdateParams) (*tenancy.Tenant, error)
}

// StoreFunc opens the Store, connecting on first use.
type StoreFunc func(ctx context.Context) (Store, error)

// NewCmdTenant returns the `tenant` noun.
func NewCmdTenant(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "tenant <command>",
		Short: "Create, list, rename, limit, suspend and resume tenants",
		Long: `Create, list, rename, rate-limit, suspend and resume tenants (parking operators).

--database-url (or PARKCTL_DATABASE_URL) must be a login that can act as
park_ops and park_app, such as park_admin: lists and look-ups cross tenants,
and the status and rate limits are operator-only. A tenant is named by its
slug. Every change is recorded in the tenant's audit log with the actor
"operator:<login name of the person running parkctl>".`,
	}
	cmd.AddCommand(
		NewCmdCreate(f, nil),
		NewCmdList(f, nil),
		NewCmdGet(f, nil),
		NewCmdUpdate(f, nil),
		NewCmdSuspend(f, nil),
		NewCmdResume(f, nil),
	)
	return cmd
}

// storeFunc opens the tenancy store on the run's pool.
func storeFunc(f *cmdutil.Factory) StoreFunc {
	return func(ctx context.Context) (Store, error) {
		pool, err := f.Pool(ctx)
		if err != nil {
			return nil, err
		}
		return tenancy.NewStore(pool), nil
	}
}

// actorFunc names the person running parkctl for the audit log:
// "operator:<name>", the name being the invoking user of sudo, else the
// process's user, else $USER.
func actorFunc(f *cmdutil.Factory) func() string {
	return func() string {
		lookup := f.LookupEnv
		if lookup == nil {
			lookup = func(string) (string, bool) { return "", false }
		}
		if name, ok := lookup("SUDO_USER"); ok && name != "" {
			return "operator:" + name
		}
		if u, err := user.Current(); err == nil && u.Username != "" {
			return "operator:" + u.Username
		}
		if name, ok := lookup("USER"); ok && name != "" {
			return "operator:" + name
		}
		return "operator:unknown"
	}
}

// storeError gives a store error its exit code: an unknown tenant is "not
// found" (3), input the store refuses is a usage error (2), the rest (a
// taken slug, a database failure) is an error (1).
func storeError(err error, slug string) error {
	var ve *tenancy.ValidationError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, tenancy.ErrNotFound):
		return fmt.Errorf("tenant %q: %w", slug, cmdutil.ErrNotFound)
	case errors.As(err, &ve):
		return &cmdutil.ExitError{Code: cmdutil.ExitUsage, Err: err}
	case errors.Is(err, tenancy.ErrPartialView):
		return fmt.Errorf("%w; connect as park_admin (a member of park_ops)", err)
	}
	return err
}

// slugArg is the Args rule of the verbs that name one tenant.
func slugArg(_ *cobra.Command, args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("expected one tenant slug, got %d arguments", len(args))
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
