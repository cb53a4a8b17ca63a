package tui

import (
	"strings"

	"github.com/charmbracelet/lipgloss"
)

// column describes one column of a table.
type column struct {
	title string
	// width is the column's least width; flex shares out the spare width
	// of the line among the columns that have it, in proportion.
	width int
	flex  int
	right bool
	// drop ranks the columns a narrow terminal gives up: the highest
	// first; 0 is never dropped.
	drop int
	// hidden columns take no room and are never drawn (the tenant column
	// while the dashboard shows one tenant); the others keep their
	// indices, so a view's cell function needs no offset.
	hidden bool
}

// Layout constants of every table.
const (
	markerWidth = 2 // "> " before the selected row
	columnGap   = 2
)

// layoutColumns returns the width of every column for a line of width
// cells, 0 for a column dropped for lack of room.
func layoutColumns(cols []column, width int) []int {
	widths := make([]int, len(cols))
	kept := make([]bool, len(cols))
	need := markerWidth - columnGap
	for i, c := range cols {
		if c.hidden {
			continue
		}
		kept[i] = true
		need += c.width + columnGap
	}
	for need > width {
		worst := -1
		for i, c := range cols {
			if kept[i] && c.drop > 0 && (worst < 0 || c.drop > cols[worst].drop) {
				worst = i
			}
		}
		if worst < 0 {
			break
		}
		kept[worst] = false
		need -= cols[worst].width + columnGap
	}
	spare, flex := width-need, 0
	for i, c := range cols {
		if kept[i] {
			widths[i] = c.width
			flex += c.flex
		}
	}
	if spare > 0 && flex > 0 {
		given := 0
		last := -1
		for i, c := range cols {
			if kept[i] && c.flex > 0 {
				add := spare * c.flex / flex
				widths[i] += add
				given += add
				last = i
			}
		}
		widths[last] += spare - given
	}
	return widths
}

// table is the state of a scrolling list: the rows that pass the filter,
// the selected one and the first one shown.
type table struct {
	match  []int // indices of the view's rows that pass the filter, in order
	cursor int   // position in match of the selected row
	offset int   // position in match of the first row shown
}

// refilter rebuilds the list over n rows, keeping those match accepts
// (all with a nil match). The selection stays on the row whose key is
// prevKey when there still is one, else on the same position.
func (t *table) refilter(n int, match func(i int) bool, key func(i int) string, prevKey string) {
	// A new slice: models are values, and an earlier copy keeps its own.
	t.match = make([]int, 0, n)
	for i := range n {
		if match == nil || match(i) {
			t.match = append(t.match, i)
		}
	}
	if prevKey != "" && key != nil {
		for pos, i := range t.match {
			if key(i) == prevKey {
				t.cursor = pos
				break
			}
		}
	}
	t.cursor = max(0, min(t.cursor, len(t.match)-1))
}

// selected returns the index of the selected row, or false when no row
// passes the filter.
func (t *table) selected() (int, bool) {
	if t.cursor < 0 || t.cursor >= len(t.match) {
		return 0, false
	}
	return t.match[t.cursor], true
}

// move moves the selection by delta rows and scrolls so that it stays
// within a page of page rows.
func (t *table) move(delta, page int) {
	t.cursor = max(0, min(t.cursor+delta, len(t.match)-1))
	t.scroll(page)
}

// scroll makes the selected row visible in a page of page rows.
func (t *table) scroll(page int) {
	t.offset = visibleOffset(t.offset, t.cursor, len(t.match), page)
}

// visibleOffset returns the first row to show in a page of page rows so
// that cursor is on it, moving offset as little as possible.
func visibleOffset(offset, cursor, n, page int) int {
	if page < 1 {
		page = 1
	}
	if cursor < offset {
		offset = cursor
	}
	if cursor >= offset+page {
		offset = cursor - page + 1
	}
	return max(0, min(offset, n-page))
}

// tableSpec is what renderTable draws.
type tableSpec struct {
	cols []column
	// cell returns the text of row i in column c. selected says the row
	// is the selected one, which is drawn in the selection style as a
	// whole: cell styling would break it.
	cell func(i, c int, selected bool) string
	// style, when set, styles a whole row that is not selected (a
	// conflict, a silent sensor).
	style func(i int) *lipgloss.Style
	// empty is said when no row passes the filter.
	empty string
}

// renderTable draws the header and the rows of t that fit in height lines
// of width cells. It never returns more than height lines.
func renderTable(st *styles, spec tableSpec, t table, width, height int) []string {
	if height <= 0 {
		return nil
	}
	widths := layoutColumns(spec.cols, width)
	line := func(cells []string) string {
		var b strings.Builder
		first := true
		for c, w := range widths {
			if w == 0 {
				continue
			}
			if !first {
				b.WriteString(strings.Repeat(" ", columnGap))
			}
			first = false
			b.WriteString(fit(cells[c], w, spec.cols[c].right))
		}
		return b.String()
	}
	titles := make([]string, len(spec.cols))
	for c, col := range spec.cols {
		titles[c] = col.title
	}
	out := []string{clip(strings.Repeat(" ", markerWidth)+st.header.Render(line(titles)), width)}
	if len(t.match) == 0 {
		if height > 1 {
			out = append(out, clip(strings.Repeat(" ", markerWidth)+st.faint.Render(spec.empty), width))
		}
		return out
	}
	page := height - 1
	offset := visibleOffset(t.offset, t.cursor, len(t.match), page)
	cells := make([]string, len(spec.cols))
	for pos := offset; pos < len(t.match) && pos < offset+page; pos++ {
		i := t.match[pos]
		sel := pos == t.cursor
		for c := range spec.cols {
			if widths[c] > 0 {
				cells[c] = spec.cell(i, c, sel)
			}
		}
		text := line(cells)
		switch {
		case sel:
			text = "> " + st.selected.Render(text)
		case spec.style != nil && spec.style(i) != nil:
			text = "  " + spec.style(i).Render(text)
		default:
			text = "  " + text
		}
		out = append(out, clip(text, width))
	}
	return out
}
