package cmdutil

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/spf13/cobra"

	"github.com/parkhq/park/internal/parkctl/iostreams"
	"github.com/parkhq/park/internal/parkctl/output"
	"github.com/parkhq/park/tenancy"
)

// NotFoundError names an object that does not exist: `tenant "x" not
// found`. It matches ErrNotFound (exit 3).
type NotFoundError struct {
	// What is the kind of object ("tenant", "space", …).
	What string
	// Name is how the user named it.
	Name string
	// In, when set, is where it was looked for (`site "North"`).
	In string
}

func (e *NotFoundError) Error() string {
	if e.In != "" {
		return fmt.Sprintf("%s %q in %s not found", e.What, e.Name, e.In)
	}
	return fmt.Sprintf("%s %q not found", e.What, e.Name)
}

// Is makes a *NotFoundError match ErrNotFound.
func (e *NotFoundError) Is(target error) bool { return target == ErrNotFound }

// TenantLookup is what ResolveTenant needs of a *tenancy.Ops.
type TenantLookup interface {
	TenantBySlug(ctx context.Context, slug string) (*tenancy.Tenant, error)
	TenantByID(ctx context.Context, id uuid.UUID) (*tenancy.Tenant, error)
}

// ResolveTenant returns the tenant that ref names: its id (a UUID) or its
// slug. A tenant that does not exist is a *NotFoundError (`tenant "x" not
// found`, exit 3); an empty ref is a usage error. Every verb that takes a
// tenant resolves it here, so all of them accept the same forms and fail
// the same way.
func ResolveTenant(ctx context.Context, l TenantLookup, ref string) (*tenancy.Tenant, error) {
	if ref == "" {
		return nil, FlagErrorf("no tenant given: use --tenant SLUG or --tenant ID")
	}
	var (
		t   *tenancy.Tenant
		err error
	)
	// A lowercase UUID is also a valid slug, so a UUID-shaped ref is
	// looked up as an id first and then as a slug.
	if id, perr := uuid.Parse(ref); perr == nil && len(ref) == 36 {
		t, err = l.TenantByID(ctx, id)
		if errors.Is(err, tenancy.ErrNotFound) {
			t, err = l.TenantBySlug(ctx, ref)
		}
	} else {
		t, err = l.TenantBySlug(ctx, ref)
	}
	switch {
	case errors.Is(err, tenancy.ErrNotFound):
		return nil, &NotFoundError{What: "tenant", Name: ref}
	case err != nil:
		return nil, err
	}
	return t, nil
}

// AddTenantFlag adds the shared --tenant flag to cmd, storing into ref;
// required makes cobra refuse the command without it (exit 2). Its values
// complete with the tenants' slugs (see RegisterCompletions).
func AddTenantFlag(cmd *cobra.Command, ref *string, required bool) {
	usage := "the tenant: its slug or id"
	if required {
		usage += " (required)"
	}
	cmd.Flags().StringVar(ref, "tenant", "", usage)
	markFlag(cmd, "tenant", completeTenant)
	if required {
		_ = cmd.MarkFlagRequired("tenant")
	}
}

// OpenTenant is what every tenant-scoped verb does first: resolve ref (a
// slug or an id) with the look-up tenants opens, then open the noun's store
// (S, the small interface the noun declares). An unknown tenant is a
// *NotFoundError (exit 3), and the store is not opened.
func OpenTenant[S any](ctx context.Context, tenants func(context.Context) (TenantLookup, error),
	store func(context.Context) (S, error), ref string) (S, *tenancy.Tenant, error) {
	var zero S
	l, err := tenants(ctx)
	if err != nil {
		return zero, nil, err
	}
	t, err := ResolveTenant(ctx, l, ref)
	if err != nil {
		return zero, nil, err
	}
	s, err := store(ctx)
	if err != nil {
		return zero, nil, err
	}
	return s, t, nil
}

// TenantDeps are what the verbs of a tenant-scoped noun share: the IO
// streams, the printer, the audit actor, the noun's store (S, the small
// interface it declares) and the --tenant look-up. Options embed it.
type TenantDeps[S any] struct {
	IO      *iostreams.IOStreams
	Printer func() (*output.Printer, error)
	Actor   func() string
	Store   func(ctx context.Context) (S, error)
	Tenants func(ctx context.Context) (TenantLookup, error)
}

// NewTenantDeps wires TenantDeps to f: the store is f's tenant store seen
// as S, the look-up f's operator store.
func NewTenantDeps[S any](f *Factory, as func(*tenancy.Store) S) TenantDeps[S] {
	return TenantDeps[S]{
		IO: f.IOStreams, Printer: f.Printer, Actor: f.Actor,
		Store: func(ctx context.Context) (S, error) {
			s, err := f.Store(ctx)
			if err != nil {
				var zero S
				return zero, err
			}
			return as(s), nil
		},
		Tenants: func(ctx context.Context) (TenantLookup, error) { return f.Ops(ctx) },
	}
}

// Open resolves ref and opens the store (see OpenTenant).
func (d TenantDeps[S]) Open(ctx context.Context, ref string) (S, *tenancy.Tenant, error) {
	return OpenTenant(ctx, d.Tenants, d.Store, ref)
}
