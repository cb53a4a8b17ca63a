package orphans

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"github.com/spf13/cobra"

	"github.com/parkhq/park/ingest"
	"github.com/parkhq/park/internal/parkctl/cmdutil"
	"github.com/parkhq/park/internal/parkctl/iostreams"
	"github.com/parkhq/park/internal/parkctl/output"
	"github.com/parkhq/park/tenancy"
)

// AssignOptions are the dependencies, argument and flags of
// `orphans assign`.
type AssignOptions struct {
	IO      *iostreams.IOStreams
	Printer func() (*output.Printer, error)
	Actor   func() string
	deps

	Tenant string
	DevEUI string
	// Space is a space id, or a space code (with Site, or alone when one
	// space of the tenant has it).
	Space string
	// Site is a site id or name; "" looks for the code in every site.
	Site string
}

// NewCmdAssign returns `orphans assign`. runF replaces the run function in
// tests of flag parsing.
func NewCmdAssign(f *cmdutil.Factory, runF func(*AssignOptions) error) *cobra.Command {
	opts := &AssignOptions{IO: f.IOStreams, Printer: f.Printer, Actor: f.Actor, deps: deps{Store: storeFunc(f), Tenants: tenantsFunc(f)}}
	cmd := &cobra.Command{
		Use:   "assign --tenant SLUG|ID DEV_EUI (--space ID | --site SITE --space CODE)",
		Short: "Make an orphan device a space's sensor",
		Long: strings.TrimSpace(`
Make an orphan device the sensor of a live space: the space takes the
device's last reading (and its state, unless the space holds a newer
reading), the orphan is marked assigned, and from now on its uplinks are the
space's readings. A space that has another sensor is refused: replacing a
sensor is a change to the space, made on purpose.

The space is named by its id, or by its code. Codes are unique within a site,
not within a tenant: give the site with --site (its id or name), or give the
code alone when a single space of the tenant has it; a code that several
spaces share is refused with the matches listed (exit 2). An unknown tenant,
device, site or space exits 3.`),
		Example: strings.TrimPrefix(`
  parkctl orphans assign --tenant acme 70b3d57ed0001234 --space 0195f1a2-7c4e-7d21-9a0b-3c5d6e7f8091
  parkctl orphans assign --tenant acme 70b3d57ed0001234 --site "North garage" --space A-017
  parkctl orphans assign --tenant acme 70b3d57ed0001234 --space A-017`, "\n"),
		Args: devEUIArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			eui, err := ingest.NormalizeDevEUI(args[0])
			if err != nil {
				return cmdutil.FlagErrorf("DEV_EUI %q: must be 16 hex digits", args[0])
			}
			opts.DevEUI = eui
			if strings.TrimSpace(opts.Space) == "" {
				return cmdutil.FlagErrorf("--space must not be empty")
			}
			if runF != nil {
				return runF(opts)
			}
			return assignRun(cmd.Context(), opts)
		},
	}
	cmdutil.AddTenantFlag(cmd, &opts.Tenant, true)
	cmd.Flags().StringVar(&opts.Space, "space", "", "the space: its id, or its code (required)")
	cmd.Flags().StringVar(&opts.Site, "site", "", "the site of the space code: its id or name")
	_ = cmd.MarkFlagRequired("space")
	return cmd
}

func assignRun(ctx context.Context, opts *AssignOptions) error {
	p, err := opts.Printer()
	if err != nil {
		return err
	}
	store, t, err := opts.open(ctx, opts.Tenant)
	if err != nil {
		return err
	}
	if err := requireOrphan(ctx, store, t.ID, opts.DevEUI); err != nil {
		return err
	}
	space, err := findSpace(ctx, store, t.ID, opts.Site, opts.Space)
	if err != nil {
		return err
	}
	o, err := store.OrphanAssign(ctx, &ingest.OrphanAssignParams{TenantID: t.ID, DevEUI: opts.DevEUI, SpaceID: space.ID, Actor: opts.Actor()})
	if err != nil {
		return err
	}
	fmt.Fprintf(opts.IO.ErrOut, "assigned orphan %s of tenant %s to space %s (%s)\n", o.DevEUI, t.Slug, space.Code, space.ID)
	return output.Object(p, *o, orphanFields()...)
}

// findSpace resolves --site and --space to one live space of the tenant.
func findSpace(ctx context.Context, s Store, tenantID uuid.UUID, siteRef, spaceRef string) (*tenancy.Space, error) {
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
	sites, err := allSites(ctx, s, tenantID)
	if err != nil {
		return nil, err
	}
	var siteID uuid.UUID
	if siteRef != "" {
		site, err := findSite(sites, siteRef)
		if err != nil {
			return nil, err
		}
		siteID = site.ID
	}
	spaces, err := allSpaces(ctx, s, tenantID, siteID)
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
	names := map[uuid.UUID]string{}
	for _, st := range sites {
		names[st.ID] = st.Name
	}
	var b strings.Builder
	fmt.Fprintf(&b, "space code %q matches %d spaces; name the site with --site or give the space id:", spaceRef, len(matches))
	for _, sp := range matches {
		fmt.Fprintf(&b, "\n  site %q (%s): space %s", names[sp.SiteID], sp.SiteID, sp.ID)
	}
	return nil, &cmdutil.ExitError{Code: cmdutil.ExitUsage, Err: fmt.Errorf("%s", b.String())}
}

// findSite finds a site by id or name. Names are unique per tenant; a name
// that looks like an id is tried as both.
func findSite(sites []tenancy.Site, ref string) (*tenancy.Site, error) {
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

func allSites(ctx context.Context, s Store, tenantID uuid.UUID) ([]tenancy.Site, error) {
	var out []tenancy.Site
	page := tenancy.PageParams{Limit: tenancy.MaxPageLimit}
	for {
		p, err := s.SiteList(ctx, tenantID, page)
		if err != nil {
			return nil, err
		}
		out = append(out, p.Items...)
		if p.Next == nil {
			return out, nil
		}
		page.After = p.Next
	}
}

func allSpaces(ctx context.Context, s Store, tenantID, siteID uuid.UUID) ([]tenancy.Space, error) {
	var out []tenancy.Space
	params := &tenancy.SpaceListParams{TenantID: tenantID, SiteID: siteID, Page: tenancy.PageParams{Limit: tenancy.MaxPageLimit}}
	for {
		p, err := s.SpaceList(ctx, params)
		if err != nil {
			return nil, err
		}
		out = append(out, p.Items...)
		if p.Next == nil {
			return out, nil
		}
		params.Page.After = p.Next
	}
}

func parseID(s string) (uuid.UUID, bool) {
	id, err := uuid.Parse(s)
	return id, err == nil && len(s) == 36
}
