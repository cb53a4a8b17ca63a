// Package cmdutiltest holds fakes shared by the tests of parkctl's verbs.
package cmdutiltest

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"github.com/parkhq/park/internal/parkctl/cmdutil"
	"github.com/parkhq/park/tenancy"
)

// Tenants is a cmdutil.TenantLookup that knows these tenants and no
// other: an unknown slug or id is tenancy.ErrNotFound, as the store says
// it. Each call returns a copy, so a verb cannot change the fixture.
type Tenants []tenancy.Tenant

var _ cmdutil.TenantLookup = Tenants(nil)

// TenantBySlug implements cmdutil.TenantLookup.
func (ts Tenants) TenantBySlug(_ context.Context, slug string) (*tenancy.Tenant, error) {
	for _, t := range ts {
		if t.Slug == slug {
			return &t, nil
		}
	}
	return nil, fmt.Errorf("tenant %q: %w", slug, tenancy.ErrNotFound)
}

// TenantByID implements cmdutil.TenantLookup.
func (ts Tenants) TenantByID(_ context.Context, id uuid.UUID) (*tenancy.Tenant, error) {
	for _, t := range ts {
		if t.ID == id {
			return &t, nil
		}
	}
	return nil, fmt.Errorf("tenant %s: %w", id, tenancy.ErrNotFound)
}
