package main

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The markers of the block this program owns in BENCHMARKS.md.
const (
	beginMarker = "<!-- bench:begin -->"
	endMarker   = "<!-- bench:end -->"
)

// The metric-name convention (documented at the top of BENCHMARKS.md).
const (
	// ratioSuffix ends the unit of a ratio figure: "ratio_median", or
	// "<what>_ratio_median" for a benchmark with several.
	ratioSuffix = "ratio_median"
	// atLeast and atMost end the unit of a target: "<figure>@min" means
	// the figure must be at least the value, "<figure>@max" at most.
	atLeast = "@min"
	atMost  = "@max"
)

// target is what a figure must reach.
type target struct {
	atLeast bool // else at most
	value   float64
}

func (t target) String() string {
	if t.atLeast {
		return "≥ " + fmtNum(t.value)
	}
	return "≤ " + fmtNum(t.value)
}

func (t target) met(v float64) bool {
	if math.IsNaN(v) {
		return false
	}
	if t.atLeast {
		return v >= t.value
	}
	return v <= t.value
}

// figure is one row of the table: a ratio or a figure with a target.
type figure struct {
	bench    *bench
	leaf     string // the sub-benchmark that reported it
	unit     string
	value    float64 // NaN when only its target was reported
	target   *target // nil: none stated
	lo, hi   float64
	spread   bool
	details  []metric // the leaf's other metrics (first row of a leaf only)
	reported bool
}

// verdict is the result column: met, not met, no target, or the
// benchmark's failure.
func (f figure) verdict() string {
	switch {
	case f.bench.Status == "fail":
		return "**failed**: " + oneLine(f.bench.Reason)
	case !f.reported:
		return "**not met** (figure not reported)"
	case f.target == nil:
		return "no target"
	case f.target.met(f.value):
		return "met"
	}
	return "**not met**"
}

// figuresOf returns the figures of b's results: every unit that is a
// ratio or has a target, with its spread and target, in the order
// reported.
func figuresOf(b *bench) []figure {
	var out []figure
	for _, res := range b.Results {
		units := map[string]bool{}
		for _, m := range res.Metrics {
			units[m.Unit] = true
		}
		isFigure := func(u string) bool {
			return strings.HasSuffix(u, ratioSuffix) || units[u+atLeast] || units[u+atMost]
		}
		used := map[string]bool{}
		var figs []figure
		add := func(u string) {
			if used[u] {
				return
			}
			used[u] = true
			f := figure{bench: b, leaf: res.Name, unit: u, value: math.NaN()}
			f.value, f.reported = res.get(u)
			if !f.reported {
				f.value = math.NaN()
			}
			if v, ok := res.get(u + atLeast); ok {
				f.target, used[u+atLeast] = &target{atLeast: true, value: v}, true
			} else if v, ok := res.get(u + atMost); ok {
				f.target, used[u+atMost] = &target{value: v}, true
			}
			if stem, ok := strings.CutSuffix(u, "median"); ok && strings.HasSuffix(u, "_median") {
				lo, okLo := res.get(stem + "min")
				hi, okHi := res.get(stem + "max")
				if okLo && okHi {
					f.lo, f.hi, f.spread = lo, hi, true
					used[stem+"min"], used[stem+"max"] = true, true
				}
			}
			figs = append(figs, f)
		}
		for _, m := range res.Metrics {
			switch {
			case isFigure(m.Unit):
				add(m.Unit)
			case strings.HasSuffix(m.Unit, atLeast):
				add(strings.TrimSuffix(m.Unit, atLeast))
			case strings.HasSuffix(m.Unit, atMost):
				add(strings.TrimSuffix(m.Unit, atMost))
			}
		}
		if len(figs) == 0 {
			continue
		}
		// Figures with a target first, then the other ratios, each in the
		// order go test printed them (by unit).
		sort.SliceStable(figs, func(i, j int) bool {
			return figs[i].target != nil && figs[j].target == nil
		})
		for _, m := range res.Metrics {
			if !used[m.Unit] && !(m.Unit == "ns/op" && m.Value == 0) {
				figs[0].details = append(figs[0].details, m)
			}
		}
		out = append(out, figs...)
	}
	return out
}

// missing is a declared benchmark that reported nothing, and why.
type missing struct {
	pkg, name, why string
}

// report is what the block shows.
type report struct {
	figures  []figure
	others   []*bench  // ran, reported metrics, but no ratio or target
	missing  []missing // declared or started, reported no metrics
	excluded []missing // left out of this run on purpose (-exclude); why is empty
	failed   []*bench  // reported metrics but failed
	run      *run
}

// evaluate sorts the run's benchmarks into figures, other benchmarks and
// missing ones. decl is every benchmark of the module (benchKey). A
// benchmark whose top-level name exclude matches (nil: none) is left out
// of this run on purpose, as go test -skip leaves it: it is listed as
// such, never as missing, whether it was skipped or not reached.
func evaluate(r *run, decl map[string]bool, exclude *regexp.Regexp) *report {
	rep := &report{run: r}
	seen := map[string]bool{}
	excluded := func(pkg, name string) bool {
		top, _, _ := strings.Cut(name, "/")
		if exclude == nil || !exclude.MatchString(top) {
			return false
		}
		if k := benchKey(pkg, top); !seen[k+" excluded"] {
			seen[k+" excluded"] = true
			rep.excluded = append(rep.excluded, missing{pkg: pkg, name: top})
		}
		return true
	}
	for _, b := range r.sortedBenches() {
		seen[benchKey(b.Pkg, b.Name)] = true
		if excluded(b.Pkg, b.Name) {
			continue
		}
		if len(b.Results) == 0 {
			rep.missing = append(rep.missing, missing{b.Pkg, b.Name, whyMissing(r, b)})
			continue
		}
		if b.Status == "fail" {
			rep.failed = append(rep.failed, b)
		}
		figs := figuresOf(b)
		if len(figs) == 0 {
			rep.others = append(rep.others, b)
			continue
		}
		rep.figures = append(rep.figures, figs...)
	}
	var rest []string
	for k := range decl {
		if !seen[k] {
			rest = append(rest, k)
		}
	}
	sort.Strings(rest)
	for _, k := range rest {
		pkg, name, _ := strings.Cut(k, " ")
		if excluded(pkg, name) {
			continue
		}
		rep.missing = append(rep.missing, missing{pkg, name, whyMissing(r, &bench{Pkg: pkg, Name: name})})
	}
	return rep
}

// whyMissing says why b reported no figures.
func whyMissing(r *run, b *bench) string {
	switch b.Status {
	case "skip":
		return "skipped: " + oneLine(b.Reason)
	case "fail":
		return "failed: " + oneLine(b.Reason)
	}
	switch st, ran := r.pkgStatus[b.Pkg]; {
	case !ran:
		return "not run: its package is not in this run"
	case st == "fail":
		return "not run: the package failed (" + oneLine(r.pkgReason[b.Pkg]) + ")"
	case b.Status == "pass":
		return "reported no metrics"
	}
	return "not run: no benchmark of its package matched, or it reported nothing"
}

// ok reports whether the run is complete: no package failed, no
// benchmark failed or went missing. Targets not met do not make a run
// incomplete: the report states them.
func (rep *report) ok() bool {
	for _, st := range rep.run.pkgStatus {
		if st == "fail" {
			return false
		}
	}
	return len(rep.missing) == 0 && len(rep.failed) == 0
}

// machine describes where the run happened.
type machine struct {
	CPU      string // model name
	Cores    int
	MemBytes uint64
	Kernel   string
	Go       string
	Postgres string
	Redis    string
	LoadAvg  string // at the end of the run
}

// meta is the rest of the block's header.
type meta struct {
	Now      time.Time
	Command  string // the command to type (make bench)
	Runs     string // the commands it runs
	Settings string
	Machine  machine
}

// render writes the block (without the markers).
func render(rep *report, m meta) string {
	var b strings.Builder
	b.WriteString("<!-- Written by `make bench` (internal/benchreport) from the run's `go test -json` output; edits inside this block are lost. -->\n\n")
	met, withTarget := 0, 0
	for _, f := range rep.figures {
		if f.target != nil {
			withTarget++
			if f.bench.Status != "fail" && f.reported && f.target.met(f.value) {
				met++
			}
		}
	}
	took := ""
	if !rep.run.start.IsZero() {
		took = fmt.Sprintf(", %s", fmtDuration(rep.run.end.Sub(rep.run.start)))
	}
	fmt.Fprintf(&b, "**Last run: %s%s (builds included).** Targets met: %d of %d.", m.Now.UTC().Format("2006-01-02 15:04 MST"), took, met, withTarget)
	if n := len(rep.missing); n > 0 {
		fmt.Fprintf(&b, " **%d benchmark(s) missing** (below).", n)
	}
	if n := len(rep.failed); n > 0 {
		fmt.Fprintf(&b, " **%d benchmark(s) failed.**", n)
	}
	b.WriteString("\n\n")

	b.WriteString("| benchmark | figure | value | target | result | spread (rounds) | also reported |\n")
	b.WriteString("|---|---|---:|---:|---|---|---|\n")
	for _, f := range rep.figures {
		value := "—"
		if f.reported {
			value = "**" + fmtNum(f.value) + "**"
		}
		tgt := "—"
		if f.target != nil {
			tgt = f.target.String()
		}
		spread := "—"
		if f.spread {
			spread = fmtNum(f.lo) + "–" + fmtNum(f.hi)
		}
		fmt.Fprintf(&b, "| %s | `%s` | %s | %s | %s | %s | %s |\n",
			benchLabel(f.bench.Pkg, f.leaf), f.unit, value, tgt, f.verdict(), spread, fmtMetrics(f.details))
	}
	b.WriteString("\n")

	if len(rep.missing) > 0 {
		b.WriteString("Missing — declared or started, reported no figures:\n\n")
		b.WriteString("| benchmark | why |\n|---|---|\n")
		for _, x := range rep.missing {
			fmt.Fprintf(&b, "| %s | %s |\n", benchLabel(x.pkg, x.name), x.why)
		}
		b.WriteString("\n")
	}
	if len(rep.excluded) > 0 {
		names := make([]string, len(rep.excluded))
		for i, x := range rep.excluded {
			names[i] = benchLabel(x.pkg, x.name)
		}
		fmt.Fprintf(&b, "Left out of this run on purpose (`-exclude`): %s.\n\n", strings.Join(names, ", "))
	}
	if len(rep.others) > 0 {
		b.WriteString("Other benchmarks (no ratio, no target; their last result):\n\n")
		b.WriteString("| benchmark | figures |\n|---|---|\n")
		for _, o := range rep.others {
			last := o.Results[len(o.Results)-1]
			status := ""
			if o.Status == "fail" {
				status = " (**failed**: " + oneLine(o.Reason) + ")"
			}
			fmt.Fprintf(&b, "| %s | %s%s |\n", benchLabel(o.Pkg, last.Name), fmtMetrics(last.Metrics), status)
		}
		b.WriteString("\n")
	}

	mc := m.Machine
	fmt.Fprintf(&b, "Machine: %s, %d cores, %s RAM; Linux %s; %s; %s; %s. Load average at the end of the run: %s",
		orUnknown(mc.CPU), mc.Cores, fmtBytes(mc.MemBytes), orUnknown(mc.Kernel), orUnknown(mc.Go),
		orUnknown(mc.Postgres), orUnknown(mc.Redis), orUnknown(mc.LoadAvg))
	if avgs := loadavgs(rep); avgs != "" {
		fmt.Fprintf(&b, " (reported by benchmarks at their end: %s)", avgs)
	}
	b.WriteString(".\n\n")
	if m.Settings != "" {
		fmt.Fprintf(&b, "Settings: %s.\n\n", m.Settings)
	}
	if m.Runs == "" {
		fmt.Fprintf(&b, "Command: `%s`\n", m.Command)
	} else {
		fmt.Fprintf(&b, "Command: `%s`, which runs\n\n```\n%s\n```\n", m.Command, m.Runs)
	}
	return b.String()
}

// loadavgs lists the "loadavg" metrics benchmarks reported.
func loadavgs(rep *report) string {
	var s []string
	for _, b := range rep.run.sortedBenches() {
		for _, res := range b.Results {
			if v, ok := res.get("loadavg"); ok {
				s = append(s, b.Name+" "+fmtNum(v))
			}
		}
	}
	return strings.Join(s, ", ")
}

// replaceBlock replaces what lies between the markers in doc with block,
// keeping everything else as it is. Doing it twice with the same block
// gives the same document.
func replaceBlock(doc, block string) (string, error) {
	i := strings.Index(doc, beginMarker)
	j := strings.Index(doc, endMarker)
	switch {
	case i < 0 || j < 0:
		return "", fmt.Errorf("the document has no %s … %s block to write the figures into", beginMarker, endMarker)
	case j < i:
		return "", errors.New("the end marker comes before the begin marker")
	case strings.Count(doc, beginMarker) != 1 || strings.Count(doc, endMarker) != 1:
		return "", errors.New("the document has more than one figures block")
	}
	if !strings.HasSuffix(block, "\n") {
		block += "\n"
	}
	return doc[:i+len(beginMarker)] + "\n" + block + doc[j:], nil
}

// benchLabel names a (sub-)benchmark with its package, short.
func benchLabel(pkg, name string) string {
	short := pkg
	if i := strings.Index(pkg, "/park/"); i >= 0 {
		short = pkg[i+len("/park/"):]
	} else if strings.HasSuffix(pkg, "/park") {
		short = "."
	}
	return "`" + short + "` " + name
}

func fmtMetrics(ms []metric) string {
	if len(ms) == 0 {
		return "—"
	}
	s := make([]string, len(ms))
	for i, m := range ms {
		s[i] = fmtNum(m.Value) + " " + m.Unit
	}
	return strings.Join(s, ", ")
}

// fmtNum prints a figure with the precision it deserves: whole numbers
// as such and from 100 up, one decimal from 10, two below.
func fmtNum(v float64) string {
	a := math.Abs(v)
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return strconv.FormatFloat(v, 'f', -1, 64)
	case a >= 100 || v == math.Trunc(v):
		return groupThousands(strconv.FormatFloat(v, 'f', 0, 64))
	case a >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}

// groupThousands writes 1234567 as 1,234,567.
func groupThousands(s string) string {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func fmtBytes(n uint64) string {
	if n == 0 {
		return "unknown"
	}
	return strconv.FormatFloat(float64(n)/(1<<30), 'f', 1, 64) + " GiB"
}

func fmtDuration(d time.Duration) string {
	d = d.Round(time.Second)
	return fmt.Sprintf("%d min %02d s", int(d.Minutes()), int(d.Seconds())%60)
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// oneLine keeps a reason to one table cell.
func oneLine(s string) string {
	s = strings.ReplaceAll(strings.TrimSpace(s), "|", "\\|")
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if s == "" {
		return "no message"
	}
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}
