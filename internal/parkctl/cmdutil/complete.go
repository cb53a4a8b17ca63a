package cmdutil

import (
	"context"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/parkhq/park/tenancy"
)

// Shell completion of tenant slugs, site names and space codes, read from
// the database.
//
// A verb only says what a flag or its first argument names (AddTenantFlag,
// AddSiteFlag, CompleteSiteArg, …): that is recorded in an annotation, and
// RegisterCompletions, which the root command calls once on the finished
// tree, installs one completion function per kind with the run's Factory.
// So every verb that takes --tenant through AddTenantFlag completes it,
// without a Factory of its own at flag time.

// completeAnnotation is the key, in a flag's annotations or a command's
// Annotations (for its first argument), of what completes it.
const completeAnnotation = "parkctl_complete"

// The kinds of value that complete from the database.
const (
	completeTenant = "tenant" // a tenant slug
	completeSite   = "site"   // a site name of --tenant
	completeSpace  = "space"  // a space code of --tenant (and of --site, when given)
)

// CompletionTimeout bounds the database work of one completion: a shell
// waits for it on every Tab, so an unreachable database must cost little.
const CompletionTimeout = 2 * time.Second

func markFlag(cmd *cobra.Command, name, kind string) {
	_ = cmd.Flags().SetAnnotation(name, completeAnnotation, []string{kind})
}

func markArg(cmd *cobra.Command, kind string) {
	if cmd.Annotations == nil {
		cmd.Annotations = map[string]string{}
	}
	cmd.Annotations[completeAnnotation] = kind
}

// AddSiteFlag adds the shared --site flag (a site of --tenant, by id or
// name) to cmd, storing into ref; its values complete with the tenant's
// site names.
func AddSiteFlag(cmd *cobra.Command, ref *string, usage string) {
	cmd.Flags().StringVar(ref, "site", "", usage)
	markFlag(cmd, "site", completeSite)
}

// CompleteSiteFlag completes the existing flag name (such as --move-to)
// with the site names of --tenant.
func CompleteSiteFlag(cmd *cobra.Command, name string) { markFlag(cmd, name, completeSite) }

// CompleteSpaceFlag completes the existing flag name (such as orphans
// assign's --space) with the space codes of --tenant and --site.
func CompleteSpaceFlag(cmd *cobra.Command, name string) { markFlag(cmd, name, completeSpace) }

// CompleteTenantArg completes cmd's first argument with tenant slugs.
func CompleteTenantArg(cmd *cobra.Command) { markArg(cmd, completeTenant) }

// CompleteSiteArg completes cmd's first argument with the site names of
// --tenant.
func CompleteSiteArg(cmd *cobra.Command) { markArg(cmd, completeSite) }

// CompleteSpaceArg completes cmd's first argument with the space codes of
// --tenant: those of --site when it is given, else the codes that name one
// live space of the tenant (the ones a code alone may name).
func CompleteSpaceArg(cmd *cobra.Command) { markArg(cmd, completeSpace) }

// RegisterCompletions installs the completion functions on every command
// under root (root included) whose flags or first argument were marked,
// querying through f. Call it once, on the finished tree.
func RegisterCompletions(root *cobra.Command, f *Factory) {
	c := &completer{f: f}
	var walk func(*cobra.Command)
	walk = func(cmd *cobra.Command) {
		cmd.Flags().VisitAll(func(fl *pflag.Flag) {
			if kind := fl.Annotations[completeAnnotation]; len(kind) == 1 {
				_ = cmd.RegisterFlagCompletionFunc(fl.Name, c.flagFunc(kind[0]))
			}
		})
		if kind, ok := cmd.Annotations[completeAnnotation]; ok && cmd.ValidArgsFunction == nil {
			cmd.ValidArgsFunction = c.argFunc(kind)
		}
		for _, sub := range cmd.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

// completer answers completions from the database. Every failure — no
// database URL, a bad configuration, an unreachable database, an unknown
// tenant — yields no candidates and prints nothing: completion degrades,
// it never gets in the way.
type completer struct{ f *Factory }

func (c *completer) flagFunc(kind string) cobra.CompletionFunc {
	return func(cmd *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		return c.complete(cmd, kind, toComplete), cobra.ShellCompDirectiveNoFileComp
	}
}

func (c *completer) argFunc(kind string) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return c.complete(cmd, kind, toComplete), cobra.ShellCompDirectiveNoFileComp
	}
}

func (c *completer) complete(cmd *cobra.Command, kind, prefix string) []cobra.Completion {
	if c.f == nil || c.f.Config == nil {
		return nil
	}
	cfg, err := c.f.Config()
	if err != nil || cfg.DatabaseURL == "" {
		return nil
	}
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, cancel := context.WithTimeout(ctx, CompletionTimeout)
	defer cancel()
	var out []cobra.Completion
	add := func(value, desc string) {
		if strings.HasPrefix(value, prefix) {
			out = append(out, cobra.CompletionWithDesc(value, desc))
		}
	}
	if kind == completeTenant {
		ops, err := c.f.Ops(ctx)
		if err != nil {
			return nil
		}
		tenants, err := ops.TenantListAll(ctx, tenancy.TenantListAllParams{})
		if err != nil {
			return nil
		}
		for _, t := range tenants {
			add(t.Slug, t.Name)
		}
		return out
	}

	ref, _ := cmd.Flags().GetString("tenant")
	if ref == "" {
		return nil
	}
	ops, err := c.f.Ops(ctx)
	if err != nil {
		return nil
	}
	t, err := ResolveTenant(ctx, ops, ref)
	if err != nil {
		return nil
	}
	store, err := c.f.Store(ctx)
	if err != nil {
		return nil
	}
	sites, err := allSites(ctx, store, t.ID)
	if err != nil {
		return nil
	}
	if kind == completeSite {
		for _, s := range sites {
			add(s.Name, s.Timezone)
		}
		return out
	}

	// Space codes: of --site when the command has it and it is set.
	params := &tenancy.SpaceListParams{TenantID: t.ID, Page: tenancy.PageParams{Limit: tenancy.MaxPageLimit}}
	if siteRef, _ := cmd.Flags().GetString("site"); siteRef != "" {
		site := findSite(sites, siteRef)
		if site == nil {
			return nil
		}
		params.SiteID = site.ID
	}
	spaces, err := tenancy.AllPages(func(after *tenancy.Cursor) (*tenancy.Page[tenancy.Space], error) {
		params.Page.After = after
		return store.SpaceList(ctx, params)
	})
	if err != nil {
		return nil
	}
	count := map[string]int{}
	for _, sp := range spaces {
		count[sp.Code]++
	}
	for _, sp := range spaces {
		if count[sp.Code] == 1 {
			add(sp.Code, sp.SiteName)
		}
	}
	return out
}

// allSites returns every site of the tenant, following the pages.
func allSites(ctx context.Context, store *tenancy.Store, tenantID uuid.UUID) ([]tenancy.Site, error) {
	return tenancy.AllPages(func(after *tenancy.Cursor) (*tenancy.Page[tenancy.Site], error) {
		return store.SiteList(ctx, tenantID, tenancy.PageParams{Limit: tenancy.MaxPageLimit, After: after})
	})
}

// findSite finds the site ref names, by id or by name, as the verbs do.
func findSite(sites []tenancy.Site, ref string) *tenancy.Site {
	id, err := uuid.Parse(ref)
	isID := err == nil && len(ref) == 36
	for i := range sites {
		if isID && sites[i].ID == id {
			return &sites[i]
		}
	}
	for i := range sites {
		if sites[i].Name == ref {
			return &sites[i]
		}
	}
	return nil
}
