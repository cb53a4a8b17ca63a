package cmdutil

import (
	"context"
	"errors"
	"strings"

	"github.com/parkhq/park/ingest"
	"github.com/parkhq/park/reservation"
	"github.com/parkhq/park/tenancy"
)

// errorRule is one row of the CLI error table: the errors it matches, the
// exit code they get, and a hint appended to the error's own message (which
// already says what failed: "rotate webhook secret: invalid input: mode: …").
type errorRule struct {
	match func(error) bool
	code  int
	hint  string
}

func is(target error) func(error) bool {
	return func(err error) bool { return errors.Is(err, target) }
}

func as[T error]() func(error) bool {
	return func(err error) bool {
		var t T
		return errors.As(err, &t)
	}
}

// errorRules is the one table that maps the errors of parkctl and of the
// libraries under it (tenancy, reservation, ingest) to exit codes: verbs
// return library errors wrapped with context and never map them
// themselves. The first matching rule wins, so parkctl's own typed errors
// come first and the broad sentinels last. An *ExitError carries its own
// code and is not in the table.
var errorRules = []errorRule{
	{match: as[*FlagError](), code: ExitUsage},
	{match: is(ErrNotFound), code: ExitNotFound},
	{match: is(ErrCancelled), code: ExitFailure},

	// Input the store refused, field by field: a usage error.
	{match: as[*tenancy.ValidationError](), code: ExitUsage},
	{match: is(ingest.ErrInvalidMode), code: ExitUsage},
	{match: is(ingest.ErrMalformedSecret), code: ExitUsage},
	{match: is(tenancy.ErrMalformedCursor), code: ExitUsage},
	{match: is(tenancy.ErrInvalid), code: ExitUsage},
	{match: is(tenancy.ErrNotFound), code: ExitNotFound},

	// The database or the login is not what parkctl needs.
	{match: is(tenancy.ErrPartialView), code: ExitFailure,
		hint: "connect as park_admin (a member of park_ops)"},
	{match: is(reservation.ErrPartialView), code: ExitFailure,
		hint: "connect as park_admin (a member of park_ops): an audit of part of the data is never reported clean"},
	{match: is(tenancy.ErrForbidden), code: ExitFailure,
		hint: "the database login may not do this; connect as park_admin"},
	{match: is(tenancy.ErrUnavailable), code: ExitFailure,
		hint: "check --database-url (PARKCTL_DATABASE_URL) and that the database is up"},
	{match: is(tenancy.ErrSerialization), code: ExitFailure, hint: "run the command again"},

	// Webhook secrets and the master keys.
	{match: is(ingest.ErrUnknownKeyVersion), code: ExitFailure,
		hint: "give the earlier master keys in PARKCTL_MASTER_KEYS_OLD"},
	{match: is(ingest.ErrOpen), code: ExitFailure,
		hint: "the master key of that version is not the one that sealed it"},

	{match: is(tenancy.ErrTenantActive), code: ExitFailure, hint: "suspend it first: parkctl tenant suspend"},
	// A collision with existing state: the message says what collided.
	{match: is(tenancy.ErrConflict), code: ExitFailure},
}

// ExitCode returns the exit code for err by the error table: 0 for nil,
// the code of the first matching rule, else 1.
func ExitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		return ee.Code
	}
	if r := ruleFor(err); r != nil {
		return r.code
	}
	return ExitFailure
}

// ErrorMessage returns the one-line message parkctl prints for err (after
// "error: "), with the table's hint for it; "" when nothing is to be
// printed (nil, ErrSilent, an ExitError without an error). Errors of
// parkctl's own (*ExitError, *FlagError) keep their text as it is, which
// may span lines (configuration problems are listed one per line).
func ErrorMessage(err error) string {
	if err == nil || errors.Is(err, ErrSilent) {
		return ""
	}
	var ee *ExitError
	if errors.As(err, &ee) && ee.Err == nil {
		return ""
	}
	if errors.Is(err, context.Canceled) {
		return "interrupted"
	}
	var fe *FlagError
	if errors.As(err, &ee) || errors.As(err, &fe) {
		return err.Error()
	}
	msg := oneLine(err.Error())
	if r := ruleFor(err); r != nil && r.hint != "" {
		msg += "; " + r.hint
	}
	return msg
}

func ruleFor(err error) *errorRule {
	for i := range errorRules {
		if errorRules[i].match(err) {
			return &errorRules[i]
		}
	}
	return nil
}

// oneLine joins a message's lines, so one error is one line on standard
// error (and in a log that collects it).
func oneLine(s string) string {
	if !strings.ContainsAny(s, "\r\n") {
		return s
	}
	return strings.Join(strings.Fields(strings.NewReplacer("\r", " ", "\n", " ").Replace(s)), " ")
}
