package dashboard

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/parkhq/park/ingest"
	"github.com/parkhq/park/internal/parkctl/tui"
)

// Targets of the dashboard (see BENCHMARKS.md).
const (
	targetLoad = 200 * time.Millisecond
	targetView = 20 * time.Millisecond
)

// timings collects durations by name and reports each one's median and
// greatest as benchmark metrics (ms).
type timings struct {
	names []string
	by    map[string][]time.Duration
}

func (t *timings) add(name string, d time.Duration) {
	if t.by == nil {
		t.by = map[string][]time.Duration{}
	}
	if _, ok := t.by[name]; !ok {
		t.names = append(t.names, name)
	}
	t.by[name] = append(t.by[name], d)
}

// stats returns the median, the 90th percentile and the greatest of name.
func (t *timings) stats(name string) (med, p90, most time.Duration) {
	ds := slices.Clone(t.by[name])
	slices.Sort(ds)
	return ds[len(ds)/2], ds[len(ds)*9/10], ds[len(ds)-1]
}

// report adds each name's median, 90th percentile and greatest (ms) to
// the benchmark's metrics and logs them, a line per group of names (the
// sizes of one screen), with the verdict on the median.
func (t *timings) report(b *testing.B, target time.Duration, group func(name string) string) {
	ms := func(d time.Duration) float64 { return float64(d) / 1e6 }
	var order []string
	lines := map[string]string{}
	for _, name := range t.names {
		med, p90, most := t.stats(name)
		b.ReportMetric(ms(med), name+"-ms")
		b.ReportMetric(ms(p90), name+"-p90-ms")
		b.ReportMetric(ms(most), name+"-max-ms")
		verdict := "met"
		if med > target {
			verdict = "NOT MET"
		}
		g := group(name)
		if _, ok := lines[g]; !ok {
			order = append(order, g)
		}
		lines[g] += fmt.Sprintf("  %s median %.3f p90 %.3f max %.3f ms (%s)", strings.TrimPrefix(name, g), ms(med), ms(p90), ms(most), verdict)
	}
	for _, g := range order {
		b.Logf("%-18s%s", g, lines[g])
	}
	b.Logf("target %s on the median; %d runs each", target, len(t.by[t.names[0]]))
}

// BenchmarkDashboard measures, on 3 tenants, 20 sites and 2,000 spaces
// with an hour of readings (seedScale), each view's load through the
// store (Load) and each screen's View() at 80×24 and 200×50 (View). Every
// iteration takes every load, or draws every screen, in turn, so the
// figures share the machine's good and bad moments; each is reported as a
// median and a greatest in milliseconds.
func BenchmarkDashboard(b *testing.B) {
	now := time.Now().UTC()
	w := seedScale(b, now)
	store := storeOn(w.opsPool(b, false), ingest.StoreOptions{})
	ctx := context.Background()
	q := tui.Query{Now: now, SilentAfter: time.Hour}
	acme := w.tenants["acme"]
	site := w.sites["acme/Site 01"]

	loads := []struct {
		name string
		fn   func() (int, error)
	}{
		{"overview", func() (int, error) { o, err := store.Overview(ctx, q); return rows(o, err) }},
		{"sites", func() (int, error) { s, err := store.Sites(ctx, q); return len(s), err }},
		{"spaces", func() (int, error) { s, err := store.Spaces(ctx, q, acme, site); return len(s), err }},
		{"orphans", func() (int, error) { s, err := store.Orphans(ctx, q); return len(s), err }},
		{"reservations", func() (int, error) { s, err := store.Reservations(ctx, q); return len(s), err }},
		{"keys", func() (int, error) { s, err := store.Credentials(ctx, q); return len(s), err }},
		{"assign-candidates", func() (int, error) { s, err := store.AssignCandidates(ctx, acme); return len(s), err }},
	}
	b.Run("Load", func(b *testing.B) {
		var t timings
		for b.Loop() {
			for _, l := range loads {
				start := time.Now()
				n, err := l.fn()
				t.add(l.name, time.Since(start))
				if err != nil || n == 0 {
					b.Fatalf("%s: %d rows, %v", l.name, n, err)
				}
			}
		}
		t.report(b, targetLoad, func(name string) string { return name })
	})

	b.Run("View", func(b *testing.B) {
		screens := loadedScreens(b, store, now)
		var t timings
		for b.Loop() {
			for _, size := range [][2]int{{80, 24}, {200, 50}} {
				for _, s := range screens {
					m, _ := s.m.Update(tea.WindowSizeMsg{Width: size[0], Height: size[1]})
					start := time.Now()
					v := m.View()
					t.add(fmt.Sprintf("%s-%dx%d", s.name, size[0], size[1]), time.Since(start))
					if len(v) == 0 {
						b.Fatalf("%s: empty", s.name)
					}
				}
			}
		}
		t.report(b, targetView, func(name string) string { return name[:strings.LastIndex(name, "-")] })
	})
}

func rows(o *tui.Overview, err error) (int, error) {
	if o == nil {
		return 0, err
	}
	return len(o.Tenants), err
}

type namedScreen struct {
	name string
	m    tea.Model
}

// loadedScreens drives a dashboard on store through every screen, the way
// the program would (keys in, commands run, their messages back), and
// returns a model showing each.
func loadedScreens(b *testing.B, store tui.Store, now time.Time) []namedScreen {
	b.Helper()
	var m tea.Model = tui.New(tui.Options{Store: store, Now: func() time.Time { return now }, Refresh: time.Hour})
	step := func(msg tea.Msg) {
		var cmd tea.Cmd
		m, cmd = m.Update(msg)
		for _, msg := range drain(cmd) {
			m, _ = m.Update(msg)
		}
	}
	key := func(k string) tea.Msg {
		if k == "enter" {
			return tea.KeyMsg{Type: tea.KeyEnter}
		}
		return tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(k)}
	}
	step(tea.WindowSizeMsg{Width: 200, Height: 50})
	// Init's commands are not run (its timer would wait): r loads the view
	// on screen instead.
	var out []namedScreen
	for _, s := range []struct{ name, keys string }{
		{"overview", "1r"}, {"sites", "2r"}, {"spaces", "2\n"}, {"orphans", "3r"},
		{"assign-picker", "3a"}, {"reservations", "4r"}, {"keys", "5r"},
	} {
		for _, k := range s.keys {
			if k == '\n' {
				step(key("enter"))
			} else {
				step(key(string(k)))
			}
		}
		out = append(out, namedScreen{s.name, m})
		if s.name == "assign-picker" {
			step(tea.KeyMsg{Type: tea.KeyEsc})
		}
		if s.name == "spaces" {
			step(tea.KeyMsg{Type: tea.KeyEsc})
		}
	}
	return out
}

// drain runs cmd (and a batch's commands) and returns their messages.
func drain(cmd tea.Cmd) []tea.Msg {
	if cmd == nil {
		return nil
	}
	done := make(chan tea.Msg, 1)
	go func() { done <- cmd() }()
	select {
	case msg := <-done:
		if batch, ok := msg.(tea.BatchMsg); ok {
			var out []tea.Msg
			for _, c := range batch {
				out = append(out, drain(c)...)
			}
			return out
		}
		if msg == nil {
			return nil
		}
		return []tea.Msg{msg}
	case <-time.After(30 * time.Second):
		return nil
	}
}
