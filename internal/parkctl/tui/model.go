package tui

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/cursor"
	"github.com/charmbracelet/bubbles/help"
	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/google/uuid"

	"github.com/parkhq/park/tenancy"
)

// Defaults of Options.
const (
	DefaultRefresh     = 5 * time.Second
	DefaultSilentAfter = time.Hour
	DefaultLoadTimeout = 10 * time.Second
)

// Smallest terminal the dashboard draws in; below it, it says so.
const (
	minWidth  = 60
	minHeight = 12
)

// Options configure a Model.
type Options struct {
	// Store is where the data comes from.
	Store Store
	// TenantID and TenantSlug limit the dashboard to one tenant; a zero
	// TenantID shows every tenant.
	TenantID   uuid.UUID
	TenantSlug string
	// Refresh is how often the shown view is loaded again (and, while the
	// database is lost, how often it is tried); 0 means DefaultRefresh.
	Refresh time.Duration
	// SilentAfter marks spaces whose sensor has sent nothing for longer;
	// 0 means DefaultSilentAfter.
	SilentAfter time.Duration
	// LoadTimeout bounds each load; 0 means DefaultLoadTimeout. A load
	// that times out counts as the database being lost.
	LoadTimeout time.Duration
	// Now is the clock (time.Now when nil); Location the time zone of the
	// times shown (time.Local when nil).
	Now      func() time.Time
	Location *time.Location
	// Actor names the operator in the audit log of assign and ignore.
	Actor string
	// Renderer makes the styles; nil means PlainRenderer (no colour).
	Renderer *lipgloss.Renderer
	// Context ends the loads still running when the dashboard quits; nil
	// means context.Background().
	Context context.Context
	// ErrorText turns an error into the status line's text; nil means
	// err.Error().
	ErrorText func(error) string
}

// viewID names the views, in tab order.
type viewID int

const (
	viewOverview viewID = iota
	viewSites
	viewOrphans
	viewReservations
	viewKeys
	viewCount
)

var viewNames = [viewCount]string{"Overview", "Sites", "Orphans", "Reservations", "Keys"}

// loadKind names a load. Each view has one; the spaces of a site and the
// spaces an orphan can be assigned to have their own.
type loadKind int

const (
	loadOverview loadKind = iota
	loadSites
	loadSpaces
	loadOrphans
	loadReservations
	loadCredentials
	loadCandidates
	loadKinds
)

// loadedMsg is the answer of one load.
type loadedMsg struct {
	kind loadKind
	// seq orders the loads: an answer older than the one shown is dropped.
	seq uint64
	// key names what was loaded beyond the query (a site, an orphan): an
	// answer for something no longer shown is dropped.
	key  string
	at   time.Time
	data any
	err  error
}

// tickMsg is the refresh timer.
type tickMsg struct{}

// actionMsg is the outcome of assign or ignore.
type actionMsg struct {
	done string // what happened, for the status line
	err  error
}

// Model is the dashboard: a tea.Model whose Update only changes state and
// returns commands; every database call runs in a command.
type Model struct {
	opts Options
	st   styles
	keys keyMap
	help help.Model

	width, height int
	active        viewID
	showHelp      bool

	overview     overviewView
	sites        sitesView
	orphans      orphansView
	reservations reservationsView
	creds        credsView

	seq      uint64
	shown    [loadKinds]uint64 // seq of the newest answer taken, per kind
	inflight [loadKinds]uint64 // seq of a load still running, per kind; 0 none
	initCmd  tea.Cmd

	// offline is set when a load finds the database unreachable, and
	// cleared by the next load that succeeds.
	offline      bool
	offlineSince time.Time
	offlineText  string
	errText      string // the last load's error, when not an outage
	notice       string // the last action's outcome
	noticeBad    bool
	busy         string // an action running

	filtering bool
	filter    textinput.Model
}

// New returns the dashboard on the overview, its first load and the
// refresh timer under way once the program starts.
func New(opts Options) Model {
	if opts.Refresh <= 0 {
		opts.Refresh = DefaultRefresh
	}
	if opts.SilentAfter <= 0 {
		opts.SilentAfter = DefaultSilentAfter
	}
	if opts.LoadTimeout <= 0 {
		opts.LoadTimeout = DefaultLoadTimeout
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Location == nil {
		opts.Location = time.Local
	}
	if opts.Renderer == nil {
		opts.Renderer = PlainRenderer()
	}
	if opts.Context == nil {
		opts.Context = context.Background()
	}
	if opts.ErrorText == nil {
		opts.ErrorText = func(err error) string { return err.Error() }
	}
	m := Model{opts: opts, st: newStyles(opts.Renderer), keys: newKeyMap()}
	m.help = help.Model{
		ShortSeparator: " · ",
		FullSeparator:  "   ",
		Ellipsis:       "…",
		Styles: help.Styles{
			Ellipsis: m.st.faint, ShortKey: m.st.title, ShortDesc: m.st.faint, ShortSeparator: m.st.faint,
			FullKey: m.st.title, FullDesc: m.st.tab, FullSeparator: m.st.faint,
		},
	}
	m.filter = newInput(m.st, "/ ")
	m.initCmd = tea.Batch(m.load(loadOverview), m.tick())
	return m
}

// newInput returns a text input with a cursor that does not blink: a
// blinking cursor would redraw the screen twice a second for nothing.
func newInput(st styles, prompt string) textinput.Model {
	in := textinput.New()
	in.Prompt = prompt
	in.PromptStyle = st.title
	in.TextStyle = st.tab
	in.PlaceholderStyle = st.faint
	in.Cursor.Style = st.selected
	in.Cursor.TextStyle = st.tab
	in.Cursor.SetMode(cursor.CursorStatic)
	in.CharLimit = 64
	return in
}

// Init starts the first load and the refresh timer.
func (m Model) Init() tea.Cmd { return m.initCmd }

func (m Model) tick() tea.Cmd {
	return tea.Tick(m.opts.Refresh, func(time.Time) tea.Msg { return tickMsg{} })
}

func (m Model) query() Query {
	return Query{TenantID: m.opts.TenantID, Now: m.opts.Now(), SilentAfter: m.opts.SilentAfter}
}

// loadKey is what a load of kind is for at the moment, beyond the query.
func (m Model) loadKey(kind loadKind) string {
	switch kind {
	case loadSpaces:
		if m.sites.spacesOpen {
			return m.sites.spaces.site.ID.String()
		}
	case loadCandidates:
		if m.orphans.pickerOpen {
			o := m.orphans.picker.orphan
			return o.TenantID.String() + "/" + o.DevEUI
		}
	}
	return ""
}

// load starts a load of kind: it takes the next sequence number and
// returns the command that runs it. The command captures plain values,
// never the model.
func (m *Model) load(kind loadKind) tea.Cmd {
	m.seq++
	seq := m.seq
	m.inflight[kind] = seq
	q, key, store := m.query(), m.loadKey(kind), m.opts.Store
	var fetch func(ctx context.Context) (any, error)
	switch kind {
	case loadOverview:
		fetch = func(ctx context.Context) (any, error) { return store.Overview(ctx, q) }
	case loadSites:
		fetch = func(ctx context.Context) (any, error) { return store.Sites(ctx, q) }
	case loadSpaces:
		site := m.sites.spaces.site
		fetch = func(ctx context.Context) (any, error) { return store.Spaces(ctx, q, site.TenantID, site.ID) }
	case loadOrphans:
		fetch = func(ctx context.Context) (any, error) { return store.Orphans(ctx, q) }
	case loadReservations:
		fetch = func(ctx context.Context) (any, error) { return store.Reservations(ctx, q) }
	case loadCredentials:
		fetch = func(ctx context.Context) (any, error) { return store.Credentials(ctx, q) }
	case loadCandidates:
		tenant := m.orphans.picker.orphan.TenantID
		fetch = func(ctx context.Context) (any, error) { return store.AssignCandidates(ctx, tenant) }
	}
	base, timeout := m.opts.Context, m.opts.LoadTimeout
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(base, timeout)
		defer cancel()
		data, err := fetch(ctx)
		return loadedMsg{kind: kind, seq: seq, key: key, at: q.Now, data: data, err: err}
	}
}

// visibleLoad is the load that refreshes what is on screen.
func (m Model) visibleLoad() loadKind {
	switch m.active {
	case viewSites:
		if m.sites.spacesOpen {
			return loadSpaces
		}
		return loadSites
	case viewOrphans:
		return loadOrphans
	case viewReservations:
		return loadReservations
	case viewKeys:
		return loadCredentials
	}
	return loadOverview
}

// refresh loads what is on screen again, unless a load of it is still
// running (a slow database must not pile loads up) and force is false.
func (m *Model) refresh(force bool) tea.Cmd {
	kind := m.visibleLoad()
	if m.inflight[kind] != 0 && !force {
		return nil
	}
	return m.load(kind)
}

// unavailable tells an outage (the database cannot be reached, or does not
// answer in time) from other errors.
func unavailable(err error) bool {
	return errors.Is(err, tenancy.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded)
}

// Update handles one message. It never touches the database: loads and
// actions are returned as commands.
func (m Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
		m.help.Width = msg.Width
		m.scrollAll()
		return m, nil
	case tickMsg:
		return m, tea.Batch(m.refresh(false), m.tick())
	case loadedMsg:
		return m.loaded(msg)
	case actionMsg:
		m.busy = ""
		if msg.err != nil {
			m.notice, m.noticeBad = m.opts.ErrorText(msg.err), true
			if unavailable(msg.err) {
				m.goOffline(msg.err)
			}
		} else {
			m.notice, m.noticeBad = msg.done, false
		}
		return m, m.load(loadOrphans)
	case tea.KeyMsg:
		return m.key(msg)
	}
	return m, nil
}

func (m *Model) goOffline(err error) {
	if !m.offline {
		m.offline, m.offlineSince = true, m.opts.Now()
	}
	m.offlineText = m.opts.ErrorText(err)
}

// loaded takes the answer of a load, unless a newer one was taken already
// or it is for something no longer shown.
func (m Model) loaded(msg loadedMsg) (tea.Model, tea.Cmd) {
	if m.inflight[msg.kind] == msg.seq {
		m.inflight[msg.kind] = 0
	}
	if msg.seq <= m.shown[msg.kind] || msg.key != m.loadKey(msg.kind) {
		return m, nil
	}
	m.shown[msg.kind] = msg.seq
	if msg.err != nil {
		if m.opts.Context.Err() != nil {
			return m, nil // quitting
		}
		if unavailable(msg.err) {
			m.goOffline(msg.err)
		} else {
			m.errText = m.opts.ErrorText(msg.err)
		}
		return m, nil
	}
	m.offline, m.errText = false, ""
	switch msg.kind {
	case loadOverview:
		m.overview.set(msg.data.(*Overview), msg.at)
	case loadSites:
		m.sites.set(msg.data.([]Site), msg.at)
	case loadSpaces:
		m.sites.spaces.set(msg.data.([]Space), msg.at)
	case loadOrphans:
		m.orphans.set(msg.data.([]Orphan), msg.at)
	case loadReservations:
		m.reservations.set(msg.data.([]Reservation), msg.at)
	case loadCredentials:
		m.creds.set(msg.data.([]Credential), msg.at)
	case loadCandidates:
		m.orphans.picker.set(msg.data.([]Space))
	}
	m.scrollAll()
	return m, nil
}

// key handles a key press: a dialog or input that is open takes it first,
// then the keys of every view, then those of the view shown.
func (m Model) key(msg tea.KeyMsg) (tea.Model, tea.Cmd) {
	if msg.String() == "ctrl+c" {
		return m, tea.Quit
	}
	if msg.Type == tea.KeyRunes && len(msg.Runes) > 1 && !msg.Paste {
		// Keys typed faster than the terminal is read arrive as one
		// message ("/beta"): each is a key of its own.
		var cmds []tea.Cmd
		for _, r := range msg.Runes {
			next, cmd := m.key(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune{r}, Alt: msg.Alt})
			m = next.(Model)
			cmds = append(cmds, cmd)
		}
		return m, tea.Batch(cmds...)
	}
	if m.active == viewOrphans && (m.orphans.confirmOpen || m.orphans.pickerOpen) {
		return m.orphansKey(msg)
	}
	if m.filtering {
		return m.filterKey(msg)
	}
	k := m.keys
	switch {
	case key.Matches(msg, k.Quit):
		return m, tea.Quit
	case key.Matches(msg, k.Help):
		m.showHelp = !m.showHelp
		return m, nil
	case m.showHelp && key.Matches(msg, k.Back):
		m.showHelp = false
		return m, nil
	case key.Matches(msg, k.Next):
		return m.switchTo((m.active + 1) % viewCount)
	case key.Matches(msg, k.Prev):
		return m.switchTo((m.active + viewCount - 1) % viewCount)
	case key.Matches(msg, k.Jump):
		return m.switchTo(viewID(msg.Runes[0] - '1'))
	case key.Matches(msg, k.Refresh):
		return m, m.refresh(true)
	case key.Matches(msg, k.Filter):
		m.showHelp = false
		m.filtering = true
		m.filter.SetValue(m.focused().filter)
		m.filter.CursorEnd()
		return m, m.filter.Focus()
	}
	if m.showHelp {
		return m, nil
	}
	if rs := m.focused(); rs != nil {
		page := m.page()
		switch {
		case key.Matches(msg, k.Up):
			rs.table.move(-1, page)
			return m, nil
		case key.Matches(msg, k.Down):
			rs.table.move(1, page)
			return m, nil
		case key.Matches(msg, k.PageUp):
			rs.table.move(-page, page)
			return m, nil
		case key.Matches(msg, k.PageDown):
			rs.table.move(page, page)
			return m, nil
		case key.Matches(msg, k.Home):
			rs.table.move(-len(rs.table.match), page)
			return m, nil
		case key.Matches(msg, k.End):
			rs.table.move(len(rs.table.match), page)
			return m, nil
		case key.Matches(msg, k.Back) && rs.filter != "":
			rs.setFilter("")
			m.scrollAll()
			return m, nil
		}
	}
	switch m.active {
	case viewOverview:
		if key.Matches(msg, k.Enter) {
			// Into the sites of the selected tenant.
			if t, ok := m.overview.selectedTenant(); ok {
				m.sites.setScope(t.ID, t.Slug)
				return m.switchTo(viewSites)
			}
		}
	case viewSites:
		return m.sitesKey(msg)
	case viewOrphans:
		return m.orphansKey(msg)
	}
	return m, nil
}

// switchTo shows view v and loads it.
func (m Model) switchTo(v viewID) (tea.Model, tea.Cmd) {
	if v < 0 || v >= viewCount {
		return m, nil
	}
	m.active, m.showHelp = v, false
	if m.busy == "" {
		m.notice = "" // the outcome of an action belongs to the view it was taken in
	}
	return m, m.refresh(false)
}

func (m Model) filterKey(msg tea.KeyMsg) (tea.Model, tea.Cmd) {
	rs := m.focused()
	switch msg.Type {
	case tea.KeyEsc:
		m.filtering = false
		m.filter.Blur()
		if rs != nil {
			rs.setFilter("")
		}
		m.scrollAll()
		return m, nil
	case tea.KeyEnter:
		m.filtering = false
		m.filter.Blur()
		return m, nil
	}
	var cmd tea.Cmd
	m.filter, cmd = m.filter.Update(msg)
	if rs != nil {
		rs.setFilter(m.filter.Value())
	}
	m.scrollAll()
	return m, cmd
}

func (m Model) sitesKey(msg tea.KeyMsg) (tea.Model, tea.Cmd) {
	k := m.keys
	switch {
	case m.sites.spacesOpen && key.Matches(msg, k.Back):
		m.sites.spacesOpen = false
		return m, m.refresh(false)
	case !m.sites.spacesOpen && key.Matches(msg, k.Back) && m.sites.scope != uuid.Nil:
		m.sites.setScope(uuid.Nil, "")
		m.scrollAll()
		return m, nil
	case !m.sites.spacesOpen && key.Matches(msg, k.Enter):
		site, ok := m.sites.selected()
		if !ok {
			return m, nil
		}
		m.sites.open(site)
		return m, m.load(loadSpaces)
	}
	return m, nil
}

func (m Model) orphansKey(msg tea.KeyMsg) (tea.Model, tea.Cmd) {
	k := m.keys
	o := &m.orphans
	switch {
	case o.confirmOpen:
		switch {
		case key.Matches(msg, k.Yes):
			o.confirmOpen, o.pickerOpen = false, false
			return m, m.act(o.confirm)
		case key.Matches(msg, k.No), key.Matches(msg, k.Quit):
			o.confirmOpen = false
		}
		return m, nil
	case o.pickerOpen:
		p := &o.picker
		page := max(1, m.pickerPage())
		switch msg.Type {
		case tea.KeyEsc:
			o.pickerOpen = false
			return m, nil
		case tea.KeyUp:
			p.rs.table.move(-1, page)
			return m, nil
		case tea.KeyDown:
			p.rs.table.move(1, page)
			return m, nil
		case tea.KeyPgUp:
			p.rs.table.move(-page, page)
			return m, nil
		case tea.KeyPgDown:
			p.rs.table.move(page, page)
			return m, nil
		case tea.KeyEnter:
			if i, ok := p.rs.table.selected(); ok {
				o.confirm = confirmation{op: opAssign, orphan: p.orphan, space: p.spaces[i]}
				o.confirmOpen = true
			}
			return m, nil
		}
		var cmd tea.Cmd
		p.input, cmd = p.input.Update(msg)
		p.rs.setFilter(p.input.Value())
		p.rs.table.scroll(page)
		return m, cmd
	}
	if m.busy != "" {
		return m, nil // one action at a time
	}
	orphan, ok := o.selected()
	if !ok {
		return m, nil
	}
	switch {
	case key.Matches(msg, k.Assign), key.Matches(msg, k.Enter):
		in := newInput(m.st, "filter: ")
		in.Placeholder = "type to find a space without a sensor by site, code or name"
		o.openPicker(orphan, in)
		return m, tea.Batch(m.load(loadCandidates), o.picker.input.Focus())
	case key.Matches(msg, k.Ignore):
		o.confirm = confirmation{op: opIgnore, orphan: orphan}
		o.confirmOpen = true
	}
	return m, nil
}

// act runs a confirmed assign or ignore in a command.
func (m *Model) act(c confirmation) tea.Cmd {
	store, actor, base, timeout := m.opts.Store, m.opts.Actor, m.opts.Context, m.opts.LoadTimeout
	o := c.orphan
	var run func(ctx context.Context) error
	var doing, done string
	switch c.op {
	case opAssign:
		sp := c.space
		doing = fmt.Sprintf("assigning %s to %s/%s…", o.DevEUI, sp.Site, sp.Code)
		done = fmt.Sprintf("assigned %s (%s) to space %s/%s", o.DevEUI, o.Tenant, sp.Site, sp.Code)
		run = func(ctx context.Context) error { return store.AssignOrphan(ctx, o.TenantID, o.DevEUI, sp.ID, actor) }
	case opIgnore:
		doing = fmt.Sprintf("ignoring %s…", o.DevEUI)
		done = fmt.Sprintf("ignored %s (%s)", o.DevEUI, o.Tenant)
		run = func(ctx context.Context) error { return store.IgnoreOrphan(ctx, o.TenantID, o.DevEUI, actor) }
	}
	m.busy, m.notice = doing, ""
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(base, timeout)
		defer cancel()
		if err := run(ctx); err != nil {
			return actionMsg{err: err}
		}
		return actionMsg{done: done}
	}
}

// focused is the list the filter and the movement keys act on.
func (m *Model) focused() *rowsState {
	switch m.active {
	case viewOverview:
		return &m.overview.rs
	case viewSites:
		if m.sites.spacesOpen {
			return &m.sites.spaces.rs
		}
		return &m.sites.rs
	case viewOrphans:
		return &m.orphans.rs
	case viewReservations:
		return &m.reservations.rs
	case viewKeys:
		return &m.creds.rs
	}
	return nil
}

// bodyHeight is the height between the tab bar and the status line.
func (m Model) bodyHeight() int { return m.height - 2 }

// filterLine reports whether the body ends with the filter line.
func (m Model) filterLine() bool {
	rs := m.focused()
	return m.filtering || rs != nil && rs.filter != ""
}

// tableHeight is the height of the focused table, header included.
func (m Model) tableHeight() int {
	h := m.bodyHeight()
	if m.filterLine() {
		h--
	}
	if m.active == viewOverview {
		return h - m.overview.headLines(h)
	}
	return h - 1 // the view's title line
}

// page is how many rows of the focused table are on screen.
func (m Model) page() int { return max(1, m.tableHeight()-1) }

// pickerPage is how many spaces the assign picker shows.
func (m Model) pickerPage() int { return m.bodyHeight() - 3 }

// scrollAll keeps every list's selection on screen after a resize, a load
// or a filter change.
func (m *Model) scrollAll() {
	if rs := m.focused(); rs != nil {
		rs.table.scroll(m.page())
	}
	if m.orphans.pickerOpen {
		m.orphans.picker.rs.table.scroll(max(1, m.pickerPage()))
	}
}

// View draws the dashboard: the tab bar, the view (or the help) and the
// status line, exactly the terminal's size.
func (m Model) View() string {
	if m.width <= 0 || m.height <= 0 {
		return ""
	}
	if m.width < minWidth || m.height < minHeight {
		return clip(fmt.Sprintf("Terminal too small: the dashboard needs %d×%d, this one is %d×%d. q quits.",
			minWidth, minHeight, m.width, m.height), m.width)
	}
	lines := make([]string, 0, m.height)
	lines = append(lines, m.tabBar())
	bodyH := m.bodyHeight()
	var body []string
	switch {
	case m.showHelp:
		body = m.helpView(bodyH)
	default:
		body = m.body(bodyH)
	}
	for i := range bodyH {
		if i < len(body) {
			lines = append(lines, clip(body[i], m.width))
		} else {
			lines = append(lines, "")
		}
	}
	lines = append(lines, m.statusLine())
	return strings.Join(lines, "\n")
}

func (m Model) body(h int) []string {
	w := m.width
	filter := m.filterLine()
	if filter {
		h--
	}
	var out []string
	switch m.active {
	case viewOverview:
		out = m.overview.render(&m, w, h)
	case viewSites:
		out = m.sites.render(&m, w, h)
	case viewOrphans:
		if m.orphans.confirmOpen {
			return m.orphans.renderConfirm(&m, w, m.bodyHeight())
		}
		if m.orphans.pickerOpen {
			return m.orphans.renderPicker(&m, w, m.bodyHeight())
		}
		out = m.orphans.render(&m, w, h)
	case viewReservations:
		out = m.reservations.render(&m, w, h)
	case viewKeys:
		out = m.creds.render(&m, w, h)
	}
	if filter {
		for len(out) < h {
			out = append(out, "")
		}
		out = append(out[:h], m.filterView())
	}
	return out
}

func (m Model) filterView() string {
	if m.filtering {
		return m.filter.View()
	}
	rs := m.focused()
	return m.st.faint.Render("filter: ") + rs.filter + m.st.faint.Render("  (/ change · esc clear)")
}

func (m Model) tabBar() string {
	var b strings.Builder
	b.WriteString(m.st.title.Render("Park"))
	for v := range viewCount {
		b.WriteString(" ")
		label := fmt.Sprintf("%d %s", v+1, viewNames[v])
		if v == m.active {
			b.WriteString(m.st.tabActive.Render("[" + label + "]"))
		} else {
			b.WriteString(m.st.tab.Render(" " + label + " "))
		}
	}
	scope := "all tenants"
	if m.opts.TenantID != uuid.Nil {
		scope = "tenant " + m.opts.TenantSlug
	}
	return spread(b.String(), m.st.faint.Render(scope), m.width)
}

// statusLine says, most urgent first: an outage, a load error, an action
// running or done, or when the view was loaded; the help key on the right.
func (m Model) statusLine() string {
	var left string
	switch {
	case m.offline:
		left = m.st.warn.Render(fmt.Sprintf("database unreachable since %s: reconnecting (every %s)",
			m.clock(m.offlineSince), shortDuration(m.opts.Refresh))) + m.st.faint.Render(" · "+m.offlineText)
	case m.errText != "":
		left = m.st.bad.Render("error: " + m.errText)
	case m.busy != "":
		left = m.busy
	case m.notice != "" && m.noticeBad:
		left = m.st.bad.Render("error: " + m.notice)
	case m.notice != "":
		left = m.st.good.Render(m.notice)
	default:
		if at := m.shownAt(); !at.IsZero() {
			left = m.st.faint.Render(fmt.Sprintf("updated %s · every %s", m.clock(at), shortDuration(m.opts.Refresh)))
		} else {
			left = m.st.faint.Render("loading…")
		}
	}
	right := m.help.ShortHelpView([]key.Binding{m.keys.Help, m.keys.Quit})
	return spread(left, right, m.width)
}

// shownAt is when the data on screen was loaded.
func (m Model) shownAt() time.Time {
	switch m.visibleLoad() {
	case loadOverview:
		return m.overview.at
	case loadSites:
		return m.sites.at
	case loadSpaces:
		return m.sites.spaces.at
	case loadOrphans:
		return m.orphans.at
	case loadReservations:
		return m.reservations.at
	case loadCredentials:
		return m.creds.at
	}
	return time.Time{}
}

func (m Model) clock(t time.Time) string { return t.In(m.opts.Location).Format("15:04:05") }

// shortDuration prints a refresh interval without zero units: 5s, 1m30s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func (m Model) helpView(h int) []string {
	lines := []string{m.st.title.Render("Keys"), ""}
	lines = append(lines, strings.Split(m.help.FullHelpView(m.keys.fullHelp()), "\n")...)
	lines = append(lines, "",
		m.st.title.Render("Views"),
		"1 Overview      figures per tenant; enter: the tenant's sites",
		"2 Sites         occupancy per site; enter: its spaces, silent sensors marked",
		"3 Orphans       devices of no space; a: assign to a space, i: ignore",
		"4 Reservations  confirmed, not yet ended; ! marks a conflict",
		"5 Keys          API keys and webhook secrets; ! marks expiry within 14 days",
		"",
		m.st.faint.Render("> marks the selected row. / filters the list shown (every word must match)."),
		m.st.faint.Render("esc or ? closes this help."),
	)
	if len(lines) > h {
		lines = lines[:h]
	}
	return lines
}
