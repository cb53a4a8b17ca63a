package retention_test

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// lines collects JSON log lines written concurrently.
type lines struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *lines) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Split(strings.TrimSpace(l.buf.String()), "\n")
}

func (l *lines) count() int {
	n := 0
	for _, s := range l.all() {
		if s != "" {
			n++
		}
	}
	return n
}

// waitFor returns the first line that contains want, waiting up to ten
// seconds for it.
func (l *lines) waitFor(t *testing.T, want string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, s := range l.all() {
			if strings.Contains(s, want) {
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log line with %s in:\n%s", want, strings.Join(l.all(), "\n"))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func slogTo(l *lines) *slog.Logger { return slog.New(slog.NewJSONHandler(l, nil)) }
