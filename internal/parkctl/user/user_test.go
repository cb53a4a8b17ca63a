package user

import (
	"bytes"
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
	"github.com/parkhq/park/internal/parkctl/cmdutil/cmdutiltest"
	"github.com/parkhq/park/internal/parkctl/iostreams"
	"github.com/parkhq/park/internal/parkctl/output"
	"github.com/parkhq/park/tenancy"
)

var acme = tenancy.Tenant{ID: uuid.MustParse("00000000-0000-0000-0000-0000000000a1"), Slug: "acme"}

// fakeStore holds accounts and acme's members, and records the writes.
type fakeStore struct {
	users   []tenancy.User
	members map[uuid.UUID]tenancy.Role
	// setErr, when set, is what MemberSet returns; endErr what
	// UserEndSessions returns.
	setErr, endErr error
	// revoked is what MemberSet reports revoked.
	revoked []tenancy.APIKey

	created   *tenancy.UserCreateParams
	passwords []*tenancy.UserSetPasswordParams
	sets      []*tenancy.MemberSetParams
	ends      []*tenancy.UserEndSessionsParams
	adds      []*tenancy.MemberAddParams
}

func (s *fakeStore) UserCreate(_ context.Context, _ *tenancy.Hasher, p *tenancy.UserCreateParams) (*tenancy.User, error) {
	s.created = p
	return &tenancy.User{ID: uuid.MustParse("00000000-0000-0000-0000-0000000000c1"), Email: p.Email, Name: p.Name,
		CreatedAt: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)}, nil
}

func (s *fakeStore) UserByEmail(_ context.Context, email string) (*tenancy.User, error) {
	for _, u := range s.users {
		if strings.EqualFold(u.Email, email) {
			return &u, nil
		}
	}
	return nil, fmt.Errorf("user %q: %w", email, tenancy.ErrNotFound)
}

func (s *fakeStore) UserSetPassword(_ context.Context, _ *tenancy.Hasher, p *tenancy.UserSetPasswordParams) (*tenancy.SessionsEnded, error) {
	s.passwords = append(s.passwords, p)
	return &tenancy.SessionsEnded{TokenVersion: 5, RevokedRefreshTokens: 2}, nil
}

func (s *fakeStore) UserEndSessions(_ context.Context, p *tenancy.UserEndSessionsParams) (*tenancy.SessionsEnded, error) {
	s.ends = append(s.ends, p)
	if s.endErr != nil {
		return nil, s.endErr
	}
	return &tenancy.SessionsEnded{TokenVersion: 2, RevokedRefreshTokens: 3}, nil
}

func (s *fakeStore) MemberGet(_ context.Context, tenantID, userID uuid.UUID) (*tenancy.Member, error) {
	r, ok := s.members[userID]
	if !ok || tenantID != acme.ID {
		return nil, fmt.Errorf("member %s: %w", userID, tenancy.ErrNotFound)
	}
	for _, u := range s.users {
		if u.ID == userID {
			return &tenancy.Member{UserID: u.ID, Email: u.Email, Name: u.Name, Role: r}, nil
		}
	}
	panic("member without account")
}

func (s *fakeStore) MemberList(_ context.Context, _ uuid.UUID, _ tenancy.PageParams) (*tenancy.Page[tenancy.Member], error) {
	var out []tenancy.Member
	for _, u := range s.users {
		if r, ok := s.members[u.ID]; ok {
			out = append(out, tenancy.Member{UserID: u.ID, Email: u.Email, Name: u.Name, Role: r})
		}
	}
	return &tenancy.Page[tenancy.Member]{Items: out}, nil
}

func (s *fakeStore) MemberAdd(_ context.Context, p *tenancy.MemberAddParams) (*tenancy.Member, *tenancy.MemberSetResult, error) {
	s.adds = append(s.adds, p)
	u, _ := s.UserByEmail(context.Background(), p.Email)
	if _, ok := s.members[u.ID]; ok {
		return nil, nil, fmt.Errorf("set member: %w", tenancy.ErrMemberExists)
	}
	return &tenancy.Member{UserID: u.ID, Email: u.Email, Name: u.Name, Role: p.Role},
		&tenancy.MemberSetResult{Action: "member.add", RevokedKeys: []tenancy.APIKey{}}, nil
}

func (s *fakeStore) MemberSet(_ context.Context, p *tenancy.MemberSetParams) (*tenancy.MemberSetResult, error) {
	s.sets = append(s.sets, p)
	if s.setErr != nil {
		return nil, s.setErr
	}
	res := &tenancy.MemberSetResult{Action: "member.set_role", PreviousRole: s.members[p.UserID], RevokedKeys: s.revoked}
	if p.Role == "" {
		res.Action = "member.remove"
	}
	return res, nil
}

var (
	ana = tenancy.User{ID: uuid.MustParse("00000000-0000-0000-0000-0000000000b1"), Email: "ana@example.com", Name: "Ana"}
	bo  = tenancy.User{ID: uuid.MustParse("00000000-0000-0000-0000-0000000000b2"), Email: "bo@example.com", Name: "Bo"}
	cy  = tenancy.User{ID: uuid.MustParse("00000000-0000-0000-0000-0000000000b3"), Email: "cy@example.com", Name: "Cy"}
)

func newFake() *fakeStore {
	return &fakeStore{users: []tenancy.User{ana, bo, cy},
		members: map[uuid.UUID]tenancy.Role{ana.ID: tenancy.RoleOwner, bo.ID: tenancy.RoleAdmin}}
}

// testDeps wires Deps to s and buffers; format is the output format, yes
// the --yes flag.
func testDeps(s *fakeStore, format output.Format, yes bool) (Deps, *bytes.Buffer, *bytes.Buffer, *bytes.Buffer) {
	ios, in, out, errOut := iostreams.Test()
	return Deps{
		TenantDeps: cmdutil.TenantDeps[Store]{
			IO:      ios,
			Printer: func() (*output.Printer, error) { return output.New(ios, format), nil },
			Actor:   func() string { return "operator:test" },
			Store:   func(context.Context) (Store, error) { return s, nil },
			Tenants: func(context.Context) (cmdutil.TenantLookup, error) { return cmdutiltest.Tenants{acme}, nil },
		},
		Config: func() (*cmdutil.Config, error) { return &cmdutil.Config{Yes: yes}, nil },
		// The fake hashes nothing.
		Hasher: func() (*tenancy.Hasher, error) { return nil, nil },
	}, in, out, errOut
}

func TestReadPassword(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want string
		err      string // a usage error containing this
	}{
		{in: "correct horse\n", want: "correct horse"},
		{in: "correct horse", want: "correct horse"},
		{in: "correct horse\r\n", want: "correct horse"},
		{in: "  spaces stay  \n", want: "  spaces stay  "},
		{in: strings.Repeat("p", 72) + "\n", want: strings.Repeat("p", 72)},
		{in: "", err: "holds no password"},
		{in: "\n", err: "holds no password"},
		{in: "correct horse\n\n", err: "more than one line"},
		{in: "correct\nhorse", err: "more than one line"},
		{in: strings.Repeat("p", 73) + "\n", err: "the password is 73 bytes; bcrypt reads at most 72"},
		{in: strings.Repeat("p", 10000), err: "more than 4096 bytes"},
		{in: "short\n", err: "the password is 5 bytes; it must be at least 10"},
	}
	for _, tt := range tests {
		got, err := readPassword(strings.NewReader(tt.in))
		if tt.err == "" {
			if err != nil || got != tt.want {
				t.Errorf("readPassword(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
			continue
		}
		if cmdutil.ExitCode(err) != cmdutil.ExitUsage || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("readPassword(%q) = %q, %v; want a usage error with %q", tt.in, got, err, tt.err)
		}
		if tt.in != "" && strings.TrimSpace(tt.in) != "" && strings.Contains(err.Error(), strings.TrimSpace(tt.in)[:5]) {
			t.Errorf("error %q quotes the input", err)
		}
	}
}

func TestGeneratePassword(t *testing.T) {
	t.Parallel()
	// Bytes of 248 and above are skipped; the rest map onto the alphabet.
	src := append(bytes.Repeat([]byte{255, 248}, 8), 0, 61, 62, 247)
	src = append(src, make([]byte, 64)...)
	got, err := generatePassword(bytes.NewReader(src))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != generatedLen || !strings.HasPrefix(got, "A9A9") {
		t.Fatalf("generatePassword = %q, want 20 characters starting A9A9", got)
	}
	if _, err := generatePassword(bytes.NewReader(nil)); err == nil {
		t.Fatal("no error from an empty random source")
	}
	seen := map[string]bool{}
	for range 100 {
		pw, generated, err := password(Deps{}, false)
		if err != nil || !generated || len(pw) != generatedLen || strings.Trim(pw, alphabet) != "" || seen[pw] {
			t.Fatalf("password() = %q, %v, %v", pw, generated, err)
		}
		seen[pw] = true
	}
}

func TestCreateRun(t *testing.T) {
	t.Parallel()
	// From stdin: the password goes to the store and is printed nowhere.
	s := newFake()
	d, in, out, errOut := testDeps(s, output.JSON, false)
	in.WriteString("correct horse\n")
	if err := createRun(t.Context(), &CreateOptions{Deps: d, Email: "dee@example.com", Name: "Dee", PasswordStdin: true}); err != nil {
		t.Fatal(err)
	}
	if s.created.Password != "correct horse" || s.created.Actor != "operator:test" || s.created.Email != "dee@example.com" {
		t.Fatalf("store got %+v", s.created)
	}
	if strings.Contains(out.String(), "password") || strings.Contains(errOut.String(), "correct") {
		t.Fatalf("password printed: stdout %q stderr %q", out, errOut)
	}

	// Generated: printed once, under "password", the one the store got.
	s = newFake()
	d, _, out, errOut = testDeps(s, output.JSON, false)
	if err := createRun(t.Context(), &CreateOptions{Deps: d, Email: "dee@example.com", Name: "Dee"}); err != nil {
		t.Fatal(err)
	}
	var got created
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got.Password == "" || got.Password != s.created.Password || got.Email != "dee@example.com" {
		t.Fatalf("printed %+v, store got %+v", got, s.created)
	}
	if !strings.Contains(errOut.String(), "warning: the generated password of dee@example.com is shown this once") {
		t.Fatalf("stderr %q has no warning", errOut)
	}
	// The table form prints it as a row.
	d, _, out, _ = testDeps(newFake(), output.Table, false)
	if err := createRun(t.Context(), &CreateOptions{Deps: d, Email: "dee@example.com", Name: "Dee"}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "\npassword\t") {
		t.Fatalf("table %q has no password row", out)
	}
}

func TestAddRun(t *testing.T) {
	t.Parallel()
	s := newFake()
	d, _, out, _ := testDeps(s, output.JSON, false)
	if err := addRun(t.Context(), &AddOptions{Deps: d, MemberRole: MemberRole{Tenant: "acme", Email: "CY@example.com", Role: tenancy.RoleViewer}}); err != nil {
		t.Fatal(err)
	}
	if len(s.adds) != 1 || s.adds[0].TenantID != acme.ID || s.adds[0].Role != tenancy.RoleViewer || s.adds[0].By != nil {
		t.Fatalf("adds %+v", s.adds)
	}
	if !strings.Contains(out.String(), `"role": "viewer"`) || !strings.Contains(out.String(), `"previous_role": null`) {
		t.Fatalf("stdout %s", out)
	}

	err := addRun(t.Context(), &AddOptions{Deps: d, MemberRole: MemberRole{Tenant: "acme", Email: "bo@example.com", Role: tenancy.RoleViewer}})
	if cmdutil.ExitCode(err) != cmdutil.ExitFailure || !strings.Contains(err.Error(), "member already") {
		t.Fatalf("existing member: %v", err)
	}
	s.adds = nil
	err = addRun(t.Context(), &AddOptions{Deps: d, MemberRole: MemberRole{Tenant: "acme", Email: "nobody@example.com", Role: tenancy.RoleViewer}})
	if cmdutil.ExitCode(err) != cmdutil.ExitNotFound || err.Error() != `user "nobody@example.com" not found` || len(s.adds) != 0 {
		t.Fatalf("unknown account: %v (adds %d)", err, len(s.adds))
	}
	err = addRun(t.Context(), &AddOptions{Deps: d, MemberRole: MemberRole{Tenant: "nosuch", Email: "cy@example.com", Role: tenancy.RoleViewer}})
	if cmdutil.ExitCode(err) != cmdutil.ExitNotFound || err.Error() != `tenant "nosuch" not found` {
		t.Fatalf("unknown tenant: %v", err)
	}
}

func TestSetRoleRun(t *testing.T) {
	t.Parallel()
	key := tenancy.APIKey{KeyID: "k1", Name: "Bo CI"}

	// A demotion below admin lists the revoked keys and ends the sessions.
	s := newFake()
	s.revoked = []tenancy.APIKey{key}
	d, _, out, errOut := testDeps(s, output.Table, false)
	if err := setRoleRun(t.Context(), &SetRoleOptions{Deps: d, MemberRole: MemberRole{Tenant: "acme", Email: "bo@example.com", Role: tenancy.RoleViewer}}); err != nil {
		t.Fatal(err)
	}
	if len(s.sets) != 1 || s.sets[0].Role != tenancy.RoleViewer || s.sets[0].Expect != tenancy.MemberExisting || s.sets[0].UserID != bo.ID {
		t.Fatalf("sets %+v", s.sets)
	}
	if len(s.ends) != 1 || *s.ends[0] != (tenancy.UserEndSessionsParams{UserID: bo.ID, TenantID: acme.ID, Reason: "member.set_role", Actor: "operator:test"}) {
		t.Fatalf("ends %+v", s.ends)
	}
	for _, want := range []string{"role\tviewer\n", "previous_role\tadmin\n", "revoked_keys\tk1 \"Bo CI\"\n"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("stdout %q lacks %q", out, want)
		}
	}
	if !strings.Contains(errOut.String(), `revoked API key k1 "Bo CI" that bo@example.com made`) ||
		!strings.Contains(errOut.String(), "token version 2, 3 refresh tokens revoked") {
		t.Errorf("stderr %q", errOut)
	}

	// The role the member has: nothing written, no sessions ended.
	s = newFake()
	d, _, _, errOut = testDeps(s, output.Table, false)
	if err := setRoleRun(t.Context(), &SetRoleOptions{Deps: d, MemberRole: MemberRole{Tenant: "acme", Email: "bo@example.com", Role: tenancy.RoleAdmin}}); err != nil {
		t.Fatal(err)
	}
	if len(s.sets)+len(s.ends) != 0 || !strings.Contains(errOut.String(), "nothing changed") {
		t.Fatalf("same role: sets %d ends %d, stderr %q", len(s.sets), len(s.ends), errOut)
	}

	// The last owner: refused, exit 1, and no sessions ended.
	s = newFake()
	s.setErr = fmt.Errorf("set member: %w", tenancy.ErrLastOwner)
	d, _, out, _ = testDeps(s, output.Table, false)
	err := setRoleRun(t.Context(), &SetRoleOptions{Deps: d, MemberRole: MemberRole{Tenant: "acme", Email: "ana@example.com", Role: tenancy.RoleAdmin}})
	if cmdutil.ExitCode(err) != cmdutil.ExitFailure || !strings.Contains(err.Error(), "cannot demote ana@example.com: they are the last owner of tenant acme") ||
		len(s.ends) != 0 || out.Len() != 0 {
		t.Fatalf("last owner: %v, ends %d, stdout %q", err, len(s.ends), out)
	}

	// Not a member: exit 3 before any write.
	s = newFake()
	d, _, _, _ = testDeps(s, output.Table, false)
	err = setRoleRun(t.Context(), &SetRoleOptions{Deps: d, MemberRole: MemberRole{Tenant: "acme", Email: "cy@example.com", Role: tenancy.RoleAdmin}})
	if cmdutil.ExitCode(err) != cmdutil.ExitNotFound || err.Error() != `member "cy@example.com" in tenant acme not found` || len(s.sets) != 0 {
		t.Fatalf("not a member: %v", err)
	}

	// Ending the sessions fails: the change is printed, then exit 1.
	s = newFake()
	s.endErr = errors.New("boom")
	d, _, out, _ = testDeps(s, output.Table, false)
	err = setRoleRun(t.Context(), &SetRoleOptions{Deps: d, MemberRole: MemberRole{Tenant: "acme", Email: "bo@example.com", Role: tenancy.RoleOperator}})
	if cmdutil.ExitCode(err) != cmdutil.ExitFailure || !strings.Contains(err.Error(), "ending their sessions failed") ||
		!strings.Contains(out.String(), "role\toperator\n") {
		t.Fatalf("end sessions failed: %v, stdout %q", err, out)
	}
}

func TestRemoveRun(t *testing.T) {
	t.Parallel()
	// A script without --yes is refused before any write.
	s := newFake()
	d, _, _, _ := testDeps(s, output.Table, false)
	err := removeRun(t.Context(), &RemoveOptions{Deps: d, Tenant: "acme", Email: "bo@example.com"})
	if cmdutil.ExitCode(err) != cmdutil.ExitUsage || !strings.Contains(err.Error(), "--yes") || len(s.sets) != 0 {
		t.Fatalf("without --yes: %v, sets %d", err, len(s.sets))
	}

	s.revoked = []tenancy.APIKey{{KeyID: "k1", Name: "one"}, {KeyID: "k2", Name: "two"}}
	d, _, out, _ := testDeps(s, output.JSON, true)
	if err := removeRun(t.Context(), &RemoveOptions{Deps: d, Tenant: "acme", Email: "bo@example.com"}); err != nil {
		t.Fatal(err)
	}
	if len(s.sets) != 1 || s.sets[0].Role != "" || s.sets[0].Expect != tenancy.MemberExisting || len(s.ends) != 0 {
		t.Fatalf("sets %+v, ends %d", s.sets, len(s.ends))
	}
	var got membership
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got.Role != nil || got.PreviousRole == nil || *got.PreviousRole != tenancy.RoleAdmin || len(got.RevokedKeys) != 2 || got.RevokedKeys[1].KeyID != "k2" {
		t.Fatalf("printed %+v", got)
	}

	s = newFake()
	s.setErr = fmt.Errorf("set member: %w", tenancy.ErrLastOwner)
	d, _, _, _ = testDeps(s, output.Table, true)
	err = removeRun(t.Context(), &RemoveOptions{Deps: d, Tenant: "acme", Email: "ana@example.com"})
	if cmdutil.ExitCode(err) != cmdutil.ExitFailure || !strings.Contains(err.Error(), "cannot remove ana@example.com: they are the last owner") {
		t.Fatalf("last owner: %v", err)
	}
}

func TestListRun(t *testing.T) {
	t.Parallel()
	d, _, out, _ := testDeps(newFake(), output.Table, false)
	if err := listRun(t.Context(), &ListOptions{Deps: d, Tenant: "acme"}); err != nil {
		t.Fatal(err)
	}
	want := ana.ID.String() + "\tana@example.com\tAna\towner\t0001-01-01T00:00:00Z\n" +
		bo.ID.String() + "\tbo@example.com\tBo\tadmin\t0001-01-01T00:00:00Z\n"
	if out.String() != want {
		t.Fatalf("stdout %q, want %q", out, want)
	}
	s := newFake()
	s.members = nil
	d, _, out, _ = testDeps(s, output.JSON, false)
	if err := listRun(t.Context(), &ListOptions{Deps: d, Tenant: "acme"}); err != nil || out.String() != "[]\n" {
		t.Fatalf("empty list: %q, %v", out, err)
	}
}

func TestSetPasswordRun(t *testing.T) {
	t.Parallel()
	s := newFake()
	d, in, out, _ := testDeps(s, output.Table, false)
	in.WriteString("a brand new one\n")
	if err := setPasswordRun(t.Context(), &SetPasswordOptions{Deps: d, Email: "ANA@example.com", PasswordStdin: true}); err != nil {
		t.Fatal(err)
	}
	if len(s.passwords) != 1 || *s.passwords[0] != (tenancy.UserSetPasswordParams{UserID: ana.ID, Password: "a brand new one", Actor: "operator:test"}) {
		t.Fatalf("passwords %+v", s.passwords)
	}
	if !strings.Contains(out.String(), "token_version\t5\n") || strings.Contains(out.String(), "password\t") {
		t.Fatalf("stdout %q", out)
	}

	d, _, _, _ = testDeps(s, output.Table, false)
	err := setPasswordRun(t.Context(), &SetPasswordOptions{Deps: d, Email: "nobody@example.com"})
	if cmdutil.ExitCode(err) != cmdutil.ExitNotFound || len(s.passwords) != 1 {
		t.Fatalf("unknown account: %v", err)
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

func TestFlags(t *testing.T) {
	t.Parallel()
	ios, _, _, _ := iostreams.Test()
	f := &cmdutil.Factory{IOStreams: ios, Config: func() (*cmdutil.Config, error) { return &cmdutil.Config{}, nil }}
	var ran any
	cmds := map[string]func() *cobra.Command{
		"create":   func() *cobra.Command { return NewCmdCreate(f, func(o *CreateOptions) error { ran = o; return nil }) },
		"add":      func() *cobra.Command { return NewCmdAdd(f, func(o *AddOptions) error { ran = o; return nil }) },
		"set-role": func() *cobra.Command { return NewCmdSetRole(f, func(o *SetRoleOptions) error { ran = o; return nil }) },
		"remove":   func() *cobra.Command { return NewCmdRemove(f, func(o *RemoveOptions) error { ran = o; return nil }) },
		"list":     func() *cobra.Command { return NewCmdList(f, func(o *ListOptions) error { ran = o; return nil }) },
		"set-password": func() *cobra.Command {
			return NewCmdSetPassword(f, func(o *SetPasswordOptions) error { ran = o; return nil })
		},
	}
	tests := []struct {
		verb string
		args []string
		err  string // empty: runs
	}{
		{"create", []string{"--email", "a@example.com", "--name", " Ana "}, ""},
		{"create", []string{"--email", "a@example.com", "--name", "Ana", "--password-stdin"}, ""},
		{"create", []string{"--email", "a@example.com"}, `"name" not set`},
		{"create", []string{"--email", " ", "--name", "Ana"}, "--email must not be empty"},
		{"create", []string{"--email", "a@example.com", "--name", "\u202e"}, "--name"},
		{"add", []string{"--tenant", "acme", "--email", "a@example.com", "--role", "viewer"}, ""},
		{"add", []string{"--tenant", "acme", "--email", "a@example.com", "--role", "Owner"}, "--role must be owner, admin, operator or viewer"},
		{"add", []string{"--tenant", "acme", "--email", "a@example.com"}, `"role" not set`},
		{"add", []string{"--email", "a@example.com", "--role", "viewer"}, `"tenant" not set`},
		{"set-role", []string{"--tenant", "acme", "--email", "a@example.com", "--role", "owner"}, ""},
		{"set-role", []string{"--tenant", "acme", "--email", "a@example.com", "--role", ""}, "--role must be"},
		{"remove", []string{"--tenant", "acme", "--email", "a@example.com"}, ""},
		{"remove", []string{"--tenant", "acme"}, `"email" not set`},
		{"list", []string{"--tenant", "acme"}, ""},
		{"list", []string{"--tenant", "acme", "extra"}, "unknown command"},
		{"set-password", []string{"--email", "a@example.com", "--password-stdin"}, ""},
		{"set-password", nil, `"email" not set`},
	}
	for _, tt := range tests {
		ran = nil
		cmd := quiet(cmds[tt.verb]())
		cmd.SetArgs(tt.args)
		// Required flags are checked by cobra's Execute here; under the
		// root they are usage errors (exit 2) too.
		err := cmd.Execute()
		if tt.err == "" {
			if err != nil || ran == nil {
				t.Errorf("%s %q: %v (ran %v)", tt.verb, tt.args, err, ran != nil)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.err) || ran != nil {
			t.Errorf("%s %q: %v, want %q and no run", tt.verb, tt.args, err, tt.err)
		}
		var fe *cmdutil.FlagError
		if strings.HasPrefix(tt.err, "--") && !errors.As(err, &fe) {
			t.Errorf("%s %q: %v is not a usage error", tt.verb, tt.args, err)
		}
	}
	// create trims the name.
	ran = nil
	cmd := quiet(cmds["create"]())
	cmd.SetArgs([]string{"--email", "a@example.com", "--name", "  Ana  "})
	if err := cmd.Execute(); err != nil || ran.(*CreateOptions).Name != "Ana" {
		t.Fatalf("name not trimmed: %v", err)
	}
}
