package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"

	"github.com/parkhq/park/ingest"
	"github.com/parkhq/park/reservation"
	"github.com/parkhq/park/tenancy"
)

// ProblemTypeBase prefixes every problem type: an absolute URI (RFC 9457
// §3.1.1) that names the problem without pretending to be a web page. The
// suffix (not-found, conflict, …) is stable for clients to switch on;
// docs/problems.md lists them all.
const ProblemTypeBase = "urn:park:problem:"

// Problem is an RFC 9457 problem detail, sent as application/problem+json.
type Problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
	// Errors lists problems per input field (JSON name, dotted for nested
	// fields).
	Errors map[string][]string `json:"errors,omitempty"`
	// RequestID is the server's id of the request (also X-Request-Id, and
	// request_id in the log), so a client can quote its log line. Its JSON
	// name is correlation_id: request_id in a body is a reservation's
	// idempotency key, and one name must not mean both.
	RequestID string `json:"correlation_id,omitempty"`
	// Extensions are further members, such as /readyz's "checks".
	Extensions map[string]any `json:"-"`
}

// MarshalJSON flattens Extensions into the object, as RFC 9457 §3.2 wants.
func (p Problem) MarshalJSON() ([]byte, error) {
	type plain Problem
	b, err := json.Marshal(plain(p))
	if err != nil || len(p.Extensions) == 0 {
		return b, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	for k, v := range p.Extensions {
		if _, taken := m[k]; !taken {
			m[k] = v
		}
	}
	return json.Marshal(m)
}

// problemRule maps the errors it matches to one kind of problem.
type problemRule struct {
	match  func(error) bool
	status int
	slug   string
	title  string
	// detail is the client-facing explanation. exposeError uses the error's
	// own message instead: stores write those for clients
	// ("get site 42: not found"). Messages of translated database errors
	// (*tenancy.DBError) are never exposed.
	detail      string
	exposeError bool
	// headers are set on the response.
	headers map[string]string
	// extensions, when set, adds members to the problem (RFC 9457 §3.2).
	extensions func(error) map[string]any
}

func is(target error) func(error) bool {
	return func(err error) bool { return errors.Is(err, target) }
}

func as[T error]() func(error) bool {
	return func(err error) bool { var t T; return errors.As(err, &t) }
}

// isDB matches errors of kind, translated by a store or not: a driver
// error that reached a handler untranslated (a refused or broken
// connection, SQLSTATE 57014, 57P01, 53300, …) is classified the same way,
// so it cannot come out as a 500.
func isDB(kind error) func(error) bool {
	return func(err error) bool { return errors.Is(tenancy.InterpretError(err), kind) }
}

// problemRules is the one table from errors to HTTP problems, first match
// wins. Statuses of 500 and above never expose the error: it is logged with
// the request id, and the client gets the id to quote.
var problemRules = []problemRule{
	{match: as[*http.MaxBytesError](), status: http.StatusRequestEntityTooLarge, slug: "body-too-large",
		title: "Request body too large", detail: fmt.Sprintf("the request body exceeds %d bytes", MaxBodyBytes)},
	{match: as[*requestError](), status: http.StatusBadRequest, slug: "bad-request",
		title: "Bad request", exposeError: true}, // status may be overridden by the error (415)
	{match: as[*tenancy.ValidationError](), status: http.StatusBadRequest, slug: "validation",
		title: "Invalid input", detail: "some fields are invalid; see errors"},
	{match: is(tenancy.ErrInvalid), status: http.StatusBadRequest, slug: "invalid",
		title: "Invalid input", detail: "the input is invalid", exposeError: true},
	{match: as[*rateLimitedError](), status: http.StatusTooManyRequests, slug: "rate-limited",
		title: "Too many requests", exposeError: true},
	{match: is(errNoCredentials), status: http.StatusUnauthorized, slug: "unauthorized",
		title: "Unauthorized", detail: "authentication is required", headers: map[string]string{"WWW-Authenticate": `Bearer realm="park"`}},
	{match: is(tenancy.ErrUnauthorized), status: http.StatusUnauthorized, slug: "unauthorized",
		title: "Unauthorized", detail: "invalid or expired credentials", headers: map[string]string{"WWW-Authenticate": `Bearer realm="park"`}},
	{match: is(ingest.ErrUnauthorized), status: http.StatusUnauthorized, slug: "unauthorized",
		title: "Unauthorized", detail: "missing or invalid webhook credentials"},
	{match: is(ingest.ErrSuspended), status: http.StatusForbidden, slug: "tenant-suspended",
		title: "Tenant suspended", detail: "the tenant is suspended; contact the platform operator"},
	{match: as[*ingest.DecodeError](), status: http.StatusBadRequest, slug: "malformed-uplink",
		title: "Malformed uplink", exposeError: true},
	{match: is(ingest.ErrWriterClosed), status: http.StatusServiceUnavailable, slug: "unavailable",
		title: "Service unavailable", detail: "the server is shutting down; send the uplink again",
		headers: map[string]string{"Retry-After": "1"}},
	{match: is(ingest.ErrCommitUnknown), status: http.StatusServiceUnavailable, slug: "unavailable",
		title: "Service unavailable", detail: "the reading may not be stored; send it again (a stored copy is answered duplicate)",
		headers: map[string]string{"Retry-After": "1"}},
	{match: is(tenancy.ErrTenantSuspended), status: http.StatusForbidden, slug: "tenant-suspended",
		title: "Tenant suspended", detail: "the tenant is suspended; contact the platform operator"},
	{match: is(tenancy.ErrForbidden), status: http.StatusForbidden, slug: "forbidden",
		title: "Forbidden", detail: "you may not do this", exposeError: true},
	{match: is(tenancy.ErrNotFound), status: http.StatusNotFound, slug: "not-found",
		title: "Not found", detail: "no such resource", exposeError: true},
	{match: as[*reservation.ConflictError](), status: http.StatusConflict, slug: "conflict",
		title: "Conflict", detail: "the request conflicts with existing data", exposeError: true, extensions: conflictExtensions},
	{match: is(reservation.ErrKeyReused), status: http.StatusUnprocessableEntity, slug: "idempotency-key-reused",
		title: "Idempotency key reused", exposeError: true},
	{match: is(tenancy.ErrConflict), status: http.StatusConflict, slug: "conflict",
		title: "Conflict", detail: "the request conflicts with existing data", exposeError: true},
	{match: isDB(tenancy.ErrSerialization), status: http.StatusServiceUnavailable, slug: "try-again",
		title: "Try again", detail: "the request collided with a concurrent one; retry it",
		headers: map[string]string{"Retry-After": "1"}},
	{match: isDB(tenancy.ErrUnavailable), status: http.StatusServiceUnavailable, slug: "unavailable",
		title: "Service unavailable", detail: "the database is unavailable; retry later",
		headers: map[string]string{"Retry-After": "5"}},
	// The request's deadline (Deps.RequestTimeout), most often spent
	// waiting for a pooled connection or a lock of a slow database.
	{match: is(context.DeadlineExceeded), status: http.StatusServiceUnavailable, slug: "timeout",
		title: "Timed out", detail: "the request took too long; retry later",
		headers: map[string]string{"Retry-After": "5"}},
}

// internalProblem answers everything the table does not know.
var internalProblem = problemRule{status: http.StatusInternalServerError, slug: "internal",
	title: "Internal server error", detail: "an unexpected error occurred; quote the correlation_id when reporting it"}

// statusClientClosed is nginx's code for a client that went away; it only
// appears in logs and metrics.
const statusClientClosed = 499

// problemFor maps err to the problem to send.
func problemFor(err error) (Problem, problemRule) {
	rule := internalProblem
	for _, r := range problemRules {
		if r.match(err) {
			rule = r
			break
		}
	}
	p := Problem{Type: ProblemTypeBase + rule.slug, Title: rule.title, Status: rule.status, Detail: rule.detail}
	var dbErr *tenancy.DBError
	if rule.exposeError && rule.status < 500 && !errors.As(err, &dbErr) {
		p.Detail = err.Error()
	}
	var reqErr *requestError
	if errors.As(err, &reqErr) && reqErr.status != 0 {
		p.Status = reqErr.status
		p.Title = http.StatusText(reqErr.status)
	}
	var valErr *tenancy.ValidationError
	if errors.As(err, &valErr) {
		p.Errors = maps.Clone(valErr.Fields)
	}
	if rule.extensions != nil {
		p.Extensions = rule.extensions(err)
	}
	return p, rule
}

// writeError answers err as a problem. Server-side failures are logged with
// the request's id and recorded for its log line; a client that went away
// gets nothing.
func (s *server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	info := infoFrom(r.Context())
	if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
		if info != nil {
			info.status = statusClientClosed
		}
		return
	}
	p, rule := problemFor(err)
	if info != nil {
		p.RequestID = info.id
		if p.Status >= 500 {
			info.err = err
		}
	}
	if p.Status >= 500 {
		s.logger.LogAttrs(r.Context(), slog.LevelError, "request failed",
			slog.String("request_id", p.RequestID), slog.String("error", err.Error()))
	}
	for k, v := range rule.headers {
		w.Header().Set(k, v)
	}
	writeProblem(w, p)
}

// writeProblem sends p.
func writeProblem(w http.ResponseWriter, p Problem) {
	b, err := json.Marshal(p)
	if err != nil {
		// Only an unmarshalable extension can get here.
		b = []byte(`{"type":"` + ProblemTypeBase + `internal","title":"Internal server error","status":500}`)
		p.Status = http.StatusInternalServerError
	}
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Del("Content-Length")
	w.WriteHeader(p.Status)
	_, _ = w.Write(append(b, '\n'))
}
