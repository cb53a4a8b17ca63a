// Package cmdutil is what every parkctl verb shares: the Factory that hands
// out dependencies, the resolved Config, confirmation prompts, and the typed
// errors from which parkctl.Main picks the exit code.
//
// Exit codes (DESIGN §8):
//
//	0  success
//	1  error
//	2  usage: unknown command or flag, bad arguments, invalid configuration
//	3  not found: the named tenant, site, space, … does not exist
//	4  an audit or verification found problems
//
// A verb signals them by returning a *FlagError (2), an error wrapping
// ErrNotFound (3), an *ExitError with an explicit code (such as ExitProblems),
// or any other error (1).
package cmdutil

import (
	"errors"
	"fmt"
)

// Exit codes.
const (
	ExitOK       = 0
	ExitFailure  = 1
	ExitUsage    = 2
	ExitNotFound = 3
	ExitProblems = 4
)

// ErrSilent marks a failure the command has already reported: Main prints
// nothing more and exits 1 (or with the code of an enclosing ExitError).
var ErrSilent = errors.New("silent error")

// ErrNotFound marks a named object that does not exist: exit 3. Verbs wrap
// it with the name: fmt.Errorf("tenant %q: %w", slug, cmdutil.ErrNotFound).
var ErrNotFound = errors.New("not found")

// ErrCancelled reports that the user declined a confirmation prompt.
var ErrCancelled = errors.New("cancelled")

// FlagError is a usage error: a bad flag, argument or setting. Main prints
// it with the command's usage and exits 2.
type FlagError struct{ err error }

// FlagErrorf returns a *FlagError with a formatted message.
func FlagErrorf(format string, args ...any) error {
	return &FlagError{err: fmt.Errorf(format, args...)}
}

// FlagErrorWrap marks err as a usage error. It returns nil for nil.
func FlagErrorWrap(err error) error {
	if err == nil {
		return nil
	}
	return &FlagError{err: err}
}

func (e *FlagError) Error() string { return e.err.Error() }

func (e *FlagError) Unwrap() error { return e.err }

// ExitError ends parkctl with Code. Err is printed unless it is (or wraps)
// ErrSilent or is nil.
type ExitError struct {
	Code int
	Err  error
}

// Problems returns the error of an audit that found problems (exit 4): msg is
// printed on standard error after the problems themselves went to stdout.
func Problems(format string, args ...any) error {
	return &ExitError{Code: ExitProblems, Err: fmt.Errorf(format, args...)}
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit status %d", e.Code)
	}
	return e.Err.Error()
}

func (e *ExitError) Unwrap() error { return e.Err }
