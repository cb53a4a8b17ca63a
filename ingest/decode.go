package ingest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/parkhq/park/tenancy"
)

// Source names the format an uplink came in; it is stored in
// sensor_readings.source.
type Source string

// The uplink formats of DESIGN §5.
const (
	SourceChirpStack Source = "chirpstack"
	SourceTTS        Source = "tts"
	SourceGeneric    Source = "generic"
)

// Bounds applied while decoding (DESIGN §2, §5).
const (
	// MaxReadAge and MaxReadAhead clamp a reading's time to
	// [arrival − MaxReadAge, arrival + MaxReadAhead].
	MaxReadAge   = 7 * 24 * time.Hour
	MaxReadAhead = 2 * time.Minute

	// MaxMsgKeyLen is the longest msg_key stored (the column's CHECK). A
	// longer key, or one holding control characters, is replaced by
	// "sha256:" and the hex SHA-256 of the key: still stable, so dedupe
	// still works, and never a reason to refuse a reading.
	MaxMsgKeyLen = 255

	// maxPayloadDepth bounds the nesting of a decoded payload we store;
	// real codecs produce a few levels, and jsonb parsing recurses.
	maxPayloadDepth = 64
	// maxNumberLen bounds a number literal in a stored payload, so that
	// jsonb's numeric always accepts it.
	maxNumberLen = 100
	// maxTimeLen bounds a timestamp string; RFC 3339 with nanoseconds and
	// an offset is 35 bytes.
	maxTimeLen = 64
	// maxQuoted bounds the part of the input an error message repeats.
	maxQuoted = 32
)

// DecodeError says why an uplink body is malformed: the HTTP layer answers
// 400 with it. Field is the JSON path of the offending field ("" for the
// body as a whole); neither Field nor Reason repeats more than a short,
// quoted part of the input.
type DecodeError struct {
	Field  string
	Reason string
}

func (e *DecodeError) Error() string {
	if e.Field == "" {
		return "malformed uplink: " + e.Reason
	}
	return "malformed uplink: " + e.Field + ": " + e.Reason
}

// Uplink is one decoded uplink, ready for dedupe and storage.
type Uplink struct {
	Source Source
	// DevEUI is 16 lowercase hexadecimal digits.
	DevEUI string
	// FCnt is the frame counter; nil only when the format lacks one.
	FCnt *uint32
	// MsgKey is the message identity for uplink_dedupe: 1 to MaxMsgKeyLen
	// bytes. Keys of the form "fcnt:<n>" are id-less and deduplicated
	// within a window (DESIGN §2).
	MsgKey string
	// ReadAt is when the sensor was read, clamped around ReceivedAt.
	ReadAt time.Time
	// ReceivedAt is the arrival time passed to the decoder.
	ReceivedAt time.Time
	// Occupied is the sensed state, nil when the payload does not say.
	Occupied *bool
	// RSSI (dBm) and SNR (dB) are from the gateway that heard the uplink
	// strongest.
	RSSI *int
	SNR  *float64
	// Payload is the decoded object as it is stored (jsonb), nil when there
	// is none: re-encoded, with NUL characters replaced by U+FFFD.
	Payload json.RawMessage
}

// defaultOccupancy is the rule used when a tenant has none (DESIGN §2).
var defaultOccupancy = tenancy.Occupancy{
	Field:    "occupied",
	Occupied: []any{true, "occupied"},
	Free:     []any{false, "free"},
}

// decodeJSON decodes one JSON object from body into v and refuses anything
// after it; errors become DecodeErrors that repeat little of the input.
func decodeJSON(body []byte, v any, strict bool) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	if strict {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return &DecodeError{Reason: "data after the JSON object"}
	}
	return nil
}

func jsonError(err error) error {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	msg := err.Error()
	switch {
	case errors.Is(err, io.EOF):
		return &DecodeError{Reason: "empty body"}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &DecodeError{Reason: "truncated JSON"}
	case errors.As(err, &syntax):
		if strings.Contains(msg, "exceeded max depth") {
			return &DecodeError{Reason: "JSON nested too deeply"}
		}
		return &DecodeError{Reason: fmt.Sprintf("invalid JSON at byte %d", syntax.Offset)}
	case errors.As(err, &typ):
		got, _, _ := strings.Cut(typ.Value, " ")
		if typ.Field == "" {
			return &DecodeError{Reason: "must be a JSON object, not " + quote(got)}
		}
		return &DecodeError{Field: bound(typ.Field), Reason: "has the wrong type (" + quote(got) + ")"}
	case strings.HasPrefix(msg, `json: unknown field "`):
		name, err := strconv.Unquote(strings.TrimPrefix(msg, "json: unknown field "))
		if err != nil {
			name = "?"
		}
		return &DecodeError{Field: bound(name), Reason: "unknown field"}
	}
	return &DecodeError{Reason: "invalid JSON: " + quote(msg)}
}

// quote bounds s and quotes it, so an error never carries more than
// maxQuoted bytes of input, nor control characters or invalid UTF-8.
func quote(s string) string {
	return strconv.Quote(bound(s))
}

func bound(s string) string {
	if len(s) > maxQuoted {
		s = s[:maxQuoted] + "…"
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

func devEUI(field, s string) (string, error) {
	eui, err := tenancy.NormalizeDevEUI(s)
	if err != nil {
		return "", &DecodeError{Field: field, Reason: err.Error()}
	}
	return eui, nil
}

// boundKey returns k as a storable msg_key: k itself when it is at most
// MaxMsgKeyLen bytes of valid UTF-8 without control characters, else
// "sha256:<hex>" of it.
func boundKey(k string) string {
	ok := len(k) <= MaxMsgKeyLen && utf8.ValidString(k)
	for i := 0; ok && i < len(k); i++ {
		if k[i] < 0x20 || k[i] == 0x7f {
			ok = false
		}
	}
	if ok {
		return k
	}
	sum := sha256.Sum256([]byte(k))
	return "sha256:" + hex.EncodeToString(sum[:])
}

func fcntKey(n uint32) string {
	return "fcnt:" + strconv.FormatUint(uint64(n), 10)
}

// isNull reports whether a raw field is absent or JSON null.
func isNull(raw json.RawMessage) bool {
	return len(raw) == 0 || string(raw) == "null"
}

// numberLiteral returns raw as a JSON number literal, or an error naming
// field when it is another kind of value.
func numberLiteral(field string, raw json.RawMessage) (string, error) {
	if len(raw) == 0 || raw[0] != '-' && (raw[0] < '0' || raw[0] > '9') {
		return "", &DecodeError{Field: field, Reason: "must be a number"}
	}
	return string(raw), nil
}

// parseFCnt reads a frame counter: an integer from 0 to 2^32−1. Absent or
// null is 0 when zeroIfAbsent (protobuf JSON omits zero values), else an
// error.
func parseFCnt(field string, raw json.RawMessage, zeroIfAbsent bool) (*uint32, error) {
	if isNull(raw) {
		if !zeroIfAbsent {
			return nil, &DecodeError{Field: field, Reason: "required"}
		}
		var zero uint32
		return &zero, nil
	}
	lit, err := numberLiteral(field, raw)
	if err != nil {
		return nil, err
	}
	n, err := strconv.ParseUint(lit, 10, 32)
	if err != nil {
		return nil, &DecodeError{Field: field, Reason: "must be an integer from 0 to 4294967295"}
	}
	v := uint32(n)
	return &v, nil
}

// parseTime reads an RFC 3339 time; absent or null gives the zero time.
func parseTime(field string, s *string) (time.Time, error) {
	if s == nil {
		return time.Time{}, nil
	}
	if len(*s) <= maxTimeLen {
		if t, err := time.Parse(time.RFC3339Nano, *s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, &DecodeError{Field: field, Reason: "must be an RFC 3339 time"}
}

// clampReadAt returns t clamped to [arrival − MaxReadAge, arrival +
// MaxReadAhead], or arrival when t is zero, in UTC.
func clampReadAt(t, arrival time.Time) time.Time {
	if t.IsZero() {
		return arrival.UTC()
	}
	if lo := arrival.Add(-MaxReadAge); t.Before(lo) {
		t = lo
	}
	if hi := arrival.Add(MaxReadAhead); t.After(hi) {
		t = hi
	}
	return t.UTC()
}

// radio is the signal of one gateway, or the best so far.
type radio struct {
	rssi *int
	snr  *float64
	set  bool
}

// consider keeps r when it is the first gateway seen or has a stronger
// RSSI than the best so far; a gateway without RSSI never beats one with.
func (b *radio) consider(r radio) {
	switch {
	case !b.set:
		*b = r
		b.set = true
	case r.rssi != nil && (b.rssi == nil || *r.rssi > *b.rssi):
		*b = r
		b.set = true
	}
}

// parseRadio reads one gateway's RSSI (from rssi, else fallback) and SNR.
// prefix is the gateway's path ("" at the top level).
func parseRadio(prefix, rssiName string, rssi, fallback, snr json.RawMessage) (radio, error) {
	path := func(name string) string {
		if prefix == "" {
			return name
		}
		return prefix + "." + name
	}
	var r radio
	if isNull(rssi) && !isNull(fallback) {
		rssi, rssiName = fallback, "channel_rssi"
	}
	if !isNull(rssi) {
		f, err := parseFloat(path(rssiName), rssi)
		if err != nil {
			return r, err
		}
		f = math.Round(f)
		if f < math.MinInt32 || f > math.MaxInt32 {
			return r, &DecodeError{Field: path(rssiName), Reason: "out of range"}
		}
		v := int(f)
		r.rssi = &v
	}
	if !isNull(snr) {
		f, err := parseFloat(path("snr"), snr)
		if err != nil {
			return r, err
		}
		r.snr = &f
	}
	return r, nil
}

func parseFloat(field string, raw json.RawMessage) (float64, error) {
	lit, err := numberLiteral(field, raw)
	if err != nil {
		return 0, err
	}
	f, err := strconv.ParseFloat(lit, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, &DecodeError{Field: field, Reason: "out of range"}
	}
	return f, nil
}

// decodePayload decodes a decoded-payload object for the occupancy rule and
// re-encodes it for storage as jsonb. Absent or null gives nil. It must be
// a JSON object, at most maxPayloadDepth deep, whose numbers fit in a
// float64 (and in maxNumberLen bytes); NUL characters, which PostgreSQL
// text cannot hold, become U+FFFD (invalid UTF-8 already does on decoding).
func decodePayload(field string, raw json.RawMessage) (map[string]any, json.RawMessage, error) {
	if isNull(raw) {
		return nil, nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, nil, &DecodeError{Field: field, Reason: "invalid JSON"}
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, nil, &DecodeError{Field: field, Reason: "must be a JSON object"}
	}
	clean, err := sanitize(field, obj, 1)
	if err != nil {
		return nil, nil, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(clean); err != nil {
		return nil, nil, &DecodeError{Field: field, Reason: "cannot be stored"}
	}
	stored := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	return clean.(map[string]any), json.RawMessage(stored), nil
}

func sanitize(field string, v any, depth int) (any, error) {
	if depth > maxPayloadDepth {
		return nil, &DecodeError{Field: field, Reason: fmt.Sprintf("nested deeper than %d levels", maxPayloadDepth)}
	}
	switch x := v.(type) {
	case string:
		return strings.ReplaceAll(x, "\x00", "\uFFFD"), nil
	case json.Number:
		if !storableNumber(string(x)) {
			return nil, &DecodeError{Field: field, Reason: "holds a number out of range"}
		}
		return x, nil
	case []any:
		for i, e := range x {
			c, err := sanitize(field, e, depth+1)
			if err != nil {
				return nil, err
			}
			x[i] = c
		}
		return x, nil
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			c, err := sanitize(field, e, depth+1)
			if err != nil {
				return nil, err
			}
			out[strings.ReplaceAll(k, "\x00", "\uFFFD")] = c
		}
		return out, nil
	}
	return v, nil
}

// storableNumber reports whether a JSON number literal is short and within
// float64 range (underflow to zero counts as out of range), so that jsonb's
// numeric takes it and comparisons treat it sensibly.
func storableNumber(lit string) bool {
	if len(lit) > maxNumberLen {
		return false
	}
	f, err := strconv.ParseFloat(lit, 64)
	if err != nil || math.IsInf(f, 0) {
		return false
	}
	if f == 0 {
		mant, _, _ := strings.Cut(strings.ToLower(lit), "e")
		return strings.Trim(mant, "-0.") == ""
	}
	return true
}

// occupancy applies the rule to a decoded payload: the value at rule.Field
// (a dotted path; a literal key containing dots is preferred, and a numeric
// segment indexes an array) is compared with the Occupied list, then the
// Free list. nil when the payload is absent, the field is missing or the
// value is in neither list. A nil rule is the default rule; an empty Field
// is "occupied".
func occupancy(obj map[string]any, rule *tenancy.Occupancy) *bool {
	if obj == nil {
		return nil
	}
	if rule == nil {
		rule = &defaultOccupancy
	}
	field := rule.Field
	if field == "" {
		field = defaultOccupancy.Field
	}
	v, ok := lookup(obj, field)
	if !ok {
		return nil
	}
	for _, list := range []struct {
		values []any
		state  bool
	}{{rule.Occupied, true}, {rule.Free, false}} {
		for _, want := range list.values {
			if sameValue(v, want) {
				s := list.state
				return &s
			}
		}
	}
	return nil
}

func lookup(v any, path string) (any, bool) {
	for {
		switch x := v.(type) {
		case map[string]any:
			if y, ok := x[path]; ok {
				return y, true
			}
			head, rest, more := strings.Cut(path, ".")
			y, ok := x[head]
			if !more || !ok {
				return nil, false
			}
			v, path = y, rest
		case []any:
			head, rest, more := strings.Cut(path, ".")
			i, ok := index(head)
			if !ok || i >= len(x) {
				return nil, false
			}
			if !more {
				return x[i], true
			}
			v, path = x[i], rest
		default:
			return nil, false
		}
	}
}

// index parses an array index: 1 to 9 decimal digits.
func index(s string) (int, bool) {
	if s == "" || len(s) > 9 {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, true
}

// sameValue compares a payload value with a rule value: numbers
// numerically (as float64), strings, booleans and null exactly; objects
// and arrays never match.
func sameValue(got, want any) bool {
	if gn, ok := got.(json.Number); ok {
		if wn, ok := want.(json.Number); ok && gn == wn {
			return true
		}
		g, err := strconv.ParseFloat(string(gn), 64)
		if err != nil {
			return false
		}
		w, ok := ruleNumber(want)
		return ok && g == w
	}
	switch g := got.(type) {
	case nil:
		return want == nil
	case bool:
		w, ok := want.(bool)
		return ok && g == w
	case string:
		w, ok := want.(string)
		return ok && g == w
	}
	return false
}

// ruleNumber returns a rule value as a float64 when it is a number: decoded
// settings hold float64 (or json.Number); Go-built rules may hold integers.
func ruleNumber(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case float32:
		return float64(x), true
	case int:
		return float64(x), true
	case int8:
		return float64(x), true
	case int16:
		return float64(x), true
	case int32:
		return float64(x), true
	case int64:
		return float64(x), true
	case uint:
		return float64(x), true
	case uint8:
		return float64(x), true
	case uint16:
		return float64(x), true
	case uint32:
		return float64(x), true
	case uint64:
		return float64(x), true
	case json.Number:
		f, err := strconv.ParseFloat(string(x), 64)
		return f, err == nil
	}
	return 0, false
}
