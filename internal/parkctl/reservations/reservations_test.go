package reservations

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/parkhq/park/internal/parkctl/cmdutil"
	"github.com/parkhq/park/internal/parkctl/cmdutil/cmdutiltest"
	"github.com/parkhq/park/internal/parkctl/iostreams"
	"github.com/parkhq/park/internal/parkctl/output"
	"github.com/parkhq/park/reservation"
)

type fakeStore struct {
	rep    *reservation.AuditReport
	err    error
	got    *reservation.AuditParams
	pruned int64
	batch  int
}

func (s *fakeStore) Audit(_ context.Context, p *reservation.AuditParams) (*reservation.AuditReport, error) {
	s.got = p
	return s.rep, s.err
}

func (s *fakeStore) PruneExpiredKeys(_ context.Context, batch int) (int64, error) {
	s.batch = batch
	return s.pruned, s.err
}

func printer(ios *iostreams.IOStreams, f output.Format) func() (*output.Printer, error) {
	return func() (*output.Printer, error) { return output.New(ios, f), nil }
}

var (
	tenant   = uuid.MustParse("00000000-0000-0000-0000-000000000001")
	space    = uuid.MustParse("00000000-0000-0000-0000-000000000003")
	resA     = uuid.MustParse("00000000-0000-0000-0000-00000000000a")
	resB     = uuid.MustParse("00000000-0000-0000-0000-00000000000b")
	at       = time.Date(2030, 1, 1, 10, 0, 0, 0, time.UTC)
	conflict = reservation.Finding{Kind: reservation.FindingConflict, TenantID: tenant, TenantSlug: "acme", SpaceID: space,
		ReservationID: resA, StartsAt: at, EndsAt: at.Add(2 * time.Hour), ConflictingID: &resB, Detail: "overlap"}
)

func auditOpts(ios *iostreams.IOStreams, f output.Format, s *fakeStore) *AuditOptions {
	return &AuditOptions{IO: ios, Printer: printer(ios, f), Limit: 10,
		Store: func(context.Context) (Auditor, error) { return s, nil },
		Tenants: func(context.Context) (cmdutil.TenantLookup, error) {
			return cmdutiltest.Tenants{{ID: tenant, Slug: "acme"}}, nil
		}}
}

func TestAuditFindings(t *testing.T) {
	t.Parallel()
	tests := []struct {
		format output.Format
		want   string
	}{
		{output.Table, "conflict\tacme\t" + space.String() + "\t" + resA.String() + "\t" + resB.String() + "\toverlap\n"},
		{output.JSON, `[
  {
    "kind": "conflict",
    "tenant_id": "00000000-0000-0000-0000-000000000001",
    "tenant_slug": "acme",
    "space_id": "00000000-0000-0000-0000-000000000003",
    "reservation_id": "00000000-0000-0000-0000-00000000000a",
    "starts_at": "2030-01-01T10:00:00Z",
    "ends_at": "2030-01-01T12:00:00Z",
    "conflicting_id": "00000000-0000-0000-0000-00000000000b",
    "detail": "overlap"
  }
]
`},
	}
	for _, tt := range tests {
		ios, _, out, _ := iostreams.Test()
		s := &fakeStore{rep: &reservation.AuditReport{Findings: []reservation.Finding{conflict}}}
		opts := auditOpts(ios, tt.format, s)
		opts.Tenant = "acme"
		err := auditRun(t.Context(), opts)
		var exit *cmdutil.ExitError
		if !errors.As(err, &exit) || exit.Code != cmdutil.ExitProblems || !strings.Contains(err.Error(), "1 problem(s) found") {
			t.Fatalf("%s: err = %v, want exit 4", tt.format, err)
		}
		if out.String() != tt.want {
			t.Errorf("%s:\n%s\nwant:\n%s", tt.format, out.String(), tt.want)
		}
		if s.got.TenantSlug != "acme" || s.got.Limit != 10 {
			t.Errorf("audit params %+v", s.got)
		}
	}
}

func TestAuditClean(t *testing.T) {
	t.Parallel()
	for format, want := range map[output.Format]string{output.Table: "", output.JSON: "[]\n"} {
		ios, _, out, errOut := iostreams.Test()
		s := &fakeStore{rep: &reservation.AuditReport{Findings: []reservation.Finding{}}}
		if err := auditRun(t.Context(), auditOpts(ios, format, s)); err != nil {
			t.Fatal(err)
		}
		if out.String() != want || !strings.Contains(errOut.String(), "no problems found in every tenant") {
			t.Errorf("%s: stdout %q, stderr %q", format, out.String(), errOut.String())
		}
	}
}

func TestAuditErrors(t *testing.T) {
	t.Parallel()
	ios, _, _, errOut := iostreams.Test()
	s := &fakeStore{err: fmt.Errorf("audit reservations: %w", reservation.ErrPartialView)}
	err := auditRun(t.Context(), auditOpts(ios, output.Table, s))
	var exit *cmdutil.ExitError
	if cmdutil.ExitCode(err) != cmdutil.ExitFailure || !strings.Contains(cmdutil.ErrorMessage(err), "park_admin") {
		t.Errorf("partial view: %v, want exit 1 with a hint to use park_admin", err)
	}

	s = &fakeStore{}
	opts := auditOpts(ios, output.Table, s)
	opts.Tenant = "nope"
	if err := auditRun(t.Context(), opts); cmdutil.ExitCode(err) != cmdutil.ExitNotFound || err.Error() != `tenant "nope" not found` || s.got != nil {
		t.Errorf("unknown tenant: %v, want exit 3 before the audit", err)
	}
	// A tenant named by id is audited by its slug.
	opts.Tenant = tenant.String()
	s.rep = &reservation.AuditReport{}
	if err := auditRun(t.Context(), opts); err != nil || s.got.TenantSlug != "acme" {
		t.Errorf("by id: %v, params %+v", err, s.got)
	}

	s = &fakeStore{rep: &reservation.AuditReport{Findings: []reservation.Finding{conflict}, Truncated: true}}
	if err := auditRun(t.Context(), auditOpts(ios, output.Table, s)); !errors.As(err, &exit) {
		t.Errorf("truncated findings: %v, want exit 4", err)
	}
	if !strings.Contains(errOut.String(), "more findings than --limit 10") {
		t.Errorf("truncation not reported: %q", errOut.String())
	}
}

func TestAuditFlags(t *testing.T) {
	t.Parallel()
	ios, _, _, _ := iostreams.Test()
	f := &cmdutil.Factory{IOStreams: ios}
	var got *AuditOptions
	cmd := NewCmdAudit(f, func(o *AuditOptions) error { got = o; return nil })
	cmd.SetArgs([]string{"--tenant", "acme", "--limit", "5"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if got.Tenant != "acme" || got.Limit != 5 {
		t.Errorf("options %+v", got)
	}
	cmd = NewCmdAudit(f, func(*AuditOptions) error { return nil })
	cmd.SetArgs([]string{"--limit", "0"})
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	var flagErr *cmdutil.FlagError
	if err := cmd.Execute(); !errors.As(err, &flagErr) {
		t.Errorf("--limit 0: %v, want a usage error", err)
	}
}

func TestPruneKeys(t *testing.T) {
	t.Parallel()
	ios, _, out, _ := iostreams.Test()
	s := &fakeStore{pruned: 42}
	opts := &PruneKeysOptions{IO: ios, Printer: printer(ios, output.JSON), Batch: 7,
		Store: func(context.Context) (Pruner, error) { return s, nil }}
	if err := pruneKeysRun(t.Context(), opts); err != nil {
		t.Fatal(err)
	}
	if out.String() != "{\n  \"deleted\": 42\n}\n" || s.batch != 7 {
		t.Errorf("stdout %q, batch %d", out.String(), s.batch)
	}
}
