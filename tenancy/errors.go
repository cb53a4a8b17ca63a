package tenancy

import (
	"context"
	"errors"
	"io"
	"net"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Sentinel errors. Stores wrap them with context
// (fmt.Errorf("get site %s: %w", id, ErrNotFound)); internal/httpapi maps
// each to one HTTP status in its problem table.
var (
	// ErrNotFound: the object does not exist or belongs to another tenant
	// (row-level security makes the two indistinguishable, on purpose).
	ErrNotFound = errors.New("not found")
	// ErrConflict: the change collides with existing state (a unique or
	// exclusion constraint, or an object that is still referenced).
	ErrConflict = errors.New("conflict")
	// ErrForbidden: the caller is known but may not do this.
	ErrForbidden = errors.New("forbidden")
	// ErrUnauthorized: the caller could not be authenticated.
	ErrUnauthorized = errors.New("unauthorized")
	// ErrInvalid: the input is invalid. *ValidationError matches it too.
	ErrInvalid = errors.New("invalid input")
	// ErrSerialization: the transaction lost a race with a concurrent one
	// (serialization failure, deadlock, lock timeout). Running the whole
	// transaction again may succeed.
	ErrSerialization = errors.New("concurrent update, try again")
	// ErrUnavailable: the database cannot be reached or is refusing work
	// (connection failure, shutdown, too many connections, statement
	// timeout).
	ErrUnavailable = errors.New("database unavailable")
	// ErrNoTenant: a tenant-scoped transaction was asked for without a
	// tenant (the zero UUID). It is a programming error, never a client's.
	ErrNoTenant = errors.New("no tenant id")
)

// ValidationError reports invalid input field by field. It matches
// ErrInvalid under errors.Is.
type ValidationError struct {
	// Fields maps a field name (the JSON name; dotted for nested fields,
	// such as "user.email") to what is wrong with it.
	Fields map[string][]string
}

// Add records a problem with field.
func (e *ValidationError) Add(field, problem string) {
	if e.Fields == nil {
		e.Fields = map[string][]string{}
	}
	e.Fields[field] = append(e.Fields[field], problem)
}

// Err returns e when it holds any problem and nil otherwise, so a validator
// can end with `return v.Err()`.
func (e *ValidationError) Err() error {
	if e == nil || len(e.Fields) == 0 {
		return nil
	}
	return e
}

// Error lists the problems in field order.
func (e *ValidationError) Error() string {
	names := make([]string, 0, len(e.Fields))
	for f := range e.Fields {
		names = append(names, f)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString("invalid input")
	for i, f := range names {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString("; ")
		}
		b.WriteString(f + ": " + strings.Join(e.Fields[f], ", "))
	}
	return b.String()
}

// Is makes a *ValidationError match ErrInvalid.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalid }

// DBError is a PostgreSQL or driver error translated by InterpretError. It
// matches its Kind under errors.Is and carries the details a store may need
// to tell one constraint from another, but no driver type: callers of a store
// never depend on pgx.
type DBError struct {
	// Kind is the sentinel the error matches (ErrConflict, ErrNotFound, …),
	// or nil for an unexpected failure that is the server's fault.
	Kind error
	// Code is the SQLSTATE, when PostgreSQL reported one.
	Code string
	// Constraint, Table and Column name the object PostgreSQL blamed, when
	// it named one.
	Constraint, Table, Column string

	msg string
}

// Error is the message for logs: the caller's context and PostgreSQL's
// primary message and SQLSTATE, never the DETAIL line (which quotes row
// values, such as token hashes).
func (e *DBError) Error() string { return e.msg }

// Unwrap returns Kind.
func (e *DBError) Unwrap() error { return e.Kind }

// InterpretError translates an error that came out of pgx into this
// package's errors:
//
//   - pgx.ErrNoRows → ErrNotFound
//   - unique (23505) and exclusion (23P01) violations → ErrConflict
//   - foreign key violations (23503): a missing parent → ErrNotFound (it
//     may be another tenant's), a parent still referenced → ErrConflict
//   - not-null and check violations, data exceptions (class 22) → ErrInvalid
//   - serialization failures, deadlocks, lock timeouts → ErrSerialization
//   - connection failures, shutdowns, resource exhaustion, statement
//     timeouts → ErrUnavailable
//   - a cancelled or expired context → the context's error
//   - any other PostgreSQL error (including a privilege or row-level
//     security violation, which is a server bug) → a *DBError with a nil
//     Kind, which the HTTP layer answers with 500
//
// Errors that did not come from the database, such as a store's own
// sentinels returned from inside a transaction, pass through unchanged, as
// does nil. The result never wraps a pgx or pgconn value.
func InterpretError(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return &contextError{msg: err.Error(), err: context.DeadlineExceeded}
	}
	if errors.Is(err, context.Canceled) {
		return &contextError{msg: err.Error(), err: context.Canceled}
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return &DBError{Kind: ErrNotFound, msg: err.Error()}
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return &DBError{
			Kind:       kindOf(pgErr),
			Code:       pgErr.Code,
			Constraint: pgErr.ConstraintName,
			Table:      pgErr.TableName,
			Column:     pgErr.ColumnName,
			msg:        messageOf(err, pgErr),
		}
	}
	if isConnectionError(err) {
		return &DBError{Kind: ErrUnavailable, msg: err.Error()}
	}
	return err
}

// kindOf classifies a server error by SQLSTATE.
func kindOf(e *pgconn.PgError) error {
	switch e.Code {
	case "23505", "23P01": // unique_violation, exclusion_violation
		return ErrConflict
	case "23503": // foreign_key_violation
		// Both directions report the referencing table; only the (English)
		// message tells them apart. Stores that care check Constraint.
		if strings.HasPrefix(e.Message, "insert or update on table") {
			return ErrNotFound
		}
		return ErrConflict
	case "23502", "23514": // not_null_violation, check_violation
		return ErrInvalid
	case "40001", "40P01", "55P03": // serialization_failure, deadlock_detected, lock_not_available
		return ErrSerialization
	case "57014", // query_canceled: a statement timeout (a cancelled context is handled earlier)
		"57P01", "57P02", "57P03", // admin_shutdown, crash_shutdown, cannot_connect_now
		"25006": // read_only_sql_transaction: a standby answered
		return ErrUnavailable
	}
	if len(e.Code) < 2 {
		return nil
	}
	switch e.Code[:2] {
	case "22": // data_exception
		return ErrInvalid
	case "08", "53": // connection_exception, insufficient_resources
		return ErrUnavailable
	}
	return nil
}

// messageOf keeps the caller's wrapping context and PostgreSQL's primary
// message, dropping DETAIL and everything else that may quote row values.
func messageOf(err error, pgErr *pgconn.PgError) string {
	primary := pgErr.Message + " (SQLSTATE " + pgErr.Code + ")"
	full := err.Error()
	if i := strings.Index(full, pgErr.Error()); i > 0 {
		return full[:i] + primary
	}
	return primary
}

// isConnectionError reports failures to reach or keep a connection.
// pgconn.ErrConnClosed is a connection pgx closed after an earlier failure
// (a server or PgBouncer that went away mid-batch): the next statement on
// it fails so before anything is sent.
func isConnectionError(err error) bool {
	var connErr *pgconn.ConnectError
	var netErr net.Error
	return errors.As(err, &connErr) || errors.As(err, &netErr) || pgconn.Timeout(err) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, pgconn.ErrConnClosed)
}

// contextError keeps the message of an error caused by a cancelled or
// expired context but unwraps to the context error alone.
type contextError struct {
	msg string
	err error
}

func (e *contextError) Error() string { return e.msg }
func (e *contextError) Unwrap() error { return e.err }
