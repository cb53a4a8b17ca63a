package migrate

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/parkhq/park/internal/parkctl/cmdutil"
	"github.com/parkhq/park/internal/parkctl/iostreams"
	"github.com/parkhq/park/internal/parkctl/output"
	"github.com/parkhq/park/migrations"
)

// fakeMigrator records calls and returns canned answers.
type fakeMigrator struct {
	status []migrations.Status
	up     []migrations.Result
	upErr  error
	down   *migrations.Result
	downs  int
	closed bool
	gotURL string
}

func (m *fakeMigrator) Up(context.Context) ([]migrations.Result, error) { return m.up, m.upErr }
func (m *fakeMigrator) Down(context.Context) (*migrations.Result, error) {
	m.downs++
	return m.down, nil
}
func (m *fakeMigrator) Status(context.Context) ([]migrations.Status, error) { return m.status, nil }
func (m *fakeMigrator) Close() error                                        { m.closed = true; return nil }

func (m *fakeMigrator) open(_ context.Context, url string) (Migrator, error) {
	m.gotURL = url
	return m, nil
}

func config(c cmdutil.Config) func() (*cmdutil.Config, error) {
	return func() (*cmdutil.Config, error) { return &c, nil }
}

func printer(ios *iostreams.IOStreams, f output.Format) func() (*output.Printer, error) {
	return func() (*output.Printer, error) { return output.New(ios, f), nil }
}

var applied = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func statuses() []migrations.Status {
	return []migrations.Status{
		{Version: 1, Name: "00001_tenancy.sql", Applied: true, AppliedAt: applied},
		{Version: 2, Name: "00002_reservations.sql", Applied: true, AppliedAt: applied.Add(time.Second)},
		{Version: 3, Name: "00003_ingest.sql"},
	}
}

func TestStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		format output.Format
		tty    bool
		want   string
	}{
		{output.Table, false, "1\t00001_tenancy.sql\tapplied\t2026-01-02T03:04:05Z\n" +
			"2\t00002_reservations.sql\tapplied\t2026-01-02T03:04:06Z\n" +
			"3\t00003_ingest.sql\tpending\t\n"},
		{output.Table, true, "VERSION  NAME                    STATE    APPLIED_AT\n" +
			"1        00001_tenancy.sql       applied  2026-01-02T03:04:05Z\n" +
			"2        00002_reservations.sql  applied  2026-01-02T03:04:06Z\n" +
			"3        00003_ingest.sql        pending  \n"},
		{output.JSON, false, `[
  {
    "version": 1,
    "name": "00001_tenancy.sql",
    "state": "applied",
    "applied_at": "2026-01-02T03:04:05Z"
  },
  {
    "version": 2,
    "name": "00002_reservations.sql",
    "state": "applied",
    "applied_at": "2026-01-02T03:04:06Z"
  },
  {
    "version": 3,
    "name": "00003_ingest.sql",
    "state": "pending",
    "applied_at": null
  }
]
`},
	}
	for _, tt := range tests {
		ios, _, out, _ := iostreams.Test()
		ios.SetStdoutTTY(tt.tty)
		m := &fakeMigrator{status: statuses()}
		opts := &StatusOptions{IO: ios, Config: config(cmdutil.Config{DatabaseURL: "postgres:///x"}),
			Printer: printer(ios, tt.format), Open: m.open}
		if err := statusRun(t.Context(), opts); err != nil {
			t.Fatal(err)
		}
		if out.String() != tt.want {
			t.Errorf("%s tty=%v:\n%s\nwant:\n%s", tt.format, tt.tty, out.String(), tt.want)
		}
		if !m.closed || m.gotURL != "postgres:///x" {
			t.Errorf("closed=%v url=%q", m.closed, m.gotURL)
		}
	}
}

func TestUpPartialFailure(t *testing.T) {
	t.Parallel()
	ios, _, out, errOut := iostreams.Test()
	m := &fakeMigrator{
		up: []migrations.Result{{Version: 1, Name: "00001_tenancy.sql", Duration: 12 * time.Millisecond}},
		upErr: &migrations.PartialError{
			Applied: []migrations.Result{{Version: 1, Name: "00001_tenancy.sql"}},
			Failed:  migrations.Result{Version: 2, Name: "00002_reservations.sql"},
			Err:     errors.New("syntax error at or near \"CREAT\""),
		},
	}
	err := upRun(t.Context(), &UpOptions{IO: ios, Config: config(cmdutil.Config{DatabaseURL: "u"}), Open: m.open})
	if err == nil || !strings.Contains(err.Error(), "00002_reservations.sql failed") || !strings.Contains(err.Error(), "CREAT") {
		t.Fatalf("err = %v", err)
	}
	if !strings.Contains(errOut.String(), "applied 00001_tenancy.sql (12ms)") {
		t.Errorf("stderr %q does not list the applied migration", errOut.String())
	}
	if out.Len() != 0 {
		t.Errorf("stdout %q, want nothing", out.String())
	}
}

func TestUpNothingPending(t *testing.T) {
	t.Parallel()
	ios, _, _, errOut := iostreams.Test()
	m := &fakeMigrator{}
	if err := upRun(t.Context(), &UpOptions{IO: ios, Config: config(cmdutil.Config{DatabaseURL: "u"}), Open: m.open}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(errOut.String(), "up to date") {
		t.Errorf("stderr %q", errOut.String())
	}
}

func TestDown(t *testing.T) {
	t.Parallel()
	t.Run("refuses without a terminal or --yes", func(t *testing.T) {
		t.Parallel()
		ios, _, _, _ := iostreams.Test()
		m := &fakeMigrator{status: statuses(), down: &migrations.Result{Name: "00002_reservations.sql"}}
		err := downRun(t.Context(), &DownOptions{IO: ios, Config: config(cmdutil.Config{DatabaseURL: "u"}), Open: m.open})
		var ee *cmdutil.ExitError
		if !errors.As(err, &ee) || ee.Code != cmdutil.ExitUsage {
			t.Fatalf("err = %v, want a usage error", err)
		}
		if !strings.Contains(err.Error(), "00002_reservations.sql") {
			t.Errorf("error %q does not name the migration", err)
		}
		if m.downs != 0 {
			t.Fatal("rolled back without confirmation")
		}
	})
	t.Run("--yes rolls back one", func(t *testing.T) {
		t.Parallel()
		ios, _, _, errOut := iostreams.Test()
		m := &fakeMigrator{status: statuses(), down: &migrations.Result{Name: "00002_reservations.sql"}}
		err := downRun(t.Context(), &DownOptions{IO: ios, Config: config(cmdutil.Config{DatabaseURL: "u", Yes: true}), Open: m.open})
		if err != nil || m.downs != 1 {
			t.Fatalf("err %v downs %d", err, m.downs)
		}
		if !strings.Contains(errOut.String(), "rolled back 00002_reservations.sql") {
			t.Errorf("stderr %q", errOut.String())
		}
	})
	t.Run("terminal answer no", func(t *testing.T) {
		t.Parallel()
		ios, in, _, _ := iostreams.Test()
		ios.SetStdinTTY(true)
		in.WriteString("n\n")
		m := &fakeMigrator{status: statuses()}
		err := downRun(t.Context(), &DownOptions{IO: ios, Config: config(cmdutil.Config{DatabaseURL: "u"}), Open: m.open})
		if !errors.Is(err, cmdutil.ErrCancelled) || m.downs != 0 {
			t.Fatalf("err %v downs %d", err, m.downs)
		}
	})
	t.Run("nothing applied", func(t *testing.T) {
		t.Parallel()
		ios, _, _, errOut := iostreams.Test()
		m := &fakeMigrator{status: []migrations.Status{{Version: 1, Name: "00001_tenancy.sql"}}}
		err := downRun(t.Context(), &DownOptions{IO: ios, Config: config(cmdutil.Config{DatabaseURL: "u"}), Open: m.open})
		if err != nil || m.downs != 0 || !strings.Contains(errOut.String(), "nothing to roll back") {
			t.Fatalf("err %v downs %d stderr %q", err, m.downs, errOut.String())
		}
	})
}

func TestVerify(t *testing.T) {
	t.Parallel()
	verify := func(problems ...string) func(context.Context, string) (*migrations.Report, error) {
		return func(context.Context, string) (*migrations.Report, error) {
			return &migrations.Report{Problems: problems}, nil
		}
	}
	t.Run("problems exit 4 and go to stdout", func(t *testing.T) {
		t.Parallel()
		ios, _, out, errOut := iostreams.Test()
		err := verifyRun(t.Context(), &VerifyOptions{IO: ios, Config: config(cmdutil.Config{DatabaseURL: "u"}),
			Printer: printer(ios, output.Table), Verify: verify("table public.sites: row-level security is not forced", "b")})
		var ee *cmdutil.ExitError
		if !errors.As(err, &ee) || ee.Code != cmdutil.ExitProblems {
			t.Fatalf("err = %v, want exit 4", err)
		}
		if out.String() != "table public.sites: row-level security is not forced\nb\n" {
			t.Errorf("stdout %q", out.String())
		}
		if errOut.Len() != 0 {
			t.Errorf("stderr %q: Main prints the summary", errOut.String())
		}
	})
	t.Run("clean prints an empty array in json", func(t *testing.T) {
		t.Parallel()
		ios, _, out, errOut := iostreams.Test()
		err := verifyRun(t.Context(), &VerifyOptions{IO: ios, Config: config(cmdutil.Config{DatabaseURL: "u"}),
			Printer: printer(ios, output.JSON), Verify: verify()})
		if err != nil {
			t.Fatal(err)
		}
		if out.String() != "[]\n" || !strings.Contains(errOut.String(), "ok") {
			t.Errorf("stdout %q stderr %q", out.String(), errOut.String())
		}
	})
	t.Run("needs a database URL", func(t *testing.T) {
		t.Parallel()
		ios, _, _, _ := iostreams.Test()
		err := verifyRun(t.Context(), &VerifyOptions{IO: ios, Config: config(cmdutil.Config{}),
			Printer: printer(ios, output.Table), Verify: verify()})
		var ee *cmdutil.ExitError
		if !errors.As(err, &ee) || ee.Code != cmdutil.ExitUsage {
			t.Fatalf("err = %v", err)
		}
	})
}
