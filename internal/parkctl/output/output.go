// Package output prints parkctl's data in the format chosen with -o:
//
//   - table: on a terminal, aligned columns under a bold header; otherwise
//     (a pipe or a file) one tab-separated line per row with no header, no
//     padding and no colour, so `cut -f` and `while read` see data only.
//     A single object prints as "field<TAB>value" lines in both cases.
//   - json: a list is always a JSON array ("[]" when empty, never null); a
//     single object is a JSON object. Indented, HTML characters unescaped.
//   - yaml: the same document as json, in YAML, with the same field order.
//
// Data goes to standard output; messages belong on standard error and never
// pass through a Printer.
package output

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/parkhq/park/internal/parkctl/iostreams"
)

// Format is an output format accepted by -o.
type Format string

// The formats -o accepts.
const (
	Table Format = "table"
	JSON  Format = "json"
	YAML  Format = "yaml"
)

// ParseFormat validates a format name.
func ParseFormat(s string) (Format, error) {
	for _, f := range []Format{Table, JSON, YAML} {
		if s == string(f) {
			return f, nil
		}
	}
	return "", fmt.Errorf("invalid output format %q: must be one of table, json, yaml", s)
}

// String implements pflag.Value.
func (f *Format) String() string { return string(*f) }

// Set implements pflag.Value, so a bad -o fails flag parsing (exit 2).
func (f *Format) Set(s string) error {
	v, err := ParseFormat(s)
	if err != nil {
		return err
	}
	*f = v
	return nil
}

// Type implements pflag.Value; help shows it as the flag's argument name.
func (f *Format) Type() string { return "format" }

// Column is one field of a T: its header (table mode) and how to render it.
// JSON and YAML ignore columns and encode the T itself, so give T json tags.
type Column[T any] struct {
	Header string
	Value  func(T) string
}

// Printer writes data to an IOStreams' standard output in one format.
type Printer struct {
	ios    *iostreams.IOStreams
	format Format
}

// New returns a Printer. An empty format means table.
func New(ios *iostreams.IOStreams, format Format) *Printer {
	if format == "" {
		format = Table
	}
	return &Printer{ios: ios, format: format}
}

// Format reports the printer's format.
func (p *Printer) Format() Format { return p.format }

// List prints items: rows under cols in table mode, an array otherwise.
func List[T any](p *Printer, items []T, cols ...Column[T]) error {
	if items == nil {
		items = []T{}
	}
	switch p.format {
	case JSON:
		return writeJSON(p.ios.Out, items)
	case YAML:
		return writeYAML(p.ios.Out, items)
	}
	rows := make([][]string, 0, len(items))
	for _, it := range items {
		row := make([]string, len(cols))
		for i, c := range cols {
			row[i] = c.Value(it)
		}
		rows = append(rows, row)
	}
	var header []string
	if p.ios.IsStdoutTTY() {
		header = make([]string, len(cols))
		for i, c := range cols {
			header[i] = c.Header
		}
	}
	return p.table(header, rows)
}

// Object prints one item: "header<TAB>value" lines in table mode (aligned
// on a terminal), an object otherwise.
func Object[T any](p *Printer, item T, cols ...Column[T]) error {
	switch p.format {
	case JSON:
		return writeJSON(p.ios.Out, item)
	case YAML:
		return writeYAML(p.ios.Out, item)
	}
	rows := make([][]string, len(cols))
	for i, c := range cols {
		rows[i] = []string{c.Header, c.Value(item)}
	}
	return p.table(nil, rows)
}

// table writes rows, aligned under a bold header on a terminal and as bare
// tab-separated lines otherwise. Alignment is computed here rather than with
// text/tabwriter because tabwriter counts colour escapes as width.
func (p *Printer) table(header []string, rows [][]string) error {
	for _, r := range rows {
		for i := range r {
			r[i] = clean(r[i])
		}
	}
	w := p.ios.Out
	if !p.ios.IsStdoutTTY() {
		for _, r := range rows {
			if _, err := io.WriteString(w, strings.Join(r, "\t")+"\n"); err != nil {
				return err
			}
		}
		return nil
	}
	var widths []int
	measure := func(r []string) {
		for i, c := range r {
			if i >= len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], utf8.RuneCountInString(c))
		}
	}
	if header != nil {
		measure(header)
	}
	for _, r := range rows {
		measure(r)
	}
	cs := p.ios.ColorScheme()
	line := func(r []string, style func(string) string) error {
		var b strings.Builder
		for i, c := range r {
			b.WriteString(style(c))
			if i < len(r)-1 {
				b.WriteString(strings.Repeat(" ", widths[i]-utf8.RuneCountInString(c)+2))
			}
		}
		b.WriteByte('\n')
		_, err := io.WriteString(w, b.String())
		return err
	}
	if header != nil {
		if err := line(header, cs.Bold); err != nil {
			return err
		}
	}
	for _, r := range rows {
		if err := line(r, func(s string) string { return s }); err != nil {
			return err
		}
	}
	return nil
}

// clean keeps one value on one cell: tabs and line breaks would split it.
func clean(s string) string {
	if !strings.ContainsAny(s, "\t\r\n") {
		return s
	}
	return strings.NewReplacer("\t", " ", "\r\n", " ", "\n", " ", "\r", " ").Replace(s)
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
