package migrate

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/parkhq/park/internal/parkctl/cmdutil"
	"github.com/parkhq/park/internal/parkctl/iostreams"
)

// DownOptions are the dependencies of `migrate down`.
type DownOptions struct {
	IO     *iostreams.IOStreams
	Config func() (*cmdutil.Config, error)
	Open   OpenFunc
}

// NewCmdDown returns `migrate down`. runF replaces the run function in tests.
func NewCmdDown(f *cmdutil.Factory, runF func(*DownOptions) error) *cobra.Command {
	opts := &DownOptions{IO: f.IOStreams, Config: f.Config, Open: opener(f)}
	return &cobra.Command{
		Use:   "down",
		Short: "Roll back the most recent migration (destructive)",
		Long: `Roll back the most recently applied migration, one step. Its down section
drops what it created, data included, so parkctl asks first; when standard
input is not a terminal, pass --yes.`,
		Example: "  parkctl migrate down\n  parkctl migrate down --yes",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(opts)
			}
			return downRun(cmd.Context(), opts)
		},
	}
}

func downRun(ctx context.Context, opts *DownOptions) error {
	cfg, err := opts.Config()
	if err != nil {
		return err
	}
	m, err := connect(ctx, opts.Config, opts.Open)
	if err != nil {
		return err
	}
	defer m.Close()

	st, err := m.Status(ctx)
	if err != nil {
		return err
	}
	latest := ""
	for _, s := range st {
		if s.Applied {
			latest = s.Name
		}
	}
	w := opts.IO.ErrOut
	if latest == "" {
		fmt.Fprintln(w, "no applied migrations: nothing to roll back")
		return nil
	}
	if err := cmdutil.Confirm(opts.IO, cfg.Yes, fmt.Sprintf("Roll back migration %s and drop what it created?", latest)); err != nil {
		return err
	}
	res, err := m.Down(ctx)
	if err != nil {
		return err
	}
	if res == nil {
		fmt.Fprintln(w, "no applied migrations: nothing to roll back")
		return nil
	}
	fmt.Fprintf(w, "rolled back %s (%s)\n", res.Name, round(res.Duration))
	return nil
}
