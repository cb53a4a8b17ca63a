// Package parkctl is Park's operator CLI: `parkctl <noun> <verb>`, built on
// cobra the way cli/cli (gh) is. NewRootCmd assembles the command tree from
// one package per noun (db, migrate, …); each verb is made by
// NewCmdX(f *cmdutil.Factory, runF func(*XOptions) error), so flag parsing
// and the run function are tested apart. Main runs the tree and decides the
// exit code in one place (see cmdutil for the codes).
package parkctl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/parkhq/park/internal/parkctl/cmdutil"
	"github.com/parkhq/park/internal/parkctl/iostreams"
)

// Main runs parkctl with the process's arguments, streams and environment
// and returns the exit code: cmd/parkctl calls os.Exit(parkctl.Main()).
func Main() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	f := NewFactory(iostreams.System(), os.LookupEnv)
	return run(ctx, f, os.Args[1:])
}

// run executes one command line and returns its exit code. It closes what
// the run opened (the database pool) before returning.
func run(ctx context.Context, f *cmdutil.Factory, args []string) int {
	defer f.Close()
	root := NewRootCmd(f)
	if args == nil {
		args = []string{} // cobra reads os.Args for nil
	}
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	printError(f.IOStreams.ErrOut, cmd, err)
	return exitCode(err)
}

// exitCode maps an error to parkctl's exit code by cmdutil's error table,
// the one place that does it.
func exitCode(err error) int { return cmdutil.ExitCode(err) }

// printError reports err on standard error as one line (cmdutil's error
// table adds a hint where it has one), followed by the command's usage for
// flag and argument errors. Errors already reported are not repeated.
func printError(w io.Writer, cmd *cobra.Command, err error) {
	msg := cmdutil.ErrorMessage(err)
	if msg == "" {
		return
	}
	fmt.Fprintf(w, "error: %s\n", msg)
	var flagErr *cmdutil.FlagError
	if errors.As(err, &flagErr) && cmd != nil {
		fmt.Fprintf(w, "\n%s", cmd.UsageString())
	}
}
