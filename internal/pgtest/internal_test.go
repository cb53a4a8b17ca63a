package pgtest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parkhq/park/internal/pgcluster"
)

func TestFilterLog(t *testing.T) {
	t.Parallel()
	log := strings.Join([]string{
		"2026-01-01 00:00:00.000 UTC [10] LOG:  checkpoint starting",
		"2026-01-01 00:00:00.001 UTC [11] postgres@t_1_aa ERROR:  relation \"x\" does not exist",
		"2026-01-01 00:00:00.001 UTC [11] postgres@t_1_aa STATEMENT:  SELECT *",
		"\tFROM x",
		"2026-01-01 00:00:00.002 UTC [12] postgres@t_12_bb ERROR:  other database",
		"\tFROM y",
		"2026-01-01 00:00:00.003 UTC [11] park_server@t_1_aa ERROR:  permission denied",
	}, "\n")
	got := filterLog(strings.NewReader(log), "t_1_aa")
	want := strings.Join([]string{
		"2026-01-01 00:00:00.001 UTC [11] postgres@t_1_aa ERROR:  relation \"x\" does not exist",
		"2026-01-01 00:00:00.001 UTC [11] postgres@t_1_aa STATEMENT:  SELECT *",
		"\tFROM x",
		"2026-01-01 00:00:00.003 UTC [11] park_server@t_1_aa ERROR:  permission denied",
	}, "\n") + "\n"
	if got != want {
		t.Errorf("filterLog =\n%s\nwant\n%s", got, want)
	}

	var many strings.Builder
	for i := range maxLogLines + 5 {
		fmt.Fprintf(&many, "x [1] u@d line %d\n", i)
	}
	got = filterLog(strings.NewReader(many.String()), "d")
	lines := strings.Split(strings.TrimSuffix(got, "\n"), "\n")
	if len(lines) != maxLogLines+1 || lines[0] != "[5 earlier lines omitted]" || !strings.HasSuffix(lines[len(lines)-1], fmt.Sprintf("line %d", maxLogLines+4)) {
		t.Errorf("filterLog kept %d lines, first %q, last %q", len(lines), lines[0], lines[len(lines)-1])
	}
}

// recorder is a testing.TB that records Skip and Fatal instead of ending
// the goroutine.
type recorder struct {
	testing.TB
	skipped, failed bool
}

func (r *recorder) Helper()               {}
func (r *recorder) Skipf(string, ...any)  { r.skipped = true }
func (r *recorder) Fatal(...any)          { r.failed = true }
func (r *recorder) Fatalf(string, ...any) { r.failed = true }

func TestSkipOrFail(t *testing.T) {
	missing := fmt.Errorf("start: %w", pgcluster.ErrNotFound)
	for _, tc := range []struct {
		ci           string
		err          error
		skip, failed bool
	}{
		{"", missing, true, false},
		{"false", missing, true, false},
		{"true", missing, false, true},
		{"1", missing, false, true},
		{"", fmt.Errorf("initdb: exit status 1"), false, true},
	} {
		t.Setenv("CI", tc.ci)
		r := &recorder{TB: t}
		skipOrFail(r, tc.err)
		// A real Skipf ends the test; the recorder returns, so Fatal follows.
		if r.skipped != tc.skip || (!tc.skip && r.failed != tc.failed) {
			t.Errorf("CI=%q, %v: skipped %v, failed %v", tc.ci, tc.err, r.skipped, r.failed)
		}
	}
}

func TestSweepStale(t *testing.T) {
	t.Parallel()
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	mk := func(owner string) string {
		dir, err := os.MkdirTemp("/tmp", dirPrefix)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		if owner != "" {
			if err := os.WriteFile(filepath.Join(dir, ownerFile), []byte(owner+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	orphan := mk(strconv.Itoa(dead.Process.Pid))
	live := mk(strconv.Itoa(os.Getpid()))
	fresh := mk("") // a binary between MkdirTemp and writing its owner file
	old := mk("")
	past := time.Now().Add(-2 * staleAge)
	if err := os.Chtimes(old, past, past); err != nil {
		t.Fatal(err)
	}

	sweepStale()
	for dir, wantGone := range map[string]bool{orphan: true, live: false, fresh: false, old: true} {
		_, err := os.Stat(dir)
		if gone := errors.Is(err, os.ErrNotExist); gone != wantGone {
			t.Errorf("%s: removed %v, want %v", dir, gone, wantGone)
		}
	}
}
