package migrate

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/parkhq/park/internal/parkctl/cmdutil"
	"github.com/parkhq/park/internal/parkctl/iostreams"
	"github.com/parkhq/park/internal/parkctl/output"
	"github.com/parkhq/park/migrations"
)

// VerifyOptions are the dependencies of `migrate verify`.
type VerifyOptions struct {
	IO      *iostreams.IOStreams
	Config  func() (*cmdutil.Config, error)
	Printer func() (*output.Printer, error)
	Verify  func(ctx context.Context, databaseURL string) (*migrations.Report, error)
}

// NewCmdVerify returns `migrate verify`. runF replaces the run function in
// tests.
func NewCmdVerify(f *cmdutil.Factory, runF func(*VerifyOptions) error) *cobra.Command {
	opts := &VerifyOptions{IO: f.IOStreams, Config: f.Config, Printer: f.Printer, Verify: migrations.Verify}
	return &cobra.Command{
		Use:   "verify",
		Short: "Check the schema's security and integrity invariants",
		Long: `Check that every migration is applied and that the database keeps Park's
invariants: row-level security enabled and forced on every tenant table,
security_invoker views, locked-down SECURITY DEFINER functions, object
ownership, a park_app role that owns and bypasses nothing, spaces whose site
belongs to their tenant, and no overlapping confirmed reservations.

Each problem is printed on standard output, one per line (-o json: an array of
strings), and parkctl exits 4. The data checks need a login that sees every
tenant (park_admin or a superuser); a partial view is itself a problem, never
"clean".`,
		Example: "  parkctl migrate verify\n  parkctl migrate verify || echo \"the schema has problems\"",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(opts)
			}
			return verifyRun(cmd.Context(), opts)
		},
	}
}

func verifyRun(ctx context.Context, opts *VerifyOptions) error {
	p, err := opts.Printer()
	if err != nil {
		return err
	}
	cfg, err := opts.Config()
	if err != nil {
		return err
	}
	url, err := cfg.RequireDatabaseURL()
	if err != nil {
		return err
	}
	rep, err := opts.Verify(ctx, url)
	if err != nil {
		return err
	}
	if err := output.List(p, rep.Problems,
		output.Column[string]{Header: "PROBLEM", Value: func(s string) string { return s }},
	); err != nil {
		return err
	}
	if n := len(rep.Problems); n > 0 {
		return cmdutil.Problems("migrate verify: %d problem(s) found", n)
	}
	fmt.Fprintln(opts.IO.ErrOut, "migrate verify: ok, no problems found")
	return nil
}
