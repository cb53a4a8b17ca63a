package tui

import "strings"

// rowsState is a list of a view: its filter and what every row can be
// found by, and the table state over the rows that pass.
type rowsState struct {
	table  table
	filter string
	// hay is each row's searchable text, in lower case; keys its identity,
	// which keeps the selection on the same row across reloads.
	hay  []string
	keys []string
	// hidden rows never show, whatever the filter (rows outside a scope).
	hidden []bool
}

// reset replaces the rows, keeping the filter and the selected row.
func (r *rowsState) reset(hay, keys []string, hidden []bool) {
	prev := r.selectedKey()
	r.hay, r.keys, r.hidden = hay, keys, hidden
	r.apply(prev)
}

// setFilter filters the rows by f: every word of it must occur in a row,
// in any case.
func (r *rowsState) setFilter(f string) {
	prev := r.selectedKey()
	r.filter = f
	r.apply(prev)
}

// setHidden changes which rows never show.
func (r *rowsState) setHidden(hidden []bool) {
	prev := r.selectedKey()
	r.hidden = hidden
	r.apply(prev)
}

func (r *rowsState) selectedKey() string {
	if i, ok := r.table.selected(); ok && i < len(r.keys) {
		return r.keys[i]
	}
	return ""
}

func (r *rowsState) apply(prev string) {
	terms := strings.Fields(strings.ToLower(r.filter))
	r.table.refilter(len(r.hay), func(i int) bool {
		if i < len(r.hidden) && r.hidden[i] {
			return false
		}
		for _, t := range terms {
			if !strings.Contains(r.hay[i], t) {
				return false
			}
		}
		return true
	}, func(i int) string { return r.keys[i] }, prev)
}

// position says which rows of how many are on screen: "12 of 2,000",
// with the filter's count when one is set.
func (r *rowsState) position() string {
	n := len(r.table.match)
	shown := 0
	for i := range r.hay {
		if i >= len(r.hidden) || !r.hidden[i] {
			shown++
		}
	}
	if n == shown {
		return count(n)
	}
	return count(n) + " of " + count(shown)
}
