package main

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
)

// The fixture testdata/run.json is a `go test -json` stream of the module
// testdata/module: a ratio benchmark that meets its target (its result
// lines split across output events, as go test writes them), one skipped,
// one that reported a ratio and then failed, a memory benchmark with one
// target met and one not, a limiter with two ratios, a benchmark without
// ratio or target, a package whose build failed and a package that is not
// in the run at all.

func parseFixture(t *testing.T) *run {
	t.Helper()
	f, err := os.Open("testdata/run.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var echo bytes.Buffer
	r, err := parse(f, &echo)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(echo.String(), "go: downloading something\n") || !strings.Contains(echo.String(), "BenchmarkList/summary-2") {
		t.Errorf("the output was not echoed:\n%s", echo.String())
	}
	return r
}

func TestParse(t *testing.T) {
	r := parseFixture(t)
	list := r.benches[benchKey("example.com/m/api", "BenchmarkList")]
	if list == nil || list.Status != "pass" || len(list.Results) != 7 {
		t.Fatalf("BenchmarkList: %+v", list)
	}
	first := list.Results[0]
	if first.Name != "BenchmarkList/round=1/bare" || first.N != 5000 || len(first.Metrics) != 3 {
		t.Fatalf("a result line split across events: %+v", first)
	}
	if v, ok := first.get("req/s"); !ok || v != 1001 {
		t.Errorf("req/s %v %v", v, ok)
	}
	sum := list.Results[6]
	if v, _ := sum.get("ratio_median@min"); sum.Name != "BenchmarkList/summary" || v != 0.85 {
		t.Errorf("summary %+v", sum)
	}
	if s := r.benches[benchKey("example.com/m/api", "BenchmarkSkipped")]; s.Status != "skip" || s.Reason != "no PostgreSQL server binaries: not found" {
		t.Errorf("skipped: %+v", s)
	}
	if f := r.benches[benchKey("example.com/m/api", "BenchmarkFailedLate")]; f.Status != "fail" ||
		f.Reason != "park: 10 uplinks answered 2xx, 9 readings stored" || len(f.Results) != 1 {
		t.Errorf("failed: %+v", f)
	}
	if r.pkgStatus["example.com/m/broken"] != "fail" || !strings.Contains(r.pkgReason["example.com/m/broken"], "undefined: nope") {
		t.Errorf("build failure: %q %q", r.pkgStatus["example.com/m/broken"], r.pkgReason["example.com/m/broken"])
	}
	if r.pkgStatus["example.com/m/api"] != "fail" || r.pkgStatus["example.com/m/rss"] != "pass" {
		t.Errorf("package statuses %v", r.pkgStatus)
	}
	if d := r.end.Sub(r.start); d <= 0 || d > time.Minute {
		t.Errorf("run from %v to %v", r.start, r.end)
	}
}

func TestParseResult(t *testing.T) {
	for _, c := range []struct {
		line, test, name string
		n                int64
		units            []string
	}{
		{"BenchmarkLocal-2   \t  448102\t       905.3 ns/op\t   1104595 decisions/s", "BenchmarkLocal", "BenchmarkLocal", 448102, []string{"ns/op", "decisions/s"}},
		// Without the Test field, the -GOMAXPROCS suffix is cut.
		{"BenchmarkX/size-100-8 \t 10\t 1.5 ratio_median", "", "BenchmarkX/size-100", 10, []string{"ratio_median"}},
		// GOMAXPROCS 1 prints no suffix; the Test field is the name.
		{"BenchmarkX/size-100 \t 10\t 1.5 ratio_median", "BenchmarkX/size-100", "BenchmarkX/size-100", 10, []string{"ratio_median"}},
		{"BenchmarkX/ratio-2 \t1000000000\t NaN gcra/redis_rate\t +Inf gcra/redis_rate-max", "BenchmarkX/ratio", "BenchmarkX/ratio", 1e9, []string{"gcra/redis_rate", "gcra/redis_rate-max"}},
	} {
		res, ok := parseResult(c.line, c.test)
		if !ok || res.Name != c.name || res.N != c.n || len(res.Metrics) != len(c.units) {
			t.Errorf("%q: %+v %v", c.line, res, ok)
			continue
		}
		for i, u := range c.units {
			if res.Metrics[i].Unit != u {
				t.Errorf("%q: unit %d is %q, want %q", c.line, i, res.Metrics[i].Unit, u)
			}
		}
	}
	for _, line := range []string{"BenchmarkList", "=== RUN   BenchmarkList", "BenchmarkList/summary-2   \t", "PASS", "    x_test.go:1: Benchmark\t3"} {
		if res, ok := parseResult(line, ""); ok {
			t.Errorf("%q parsed as a result: %+v", line, res)
		}
	}
}

func TestDeclared(t *testing.T) {
	decl, err := declared("testdata/module")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"example.com/m/api BenchmarkList", "example.com/m/api BenchmarkSkipped", "example.com/m/api BenchmarkFailedLate",
		"example.com/m/rss BenchmarkRSS", "example.com/m/limiter BenchmarkRedis", "example.com/m/limiter BenchmarkLocal",
		"example.com/m/limiter BenchmarkFlaky",
		"example.com/m/broken BenchmarkBroken", "example.com/m/idle BenchmarkNeverRun",
	}
	for _, k := range want {
		if !decl[k] {
			t.Errorf("%s not found", k)
		}
	}
	if len(decl) != len(want) {
		t.Errorf("found %v, want exactly %v (none in testdata, another module or a helper)", decl, want)
	}
	// The real module declares the benchmarks make bench reports.
	real, err := declared("../..")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"github.com/parkhq/park/internal/parkd BenchmarkAPIList", "github.com/parkhq/park/internal/parkd BenchmarkParkdRSS",
		"github.com/parkhq/park/internal/httpapi BenchmarkIngest", "github.com/parkhq/park/reservation BenchmarkCreate",
		"github.com/parkhq/park/ratelimit BenchmarkRedis"} {
		if !real[k] {
			t.Errorf("the module's %s not found", k)
		}
	}
}

func TestPackages(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run1([]string{"-packages", "-root", "testdata/module"}, strings.NewReader(""), &stdout, &stderr, time.Now, nil); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if got := stdout.String(); got != "./api ./broken ./idle ./limiter ./rss\n" {
		t.Errorf("packages %q", got)
	}
}

func TestEvaluate(t *testing.T) {
	decl, err := declared("testdata/module")
	if err != nil {
		t.Fatal(err)
	}
	rep := evaluate(parseFixture(t), decl, nil)
	type row struct {
		leaf, unit, verdict, target string
		value                       float64
		spread                      string
	}
	var got []row
	for _, f := range rep.figures {
		tg, sp := "", ""
		if f.target != nil {
			tg = f.target.String()
		}
		if f.spread {
			sp = fmtNum(f.lo) + "–" + fmtNum(f.hi)
		}
		got = append(got, row{f.leaf, f.unit, f.verdict(), tg, f.value, sp})
	}
	want := []row{
		{"BenchmarkFailedLate/round=3/park", "ratio_median", "**failed**: park: 10 uplinks answered 2xx, 9 readings stored", "≥ 2", 0.4, "0.30–0.50"},
		{"BenchmarkList/summary", "ratio_median", "met", "≥ 0.85", 0.9, "0.88–0.91"},
		{"BenchmarkFlaky/ratio", "ratio_median", "**failed**: read unix @->/tmp/r.sock: i/o timeout", "≥ 1", 1.2, ""},
		{"BenchmarkRedis/ratio", "ratio_median", "met", "≥ 1", 1.58, "1.41–1.72"},
		{"BenchmarkRedis/ratio", "batching_ratio_median", "no target", "", 1.35, "1.30–1.40"},
		{"BenchmarkRSS/summary", "ingest_rss_mib", "met", "≤ 150", 30, ""},
		{"BenchmarkRSS/summary", "read_rss_mib", "**not met**", "≤ 150", 160, ""},
	}
	if len(got) != len(want) {
		t.Fatalf("figures:\n%+v\nwant\n%+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("figure %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	// The leaf's other metrics go with its first figure.
	for _, f := range rep.figures {
		if f.leaf == "BenchmarkList/summary" && fmtMetrics(f.details) != "12 bare_p50_ms, 1,003 bare_req/s, 3.50 loadavg" {
			t.Errorf("details %q", fmtMetrics(f.details))
		}
	}

	wantMissing := map[string]string{
		"BenchmarkSkipped":  "skipped: no PostgreSQL server binaries: not found",
		"BenchmarkBroken":   "not run: the package failed (build failed: broken/broken_test.go:5:38: undefined: nope)",
		"BenchmarkNeverRun": "not run: its package is not in this run",
	}
	if len(rep.missing) != len(wantMissing) {
		t.Errorf("missing %+v", rep.missing)
	}
	for _, m := range rep.missing {
		if wantMissing[m.name] != m.why {
			t.Errorf("missing %s: %q, want %q", m.name, m.why, wantMissing[m.name])
		}
	}
	if len(rep.others) != 1 || rep.others[0].Name != "BenchmarkLocal" {
		t.Errorf("others %+v", rep.others)
	}
	if len(rep.failed) != 2 || rep.ok() {
		t.Errorf("failed %v, ok %v", rep.failed, rep.ok())
	}
}

func TestTarget(t *testing.T) {
	ge, le := target{atLeast: true, value: 0.85}, target{value: 150}
	for _, c := range []struct {
		t    target
		v    float64
		want bool
	}{
		{ge, 0.85, true}, {ge, 0.8499, false}, {ge, 2, true}, {ge, math.NaN(), false},
		{le, 150, true}, {le, 150.01, false}, {le, 20, true}, {le, math.NaN(), false},
	} {
		if got := c.t.met(c.v); got != c.want {
			t.Errorf("%s met by %v: %v", c.t, c.v, got)
		}
	}
	// A target whose figure was not reported is not met.
	b := &bench{Name: "BenchmarkX", Results: []result{{Name: "BenchmarkX/summary", Metrics: []metric{{150, "rss_mib@max"}}}}}
	figs := figuresOf(b)
	if len(figs) != 1 || figs[0].reported || figs[0].verdict() != "**not met** (figure not reported)" {
		t.Errorf("a lone target: %+v", figs)
	}
}

func TestGCSettings(t *testing.T) {
	env := map[string]string{"GOGC": "200"}
	got := withGCSettings("benchtime 6s", func(k string) string { return env[k] })
	if got != "benchtime 6s; GOGC=200, GOMEMLIMIT unset (none), GOMAXPROCS unset (the cores)" {
		t.Errorf("%q", got)
	}
}

func TestReplaceBlock(t *testing.T) {
	doc := "# Benchmarks\n\nIntro.\n\n" + beginMarker + "\nold figures\n" + endMarker + "\n\n## Hand-written\n\nStays.\n"
	once, err := replaceBlock(doc, "new figures\n")
	if err != nil {
		t.Fatal(err)
	}
	want := "# Benchmarks\n\nIntro.\n\n" + beginMarker + "\nnew figures\n" + endMarker + "\n\n## Hand-written\n\nStays.\n"
	if once != want {
		t.Fatalf("got\n%s\nwant\n%s", once, want)
	}
	twice, err := replaceBlock(once, "new figures\n")
	if err != nil || twice != once {
		t.Fatalf("not idempotent: %v\n%s", err, twice)
	}
	// Without a trailing newline the block is the same.
	if same, _ := replaceBlock(doc, "new figures"); same != once {
		t.Fatalf("block without newline:\n%s", same)
	}
	for name, bad := range map[string]string{
		"no markers": "# Benchmarks\n",
		"no end":     beginMarker + "\n",
		"reversed":   endMarker + "\n" + beginMarker + "\n",
		"two blocks": beginMarker + endMarker + beginMarker + endMarker,
	} {
		if _, err := replaceBlock(bad, "x"); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// TestRun: the command writes the block, keeps the rest of the document,
// reports failures and missing benchmarks by its exit status, and writes
// the same document when run twice on the same input.
func TestRun(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "BENCHMARKS.md")
	doc := "# Benchmarks\n\nConvention text.\n\n" + beginMarker + "\n" + endMarker + "\n\n## Ingest\n\nWhy it is what it is.\n"
	if err := os.WriteFile(file, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	now := func() time.Time { return time.Date(2026, 12, 6, 11, 0, 0, 0, time.UTC) }
	where := func() machine {
		return machine{CPU: "Test CPU", Cores: 2, MemBytes: 24 << 30, Kernel: "6.18", Go: "go1.26.8",
			Postgres: "PostgreSQL 15.18", Redis: "Redis 7.0.15", LoadAvg: "1.00 2.00 3.00"}
	}
	runOnce := func() string {
		in, err := os.Open("testdata/run.json")
		if err != nil {
			t.Fatal(err)
		}
		defer in.Close()
		var stdout, stderr bytes.Buffer
		code := run1([]string{"-file", file, "-root", "testdata/module", "-command", "make bench", "-save", filepath.Join(dir, "run.json"),
			"-runs", "go test -json -p 1 -run '^$' -bench . ./...", "-settings", "benchtime 6s"}, in, &stdout, &stderr, now, where)
		if code != 1 || !strings.Contains(stderr.String(), "incomplete") {
			t.Fatalf("exit %d for a run with failed and missing benchmarks; stderr %s", code, stderr.String())
		}
		if !strings.Contains(stdout.String(), "MISSING example.com/m/idle BenchmarkNeverRun") {
			t.Errorf("stdout lacks the missing benchmark:\n%s", stdout.String())
		}
		out, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		return string(out)
	}
	first := runOnce()
	for _, want := range []string{
		"# Benchmarks\n\nConvention text.\n\n" + beginMarker + "\n",
		endMarker + "\n\n## Ingest\n\nWhy it is what it is.\n",
		"**Last run: 2026-12-06 11:00 UTC, 0 min 19 s (builds included).** Targets met: 3 of 6. **3 benchmark(s) missing** (below). **2 benchmark(s) failed.**",
		"| `example.com/m/api` BenchmarkList/summary | `ratio_median` | **0.90** | ≥ 0.85 | met | 0.88–0.91 | 12 bare_p50_ms, 1,003 bare_req/s, 3.50 loadavg |",
		"| `example.com/m/rss` BenchmarkRSS/summary | `ingest_rss_mib` | **30** | ≤ 150 | met | — | 7.50 read_p50_ms |",
		"| `example.com/m/rss` BenchmarkRSS/summary | `read_rss_mib` | **160** | ≤ 150 | **not met** | — | — |",
		"| `example.com/m/idle` BenchmarkNeverRun | not run: its package is not in this run |",
		"| `example.com/m/limiter` BenchmarkLocal | 113 ns/op, 8,860,000 decisions/s, 0 B/op, 0 allocs/op |",
		"Machine: Test CPU, 2 cores, 24.0 GiB RAM; Linux 6.18; go1.26.8; PostgreSQL 15.18; Redis 7.0.15. Load average at the end of the run: 1.00 2.00 3.00 (reported by benchmarks at their end: BenchmarkList 3.50).",
		"Settings: benchtime 6s; GOGC",
		"Command: `make bench`, which runs\n\n```\ngo test -json -p 1 -run '^$' -bench . ./...\n```\n",
	} {
		if !strings.Contains(first, want) {
			t.Errorf("the document lacks\n%s\n---- document:\n%s", want, first)
		}
	}
	if second := runOnce(); second != first {
		t.Errorf("a second run on the same input changed the document:\n%s", second)
	}
	saved, err := os.ReadFile(filepath.Join(dir, "run.json"))
	if want, _ := os.ReadFile("testdata/run.json"); err != nil || !bytes.Equal(saved, want) {
		t.Errorf("-save wrote %d bytes (%v), want the %d of the input", len(saved), err, len(want))
	}

	// A complete run exits 0, even with a target not met.
	ok := `{"Time":"2026-12-06T10:00:00Z","Action":"start","Package":"example.com/m/rss"}
{"Time":"2026-12-06T10:00:01Z","Action":"output","Package":"example.com/m/rss","Test":"BenchmarkRSS/summary","Output":"BenchmarkRSS/summary-2 \t1\t 160 read_rss_mib\t 150 read_rss_mib@max\n"}
{"Time":"2026-12-06T10:00:02Z","Action":"pass","Package":"example.com/m/rss","Test":"BenchmarkRSS"}
{"Time":"2026-12-06T10:00:03Z","Action":"pass","Package":"example.com/m/rss"}
`
	only := t.TempDir()
	if err := os.MkdirAll(filepath.Join(only, "rss"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{"go.mod": "module example.com/m\n", "rss/rss_test.go": "package rss\n\nimport \"testing\"\n\nfunc BenchmarkRSS(b *testing.B) {}\n"} {
		if err := os.WriteFile(filepath.Join(only, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var stdout, stderr bytes.Buffer
	if code := run1([]string{"-file", file, "-root", only, "-quiet"}, strings.NewReader(ok), &stdout, &stderr, now, where); code != 0 {
		t.Fatalf("exit %d for a complete run: %s", code, stderr.String())
	}
	out, _ := os.ReadFile(file)
	if !strings.Contains(string(out), "Targets met: 0 of 1.") || strings.Contains(string(out), "missing") {
		t.Errorf("complete run:\n%s", out)
	}

	// No block to write into: an error, and the document is untouched.
	if err := os.WriteFile(file, []byte("# Benchmarks\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code := run1([]string{"-file", file, "-root", only, "-quiet"}, strings.NewReader(ok), &stdout, &stderr, now, where); code != 2 {
		t.Fatalf("exit %d without markers", code)
	}
	if out, _ := os.ReadFile(file); string(out) != "# Benchmarks\n" {
		t.Errorf("document changed: %s", out)
	}
}

// TestEvaluateExclude: benchmarks left out on purpose (go test -skip, and
// -exclude here) are listed as such, whether skipped or not reached, and
// are not missing; the others still are.
func TestEvaluateExclude(t *testing.T) {
	decl, err := declared("testdata/module")
	if err != nil {
		t.Fatal(err)
	}
	rep := evaluate(parseFixture(t), decl, regexp.MustCompile(`^Benchmark(Skipped|NeverRun)$`))
	if len(rep.missing) != 1 || rep.missing[0].name != "BenchmarkBroken" {
		t.Errorf("missing %+v, want BenchmarkBroken alone", rep.missing)
	}
	var names []string
	for _, x := range rep.excluded {
		names = append(names, x.name)
	}
	sort.Strings(names)
	if strings.Join(names, " ") != "BenchmarkNeverRun BenchmarkSkipped" {
		t.Errorf("excluded %v", names)
	}
	block := render(rep, meta{Now: time.Unix(0, 0)})
	if !strings.Contains(block, "Left out of this run on purpose (`-exclude`): ") || !strings.Contains(block, "BenchmarkSkipped") {
		t.Errorf("block does not list the excluded benchmarks:\n%s", block)
	}
	if strings.Contains(block, "| BenchmarkSkipped |") || strings.Contains(block, "BenchmarkNeverRun | not run") {
		t.Errorf("an excluded benchmark listed as missing:\n%s", block)
	}
}
