// Package dashboard holds `parkctl dashboard`: the cobra verb that starts
// the terminal UI of internal/parkctl/tui, and Store, the UI's data on
// Park's database.
package dashboard

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/google/uuid"
	"github.com/muesli/termenv"
	"github.com/spf13/cobra"

	"github.com/parkhq/park/ingest"
	"github.com/parkhq/park/internal/parkctl/cmdutil"
	"github.com/parkhq/park/internal/parkctl/iostreams"
	"github.com/parkhq/park/internal/parkctl/tui"
)

// Bounds of the flags.
const (
	minRefresh = time.Second
	maxRefresh = time.Hour
)

// Options are the dependencies and flags of `dashboard`.
type Options struct {
	IO      *iostreams.IOStreams
	Now     func() time.Time
	Actor   func() string
	Tenants func(ctx context.Context) (cmdutil.TenantLookup, error)
	Store   func(ctx context.Context) (tui.Store, error)
	// ErrorText is how errors read in the status line (the CLI's one-line
	// messages with their hints).
	ErrorText func(error) string
	// Program runs the model; nil means a bubbletea program on the
	// terminal (the alternate screen). Tests replace it.
	Program func(ctx context.Context, m tea.Model, in io.Reader, out io.Writer) error

	Tenant      string
	Refresh     time.Duration
	SilentAfter time.Duration
}

// NewCmdDashboard returns `dashboard`. runF replaces the run function in
// tests of flag parsing.
func NewCmdDashboard(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{
		IO:        f.IOStreams,
		Now:       f.Now,
		Actor:     f.Actor,
		Tenants:   func(ctx context.Context) (cmdutil.TenantLookup, error) { return f.Ops(ctx) },
		ErrorText: cmdutil.ErrorMessage,
		Store: func(ctx context.Context) (tui.Store, error) {
			ops, err := f.Ops(ctx)
			if err != nil {
				return nil, err
			}
			st, err := f.Store(ctx)
			if err != nil {
				return nil, err
			}
			return NewStore(ops, st, ingest.StoreOptions{Now: f.Now, Logger: f.Logger}), nil
		},
	}
	cmd := &cobra.Command{
		Use:   "dashboard [--tenant SLUG|ID] [--refresh 5s] [--silent-after 1h]",
		Short: "Watch every tenant live in a terminal UI",
		Long: strings.TrimSpace(`
A live terminal view of the deployment that an operator can keep open all
day, refreshed every --refresh (5s), with five views:

  1 Overview       per tenant: sites; spaces free, occupied and unknown;
                   uplinks in the last 5 minutes and per minute over the
                   last hour; orphan devices waiting; reservation conflicts;
                   API keys and webhook secrets expiring within 14 days
  2 Sites          occupancy of each site as a bar and the age of its last
                   reading; enter lists its spaces, with the sensors silent
                   for longer than --silent-after (1h) marked
  3 Orphans        devices that belong to no space: a assigns one to a
                   space picked from a filtered list, i ignores it (both
                   ask first, and are audited as the operator)
  4 Reservations   confirmed reservations under way or ahead, conflicts
                   marked
  5 Keys           API keys and webhook secrets: age, expiry, last use

Tab and the number keys switch views, enter opens, esc goes back, / filters
the list shown, r refreshes now, ? shows every key, q quits. --tenant shows
one tenant only. When the database goes away the last figures stay on
screen, the status line says "reconnecting", and the dashboard recovers by
itself once the database answers again. NO_COLOR turns colour off.

The dashboard needs a terminal; scripts use the plain commands (tenant
list, site list, space list, orphans list, reservations audit, …), which
print tables, JSON or YAML.`),
		Example: strings.TrimPrefix(`
  parkctl dashboard
  parkctl dashboard --tenant acme --refresh 2s
  NO_COLOR=1 parkctl dashboard --silent-after 30m`, "\n"),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if opts.Refresh < minRefresh || opts.Refresh > maxRefresh {
				return cmdutil.FlagErrorf("--refresh must be between %s and %s, not %s", minRefresh, maxRefresh, opts.Refresh)
			}
			if opts.SilentAfter < time.Minute {
				return cmdutil.FlagErrorf("--silent-after must be at least 1m, not %s", opts.SilentAfter)
			}
			if runF != nil {
				return runF(opts)
			}
			return run(cmd.Context(), opts)
		},
	}
	cmdutil.AddTenantFlag(cmd, &opts.Tenant, false)
	cmd.Flags().DurationVar(&opts.Refresh, "refresh", tui.DefaultRefresh, "how often the view on screen is loaded again (1s to 1h)")
	cmd.Flags().DurationVar(&opts.SilentAfter, "silent-after", tui.DefaultSilentAfter, "mark spaces whose sensor has sent nothing for this long")
	return cmd
}

// ErrNoTerminal refuses to run the dashboard on a pipe or file.
var ErrNoTerminal = errors.New("the dashboard needs a terminal on standard input and output; " +
	"in scripts use the plain commands: parkctl tenant list, parkctl site list --tenant S, " +
	"parkctl space list --tenant S, parkctl orphans list --tenant S, parkctl reservations audit")

func run(ctx context.Context, opts *Options) error {
	if !opts.IO.IsStdinTTY() || !opts.IO.IsStdoutTTY() {
		return &cmdutil.ExitError{Code: cmdutil.ExitUsage, Err: ErrNoTerminal}
	}
	var tenantID uuid.UUID
	slug := ""
	if opts.Tenant != "" {
		l, err := opts.Tenants(ctx)
		if err != nil {
			return err
		}
		t, err := cmdutil.ResolveTenant(ctx, l, opts.Tenant)
		if err != nil {
			return err
		}
		tenantID, slug = t.ID, t.Slug
	}
	store, err := opts.Store(ctx)
	if err != nil {
		return err
	}
	// The loads still running when the dashboard quits end with it.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	renderer := lipgloss.NewRenderer(opts.IO.Out)
	if !opts.IO.ColorEnabled() {
		renderer.SetColorProfile(termenv.Ascii)
	}
	m := tui.New(tui.Options{
		Store:       store,
		TenantID:    tenantID,
		TenantSlug:  slug,
		Refresh:     opts.Refresh,
		SilentAfter: opts.SilentAfter,
		Now:         opts.Now,
		Actor:       opts.Actor(),
		Renderer:    renderer,
		Context:     ctx,
		ErrorText:   opts.ErrorText,
	})
	program := opts.Program
	if program == nil {
		program = runProgram
	}
	if err := program(ctx, m, opts.IO.In, opts.IO.Out); err != nil {
		return fmt.Errorf("dashboard: %w", err)
	}
	return nil
}

// runProgram runs m full screen until it quits.
func runProgram(ctx context.Context, m tea.Model, in io.Reader, out io.Writer) error {
	p := tea.NewProgram(m, tea.WithAltScreen(), tea.WithContext(ctx), tea.WithInput(in), tea.WithOutput(out))
	_, err := p.Run()
	if errors.Is(err, tea.ErrInterrupted) {
		return nil // ctrl+c outside the UI's own key handling: a quit
	}
	if errors.Is(err, tea.ErrProgramKilled) && ctx.Err() != nil {
		return ctx.Err() // SIGTERM: "interrupted"
	}
	return err
}
