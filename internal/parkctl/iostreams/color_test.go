package iostreams

import "testing"

// TestColorWanted: colour only on a terminal, and never with NO_COLOR set
// to anything (https://no-color.org) or TERM=dumb.
func TestColorWanted(t *testing.T) {
	t.Parallel()
	tests := []struct {
		tty  bool
		env  map[string]string
		want bool
	}{
		{true, nil, true},
		{true, map[string]string{"TERM": "xterm-256color"}, true},
		{true, map[string]string{"NO_COLOR": ""}, true},
		{true, map[string]string{"NO_COLOR": "1"}, false},
		{true, map[string]string{"NO_COLOR": "0"}, false},
		{true, map[string]string{"TERM": "dumb"}, false},
		{false, nil, false},
		{false, map[string]string{"TERM": "xterm"}, false},
	}
	for _, tt := range tests {
		got := colorWanted(tt.tty, func(k string) string { return tt.env[k] })
		if got != tt.want {
			t.Errorf("colorWanted(tty=%v, %v) = %v, want %v", tt.tty, tt.env, got, tt.want)
		}
	}
}
