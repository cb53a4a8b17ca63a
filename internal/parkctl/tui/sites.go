package tui

import (
	"fmt"
	"strings"
	"time"

	"github.com/charmbracelet/lipgloss"
	"github.com/google/uuid"
)

// sitesView shows occupancy per site; Enter opens a site's spaces.
type sitesView struct {
	rows   []Site
	at     time.Time
	loaded bool
	rs     rowsState

	// scope, when set, shows the sites of one tenant only (Enter on the
	// overview); Esc lifts it.
	scope     uuid.UUID
	scopeSlug string

	spacesOpen bool
	spaces     spacesView
}

func (v *sitesView) set(rows []Site, at time.Time) {
	v.rows, v.at, v.loaded = rows, at, true
	hay, keys := make([]string, len(rows)), make([]string, len(rows))
	for i, s := range rows {
		hay[i] = strings.ToLower(s.Tenant + " " + s.Name + " " + s.Timezone)
		keys[i] = s.ID.String()
	}
	v.rs.reset(hay, keys, v.hidden())
}

func (v *sitesView) hidden() []bool {
	if v.scope == uuid.Nil {
		return nil
	}
	h := make([]bool, len(v.rows))
	for i, s := range v.rows {
		h[i] = s.TenantID != v.scope
	}
	return h
}

func (v *sitesView) setScope(id uuid.UUID, slug string) {
	v.scope, v.scopeSlug = id, slug
	v.spacesOpen = false
	v.rs.setHidden(v.hidden())
}

func (v *sitesView) selected() (Site, bool) {
	if i, ok := v.rs.table.selected(); ok {
		return v.rows[i], true
	}
	return Site{}, false
}

// open shows the spaces of site, empty until their load answers.
func (v *sitesView) open(site Site) {
	v.spacesOpen = true
	if v.spaces.site.ID != site.ID {
		v.spaces = spacesView{site: site}
	} else {
		v.spaces.site = site
	}
}

// occupancyBar draws occupied, free and unknown spaces in width cells.
func occupancyBar(st *styles, occupied, free, unknown, width int, plain bool) string {
	p := barParts(occupied, free, unknown, width)
	seg := func(s lipgloss.Style, glyph rune, n int) string {
		if n == 0 {
			return ""
		}
		text := strings.Repeat(string(glyph), n)
		if plain {
			return text
		}
		return s.Render(text)
	}
	return seg(st.occupied, glyphOccupied, p[0]) + seg(st.free, glyphFree, p[1]) + seg(st.unknown, glyphUnknown, p[2])
}

func (v *sitesView) render(m *Model, w, h int) []string {
	if v.spacesOpen {
		return v.spaces.render(m, w, h)
	}
	st := &m.st
	if !v.loaded {
		return []string{st.faint.Render("loading…")}
	}
	title := st.title.Render("Sites") + " · " + v.rs.position()
	if v.scope != uuid.Nil {
		title += " of tenant " + v.scopeSlug + st.faint.Render(" (esc: all tenants)")
	}
	legend := st.occupied.Render(string(glyphOccupied)+" occupied") + " " + st.free.Render(string(glyphFree)+" free") + " " +
		st.unknown.Render(string(glyphUnknown)+" unknown") + st.faint.Render(" · enter: spaces")
	lines := []string{spread(title, legend, w)}

	cols := []column{
		{title: "TENANT", width: 10, drop: 1, hidden: m.opts.TenantID != uuid.Nil},
		{title: "SITE", width: 14, flex: 1},
		{title: "SPACES", width: 6, right: true},
		{title: "OCCUPANCY", width: 12, flex: 2},
		{title: "OCC", width: 5, right: true, drop: 2},
		{title: "FREE", width: 5, right: true, drop: 3},
		{title: "UNK", width: 5, right: true, drop: 4},
		{title: "SILENT", width: 6, right: true},
		{title: "LAST READING", width: 12, right: true},
	}
	widths := layoutColumns(cols, w)
	spec := tableSpec{
		cols:  cols,
		empty: "no sites",
		cell: func(i, c int, sel bool) string {
			s := &v.rows[i]
			switch c {
			case 0:
				return s.Tenant
			case 1:
				return s.Name
			case 2:
				return count(s.Spaces)
			case 3:
				return occupancyBar(st, s.Occupied, s.Free, s.Unknown, widths[c], sel)
			case 4:
				return count(s.Occupied)
			case 5:
				return count(s.Free)
			case 6:
				return count(s.Unknown)
			case 7:
				if s.Silent > 0 && !sel {
					return st.warn.Render(count(s.Silent))
				}
				return count(s.Silent)
			case 8:
				return ago(s.LastReading, v.at)
			}
			return ""
		},
	}
	return append(lines, renderTable(st, spec, v.rs.table, w, h-1)...)
}

// spacesView lists the spaces of one site.
type spacesView struct {
	site   Site
	rows   []Space
	at     time.Time
	loaded bool
	rs     rowsState
}

func (v *spacesView) set(rows []Space, at time.Time) {
	v.rows, v.at, v.loaded = rows, at, true
	hay, keys := make([]string, len(rows)), make([]string, len(rows))
	for i, s := range rows {
		silent := ""
		if s.Silent {
			silent = " silent"
		}
		hay[i] = strings.ToLower(s.Code + " " + s.Name + " " + s.SensorEUI + " " + s.State + silent)
		keys[i] = s.ID.String()
	}
	v.rs.reset(hay, keys, nil)
}

func (v *spacesView) render(m *Model, w, h int) []string {
	st := &m.st
	title := st.title.Render(v.site.Tenant+" › "+v.site.Name) + " · "
	if !v.loaded {
		return []string{title + st.faint.Render("loading…")}
	}
	silent := 0
	for _, s := range v.rows {
		if s.Silent {
			silent++
		}
	}
	title += plural(len(v.rows), "space", "spaces")
	if n := len(v.rs.table.match); n != len(v.rows) {
		title += fmt.Sprintf(" (%s shown)", count(n))
	}
	silentText := fmt.Sprintf(" · %s silent for %s", plural(silent, "sensor", "sensors"), shortDuration(m.opts.SilentAfter))
	if silent > 0 {
		silentText = st.warn.Render(silentText)
	}
	lines := []string{spread(title+silentText, st.faint.Render("esc: sites"), w)}
	cols := []column{
		{title: "CODE", width: 8, flex: 1},
		{title: "NAME", width: 12, flex: 2, drop: 3},
		{title: "STATE", width: 8},
		{title: "SENSOR", width: 16, drop: 2},
		{title: "CHANGED", width: 8, right: true, drop: 4},
		{title: "LAST READING", width: 12, right: true},
		{title: "", width: 6},
	}
	spec := tableSpec{
		cols:  cols,
		empty: "no spaces",
		cell: func(i, c int, sel bool) string {
			s := &v.rows[i]
			switch c {
			case 0:
				return s.Code
			case 1:
				return s.Name
			case 2:
				if sel {
					return s.State
				}
				switch s.State {
				case "occupied":
					return st.occupied.Render(s.State)
				case "free":
					return st.free.Render(s.State)
				}
				return st.unknown.Render(s.State)
			case 3:
				if s.SensorEUI == "" {
					return "-"
				}
				return s.SensorEUI
			case 4:
				return ago(s.StateChangedAt, v.at)
			case 5:
				if s.SensorEUI == "" && s.LastReadingAt == nil {
					return "-"
				}
				return ago(s.LastReadingAt, v.at)
			case 6:
				if s.Silent {
					if sel {
						return "silent"
					}
					return st.warn.Render("silent")
				}
			}
			return ""
		},
	}
	return append(lines, renderTable(st, spec, v.rs.table, w, h-1)...)
}
