// Package space holds `parkctl space create|list|get|update|delete|import`:
// a tenant's parking spaces, through the tenancy store (tenant transactions
// as park_app, like the server's /spaces routes), each change audited
// under the operator's name.
package space

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/spf13/cobra"

	"github.com/parkhq/park/internal/parkctl/cmdutil"
	"github.com/parkhq/park/internal/parkctl/output"
	"github.com/parkhq/park/internal/parkctl/site"
	"github.com/parkhq/park/tenancy"
)

// Store is what the verbs need of a *tenancy.Store; tests of the run
// functions supply a fake.
type Store interface {
	SiteList(ctx context.Context, tenantID uuid.UUID, page tenancy.PageParams) (*tenancy.Page[tenancy.Site], error)
	SpaceCreate(ctx context.Context, p *tenancy.SpaceCreateParams) (*tenancy.Space, error)
	SpaceGet(ctx context.Context, tenantID, id uuid.UUID) (*tenancy.Space, error)
	SpaceList(ctx context.Context, p *tenancy.SpaceListParams) (*tenancy.Page[tenancy.Space], error)
	SpaceUpdate(ctx context.Context, p *tenancy.SpaceUpdateParams) (*tenancy.Space, error)
	SpaceDelete(ctx context.Context, p *tenancy.SpaceDeleteParams) error
	SpaceImport(ctx context.Context, p *tenancy.SpaceImportParams) (int, error)
}

// Finder is what Find reads: other nouns (orphans assign) name spaces the
// same way.
type Finder interface {
	SiteList(ctx context.Context, tenantID uuid.UUID, page tenancy.PageParams) (*tenancy.Page[tenancy.Site], error)
	SpaceGet(ctx context.Context, tenantID, id uuid.UUID) (*tenancy.Space, error)
	SpaceList(ctx context.Context, p *tenancy.SpaceListParams) (*tenancy.Page[tenancy.Space], error)
}

// NewCmdSpace returns the `space` noun.
func NewCmdSpace(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "space <command>",
		Short: "Manage a tenant's parking spaces",
		Long: `Manage a tenant's parking spaces. A space belongs to a site and has a code,
unique among the site's live spaces (not in the tenant: two sites may both
have an A1), an optional display name, and optionally a sensor (a DevEUI,
unique among the tenant's live spaces). Its state is written by ingest only.

  create   add a space to a site
  list     the tenant's live spaces (of one site with --site)
  get      one space
  update   change a space's code, name, sensor or site
  delete   delete a space (its readings and reservations stay as history)
  import   add many spaces to a site from a CSV file, all or none

A space is named by its id, or by its code with --site SITE (the site's id or
name); a code alone is accepted when a single live space of the tenant has
it. A tenant is named by its slug or id; --database-url must be a login that
can act as park_app and park_ops, such as park_admin. Every change is
recorded in the tenant's audit log with the actor "operator:<login name of
the person running parkctl>".`,
		Example: strings.TrimPrefix(`
  parkctl space create --tenant acme --site North --code A-017 --sensor-eui 70b3d57ed0001234
  parkctl space list --tenant acme --site North
  parkctl space import --tenant acme --site North spaces.csv`, "\n"),
	}
	cmd.AddCommand(
		NewCmdCreate(f, nil),
		NewCmdList(f, nil),
		NewCmdGet(f, nil),
		NewCmdUpdate(f, nil),
		NewCmdDelete(f, nil),
		NewCmdImport(f, nil),
	)
	return cmd
}

// Deps are what every verb opens: the store and the tenant look-up.
type Deps = cmdutil.TenantDeps[Store]

func newDeps(f *cmdutil.Factory) Deps {
	return cmdutil.NewTenantDeps(f, func(s *tenancy.Store) Store { return s })
}

// Find resolves a space reference to one live space of the tenant: the
// space's id, or its code in the site that siteRef names (id or name), or,
// with no site, a code that a single live space of the tenant has. A code
// several spaces share is a usage error (exit 2) listing the matches; no
// match is a *cmdutil.NotFoundError (exit 3).
func Find(ctx context.Context, s Finder, tenantID uuid.UUID, siteRef, spaceRef string) (*tenancy.Space, error) {
	if strings.TrimSpace(spaceRef) == "" {
		return nil, cmdutil.FlagErrorf("no space given: name it by id, or by code (with --site)")
	}
	id, isID := parseID(spaceRef)
	if siteRef == "" && isID {
		sp, err := s.SpaceGet(ctx, tenantID, id)
		if err == nil {
			return sp, nil
		}
		if !errors.Is(err, tenancy.ErrNotFound) {
			return nil, err
		}
		// A code may look like a UUID: look for it as a code below.
	}
	var siteID uuid.UUID
	if siteRef != "" {
		st, err := site.Find(ctx, s, tenantID, siteRef)
		if err != nil {
			return nil, err
		}
		siteID = st.ID
	}
	spaces, err := all(ctx, s, tenantID, siteID)
	if err != nil {
		return nil, err
	}
	var matches []tenancy.Space
	for _, sp := range spaces {
		if sp.Code == spaceRef || isID && sp.ID == id {
			matches = append(matches, sp)
		}
	}
	switch len(matches) {
	case 0:
		if siteRef != "" {
			return nil, &cmdutil.NotFoundError{What: "space", Name: spaceRef, In: fmt.Sprintf("site %q", siteRef)}
		}
		return nil, &cmdutil.NotFoundError{What: "space", Name: spaceRef}
	case 1:
		return &matches[0], nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "space code %q matches %d spaces; name the site with --site or give the space id:", spaceRef, len(matches))
	for _, sp := range matches {
		fmt.Fprintf(&b, "\n  site %q (%s): space %s", sp.SiteName, sp.SiteID, sp.ID)
	}
	return nil, &cmdutil.ExitError{Code: cmdutil.ExitUsage, Err: errors.New(b.String())}
}

// all returns every live space of the tenant (of one site unless siteID is
// uuid.Nil), oldest first, following the pages.
func all(ctx context.Context, s Finder, tenantID, siteID uuid.UUID) ([]tenancy.Space, error) {
	return tenancy.AllPages(func(after *tenancy.Cursor) (*tenancy.Page[tenancy.Space], error) {
		return s.SpaceList(ctx, &tenancy.SpaceListParams{TenantID: tenantID, SiteID: siteID,
			Page: tenancy.PageParams{Limit: tenancy.MaxPageLimit, After: after}})
	})
}

func parseID(s string) (uuid.UUID, bool) {
	id, err := uuid.Parse(s)
	return id, err == nil && len(s) == 36
}

func formatTime(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func optString(s *string) string {
	if s == nil || *s == "" {
		return "-"
	}
	return *s
}

// listColumns are the columns of `space list`.
func listColumns() []output.Column[tenancy.Space] {
	return []output.Column[tenancy.Space]{
		{Header: "ID", Value: func(s tenancy.Space) string { return s.ID.String() }},
		{Header: "SITE", Value: func(s tenancy.Space) string { return s.SiteName }},
		{Header: "CODE", Value: func(s tenancy.Space) string { return s.Code }},
		{Header: "NAME", Value: func(s tenancy.Space) string { return optString(&s.Name) }},
		{Header: "SENSOR", Value: func(s tenancy.Space) string { return optString(s.SensorEUI) }},
		{Header: "STATE", Value: func(s tenancy.Space) string { return s.State }},
	}
}

// fields are the rows of one space printed as an object.
func fields() []output.Column[tenancy.Space] {
	return []output.Column[tenancy.Space]{
		{Header: "id", Value: func(s tenancy.Space) string { return s.ID.String() }},
		{Header: "site_id", Value: func(s tenancy.Space) string { return s.SiteID.String() }},
		{Header: "site_name", Value: func(s tenancy.Space) string { return s.SiteName }},
		{Header: "code", Value: func(s tenancy.Space) string { return s.Code }},
		{Header: "name", Value: func(s tenancy.Space) string { return optString(&s.Name) }},
		{Header: "sensor_eui", Value: func(s tenancy.Space) string { return optString(s.SensorEUI) }},
		{Header: "state", Value: func(s tenancy.Space) string { return s.State }},
		{Header: "state_changed_at", Value: func(s tenancy.Space) string { return formatTime(s.StateChangedAt) }},
		{Header: "last_reading_at", Value: func(s tenancy.Space) string { return formatTime(s.LastReadingAt) }},
		{Header: "created_at", Value: func(s tenancy.Space) string { return formatTime(&s.CreatedAt) }},
	}
}

func printSpace(d Deps, s *tenancy.Space) error {
	p, err := d.Printer()
	if err != nil {
		return err
	}
	return output.Object(p, *s, fields()...)
}

// spaceArg is the Args rule of the verbs that name one space.
func spaceArg(_ *cobra.Command, args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("expected one space (its id, or its code with --site), got %d arguments", len(args))
	}
	return nil
}

// normalizeEUI checks a --sensor-eui flag.
func normalizeEUI(flag, v string) (string, error) {
	e, err := tenancy.NormalizeDevEUI(v)
	if err != nil {
		return "", cmdutil.FlagErrorf("--%s %q: %v", flag, v, err)
	}
	return e, nil
}
