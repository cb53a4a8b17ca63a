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

// SetRoleOptions are the dependencies and flags of `user set-role`.
type SetRoleOptions struct {
	Deps
	MemberRole
}

// NewCmdSetRole returns `user set-role`. runF replaces the run function in
// tests of flag parsing.
func NewCmdSetRole(f *cmdutil.Factory, runF func(*SetRoleOptions) error) *cobra.Command {
	opts := &SetRoleOptions{Deps: newDeps(f)}
	var check func() error
	cmd := &cobra.Command{
		Use:   "set-role --tenant SLUG|ID --email EMAIL --role owner|admin|operator|viewer",
		Short: "Change a member's role; ends the member's sessions",
		Long: strings.TrimSpace(`
Change the role of a member of a tenant, and print the membership with the
role before and after.

The change ends the member's sessions: their token version is bumped and
their refresh tokens are revoked, in every tenant they belong to (a token
version is per account), so they log in again under the new role. Servers
refuse the old tokens within a minute.

The tenant's last owner cannot be demoted (exit 1): make another member owner
first. A member demoted below admin (to operator or viewer) loses every API
key they made in the tenant; the revoked keys are listed (the revoked_keys
row, or "revoked_keys" with -o json). A role the member has already changes
nothing. An unknown account, or one that is not a member of the tenant,
exits 3.`),
		Example: strings.TrimPrefix(`
  parkctl user set-role --tenant acme --email ana@example.com --role owner
  parkctl user set-role --tenant acme --email bo@example.com --role viewer -o json | jq -r '.revoked_keys[].key_id'`, "\n"),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := check(); err != nil {
				return err
			}
			if runF != nil {
				return runF(opts)
			}
			return setRoleRun(cmd.Context(), opts)
		},
	}
	check = addMemberRoleFlags(cmd, &opts.MemberRole, "the member's new role: owner, admin, operator or viewer (required)")
	return cmd
}

func setRoleRun(ctx context.Context, opts *SetRoleOptions) error {
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
	out := membership{ID: u.ID, Email: u.Email, Name: u.Name, Tenant: t.Slug, Role: rolePtr(opts.Role), PreviousRole: rolePtr(m.Role)}
	if m.Role == opts.Role {
		fmt.Fprintf(opts.IO.ErrOut, "%s is %s in tenant %s already; nothing changed\n", u.Email, m.Role, t.Slug)
		return printMembership(opts.Deps, out)
	}
	res, err := store.MemberSet(ctx, &tenancy.MemberSetParams{TenantID: t.ID, UserID: u.ID, Role: opts.Role,
		Actor: opts.Actor(), Expect: tenancy.MemberExisting})
	switch {
	case errors.Is(err, tenancy.ErrLastOwner):
		return lastOwnerError("demote", u.Email, t)
	case errors.Is(err, tenancy.ErrNotFound):
		// Removed since findMember looked.
		return &cmdutil.NotFoundError{What: "member", Name: opts.Email, In: "tenant " + t.Slug}
	case err != nil:
		return fmt.Errorf("set the role of %s in tenant %s: %w", u.Email, t.Slug, err)
	}
	out.PreviousRole, out.RevokedKeys = rolePtr(res.PreviousRole), res.RevokedKeys
	fmt.Fprintf(opts.IO.ErrOut, "changed the role of %s in tenant %s from %s to %s\n", u.Email, t.Slug, res.PreviousRole, opts.Role)
	reportRevoked(opts.Deps, u.Email, res.RevokedKeys)
	ended, err := store.UserEndSessions(ctx, &tenancy.UserEndSessionsParams{UserID: u.ID, TenantID: t.ID,
		Reason: res.Action, Actor: opts.Actor()})
	if err != nil {
		// The role changed (and keys were revoked): say so, then fail, so
		// a script does not take the sessions for ended. Authorization
		// reads the role from the database, so the new role holds anyway.
		if perr := printMembership(opts.Deps, out); perr != nil {
			return perr
		}
		return fmt.Errorf("the role of %s changed, but ending their sessions failed (servers apply the new role within a minute regardless): %w", u.Email, err)
	}
	out.SessionsEnded = ended
	fmt.Fprintf(opts.IO.ErrOut, "ended the sessions of %s in all their tenants (token version %d, %d refresh tokens revoked)\n",
		u.Email, ended.TokenVersion, ended.RevokedRefreshTokens)
	return printMembership(opts.Deps, out)
}
