package apikey

import (
	"context"
	"encoding/json"
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

var (
	acme    = tenancy.Tenant{ID: uuid.MustParse("00000000-0000-0000-0000-000000000001"), Slug: "acme"}
	created = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
)

// fakeStore keeps keys in memory and serves them one per page, so All and
// Find must follow the pages.
type fakeStore struct {
	keys    []tenancy.APIKey
	creates []tenancy.APIKeyCreateParams
	revokes []tenancy.APIKeyRevokeParams
}

func (s *fakeStore) APIKeyCreate(_ context.Context, p *tenancy.APIKeyCreateParams) (*tenancy.CreatedAPIKey, error) {
	s.creates = append(s.creates, *p)
	k := tenancy.APIKey{ID: uuid.MustParse("00000000-0000-0000-0000-0000000000aa"), TenantID: p.TenantID, KeyID: "KeyId0123456",
		Name: p.Name, CreatedBy: p.CreatedBy, CreatedAt: created, ExpiresAt: p.ExpiresAt}
	for _, sc := range p.Scopes {
		k.Scopes = append(k.Scopes, tenancy.Scope(sc))
	}
	s.keys = append(s.keys, k)
	return &tenancy.CreatedAPIKey{APIKey: k, Key: "park_KeyId0123456_secretsecret"}, nil
}

func (s *fakeStore) APIKeyList(_ context.Context, _ uuid.UUID, pp tenancy.PageParams) (*tenancy.Page[tenancy.APIKey], error) {
	i := 0
	if pp.After != nil {
		fmt.Sscanf(pp.After.ID.String()[24:], "%d", &i)
	}
	if i >= len(s.keys) {
		return &tenancy.Page[tenancy.APIKey]{}, nil
	}
	pg := &tenancy.Page[tenancy.APIKey]{Items: s.keys[i : i+1]}
	if i+1 < len(s.keys) {
		pg.Next = &tenancy.Cursor{ID: uuid.MustParse(fmt.Sprintf("00000000-0000-0000-0000-%012d", i+1))}
	}
	return pg, nil
}

func (s *fakeStore) APIKeyRevoke(_ context.Context, p *tenancy.APIKeyRevokeParams) (*tenancy.APIKey, error) {
	s.revokes = append(s.revokes, *p)
	for i := range s.keys {
		if s.keys[i].ID == p.ID {
			at := created.Add(time.Hour)
			s.keys[i].RevokedAt = &at
			k := s.keys[i]
			return &k, nil
		}
	}
	return nil, fmt.Errorf("revoke API key %s: %w", p.ID, tenancy.ErrNotFound)
}

func deps(ios *iostreams.IOStreams, format output.Format, s *fakeStore) Deps {
	return Deps{
		IO:      ios,
		Printer: func() (*output.Printer, error) { return output.New(ios, format), nil },
		Actor:   func() string { return "operator:test" },
		Store:   func(context.Context) (Store, error) { return s, nil },
		Tenants: func(context.Context) (cmdutil.TenantLookup, error) { return cmdutiltest.Tenants{acme}, nil },
	}
}

func quiet(cmd *cobra.Command) *cobra.Command {
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	cmd.SetOut(io.Discard)
	cmd.SetErr(io.Discard)
	return cmd
}

func TestParseExpires(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]time.Duration{
		"90d": 90 * 24 * time.Hour, "36h": 36 * time.Hour, "90m": 90 * time.Minute, "1s": time.Second,
		" 7d ": 7 * 24 * time.Hour, "3650d": MaxExpires, "87600h": MaxExpires,
	} {
		if got, err := ParseExpires(in); err != nil || got != want {
			t.Errorf("ParseExpires(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for in, msg := range map[string]string{
		"0d": "must be positive", "0s": "must be positive", "-1h": "must be positive", "-3d": "must be positive",
		"3651d": "must be at most 3650d", "87601h": "must be at most 3650d", "100000d": "not a duration",
		"2562047h": "must be at most", "9999999999h": "not a duration",
		"": "not a duration", "90": "not a duration", "1.5d": "not a duration", "90D": "not a duration", "1w": "not a duration",
	} {
		got, err := ParseExpires(in)
		if cmdutil.ExitCode(err) != cmdutil.ExitUsage || !strings.Contains(err.Error(), msg) {
			t.Errorf("ParseExpires(%q) = %v, %v; want a usage error saying %q", in, got, err, msg)
		}
	}
}

func TestParseScopes(t *testing.T) {
	t.Parallel()
	got, err := ParseScopes([]string{"spaces:read", " reservations:write", "spaces:read", ""})
	if err != nil || strings.Join(got, ",") != "reservations:write,spaces:read" {
		t.Errorf("ParseScopes = %v, %v", got, err)
	}
	for _, in := range [][]string{{"read"}, {"spaces:read", "spaces:admin"}, {}, {" "}} {
		_, err := ParseScopes(in)
		if cmdutil.ExitCode(err) != cmdutil.ExitUsage || !strings.Contains(err.Error(), "tenants:read, tenants:write") {
			t.Errorf("ParseScopes(%q) = %v, want a usage error listing the scopes", in, err)
		}
	}
}

func TestCreateFlags(t *testing.T) {
	t.Parallel()
	ios, _, _, _ := iostreams.Test()
	f := &cmdutil.Factory{IOStreams: ios}
	for _, tt := range []struct {
		args    []string
		err     string
		scopes  string
		expires time.Duration
	}{
		{args: []string{"--tenant", "acme", "--name", "n", "--scopes", "spaces:read,sites:read"}, scopes: "sites:read,spaces:read"},
		{args: []string{"--tenant", "acme", "--name", "n", "--scopes", "spaces:read", "--scopes", "devices:write", "--expires", "90d"},
			scopes: "devices:write,spaces:read", expires: 90 * 24 * time.Hour},
		{args: []string{"--tenant", "acme", "--name", "n", "--scopes", "spaces:read", "--expires", "36h"}, scopes: "spaces:read", expires: 36 * time.Hour},
		{args: []string{"--tenant", "acme", "--name", "n", "--scopes", "spaces:read,admin"}, err: `unknown scope "admin" (valid scopes: devices:read, devices:write,`},
		{args: []string{"--tenant", "acme", "--name", "n", "--scopes", ""}, err: "--scopes must name at least one scope"},
		{args: []string{"--tenant", "acme", "--name", "n", "--scopes", "spaces:read", "--expires", "0d"}, err: "must be positive"},
		{args: []string{"--tenant", "acme", "--name", "n", "--scopes", "spaces:read", "--expires", ""}, err: "not a duration"},
		{args: []string{"--tenant", "acme", "--name", "n", "--scopes", "spaces:read", "--expires", "20y"}, err: "not a duration"},
		{args: []string{"--tenant", "acme", "--name", " ", "--scopes", "spaces:read"}, err: "--name must not be empty"},
		{args: []string{"--tenant", "acme", "--name", "n"}, err: `"scopes" not set`},
		{args: []string{"--tenant", "acme", "--scopes", "spaces:read"}, err: `"name" not set`},
		{args: []string{"--name", "n", "--scopes", "spaces:read"}, err: `"tenant" not set`},
		{args: []string{"--tenant", "acme", "--name", "n", "--scopes", "spaces:read", "extra"}, err: "unknown command"},
	} {
		var got *CreateOptions
		cmd := quiet(NewCmdCreate(f, func(o *CreateOptions) error { got = o; return nil }))
		cmd.SetArgs(tt.args)
		err := cmd.Execute()
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) || got != nil {
				t.Errorf("%q: err %v, want %q", tt.args, err, tt.err)
			}
			continue
		}
		if err != nil || got.Tenant != "acme" || strings.Join(got.Scopes, ",") != tt.scopes || got.Expires != tt.expires {
			t.Errorf("%q: %v, %+v", tt.args, err, got)
		}
	}
}

func TestCreateRun(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	run := func(format output.Format, expires time.Duration, tenant string) (*fakeStore, string, string, error) {
		s := &fakeStore{}
		ios, _, out, errOut := iostreams.Test()
		err := createRun(t.Context(), &CreateOptions{Deps: deps(ios, format, s), Now: func() time.Time { return now },
			Tenant: tenant, Name: "billing", Scopes: []string{"spaces:read"}, Expires: expires})
		return s, out.String(), errOut.String(), err
	}

	// -o json: the object, the token under "key", once; a service key
	// (no creator) of the resolved tenant, audited as the operator.
	s, out, msgs, err := run(output.JSON, 90*24*time.Hour, "acme")
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("json %s: %v", out, err)
	}
	if got["key"] != "park_KeyId0123456_secretsecret" || got["key_id"] != "KeyId0123456" || got["created_by"] != nil ||
		got["expires_at"] != "2026-05-30T12:00:00Z" || got["name"] != "billing" {
		t.Errorf("json: %s", out)
	}
	if strings.Count(out, "secretsecret") != 1 || strings.Contains(msgs, "secretsecret") {
		t.Errorf("token shown %d times on stdout, stderr %q", strings.Count(out, "secretsecret"), msgs)
	}
	p := s.creates[0]
	if p.TenantID != acme.ID || p.CreatedBy != nil || p.Actor != "operator:test" || p.ExpiresAt == nil || !p.ExpiresAt.Equal(now.Add(90*24*time.Hour)) {
		t.Errorf("create params: %+v", p)
	}
	if !strings.Contains(msgs, "warning: the key is shown this once") {
		t.Errorf("no warning on stderr: %q", msgs)
	}

	// Table: "key<TAB>token" among the fields, the warning on stderr; no
	// --expires, no expiry.
	s, out, msgs, err = run(output.Table, 0, "acme")
	if err != nil || !strings.Contains(out, "\nkey\tpark_KeyId0123456_secretsecret\n") || !strings.Contains(out, "expires_at\t-\n") ||
		!strings.Contains(out, "created_by\toperator\n") || !strings.Contains(msgs, "cannot be shown again") {
		t.Errorf("table: %v\n%s\n%s", err, out, msgs)
	}
	if s.creates[0].ExpiresAt != nil {
		t.Errorf("expires without --expires: %v", s.creates[0].ExpiresAt)
	}

	// An unknown tenant: exit 3, nothing created.
	s, _, _, err = run(output.Table, 0, "nosuch")
	if cmdutil.ExitCode(err) != cmdutil.ExitNotFound || err.Error() != `tenant "nosuch" not found` || len(s.creates) != 0 {
		t.Errorf("unknown tenant: %v, %d creates", err, len(s.creates))
	}
}

func testKeys() []tenancy.APIKey {
	user := uuid.MustParse("00000000-0000-0000-0000-0000000000b1")
	soon := created.Add(time.Hour)
	revoked := created.Add(2 * time.Hour)
	return []tenancy.APIKey{
		{ID: uuid.MustParse("00000000-0000-0000-0000-0000000000a1"), KeyID: "AAAAAAAAAAA1", Name: "svc",
			Scopes: []tenancy.Scope{"sites:read", "spaces:read"}, CreatedAt: created},
		{ID: uuid.MustParse("00000000-0000-0000-0000-0000000000a2"), KeyID: "AAAAAAAAAAA2", Name: "mine",
			Scopes: []tenancy.Scope{"spaces:write"}, CreatedBy: &user, CreatedAt: created, ExpiresAt: &soon},
		{ID: uuid.MustParse("00000000-0000-0000-0000-0000000000a3"), KeyID: "AAAAAAAAAAA3", Name: "old",
			Scopes: []tenancy.Scope{"devices:read"}, CreatedAt: created, RevokedAt: &revoked},
	}
}

func TestListRun(t *testing.T) {
	t.Parallel()
	s := &fakeStore{keys: testKeys()}
	ios, _, out, _ := iostreams.Test()
	// Two hours on: the second key has expired.
	now := created.Add(2 * time.Hour)
	if err := listRun(t.Context(), &ListOptions{Deps: deps(ios, output.Table, s), Now: func() time.Time { return now }, Tenant: "acme"}); err != nil {
		t.Fatal(err)
	}
	want := "00000000-0000-0000-0000-0000000000a1\tpark_AAAAAAAAAAA1\tsvc\tsites:read,spaces:read\tactive\toperator\t2026-01-02T03:04:05Z\t-\t-\n" +
		"00000000-0000-0000-0000-0000000000a2\tpark_AAAAAAAAAAA2\tmine\tspaces:write\texpired\tuser:" + s.keys[1].CreatedBy.String() + "\t2026-01-02T03:04:05Z\t2026-01-02T04:04:05Z\t-\n" +
		"00000000-0000-0000-0000-0000000000a3\tpark_AAAAAAAAAAA3\told\tdevices:read\trevoked\toperator\t2026-01-02T03:04:05Z\t-\t-\n"
	if out.String() != want {
		t.Errorf("list:\n%s\nwant\n%s", out, want)
	}

	ios, _, out, _ = iostreams.Test()
	if err := listRun(t.Context(), &ListOptions{Deps: deps(ios, output.JSON, &fakeStore{}), Now: time.Now, Tenant: "acme"}); err != nil || out.String() != "[]\n" {
		t.Errorf("empty list: %v, %q", err, out)
	}
	if err := listRun(t.Context(), &ListOptions{Deps: deps(ios, output.JSON, s), Now: time.Now, Tenant: "nosuch"}); cmdutil.ExitCode(err) != cmdutil.ExitNotFound {
		t.Errorf("unknown tenant: %v", err)
	}
}

func TestFind(t *testing.T) {
	t.Parallel()
	s := &fakeStore{keys: testKeys()}
	gen, err := tenancy.GenerateAPIKey()
	if err != nil {
		t.Fatal(err)
	}
	s.keys[2].KeyID = gen.KeyID
	other, err := tenancy.GenerateAPIKey()
	if err != nil {
		t.Fatal(err)
	}
	for ref, want := range map[string]string{
		"00000000-0000-0000-0000-0000000000a2": "mine",
		"AAAAAAAAAAA1":                         "svc",
		"park_AAAAAAAAAAA2":                    "mine",
		" park_AAAAAAAAAAA1 ":                  "svc",
		gen.Token:                              "old", // a whole token
	} {
		k, err := Find(t.Context(), s, acme.ID, ref)
		if err != nil || k.Name != want {
			t.Errorf("Find(%q) = %v, %v; want %s", ref, k, err, want)
		}
	}
	for ref, name := range map[string]string{
		"AAAAAAAAAAA9":                         "AAAAAAAAAAA9",
		"park_":                                "park_",
		"aaaaaaaaaaa1":                         "aaaaaaaaaaa1", // key ids are case-sensitive
		"00000000-0000-0000-0000-0000000000ff": "00000000-0000-0000-0000-0000000000ff",
		// An unknown whole token is named without its secret.
		other.Token: "park_" + other.KeyID,
	} {
		_, err := Find(t.Context(), s, acme.ID, ref)
		if cmdutil.ExitCode(err) != cmdutil.ExitNotFound || err.Error() != fmt.Sprintf("API key %q not found", name) {
			t.Errorf("Find(%q) = %v, want not found naming %q", ref, err, name)
		}
	}
	if _, err := Find(t.Context(), s, acme.ID, " "); cmdutil.ExitCode(err) != cmdutil.ExitUsage {
		t.Errorf("empty ref: %v", err)
	}
}

func TestRevokeRun(t *testing.T) {
	t.Parallel()
	run := func(s *fakeStore, yes, tty bool, input, ref string) (string, string, error) {
		ios, in, out, errOut := iostreams.Test()
		ios.SetStdinTTY(tty)
		in.WriteString(input)
		err := revokeRun(t.Context(), &RevokeOptions{Deps: deps(ios, output.Table, s),
			Config: func() (*cmdutil.Config, error) { return &cmdutil.Config{Yes: yes}, nil }, Tenant: "acme", Key: ref})
		return out.String(), errOut.String(), err
	}
	s := &fakeStore{keys: testKeys()}
	// A script without --yes is refused before anything is revoked.
	if _, _, err := run(s, false, false, "", "park_AAAAAAAAAAA1"); cmdutil.ExitCode(err) != cmdutil.ExitUsage || len(s.revokes) != 0 {
		t.Fatalf("without --yes: %v, %d revokes", err, len(s.revokes))
	}
	// On a terminal, "n" cancels (exit 1).
	if _, msgs, err := run(s, false, true, "n\n", "park_AAAAAAAAAAA1"); cmdutil.ExitCode(err) != cmdutil.ExitFailure || len(s.revokes) != 0 ||
		!strings.Contains(msgs, `Revoke API key "svc" (park_AAAAAAAAAAA1, sites:read,spaces:read) of tenant acme for good? [y/N]`) {
		t.Fatalf("answered no: %v, %q", err, msgs)
	}
	// With --yes: revoked as the operator, with no member checking.
	out, msgs, err := run(s, true, false, "", "park_AAAAAAAAAAA1")
	if err != nil || len(s.revokes) != 1 || !strings.Contains(out, "revoked_at\t2026-01-02T04:04:05Z\n") ||
		!strings.Contains(msgs, `revoked API key "svc" (park_AAAAAAAAAAA1) of tenant acme`) {
		t.Fatalf("--yes: %v\n%s\n%s", err, out, msgs)
	}
	if p := s.revokes[0]; p.ID != s.keys[0].ID || p.TenantID != acme.ID || p.Actor != "operator:test" || p.RevokedBy != nil {
		t.Errorf("revoke params: %+v", p)
	}
	// Again: already revoked, nothing asked or written.
	if _, msgs, err := run(s, false, false, "", "AAAAAAAAAAA1"); err != nil || len(s.revokes) != 1 || !strings.Contains(msgs, "is already revoked") {
		t.Errorf("again: %v, %q", err, msgs)
	}
	// Unknown key or tenant: exit 3.
	if _, _, err := run(s, true, false, "", "park_nosuchnosuch"); cmdutil.ExitCode(err) != cmdutil.ExitNotFound {
		t.Errorf("unknown key: %v", err)
	}
	if _, _, err := revokeRunTenant(t, s, "nosuch"); cmdutil.ExitCode(err) != cmdutil.ExitNotFound || err.Error() != `tenant "nosuch" not found` {
		t.Errorf("unknown tenant: %v", err)
	}
}

func revokeRunTenant(t *testing.T, s *fakeStore, tenant string) (string, string, error) {
	ios, _, out, errOut := iostreams.Test()
	err := revokeRun(t.Context(), &RevokeOptions{Deps: deps(ios, output.Table, s),
		Config: func() (*cmdutil.Config, error) { return &cmdutil.Config{Yes: true}, nil }, Tenant: tenant, Key: "AAAAAAAAAAA2"})
	return out.String(), errOut.String(), err
}

func TestRevokeFlags(t *testing.T) {
	t.Parallel()
	ios, _, _, _ := iostreams.Test()
	f := &cmdutil.Factory{IOStreams: ios}
	for _, tt := range []struct {
		args []string
		err  string
	}{
		{args: []string{"--tenant", "acme", "park_AAAAAAAAAAA1"}},
		{args: []string{"--tenant", "acme"}, err: "expected one API key"},
		{args: []string{"--tenant", "acme", "a", "b"}, err: "expected one API key"},
		{args: []string{"park_AAAAAAAAAAA1"}, err: `"tenant" not set`},
	} {
		var got *RevokeOptions
		cmd := quiet(NewCmdRevoke(f, func(o *RevokeOptions) error { got = o; return nil }))
		cmd.SetArgs(tt.args)
		err := cmd.Execute()
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) || got != nil {
				t.Errorf("%q: err %v, want %q", tt.args, err, tt.err)
			}
			continue
		}
		if err != nil || got.Key != "park_AAAAAAAAAAA1" || got.Tenant != "acme" {
			t.Errorf("%q: %v, %+v", tt.args, err, got)
		}
	}
}

// TestHelp checks that every verb explains itself with an example of its
// own command.
func TestHelp(t *testing.T) {
	t.Parallel()
	ios, _, _, _ := iostreams.Test()
	noun := NewCmdAPIKey(&cmdutil.Factory{IOStreams: ios})
	if !strings.Contains(noun.Example, "parkctl apikey ") || len(noun.Commands()) != 3 {
		t.Fatalf("noun: %d verbs, example %q", len(noun.Commands()), noun.Example)
	}
	for _, verb := range noun.Commands() {
		if !strings.Contains(verb.Example, "parkctl apikey "+verb.Name()) || verb.Long == "" {
			t.Errorf("%s: example %q, long %q", verb.Name(), verb.Example, verb.Long)
		}
	}
}
