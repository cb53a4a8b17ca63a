package webhooksecret

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"github.com/spf13/cobra"

	"github.com/parkhq/park/ingest"
	"github.com/parkhq/park/internal/parkctl/cmdutil"
	"github.com/parkhq/park/internal/parkctl/iostreams"
	"github.com/parkhq/park/internal/parkctl/output"
)

// RevokeOptions are the dependencies, argument and flags of
// `webhook-secret revoke`.
type RevokeOptions struct {
	IO      *iostreams.IOStreams
	Printer func() (*output.Printer, error)
	Config  func() (*cmdutil.Config, error)
	Store   func(ctx context.Context) (Store, error)
	Tenants func(ctx context.Context) (cmdutil.TenantLookup, error)
	Actor   func() string

	Tenant string
	ID     uuid.UUID
}

// NewCmdRevoke returns `webhook-secret revoke`. runF replaces the run
// function in tests of flag parsing.
func NewCmdRevoke(f *cmdutil.Factory, runF func(*RevokeOptions) error) *cobra.Command {
	opts := &RevokeOptions{IO: f.IOStreams, Printer: f.Printer, Config: f.Config, Store: storeFunc(f),
		Tenants: tenantsFunc(f), Actor: f.Actor}
	cmd := &cobra.Command{
		Use:   "revoke --tenant SLUG|ID SECRET_ID",
		Short: "Revoke a webhook secret at once",
		Long: strings.TrimSpace(`
Revoke one of a tenant's webhook secrets (its id from "webhook-secret list"):
uplinks signed with it are refused from now on (401), without the grace that a
rotation gives. Revoking a revoked secret changes nothing. The secret is
printed as it now is.

parkctl asks for confirmation; when standard input is not a terminal, pass
--yes. An unknown tenant or secret exits 3.`),
		Example: strings.TrimPrefix(`
  parkctl webhook-secret revoke --tenant acme 0195f1a2-7c4e-7d21-9a0b-3c5d6e7f8091
  parkctl webhook-secret revoke --tenant acme 0195f1a2-7c4e-7d21-9a0b-3c5d6e7f8091 --yes`, "\n"),
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return fmt.Errorf("expected one secret id, got %d arguments", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := uuid.Parse(args[0])
			if err != nil {
				return cmdutil.FlagErrorf("secret id %q is not a UUID (see webhook-secret list)", args[0])
			}
			opts.ID = id
			if runF != nil {
				return runF(opts)
			}
			return revokeRun(cmd.Context(), opts)
		},
	}
	cmdutil.AddTenantFlag(cmd, &opts.Tenant, true)
	return cmd
}

func revokeRun(ctx context.Context, opts *RevokeOptions) error {
	cfg, err := opts.Config()
	if err != nil {
		return err
	}
	p, err := opts.Printer()
	if err != nil {
		return err
	}
	store, t, err := resolve(ctx, opts.Tenants, opts.Store, opts.Tenant)
	if err != nil {
		return err
	}
	// Find it first: an unknown id is "not found" before any question,
	// and a revoked one needs none.
	list, err := store.SecretList(ctx, t.ID)
	if err != nil {
		return err
	}
	var cur *ingest.Secret
	for i := range list {
		if list[i].ID == opts.ID {
			cur = &list[i]
		}
	}
	if cur == nil {
		return &cmdutil.NotFoundError{What: "webhook secret", Name: opts.ID.String()}
	}
	if cur.RevokedAt != nil {
		fmt.Fprintf(opts.IO.ErrOut, "webhook secret %s of tenant %s is already revoked\n", cur.ID, t.Slug)
		return output.Object(p, *cur, secretFields()...)
	}
	prompt := fmt.Sprintf("Revoke the %s webhook secret %s of tenant %s, refusing its uplinks at once?", cur.Mode, cur.ID, t.Slug)
	if err := cmdutil.Confirm(opts.IO, cfg.Yes, prompt); err != nil {
		return err
	}
	sec, err := store.SecretRevoke(ctx, t.ID, opts.ID, opts.Actor())
	if err != nil {
		return err
	}
	fmt.Fprintf(opts.IO.ErrOut, "revoked webhook secret %s of tenant %s\n", sec.ID, t.Slug)
	return output.Object(p, *sec, secretFields()...)
}
