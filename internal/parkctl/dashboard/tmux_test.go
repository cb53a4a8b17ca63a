package dashboard

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// tmux drives a real terminal: a tmux server of the test's own on a
// private socket, one session, keys sent and the screen read back.
type tmux struct {
	t      *testing.T
	bin    string
	socket string
}

// requireTool finds a program, skipping the test without it outside CI
// and failing it in CI (a missing tool must never pass CI silently).
func requireTool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if ci, _ := strconv.ParseBool(os.Getenv("CI")); ci {
			t.Fatalf("%s not found (CI=true makes this a failure): %v", name, err)
		}
		t.Skipf("skipping: %s not found: %v", name, err)
	}
	return path
}

func (x *tmux) run(args ...string) string {
	x.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, x.bin, append([]string{"-S", x.socket}, args...)...).CombinedOutput()
	if err != nil {
		x.t.Fatalf("tmux %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// screen is what the pane shows, as text (escapes adds the escape
// sequences of colours and attributes).
func (x *tmux) screen(escapes bool) string {
	x.t.Helper()
	if escapes {
		return x.run("capture-pane", "-p", "-e", "-t", "dash")
	}
	return x.run("capture-pane", "-p", "-t", "dash")
}

// wait polls the screen until every text is on it, for at most 30s.
func (x *tmux) wait(texts ...string) string {
	x.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		s := x.screen(false)
		missing := ""
		for _, text := range texts {
			if !strings.Contains(s, text) {
				missing = text
				break
			}
		}
		if missing == "" {
			return s
		}
		if time.Now().After(deadline) {
			x.t.Fatalf("%q not on screen within 30s; the screen:\n%s", missing, s)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (x *tmux) keys(keys ...string) {
	x.t.Helper()
	x.run(append([]string{"send-keys", "-t", "dash"}, keys...)...)
}

// buildParkctl builds cmd/parkctl into dir.
func buildParkctl(t *testing.T, dir string) string {
	t.Helper()
	goBin := requireTool(t, "go")
	bin := filepath.Join(dir, "parkctl")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, goBin, "build", "-o", bin, "github.com/parkhq/park/cmd/parkctl").CombinedOutput()
	if err != nil {
		t.Fatalf("go build parkctl: %v\n%s", err, out)
	}
	return bin
}

// sgrColour matches an escape sequence that sets a colour (foreground or
// background, 16, 256 or true colour).
var sgrColour = regexp.MustCompile(`\x1b\[[0-9;]*(?:3[0-9]|4[0-9]|9[0-7]|10[0-7])(?:;[0-9;]*)?m`)

// TestTerminal runs the real parkctl dashboard in a real terminal (tmux,
// 120×40) against a test database: it draws the overview, switches views
// with the number keys and Tab, opens a site with Enter, filters with "/",
// shows the help, redraws to fit when the terminal shrinks to 80×24,
// draws no colour under NO_COLOR, and q ends it with exit status 0.
func TestTerminal(t *testing.T) {
	t.Parallel()
	tmuxBin := requireTool(t, "tmux")
	w := seedSmall(t, time.Now().UTC().Truncate(time.Second))
	// A short directory under /tmp: it holds the tmux socket.
	dir, err := os.MkdirTemp("/tmp", "parkdash-tmux-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	home := filepath.Join(dir, "home")
	if err := os.Mkdir(home, 0o700); err != nil {
		t.Fatal(err)
	}
	bin := buildParkctl(t, dir)
	exitFile := filepath.Join(dir, "exit")
	script := filepath.Join(dir, "run.sh")
	if err := os.WriteFile(script, fmt.Appendf(nil, `#!/bin/sh
export HOME='%[1]s' XDG_CONFIG_HOME='%[1]s' NO_COLOR=1 TERM=xterm-256color LANG=C.UTF-8
export PARKCTL_DATABASE_URL='%[2]s'
'%[3]s' dashboard --refresh 1s
code=$?
echo $code > '%[4]s'
# Keep the pane, so that the test can read what parkctl left on screen.
echo "parkctl exited $code"
exec sleep 600
`, home, w.db.OpsURL, bin, exitFile), 0o700); err != nil {
		t.Fatal(err)
	}

	x := &tmux{t: t, bin: tmuxBin, socket: filepath.Join(dir, "tmux.sock")}
	x.run("-f", os.DevNull, "new-session", "-d", "-x", "120", "-y", "40", "-s", "dash", "sh "+script)
	t.Cleanup(func() { exec.Command(tmuxBin, "-S", x.socket, "kill-server").Run() })

	x.wait("[1 Overview]", "Spaces    13 in 3 sites of 3 tenants", "acme", "beta", "gamma", "? help · q quit")
	if s := x.screen(true); sgrColour.MatchString(s) {
		t.Fatalf("colour on screen under NO_COLOR:\n%q", s)
	}

	x.keys("2")
	x.wait("[2 Sites]", "North", "Harbour")
	x.keys("Enter")
	x.wait("acme › North · 10 spaces", "A-009", "silent")
	// An escape followed at once by another key reads as alt+key: wait
	// for what Escape does before the next key.
	x.keys("Escape")
	x.wait("Sites · 3")
	x.keys("Tab")
	x.wait("[3 Orphans]", "70b3d57ed0009001", "a84041000181c001")
	x.keys("/", "beta")
	x.wait("/ beta", "Orphan devices waiting for triage · 1 of 2")
	x.keys("Escape")
	x.wait("Orphan devices waiting for triage · 2")
	x.keys("4")
	x.wait("[4 Reservations]", "! conflict")
	x.keys("?")
	x.wait("shift+tab", "previous view", "esc or ? closes this help")
	x.keys("?", "5")
	x.wait("[5 Keys]", "billing", "! expiring")

	// Smaller: the screen is drawn again at the new size.
	x.run("resize-window", "-t", "dash", "-x", "80", "-y", "24")
	s := x.wait("[5 Keys]", "billing", "? help · q quit")
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) != 24 {
		t.Errorf("%d lines at 80×24:\n%s", len(lines), s)
	}
	for _, l := range lines {
		if utf8.RuneCountInString(l) > 80 {
			t.Errorf("line wider than 80: %q", l)
		}
	}

	x.keys("q")
	x.wait("parkctl exited")
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, err := os.ReadFile(exitFile)
		if err == nil && len(b) > 0 {
			if code := strings.TrimSpace(string(b)); code != "0" {
				t.Fatalf("parkctl dashboard exited %s; the screen:\n%s", code, x.screen(false))
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("parkctl dashboard did not exit after q; the screen:\n%s", x.screen(false))
		}
		time.Sleep(100 * time.Millisecond)
	}
}
