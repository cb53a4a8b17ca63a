// Package site holds `parkctl site create|list|get|update|delete`: a
// tenant's sites, through the tenancy store (tenant transactions as
// park_app, like the server's /sites routes), each change audited under the
// operator's name.
package site

import (
	"context"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/spf13/cobra"

	"github.com/parkhq/park/internal/parkctl/cmdutil"
	"github.com/parkhq/park/internal/parkctl/output"
	"github.com/parkhq/park/tenancy"
)

// Store is what the verbs need of a *tenancy.Store; tests of the run
// functions supply a fake.
type Store interface {
	SiteCreate(ctx context.Context, p *tenancy.SiteCreateParams) (*tenancy.Site, error)
	SiteGet(ctx context.Context, tenantID, id uuid.UUID) (*tenancy.Site, error)
	SiteList(ctx context.Context, tenantID uuid.UUID, page tenancy.PageParams) (*tenancy.Page[tenancy.Site], error)
	SiteUpdate(ctx context.Context, p *tenancy.SiteUpdateParams) (*tenancy.Site, error)
	SiteDelete(ctx context.Context, p *tenancy.SiteDeleteParams) error
	SpaceList(ctx context.Context, p *tenancy.SpaceListParams) (*tenancy.Page[tenancy.Space], error)
}

// NewCmdSite returns the `site` noun.
func NewCmdSite(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "site <command>",
		Short: "Manage a tenant's sites",
		Long: `Manage a tenant's sites: the car parks or garages its spaces belong to. A
site has a name, unique in the tenant, and an IANA time zone.

  create   add a site
  list     the tenant's sites, oldest first
  get      one site, by id or name
  update   rename a site or change its time zone
  delete   delete a site that has no live spaces

A tenant is named by its slug or id; --database-url must be a login that can
act as park_app and park_ops, such as park_admin. Every change is recorded in
the tenant's audit log with the actor "operator:<login name of the person
running parkctl>".`,
		Example: strings.TrimPrefix(`
  parkctl site create --tenant acme --name "North garage" --timezone Europe/Berlin
  parkctl site list --tenant acme
  parkctl site delete --tenant acme "North garage" --yes`, "\n"),
	}
	cmd.AddCommand(
		NewCmdCreate(f, nil),
		NewCmdList(f, nil),
		NewCmdGet(f, nil),
		NewCmdUpdate(f, nil),
		NewCmdDelete(f, nil),
	)
	return cmd
}

// Deps are what every verb opens: the store and the tenant look-up.
type Deps = cmdutil.TenantDeps[Store]

func newDeps(f *cmdutil.Factory) Deps {
	return cmdutil.NewTenantDeps(f, func(s *tenancy.Store) Store { return s })
}

// Lister is what Find and All need: a *tenancy.Store or a fake.
type Lister interface {
	SiteList(ctx context.Context, tenantID uuid.UUID, page tenancy.PageParams) (*tenancy.Page[tenancy.Site], error)
}

// All returns every site of the tenant, oldest first, following the pages.
func All(ctx context.Context, s Lister, tenantID uuid.UUID) ([]tenancy.Site, error) {
	return tenancy.AllPages(func(after *tenancy.Cursor) (*tenancy.Page[tenancy.Site], error) {
		return s.SiteList(ctx, tenantID, tenancy.PageParams{Limit: tenancy.MaxPageLimit, After: after})
	})
}

// Find returns the site of the tenant that ref names: its id or its name
// (names are unique per tenant). An id beats a name that looks like one; no
// match is a *cmdutil.NotFoundError (exit 3). Every verb that takes a site
// (site get|update|delete, space --site) resolves it here.
func Find(ctx context.Context, s Lister, tenantID uuid.UUID, ref string) (*tenancy.Site, error) {
	if strings.TrimSpace(ref) == "" {
		return nil, cmdutil.FlagErrorf("no site given: name it by id or name")
	}
	sites, err := All(ctx, s, tenantID)
	if err != nil {
		return nil, err
	}
	id, isID := parseID(ref)
	for i := range sites {
		if isID && sites[i].ID == id {
			return &sites[i], nil
		}
	}
	for i := range sites {
		if sites[i].Name == ref {
			return &sites[i], nil
		}
	}
	return nil, &cmdutil.NotFoundError{What: "site", Name: ref}
}

func parseID(s string) (uuid.UUID, bool) {
	id, err := uuid.Parse(s)
	return id, err == nil && len(s) == 36
}

func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// listColumns are the columns of `site list`.
func listColumns() []output.Column[tenancy.Site] {
	return []output.Column[tenancy.Site]{
		{Header: "ID", Value: func(s tenancy.Site) string { return s.ID.String() }},
		{Header: "NAME", Value: func(s tenancy.Site) string { return s.Name }},
		{Header: "TIMEZONE", Value: func(s tenancy.Site) string { return s.Timezone }},
		{Header: "CREATED", Value: func(s tenancy.Site) string { return formatTime(s.CreatedAt) }},
	}
}

// fields are the rows of one site printed as an object.
func fields() []output.Column[tenancy.Site] {
	return []output.Column[tenancy.Site]{
		{Header: "id", Value: func(s tenancy.Site) string { return s.ID.String() }},
		{Header: "name", Value: func(s tenancy.Site) string { return s.Name }},
		{Header: "timezone", Value: func(s tenancy.Site) string { return s.Timezone }},
		{Header: "created_at", Value: func(s tenancy.Site) string { return formatTime(s.CreatedAt) }},
		{Header: "updated_at", Value: func(s tenancy.Site) string { return formatTime(s.UpdatedAt) }},
	}
}

// siteArg is the Args rule of the verbs that name one site.
func siteArg(_ *cobra.Command, args []string) error {
	if len(args) != 1 {
		return cmdutil.FlagErrorf("expected one site (its id or name), got %d arguments", len(args))
	}
	return nil
}
