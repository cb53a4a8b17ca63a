package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/parkhq/park/tenancy"
)

// MaxBodyBytes caps every request body (DESIGN §4); more is answered 413.
const MaxBodyBytes = 1 << 20

// requestError is a request the server cannot read at all (as opposed to a
// readable one with invalid fields, a *tenancy.ValidationError).
type requestError struct {
	status int // 0 means 400
	msg    string
}

func (e *requestError) Error() string { return e.msg }

// validator is implemented by request types that check themselves after
// decoding; Validate returns a *tenancy.ValidationError or nil.
type validator interface {
	Validate() error
}

// encode writes v as JSON with status, followed by a newline. It encodes
// into a pooled buffer before writing, so an encoding failure still becomes
// a clean 500, and sends the buffer in one write with a Content-Length:
// one copy of the body (json.Marshal's result and appending the newline
// made two more), and no chunked framing for the client to undo.
func encode[T any](w http.ResponseWriter, status int, v T) error {
	buf := getBuffer()
	defer putBuffer(buf)
	if err := json.NewEncoder(buf).Encode(v); err != nil {
		return fmt.Errorf("encode response: %w", err)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	_, err := w.Write(buf.Bytes())
	return err
}

// maxPooledBuffer is the largest response buffer kept for reuse: a rare
// huge answer must not pin its memory for the life of the process.
const maxPooledBuffer = 256 << 10

// buffers holds the response buffers of encode.
var buffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func getBuffer() *bytes.Buffer { return buffers.Get().(*bytes.Buffer) }

func putBuffer(b *bytes.Buffer) {
	if b.Cap() > maxPooledBuffer {
		return
	}
	b.Reset()
	buffers.Put(b)
}

// decode reads one JSON value of type T from the request body and validates
// it when T implements Validate. It accepts a Content-Type of
// application/json (or another +json type); a body without a type or typed
// application/x-www-form-urlencoded (what curl -d sends) is read as JSON too,
// but only from a caller that sends no Origin header: a browser sends one
// with every cross-origin request, and those two types make a "simple"
// request that skips the CORS preflight, so a stranger's page could post a
// login or registration from a visitor's browser. It refuses unknown fields,
// a body over MaxBodyBytes (413) and anything after the value.
func decode[T any](w http.ResponseWriter, r *http.Request) (T, error) {
	var v T
	if err := checkContentType(r.Header.Get("Content-Type"), r.Header.Get("Origin") != ""); err != nil {
		return v, err
	}
	r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		return v, decodeError(err)
	}
	var extra json.RawMessage
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return v, tooLarge
		}
		return v, &requestError{msg: "the request body holds more than one JSON value"}
	}
	if val, ok := any(&v).(validator); ok {
		if err := val.Validate(); err != nil {
			return v, err
		}
	}
	return v, nil
}

func checkContentType(ct string, fromBrowser bool) error {
	if ct == "" {
		if fromBrowser {
			return &requestError{status: http.StatusUnsupportedMediaType,
				msg: "a request with an Origin header must send Content-Type: application/json"}
		}
		return nil
	}
	mt, _, err := mime.ParseMediaType(ct)
	switch {
	case err == nil && (mt == "application/json" || strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json")):
		return nil
	case err == nil && mt == "application/x-www-form-urlencoded" && !fromBrowser:
		return nil
	case err == nil && mt == "application/x-www-form-urlencoded":
		return &requestError{status: http.StatusUnsupportedMediaType,
			msg: "a request with an Origin header must send Content-Type: application/json, not a form type"}
	}
	return &requestError{status: http.StatusUnsupportedMediaType,
		msg: fmt.Sprintf("content type %q is not supported; send application/json", ct)}
}

// decodeError turns encoding/json's errors into the problem table's types.
func decodeError(err error) error {
	var (
		tooLarge  *http.MaxBytesError
		syntaxErr *json.SyntaxError
		typeErr   *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &tooLarge):
		return tooLarge
	case errors.Is(err, io.EOF):
		return &requestError{msg: "the request body is empty; send a JSON object"}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &requestError{msg: "the request body is truncated JSON"}
	case errors.As(err, &syntaxErr):
		return &requestError{msg: fmt.Sprintf("the request body is not valid JSON (at byte %d)", syntaxErr.Offset)}
	case errors.As(err, &typeErr):
		field := typeErr.Field
		if field == "" {
			return &requestError{msg: fmt.Sprintf("the request body must be %s, not %s", jsonKind(typeErr.Type.Kind().String()), typeErr.Value)}
		}
		v := &tenancy.ValidationError{}
		v.Add(field, fmt.Sprintf("must be %s, not %s", jsonKind(typeErr.Type.Kind().String()), typeErr.Value))
		return v
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		// encoding/json has no type for this one.
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		v := &tenancy.ValidationError{}
		v.Add(name, "unknown field")
		return v
	}
	return &requestError{msg: "the request body could not be read"}
}

// jsonKind names a Go kind the way a JSON client thinks of it.
func jsonKind(kind string) string {
	switch kind {
	case "struct", "map":
		return "an object"
	case "slice", "array":
		return "an array"
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64":
		return "an integer"
	case "float32", "float64":
		return "a number"
	}
	return "a " + kind
}
