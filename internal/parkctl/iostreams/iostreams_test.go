package iostreams_test

import (
	"testing"

	"github.com/parkhq/park/internal/parkctl/iostreams"
)

func TestTestStreams(t *testing.T) {
	t.Parallel()
	ios, _, _, _ := iostreams.Test()
	if ios.IsStdinTTY() || ios.IsStdoutTTY() || ios.IsStderrTTY() || ios.ColorEnabled() || ios.CanPrompt() {
		t.Fatal("test streams must start as a script: no terminal, no colour")
	}
	ios.SetStdinTTY(true)
	if !ios.CanPrompt() {
		t.Error("CanPrompt false with a terminal on stdin")
	}
}

func TestColorScheme(t *testing.T) {
	t.Parallel()
	ios, _, _, _ := iostreams.Test()
	if got := ios.ColorScheme().Bold("x"); got != "x" {
		t.Errorf("colour off: Bold = %q", got)
	}
	ios.SetColorEnabled(true)
	cs := ios.ColorScheme()
	for name, got := range map[string]string{
		"bold": cs.Bold("x"), "green": cs.Green("x"), "yellow": cs.Yellow("x"), "red": cs.Red("x"),
	} {
		if len(got) <= 1 || got[0] != '\x1b' || got[len(got)-4:] != "\x1b[0m" {
			t.Errorf("%s = %q, want ANSI-wrapped", name, got)
		}
	}
	if got := cs.Bold(""); got != "" {
		t.Errorf("Bold(\"\") = %q, want empty", got)
	}
}
