package tui

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/lipgloss"
)

// overviewView shows every tenant's figures (or the one tenant's): the
// totals, the uplinks per minute of the last hour, and a table by tenant.
type overviewView struct {
	tenants []TenantStats
	at      time.Time
	loaded  bool
	rs      rowsState
}

func (v *overviewView) set(o *Overview, at time.Time) {
	v.tenants, v.at, v.loaded = o.Tenants, at, true
	hay, keys := make([]string, len(v.tenants)), make([]string, len(v.tenants))
	for i, t := range v.tenants {
		hay[i] = strings.ToLower(t.Slug + " " + t.Name + " " + t.Status)
		keys[i] = t.ID.String()
	}
	v.rs.reset(hay, keys, nil)
}

func (v *overviewView) selectedTenant() (TenantStats, bool) {
	if i, ok := v.rs.table.selected(); ok {
		return v.tenants[i], true
	}
	return TenantStats{}, false
}

// headLines is how many lines of a body of height h come before the
// table: the summary, and the sparkline when there is room for it and a
// few rows.
func (v *overviewView) headLines(h int) int {
	if h >= 14 {
		return 7
	}
	return 4
}

// totals sums the tenants' figures.
func (v *overviewView) totals() TenantStats {
	var s TenantStats
	for _, t := range v.tenants {
		s.Sites += t.Sites
		s.Spaces += t.Spaces
		s.Free += t.Free
		s.Occupied += t.Occupied
		s.Unknown += t.Unknown
		for i, n := range t.PerMinute {
			s.PerMinute[i] += n
		}
		s.OpenOrphans += t.OpenOrphans
		s.Conflicts += t.Conflicts
		s.KeysExpiring += t.KeysExpiring
		s.SecretsExpiring += t.SecretsExpiring
	}
	return s
}

func plural(n int, one, many string) string {
	if n == 1 {
		return count(n) + " " + one
	}
	return count(n) + " " + many
}

func (v *overviewView) render(m *Model, w, h int) []string {
	st := &m.st
	if !v.loaded {
		return []string{st.faint.Render("loading…")}
	}
	t := v.totals()
	var peak int64
	for _, n := range t.PerMinute {
		peak = max(peak, n)
	}
	label := func(s string) string { return st.title.Render(fmt.Sprintf("%-10s", s)) }
	attention := func(n int, s string) string {
		if n > 0 {
			return st.warn.Render(s)
		}
		return s
	}
	tenants := plural(len(v.tenants), "tenant", "tenants")
	lines := []string{
		label("Spaces") + fmt.Sprintf("%s in %s of %s: ", count(t.Spaces), plural(t.Sites, "site", "sites"), tenants) +
			st.occupied.Render(count(t.Occupied)+" occupied") + ", " + st.free.Render(count(t.Free)+" free") + ", " +
			st.unknown.Render(count(t.Unknown)+" unknown"),
		label("Uplinks") + fmt.Sprintf("%s in the last %d minutes · peak %s/min in the last hour",
			count(t.RecentUplinks()), int(UplinkWindow/time.Minute), count(peak)),
		label("Attention") + attention(t.OpenOrphans, plural(t.OpenOrphans, "orphan", "orphans")) + " · " +
			attention(t.Conflicts, plural(t.Conflicts, "conflict", "conflicts")) + " · " +
			attention(t.KeysExpiring+t.SecretsExpiring, fmt.Sprintf("expiring within %dd: %s, %s",
				int(ExpiryWindow/(24*time.Hour)), plural(t.KeysExpiring, "API key", "API keys"),
				plural(t.SecretsExpiring, "secret", "secrets"))),
		"",
	}
	if v.headLines(h) == 7 {
		sw := min(SparkMinutes, w-2)
		if peak == 0 {
			lines = append(lines, "  "+st.faint.Render("no uplinks in the last hour"), "")
		} else {
			lines = append(lines, "  "+st.good.Render(sparkline(t.PerMinute[:], sw)),
				"  "+st.faint.Render(spread("60 min ago", "now", sw)))
		}
		lines = append(lines, "")
	}
	cols := []column{
		{title: "TENANT", width: 10, flex: 1},
		{title: "STATUS", width: 9, drop: 5},
		{title: "SITES", width: 5, right: true},
		{title: "SPACES", width: 6, right: true, drop: 4},
		{title: "OCC", width: 5, right: true},
		{title: "FREE", width: 5, right: true},
		{title: "UNK", width: 5, right: true, drop: 3},
		{title: "UP/5M", width: 6, right: true},
		{title: "LAST HOUR", width: 16, flex: 2, drop: 6},
		{title: "ORPHANS", width: 7, right: true},
		{title: "CONFL", width: 5, right: true},
		{title: "EXPIRING", width: 8, right: true},
	}
	sparkWidth := layoutColumns(cols, w)[8]
	spec := tableSpec{
		cols:  cols,
		empty: "no tenants",
		cell: func(i, c int, sel bool) string {
			t := &v.tenants[i]
			switch c {
			case 0:
				return t.Slug
			case 1:
				return t.Status
			case 2:
				return count(t.Sites)
			case 3:
				return count(t.Spaces)
			case 4:
				return count(t.Occupied)
			case 5:
				return count(t.Free)
			case 6:
				return count(t.Unknown)
			case 7:
				return count(t.RecentUplinks())
			case 8:
				return sparkline(t.PerMinute[:], sparkWidth)
			case 9:
				return count(t.OpenOrphans)
			case 10:
				return count(t.Conflicts)
			case 11:
				return strconv.Itoa(t.KeysExpiring + t.SecretsExpiring)
			}
			return ""
		},
		style: func(i int) *lipgloss.Style {
			switch t := &v.tenants[i]; {
			case t.Conflicts > 0:
				return &st.bad
			case t.Status != "active":
				return &st.faint
			}
			return nil
		},
	}
	return append(lines, renderTable(st, spec, v.rs.table, w, h-len(lines))...)
}
