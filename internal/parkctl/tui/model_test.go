package tui

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"

	"github.com/parkhq/park/tenancy"
)

// run executes cmd as the program would (a batch's commands in turn) and
// returns the messages, without sending them on. The refresh timer of the
// test models fires at once; its tickMsg is left out.
func run(cmd tea.Cmd) []tea.Msg {
	if cmd == nil {
		return nil
	}
	switch msg := cmd().(type) {
	case nil, tickMsg:
		return nil
	case tea.BatchMsg:
		var out []tea.Msg
		for _, c := range msg {
			out = append(out, run(c)...)
		}
		return out
	default:
		return []tea.Msg{msg}
	}
}

// lines splits a View into its lines.
func lines(v string) []string { return strings.Split(v, "\n") }

func statusOf(m Model) string {
	l := lines(m.View())
	return l[len(l)-1]
}

// TestUpdateNeverTouchesTheStore: no message makes Update call the store;
// only the commands it returns do.
func TestUpdateNeverTouchesTheStore(t *testing.T) {
	t.Parallel()
	d := fixture()
	s := &spyStore{d: d}
	m := newModel(t, s, 80, 24)
	var cmds []tea.Cmd
	step := func(msg tea.Msg) {
		var cmd tea.Cmd
		m, cmd = send(t, m, msg)
		cmds = append(cmds, cmd)
	}
	step(loadedMsg{kind: loadOverview, seq: m.inflight[loadOverview], at: now, data: d.overview})
	for _, k := range []string{"tab", "enter", "esc", "3", "a", "esc", "i", "y", "4", "5", "r", "/", "x", "enter", "shift+tab", "1", "?"} {
		step(keyMsg(k))
	}
	step(tickMsg{})
	step(tea.WindowSizeMsg{Width: 120, Height: 40})
	if c := s.Calls(); len(c) != 0 {
		t.Fatalf("Update called the store: %v", c)
	}
	for _, c := range cmds {
		run(c)
	}
	if c := s.Calls(); len(c) == 0 {
		t.Fatal("the commands never called the store")
	}
}

// TestViewSwitching: Tab, shift+Tab and the number keys switch views, and
// each switch loads the view it shows.
func TestViewSwitching(t *testing.T) {
	t.Parallel()
	d := fixture()
	s := &spyStore{d: d}
	m := loadedWith(t, newModel(t, s, 80, 24), d)
	steps := []struct {
		key  string
		want viewID
		call string
	}{
		{"tab", viewSites, "Sites"},
		{"tab", viewOrphans, "Orphans"},
		{"shift+tab", viewSites, "Sites"},
		{"5", viewKeys, "Credentials"},
		{"tab", viewOverview, "Overview"},
		{"shift+tab", viewKeys, "Credentials"},
		{"4", viewReservations, "Reservations"},
		{"1", viewOverview, "Overview"},
		{"9", viewOverview, ""}, // not a view
	}
	for _, st := range steps {
		var cmd tea.Cmd
		m, cmd = send(t, m, keyMsg(st.key))
		if m.active != st.want {
			t.Fatalf("after %s: view %s, want %s", st.key, viewNames[m.active], viewNames[st.want])
		}
		if !strings.Contains(lines(m.View())[0], "["+fmt.Sprint(int(st.want)+1)+" "+viewNames[st.want]+"]") {
			t.Errorf("after %s the tab bar does not mark %s: %q", st.key, viewNames[st.want], lines(m.View())[0])
		}
		before := len(s.Calls())
		for _, msg := range run(cmd) {
			m = update(t, m, msg)
		}
		calls := s.Calls()[before:]
		if st.call == "" && len(calls) != 0 || st.call != "" && (len(calls) != 1 || calls[0] != st.call) {
			t.Errorf("after %s the store saw %v, want %q", st.key, calls, st.call)
		}
	}
	// Enter on a tenant of the overview opens its sites only.
	m = press(t, m, "down", "enter")
	if m.active != viewSites || m.sites.scopeSlug != "beta" || len(m.sites.rs.table.match) != 1 {
		t.Fatalf("enter on beta: view %s, scope %q, %d sites", viewNames[m.active], m.sites.scopeSlug, len(m.sites.rs.table.match))
	}
	if m = press(t, m, "esc"); m.sites.scopeSlug != "" || len(m.sites.rs.table.match) != 4 {
		t.Fatalf("esc keeps the scope %q (%d sites)", m.sites.scopeSlug, len(m.sites.rs.table.match))
	}
}

// TestStaleRepliesDropped: an answer older than the one shown, or for a
// site no longer open, changes nothing.
func TestStaleRepliesDropped(t *testing.T) {
	t.Parallel()
	d := fixture()
	m := newModel(t, &spyStore{d: d}, 80, 24)
	first := m.inflight[loadOverview]
	m = press(t, m, "r") // a second load while the first runs
	second := m.inflight[loadOverview]
	if second <= first {
		t.Fatalf("refresh did not start a newer load: %d after %d", second, first)
	}
	newer := &Overview{Tenants: d.overview.Tenants[:1]}
	m = update(t, m, loadedMsg{kind: loadOverview, seq: second, at: now, data: newer})
	m = update(t, m, loadedMsg{kind: loadOverview, seq: first, at: now, data: d.overview})
	if len(m.overview.tenants) != 1 {
		t.Fatalf("the older answer replaced the newer: %d tenants", len(m.overview.tenants))
	}
	// A late error of the older load is dropped too.
	m = update(t, m, loadedMsg{kind: loadOverview, seq: first, at: now, err: errors.New("boom")})
	if strings.Contains(statusOf(m), "boom") {
		t.Fatalf("a stale error reached the status line: %q", statusOf(m))
	}

	// The spaces of North, then of South: North's answer comes last.
	m.load(loadSites)
	m = answer(t, m, loadSites, d.sites)
	m = press(t, m, "2", "enter")
	northSeq, northKey := m.inflight[loadSpaces], m.loadKey(loadSpaces)
	m = press(t, m, "esc", "down", "enter")
	southKey := m.loadKey(loadSpaces)
	if southKey == northKey {
		t.Fatal("both sites have one key")
	}
	m = update(t, m, loadedMsg{kind: loadSpaces, seq: northSeq, key: northKey, at: now, data: d.spaces})
	if m.sites.spaces.loaded || m.sites.spaces.site.Name != "South lot" {
		t.Fatalf("North's spaces shown under %s (loaded %v)", m.sites.spaces.site.Name, m.sites.spaces.loaded)
	}
	m = answer(t, m, loadSpaces, d.spaces[:2])
	if len(m.sites.spaces.rows) != 2 {
		t.Fatalf("South's own answer was not taken: %d rows", len(m.sites.spaces.rows))
	}
}

// TestErrorInStatusLine: a failed load keeps the data on screen and says
// why in the status line, until a load succeeds.
func TestErrorInStatusLine(t *testing.T) {
	t.Parallel()
	d := fixture()
	m := loadedWith(t, newModel(t, &spyStore{d: d}, 80, 24), d)
	m = press(t, m, "r")
	m = update(t, m, loadedMsg{kind: loadOverview, seq: m.inflight[loadOverview], at: now,
		err: fmt.Errorf("load overview: %w", tenancy.ErrPartialView)})
	if st := statusOf(m); !strings.HasPrefix(st, "error: load overview: park_ops does not bypass") {
		t.Fatalf("status line %q", st)
	}
	if !strings.Contains(m.View(), "acme") {
		t.Fatal("the last data left the screen")
	}
	if m.offline {
		t.Fatal("an error that is no outage shows as one")
	}
	m = press(t, m, "r")
	m = answer(t, m, loadOverview, d.overview)
	if st := statusOf(m); strings.Contains(st, "error") || !strings.Contains(st, "updated 12:00:00") {
		t.Fatalf("status line after a good load: %q", st)
	}
}

// TestReconnecting: losing the database shows "reconnecting", every tick
// tries again (the view on screen), and a load that succeeds ends it.
func TestReconnecting(t *testing.T) {
	t.Parallel()
	d := fixture()
	s := &spyStore{d: d}
	m := loadedWith(t, newModel(t, s, 80, 24), d)
	lost := &tenancy.DBError{Kind: tenancy.ErrUnavailable}
	for _, err := range []error{fmt.Errorf("load overview: %w", lost), context.DeadlineExceeded} {
		m = press(t, m, "r")
		m = update(t, m, loadedMsg{kind: loadOverview, seq: m.inflight[loadOverview], at: now, err: err})
		if st := statusOf(m); !strings.Contains(st, "reconnecting") || !m.offline {
			t.Fatalf("%v: status line %q", err, st)
		}
		if !strings.Contains(m.View(), "acme") {
			t.Fatal("the last data left the screen")
		}
		// A tick while offline tries again.
		var cmd tea.Cmd
		m, cmd = send(t, m, tickMsg{})
		before := len(s.Calls())
		msgs := run(cmd)
		if c := s.Calls()[before:]; len(c) != 1 || c[0] != "Overview" {
			t.Fatalf("tick while offline called %v", c)
		}
		for _, msg := range msgs {
			m = update(t, m, msg)
		}
		if m.offline || strings.Contains(statusOf(m), "reconnecting") {
			t.Fatalf("still offline after a good load: %q", statusOf(m))
		}
	}
	// A tick does not pile a load on one still running.
	m = press(t, m, "r")
	if _, cmd := send(t, m, tickMsg{}); len(run(cmd)) != 0 {
		t.Fatal("a tick started a second load while one runs")
	}
}

// TestFilter: "/" filters the list on screen by every word typed; Enter
// keeps the filter, Esc clears it.
func TestFilter(t *testing.T) {
	t.Parallel()
	d := fixture()
	m := loadedWith(t, newModel(t, &spyStore{d: d}, 80, 24), d)
	m = press(t, m, "3", "/", "a", "c", "m", "e", " ", "9", "0", "0", "2")
	if !m.filtering || len(m.orphans.rs.table.match) != 1 {
		t.Fatalf("filtering %v, %d orphans match", m.filtering, len(m.orphans.rs.table.match))
	}
	if v := m.View(); !strings.Contains(v, "/ acme 9002") || strings.Contains(v, "70b3d57ed0009001") {
		t.Fatalf("view while filtering:\n%s", v)
	}
	m = press(t, m, "enter")
	if m.filtering || m.orphans.rs.filter != "acme 9002" || !strings.Contains(m.View(), "filter: acme 9002") {
		t.Fatalf("after enter: filtering %v, filter %q", m.filtering, m.orphans.rs.filter)
	}
	// The selection follows the row across a reload.
	m.load(loadOrphans)
	m = answer(t, m, loadOrphans, d.orphans)
	if o, _ := m.orphans.selected(); o.DevEUI != "70b3d57ed0009002" {
		t.Fatalf("selected %s after reload", o.DevEUI)
	}
	m = press(t, m, "esc")
	if m.orphans.rs.filter != "" || len(m.orphans.rs.table.match) != 3 {
		t.Fatalf("esc kept the filter %q", m.orphans.rs.filter)
	}
	if o, _ := m.orphans.selected(); o.DevEUI != "70b3d57ed0009002" {
		t.Fatalf("clearing the filter lost the selection: %s", o.DevEUI)
	}
	// Keys typed fast arrive as one message: each still counts.
	m = update(t, m, tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("/beta")})
	if !m.filtering || m.orphans.rs.filter != "beta" || len(m.orphans.rs.table.match) != 1 {
		t.Fatalf("\"/beta\" at once: filtering %v, filter %q", m.filtering, m.orphans.rs.filter)
	}
	m = press(t, m, "esc")
	if m.orphans.rs.filter != "" || len(m.orphans.rs.table.match) != 3 {
		t.Fatalf("esc kept the filter %q", m.orphans.rs.filter)
	}
}

// TestQuit: q and ctrl+c quit; q typed into the filter does not.
func TestQuit(t *testing.T) {
	t.Parallel()
	m := newModel(t, &spyStore{d: fixture()}, 80, 24)
	for _, k := range []string{"q", "ctrl+c"} {
		_, cmd := send(t, m, keyMsg(k))
		if cmd == nil {
			t.Fatalf("%s: no command", k)
		}
		if _, ok := cmd().(tea.QuitMsg); !ok {
			t.Fatalf("%s does not quit", k)
		}
	}
	m = press(t, m, "/")
	if _, cmd := send(t, m, keyMsg("q")); cmd != nil {
		if _, ok := cmd().(tea.QuitMsg); ok {
			t.Fatal("q in the filter quits")
		}
	}
}

// TestAssignAndIgnore: a assigns the selected orphan to a space picked
// from a filtered list after a confirmation; i ignores one after another;
// n cancels. The store is called by commands only, with the actor.
func TestAssignAndIgnore(t *testing.T) {
	t.Parallel()
	d := fixture()
	s := &spyStore{d: d}
	m := loadedWith(t, newModel(t, s, 80, 24), d)
	m = press(t, m, "3")
	var cmd tea.Cmd
	m, cmd = send(t, m, keyMsg("a"))
	if !m.orphans.pickerOpen {
		t.Fatal("a did not open the picker")
	}
	for _, msg := range run(cmd) {
		m = update(t, m, msg)
	}
	if !m.orphans.picker.loaded || len(m.orphans.picker.rs.table.match) != 3 {
		t.Fatalf("picker: loaded %v, %d spaces", m.orphans.picker.loaded, len(m.orphans.picker.rs.table.match))
	}
	if c := s.Calls(); c[len(c)-1] != "AssignCandidates "+acme.ID.String() {
		t.Fatalf("candidates loaded for %v", c[len(c)-1])
	}
	m = press(t, m, "s", "-", "2")
	if len(m.orphans.picker.rs.table.match) != 1 || !strings.Contains(m.View(), "S-2") || strings.Contains(m.View(), "A-030") {
		t.Fatalf("picker filtered by s-2:\n%s", m.View())
	}
	m = press(t, m, "enter")
	if !m.orphans.confirmOpen || !strings.Contains(m.View(), "to space South lot / S-2?") {
		t.Fatalf("no confirmation:\n%s", m.View())
	}
	m = press(t, m, "n")
	if m.orphans.confirmOpen || !m.orphans.pickerOpen {
		t.Fatal("n did not go back to the picker")
	}
	m = press(t, m, "enter")
	before := len(s.Calls())
	m, cmd = send(t, m, keyMsg("y"))
	if len(s.Calls()) != before {
		t.Fatal("y called the store in Update")
	}
	if m.orphans.pickerOpen || m.orphans.confirmOpen || !strings.Contains(statusOf(m), "assigning 70b3d57ed0009001") {
		t.Fatalf("after y: picker %v, confirm %v, status %q", m.orphans.pickerOpen, m.orphans.confirmOpen, statusOf(m))
	}
	msgs := run(cmd)
	if c := s.Calls()[before:]; len(c) != 1 || c[0] != fmt.Sprintf("AssignOrphan %s 70b3d57ed0009001 %s operator:test", acme.ID, id(1202)) {
		t.Fatalf("assign called %v", c)
	}
	m, cmd = send(t, m, msgs[0])
	if st := statusOf(m); !strings.Contains(st, "assigned 70b3d57ed0009001 (acme) to space South lot/S-2") {
		t.Fatalf("status after assign: %q", st)
	}
	before = len(s.Calls())
	run(cmd)
	if c := s.Calls()[before:]; len(c) != 1 || c[0] != "Orphans" {
		t.Fatalf("after assign the orphans were not loaded again: %v", c)
	}

	// Ignore the second orphan; a failure goes to the status line.
	m = press(t, m, "down", "i")
	if !m.orphans.confirmOpen || !strings.Contains(m.View(), "Ignore orphan a84041000181c001 (beta)?") {
		t.Fatalf("no confirmation of ignore:\n%s", m.View())
	}
	s.err = errors.New("ignore orphan a84041000181c001: not found")
	m, cmd = send(t, m, keyMsg("y"))
	for _, msg := range run(cmd) {
		m = update(t, m, msg)
	}
	if st := statusOf(m); !strings.Contains(st, "error: ignore orphan a84041000181c001: not found") {
		t.Fatalf("status after a failed ignore: %q", st)
	}
	// The outcome belongs to the orphans view: another view does not show it.
	if st := statusOf(press(t, m, "1")); strings.Contains(st, "ignore orphan") {
		t.Fatalf("status on the overview: %q", st)
	}
}

// TestViewFits: every view, dialog and the help fill exactly the terminal
// at every size, and no line is wider than it.
func TestViewFits(t *testing.T) {
	t.Parallel()
	d := fixture()
	for _, size := range [][2]int{{60, 12}, {80, 24}, {100, 30}, {120, 40}, {200, 50}, {59, 24}, {80, 11}} {
		m := loadedWith(t, newModel(t, &spyStore{d: d}, size[0], size[1]), d)
		screens := map[string]Model{}
		for v := range viewCount {
			m.active = v
			screens[viewNames[v]] = m
		}
		sp := press(t, screens["Sites"], "enter")
		screens["spaces"] = answer(t, sp, loadSpaces, d.spaces)
		screens["help"] = press(t, m, "?")
		pk := press(t, screens["Orphans"], "a")
		screens["picker"] = answer(t, pk, loadCandidates, d.candidates)
		screens["confirm"] = press(t, screens["picker"], "enter")
		screens["filter"] = press(t, screens["Reservations"], "/", "h")
		for name, s := range screens {
			l := lines(s.View())
			small := size[0] < minWidth || size[1] < minHeight
			if !small && len(l) != size[1] {
				t.Errorf("%s at %dx%d: %d lines", name, size[0], size[1], len(l))
			}
			for i, line := range l {
				if w := ansi.StringWidth(line); w > size[0] {
					t.Errorf("%s at %dx%d: line %d is %d wide: %q", name, size[0], size[1], i, w, line)
				}
			}
		}
	}
}
