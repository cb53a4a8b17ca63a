package dashboard

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/exp/teatest"

	"github.com/parkhq/park/ingest"
	"github.com/parkhq/park/internal/parkctl/tui"
)

// term is a teatest program and everything it has drawn. Each input
// marks the output; wait looks for texts drawn after the last mark, so a
// text drawn before the input that should cause it does not count.
type term struct {
	t    *testing.T
	tm   *teatest.TestModel
	out  []byte
	mark int
}

func (s *term) drain() {
	b, _ := io.ReadAll(s.tm.Output())
	s.out = append(s.out, b...)
}

func (s *term) typ(text string) {
	s.drain()
	s.mark = len(s.out)
	s.tm.Type(text)
}

func (s *term) key(k tea.KeyType) {
	s.drain()
	s.mark = len(s.out)
	s.tm.Send(tea.KeyMsg{Type: k})
}

// do marks the output and runs fn (which should make the screen change).
func (s *term) do(fn func()) {
	s.drain()
	s.mark = len(s.out)
	fn()
}

// wait waits until every one of texts has been drawn since the mark.
func (s *term) wait(texts ...string) {
	s.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		s.drain()
		since := s.out[s.mark:]
		missing := ""
		for _, text := range texts {
			if !bytes.Contains(since, []byte(text)) {
				missing = text
				break
			}
		}
		if missing == "" {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("%q not drawn within 30s; drawn since the last input:\n%s", missing, since)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestFlowAgainstDatabase runs the dashboard against a real database:
// open the orphans, assign one to a space picked from the filtered list,
// see it leave the list and the space take its sensor and state; then
// lose the database and see the dashboard say "reconnecting" and recover
// by itself once it is back.
func TestFlowAgainstDatabase(t *testing.T) {
	t.Parallel()
	w := seedSmall(t, fixedNow)
	px := newProxy(t, w.db.OpsURL)
	clock := func() time.Time { return fixedNow }
	m := tui.New(tui.Options{
		Store:    storeOn(px.pool(t), ingest.StoreOptions{Now: clock}),
		Now:      clock,
		Location: time.UTC,
		Actor:    "operator:flow",
		Refresh:  200 * time.Millisecond,
		ErrorText: func(err error) string {
			return err.Error()
		},
	})
	tm := teatest.NewTestModel(t, m, teatest.WithInitialTermSize(120, 40))
	t.Cleanup(func() { tm.Quit() })
	s := &term{t: t, tm: tm}

	s.wait("Spaces    13 in 3 sites of 3 tenants", "acme", "beta", "gamma")

	s.typ("3")
	s.wait("Orphan devices waiting for triage · 2", "70b3d57ed0009001", "a84041000181c001")

	s.typ("a")
	s.wait("Assign 70b3d57ed0009001 (acme) to which space?", "A-010", "S-1")
	s.typ("a-010")
	s.wait("filter: a-010")
	s.key(tea.KeyEnter)
	s.wait("to space North / A-010?")
	s.typ("y")
	s.wait("assigned 70b3d57ed0009001 (acme) to space North/A-010", "Orphan devices waiting for triage · 1")

	// The space took the device and the state of its last reading.
	s.typ("2")
	s.wait("Sites · 3")
	s.key(tea.KeyEnter)
	s.wait("acme › North · 10 spaces")
	// The filter applies as it is typed, so the row is drawn then; Enter
	// redraws only the filter's line (the renderer skips unchanged lines).
	s.typ("/a-010")
	s.wait("70b3d57ed0009001")
	s.key(tea.KeyEnter)
	s.wait("filter: a-010")
	if got := scalar[string](t, w, `select sensor_eui || ' ' || state from spaces where id = $1`, w.spaces["acme/North/A-010"]); got != "70b3d57ed0009001 occupied" {
		t.Fatalf("space after assign: %s", got)
	}
	if n := scalar[int64](t, w, `select count(*) from audit_events where actor = 'operator:flow' and action = 'orphan.assign'`); n != 1 {
		t.Fatalf("%d assign audit events by operator:flow", n)
	}

	// Lose the database, then give it back.
	s.do(px.cut)
	s.wait("database unreachable since 12:00:00: reconnecting (every 200ms)")
	s.do(px.restore)
	s.wait("updated 12:00:00 · every 200ms")

	tm.Type("q")
	tm.WaitFinished(t, teatest.WithFinalTimeout(10*time.Second))
	final := tm.FinalModel(t).View()
	if !strings.Contains(final, "A-010") || !strings.Contains(final, "occupied") || strings.Contains(final, "reconnecting") {
		t.Fatalf("final screen:\n%s", final)
	}
}
