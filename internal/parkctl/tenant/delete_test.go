package tenant

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/parkhq/park/internal/parkctl/cmdutil"
	"github.com/parkhq/park/internal/parkctl/iostreams"
	"github.com/parkhq/park/internal/parkctl/output"
	"github.com/parkhq/park/tenancy"
)

func (s *fakeStore) TenantDelete(_ context.Context, p *tenancy.TenantDeleteParams) (*tenancy.TenantDeletion, error) {
	s.calls = append(s.calls, "delete")
	s.actors = append(s.actors, p.Actor)
	if s.err != nil {
		return nil, s.err
	}
	t := s.byID(p.ID)
	if t == nil {
		return nil, fmt.Errorf("tenant %s: %w", p.ID, tenancy.ErrNotFound)
	}
	delete(s.tenants, t.Slug)
	return &tenancy.TenantDeletion{ID: t.ID, Slug: t.Slug, Deleted: map[string]int64{"tenants": 1, "sites": 2, "audit_events": 5}}, nil
}

func TestDeleteFlags(t *testing.T) {
	t.Parallel()
	ios, _, _, _ := iostreams.Test()
	f := testFactory(ios, cmdutil.Config{})
	for _, args := range [][]string{{}, {"a", "b"}} {
		cmd := quiet(NewCmdDelete(f, func(*DeleteOptions) error { return nil }))
		cmd.SetArgs(args)
		if err := cmd.Execute(); err == nil || !strings.Contains(err.Error(), "expected one tenant slug") {
			t.Errorf("delete %v: err = %v, want a slug error", args, err)
		}
	}
	var got *DeleteOptions
	cmd := quiet(NewCmdDelete(f, func(o *DeleteOptions) error { got = o; return nil }))
	cmd.SetArgs([]string{"acme"})
	if err := cmd.Execute(); err != nil || got.Slug != "acme" {
		t.Fatalf("delete acme: %v %+v", err, got)
	}
}

func TestDeleteRun(t *testing.T) {
	t.Parallel()
	run := func(s *fakeStore, format output.Format, yes, tty bool, input string) (stdout, stderr string, err error) {
		ios, in, out, errOut := iostreams.Test()
		ios.SetStdinTTY(tty)
		in.WriteString(input)
		err = deleteRun(t.Context(), &DeleteOptions{IO: ios, Printer: printer(ios, format), Store: s.open, Actor: actor, Slug: "acme",
			Config: func() (*cmdutil.Config, error) { return &cmdutil.Config{Yes: yes}, nil }})
		return out.String(), errOut.String(), err
	}

	// Unknown: exit 3 before any question.
	_, _, err := run(newFake(), output.Table, false, false, "")
	if cmdutil.ExitCode(err) != cmdutil.ExitNotFound {
		t.Fatalf("unknown tenant: %v, want exit 3", err)
	}
	// Active: exit 1, naming the way out, even with --yes.
	s := newFake("acme")
	_, _, err = run(s, output.Table, true, false, "")
	if err == nil || cmdutil.ExitCode(err) != cmdutil.ExitFailure || !strings.Contains(err.Error(), "suspend it first") || len(s.calls) != 0 {
		t.Fatalf("active tenant: %v (exit %d), calls %v", err, cmdutil.ExitCode(err), s.calls)
	}
	s.tenants["acme"].Status = tenancy.StatusSuspended
	// No terminal and no --yes: a usage error, nothing deleted.
	_, _, err = run(s, output.Table, false, false, "")
	var ee *cmdutil.ExitError
	if !errors.As(err, &ee) || ee.Code != cmdutil.ExitUsage || !strings.Contains(err.Error(), "--yes") || len(s.calls) != 0 {
		t.Fatalf("without --yes: %v, calls %v", err, s.calls)
	}
	// A terminal, and the answer is no.
	_, stderr, err := run(s, output.Table, false, true, "n\n")
	if !errors.Is(err, cmdutil.ErrCancelled) || len(s.calls) != 0 || !strings.Contains(stderr, "Delete tenant acme (Tenant acme) and all of its data for good? [y/N]") {
		t.Fatalf("answer no: %v, calls %v, stderr %q", err, s.calls, stderr)
	}
	// The store refusing (the tenant was resumed meanwhile) is exit 1.
	s.err = fmt.Errorf("delete tenant x: %w", tenancy.ErrTenantActive)
	if _, _, err = run(s, output.Table, true, false, ""); cmdutil.ExitCode(err) != cmdutil.ExitFailure {
		t.Fatalf("store refusal: %v, want exit 1", err)
	}
	s.err, s.calls, s.actors = nil, nil, nil

	stdout, stderr, err := run(s, output.Table, true, false, "")
	if err != nil {
		t.Fatal(err)
	}
	want := "id\t00000000-0000-0000-0000-000000000001\nslug\tacme\n" +
		"deleted.audit_events\t5\ndeleted.sites\t2\ndeleted.tenants\t1\n"
	if stdout != want || stderr != "deleted tenant acme (00000000-0000-0000-0000-000000000001): 8 rows\n" {
		t.Errorf("stdout:\n%s\nwant:\n%s\nstderr %q", stdout, want, stderr)
	}
	if len(s.actors) != 1 || s.actors[0] != "operator:test" {
		t.Errorf("actors %v", s.actors)
	}

	s = newFake("acme")
	s.tenants["acme"].Status = tenancy.StatusSuspended
	stdout, _, err = run(s, output.JSON, true, false, "")
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
		t.Fatalf("json %s: %v", stdout, err)
	}
	deleted, _ := doc["deleted"].(map[string]any)
	if doc["id"] != "00000000-0000-0000-0000-000000000001" || doc["slug"] != "acme" || deleted["sites"] != float64(2) || len(doc) != 3 {
		t.Errorf("json %s", stdout)
	}
}
