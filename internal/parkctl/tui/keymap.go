package tui

import "github.com/charmbracelet/bubbles/key"

// keyMap holds every key the dashboard answers to; the help ("?") is made
// from it, so the two cannot disagree.
type keyMap struct {
	Next, Prev, Jump, Refresh, Help, Quit key.Binding

	Up, Down, PageUp, PageDown, Home, End key.Binding
	Enter, Back, Filter                   key.Binding

	Assign, Ignore, Yes, No key.Binding
}

func newKeyMap() keyMap {
	b := func(help, desc string, keys ...string) key.Binding {
		return key.NewBinding(key.WithKeys(keys...), key.WithHelp(help, desc))
	}
	return keyMap{
		Next:    b("tab", "next view", "tab"),
		Prev:    b("shift+tab", "previous view", "shift+tab"),
		Jump:    b("1-5", "go to view", "1", "2", "3", "4", "5"),
		Refresh: b("r", "refresh now", "r"),
		Help:    b("?", "help", "?"),
		Quit:    b("q", "quit", "q", "ctrl+c"),

		Up:       b("↑/k", "up", "up", "k"),
		Down:     b("↓/j", "down", "down", "j"),
		PageUp:   b("pgup", "page up", "pgup", "ctrl+b"),
		PageDown: b("pgdn", "page down", "pgdown", "ctrl+f", " "),
		Home:     b("home/g", "first", "home", "g"),
		End:      b("end/G", "last", "end", "G"),
		Enter:    b("enter", "open", "enter"),
		Back:     b("esc", "back / clear filter", "esc", "backspace"),
		Filter:   b("/", "filter", "/"),

		Assign: b("a", "assign orphan", "a"),
		Ignore: b("i", "ignore orphan", "i"),
		Yes:    b("y", "confirm", "y", "Y"),
		No:     b("n/esc", "cancel", "n", "N", "esc"),
	}
}

// fullHelp is what "?" shows: one column per group.
func (k keyMap) fullHelp() [][]key.Binding {
	return [][]key.Binding{
		{k.Next, k.Prev, k.Jump, k.Refresh, k.Help, k.Quit},
		{k.Up, k.Down, k.PageUp, k.PageDown, k.Home, k.End},
		{k.Enter, k.Back, k.Filter, k.Assign, k.Ignore, k.Yes, k.No},
	}
}
