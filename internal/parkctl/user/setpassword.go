package user

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"github.com/spf13/cobra"

	"github.com/parkhq/park/internal/parkctl/cmdutil"
	"github.com/parkhq/park/internal/parkctl/output"
	"github.com/parkhq/park/tenancy"
)

// SetPasswordOptions are the dependencies and flags of `user set-password`.
type SetPasswordOptions struct {
	Deps

	Email string
	// PasswordStdin reads the password from standard input; without it a
	// password is generated and printed once.
	PasswordStdin bool
}

// reset is what set-password prints.
type reset struct {
	ID    uuid.UUID `json:"id"`
	Email string    `json:"email"`
	Name  string    `json:"name"`
	tenancy.SessionsEnded
	Password string `json:"password,omitempty"`
}

// NewCmdSetPassword returns `user set-password`. runF replaces the run
// function in tests of flag parsing.
func NewCmdSetPassword(f *cmdutil.Factory, runF func(*SetPasswordOptions) error) *cobra.Command {
	opts := &SetPasswordOptions{Deps: newDeps(f)}
	cmd := &cobra.Command{
		Use:   "set-password --email EMAIL [--password-stdin]",
		Short: "Reset an account's password; ends its sessions",
		Long: strings.TrimSpace(`
Reset an account's password, as an operator, without the current one, and end
every session of the account in all of its tenants: its token version is
bumped and its refresh tokens are revoked, so the old password and every
token issued before stop working (servers refuse the old access tokens within
a minute). The reset is recorded as a platform event.

With --password-stdin the new password is read from standard input (one
line; one trailing newline is removed; 10 to 72 bytes). Without it parkctl
generates one and prints it this once: with -o json under "password", in the
table form as the "password" row, with a warning on stderr. An unknown email
exits 3.`),
		Example: strings.TrimPrefix(`
  printf '%s\n' "$NEW_PASSWORD" | parkctl user set-password --email ana@example.com --password-stdin
  parkctl user set-password --email ana@example.com -o json | jq -r .password`, "\n"),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkEmail(opts.Email); err != nil {
				return err
			}
			if runF != nil {
				return runF(opts)
			}
			return setPasswordRun(cmd.Context(), opts)
		},
	}
	addEmailFlag(cmd, &opts.Email)
	cmd.Flags().BoolVar(&opts.PasswordStdin, "password-stdin", false, "read the new password from standard input instead of generating one")
	return cmd
}

func setPasswordRun(ctx context.Context, opts *SetPasswordOptions) error {
	p, err := opts.Printer()
	if err != nil {
		return err
	}
	pw, generated, err := password(opts.Deps, opts.PasswordStdin)
	if err != nil {
		return err
	}
	h, err := opts.Hasher()
	if err != nil {
		return err
	}
	store, err := opts.Store(ctx)
	if err != nil {
		return err
	}
	u, err := findUser(ctx, store, opts.Email)
	if err != nil {
		return err
	}
	ended, err := store.UserSetPassword(ctx, h, &tenancy.UserSetPasswordParams{UserID: u.ID, Password: pw, Actor: opts.Actor()})
	if err != nil {
		return fmt.Errorf("set the password of %s: %w", u.Email, err)
	}
	fmt.Fprintf(opts.IO.ErrOut, "set the password of %s and ended their sessions in all their tenants (token version %d, %d refresh tokens revoked)\n",
		u.Email, ended.TokenVersion, ended.RevokedRefreshTokens)
	r := reset{ID: u.ID, Email: u.Email, Name: u.Name, SessionsEnded: *ended}
	cols := []output.Column[reset]{
		{Header: "id", Value: func(r reset) string { return r.ID.String() }},
		{Header: "email", Value: func(r reset) string { return r.Email }},
		{Header: "name", Value: func(r reset) string { return r.Name }},
		{Header: "token_version", Value: func(r reset) string { return fmt.Sprint(r.TokenVersion) }},
		{Header: "revoked_refresh_tokens", Value: func(r reset) string { return fmt.Sprint(r.RevokedRefreshTokens) }},
	}
	if generated {
		r.Password = pw
		cols = append(cols, output.Column[reset]{Header: "password", Value: func(r reset) string { return r.Password }})
		warnShownOnce(opts.Deps, u.Email)
	}
	return output.Object(p, r, cols...)
}
