package ratelimit

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/redis/go-redis/v9"
)

// go-redis has one logger for the whole process (redis.SetLogger), which
// by default prints plain text to stderr: foreign lines in a JSON log, one
// per failed dial, so one per probe during an outage. It cannot be set per
// client, and its dial failures are logged from its own goroutines with a
// background context, so a line cannot be traced back to a client or a
// call either. RouteRedisLogs therefore installs one bridge per process,
// and the program's entry point says where it leads.

var (
	installRedisLog sync.Once
	redisLogTarget  atomic.Pointer[slog.Logger]
)

// RouteRedisLogs sends go-redis's own log lines, from now on and for the
// whole process, to logger as debug records (message "go-redis", the line
// in "detail"). Debug, because the outage they describe is logged once, as
// a warning, by FallbackLimiter: at the default level an outage is one
// line, and go-redis's details are there for whoever turns debug on.
//
// go-redis's logger is process-wide, so this is too: call it from the
// program's entry point (parkd does, before it makes its Redis client),
// never from library code. The last call wins; nil discards the lines.
func RouteRedisLogs(logger *slog.Logger) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	redisLogTarget.Store(logger)
	installRedisLog.Do(func() { redis.SetLogger(redisLog{}) })
}

// redisLog is the bridge RouteRedisLogs installs.
type redisLog struct{}

// Printf implements go-redis's Logging interface.
func (redisLog) Printf(ctx context.Context, format string, v ...any) {
	l := redisLogTarget.Load()
	if l == nil {
		return
	}
	if ctx == nil {
		ctx = context.Background()
	}
	msg := strings.TrimPrefix(fmt.Sprintf(format, v...), "redis: ")
	l.LogAttrs(ctx, slog.LevelDebug, "go-redis", slog.String("detail", msg))
}
