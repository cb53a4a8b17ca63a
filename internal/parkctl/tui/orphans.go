package tui

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/textinput"
	"github.com/charmbracelet/x/ansi"
	"github.com/google/uuid"
)

// orphansView lists the orphan devices waiting for triage. An orphan is
// assigned to a space picked from a filtered list, or ignored; both ask
// for confirmation first.
type orphansView struct {
	rows   []Orphan
	at     time.Time
	loaded bool
	rs     rowsState

	pickerOpen  bool
	picker      pickerState
	confirmOpen bool
	confirm     confirmation
}

// Operations on an orphan.
const (
	opAssign = "assign"
	opIgnore = "ignore"
)

// confirmation is the question asked before an operation.
type confirmation struct {
	op     string
	orphan Orphan
	space  Space // for opAssign
}

// pickerState is the list of spaces an orphan may be assigned to.
type pickerState struct {
	orphan Orphan
	spaces []Space
	loaded bool
	rs     rowsState
	input  textinput.Model
}

func orphanKey(o Orphan) string { return o.TenantID.String() + "/" + o.DevEUI }

func (v *orphansView) set(rows []Orphan, at time.Time) {
	v.rows, v.at, v.loaded = rows, at, true
	hay, keys := make([]string, len(rows)), make([]string, len(rows))
	for i, o := range rows {
		hay[i] = strings.ToLower(o.DevEUI + " " + o.Tenant)
		keys[i] = orphanKey(o)
	}
	v.rs.reset(hay, keys, nil)
}

func (v *orphansView) selected() (Orphan, bool) {
	if i, ok := v.rs.table.selected(); ok {
		return v.rows[i], true
	}
	return Orphan{}, false
}

func (v *orphansView) openPicker(o Orphan, input textinput.Model) {
	v.pickerOpen = true
	v.picker = pickerState{orphan: o, input: input}
}

func (p *pickerState) set(spaces []Space) {
	p.spaces, p.loaded = spaces, true
	hay, keys := make([]string, len(spaces)), make([]string, len(spaces))
	for i, s := range spaces {
		hay[i] = strings.ToLower(s.Site + " " + s.Code + " " + s.Name)
		keys[i] = s.ID.String()
	}
	p.rs.reset(hay, keys, nil)
	p.rs.setFilter(p.input.Value())
}

func formatRSSI(r *int) string {
	if r == nil {
		return "-"
	}
	return strconv.Itoa(*r)
}

func formatSNR(s *float64) string {
	if s == nil {
		return "-"
	}
	return strconv.FormatFloat(*s, 'f', 1, 64)
}

func (v *orphansView) render(m *Model, w, h int) []string {
	st := &m.st
	if !v.loaded {
		return []string{st.faint.Render("loading…")}
	}
	title := st.title.Render("Orphan devices waiting for triage") + " · " + v.rs.position()
	hint := st.faint.Render("a: assign · i: ignore")
	if m.busy != "" {
		hint = st.faint.Render(m.busy)
	}
	lines := []string{spread(title, hint, w)}
	oneTenant := m.opts.TenantID != uuid.Nil
	cols := []column{
		{title: "DEV EUI", width: 16},
		{title: "TENANT", width: 10, flex: 1, drop: 3, hidden: oneTenant},
		{title: "UPLINKS", width: 7, right: true},
		{title: "FIRST SEEN", width: 10, right: true, drop: 2},
		{title: "LAST SEEN", width: 9, right: true},
		{title: "RSSI", width: 5, right: true, drop: 1},
		{title: "SNR", width: 5, right: true, drop: 1},
	}
	if oneTenant {
		cols[0].flex = 1 // the tenant column's share
	}
	spec := tableSpec{
		cols:  cols,
		empty: "no orphan devices",
		cell: func(i, c int, _ bool) string {
			o := &v.rows[i]
			switch c {
			case 0:
				return o.DevEUI
			case 1:
				return o.Tenant
			case 2:
				return count(o.Uplinks)
			case 3:
				return ago(&o.FirstSeen, v.at)
			case 4:
				return ago(&o.LastSeen, v.at)
			case 5:
				return formatRSSI(o.RSSI)
			case 6:
				return formatSNR(o.SNR)
			}
			return ""
		},
	}
	return append(lines, renderTable(st, spec, v.rs.table, w, h-1)...)
}

// renderPicker draws the list of spaces to assign an orphan to: a title,
// the filter input and the spaces, in h lines.
func (v *orphansView) renderPicker(m *Model, w, h int) []string {
	st := &m.st
	p := &v.picker
	o := p.orphan
	title := st.title.Render(fmt.Sprintf("Assign %s (%s) to which space?", o.DevEUI, o.Tenant))
	lines := []string{spread(title, st.faint.Render("enter: choose · esc: cancel"), w), p.input.View()}
	if !p.loaded {
		return append(lines, st.faint.Render("loading spaces…"))
	}
	spec := tableSpec{
		cols: []column{
			{title: "SITE", width: 14, flex: 1},
			{title: "CODE", width: 10, flex: 1},
			{title: "NAME", width: 12, flex: 2, drop: 1},
		},
		empty: "no space without a sensor matches",
		cell: func(i, c int, _ bool) string {
			s := &p.spaces[i]
			switch c {
			case 0:
				return s.Site
			case 1:
				return s.Code
			}
			return s.Name
		},
	}
	return append(lines, renderTable(st, spec, p.rs.table, w, h-2)...)
}

// renderConfirm draws the question of v.confirm in the middle of h lines.
func (v *orphansView) renderConfirm(m *Model, w, h int) []string {
	st := &m.st
	c := v.confirm
	o := c.orphan
	var text []string
	switch c.op {
	case opAssign:
		text = []string{
			st.title.Render(fmt.Sprintf("Assign orphan %s (%s)", o.DevEUI, o.Tenant)),
			fmt.Sprintf("to space %s / %s?", c.space.Site, c.space.Code),
			"The space takes the device as its sensor and its last reading.",
		}
	case opIgnore:
		text = []string{
			st.title.Render(fmt.Sprintf("Ignore orphan %s (%s)?", o.DevEUI, o.Tenant)),
			"It leaves the triage list and keeps counting uplinks;",
			"it can still be assigned later (parkctl orphans assign).",
		}
	}
	text = append(text, "", "y: yes · n: no")
	for i := range text {
		text[i] = clip(text[i], w-4)
	}
	box := strings.Split(st.dialog.Render(strings.Join(text, "\n")), "\n")
	lines := make([]string, 0, h)
	for range max(0, (h-len(box))/2) {
		lines = append(lines, "")
	}
	pad := strings.Repeat(" ", max(0, (w-ansi.StringWidth(box[0]))/2))
	for _, b := range box {
		lines = append(lines, pad+b)
	}
	return lines
}
