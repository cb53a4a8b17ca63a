package tui

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/google/uuid"
)

// now is the fixed clock of every test.
var now = time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)

func at(d time.Duration) *time.Time {
	t := now.Add(d)
	return &t
}

func id(n int) uuid.UUID { return uuid.MustParse(fmt.Sprintf("00000000-0000-0000-0000-%012d", n)) }

var (
	acme  = TenantStats{ID: id(1), Slug: "acme", Name: "Acme Parking", Status: "active"}
	beta  = TenantStats{ID: id(2), Slug: "beta", Name: "Beta Garages", Status: "active"}
	gamma = TenantStats{ID: id(3), Slug: "gamma", Name: "Gamma", Status: "suspended"}
)

// data is a small, fixed data set: three tenants, their sites, the spaces
// of one site, orphans, reservations and credentials.
type data struct {
	overview     *Overview
	sites        []Site
	spaces       []Space
	orphans      []Orphan
	reservations []Reservation
	creds        []Credential
	candidates   []Space
}

func fixture() data {
	a, b, g := acme, beta, gamma
	a.Sites, a.Spaces, a.Free, a.Occupied, a.Unknown = 2, 120, 70, 45, 5
	b.Sites, b.Spaces, b.Free, b.Occupied, b.Unknown = 1, 40, 10, 28, 2
	g.Sites, g.Spaces, g.Unknown = 1, 8, 8
	for i := range SparkMinutes {
		a.PerMinute[i] = int64(20 + (i*7)%13)
		if i%3 == 0 {
			b.PerMinute[i] = int64(i / 6)
		}
	}
	a.OpenOrphans, b.OpenOrphans = 2, 1
	b.Conflicts = 2
	a.KeysExpiring, a.SecretsExpiring = 1, 1
	d := data{overview: &Overview{Tenants: []TenantStats{a, b, g}}}
	d.sites = []Site{
		{TenantID: a.ID, Tenant: "acme", ID: id(11), Name: "North garage", Timezone: "Europe/Berlin",
			Spaces: 80, Free: 40, Occupied: 37, Unknown: 3, Silent: 2, LastReading: at(-12 * time.Second)},
		{TenantID: a.ID, Tenant: "acme", ID: id(12), Name: "South lot", Timezone: "Europe/Berlin",
			Spaces: 40, Free: 30, Occupied: 8, Unknown: 2, LastReading: at(-3 * time.Minute)},
		{TenantID: b.ID, Tenant: "beta", ID: id(21), Name: "Harbour", Timezone: "Europe/Lisbon",
			Spaces: 40, Free: 10, Occupied: 28, Unknown: 2, LastReading: at(-40 * time.Second)},
		{TenantID: g.ID, Tenant: "gamma", ID: id(31), Name: "Old depot", Timezone: "UTC", Spaces: 8, Unknown: 8},
	}
	for i := range 30 {
		eui := fmt.Sprintf("70b3d57ed00010%02x", i)
		s := Space{ID: id(1100 + i), SiteID: id(11), Site: "North garage", Code: fmt.Sprintf("A-%03d", i+1),
			SensorEUI: eui, State: []string{"free", "occupied", "unknown"}[i%3],
			StateChangedAt: at(-time.Duration(i+1) * 7 * time.Minute), LastReadingAt: at(-time.Duration(i+1) * 30 * time.Second)}
		if i%10 == 4 {
			s.LastReadingAt, s.Silent = at(-3*time.Hour), true
		}
		if i == 29 {
			s.SensorEUI, s.LastReadingAt, s.StateChangedAt, s.State, s.Name = "", nil, nil, "unknown", "no sensor yet"
		}
		d.spaces = append(d.spaces, s)
	}
	rssi, snr := -97, 7.25
	d.orphans = []Orphan{
		{TenantID: a.ID, Tenant: "acme", DevEUI: "70b3d57ed0009001", Uplinks: 1234, FirstSeen: now.Add(-50 * time.Hour),
			LastSeen: now.Add(-20 * time.Second), RSSI: &rssi, SNR: &snr},
		{TenantID: b.ID, Tenant: "beta", DevEUI: "a84041000181c001", Uplinks: 3, FirstSeen: now.Add(-2 * time.Hour),
			LastSeen: now.Add(-25 * time.Minute)},
		{TenantID: a.ID, Tenant: "acme", DevEUI: "70b3d57ed0009002", Uplinks: 17, FirstSeen: now.Add(-9 * 24 * time.Hour),
			LastSeen: now.Add(-26 * time.Hour), RSSI: &rssi},
	}
	d.reservations = []Reservation{
		{TenantID: a.ID, Tenant: "acme", ID: id(501), SpaceID: id(1101), Site: "North garage", Space: "A-002",
			Starts: now.Add(-30 * time.Minute), Ends: now.Add(90 * time.Minute)},
		{TenantID: b.ID, Tenant: "beta", ID: id(502), SpaceID: id(2101), Site: "Harbour", Space: "H-7",
			Starts: now.Add(2 * time.Hour), Ends: now.Add(4 * time.Hour), Conflict: true},
		{TenantID: b.ID, Tenant: "beta", ID: id(503), SpaceID: id(2101), Site: "Harbour", Space: "H-7",
			Starts: now.Add(3 * time.Hour), Ends: now.Add(5 * time.Hour), Conflict: true},
		{TenantID: a.ID, Tenant: "acme", ID: id(504), SpaceID: id(1201), Site: "South lot", Space: "S-1",
			Starts: now.Add(20 * time.Hour), Ends: now.Add(50 * time.Hour)},
	}
	d.creds = []Credential{
		{TenantID: a.ID, Tenant: "acme", Kind: KindSecret, Name: "standard", Ident: "0195f1a2", CreatedAt: now.Add(-40 * 24 * time.Hour),
			ExpiresAt: at(-2 * time.Hour), LastUsedAt: at(-3 * time.Hour)},
		{TenantID: a.ID, Tenant: "acme", Kind: KindAPIKey, Name: "billing export", Ident: "k7Hq2mXa", CreatedAt: now.Add(-80 * 24 * time.Hour),
			ExpiresAt: at(10 * 24 * time.Hour), LastUsedAt: at(-5 * time.Minute)},
		{TenantID: b.ID, Tenant: "beta", Kind: KindAPIKey, Name: "gate", Ident: "Zp0aQ9rT", CreatedAt: now.Add(-3 * time.Hour),
			ExpiresAt: at(200 * 24 * time.Hour)},
		{TenantID: b.ID, Tenant: "beta", Kind: KindSecret, Name: "token", Ident: "0195f1b7", CreatedAt: now.Add(-15 * 24 * time.Hour)},
	}
	d.candidates = []Space{
		{ID: id(1201), SiteID: id(12), Site: "South lot", Code: "S-1", Name: "by the gate"},
		{ID: id(1202), SiteID: id(12), Site: "South lot", Code: "S-2"},
		{ID: id(1130), SiteID: id(11), Site: "North garage", Code: "A-030", Name: "no sensor yet"},
	}
	return d
}

// spyStore answers from a fixed data set and records every call, so that
// a test can tell whether Update itself called it (it must not) or a
// command did.
type spyStore struct {
	mu    sync.Mutex
	d     data
	calls []string
	err   error
}

func (s *spyStore) record(call string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, call)
	return s.err
}

func (s *spyStore) Calls() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.calls...)
}

func (s *spyStore) Overview(context.Context, Query) (*Overview, error) {
	return s.d.overview, s.record("Overview")
}
func (s *spyStore) Sites(context.Context, Query) ([]Site, error) { return s.d.sites, s.record("Sites") }
func (s *spyStore) Spaces(_ context.Context, _ Query, _, site uuid.UUID) ([]Space, error) {
	return s.d.spaces, s.record("Spaces " + site.String())
}
func (s *spyStore) Orphans(context.Context, Query) ([]Orphan, error) {
	return s.d.orphans, s.record("Orphans")
}
func (s *spyStore) Reservations(context.Context, Query) ([]Reservation, error) {
	return s.d.reservations, s.record("Reservations")
}
func (s *spyStore) Credentials(context.Context, Query) ([]Credential, error) {
	return s.d.creds, s.record("Credentials")
}
func (s *spyStore) AssignCandidates(_ context.Context, tenant uuid.UUID) ([]Space, error) {
	return s.d.candidates, s.record("AssignCandidates " + tenant.String())
}
func (s *spyStore) AssignOrphan(_ context.Context, tenant uuid.UUID, eui string, space uuid.UUID, actor string) error {
	return s.record(fmt.Sprintf("AssignOrphan %s %s %s %s", tenant, eui, space, actor))
}
func (s *spyStore) IgnoreOrphan(_ context.Context, tenant uuid.UUID, eui, actor string) error {
	return s.record(fmt.Sprintf("IgnoreOrphan %s %s %s", tenant, eui, actor))
}

// newModel returns a dashboard on a spy store with the fixed clock, sized
// w×h. Its refresh timer fires at once, so that running a command never
// waits for it.
func newModel(t *testing.T, s *spyStore, w, h int) Model {
	t.Helper()
	return newModelWith(t, Options{Store: s, Refresh: time.Nanosecond}, w, h)
}

// newModelWith fills in the fixed clock, UTC and the actor.
func newModelWith(t *testing.T, opts Options, w, h int) Model {
	t.Helper()
	opts.Now, opts.Location, opts.Actor = func() time.Time { return now }, time.UTC, "operator:test"
	return update(t, New(opts), tea.WindowSizeMsg{Width: w, Height: h})
}

// update sends msg and returns the model, dropping the command.
func update(t *testing.T, m Model, msg tea.Msg) Model {
	t.Helper()
	next, _ := m.Update(msg)
	return next.(Model)
}

// send sends msg and returns the model and the command.
func send(t *testing.T, m Model, msg tea.Msg) (Model, tea.Cmd) {
	t.Helper()
	next, cmd := m.Update(msg)
	return next.(Model), cmd
}

func keyMsg(s string) tea.KeyMsg {
	switch s {
	case "tab":
		return tea.KeyMsg{Type: tea.KeyTab}
	case "shift+tab":
		return tea.KeyMsg{Type: tea.KeyShiftTab}
	case "enter":
		return tea.KeyMsg{Type: tea.KeyEnter}
	case "esc":
		return tea.KeyMsg{Type: tea.KeyEsc}
	case "up":
		return tea.KeyMsg{Type: tea.KeyUp}
	case "down":
		return tea.KeyMsg{Type: tea.KeyDown}
	case "backspace":
		return tea.KeyMsg{Type: tea.KeyBackspace}
	case "ctrl+c":
		return tea.KeyMsg{Type: tea.KeyCtrlC}
	}
	return tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(s)}
}

// press sends each key in turn.
func press(t *testing.T, m Model, keys ...string) Model {
	t.Helper()
	for _, k := range keys {
		m = update(t, m, keyMsg(k))
	}
	return m
}

// answer delivers the answer to the load of kind that m has running, as
// its command would.
func answer(t *testing.T, m Model, kind loadKind, payload any) Model {
	t.Helper()
	seq := m.inflight[kind]
	if seq == 0 {
		t.Fatalf("no load of kind %d running", kind)
	}
	return update(t, m, loadedMsg{kind: kind, seq: seq, key: m.loadKey(kind), at: now, data: payload})
}

// loadedWith returns m with every view's data loaded from d.
func loadedWith(t *testing.T, m Model, d data) Model {
	t.Helper()
	m = answer(t, m, loadOverview, d.overview)
	for _, k := range []struct {
		kind loadKind
		data any
	}{{loadSites, d.sites}, {loadOrphans, d.orphans}, {loadReservations, d.reservations}, {loadCredentials, d.creds}} {
		m.load(k.kind)
		m = answer(t, m, k.kind, k.data)
	}
	return m
}
