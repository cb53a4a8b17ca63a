package ratelimit

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// lockedBuffer is a log destination safe for concurrent writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// records decodes every line as JSON, failing the test on any other line.
func (l *lockedBuffer) records(t *testing.T) []map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for line := range strings.SplitSeq(strings.TrimSpace(l.b.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Errorf("not a JSON log line: %q", line)
			continue
		}
		out = append(out, m)
	}
	return out
}

// TestRedisLogsGoThroughSlog: with Redis unreachable, go-redis's own lines
// (a failed dial on every probe) reach the slog logger RouteRedisLogs
// names as debug records, never as plain text; at the info level the whole
// outage is the breaker's one warning. Not parallel: the route is the
// process's.
func TestRedisLogsGoThroughSlog(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String() // nothing listens there once closed
	ln.Close()
	defer RouteRedisLogs(nil)
	for _, level := range []slog.Level{slog.LevelDebug, slog.LevelInfo} {
		t.Run(level.String(), func(t *testing.T) {
			logs := &lockedBuffer{}
			logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: level}))
			RouteRedisLogs(logger)
			client, err := NewRedisClient("redis://" + addr + "/0")
			if err != nil {
				t.Fatal(err)
			}
			defer client.Close()
			clock := newFakeClock()
			f := NewFallback(NewRedis(client, RedisOptions{}), NewLocal(LocalOptions{}),
				FallbackOptions{Logger: logger, Now: clock.Now, ProbeInterval: time.Second})
			ctx := context.Background()
			for range 4 { // the first call and three probes, each a failed dial
				if _, err := f.Allow(ctx, Key(NameAPI, "t1"), DefaultPolicies().API, 1); err != nil {
					t.Fatal(err)
				}
				clock.Advance(time.Second)
			}
			recs := logs.records(t)
			var ours, down int
			for _, r := range recs {
				switch r["msg"] {
				case "go-redis":
					if r["level"] != "DEBUG" {
						t.Errorf("go-redis record: %v", r)
					}
					if strings.Contains(r["detail"].(string), addr) { // not another test's client
						ours++
					}
				case msgDown:
					down++
				default:
					t.Errorf("unexpected record: %v", r)
				}
			}
			if down != 1 {
				t.Errorf("%d outage warnings, want 1", down)
			}
			switch level {
			case slog.LevelDebug:
				if ours != 4 {
					t.Errorf("%d go-redis records of this client at debug, want one per failed dial (4): %v", ours, recs)
				}
			default:
				if len(recs) != 1 {
					t.Errorf("%d records at info, want the one outage warning: %v", len(recs), recs)
				}
			}
		})
	}
}
