package readings

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/parkhq/park/internal/parkctl/cmdutil"
	"github.com/parkhq/park/internal/parkctl/cmdutil/cmdutiltest"
	"github.com/parkhq/park/internal/parkctl/iostreams"
	"github.com/parkhq/park/internal/parkctl/output"
	"github.com/parkhq/park/internal/retention"
)

var acme = uuid.MustParse("00000000-0000-0000-0000-000000000001")

// fakeStore records which method ran.
type fakeStore struct {
	counts   retention.Counts
	err      error
	calls    []string
	actor    string
	tenant   uuid.UUID
	recorded *retention.Counts
}

func (s *fakeStore) PruneTenant(_ context.Context, id uuid.UUID, actor string) (retention.Counts, error) {
	s.calls, s.tenant, s.actor = append(s.calls, "PruneTenant"), id, actor
	return s.counts, s.err
}

func (s *fakeStore) CountTenant(_ context.Context, id uuid.UUID) (retention.Counts, error) {
	s.calls, s.tenant = append(s.calls, "CountTenant"), id
	return s.counts, s.err
}

func (s *fakeStore) PruneAll(context.Context) (retention.Counts, error) {
	s.calls = append(s.calls, "PruneAll")
	return s.counts, s.err
}

func (s *fakeStore) CountAll(context.Context) (retention.Counts, error) {
	s.calls = append(s.calls, "CountAll")
	return s.counts, s.err
}

func (s *fakeStore) RecordPrune(_ context.Context, actor string, c retention.Counts) error {
	s.calls, s.actor, s.recorded = append(s.calls, "RecordPrune"), actor, &c
	return nil
}

func options(s *fakeStore, format output.Format) (*PruneOptions, *bytes.Buffer, *bytes.Buffer) {
	ios, _, out, errOut := iostreams.Test()
	return &PruneOptions{Deps: Deps{
		IO:      ios,
		Printer: func() (*output.Printer, error) { return output.New(ios, format), nil },
		Actor:   func() string { return "operator:alice" },
		Store:   func(context.Context) (Store, error) { return s, nil },
		Tenants: func(context.Context) (cmdutil.TenantLookup, error) {
			return cmdutiltest.Tenants{{ID: acme, Slug: "acme"}}, nil
		},
	}}, out, errOut
}

func TestPruneRun(t *testing.T) {
	t.Parallel()
	c := retention.Counts{Readings: 12, UplinkDedupe: 3, IdempotencyKeys: 2}
	for _, tc := range []struct {
		name   string
		tenant string
		dry    bool
		calls  string
		stderr string
	}{
		{"every tenant", "", false, "PruneAll RecordPrune", "pruned 12 reading(s), 3 dedupe record(s) and 2 idempotency key(s) of every tenant\n"},
		{"every tenant, dry run", "", true, "CountAll", "would prune 12 reading(s), 3 dedupe record(s) and 2 idempotency key(s) of every tenant\n"},
		{"one tenant", "acme", false, "PruneTenant", "pruned 12 reading(s), 3 dedupe record(s) and 2 idempotency key(s) of tenant acme\n"},
		{"one tenant, dry run", "acme", true, "CountTenant", "would prune 12 reading(s), 3 dedupe record(s) and 2 idempotency key(s) of tenant acme\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := &fakeStore{counts: c}
			opts, out, errOut := options(s, output.JSON)
			opts.Tenant, opts.DryRun = tc.tenant, tc.dry
			if err := pruneRun(t.Context(), opts); err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(s.calls, " "); got != tc.calls {
				t.Errorf("calls %q, want %q", got, tc.calls)
			}
			want := fmt.Sprintf("{\n  \"readings\": 12,\n  \"uplink_dedupe\": 3,\n  \"idempotency_keys\": 2,\n  \"dry_run\": %v\n}\n", tc.dry)
			if out.String() != want {
				t.Errorf("stdout %q, want %q", out.String(), want)
			}
			if errOut.String() != tc.stderr {
				t.Errorf("stderr %q, want %q", errOut.String(), tc.stderr)
			}
			if tc.tenant != "" && s.tenant != acme {
				t.Errorf("tenant %s", s.tenant)
			}
			if !tc.dry && (s.actor != "operator:alice") {
				t.Errorf("actor %q", s.actor)
			}
			if !tc.dry && tc.tenant == "" && (s.recorded == nil || *s.recorded != c) {
				t.Errorf("platform audit event: %+v", s.recorded)
			}
		})
	}
}

func TestPruneTable(t *testing.T) {
	t.Parallel()
	opts, out, _ := options(&fakeStore{counts: retention.Counts{Readings: 1, UplinkDedupe: 2, IdempotencyKeys: 3}}, output.Table)
	if err := pruneRun(t.Context(), opts); err != nil {
		t.Fatal(err)
	}
	if out.String() != "readings\t1\nuplink_dedupe\t2\nidempotency_keys\t3\n" {
		t.Errorf("stdout %q", out.String())
	}
}

// A prune that fails part-way still records what went, and says it.
func TestPruneAllFailsPartWay(t *testing.T) {
	t.Parallel()
	s := &fakeStore{counts: retention.Counts{Readings: 5000}, err: errors.New("prune uplink_dedupe: database unavailable")}
	opts, out, _ := options(s, output.Table)
	err := pruneRun(t.Context(), opts)
	if err == nil || !strings.Contains(err.Error(), "after deleting 5000 reading(s)") || out.String() != "" {
		t.Fatalf("err %v, stdout %q", err, out.String())
	}
	if s.recorded == nil || s.recorded.Readings != 5000 {
		t.Errorf("the partial prune was not audited: %+v", s.recorded)
	}
	// One that deleted nothing records nothing.
	s = &fakeStore{err: errors.New("connect to database: refused")}
	opts, _, _ = options(s, output.Table)
	if err := pruneRun(t.Context(), opts); err == nil || s.recorded != nil {
		t.Errorf("err %v, recorded %+v", err, s.recorded)
	}
}

func TestPruneUnknownTenant(t *testing.T) {
	t.Parallel()
	s := &fakeStore{}
	opts, _, _ := options(s, output.Table)
	opts.Tenant = "nosuch"
	err := pruneRun(t.Context(), opts)
	if cmdutil.ExitCode(err) != cmdutil.ExitNotFound || err.Error() != `tenant "nosuch" not found` || len(s.calls) != 0 {
		t.Errorf("err %v (exit %d), calls %v", err, cmdutil.ExitCode(err), s.calls)
	}
}

func TestPruneFlags(t *testing.T) {
	t.Parallel()
	ios, _, _, _ := iostreams.Test()
	f := &cmdutil.Factory{IOStreams: ios}
	var got *PruneOptions
	cmd := NewCmdPrune(f, func(o *PruneOptions) error { got = o; return nil })
	cmd.SetArgs([]string{"--tenant", "acme", "--dry-run"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if got.Tenant != "acme" || !got.DryRun {
		t.Errorf("options %+v", got)
	}
	cmd = NewCmdPrune(f, func(*PruneOptions) error { t.Error("ran with an argument"); return nil })
	cmd.SetArgs([]string{"acme"})
	cmd.SetErr(&strings.Builder{})
	if err := cmd.Execute(); err == nil {
		t.Error("an argument was accepted")
	}
	if !strings.Contains(cmd.Example, "parkctl readings prune") || cmd.Long == "" {
		t.Error("prune has no example of itself or no long help")
	}
}
