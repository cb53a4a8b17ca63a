package parkctl

import (
	"log/slog"
	"time"

	"github.com/parkhq/park/internal/parkctl/cmdutil"
	"github.com/parkhq/park/internal/parkctl/iostreams"
)

// NewFactory returns the Factory of a real run: the wall clock, a logger on
// standard error (warnings only until --verbose), and the given environment.
// The root command installs Config.
func NewFactory(ios *iostreams.IOStreams, lookupEnv func(string) (string, bool)) *cmdutil.Factory {
	level := new(slog.LevelVar)
	level.Set(slog.LevelWarn)
	return &cmdutil.Factory{
		IOStreams: ios,
		Now:       time.Now,
		Logger:    slog.New(slog.NewTextHandler(ios.ErrOut, &slog.HandlerOptions{Level: level})),
		LogLevel:  level,
		LookupEnv: lookupEnv,
	}
}
