package webhooksecret

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

	"github.com/parkhq/park/ingest"
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

type fakeStore struct {
	secrets []ingest.Secret
	calls   []string
}

func (s *fakeStore) SecretRotate(_ context.Context, p *ingest.SecretRotateParams) (*ingest.Secret, string, error) {
	s.calls = append(s.calls, fmt.Sprintf("rotate %s %s %s %s", p.TenantID, p.Mode, *p.Grace, p.Actor))
	sec := ingest.Secret{ID: uuid.MustParse("00000000-0000-0000-0000-0000000000aa"), TenantID: p.TenantID, Mode: p.Mode, KeyVersion: 3, CreatedAt: created}
	s.secrets = append(s.secrets, sec)
	return &sec, "whtok_value", nil
}

func (s *fakeStore) SecretList(_ context.Context, tenantID uuid.UUID) ([]ingest.Secret, error) {
	s.calls = append(s.calls, "list")
	return s.secrets, nil
}

func (s *fakeStore) SecretRevoke(_ context.Context, tenantID, id uuid.UUID, actor string) (*ingest.Secret, error) {
	s.calls = append(s.calls, "revoke "+id.String())
	for i := range s.secrets {
		if s.secrets[i].ID == id {
			now := created.Add(time.Hour)
			s.secrets[i].RevokedAt = &now
			return &s.secrets[i], nil
		}
	}
	return nil, fmt.Errorf("revoke webhook secret %s: %w", id, tenancy.ErrNotFound)
}

func printer(ios *iostreams.IOStreams, f output.Format) func() (*output.Printer, error) {
	return func() (*output.Printer, error) { return output.New(ios, f), nil }
}

func config(cfg cmdutil.Config) func() (*cmdutil.Config, error) {
	return func() (*cmdutil.Config, error) { return &cfg, nil }
}

func lookup(context.Context) (cmdutil.TenantLookup, error) { return cmdutiltest.Tenants{acme}, nil }

func ring(t *testing.T) *ingest.Keyring {
	t.Helper()
	k, err := ingest.NewKeyring(ingest.MasterKey{Version: 3, Key: make([]byte, ingest.MasterKeySize)})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestRotateRun(t *testing.T) {
	t.Parallel()
	s := &fakeStore{}
	opened := 0
	open := func(context.Context) (Store, error) { opened++; return s, nil }

	// No master key: a usage error before any database work.
	ios, _, out, _ := iostreams.Test()
	opts := &RotateOptions{IO: ios, Printer: printer(ios, output.JSON), Config: config(cmdutil.Config{}), Store: open,
		Tenants: lookup, Actor: func() string { return "operator:test" }, Tenant: "acme", Mode: ingest.ModeToken, Grace: time.Hour}
	err := rotateRun(t.Context(), opts)
	if cmdutil.ExitCode(err) != cmdutil.ExitUsage || opened != 0 || out.Len() != 0 {
		t.Fatalf("without a key: %v, opened %d", err, opened)
	}

	// With one: the value once, under "secret".
	opts.Config = config(cmdutil.Config{Keyring: ring(t)})
	if err := rotateRun(t.Context(), opts); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(out.Bytes(), &got); err != nil || got["secret"] != "whtok_value" || got["mode"] != "token" || got["grace"] != "1h0m0s" {
		t.Fatalf("json %s: %v", out, err)
	}
	if strings.Count(out.String(), "whtok_value") != 1 {
		t.Errorf("value printed %d times", strings.Count(out.String(), "whtok_value"))
	}
	if want := "rotate " + acme.ID.String() + " token 1h0m0s operator:test"; s.calls[0] != want {
		t.Errorf("call %q, want %q", s.calls[0], want)
	}

	opts.Tenant = "nosuch"
	if err := rotateRun(t.Context(), opts); cmdutil.ExitCode(err) != cmdutil.ExitNotFound || err.Error() != `tenant "nosuch" not found` {
		t.Errorf("unknown tenant: %v", err)
	}
}

func quiet(cmd *cobra.Command) *cobra.Command {
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	cmd.SetOut(io.Discard)
	cmd.SetErr(io.Discard)
	return cmd
}

func TestRotateFlags(t *testing.T) {
	t.Parallel()
	ios, _, _, _ := iostreams.Test()
	f := &cmdutil.Factory{IOStreams: ios}
	for _, tt := range []struct {
		args  []string
		err   string
		mode  ingest.Mode
		grace time.Duration
	}{
		{args: []string{"--tenant", "acme", "--mode", "hmac"}, mode: ingest.ModeHMAC, grace: ingest.DefaultGrace},
		{args: []string{"--tenant", "acme", "--mode", "standard", "--grace", "0s"}, mode: ingest.ModeStandard},
		{args: []string{"--tenant", "acme", "--mode", "basic"}, err: "--mode must be standard, hmac or token"},
		{args: []string{"--tenant", "acme", "--mode", "token", "--grace", "-1s"}, err: "--grace must be between 0 and 720h0m0s"},
		{args: []string{"--tenant", "acme", "--mode", "token", "--grace", "721h"}, err: "--grace must be between"},
		{args: []string{"--tenant", "acme"}, err: `"mode" not set`},
		{args: []string{"--mode", "token"}, err: `"tenant" not set`},
	} {
		var got *RotateOptions
		cmd := quiet(NewCmdRotate(f, func(o *RotateOptions) error { got = o; return nil }))
		cmd.SetArgs(tt.args)
		err := cmd.Execute()
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) || got != nil {
				t.Errorf("%v: err %v, want %q", tt.args, err, tt.err)
			}
			continue
		}
		if err != nil || got.Mode != tt.mode || got.Grace != tt.grace || got.Tenant != "acme" {
			t.Errorf("%v: %v, %+v", tt.args, err, got)
		}
	}
}

func TestRevokeRun(t *testing.T) {
	t.Parallel()
	id := uuid.MustParse("00000000-0000-0000-0000-0000000000aa")
	run := func(s *fakeStore, yes, tty bool, input string, secret uuid.UUID) (string, error) {
		ios, in, _, errOut := iostreams.Test()
		ios.SetStdinTTY(tty)
		in.WriteString(input)
		err := revokeRun(t.Context(), &RevokeOptions{IO: ios, Printer: printer(ios, output.Table), Config: config(cmdutil.Config{Yes: yes}),
			Store: func(context.Context) (Store, error) { return s, nil }, Tenants: lookup, Actor: func() string { return "operator:test" },
			Tenant: "acme", ID: secret})
		return errOut.String(), err
	}
	s := &fakeStore{secrets: []ingest.Secret{{ID: id, TenantID: acme.ID, Mode: ingest.ModeHMAC, CreatedAt: created}}}
	if _, err := run(s, false, false, "", id); cmdutil.ExitCode(err) != cmdutil.ExitUsage || strings.Join(s.calls, ",") != "list" {
		t.Fatalf("without --yes: %v, calls %v", err, s.calls)
	}
	if _, err := run(s, false, true, "n\n", id); cmdutil.ExitCode(err) != cmdutil.ExitFailure || len(s.calls) != 2 {
		t.Fatalf("answered no: %v, calls %v", err, s.calls)
	}
	msg, err := run(s, false, true, "y\n", id)
	if err != nil || !strings.Contains(msg, "Revoke the hmac webhook secret "+id.String()+" of tenant acme") || s.calls[3] != "revoke "+id.String() {
		t.Fatalf("answered yes: %v, %q, calls %v", err, msg, s.calls)
	}
	msg, err = run(s, true, false, "", id)
	if err != nil || !strings.Contains(msg, "already revoked") || len(s.calls) != 5 {
		t.Fatalf("again: %v, %q, calls %v", err, msg, s.calls)
	}
	other := uuid.New()
	if _, err := run(s, true, false, "", other); cmdutil.ExitCode(err) != cmdutil.ExitNotFound || err.Error() != fmt.Sprintf("webhook secret %q not found", other) {
		t.Fatalf("unknown id: %v", err)
	}
}

// fakeResealer returns a fixed report.
type fakeResealer struct{ rep ResealReport }

func (f *fakeResealer) Reseal(_ context.Context, ring *ingest.Keyring, _ string) (*ResealReport, error) {
	r := f.rep
	r.KeyVersion = ring.Current
	return &r, nil
}

func TestResealRun(t *testing.T) {
	t.Parallel()
	run := func(cfg cmdutil.Config, rep ResealReport) (string, string, error) {
		ios, _, out, errOut := iostreams.Test()
		err := resealRun(t.Context(), &ResealOptions{IO: ios, Printer: printer(ios, output.JSON), Config: config(cfg),
			Store: func(context.Context) (Resealer, error) { return &fakeResealer{rep}, nil }, Actor: func() string { return "operator:test" }})
		return out.String(), errOut.String(), err
	}
	if _, _, err := run(cmdutil.Config{}, ResealReport{}); cmdutil.ExitCode(err) != cmdutil.ExitUsage {
		t.Fatalf("without a key: %v", err)
	}
	out, _, err := run(cmdutil.Config{Keyring: ring(t)}, ResealReport{Resealed: 2, Current: 1})
	if err != nil || !strings.Contains(out, `"resealed": 2`) || !strings.Contains(out, `"key_version": 3`) || !strings.Contains(out, `"failures": []`) {
		t.Fatalf("ok: %v, %s", err, out)
	}
	bad := ResealFailure{TenantID: acme.ID, ID: uuid.New(), KeyVersion: 1, Error: "its master key version is not in PARKCTL_MASTER_KEYS_OLD"}
	out, msgs, err := run(cmdutil.Config{Keyring: ring(t)}, ResealReport{Resealed: 1, Failed: 1, Failures: []ResealFailure{bad}})
	if cmdutil.ExitCode(err) != cmdutil.ExitFailure || !strings.Contains(out, `"failed": 1`) || !strings.Contains(msgs, bad.ID.String()+" of tenant "+acme.ID.String()+" (key v1)") {
		t.Fatalf("failure: %v, %s, %s", err, out, msgs)
	}
}
