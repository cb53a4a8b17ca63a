// Package park_test runs the operator workflows in testdata/scripts as
// testscript scenarios (DESIGN §10): each script runs the real parkctl
// against a database of its own on the test cluster that internal/pgtest
// starts.
package park_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/parkhq/park/internal/parkctl"
	"github.com/parkhq/park/internal/pgtest"
)

// TestMain runs once for `go test` and once more for every `exec parkctl`
// in a script, when the test binary is started under the name parkctl.
// Nothing may start services here: pgtest starts the cluster lazily, on a
// script's first database.
func TestMain(m *testing.M) {
	testscript.Main(withCluster{m}, map[string]func(){
		"parkctl": func() { os.Exit(parkctl.Main()) },
	})
}

// withCluster runs the tests and then stops the shared test cluster
// (pgtest.Main): testscript.Main ends the process with os.Exit, so no
// deferred call would.
type withCluster struct{ m *testing.M }

func (w withCluster) Run() int { return pgtest.Main(w.m) }

// TestScripts runs testdata/scripts/*.txtar. Each script gets:
//
//	PARKCTL_DATABASE_URL  park_admin (member of park_owner and park_ops) on a
//	                      fresh bootstrapped and migrated database
//	ADMIN_URL             superuser on that database (for psql)
//	EMPTY_ADMIN_URL       superuser on a fresh database that is neither
//	                      bootstrapped nor migrated
//	HOME, XDG_CONFIG_HOME inside the script's work directory
//	NO_COLOR=1
//
// and the command `exitcode N prog args...`, which runs prog like exec and
// fails unless it exits with status N (exec only tells zero from non-zero).
func TestScripts(t *testing.T) {
	t.Parallel()
	pgtest.Require(t)
	testscript.Run(t, testscript.Params{
		Dir:                 filepath.Join("testdata", "scripts"),
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
		Setup:               setupScript,
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"exitcode": cmdExitCode,
		},
	})
}

func setupScript(env *testscript.Env) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	migrated, err := pgtest.CreateDB(ctx, true)
	if err != nil {
		return err
	}
	env.Defer(func() { dropDB(env, migrated) })
	empty, err := pgtest.CreateDB(ctx, false)
	if err != nil {
		return err
	}
	env.Defer(func() { dropDB(env, empty) })

	home := filepath.Join(env.WorkDir, "home")
	if err := os.MkdirAll(filepath.Join(home, ".config"), 0o755); err != nil {
		return err
	}
	env.Setenv("PARKCTL_DATABASE_URL", migrated.OpsURL)
	env.Setenv("ADMIN_URL", migrated.AdminURL)
	env.Setenv("EMPTY_ADMIN_URL", empty.AdminURL)
	env.Setenv("HOME", home)
	env.Setenv("XDG_CONFIG_HOME", filepath.Join(home, ".config"))
	env.Setenv("NO_COLOR", "1")
	// psql must not read the machine's defaults or prompt for a password.
	env.Setenv("PSQLRC", os.DevNull)
	env.Setenv("PGCONNECT_TIMEOUT", "10")
	// Under -race every successful parkctl would sleep a second at exit
	// (atexit_sleep_ms defaults to 1000) waiting for racing goroutines to
	// report; parkctl has none left by then, and the scenarios run dozens.
	// testscript passes no GORACE of its own, so keep the caller's options.
	if gorace := os.Getenv("GORACE"); !strings.Contains(gorace, "atexit_sleep_ms") {
		env.Setenv("GORACE", strings.TrimSpace(gorace+" atexit_sleep_ms=0"))
	}
	return nil
}

func dropDB(env *testscript.Env, db *pgtest.DB) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := db.Drop(ctx); err != nil {
		env.T().Log("drop database:", err)
	}
}

// cmdExitCode implements `exitcode N prog args...`.
func cmdExitCode(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! exitcode (give the expected status instead)")
	}
	if len(args) < 2 {
		ts.Fatalf("usage: exitcode N program [args...]")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil || want < 0 || want > 255 {
		ts.Fatalf("exitcode: invalid status %q", args[0])
	}
	got := 0
	if err := ts.Exec(args[1], args[2:]...); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			ts.Fatalf("exitcode: run %s: %v", args[1], err)
		}
		got = ee.ExitCode()
	}
	if got != want {
		ts.Fatalf("%s exited with status %d, want %d", args[1], got, want)
	}
}
