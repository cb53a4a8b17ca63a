package dashboard

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parkhq/park/ingest"
	"github.com/parkhq/park/internal/parkctl/cmdutil"
	"github.com/parkhq/park/internal/parkctl/iostreams"
	"github.com/parkhq/park/internal/parkctl/tui"
	"github.com/parkhq/park/tenancy"
)

// TestFlags: the defaults, and out-of-range values as usage errors.
func TestFlags(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args    []string
		code    int
		refresh time.Duration
		silent  time.Duration
		tenant  string
	}{
		{args: nil, refresh: 5 * time.Second, silent: time.Hour},
		{args: []string{"--tenant", "acme", "--refresh", "2s", "--silent-after", "30m"},
			refresh: 2 * time.Second, silent: 30 * time.Minute, tenant: "acme"},
		{args: []string{"--refresh", "500ms"}, code: cmdutil.ExitUsage},
		{args: []string{"--refresh", "2h"}, code: cmdutil.ExitUsage},
		{args: []string{"--silent-after", "10s"}, code: cmdutil.ExitUsage},
	}
	for _, tt := range tests {
		ios, _, _, _ := iostreams.Test()
		var got *Options
		cmd := NewCmdDashboard(&cmdutil.Factory{IOStreams: ios}, func(o *Options) error { got = o; return nil })
		cmd.SetArgs(tt.args)
		cmd.SetOut(io.Discard)
		cmd.SetErr(io.Discard)
		err := cmd.Execute()
		if code := cmdutil.ExitCode(err); code != tt.code {
			t.Errorf("%v: exit %d (%v), want %d", tt.args, code, err, tt.code)
			continue
		}
		if tt.code == 0 && (got.Refresh != tt.refresh || got.SilentAfter != tt.silent || got.Tenant != tt.tenant) {
			t.Errorf("%v: %+v", tt.args, got)
		}
	}
}

// options returns Options of a run on pool, with the program replaced by
// one that records the model.
func options(ios *iostreams.IOStreams, pool *pgxpool.Pool, started *tea.Model) *Options {
	return &Options{
		IO:        ios,
		Now:       func() time.Time { return fixedNow },
		Actor:     func() string { return "operator:test" },
		ErrorText: cmdutil.ErrorMessage,
		Tenants:   func(context.Context) (cmdutil.TenantLookup, error) { return tenancy.NewOps(pool), nil },
		Store: func(context.Context) (tui.Store, error) {
			return NewStore(tenancy.NewOps(pool), tenancy.NewStore(pool), ingest.StoreOptions{}), nil
		},
		Program: func(_ context.Context, m tea.Model, _ io.Reader, _ io.Writer) error {
			*started = m
			return nil
		},
		Refresh:     tui.DefaultRefresh,
		SilentAfter: tui.DefaultSilentAfter,
	}
}

// TestRefusesWithoutTerminal: on a pipe the dashboard exits 2 and names the
// plain commands, before it opens anything.
func TestRefusesWithoutTerminal(t *testing.T) {
	t.Parallel()
	for _, tty := range [][2]bool{{false, false}, {true, false}, {false, true}} {
		ios, _, _, _ := iostreams.Test()
		ios.SetStdinTTY(tty[0])
		ios.SetStdoutTTY(tty[1])
		var started tea.Model
		opts := options(ios, nil, &started)
		opts.Store = func(context.Context) (tui.Store, error) { t.Fatal("opened the store"); return nil, nil }
		err := run(t.Context(), opts)
		var ee *cmdutil.ExitError
		if !errors.As(err, &ee) || ee.Code != cmdutil.ExitUsage || !errors.Is(err, ErrNoTerminal) || started != nil {
			t.Fatalf("stdin tty %v, stdout tty %v: %v", tty[0], tty[1], err)
		}
		if msg := cmdutil.ErrorMessage(err); !strings.Contains(msg, "needs a terminal") || !strings.Contains(msg, "parkctl site list --tenant S") {
			t.Fatalf("message %q", msg)
		}
	}
}

// TestRun: on a terminal the dashboard resolves --tenant (an unknown one
// exits 3 before the UI starts) and runs the UI scoped to it, without
// colour when colour is off.
func TestRun(t *testing.T) {
	t.Parallel()
	w := seedSmall(t, fixedNow)
	pool := w.opsPool(t, false)
	ios, _, _, _ := iostreams.Test()
	ios.SetStdinTTY(true)
	ios.SetStdoutTTY(true)

	var started tea.Model
	opts := options(ios, pool, &started)
	opts.Tenant = "nosuch"
	if err := run(t.Context(), opts); cmdutil.ExitCode(err) != cmdutil.ExitNotFound || started != nil {
		t.Fatalf("unknown tenant: %v (exit %d)", err, cmdutil.ExitCode(err))
	}

	opts.Tenant = w.tenants["beta"].String()
	opts.Refresh = time.Second // so that running the first commands waits for the timer a second only
	var screen string
	opts.Program = func(_ context.Context, m tea.Model, _ io.Reader, _ io.Writer) error {
		// What the program does first: size the model and run its first
		// commands (the load of the overview, the timer).
		started = m
		m, _ = m.Update(tea.WindowSizeMsg{Width: 80, Height: 24})
		for _, msg := range runCmd(started.Init()) {
			m, _ = m.Update(msg)
		}
		screen = m.View()
		return nil
	}
	if err := run(t.Context(), opts); err != nil || started == nil {
		t.Fatalf("run: %v", err)
	}
	if !strings.Contains(screen, "tenant beta") || !strings.Contains(screen, "Spaces    2 in 1 site of 1 tenant") || strings.Contains(screen, "\x1b[") {
		t.Fatalf("screen:\n%s", screen)
	}
}

// runCmd runs cmd and a batch's commands in turn and returns their
// messages.
func runCmd(cmd tea.Cmd) []tea.Msg {
	if cmd == nil {
		return nil
	}
	done := make(chan tea.Msg, 1)
	go func() { done <- cmd() }()
	select {
	case msg := <-done:
		if b, ok := msg.(tea.BatchMsg); ok {
			var out []tea.Msg
			for _, c := range b {
				out = append(out, runCmd(c)...)
			}
			return out
		}
		return []tea.Msg{msg}
	case <-time.After(10 * time.Second):
		return nil
	}
}
