package cmdutil_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parkhq/park/internal/dbpool"
	"github.com/parkhq/park/internal/parkctl/cmdutil"
	"github.com/parkhq/park/internal/parkctl/iostreams"
)

func TestConfirm(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		tty      bool
		yes      bool
		input    string
		wantErr  error
		wantCode int // for *ExitError
	}{
		{name: "yes skips the prompt", yes: true},
		{name: "yes skips the prompt on a terminal", tty: true, yes: true},
		{name: "no terminal and no --yes refuses", wantCode: cmdutil.ExitUsage},
		{name: "no terminal refuses even with input", input: "y\n", wantCode: cmdutil.ExitUsage},
		{name: "terminal y", tty: true, input: "y\n"},
		{name: "terminal YES", tty: true, input: " YES \n"},
		{name: "terminal n", tty: true, input: "n\n", wantErr: cmdutil.ErrCancelled},
		{name: "terminal empty answer", tty: true, input: "\n", wantErr: cmdutil.ErrCancelled},
		{name: "terminal EOF", tty: true, input: "", wantErr: cmdutil.ErrCancelled},
		{name: "terminal y without newline", tty: true, input: "y"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ios, in, _, errOut := iostreams.Test()
			ios.SetStdinTTY(tt.tty)
			in.WriteString(tt.input)
			err := cmdutil.Confirm(ios, tt.yes, "Drop everything?")
			switch {
			case tt.wantCode != 0:
				var ee *cmdutil.ExitError
				if !errors.As(err, &ee) || ee.Code != tt.wantCode {
					t.Fatalf("Confirm = %v, want exit code %d", err, tt.wantCode)
				}
				if !strings.Contains(err.Error(), "--yes") || !strings.Contains(err.Error(), "Drop everything?") {
					t.Errorf("error %q should name --yes and the action", err)
				}
			case tt.wantErr != nil:
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Confirm = %v, want %v", err, tt.wantErr)
				}
			case err != nil:
				t.Fatalf("Confirm = %v, want nil", err)
			}
			prompted := strings.Contains(errOut.String(), "Drop everything? [y/N]")
			if want := tt.tty && !tt.yes; prompted != want {
				t.Errorf("prompted = %v, want %v (stderr %q)", prompted, want, errOut.String())
			}
		})
	}
}

func TestRequireDatabaseURL(t *testing.T) {
	t.Parallel()
	_, err := (&cmdutil.Config{}).RequireDatabaseURL()
	var ee *cmdutil.ExitError
	if !errors.As(err, &ee) || ee.Code != cmdutil.ExitUsage {
		t.Fatalf("RequireDatabaseURL() = %v, want a usage error", err)
	}
	got, err := (&cmdutil.Config{DatabaseURL: "postgres:///x"}).RequireDatabaseURL()
	if err != nil || got != "postgres:///x" {
		t.Fatalf("RequireDatabaseURL() = %q, %v", got, err)
	}
}

func TestFactoryPoolInvalidURLHidesPassword(t *testing.T) {
	t.Parallel()
	ios, _, _, _ := iostreams.Test()
	f := &cmdutil.Factory{
		IOStreams: ios,
		Config: func() (*cmdutil.Config, error) {
			return &cmdutil.Config{DatabaseURL: "postgres://u:s3cret@host:notaport/db"}, nil
		},
	}
	defer f.Close()
	_, err := f.Pool(t.Context())
	if err == nil {
		t.Fatal("Pool accepted a malformed URL")
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("error leaks the password: %v", err)
	}
	var fe *cmdutil.FlagError
	if !errors.As(err, &fe) {
		t.Fatalf("error %v is not a usage error", err)
	}
}

// TestFactoryPoolOpensThroughDBPool: parkctl's default pool is dbpool's,
// parkd's own: its errors are dbpool's, and it connects at once, so an
// unreachable database is reported by Pool, not by the verb's first query.
func TestFactoryPoolOpensThroughDBPool(t *testing.T) {
	t.Parallel()
	ios, _, _, _ := iostreams.Test()
	for _, tc := range []struct {
		url   string
		check func(error) bool
	}{
		{"postgres://u:s3cret@host:notaport/db", func(err error) bool { return errors.Is(err, dbpool.ErrInvalidURL) }},
		{"postgres://u:s3cret@/db?host=/nonexistent-parkctl-socket", func(err error) bool {
			return err != nil && strings.Contains(err.Error(), "connect to database")
		}},
	} {
		f := &cmdutil.Factory{IOStreams: ios, Config: func() (*cmdutil.Config, error) {
			return &cmdutil.Config{DatabaseURL: tc.url}, nil
		}}
		_, err := f.Pool(t.Context())
		f.Close()
		if !tc.check(err) || (err != nil && strings.Contains(err.Error(), "s3cret")) {
			t.Errorf("Pool(%s) = %v", tc.url, err)
		}
	}
}

func TestFactoryPoolOpensOnceAndCloses(t *testing.T) {
	t.Parallel()
	ios, _, _, _ := iostreams.Test()
	opened := 0
	var pool *pgxpool.Pool
	f := &cmdutil.Factory{
		IOStreams: ios,
		Config: func() (*cmdutil.Config, error) {
			return &cmdutil.Config{DatabaseURL: "postgres://u@127.0.0.1:1/db"}, nil
		},
		OpenPool: func(ctx context.Context, url string) (*pgxpool.Pool, error) {
			opened++
			var err error
			pool, err = pgxpool.New(ctx, url) // connects lazily: nothing listens
			return pool, err
		},
	}
	p1, err := f.Pool(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	p2, err := f.Pool(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if p1 != p2 || opened != 1 {
		t.Fatalf("opened %d pools, want one shared", opened)
	}
	f.Close()
	f.Close()
	if _, err := pool.Acquire(t.Context()); err == nil {
		t.Fatal("pool still open after Close")
	}
}

func TestFactoryPoolNeedsURL(t *testing.T) {
	t.Parallel()
	ios, _, _, _ := iostreams.Test()
	f := &cmdutil.Factory{IOStreams: ios, Config: func() (*cmdutil.Config, error) { return &cmdutil.Config{}, nil }}
	_, err := f.Pool(t.Context())
	var ee *cmdutil.ExitError
	if !errors.As(err, &ee) || ee.Code != cmdutil.ExitUsage {
		t.Fatalf("Pool() = %v, want a usage error", err)
	}
}
