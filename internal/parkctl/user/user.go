// Package user holds `parkctl user create|add|set-role|remove|list|set-password`:
// accounts and their memberships of tenants. Accounts are global (one
// person may belong to several tenants), so creating one, finding one by
// email and an operator's password reset go through tenancy.Ops as
// park_ops and are audited as platform events; memberships are tenant data
// and go through the same store methods as the API's /users routes
// (tenancy.Store.MemberAdd, MemberSet), which keep the last owner and
// revoke the keys of a member left below admin.
package user

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
	"github.com/parkhq/park/tenancy"
)

// Store is what the verbs need of a *tenancy.Ops (the account methods) and
// a *tenancy.Store (the memberships); tests of the run functions supply a
// fake.
type Store interface {
	UserCreate(ctx context.Context, h *tenancy.Hasher, p *tenancy.UserCreateParams) (*tenancy.User, error)
	UserByEmail(ctx context.Context, email string) (*tenancy.User, error)
	UserSetPassword(ctx context.Context, h *tenancy.Hasher, p *tenancy.UserSetPasswordParams) (*tenancy.SessionsEnded, error)
	UserEndSessions(ctx context.Context, p *tenancy.UserEndSessionsParams) (*tenancy.SessionsEnded, error)
	MemberGet(ctx context.Context, tenantID, userID uuid.UUID) (*tenancy.Member, error)
	MemberList(ctx context.Context, tenantID uuid.UUID, page tenancy.PageParams) (*tenancy.Page[tenancy.Member], error)
	MemberAdd(ctx context.Context, p *tenancy.MemberAddParams) (*tenancy.Member, *tenancy.MemberSetResult, error)
	MemberSet(ctx context.Context, p *tenancy.MemberSetParams) (*tenancy.MemberSetResult, error)
}

// NewCmdUser returns the `user` noun.
func NewCmdUser(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "user <command>",
		Short: "Manage accounts and their roles in tenants",
		Long: `Manage accounts (people who log in) and their memberships of tenants. An
account is global, named by its email (compared without regard to case), and
may be a member of several tenants, with one role in each: owner, admin,
operator or viewer.

  create        make an account, its password from stdin or generated
  add           make an account a member of a tenant
  set-role      change a member's role; ends the member's sessions
  remove        end a membership
  list          a tenant's members and their roles
  set-password  reset an account's password; ends its sessions

A tenant always keeps one owner: removing or demoting its last owner is
refused. A member removed, or demoted below admin, loses the API keys they
made in that tenant; the command lists them. --database-url must be a login
that can act as park_app and park_ops, such as park_admin. Every change is
audited with the actor "operator:<login name of the person running parkctl>":
membership changes in the tenant's log, account changes as platform events.`,
		Example: strings.TrimPrefix(`
  printf '%s\n' "$PASSWORD" | parkctl user create --email ana@example.com --name "Ana Lima" --password-stdin
  parkctl user add --tenant acme --email ana@example.com --role admin
  parkctl user list --tenant acme`, "\n"),
	}
	cmd.AddCommand(
		NewCmdCreate(f, nil),
		NewCmdAdd(f, nil),
		NewCmdSetRole(f, nil),
		NewCmdRemove(f, nil),
		NewCmdList(f, nil),
		NewCmdSetPassword(f, nil),
	)
	return cmd
}

// Deps are what every verb opens: the store and tenant look-up
// (cmdutil.TenantDeps), the configuration (--yes, the bcrypt cost) and the
// password hasher.
type Deps struct {
	cmdutil.TenantDeps[Store]
	Config func() (*cmdutil.Config, error)
	// Hasher makes the password hasher at the configured bcrypt cost.
	Hasher func() (*tenancy.Hasher, error)
}

// backend is the Store of a real run: the operator methods and the tenant
// store on the run's pool.
type backend struct {
	*tenancy.Ops
	*tenancy.Store
}

func newDeps(f *cmdutil.Factory) Deps {
	return Deps{
		TenantDeps: cmdutil.TenantDeps[Store]{
			IO: f.IOStreams, Printer: f.Printer, Actor: f.Actor,
			Store: func(ctx context.Context) (Store, error) {
				ops, err := f.Ops(ctx)
				if err != nil {
					return nil, err
				}
				st, err := f.Store(ctx)
				if err != nil {
					return nil, err
				}
				return backend{Ops: ops, Store: st}, nil
			},
			Tenants: func(ctx context.Context) (cmdutil.TenantLookup, error) { return f.Ops(ctx) },
		},
		Config: f.Config,
		Hasher: func() (*tenancy.Hasher, error) {
			cfg, err := f.Config()
			if err != nil {
				return nil, err
			}
			// One hash per run: no concurrency to bound.
			return tenancy.NewHasher(cfg.BcryptCost, 1)
		},
	}
}

// findUser returns the account with email, or a *cmdutil.NotFoundError
// (exit 3).
func findUser(ctx context.Context, s Store, email string) (*tenancy.User, error) {
	u, err := s.UserByEmail(ctx, email)
	if err != nil {
		if isNotFound(err) {
			return nil, &cmdutil.NotFoundError{What: "user", Name: email}
		}
		return nil, err
	}
	return u, nil
}

// findMember returns the account with email and its membership of t, or a
// *cmdutil.NotFoundError (exit 3) for an unknown account or one that is no
// member of t.
func findMember(ctx context.Context, s Store, t *tenancy.Tenant, email string) (*tenancy.User, *tenancy.Member, error) {
	u, err := findUser(ctx, s, email)
	if err != nil {
		return nil, nil, err
	}
	m, err := s.MemberGet(ctx, t.ID, u.ID)
	if err != nil {
		if isNotFound(err) {
			return nil, nil, &cmdutil.NotFoundError{What: "member", Name: email, In: "tenant " + t.Slug}
		}
		return nil, nil, err
	}
	return u, m, nil
}

func isNotFound(err error) bool { return errors.Is(err, tenancy.ErrNotFound) }

// lastOwnerError explains a refused removal or demotion of a tenant's last
// owner (tenancy.ErrLastOwner; exit 1).
func lastOwnerError(verb, email string, t *tenancy.Tenant) error {
	return fmt.Errorf("cannot %s %s: they are the last owner of tenant %s, and a tenant always keeps one; make another member owner first: %w",
		verb, email, t.Slug, tenancy.ErrConflict)
}

// parseRole reads --role.
func parseRole(s string) (tenancy.Role, error) {
	r := tenancy.Role(s)
	if !r.Valid() {
		return "", cmdutil.FlagErrorf("--role must be owner, admin, operator or viewer, not %q", s)
	}
	return r, nil
}

// addEmailFlag adds the required --email flag.
// MemberRole names a member of a tenant and a role: the flags of `user add`
// and `user set-role`.
type MemberRole struct {
	Tenant string
	Email  string
	Role   tenancy.Role
}

// addMemberRoleFlags registers --tenant, --email and --role (roleHelp) on
// cmd for m, and returns the check to run before the verb: a non-empty
// email and a valid role, which it sets.
func addMemberRoleFlags(cmd *cobra.Command, m *MemberRole, roleHelp string) func() error {
	var role string
	cmdutil.AddTenantFlag(cmd, &m.Tenant, true)
	addEmailFlag(cmd, &m.Email)
	cmd.Flags().StringVar(&role, "role", "", roleHelp)
	_ = cmd.MarkFlagRequired("role")
	return func() error {
		if err := checkEmail(m.Email); err != nil {
			return err
		}
		r, err := parseRole(role)
		if err != nil {
			return err
		}
		m.Role = r
		return nil
	}
}

func addEmailFlag(cmd *cobra.Command, email *string) {
	cmd.Flags().StringVar(email, "email", "", "the account's email (required)")
	_ = cmd.MarkFlagRequired("email")
}

// checkEmail refuses an empty --email before anything is opened.
func checkEmail(email string) error {
	if strings.TrimSpace(email) == "" {
		return cmdutil.FlagErrorf("--email must not be empty")
	}
	return nil
}

func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// listColumns are the columns of `user list`.
func listColumns() []output.Column[tenancy.Member] {
	return []output.Column[tenancy.Member]{
		{Header: "ID", Value: func(m tenancy.Member) string { return m.UserID.String() }},
		{Header: "EMAIL", Value: func(m tenancy.Member) string { return m.Email }},
		{Header: "NAME", Value: func(m tenancy.Member) string { return m.Name }},
		{Header: "ROLE", Value: func(m tenancy.Member) string { return string(m.Role) }},
		{Header: "JOINED", Value: func(m tenancy.Member) string { return formatTime(m.CreatedAt) }},
	}
}

// membership is what add, set-role and remove print: the member, the role
// before and after, and the API keys the change revoked.
type membership struct {
	ID     uuid.UUID `json:"id"`
	Email  string    `json:"email"`
	Name   string    `json:"name"`
	Tenant string    `json:"tenant"`
	// Role is the role now; null after remove.
	Role *tenancy.Role `json:"role"`
	// PreviousRole is the role before; null for a new member.
	PreviousRole *tenancy.Role `json:"previous_role"`
	// RevokedKeys are the member's API keys in the tenant that the change
	// revoked (removal, or a role below admin); never null.
	RevokedKeys []tenancy.APIKey `json:"revoked_keys"`
	// SessionsEnded is set when the change ended the member's sessions
	// (set-role).
	SessionsEnded *tenancy.SessionsEnded `json:"sessions_ended,omitempty"`
}

func rolePtr(r tenancy.Role) *tenancy.Role {
	if r == "" {
		return nil
	}
	return &r
}

func roleText(r *tenancy.Role) string {
	if r == nil {
		return "none"
	}
	return string(*r)
}

// keysText lists keys as `key_id "name"`, comma-separated; "none" for none.
func keysText(keys []tenancy.APIKey) string {
	if len(keys) == 0 {
		return "none"
	}
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %q", k.KeyID, k.Name)
	}
	return strings.Join(parts, ", ")
}

// reportRevoked says on stderr which API keys a change revoked, one line
// each, so a person at a terminal sees them whatever the output format
// (stdout lists them too, under revoked_keys).
func reportRevoked(d Deps, email string, keys []tenancy.APIKey) {
	for _, k := range keys {
		fmt.Fprintf(d.IO.ErrOut, "revoked API key %s %q that %s made\n", k.KeyID, k.Name, email)
	}
}

// printMembership prints m on stdout.
func printMembership(d Deps, m membership) error {
	p, err := d.Printer()
	if err != nil {
		return err
	}
	if m.RevokedKeys == nil {
		m.RevokedKeys = []tenancy.APIKey{}
	}
	return output.Object(p, m,
		output.Column[membership]{Header: "id", Value: func(m membership) string { return m.ID.String() }},
		output.Column[membership]{Header: "email", Value: func(m membership) string { return m.Email }},
		output.Column[membership]{Header: "name", Value: func(m membership) string { return m.Name }},
		output.Column[membership]{Header: "tenant", Value: func(m membership) string { return m.Tenant }},
		output.Column[membership]{Header: "role", Value: func(m membership) string { return roleText(m.Role) }},
		output.Column[membership]{Header: "previous_role", Value: func(m membership) string { return roleText(m.PreviousRole) }},
		output.Column[membership]{Header: "revoked_keys", Value: func(m membership) string { return keysText(m.RevokedKeys) }},
	)
}
