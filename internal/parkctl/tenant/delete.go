package tenant

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/parkhq/park/internal/parkctl/cmdutil"
	"github.com/parkhq/park/internal/parkctl/iostreams"
	"github.com/parkhq/park/internal/parkctl/output"
	"github.com/parkhq/park/tenancy"
)

// DeleteOptions are the dependencies and arguments of `tenant delete`.
type DeleteOptions struct {
	IO      *iostreams.IOStreams
	Printer func() (*output.Printer, error)
	Config  func() (*cmdutil.Config, error)
	Store   StoreFunc
	Actor   func() string

	Slug string
}

// NewCmdDelete returns `tenant delete`. runF replaces the run function in
// tests of flag parsing.
func NewCmdDelete(f *cmdutil.Factory, runF func(*DeleteOptions) error) *cobra.Command {
	opts := &DeleteOptions{IO: f.IOStreams, Printer: f.Printer, Config: f.Config, Store: storeFunc(f), Actor: actorFunc(f)}
	return &cobra.Command{
		Use:   "delete SLUG --yes",
		Short: "Delete a suspended tenant and all of its data",
		Long: strings.TrimSpace(`
Delete a tenant and all of its data, for good: its members' memberships,
refresh tokens, API keys, sites, spaces, reservations, idempotency keys,
sensor readings, dedupe records, orphan devices, webhook secrets and its own
audit events, all in one transaction. User accounts are global and stay (a
person may belong to other tenants); they lose this membership.

Only a suspended tenant can be deleted: "parkctl tenant suspend" it first,
so that its users, keys and webhooks are refused before the data goes. An
active tenant is refused (exit 1); an unknown one exits 3.

The deletion is recorded as a platform event (an audit event of no tenant,
action "tenant.delete") naming the operator, the tenant's slug, id and name
and the number of rows deleted from each table; it survives the tenant. The
same counts are printed; with -o json {"id", "slug", "deleted": {table: n}}.

parkctl asks for confirmation; when standard input is not a terminal, pass
--yes.`),
		Example: strings.TrimPrefix(`
  parkctl tenant suspend acme --yes
  parkctl tenant delete acme --yes
  parkctl tenant delete acme --yes -o json | jq .deleted.spaces`, "\n"),
		Args: slugArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Slug = args[0]
			if runF != nil {
				return runF(opts)
			}
			return deleteRun(cmd.Context(), opts)
		},
	}
}

func deleteRun(ctx context.Context, opts *DeleteOptions) error {
	cfg, err := opts.Config()
	if err != nil {
		return err
	}
	p, err := opts.Printer()
	if err != nil {
		return err
	}
	store, err := opts.Store(ctx)
	if err != nil {
		return err
	}
	// Unknown and active tenants are refused before any question; the
	// store checks the status again under the row lock.
	t, err := cmdutil.ResolveTenant(ctx, store, opts.Slug)
	if err != nil {
		return err
	}
	if t.Status != tenancy.StatusSuspended {
		return fmt.Errorf("tenant %s is %s: suspend it first (parkctl tenant suspend %s)", t.Slug, t.Status, t.Slug)
	}
	prompt := fmt.Sprintf("Delete tenant %s (%s) and all of its data for good?", t.Slug, t.Name)
	if err := cmdutil.Confirm(opts.IO, cfg.Yes, prompt); err != nil {
		return err
	}
	res, err := store.TenantDelete(ctx, &tenancy.TenantDeleteParams{ID: t.ID, Actor: opts.Actor()})
	if err != nil {
		return err
	}
	var rows int64
	for _, n := range res.Deleted {
		rows += n
	}
	fmt.Fprintf(opts.IO.ErrOut, "deleted tenant %s (%s): %d rows\n", res.Slug, res.ID, rows)
	return printDeletion(p, *res)
}

// printDeletion prints what a deletion removed: id, slug and a
// "deleted.<table>" row per table in table mode, the tenancy.TenantDeletion
// document otherwise.
func printDeletion(p *output.Printer, d tenancy.TenantDeletion) error {
	cols := []output.Column[tenancy.TenantDeletion]{
		{Header: "id", Value: func(d tenancy.TenantDeletion) string { return d.ID.String() }},
		{Header: "slug", Value: func(d tenancy.TenantDeletion) string { return d.Slug }},
	}
	for _, table := range slices.Sorted(maps.Keys(d.Deleted)) {
		cols = append(cols, output.Column[tenancy.TenantDeletion]{Header: "deleted." + table,
			Value: func(d tenancy.TenantDeletion) string { return strconv.FormatInt(d.Deleted[table], 10) }})
	}
	return output.Object(p, d, cols...)
}
