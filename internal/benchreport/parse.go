package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"
)

// event is one line of `go test -json` (cmd/test2json), build events
// included.
type event struct {
	Time        time.Time
	Action      string
	Package     string
	Test        string
	Output      string
	ImportPath  string
	FailedBuild string
}

// metric is one value a benchmark result line reports, as
// b.ReportMetric(value, unit) or the testing package's own (ns/op).
type metric struct {
	Value float64
	Unit  string
}

// result is one benchmark result line: the (sub-)benchmark's full name
// without the -GOMAXPROCS suffix, its iterations and metrics.
type result struct {
	Name    string
	N       int64
	Metrics []metric
}

// get returns the value of unit, if reported.
func (r result) get(unit string) (float64, bool) {
	for _, m := range r.Metrics {
		if m.Unit == unit {
			return m.Value, true
		}
	}
	return 0, false
}

// bench is a top-level benchmark function of a package and what the run
// said about it.
type bench struct {
	Pkg, Name string
	Results   []result
	// Status is "pass", "fail", "skip", or "" when the run never reached
	// it.
	Status string
	// Reason is why it failed or was skipped: the first line it (or a
	// failing sub-benchmark) logged.
	Reason string
	logs   []string // its and its sub-benchmarks' log lines, in order
}

// run is everything a `go test -json` stream said.
type run struct {
	benches    map[string]*bench // by pkg + " " + name
	pkgStatus  map[string]string // "pass" or "fail" per package that ran
	pkgReason  map[string]string // why a package failed
	start, end time.Time
	buildOut   map[string][]string // build output per import path
	pkgOut     map[string][]string // output lines without a test, per package
	partial    map[string]string   // unfinished output line per package and test
	testOutput map[string][]string // output lines per package and test
}

func benchKey(pkg, name string) string { return pkg + " " + name }

// bench returns the benchmark pkg name, made on first use.
func (r *run) bench(pkg, name string) *bench {
	k := benchKey(pkg, name)
	b := r.benches[k]
	if b == nil {
		b = &bench{Pkg: pkg, Name: name}
		r.benches[k] = b
	}
	return b
}

// topLevel is the benchmark function a (sub-)benchmark name belongs to.
func topLevel(name string) string {
	top, _, _ := strings.Cut(name, "/")
	return top
}

// parse reads a `go test -json` stream. Every output line is copied to
// echo (nil: nowhere) as it arrives, so a long run shows its progress. A
// line that is not JSON (go vet's or the go command's own complaints) is
// echoed and otherwise ignored.
func parse(in io.Reader, echo io.Writer) (*run, error) {
	r := &run{benches: map[string]*bench{}, pkgStatus: map[string]string{}, pkgReason: map[string]string{},
		buildOut: map[string][]string{}, pkgOut: map[string][]string{}, partial: map[string]string{},
		testOutput: map[string][]string{}}
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var e event
		if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &e) != nil {
			if echo != nil {
				fmt.Fprintf(echo, "%s\n", line)
			}
			continue
		}
		if !e.Time.IsZero() {
			if r.start.IsZero() || e.Time.Before(r.start) {
				r.start = e.Time
			}
			if e.Time.After(r.end) {
				r.end = e.Time
			}
		}
		if echo != nil && e.Output != "" {
			io.WriteString(echo, e.Output)
		}
		r.add(e)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read go test -json: %w", err)
	}
	for k, rest := range r.partial {
		if rest != "" {
			r.line(k, rest)
		}
	}
	r.reasons()
	return r, nil
}

func (r *run) add(e event) {
	switch e.Action {
	case "build-output":
		r.buildOut[e.ImportPath] = append(r.buildOut[e.ImportPath], strings.TrimRight(e.Output, "\n"))
		return
	case "output":
		k := e.Package + "\x00" + e.Test
		s := r.partial[k] + e.Output
		for {
			i := strings.IndexByte(s, '\n')
			if i < 0 {
				break
			}
			r.line(k, s[:i])
			s = s[i+1:]
		}
		r.partial[k] = s
		return
	case "run":
		if e.Test != "" && strings.HasPrefix(e.Test, "Benchmark") {
			r.bench(e.Package, topLevel(e.Test))
		}
		return
	case "pass", "fail", "skip":
	default:
		return
	}
	if e.Test == "" {
		r.pkgStatus[e.Package] = e.Action
		if e.Action == "fail" {
			reason := "the test binary failed"
			if e.FailedBuild != "" {
				reason = "build failed: " + firstNonEmpty(r.buildOut[e.FailedBuild][min(1, len(r.buildOut[e.FailedBuild])):])
			} else if last := lastMeaningful(r.pkgOut[e.Package]); last != "" {
				reason = last
			}
			r.pkgReason[e.Package] = reason
		}
		return
	}
	if !strings.HasPrefix(e.Test, "Benchmark") {
		return
	}
	b := r.bench(e.Package, topLevel(e.Test))
	switch {
	case e.Test == b.Name:
		b.Status = e.Action
	case e.Action == "fail":
		// A failing sub-benchmark's message is its benchmark's reason (the
		// benchmark's own fail event follows). Its fail event may carry
		// the -GOMAXPROCS suffix its output lines do not.
		if b.Reason == "" {
			b.Reason = logMessage(r.testOutput[e.Package+"\x00"+e.Test])
		}
		if b.Reason == "" {
			b.Reason = logMessage(r.testOutput[e.Package+"\x00"+stripProcs(e.Test)])
		}
	}
}

// line handles one complete output line of package and test key k.
func (r *run) line(k, s string) {
	pkg, test, _ := strings.Cut(k, "\x00")
	if test == "" {
		r.pkgOut[pkg] = append(r.pkgOut[pkg], s)
	} else {
		r.testOutput[k] = append(r.testOutput[k], s)
		if strings.HasPrefix(test, "Benchmark") && logMessage([]string{s}) != "" {
			b := r.bench(pkg, topLevel(test))
			b.logs = append(b.logs, s)
		}
	}
	res, ok := parseResult(s, test)
	if !ok {
		return
	}
	b := r.bench(pkg, topLevel(res.Name))
	b.Results = append(b.Results, res)
}

// reasons fills in why skipped or failed benchmarks with no reason yet
// did not finish, from their own output.
func (r *run) reasons() {
	for _, b := range r.benches {
		if b.Reason != "" || (b.Status != "fail" && b.Status != "skip") {
			continue
		}
		b.Reason = logMessage(r.testOutput[b.Pkg+"\x00"+b.Name])
		if b.Reason == "" {
			// The first thing it or any of its sub-benchmarks logged.
			b.Reason = logMessage(b.logs)
		}
	}
}

// stripProcs cuts the -GOMAXPROCS suffix go test adds to a benchmark's
// name in its result and FAIL lines.
func stripProcs(name string) string {
	if i := strings.LastIndexByte(name, '-'); i > 0 {
		if _, err := strconv.Atoi(name[i+1:]); err == nil {
			return name[:i]
		}
	}
	return name
}

// parseResult reads a benchmark result line ("BenchmarkX/sub-2 \t 100 \t
// 12.5 ns/op \t 0.91 ratio_median"). test is the event's Test field, the
// exact name; without one the name is the line's first field less its
// -GOMAXPROCS suffix.
func parseResult(line, test string) (result, bool) {
	if !strings.HasPrefix(line, "Benchmark") {
		return result{}, false
	}
	f := strings.Split(line, "\t")
	if len(f) < 2 {
		return result{}, false
	}
	n, err := strconv.ParseInt(strings.TrimSpace(f[1]), 10, 64)
	if err != nil {
		return result{}, false
	}
	name := test
	if name == "" {
		name = stripProcs(strings.TrimSpace(f[0]))
	}
	res := result{Name: name, N: n}
	for _, m := range f[2:] {
		parts := strings.Fields(m)
		if len(parts) != 2 {
			continue
		}
		v, err := strconv.ParseFloat(parts[0], 64)
		if err != nil {
			continue
		}
		res.Metrics = append(res.Metrics, metric{Value: v, Unit: parts[1]})
	}
	return res, true
}

// logMessage is the first line a test logged (t.Log, t.Skip, t.Fatal:
// indented, "file.go:NN: message"), without the location.
func logMessage(lines []string) string {
	for _, l := range lines {
		t := strings.TrimSpace(l)
		if !strings.HasPrefix(l, "    ") || t == "" {
			continue
		}
		if file, msg, ok := strings.Cut(t, ": "); ok && strings.Contains(file, ".go:") {
			return msg
		}
		return t
	}
	return ""
}

// lastMeaningful is the last line of a package's own output that says
// something (not PASS, FAIL, exit status or the ok/FAIL summary).
func lastMeaningful(lines []string) string {
	for i := len(lines) - 1; i >= 0; i-- {
		t := strings.TrimSpace(lines[i])
		switch {
		case t == "", t == "PASS", t == "FAIL", strings.HasPrefix(t, "exit status"),
			strings.HasPrefix(t, "FAIL\t"), strings.HasPrefix(t, "ok "), strings.HasPrefix(t, "ok\t"):
			continue
		}
		return t
	}
	return ""
}

func firstNonEmpty(lines []string) string {
	for _, l := range lines {
		if strings.TrimSpace(l) != "" {
			return strings.TrimSpace(l)
		}
	}
	return "(no output)"
}

// sortedBenches returns the benchmarks by package and name.
func (r *run) sortedBenches() []*bench {
	out := make([]*bench, 0, len(r.benches))
	for _, b := range r.benches {
		out = append(out, b)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Pkg != out[j].Pkg {
			return out[i].Pkg < out[j].Pkg
		}
		return out[i].Name < out[j].Name
	})
	return out
}
