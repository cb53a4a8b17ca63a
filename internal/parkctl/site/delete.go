package site

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"github.com/spf13/cobra"

	"github.com/parkhq/park/internal/parkctl/cmdutil"
	"github.com/parkhq/park/tenancy"
)

// DeleteOptions are the dependencies, argument and flags of `site delete`.
type DeleteOptions struct {
	Deps
	Config func() (*cmdutil.Config, error)

	Tenant string
	// Site is the site's id or name.
	Site string
}

// maxNamed is how many live spaces a refused delete names.
const maxNamed = 20

// NewCmdDelete returns `site delete`. runF replaces the run function in
// tests of flag parsing.
func NewCmdDelete(f *cmdutil.Factory, runF func(*DeleteOptions) error) *cobra.Command {
	opts := &DeleteOptions{Deps: newDeps(f), Config: f.Config}
	cmd := &cobra.Command{
		Use:   "delete --tenant SLUG|ID SITE --yes",
		Short: "Delete a site that has no live spaces",
		Long: strings.TrimSpace(`
Delete a site, named by its id or name. A site that still has live spaces is
refused (exit 1) with their codes named: delete or move them first. The
site's deleted spaces, and their history, go with it.

parkctl asks for confirmation; when standard input is not a terminal, pass
--yes.`),
		Example: strings.TrimPrefix(`
  parkctl site delete --tenant acme "North garage"
  parkctl site delete --tenant acme 0195f1a2-7c4e-7d21-9a0b-3c5d6e7f8091 --yes`, "\n"),
		Args: siteArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Site = args[0]
			if runF != nil {
				return runF(opts)
			}
			return deleteRun(cmd.Context(), opts)
		},
	}
	cmdutil.AddTenantFlag(cmd, &opts.Tenant, true)
	cmdutil.CompleteSiteArg(cmd)
	return cmd
}

func deleteRun(ctx context.Context, opts *DeleteOptions) error {
	cfg, err := opts.Config()
	if err != nil {
		return err
	}
	store, t, err := opts.Open(ctx, opts.Tenant)
	if err != nil {
		return err
	}
	s, err := Find(ctx, store, t.ID, opts.Site)
	if err != nil {
		return err
	}
	if err := cmdutil.Confirm(opts.IO, cfg.Yes, fmt.Sprintf("Delete site %q (%s) of tenant %s?", s.Name, s.ID, t.Slug)); err != nil {
		return err
	}
	err = store.SiteDelete(ctx, &tenancy.SiteDeleteParams{TenantID: t.ID, Actor: opts.Actor(), ID: s.ID})
	if errors.Is(err, tenancy.ErrConflict) {
		return liveSpacesError(ctx, store, t.ID, s, err)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(opts.IO.ErrOut, "deleted site %q (%s) of tenant %s\n", s.Name, s.ID, t.Slug)
	return nil
}

// liveSpacesError names the live spaces that keep a site from being
// deleted; the store's conflict only counts them.
func liveSpacesError(ctx context.Context, store Store, tenantID uuid.UUID, s *tenancy.Site, cause error) error {
	spaces, err := tenancy.AllPages(func(after *tenancy.Cursor) (*tenancy.Page[tenancy.Space], error) {
		return store.SpaceList(ctx, &tenancy.SpaceListParams{TenantID: tenantID, SiteID: s.ID,
			Page: tenancy.PageParams{Limit: tenancy.MaxPageLimit, After: after}})
	})
	if err != nil || len(spaces) == 0 {
		return cause
	}
	codes := make([]string, len(spaces))
	for i, sp := range spaces {
		codes[i] = sp.Code
	}
	named := strings.Join(codes[:min(len(codes), maxNamed)], ", ")
	if len(codes) > maxNamed {
		named += fmt.Sprintf(" and %d more", len(codes)-maxNamed)
	}
	return fmt.Errorf("delete site %q: it has %d live spaces (%s); delete them first: %w", s.Name, len(codes), named, tenancy.ErrConflict)
}
