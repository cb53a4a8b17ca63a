// Command benchreport reads the `go test -json` output of a benchmark run
// on standard input (echoing it as it arrives) and writes the figures
// section of BENCHMARKS.md: the block between <!-- bench:begin --> and
// <!-- bench:end -->, which it owns; everything outside stays as written.
//
// Which figures it shows follows a naming convention for the metrics
// benchmarks report with b.ReportMetric, documented at the top of
// BENCHMARKS.md: a unit ending in "ratio_median" is a ratio, with its
// spread in the units ending "ratio_min" and "ratio_max"; "<unit>@min" and
// "<unit>@max" state a target. Every benchmark function declared in the
// module's test files that reported nothing is listed as missing, with
// the reason the run gave.
//
// It exits 1 when a package or benchmark failed or a benchmark is missing
// (after writing the report), 2 on a usage or I/O error.
//
// Usage (make bench does this):
//
//	go test -json -p 1 -run '^$' -bench . ./... | benchreport -file BENCHMARKS.md -command 'make bench' -runs '…'
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/parkhq/park/internal/pgcluster"
	"github.com/parkhq/park/internal/redistest"
)

func main() {
	os.Exit(run1(os.Args[1:], os.Stdin, os.Stdout, os.Stderr, time.Now, thisMachine))
}

// run1 is the command; now and where describe the moment and the machine
// (tests fix them).
func run1(args []string, stdin io.Reader, stdout, stderr io.Writer, now func() time.Time, where func() machine) int {
	fs := flag.NewFlagSet("benchreport", flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("file", "BENCHMARKS.md", "the document whose figures block to rewrite")
	root := fs.String("root", ".", "the module's root directory, where the declared benchmarks are found")
	command := fs.String("command", "make bench", "the command that made this run, as a reader types it")
	runs := fs.String("runs", "", "the commands it ran (go test …), shown under the command")
	settings := fs.String("settings", "", "settings of the run worth stating (benchtime, GOGC, …)")
	quiet := fs.Bool("quiet", false, "do not echo the test output")
	packages := fs.Bool("packages", false, "print the packages (./dir) that declare benchmarks, for go test, and exit")
	save := fs.String("save", "", "also write the go test -json input to this file (to render again: benchreport -file … < it)")
	excludeRE := fs.String("exclude", "", "benchmarks (top-level names, a regular expression, as given to go test -skip) left out of this run on purpose: listed as such, not as missing")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var exclude *regexp.Regexp
	if *excludeRE != "" {
		re, err := regexp.Compile(*excludeRE)
		if err != nil {
			fmt.Fprintln(stderr, "benchreport: -exclude:", err)
			return 2
		}
		exclude = re
	}
	if *packages {
		dirs, err := benchDirs(*root)
		if err != nil {
			fmt.Fprintln(stderr, "benchreport:", err)
			return 2
		}
		fmt.Fprintln(stdout, strings.Join(dirs, " "))
		return 0
	}
	echo := stdout
	if *quiet {
		echo = nil
	}
	in := stdin
	if *save != "" {
		f, err := os.Create(*save)
		if err != nil {
			fmt.Fprintln(stderr, "benchreport:", err)
			return 2
		}
		defer f.Close()
		in = io.TeeReader(stdin, f)
	}
	started := now()
	r, err := parse(in, echo)
	if err == nil && now().Sub(started) > r.end.Sub(r.start) {
		// Read from the start of the pipe: the build before the first
		// test event counts too.
		r.start, r.end = started, now()
	}
	if err != nil {
		fmt.Fprintln(stderr, "benchreport:", err)
		return 2
	}
	decl, err := declared(*root)
	if err != nil {
		fmt.Fprintln(stderr, "benchreport: finding the declared benchmarks:", err)
		return 2
	}
	rep := evaluate(r, decl, exclude)
	block := render(rep, meta{Now: now(), Command: *command, Runs: *runs, Settings: withGCSettings(*settings, os.Getenv), Machine: where()})
	doc, err := os.ReadFile(*file)
	if err != nil {
		fmt.Fprintln(stderr, "benchreport:", err)
		return 2
	}
	out, err := replaceBlock(string(doc), block)
	if err != nil {
		fmt.Fprintf(stderr, "benchreport: %s: %v\n", *file, err)
		return 2
	}
	if err := os.WriteFile(*file, []byte(out), 0o644); err != nil {
		fmt.Fprintln(stderr, "benchreport:", err)
		return 2
	}
	fmt.Fprintf(stdout, "\nbenchreport: wrote the figures of %d benchmark(s) to %s\n", len(r.benches), *file)
	for _, f := range rep.figures {
		fmt.Fprintf(stdout, "  %-55s %-24s %10s  %s\n", f.leaf, f.unit, fmtNum(f.value), stripMarkdown(f.verdict()))
	}
	for _, m := range rep.missing {
		fmt.Fprintf(stdout, "  MISSING %s %s: %s\n", m.pkg, m.name, m.why)
	}
	if !rep.ok() {
		fmt.Fprintln(stderr, "benchreport: the run is incomplete (failed or missing benchmarks); see", *file)
		return 1
	}
	return 0
}

// withGCSettings adds the Go runtime settings the benchmarks ran with (the
// environment go test and the parkd processes inherit) to settings.
func withGCSettings(settings string, getenv func(string) string) string {
	show := func(k, unset string) string {
		if v := getenv(k); v != "" {
			return k + "=" + v
		}
		return k + " " + unset
	}
	gc := show("GOGC", "unset (100)") + ", " + show("GOMEMLIMIT", "unset (none)") + ", " + show("GOMAXPROCS", "unset (the cores)")
	if settings == "" {
		return gc
	}
	return settings + "; " + gc
}

func stripMarkdown(s string) string { return strings.ReplaceAll(s, "**", "") }

// thisMachine reads the machine's description from /proc and the server
// binaries the benchmarks start.
func thisMachine() machine {
	m := machine{Cores: runtime.NumCPU(), Go: runtime.Version()}
	if raw, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(strings.NewReader(string(raw)))
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if raw, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(raw), "\n") {
			if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				f := strings.Fields(rest)
				if kb, err := strconv.ParseUint(f[0], 10, 64); err == nil {
					m.MemBytes = kb * 1024
				}
			}
		}
	}
	if raw, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(raw))
	}
	if raw, err := os.ReadFile("/proc/loadavg"); err == nil {
		f := strings.Fields(string(raw))
		if len(f) >= 3 {
			m.LoadAvg = strings.Join(f[:3], " ") + " (1, 5, 15 min)"
		}
	}
	if dir, err := pgcluster.BinDir(); err == nil {
		m.Postgres = versionOf(filepath.Join(dir, "postgres"), "--version")
	}
	if bin, err := redistest.Binary(); err == nil {
		m.Redis = versionOf(bin, "--version")
	}
	return m
}

// versionOf runs bin with arg and returns its first line, shortened to the
// product and version ("PostgreSQL 15.18", "Redis 7.0.15").
func versionOf(bin, arg string) string {
	out, err := exec.Command(bin, arg).Output()
	if err != nil {
		return ""
	}
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	switch {
	case strings.HasPrefix(line, "postgres (PostgreSQL) "):
		return "PostgreSQL " + strings.Fields(strings.TrimPrefix(line, "postgres (PostgreSQL) "))[0]
	case strings.HasPrefix(line, "Redis server v="):
		return "Redis " + strings.Fields(strings.TrimPrefix(line, "Redis server v="))[0]
	}
	return line
}
