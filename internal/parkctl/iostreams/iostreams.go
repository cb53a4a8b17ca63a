// Package iostreams holds parkctl's standard streams and what it knows about
// them: whether each one is a terminal, and whether colour is wanted. Every
// command writes through an IOStreams, never to os.Stdout directly, so tests
// capture output in buffers and choose TTY or script behaviour explicitly.
package iostreams

import (
	"bytes"
	"io"
	"os"

	"golang.org/x/term"
)

// IOStreams are the input, output and error streams of one parkctl run.
type IOStreams struct {
	// In is standard input; prompts read from it.
	In io.Reader
	// Out receives data: tables, JSON, YAML.
	Out io.Writer
	// ErrOut receives messages: progress, warnings, prompts and errors.
	ErrOut io.Writer

	stdinTTY  bool
	stdoutTTY bool
	stderrTTY bool
	color     bool
}

// System returns the process's streams. Colour is on only when standard
// output is a terminal, NO_COLOR is unset or empty (https://no-color.org)
// and TERM is not "dumb".
func System() *IOStreams {
	s := &IOStreams{
		In:        os.Stdin,
		Out:       os.Stdout,
		ErrOut:    os.Stderr,
		stdinTTY:  isTerminal(os.Stdin),
		stdoutTTY: isTerminal(os.Stdout),
		stderrTTY: isTerminal(os.Stderr),
	}
	s.color = colorWanted(s.stdoutTTY, os.Getenv)
	return s
}

// colorWanted decides System's colour: only on a terminal, with NO_COLOR
// unset or empty and TERM not "dumb".
func colorWanted(stdoutTTY bool, getenv func(string) string) bool {
	return stdoutTTY && getenv("NO_COLOR") == "" && getenv("TERM") != "dumb"
}

// Test returns streams backed by buffers: nothing is a terminal and colour
// is off until the Set methods say otherwise.
func Test() (s *IOStreams, in, out, errOut *bytes.Buffer) {
	in, out, errOut = &bytes.Buffer{}, &bytes.Buffer{}, &bytes.Buffer{}
	return &IOStreams{In: in, Out: out, ErrOut: errOut}, in, out, errOut
}

func isTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }

// IsStdinTTY reports whether standard input is a terminal.
func (s *IOStreams) IsStdinTTY() bool { return s.stdinTTY }

// IsStdoutTTY reports whether standard output is a terminal. When it is not,
// output is meant for scripts: no header decoration, no colour, no padding.
func (s *IOStreams) IsStdoutTTY() bool { return s.stdoutTTY }

// IsStderrTTY reports whether standard error is a terminal.
func (s *IOStreams) IsStderrTTY() bool { return s.stderrTTY }

// SetStdinTTY overrides terminal detection for standard input (tests).
func (s *IOStreams) SetStdinTTY(v bool) { s.stdinTTY = v }

// SetStdoutTTY overrides terminal detection for standard output (tests).
func (s *IOStreams) SetStdoutTTY(v bool) { s.stdoutTTY = v }

// SetStderrTTY overrides terminal detection for standard error (tests).
func (s *IOStreams) SetStderrTTY(v bool) { s.stderrTTY = v }

// ColorEnabled reports whether output may carry ANSI colour.
func (s *IOStreams) ColorEnabled() bool { return s.color }

// SetColorEnabled overrides the colour decision (tests).
func (s *IOStreams) SetColorEnabled(v bool) { s.color = v }

// CanPrompt reports whether parkctl may ask the user a question: only when
// standard input is a terminal. Destructive verbs need --yes otherwise.
func (s *IOStreams) CanPrompt() bool { return s.stdinTTY }

// ColorScheme returns helpers that colour text when colour is enabled and
// return it unchanged otherwise.
func (s *IOStreams) ColorScheme() ColorScheme { return ColorScheme{enabled: s.color} }

// ColorScheme wraps text in ANSI escapes when enabled.
type ColorScheme struct{ enabled bool }

func (c ColorScheme) wrap(code, text string) string {
	if !c.enabled || text == "" {
		return text
	}
	return "\x1b[" + code + "m" + text + "\x1b[0m"
}

// Bold renders text in bold.
func (c ColorScheme) Bold(text string) string { return c.wrap("1", text) }

// Green renders text in green (success).
func (c ColorScheme) Green(text string) string { return c.wrap("32", text) }

// Yellow renders text in yellow (pending, warnings).
func (c ColorScheme) Yellow(text string) string { return c.wrap("33", text) }

// Red renders text in red (failures).
func (c ColorScheme) Red(text string) string { return c.wrap("31", text) }
