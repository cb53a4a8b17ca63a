package user

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/parkhq/park/internal/parkctl/cmdutil"
	"github.com/parkhq/park/tenancy"
)

// RemoveOptions are the dependencies and flags of `user remove`.
type RemoveOptions struct {
	Deps

	Tenant string
	Email  string
}

// NewCmdRemove returns `user remove`. runF replaces the run function in
// tests of flag parsing.
func NewCmdRemove(f *cmdutil.Factory, runF func(*RemoveOptions) error) *cobra.Command {
	opts := &RemoveOptions{Deps: newDeps(f)}
	cmd := &cobra.Command{
		Use:   "remove --tenant SLUG|ID --email EMAIL --yes",
		Short: "End a member's membership of a tenant",
		Long: strings.TrimSpace(`
Remove a member from a tenant, and print the membership that ended. The
account stays, with its other memberships; its sessions in this tenant end
(its refresh tokens here are deleted with the membership, and servers refuse
its access tokens within a minute).

Every API key the member made in the tenant is revoked, and the revoked keys
are listed (the revoked_keys row, or "revoked_keys" with -o json). The
tenant's last owner cannot be removed (exit 1): make another member owner
first. An unknown account, or one that is not a member, exits 3.

parkctl asks for confirmation; when standard input is not a terminal, pass
--yes.`),
		Example: strings.TrimPrefix(`
  parkctl user remove --tenant acme --email bo@example.com
  parkctl user remove --tenant acme --email bo@example.com --yes -o json`, "\n"),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkEmail(opts.Email); err != nil {
				return err
			}
			if runF != nil {
				return runF(opts)
			}
			return removeRun(cmd.Context(), opts)
		},
	}
	cmdutil.AddTenantFlag(cmd, &opts.Tenant, true)
	addEmailFlag(cmd, &opts.Email)
	return cmd
}

func removeRun(ctx context.Context, opts *RemoveOptions) error {
	cfg, err := opts.Config()
	if err != nil {
		return err
	}
	if _, err := opts.Printer(); err != nil {
		return err
	}
	store, t, err := opts.Open(ctx, opts.Tenant)
	if err != nil {
		return err
	}
	u, m, err := findMember(ctx, store, t, opts.Email)
	if err != nil {
		return err
	}
	prompt := fmt.Sprintf("Remove %s (%s) from tenant %s and revoke the API keys they made there?", u.Email, m.Role, t.Slug)
	if err := cmdutil.Confirm(opts.IO, cfg.Yes, prompt); err != nil {
		return err
	}
	res, err := store.MemberSet(ctx, &tenancy.MemberSetParams{TenantID: t.ID, UserID: u.ID, Actor: opts.Actor(), Expect: tenancy.MemberExisting})
	switch {
	case errors.Is(err, tenancy.ErrLastOwner):
		return lastOwnerError("remove", u.Email, t)
	case errors.Is(err, tenancy.ErrNotFound):
		return &cmdutil.NotFoundError{What: "member", Name: opts.Email, In: "tenant " + t.Slug}
	case err != nil:
		return fmt.Errorf("remove %s from tenant %s: %w", u.Email, t.Slug, err)
	}
	fmt.Fprintf(opts.IO.ErrOut, "removed %s from tenant %s (was %s)\n", u.Email, t.Slug, res.PreviousRole)
	reportRevoked(opts.Deps, u.Email, res.RevokedKeys)
	return printMembership(opts.Deps, membership{ID: u.ID, Email: u.Email, Name: u.Name, Tenant: t.Slug,
		PreviousRole: rolePtr(res.PreviousRole), RevokedKeys: res.RevokedKeys})
}
