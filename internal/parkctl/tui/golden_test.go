package tui

import (
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/exp/golden"
	"github.com/muesli/termenv"
)

// screens returns every screen of the dashboard on the fixture at w×h:
// the five views, the spaces of a site, the assign picker and its
// confirmation, the help, a filter, and the overview and lists of one
// tenant.
func screens(t *testing.T, opts Options, w, h int) []struct {
	name string
	m    Model
} {
	t.Helper()
	d := fixture()
	opts.Store = &spyStore{d: d}
	m := loadedWith(t, newModelWith(t, opts, w, h), d)
	type screen = struct {
		name string
		m    Model
	}
	var out []screen
	for v := range viewCount {
		m.active = v
		out = append(out, screen{strings.ToLower(viewNames[v]), m})
	}
	m.active = viewSites
	sp := answer(t, press(t, m, "enter"), loadSpaces, d.spaces)
	out = append(out, screen{"spaces", sp})
	m.active = viewOrphans
	pk := answer(t, press(t, m, "a"), loadCandidates, d.candidates)
	out = append(out,
		screen{"picker", pk},
		screen{"confirm", press(t, pk, "enter")},
		screen{"ignore", press(t, m, "down", "i")},
		screen{"help", press(t, m, "?")},
		screen{"filter", press(t, m, "/", "a", "c", "m", "e")})
	one := opts
	one.TenantID, one.TenantSlug = acme.ID, "acme"
	one.Store = &spyStore{d: d}
	o := newModelWith(t, one, w, h)
	o = answer(t, o, loadOverview, &Overview{Tenants: d.overview.Tenants[:1]})
	out = append(out, screen{"one_tenant", o})
	// The lists of one tenant have no tenant column.
	ol := loadedWith(t, newModelWith(t, one, w, h), d)
	for _, v := range []viewID{viewSites, viewOrphans, viewReservations, viewKeys} {
		ol.active = v
		out = append(out, screen{"one_tenant_" + strings.ToLower(viewNames[v]), ol})
	}
	return out
}

// TestGolden compares every screen at 80×24 and 120×40 with
// testdata/TestGolden/*.golden (go test -run TestGolden -update rewrites
// them). The clock is fixed and there is no colour, so the output is
// the same on every machine.
func TestGolden(t *testing.T) {
	for _, size := range [][2]int{{80, 24}, {120, 40}} {
		for _, s := range screens(t, Options{}, size[0], size[1]) {
			t.Run(fmt.Sprintf("%s_%dx%d", s.name, size[0], size[1]), func(t *testing.T) {
				golden.RequireEqual(t, []byte(s.m.View()+"\n"))
			})
		}
	}
}

// TestNoColor: the plain renderer (NO_COLOR) draws no escape sequence at
// all; a colour renderer colours the same screens.
func TestNoColor(t *testing.T) {
	t.Parallel()
	colour := lipgloss.NewRenderer(io.Discard)
	colour.SetColorProfile(termenv.ANSI256)
	for _, s := range screens(t, Options{Renderer: PlainRenderer()}, 120, 40) {
		if strings.Contains(s.m.View(), "\x1b[") {
			t.Errorf("%s: escape sequences without colour", s.name)
		}
	}
	coloured := 0
	for _, s := range screens(t, Options{Renderer: colour}, 120, 40) {
		if strings.Contains(s.m.View(), "\x1b[") {
			coloured++
		}
	}
	if coloured == 0 {
		t.Error("a colour renderer drew no colour")
	}
}
