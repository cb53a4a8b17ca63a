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

// AddOptions are the dependencies and flags of `user add`.
type AddOptions struct {
	Deps
	MemberRole
}

// NewCmdAdd returns `user add`. runF replaces the run function in tests of
// flag parsing.
func NewCmdAdd(f *cmdutil.Factory, runF func(*AddOptions) error) *cobra.Command {
	opts := &AddOptions{Deps: newDeps(f)}
	var check func() error
	cmd := &cobra.Command{
		Use:   "add --tenant SLUG|ID --email EMAIL --role owner|admin|operator|viewer",
		Short: "Make an account a member of a tenant",
		Long: strings.TrimSpace(`
Make an existing account a member of a tenant with a role, and print the
membership. The account must exist ("parkctl user create" makes one; an
unknown email exits 3); an account that is a member already exits 1 (change
its role with "parkctl user set-role").

API keys the account made in an earlier membership of the tenant, if any are
still live, are revoked and listed: a new membership starts without keys.`),
		Example: strings.TrimPrefix(`
  parkctl user add --tenant acme --email ana@example.com --role admin
  parkctl user add --tenant acme --email bo@example.com --role viewer -o json`, "\n"),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := check(); err != nil {
				return err
			}
			if runF != nil {
				return runF(opts)
			}
			return addRun(cmd.Context(), opts)
		},
	}
	check = addMemberRoleFlags(cmd, &opts.MemberRole, "the member's role: owner, admin, operator or viewer (required)")
	return cmd
}

func addRun(ctx context.Context, opts *AddOptions) error {
	if _, err := opts.Printer(); err != nil {
		return err
	}
	store, t, err := opts.Open(ctx, opts.Tenant)
	if err != nil {
		return err
	}
	if _, err := findUser(ctx, store, opts.Email); err != nil {
		return err
	}
	m, res, err := store.MemberAdd(ctx, &tenancy.MemberAddParams{TenantID: t.ID, Email: opts.Email, Role: opts.Role, Actor: opts.Actor()})
	if errors.Is(err, tenancy.ErrMemberExists) {
		return fmt.Errorf("add %s to tenant %s: the account is a member already; change its role with parkctl user set-role: %w",
			opts.Email, t.Slug, tenancy.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("add %s to tenant %s: %w", opts.Email, t.Slug, err)
	}
	fmt.Fprintf(opts.IO.ErrOut, "added %s to tenant %s as %s\n", m.Email, t.Slug, m.Role)
	reportRevoked(opts.Deps, m.Email, res.RevokedKeys)
	return printMembership(opts.Deps, membership{ID: m.UserID, Email: m.Email, Name: m.Name, Tenant: t.Slug,
		Role: rolePtr(m.Role), RevokedKeys: res.RevokedKeys})
}
