package apikey

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/parkhq/park/internal/parkctl/cmdutil"
	"github.com/parkhq/park/internal/parkctl/output"
	"github.com/parkhq/park/tenancy"
)

// RevokeOptions are the dependencies, argument and flags of `apikey
// revoke`.
type RevokeOptions struct {
	Deps
	Config func() (*cmdutil.Config, error)

	Tenant string
	// Key is the key's id, key id, park_<key id>, or whole token.
	Key string
}

// NewCmdRevoke returns `apikey revoke`. runF replaces the run function in
// tests of flag parsing.
func NewCmdRevoke(f *cmdutil.Factory, runF func(*RevokeOptions) error) *cobra.Command {
	opts := &RevokeOptions{Deps: newDeps(f), Config: f.Config}
	cmd := &cobra.Command{
		Use:   "revoke --tenant SLUG|ID KEY --yes",
		Short: "Revoke an API key for good",
		Long: strings.TrimSpace(`
Revoke one of a tenant's API keys, named as "apikey list" shows it: its id,
its key id, or park_<key id> (the KEY column, the public start of the token);
a whole token, such as a leaked one, names its key too. Service keys and keys members made through the API alike. A revoked key
cannot be restored; servers refuse it within a minute (the time they may
cache a key). Revoking a revoked key changes nothing. The key is printed as
it now is.

parkctl asks for confirmation; when standard input is not a terminal, pass
--yes. An unknown tenant or key exits 3.`),
		Example: strings.TrimPrefix(`
  parkctl apikey revoke --tenant acme park_3kTbq9XwLm2A
  parkctl apikey revoke --tenant acme 0195f1a2-7c4e-7d21-9a0b-3c5d6e7f8091 --yes`, "\n"),
		Args: keyArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Key = args[0]
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
	store, t, err := opts.Open(ctx, opts.Tenant)
	if err != nil {
		return err
	}
	// Find it first: an unknown key is "not found" before any question,
	// and a revoked one needs none.
	k, err := Find(ctx, store, t.ID, opts.Key)
	if err != nil {
		return err
	}
	if k.RevokedAt != nil {
		fmt.Fprintf(opts.IO.ErrOut, "API key %q (%s) of tenant %s is already revoked\n", k.Name, prefix(*k), t.Slug)
		return output.Object(p, *k, fields()...)
	}
	prompt := fmt.Sprintf("Revoke API key %q (%s, %s) of tenant %s for good?", k.Name, prefix(*k), scopes(*k), t.Slug)
	if err := cmdutil.Confirm(opts.IO, cfg.Yes, prompt); err != nil {
		return err
	}
	// RevokedBy stays nil: an operator may revoke any key of the tenant.
	k, err = store.APIKeyRevoke(ctx, &tenancy.APIKeyRevokeParams{TenantID: t.ID, Actor: opts.Actor(), ID: k.ID})
	if err != nil {
		return err
	}
	fmt.Fprintf(opts.IO.ErrOut, "revoked API key %q (%s) of tenant %s; servers refuse it within a minute\n", k.Name, prefix(*k), t.Slug)
	return output.Object(p, *k, fields()...)
}
