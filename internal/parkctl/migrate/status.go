package migrate

import (
	"context"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/parkhq/park/internal/parkctl/cmdutil"
	"github.com/parkhq/park/internal/parkctl/iostreams"
	"github.com/parkhq/park/internal/parkctl/output"
)

// StatusOptions are the dependencies of `migrate status`.
type StatusOptions struct {
	IO      *iostreams.IOStreams
	Config  func() (*cmdutil.Config, error)
	Printer func() (*output.Printer, error)
	Open    OpenFunc
}

// statusRow is one migration as `migrate status` prints it.
type statusRow struct {
	Version   int64      `json:"version"`
	Name      string     `json:"name"`
	State     string     `json:"state"` // applied or pending
	AppliedAt *time.Time `json:"applied_at"`
}

// NewCmdStatus returns `migrate status`. runF replaces the run function in
// tests.
func NewCmdStatus(f *cmdutil.Factory, runF func(*StatusOptions) error) *cobra.Command {
	opts := &StatusOptions{IO: f.IOStreams, Config: f.Config, Printer: f.Printer, Open: opener(f)}
	return &cobra.Command{
		Use:   "status",
		Short: "List every migration and whether it is applied",
		Long: `List every known migration: VERSION, NAME, STATE (applied or pending) and
APPLIED_AT (RFC 3339, UTC; empty when pending). With -o json, an array of
{"version", "name", "state", "applied_at"} objects.`,
		Example: "  parkctl migrate status\n  parkctl migrate status -o json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(opts)
			}
			return statusRun(cmd.Context(), opts)
		},
	}
}

func statusRun(ctx context.Context, opts *StatusOptions) error {
	p, err := opts.Printer()
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
	rows := make([]statusRow, 0, len(st))
	for _, s := range st {
		r := statusRow{Version: s.Version, Name: s.Name, State: "pending"}
		if s.Applied {
			r.State = "applied"
			at := s.AppliedAt.UTC()
			r.AppliedAt = &at
		}
		rows = append(rows, r)
	}
	return output.List(p, rows,
		output.Column[statusRow]{Header: "VERSION", Value: func(r statusRow) string { return strconv.FormatInt(r.Version, 10) }},
		output.Column[statusRow]{Header: "NAME", Value: func(r statusRow) string { return r.Name }},
		output.Column[statusRow]{Header: "STATE", Value: func(r statusRow) string { return r.State }},
		output.Column[statusRow]{Header: "APPLIED_AT", Value: func(r statusRow) string {
			if r.AppliedAt == nil {
				return ""
			}
			return r.AppliedAt.Format(time.RFC3339)
		}},
	)
}
