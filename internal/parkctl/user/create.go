package user

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/spf13/cobra"

	"github.com/parkhq/park/internal/parkctl/cmdutil"
	"github.com/parkhq/park/internal/parkctl/output"
	"github.com/parkhq/park/tenancy"
)

// CreateOptions are the dependencies and flags of `user create`.
type CreateOptions struct {
	Deps

	Email string
	Name  string
	// PasswordStdin reads the password from standard input; without it a
	// password is generated and printed once.
	PasswordStdin bool
}

// created is what create prints: the account and, when parkctl made the
// password, the password this once.
type created struct {
	ID        uuid.UUID `json:"id"`
	Email     string    `json:"email"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
	Password  string    `json:"password,omitempty"`
}

// NewCmdCreate returns `user create`. runF replaces the run function in
// tests of flag parsing.
func NewCmdCreate(f *cmdutil.Factory, runF func(*CreateOptions) error) *cobra.Command {
	opts := &CreateOptions{Deps: newDeps(f)}
	cmd := &cobra.Command{
		Use:   "create --email EMAIL --name NAME [--password-stdin]",
		Short: "Create an account",
		Long: strings.TrimSpace(`
Create an account that can log in, and print it. The account belongs to no
tenant yet: "parkctl user add" makes it a member of one.

With --password-stdin the password is read from standard input (one line; one
trailing newline is removed; 10 to 72 bytes). Without it parkctl generates a
random password and prints it this once: with -o json under "password", in
the table form as the "password" row, with a warning on stderr. It is stored
nowhere but as a bcrypt hash, at the cost PARKCTL_BCRYPT_COST (default 12).

An email another account has (in any case) exits 1; an invalid email, name or
password exits 2. The creation is recorded as a platform event.`),
		Example: strings.TrimPrefix(`
  printf '%s\n' "$PASSWORD" | parkctl user create --email ana@example.com --name "Ana Lima" --password-stdin
  parkctl user create --email bo@example.com --name "Bo Berg" -o json | jq -r .password`, "\n"),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkEmail(opts.Email); err != nil {
				return err
			}
			name, err := tenancy.NormalizeName(opts.Name)
			if err != nil {
				return cmdutil.FlagErrorf("--name %v", err)
			}
			opts.Name = name
			if runF != nil {
				return runF(opts)
			}
			return createRun(cmd.Context(), opts)
		},
	}
	addEmailFlag(cmd, &opts.Email)
	cmd.Flags().StringVar(&opts.Name, "name", "", "the person's name (required)")
	cmd.Flags().BoolVar(&opts.PasswordStdin, "password-stdin", false, "read the password from standard input instead of generating one")
	_ = cmd.MarkFlagRequired("name")
	return cmd
}

func createRun(ctx context.Context, opts *CreateOptions) error {
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
	u, err := store.UserCreate(ctx, h, &tenancy.UserCreateParams{Email: opts.Email, Name: opts.Name, Password: pw, Actor: opts.Actor()})
	if err != nil {
		return err
	}
	fmt.Fprintf(opts.IO.ErrOut, "created user %s (%s)\n", u.Email, u.ID)
	c := created{ID: u.ID, Email: u.Email, Name: u.Name, CreatedAt: u.CreatedAt}
	cols := []output.Column[created]{
		{Header: "id", Value: func(c created) string { return c.ID.String() }},
		{Header: "email", Value: func(c created) string { return c.Email }},
		{Header: "name", Value: func(c created) string { return c.Name }},
		{Header: "created_at", Value: func(c created) string { return formatTime(c.CreatedAt) }},
	}
	if generated {
		c.Password = pw
		cols = append(cols, output.Column[created]{Header: "password", Value: func(c created) string { return c.Password }})
		warnShownOnce(opts.Deps, u.Email)
	}
	return output.Object(p, c, cols...)
}
