package audit

import (
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/spf13/cobra"

	"github.com/parkhq/park/internal/parkctl/cmdutil"
	"github.com/parkhq/park/internal/parkctl/cmdutil/cmdutiltest"
	"github.com/parkhq/park/internal/parkctl/iostreams"
	"github.com/parkhq/park/internal/parkctl/output"
	"github.com/parkhq/park/tenancy"
)

var (
	acme = tenancy.Tenant{ID: uuid.MustParse("00000000-0000-0000-0000-000000000001"), Slug: "acme"}
	now  = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
)

// fakeStore resolves acme only and returns fixed events, recording the
// parameters it was asked with.
type fakeStore struct {
	cmdutiltest.Tenants
	events []tenancy.OpsAuditEntry
	asked  []tenancy.AuditListAllParams
}

func (s *fakeStore) AuditListAll(_ context.Context, p tenancy.AuditListAllParams) ([]tenancy.OpsAuditEntry, error) {
	s.asked = append(s.asked, p)
	return s.events, nil
}

func quiet(cmd *cobra.Command) *cobra.Command {
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	cmd.SetOut(io.Discard)
	cmd.SetErr(io.Discard)
	return cmd
}

func TestParseSince(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]time.Time{
		"24h":                       now.Add(-24 * time.Hour),
		"7d":                        now.Add(-7 * 24 * time.Hour),
		"90m":                       now.Add(-90 * time.Minute),
		" 1s ":                      now.Add(-time.Second),
		"2026-01-31T12:00:00Z":      time.Date(2026, 1, 31, 12, 0, 0, 0, time.UTC),
		"2026-01-31T13:00:00+01:00": time.Date(2026, 1, 31, 12, 0, 0, 0, time.UTC),
		"2026-01-31T12:00:00.5Z":    time.Date(2026, 1, 31, 12, 0, 0, 5e8, time.UTC),
		"1970-01-01T00:00:00Z":      tenancy.MinTime,
	} {
		got, err := ParseSince(in, now)
		if err != nil || !got.Equal(want) || got.Location() != time.UTC {
			t.Errorf("ParseSince(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for in, why := range map[string]string{
		"":                     "neither a positive duration nor a time",
		"0s":                   "neither a positive duration nor a time",
		"-24h":                 "neither a positive duration nor a time",
		"-1d":                  "neither a positive duration nor a time",
		"yesterday":            "neither a positive duration nor a time",
		"2026-01-31":           "neither a positive duration nor a time",
		"2026-01-31 12:00:00":  "neither a positive duration nor a time",
		"1969-12-31T23:59:59Z": "must fall within the years 1970 to 9999",
		"30000d":               "must fall within the years 1970 to 9999",
		"2000000h":             "must fall within the years 1970 to 9999",
	} {
		_, err := ParseSince(in, now)
		if cmdutil.ExitCode(err) != cmdutil.ExitUsage || !strings.Contains(err.Error(), why) || !strings.Contains(err.Error(), "such as 24h or 7d") {
			t.Errorf("ParseSince(%q) = %v; want a usage error saying %q", in, err, why)
		}
	}
}

func TestFlags(t *testing.T) {
	t.Parallel()
	ios, _, _, _ := iostreams.Test()
	f := &cmdutil.Factory{IOStreams: ios, Now: func() time.Time { return now }}
	day := now.Add(-24 * time.Hour)
	for _, tt := range []struct {
		args   []string
		err    string
		tenant string
		action string
		since  *time.Time
		limit  int
	}{
		{args: nil, limit: DefaultLimit},
		{args: []string{"--tenant", "acme", "--action", "site.create", "--since", "24h", "--limit", "5"},
			tenant: "acme", action: "site.create", since: &day, limit: 5},
		{args: []string{"--since", "2026-02-28T12:00:00Z"}, since: &day, limit: DefaultLimit},
		{args: []string{"--limit", "10000"}, limit: 10000},
		{args: []string{"--limit", "0"}, err: "--limit must be between 1 and 10000, not 0"},
		{args: []string{"--limit", "10001"}, err: "--limit must be between 1 and 10000"},
		{args: []string{"--limit", "-5"}, err: "--limit must be between 1 and 10000"},
		{args: []string{"--limit", "many"}, err: "invalid argument"},
		{args: []string{"--since", "-1h"}, err: "--since \"-1h\""},
		{args: []string{"--since", ""}, err: "--since \"\""},
		{args: []string{"--tenant", ""}, err: "--tenant must not be empty"},
		{args: []string{"extra"}, err: "unknown command"},
	} {
		var got *Options
		cmd := quiet(NewCmdAudit(f, func(o *Options) error { got = o; return nil }))
		cmd.SetArgs(tt.args)
		err := cmd.Execute()
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) || got != nil {
				t.Errorf("%q: err %v, want %q", tt.args, err, tt.err)
			}
			continue
		}
		if err != nil || got.Tenant != tt.tenant || got.Action != tt.action || got.Limit != tt.limit ||
			(got.Since == nil) != (tt.since == nil) || (got.Since != nil && !got.Since.Equal(*tt.since)) {
			t.Errorf("%q: %v, %+v", tt.args, err, got)
		}
	}
}

func events() []tenancy.OpsAuditEntry {
	slug := "acme"
	return []tenancy.OpsAuditEntry{
		{AuditEntry: tenancy.AuditEntry{ID: 3, Actor: "operator:alice", Action: "api_key.create", Target: "k1",
			Details: json.RawMessage(`{"name": "billing", "scopes": ["spaces:read"]}`), At: now},
			TenantID: &acme.ID, TenantSlug: &slug},
		{AuditEntry: tenancy.AuditEntry{ID: 2, Actor: "operator:alice", Action: "user.create", Details: json.RawMessage(`{}`),
			At: now.Add(-time.Minute)}},
	}
}

func TestRun(t *testing.T) {
	t.Parallel()
	exec := func(format output.Format, opts Options) (*fakeStore, string, error) {
		s := &fakeStore{Tenants: cmdutiltest.Tenants{acme}, events: events()}
		ios, _, out, _ := iostreams.Test()
		opts.IO, opts.Printer = ios, func() (*output.Printer, error) { return output.New(ios, format), nil }
		opts.Store = func(context.Context) (Store, error) { return s, nil }
		err := run(t.Context(), &opts)
		return s, out.String(), err
	}

	// Every tenant: no tenant filter; the table has a slug or "-", compact
	// details, "-" for an empty target.
	s, out, err := exec(output.Table, Options{Action: "x", Limit: 7})
	want := "2026-03-01T12:00:00Z\tacme\toperator:alice\tapi_key.create\tk1\t{\"name\":\"billing\",\"scopes\":[\"spaces:read\"]}\n" +
		"2026-03-01T11:59:00Z\t-\toperator:alice\tuser.create\t-\t{}\n"
	if err != nil || out != want {
		t.Errorf("table: %v\n%s\nwant\n%s", err, out, want)
	}
	if p := s.asked[0]; p.TenantID != nil || p.Action != "x" || p.Limit != 7 || p.Since != nil {
		t.Errorf("asked %+v", p)
	}

	// One tenant, by slug: its id is the filter.
	since := now.Add(-time.Hour)
	s, out, err = exec(output.JSON, Options{Tenant: "acme", Since: &since, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if p := s.asked[0]; p.TenantID == nil || *p.TenantID != acme.ID || p.Since != &since {
		t.Errorf("asked %+v", p)
	}
	var got []map[string]any
	if err := json.Unmarshal([]byte(out), &got); err != nil || len(got) != 2 {
		t.Fatalf("json %s: %v", out, err)
	}
	if got[0]["tenant_slug"] != "acme" || got[0]["action"] != "api_key.create" || got[1]["tenant_id"] != nil ||
		got[1]["tenant_slug"] != nil || got[0]["details"].(map[string]any)["name"] != "billing" {
		t.Errorf("json: %s", out)
	}

	// An unknown tenant: exit 3, nothing read.
	s, _, err = exec(output.Table, Options{Tenant: "nosuch", Limit: 100})
	if cmdutil.ExitCode(err) != cmdutil.ExitNotFound || err.Error() != `tenant "nosuch" not found` || len(s.asked) != 0 {
		t.Errorf("unknown tenant: %v, asked %v", err, s.asked)
	}

	// No events: an empty array for scripts.
	ios, _, buf, _ := iostreams.Test()
	err = run(t.Context(), &Options{IO: ios, Printer: func() (*output.Printer, error) { return output.New(ios, output.JSON), nil },
		Store: func(context.Context) (Store, error) { return &fakeStore{Tenants: cmdutiltest.Tenants{acme}}, nil }, Limit: 1})
	if err != nil || buf.String() != "[]\n" {
		t.Errorf("empty: %v, %q", err, buf)
	}
}

func TestHelp(t *testing.T) {
	t.Parallel()
	ios, _, _, _ := iostreams.Test()
	cmd := NewCmdAudit(&cmdutil.Factory{IOStreams: ios}, nil)
	if !strings.Contains(cmd.Example, "parkctl audit --tenant") || cmd.Long == "" {
		t.Errorf("help: %q", cmd.Example)
	}
}
