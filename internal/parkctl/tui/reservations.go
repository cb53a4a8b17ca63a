package tui

import (
	"strings"
	"time"

	"github.com/charmbracelet/lipgloss"
	"github.com/google/uuid"
)

// reservationsView lists the confirmed reservations that have not ended,
// soonest first, conflicts marked.
type reservationsView struct {
	rows   []Reservation
	at     time.Time
	loaded bool
	rs     rowsState
}

func (v *reservationsView) set(rows []Reservation, at time.Time) {
	v.rows, v.at, v.loaded = rows, at, true
	hay, keys := make([]string, len(rows)), make([]string, len(rows))
	for i, r := range rows {
		conflict := ""
		if r.Conflict {
			conflict = " conflict"
		}
		hay[i] = strings.ToLower(r.Tenant + " " + r.Site + " " + r.Space + conflict)
		keys[i] = r.ID.String()
	}
	v.rs.reset(hay, keys, nil)
}

// startsIn says when a reservation starts: "now" when under way.
func startsIn(r *Reservation, now time.Time) string {
	if !r.Starts.After(now) {
		return "now"
	}
	return until(&r.Starts, now)
}

func (v *reservationsView) render(m *Model, w, h int) []string {
	st := &m.st
	if !v.loaded {
		return []string{st.faint.Render("loading…")}
	}
	conflicts := 0
	for _, r := range v.rows {
		if r.Conflict {
			conflicts++
		}
	}
	title := st.title.Render("Reservations not yet ended") + " · " + v.rs.position()
	right := plural(conflicts, "conflict", "conflicts")
	if conflicts > 0 {
		right = st.bad.Render("! " + right)
	} else {
		right = st.faint.Render(right)
	}
	lines := []string{spread(title, right, w)}
	loc := m.opts.Location
	cols := []column{
		{title: "TENANT", width: 10, drop: 2, hidden: m.opts.TenantID != uuid.Nil},
		{title: "SITE", width: 12, flex: 1, drop: 1},
		{title: "SPACE", width: 8, flex: 1},
		{title: "STARTS", width: 16},
		{title: "ENDS", width: 12},
		{title: "IN", width: 7, right: true},
		{title: "", width: 10},
	}
	spec := tableSpec{
		cols:  cols,
		empty: "no reservations ahead",
		cell: func(i, c int, _ bool) string {
			r := &v.rows[i]
			switch c {
			case 0:
				return r.Tenant
			case 1:
				return r.Site
			case 2:
				return r.Space
			case 3:
				return r.Starts.In(loc).Format("2006-01-02 15:04")
			case 4:
				s, e := r.Starts.In(loc), r.Ends.In(loc)
				if s.YearDay() == e.YearDay() && s.Year() == e.Year() {
					return e.Format("15:04")
				}
				return e.Format("Jan 02 15:04")
			case 5:
				return startsIn(r, v.at)
			case 6:
				if r.Conflict {
					return "! conflict"
				}
			}
			return ""
		},
		style: func(i int) *lipgloss.Style {
			if v.rows[i].Conflict {
				return &st.bad
			}
			return nil
		},
	}
	return append(lines, renderTable(st, spec, v.rs.table, w, h-1)...)
}

// credsView lists API keys and webhook secrets, soonest expiry first.
type credsView struct {
	rows   []Credential
	at     time.Time
	loaded bool
	rs     rowsState
}

func (v *credsView) set(rows []Credential, at time.Time) {
	v.rows, v.at, v.loaded = rows, at, true
	hay, keys := make([]string, len(rows)), make([]string, len(rows))
	for i, c := range rows {
		hay[i] = strings.ToLower(c.Tenant + " " + c.Kind + " " + c.Name + " " + c.Ident + " " + expiryState(&c, at))
		keys[i] = c.Kind + "/" + c.TenantID.String() + "/" + c.Ident
	}
	v.rs.reset(hay, keys, nil)
}

// expiryState is "expired", "expiring" (within ExpiryWindow) or "".
func expiryState(c *Credential, now time.Time) string {
	switch {
	case c.ExpiresAt == nil:
		return ""
	case !c.ExpiresAt.After(now):
		return "expired"
	case c.ExpiresAt.Sub(now) <= ExpiryWindow:
		return "expiring"
	}
	return ""
}

func (v *credsView) render(m *Model, w, h int) []string {
	st := &m.st
	if !v.loaded {
		return []string{st.faint.Render("loading…")}
	}
	expiring := 0
	for i := range v.rows {
		if expiryState(&v.rows[i], v.at) == "expiring" {
			expiring++
		}
	}
	title := st.title.Render("API keys and webhook secrets") + " · " + v.rs.position()
	right := count(expiring) + " expire within 14 days"
	if expiring == 1 {
		right = "1 expires within 14 days"
	}
	if expiring > 0 {
		right = st.warn.Render("! " + right)
	} else {
		right = st.faint.Render(right)
	}
	lines := []string{spread(title, right, w)}
	cols := []column{
		{title: "TENANT", width: 10, drop: 2, hidden: m.opts.TenantID != uuid.Nil},
		{title: "KIND", width: 14},
		{title: "NAME", width: 12, flex: 1},
		{title: "ID", width: 12, drop: 1},
		{title: "AGE", width: 5, right: true},
		{title: "EXPIRES", width: 10, right: true},
		{title: "LAST USED", width: 9, right: true},
		{title: "", width: 10},
	}
	spec := tableSpec{
		cols:  cols,
		empty: "no API keys or webhook secrets",
		cell: func(i, c int, _ bool) string {
			k := &v.rows[i]
			switch c {
			case 0:
				return k.Tenant
			case 1:
				return k.Kind
			case 2:
				return k.Name
			case 3:
				return k.Ident
			case 4:
				return span(v.at.Sub(k.CreatedAt))
			case 5:
				return until(k.ExpiresAt, v.at)
			case 6:
				return ago(k.LastUsedAt, v.at)
			case 7:
				if s := expiryState(k, v.at); s != "" {
					return "! " + s
				}
			}
			return ""
		},
		style: func(i int) *lipgloss.Style {
			switch expiryState(&v.rows[i], v.at) {
			case "expired":
				return &st.bad
			case "expiring":
				return &st.warn
			}
			return nil
		},
	}
	return append(lines, renderTable(st, spec, v.rs.table, w, h-1)...)
}
