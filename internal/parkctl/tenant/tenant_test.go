package tenant

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/spf13/cobra"

	"github.com/parkhq/park/internal/parkctl/cmdutil"
	"github.com/parkhq/park/internal/parkctl/iostreams"
	"github.com/parkhq/park/internal/parkctl/output"
	"github.com/parkhq/park/tenancy"
)

func testFactory(ios *iostreams.IOStreams, cfg cmdutil.Config) *cmdutil.Factory {
	return &cmdutil.Factory{
		IOStreams: ios,
		Config:    func() (*cmdutil.Config, error) { return &cfg, nil },
		LookupEnv: func(string) (string, bool) { return "", false },
	}
}

func ptr[T any](v T) *T { return &v }

func TestCreateFlags(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		args     []string
		wantName string
		wantSlug string
		wantErr  string
		usage    bool // a *cmdutil.FlagError
	}{
		{name: "both", args: []string{"--name", " Acme Parking ", "--slug", "acme"}, wantName: "Acme Parking", wantSlug: "acme"},
		{name: "missing slug", args: []string{"--name", "Acme"}, wantErr: `"slug" not set`},
		{name: "missing name", args: []string{"--slug", "acme"}, wantErr: `"name" not set`},
		{name: "bad slug", args: []string{"--name", "Acme", "--slug", "Acme!"}, wantErr: `--slug "Acme!"`, usage: true},
		{name: "blank name", args: []string{"--name", "  ", "--slug", "acme"}, wantErr: "--name must not be empty", usage: true},
		{name: "positional", args: []string{"acme", "--name", "A", "--slug", "acme"}, wantErr: "unknown command"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ios, _, _, _ := iostreams.Test()
			var got *CreateOptions
			cmd := NewCmdCreate(testFactory(ios, cmdutil.Config{}), func(o *CreateOptions) error { got = o; return nil })
			quiet(cmd).SetArgs(tt.args)
			err := cmd.Execute()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				var fe *cmdutil.FlagError
				if tt.usage && !errors.As(err, &fe) {
					t.Fatalf("err = %v, want a usage error", err)
				}
				if got != nil {
					t.Fatal("run function called")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Name != tt.wantName || got.Slug != tt.wantSlug {
				t.Errorf("opts name %q slug %q", got.Name, got.Slug)
			}
		})
	}
}

func TestListFlags(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		args    []string
		status  string
		wantErr bool
	}{
		{nil, "", false},
		{[]string{"--status", "suspended"}, "suspended", false},
		{[]string{"--status", "active"}, "active", false},
		{[]string{"--status", "gone"}, "", true},
	} {
		ios, _, _, _ := iostreams.Test()
		var got *ListOptions
		cmd := NewCmdList(testFactory(ios, cmdutil.Config{}), func(o *ListOptions) error { got = o; return nil })
		quiet(cmd).SetArgs(tt.args)
		err := cmd.Execute()
		var fe *cmdutil.FlagError
		if tt.wantErr {
			if !errors.As(err, &fe) {
				t.Errorf("%v: err = %v, want a usage error", tt.args, err)
			}
			continue
		}
		if err != nil || got.Status != tt.status {
			t.Errorf("%v: err %v, opts %+v", tt.args, err, got)
		}
	}
}

// quiet makes cmd report errors only through Execute's result, as under
// the root command.
func quiet(cmd *cobra.Command) *cobra.Command {
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	cmd.SetOut(io.Discard)
	cmd.SetErr(io.Discard)
	return cmd
}

func TestSlugVerbsFlags(t *testing.T) {
	t.Parallel()
	ios, _, _, _ := iostreams.Test()
	f := testFactory(ios, cmdutil.Config{})
	for _, args := range [][]string{{}, {"a", "b"}} {
		for name, cmd := range map[string]*cobra.Command{
			"get":     NewCmdGet(f, func(*GetOptions) error { return nil }),
			"suspend": NewCmdSuspend(f, func(*StatusOptions) error { return nil }),
			"resume":  NewCmdResume(f, func(*StatusOptions) error { return nil }),
			"update":  NewCmdUpdate(f, func(*UpdateOptions) error { return nil }),
		} {
			quiet(cmd).SetArgs(args)
			if err := cmd.Execute(); err == nil || !strings.Contains(err.Error(), "expected one tenant slug") {
				t.Errorf("%s %v: err = %v, want a slug error", name, args, err)
			}
		}
	}

	var st *StatusOptions
	cmd := quiet(NewCmdSuspend(f, func(o *StatusOptions) error { st = o; return nil }))
	cmd.SetArgs([]string{"acme"})
	if err := cmd.Execute(); err != nil || st.Slug != "acme" || st.Status != tenancy.StatusSuspended {
		t.Fatalf("suspend: %v %+v", err, st)
	}
	cmd = quiet(NewCmdResume(f, func(o *StatusOptions) error { st = o; return nil }))
	cmd.SetArgs([]string{"acme"})
	if err := cmd.Execute(); err != nil || st.Slug != "acme" || st.Status != tenancy.StatusActive {
		t.Fatalf("resume: %v %+v", err, st)
	}
	var g *GetOptions
	cmd = quiet(NewCmdGet(f, func(o *GetOptions) error { g = o; return nil }))
	cmd.SetArgs([]string{"acme"})
	if err := cmd.Execute(); err != nil || g.Slug != "acme" {
		t.Fatalf("get: %v %+v", err, g)
	}
}

func TestUpdateFlags(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		args       []string
		wantName   *string
		wantLimits map[string]*tenancy.Limit
		wantErr    string
	}{
		{name: "api pair", args: []string{"acme", "--api-rate", "50", "--api-burst", "100"},
			wantLimits: map[string]*tenancy.Limit{"api": {Rate: 50, Burst: 100}}},
		{name: "one side each", args: []string{"acme", "--webhook-burst", "1000", "--orphan-rate", "0.5"},
			wantLimits: map[string]*tenancy.Limit{"webhook": {Burst: 1000}, "orphan": {Rate: 0.5}}},
		{name: "name only", args: []string{"acme", "--name", " New Name "}, wantName: ptr("New Name")},
		{name: "reset and set", args: []string{"acme", "--reset-limits", "api,orphan", "--webhook-rate", "10", "--name", "N"},
			wantName: ptr("N"), wantLimits: map[string]*tenancy.Limit{"api": nil, "orphan": nil, "webhook": {Rate: 10}}},
		{name: "reset repeated", args: []string{"acme", "--reset-limits", "api", "--reset-limits", "webhook"},
			wantLimits: map[string]*tenancy.Limit{"api": nil, "webhook": nil}},
		{name: "nothing", args: []string{"acme"}, wantErr: "nothing to update"},
		{name: "negative rate", args: []string{"acme", "--api-rate", "-1"}, wantErr: "--api-rate must be greater than 0"},
		{name: "zero rate", args: []string{"acme", "--api-rate", "0"}, wantErr: "--api-rate must be greater than 0"},
		{name: "NaN rate", args: []string{"acme", "--api-rate", "NaN"}, wantErr: "--api-rate must be greater than 0"},
		{name: "rate too high", args: []string{"acme", "--webhook-rate", "1e7"}, wantErr: "at most 1000000"},
		{name: "zero burst", args: []string{"acme", "--orphan-burst", "0"}, wantErr: "--orphan-burst must be between 1 and 10000000"},
		{name: "burst too high", args: []string{"acme", "--api-burst", "10000001"}, wantErr: "--api-burst must be between"},
		{name: "unknown reset", args: []string{"acme", "--reset-limits", "login"}, wantErr: `unknown policy "login"`},
		{name: "reset conflicts", args: []string{"acme", "--reset-limits", "api", "--api-burst", "5"}, wantErr: "conflicts with"},
		{name: "blank name", args: []string{"acme", "--name", ""}, wantErr: "--name must not be empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ios, _, _, _ := iostreams.Test()
			var got *UpdateOptions
			cmd := NewCmdUpdate(testFactory(ios, cmdutil.Config{}), func(o *UpdateOptions) error { got = o; return nil })
			quiet(cmd).SetArgs(tt.args)
			err := cmd.Execute()
			if tt.wantErr != "" {
				var fe *cmdutil.FlagError
				if !errors.As(err, &fe) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want a usage error with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Slug != "acme" {
				t.Errorf("slug %q", got.Slug)
			}
			if (got.Name == nil) != (tt.wantName == nil) || got.Name != nil && *got.Name != *tt.wantName {
				t.Errorf("name %v, want %v", got.Name, tt.wantName)
			}
			if fmt.Sprint(limitsString(got.Limits)) != fmt.Sprint(limitsString(tt.wantLimits)) {
				t.Errorf("limits %v, want %v", limitsString(got.Limits), limitsString(tt.wantLimits))
			}
		})
	}
}

func limitsString(m map[string]*tenancy.Limit) map[string]string {
	if m == nil {
		return nil
	}
	out := map[string]string{}
	for k, v := range m {
		if v == nil {
			out[k] = "reset"
		} else {
			out[k] = fmt.Sprintf("%v/%d", v.Rate, v.Burst)
		}
	}
	return out
}

// fakeStore keeps tenants by slug and records the writes.
type fakeStore struct {
	tenants map[string]*tenancy.Tenant
	err     error // returned by every write when set
	calls   []string
	actors  []string
}

var created = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func newFake(slugs ...string) *fakeStore {
	s := &fakeStore{tenants: map[string]*tenancy.Tenant{}}
	for i, slug := range slugs {
		s.tenants[slug] = &tenancy.Tenant{ID: uuid.MustParse(fmt.Sprintf("00000000-0000-0000-0000-%012d", i+1)),
			Name: "Tenant " + slug, Slug: slug, Status: tenancy.StatusActive, CreatedAt: created.Add(time.Duration(i) * time.Hour),
			UpdatedAt: created.Add(time.Duration(i) * time.Hour)}
	}
	return s
}

func (s *fakeStore) byID(id uuid.UUID) *tenancy.Tenant {
	for _, t := range s.tenants {
		if t.ID == id {
			return t
		}
	}
	return nil
}

func (s *fakeStore) TenantCreate(_ context.Context, p *tenancy.TenantCreateParams) (*tenancy.Tenant, error) {
	s.calls = append(s.calls, "create "+p.Slug)
	s.actors = append(s.actors, p.Actor)
	if s.err != nil {
		return nil, s.err
	}
	if _, ok := s.tenants[p.Slug]; ok {
		return nil, fmt.Errorf("create tenant: %w", &tenancy.ConflictError{Field: "slug", Problem: fmt.Sprintf("the slug %q is taken", p.Slug)})
	}
	t := &tenancy.Tenant{ID: uuid.MustParse("00000000-0000-0000-0000-0000000000aa"), Name: p.Name, Slug: p.Slug,
		Status: tenancy.StatusActive, CreatedAt: created, UpdatedAt: created}
	s.tenants[p.Slug] = t
	return t, nil
}

func (s *fakeStore) TenantBySlug(_ context.Context, slug string) (*tenancy.Tenant, error) {
	if t, ok := s.tenants[slug]; ok {
		c := *t
		return &c, nil
	}
	return nil, fmt.Errorf("tenant %q: %w", slug, tenancy.ErrNotFound)
}

func (s *fakeStore) TenantByID(_ context.Context, id uuid.UUID) (*tenancy.Tenant, error) {
	if t := s.byID(id); t != nil {
		c := *t
		return &c, nil
	}
	return nil, fmt.Errorf("tenant %s: %w", id, tenancy.ErrNotFound)
}

func (s *fakeStore) TenantListAll(_ context.Context, p tenancy.TenantListAllParams) ([]tenancy.Tenant, error) {
	var out []tenancy.Tenant
	for _, slug := range []string{"acme", "beta"} {
		if t, ok := s.tenants[slug]; ok && (p.Status == "" || p.Status == t.Status) {
			out = append(out, *t)
		}
	}
	return out, nil
}

func (s *fakeStore) TenantSetStatus(_ context.Context, p *tenancy.TenantSetStatusParams) (*tenancy.Tenant, error) {
	s.calls = append(s.calls, "status "+p.Status)
	s.actors = append(s.actors, p.Actor)
	if s.err != nil {
		return nil, s.err
	}
	t := s.byID(p.ID)
	t.Status = p.Status
	c := *t
	return &c, nil
}

func (s *fakeStore) TenantSetLimits(_ context.Context, p *tenancy.TenantSetLimitsParams) (*tenancy.Tenant, error) {
	s.calls = append(s.calls, "limits")
	s.actors = append(s.actors, p.Actor)
	if s.err != nil {
		return nil, s.err
	}
	t := s.byID(p.ID)
	if t.Settings.Limits == nil {
		t.Settings.Limits = map[string]tenancy.Limit{}
	}
	for name, l := range p.Limits {
		if l == nil {
			delete(t.Settings.Limits, name)
		} else {
			t.Settings.Limits[name] = *l
		}
	}
	c := *t
	return &c, nil
}

func (s *fakeStore) TenantUpdate(_ context.Context, p *tenancy.TenantUpdateParams) (*tenancy.Tenant, error) {
	s.calls = append(s.calls, "update name")
	s.actors = append(s.actors, p.Actor)
	if s.err != nil {
		return nil, s.err
	}
	t := s.byID(p.TenantID)
	t.Name = p.Name.Value
	c := *t
	return &c, nil
}

func (s *fakeStore) open(context.Context) (Store, error) { return s, nil }

func printer(ios *iostreams.IOStreams, f output.Format) func() (*output.Printer, error) {
	return func() (*output.Printer, error) { return output.New(ios, f), nil }
}

func actor() string { return "operator:test" }

func TestListRun(t *testing.T) {
	t.Parallel()
	s := newFake("acme", "beta")
	s.tenants["beta"].Status = tenancy.StatusSuspended
	tests := []struct {
		format output.Format
		tty    bool
		status string
		want   string
	}{
		{output.Table, false, "", "acme\tTenant acme\tactive\t2026-01-02T03:04:05Z\nbeta\tTenant beta\tsuspended\t2026-01-02T04:04:05Z\n"},
		{output.Table, true, "", "SLUG  NAME         STATUS     CREATED\n" +
			"acme  Tenant acme  active     2026-01-02T03:04:05Z\n" +
			"beta  Tenant beta  suspended  2026-01-02T04:04:05Z\n"},
		{output.Table, false, "suspended", "beta\tTenant beta\tsuspended\t2026-01-02T04:04:05Z\n"},
		{output.JSON, false, "active", ""},
	}
	for _, tt := range tests {
		ios, _, out, _ := iostreams.Test()
		ios.SetStdoutTTY(tt.tty)
		err := listRun(t.Context(), &ListOptions{IO: ios, Printer: printer(ios, tt.format), Store: s.open, Status: tt.status})
		if err != nil {
			t.Fatal(err)
		}
		if tt.format == output.JSON {
			var got []tenancy.Tenant
			if err := json.Unmarshal(out.Bytes(), &got); err != nil || len(got) != 1 || got[0].Slug != "acme" {
				t.Errorf("json %s: %v", out, err)
			}
			continue
		}
		if out.String() != tt.want {
			t.Errorf("%s tty=%v status=%q:\n%s\nwant:\n%s", tt.format, tt.tty, tt.status, out, tt.want)
		}
	}
	// An empty list is [] in JSON, never null.
	ios, _, out, _ := iostreams.Test()
	if err := listRun(t.Context(), &ListOptions{IO: ios, Printer: printer(ios, output.JSON), Store: newFake().open}); err != nil || out.String() != "[]\n" {
		t.Errorf("empty json %q, %v", out, err)
	}
}

func TestCreateRun(t *testing.T) {
	t.Parallel()
	s := newFake("acme")
	ios, _, out, errOut := iostreams.Test()
	opts := &CreateOptions{IO: ios, Printer: printer(ios, output.JSON), Store: s.open, Actor: actor, Name: "Beta", Slug: "beta"}
	if err := createRun(t.Context(), opts); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(out.Bytes(), &got); err != nil || got["id"] != "00000000-0000-0000-0000-0000000000aa" || got["slug"] != "beta" || got["settings"] == nil {
		t.Fatalf("json %s: %v", out, err)
	}
	if !strings.Contains(errOut.String(), "created tenant beta (00000000-0000-0000-0000-0000000000aa)") {
		t.Errorf("stderr %q", errOut)
	}
	if s.actors[0] != "operator:test" {
		t.Errorf("actor %q", s.actors[0])
	}

	ios, _, out, _ = iostreams.Test()
	opts = &CreateOptions{IO: ios, Printer: printer(ios, output.Table), Store: s.open, Actor: actor, Name: "Acme", Slug: "acme"}
	err := createRun(t.Context(), opts)
	if err == nil || !strings.Contains(err.Error(), `slug: the slug "acme" is taken`) || errors.Is(err, cmdutil.ErrNotFound) || out.Len() != 0 {
		t.Fatalf("duplicate: %v (stdout %q)", err, out)
	}
	if code := cmdutil.ExitCode(err); code != cmdutil.ExitFailure {
		t.Errorf("duplicate slug %v exits %d, want 1", err, code)
	}
}

func TestGetRun(t *testing.T) {
	t.Parallel()
	s := newFake("acme")
	s.tenants["acme"].Settings.Limits = map[string]tenancy.Limit{"api": {Rate: 2.5, Burst: 10}, "orphan": {Burst: 3}}
	ios, _, out, _ := iostreams.Test()
	if err := getRun(t.Context(), &GetOptions{IO: ios, Printer: printer(ios, output.Table), Store: s.open, Slug: "acme"}); err != nil {
		t.Fatal(err)
	}
	want := "id\t00000000-0000-0000-0000-000000000001\n" +
		"slug\tacme\n" +
		"name\tTenant acme\n" +
		"status\tactive\n" +
		"limits.api\t2.5/s, burst 10\n" +
		"limits.webhook\t200/s, burst 400 (default)\n" +
		"limits.orphan\t5/s, burst 3\n" +
		"created_at\t2026-01-02T03:04:05Z\n" +
		"updated_at\t2026-01-02T03:04:05Z\n"
	if out.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", out, want)
	}

	ios, _, out, _ = iostreams.Test()
	if err := getRun(t.Context(), &GetOptions{IO: ios, Printer: printer(ios, output.JSON), Store: s.open, Slug: "acme"}); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Settings struct {
			Limits map[string]map[string]float64 `json:"limits"`
		} `json:"settings"`
	}
	if err := json.Unmarshal(out.Bytes(), &got); err != nil || got.Settings.Limits["api"]["rate"] != 2.5 || got.Settings.Limits["api"]["burst"] != 10 {
		t.Errorf("json %s: %v", out, err)
	}

	err := getRun(t.Context(), &GetOptions{IO: ios, Printer: printer(ios, output.Table), Store: s.open, Slug: "nosuch"})
	if cmdutil.ExitCode(err) != cmdutil.ExitNotFound || err.Error() != `tenant "nosuch" not found` {
		t.Errorf("unknown slug: %v, want cmdutil.ErrNotFound (exit 3)", err)
	}
	// By id too.
	ios, _, out, _ = iostreams.Test()
	if err := getRun(t.Context(), &GetOptions{IO: ios, Printer: printer(ios, output.Table), Store: s.open, Slug: "00000000-0000-0000-0000-000000000001"}); err != nil || !strings.Contains(out.String(), "slug\tacme\n") {
		t.Errorf("by id: %v, %q", err, out)
	}
}

func TestStatusRun(t *testing.T) {
	t.Parallel()
	run := func(s *fakeStore, status string, yes, tty bool, input string) (string, error) {
		ios, in, out, errOut := iostreams.Test()
		ios.SetStdinTTY(tty)
		in.WriteString(input)
		err := statusRun(t.Context(), &StatusOptions{IO: ios, Store: s.open, Actor: actor, Slug: "acme", Status: status,
			Config: func() (*cmdutil.Config, error) { return &cmdutil.Config{Yes: yes}, nil }})
		if out.Len() != 0 {
			t.Errorf("stdout %q", out)
		}
		return errOut.String(), err
	}

	s := newFake("acme")
	_, err := run(s, tenancy.StatusSuspended, false, false, "")
	var ee *cmdutil.ExitError
	if !errors.As(err, &ee) || ee.Code != cmdutil.ExitUsage || !strings.Contains(err.Error(), "--yes") || len(s.calls) != 0 {
		t.Fatalf("suspend without --yes: %v, calls %v", err, s.calls)
	}
	_, err = run(s, tenancy.StatusSuspended, false, true, "n\n")
	if !errors.Is(err, cmdutil.ErrCancelled) || len(s.calls) != 0 {
		t.Fatalf("answer no: %v, calls %v", err, s.calls)
	}
	msgs, err := run(s, tenancy.StatusSuspended, false, true, "y\n")
	if err != nil || !strings.Contains(msgs, "Suspend tenant acme (Tenant acme)") || !strings.Contains(msgs, "suspended tenant acme\n") {
		t.Fatalf("answer yes: %v, %q", err, msgs)
	}
	msgs, err = run(s, tenancy.StatusSuspended, true, false, "")
	if err != nil || msgs != "tenant acme is already suspended\n" || len(s.calls) != 1 {
		t.Fatalf("suspend again: %v, %q, calls %v", err, msgs, s.calls)
	}
	// Resuming needs no confirmation.
	msgs, err = run(s, tenancy.StatusActive, false, false, "")
	if err != nil || msgs != "resumed tenant acme\n" || s.tenants["acme"].Status != tenancy.StatusActive || s.actors[1] != "operator:test" {
		t.Fatalf("resume: %v, %q", err, msgs)
	}

	_, err = run(newFake(), tenancy.StatusSuspended, false, false, "")
	if !errors.Is(err, cmdutil.ErrNotFound) {
		t.Fatalf("unknown slug: %v, want not found before the confirmation", err)
	}
}

func TestUpdateRun(t *testing.T) {
	t.Parallel()
	s := newFake("acme")
	ios, _, out, errOut := iostreams.Test()
	opts := &UpdateOptions{IO: ios, Printer: printer(ios, output.JSON), Store: s.open, Actor: actor, Slug: "acme",
		Name: ptr("New"), Limits: map[string]*tenancy.Limit{"api": {Rate: 5, Burst: 10}}}
	if err := updateRun(t.Context(), opts); err != nil {
		t.Fatal(err)
	}
	var got tenancy.Tenant
	if err := json.Unmarshal(out.Bytes(), &got); err != nil || got.Name != "New" || got.Settings.Limits["api"] != (tenancy.Limit{Rate: 5, Burst: 10}) {
		t.Fatalf("json %s: %v", out, err)
	}
	if strings.Join(s.calls, ",") != "limits,update name" || errOut.String() != "updated tenant acme\n" {
		t.Errorf("calls %v, stderr %q", s.calls, errOut)
	}

	// Limits the store refuses (a burst that refills too slowly) are a
	// usage error, and the name is left alone.
	s = newFake("acme")
	var ve tenancy.ValidationError
	ve.Add("limits.api", "takes too long to refill")
	s.err = &ve
	ios, _, out, _ = iostreams.Test()
	opts = &UpdateOptions{IO: ios, Printer: printer(ios, output.Table), Store: s.open, Actor: actor, Slug: "acme",
		Name: ptr("New"), Limits: map[string]*tenancy.Limit{"api": {Rate: 1e-6}}}
	err := updateRun(t.Context(), opts)
	if cmdutil.ExitCode(err) != cmdutil.ExitUsage || !strings.Contains(err.Error(), "limits.api") || out.Len() != 0 {
		t.Fatalf("refused limits: %v", err)
	}
	if strings.Join(s.calls, ",") != "limits" {
		t.Errorf("calls %v", s.calls)
	}

	err = updateRun(t.Context(), &UpdateOptions{IO: ios, Printer: printer(ios, output.Table), Store: newFake().open, Actor: actor,
		Slug: "nosuch", Name: ptr("x")})
	if !errors.Is(err, cmdutil.ErrNotFound) {
		t.Errorf("unknown slug: %v", err)
	}
}

func TestActor(t *testing.T) {
	t.Parallel()
	ios, _, _, _ := iostreams.Test()
	f := testFactory(ios, cmdutil.Config{})
	f.LookupEnv = func(k string) (string, bool) {
		if k == "SUDO_USER" {
			return "alice", true
		}
		return "", false
	}
	if got := actorFunc(f)(); got != "operator:alice" {
		t.Errorf("under sudo: %q", got)
	}
	f.LookupEnv = nil
	if got := actorFunc(f)(); !strings.HasPrefix(got, "operator:") || got == "operator:" {
		t.Errorf("actor %q", got)
	}
}
