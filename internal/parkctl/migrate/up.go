package migrate

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/parkhq/park/internal/parkctl/cmdutil"
	"github.com/parkhq/park/internal/parkctl/iostreams"
	"github.com/parkhq/park/migrations"
)

// UpOptions are the dependencies of `migrate up`.
type UpOptions struct {
	IO     *iostreams.IOStreams
	Config func() (*cmdutil.Config, error)
	Open   OpenFunc
}

// NewCmdUp returns `migrate up`. runF replaces the run function in tests.
func NewCmdUp(f *cmdutil.Factory, runF func(*UpOptions) error) *cobra.Command {
	opts := &UpOptions{IO: f.IOStreams, Config: f.Config, Open: opener(f)}
	return &cobra.Command{
		Use:   "up",
		Short: "Apply every pending migration",
		Long: `Apply every pending migration in order, each in its own transaction, and
print each one on standard error. When one fails, it is rolled back, the ones
before it stay applied, and parkctl exits 1 naming it. Concurrent runs wait
for each other.`,
		Example: "  parkctl migrate up\n  parkctl migrate up --database-url postgres://park_admin@db.internal/park",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(opts)
			}
			return upRun(cmd.Context(), opts)
		},
	}
}

func upRun(ctx context.Context, opts *UpOptions) error {
	m, err := connect(ctx, opts.Config, opts.Open)
	if err != nil {
		return err
	}
	defer m.Close()

	applied, err := m.Up(ctx)
	w := opts.IO.ErrOut
	for _, r := range applied {
		fmt.Fprintf(w, "applied %s (%s)\n", r.Name, round(r.Duration))
	}
	var pe *migrations.PartialError
	switch {
	case errors.As(err, &pe):
		return fmt.Errorf("migration %s failed and was rolled back (%d applied before it stay applied): %w",
			pe.Failed.Name, len(applied), pe.Err)
	case err != nil:
		return err
	case len(applied) == 0:
		fmt.Fprintln(w, "no pending migrations: the database is up to date")
	default:
		fmt.Fprintf(w, "%d migration(s) applied\n", len(applied))
	}
	return nil
}
