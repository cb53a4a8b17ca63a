package db

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/parkhq/park/internal/bootstrap"
	"github.com/parkhq/park/internal/parkctl/cmdutil"
	"github.com/parkhq/park/internal/parkctl/iostreams"
	"github.com/parkhq/park/internal/parkctl/output"
)

func testFactory(ios *iostreams.IOStreams, cfg cmdutil.Config) *cmdutil.Factory {
	return &cmdutil.Factory{
		IOStreams: ios,
		Config:    func() (*cmdutil.Config, error) { return &cfg, nil },
	}
}

func TestBootstrapFlags(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		args        []string
		envAdmin    string
		wantURL     string
		wantLogins  bool
		wantFlagErr bool
	}{
		{name: "flag", args: []string{"--admin-url", "postgres://flag"}, wantURL: "postgres://flag"},
		{name: "env", envAdmin: "postgres://env", wantURL: "postgres://env"},
		{name: "flag beats env", args: []string{"--admin-url", "postgres://flag", "--create-logins"}, envAdmin: "postgres://env",
			wantURL: "postgres://flag", wantLogins: true},
		{name: "missing", wantFlagErr: true},
		{name: "positional argument", args: []string{"postgres://x"}, wantFlagErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ios, _, _, _ := iostreams.Test()
			var got *BootstrapOptions
			cmd := NewCmdBootstrap(testFactory(ios, cmdutil.Config{AdminURL: tt.envAdmin}), func(o *BootstrapOptions) error {
				got = o
				return nil
			})
			cmd.SetArgs(tt.args)
			cmd.SetOut(ios.ErrOut)
			cmd.SetErr(ios.ErrOut)
			cmd.SilenceUsage = true
			_, err := cmd.ExecuteC()
			if tt.wantFlagErr {
				var fe *cmdutil.FlagError
				if err == nil || (tt.args == nil && !errors.As(err, &fe)) {
					t.Fatalf("err = %v, want a usage error", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.AdminURL != tt.wantURL || got.CreateLogins != tt.wantLogins {
				t.Errorf("opts = %+v", got)
			}
		})
	}
}

func TestBootstrapRun(t *testing.T) {
	t.Parallel()
	fake := func(_ context.Context, url string, o bootstrap.Options) (*bootstrap.Result, error) {
		if url != "postgres://super" {
			return nil, errors.New("wrong url " + url)
		}
		r := &bootstrap.Result{Database: "park"}
		if o.CreateLogins {
			r.ServerURL, r.AdminURL = "postgres://park_server:pw@/park", "postgres://park_admin:pw@/park"
		}
		return r, nil
	}
	run := func(format output.Format, logins bool) (string, string, error) {
		ios, _, out, errOut := iostreams.Test()
		err := bootstrapRun(t.Context(), &BootstrapOptions{
			IO: ios, Printer: func() (*output.Printer, error) { return output.New(ios, format), nil },
			Bootstrap: fake, AdminURL: "postgres://super", CreateLogins: logins,
		})
		return out.String(), errOut.String(), err
	}

	out, msgs, err := run(output.Table, false)
	if err != nil || out != "" || !strings.Contains(msgs, `database "park" is owned by park_owner`) {
		t.Fatalf("without logins: err %v stdout %q stderr %q", err, out, msgs)
	}

	out, _, err = run(output.Table, true)
	if err != nil || out != "server_url\tpostgres://park_server:pw@/park\nadmin_url\tpostgres://park_admin:pw@/park\n" {
		t.Fatalf("table: err %v stdout %q", err, out)
	}

	out, _, err = run(output.JSON, true)
	var got map[string]string
	if err != nil || json.Unmarshal([]byte(out), &got) != nil || len(got) != 2 ||
		got["server_url"] != "postgres://park_server:pw@/park" || got["admin_url"] != "postgres://park_admin:pw@/park" {
		t.Fatalf("json: err %v stdout %q", err, out)
	}
}
