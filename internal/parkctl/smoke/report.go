package smoke

import (
	"fmt"
	"strings"

	"github.com/parkhq/park/internal/parkctl/iostreams"
	"github.com/parkhq/park/internal/parkctl/output"
)

// reporter prints the steps: as each ends in table mode, so an operator
// watches the test run, or all at once at the end as a JSON or YAML array.
type reporter struct {
	ios   *iostreams.IOStreams
	p     *output.Printer
	width int // of the step column on a terminal
}

func newReporter(ios *iostreams.IOStreams, p *output.Printer) *reporter {
	w := 0
	for _, n := range stepNames {
		w = max(w, len(n))
	}
	return &reporter{ios: ios, p: p, width: w}
}

// step prints one finished step in table mode: on a terminal an aligned
// "ok   register   12ms" (FAIL in red, with what went wrong), elsewhere the
// same fields tab-separated and without colour.
func (r *reporter) step(s Step) {
	if r.p.Format() != output.Table {
		return
	}
	result := "ok"
	if !s.OK {
		result = "FAIL"
	}
	dur := fmt.Sprintf("%dms", s.DurationMS)
	fields := []string{result, s.Name, dur}
	if s.Error != "" {
		fields = append(fields, s.Error)
	}
	if !r.ios.IsStdoutTTY() {
		fmt.Fprintln(r.ios.Out, strings.Join(fields, "\t"))
		return
	}
	cs := r.ios.ColorScheme()
	mark := cs.Green(fmt.Sprintf("%-4s", result))
	if !s.OK {
		mark = cs.Red(fmt.Sprintf("%-4s", result))
	}
	line := fmt.Sprintf("%s  %-*s  %7s", mark, r.width, s.Name, dur)
	if s.Error != "" {
		line += "  " + s.Error
	}
	fmt.Fprintln(r.ios.Out, line)
}

// flush prints every step as an array in JSON or YAML mode; in table mode
// they are printed already.
func (r *reporter) flush(steps []Step) error {
	if r.p.Format() == output.Table {
		return nil
	}
	return output.List(r.p, steps)
}
