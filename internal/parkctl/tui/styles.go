package tui

import (
	"io"

	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"
)

// styles are every style the dashboard draws with, made from one renderer.
// Colour is decoration only: every distinction (the selected row, a
// conflict, a silent sensor, the active view, an error) is also made in
// text, so the dashboard reads the same with NO_COLOR, where the renderer
// has the Ascii profile and every style renders plain text.
//
// The colours are the 16 ANSI ones, which follow the terminal's palette
// and light or dark background; nothing asks the terminal for its
// background (lipgloss's adaptive colours would).
type styles struct {
	title     lipgloss.Style
	tabActive lipgloss.Style
	tab       lipgloss.Style
	header    lipgloss.Style
	selected  lipgloss.Style
	faint     lipgloss.Style
	bad       lipgloss.Style
	warn      lipgloss.Style
	good      lipgloss.Style
	occupied  lipgloss.Style
	free      lipgloss.Style
	unknown   lipgloss.Style
	dialog    lipgloss.Style
}

func newStyles(r *lipgloss.Renderer) styles {
	s := r.NewStyle
	return styles{
		title:     s().Bold(true),
		tabActive: s().Bold(true).Reverse(true),
		tab:       s(),
		header:    s().Bold(true),
		selected:  s().Reverse(true),
		faint:     s().Faint(true),
		bad:       s().Foreground(lipgloss.Color("1")).Bold(true),
		warn:      s().Foreground(lipgloss.Color("3")),
		good:      s().Foreground(lipgloss.Color("2")),
		occupied:  s().Foreground(lipgloss.Color("1")),
		free:      s().Foreground(lipgloss.Color("2")),
		unknown:   s().Foreground(lipgloss.Color("8")),
		dialog:    s().Border(lipgloss.NormalBorder()).Padding(0, 1),
	}
}

// PlainRenderer returns a renderer without colour or any other styling,
// for NO_COLOR, terminals that cannot show colour, and tests.
func PlainRenderer() *lipgloss.Renderer {
	r := lipgloss.NewRenderer(io.Discard)
	r.SetColorProfile(termenv.Ascii)
	return r
}
