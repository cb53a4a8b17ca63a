package httpapi

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/parkhq/park/tenancy"
)

type createSite struct {
	Name     string `json:"name"`
	Timezone string `json:"timezone"`
	Capacity int    `json:"capacity"`
}

func (c *createSite) Validate() error {
	var v tenancy.ValidationError
	if c.Name == "" {
		v.Add("name", "is required")
	}
	return v.Err()
}

func decodeRoute(s *server) []Route {
	return []Route{{Method: "POST", Pattern: "/sites", Access: AccessPublic, Handler: s.handle(func(w http.ResponseWriter, r *http.Request) error {
		in, err := decode[createSite](w, r)
		if err != nil {
			return err
		}
		return encode(w, http.StatusCreated, in)
	})}}
}

func TestDecode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		contentType string
		origin      string
		body        string
		status      int
		field       string // expected key of "errors"
		detail      string
	}{
		{name: "ok", contentType: "application/json", body: `{"name":"A","timezone":"UTC"}`, status: 201},
		{name: "no content type", body: `{"name":"A"}`, status: 201},
		{name: "curl -d form type", contentType: "application/x-www-form-urlencoded", body: `{"name":"A"}`, status: 201},
		{name: "charset", contentType: "application/json; charset=utf-8", body: `{"name":"A"}`, status: 201},
		{name: "text/plain", contentType: "text/plain", body: `{"name":"A"}`, status: 415},
		{name: "json from a browser", contentType: "application/json", origin: "https://app.example", body: `{"name":"A"}`, status: 201},
		{name: "form type from a browser", contentType: "application/x-www-form-urlencoded", origin: "https://evil.example", body: `{"name":"A"}`, status: 415},
		{name: "no type from a browser", origin: "https://evil.example", body: `{"name":"A"}`, status: 415},
		{name: "text/plain from a browser", contentType: "text/plain", origin: "https://evil.example", body: `{"name":"A"}`, status: 415},
		{name: "unknown field", body: `{"name":"A","colour":"red"}`, status: 400, field: "colour"},
		{name: "wrong type", body: `{"name":"A","capacity":"many"}`, status: 400, field: "capacity"},
		{name: "not an object", body: `[1,2]`, status: 400, detail: "the request body must be an object, not array"},
		{name: "empty", body: ``, status: 400, detail: "the request body is empty; send a JSON object"},
		{name: "truncated", body: `{"name":`, status: 400},
		{name: "syntax", body: `{name:1}`, status: 400, detail: "the request body is not valid JSON (at byte 2)"},
		{name: "two values", body: `{"name":"A"} {"name":"B"}`, status: 400, detail: "the request body holds more than one JSON value"},
		{name: "validator", body: `{"timezone":"UTC"}`, status: 400, field: "name"},
		{name: "too large", body: `{"name":"` + strings.Repeat("a", MaxBodyBytes) + `"}`, status: 413},
		{name: "too large after value", body: `{"name":"A"}` + strings.Repeat(" ", MaxBodyBytes), status: 413},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, Deps{}, decodeRoute)
			var hdr []string
			if tt.contentType != "" {
				hdr = []string{"Content-Type", tt.contentType}
			}
			if tt.origin != "" {
				hdr = append(hdr, "Origin", tt.origin)
			}
			w := f.do(t, "POST", "/sites", strings.NewReader(tt.body), hdr...)
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tt.status, w.Body)
			}
			if tt.status < 300 {
				return
			}
			p := problemOf(t, w)
			if tt.field != "" {
				fields, _ := p["errors"].(map[string]any)
				if _, ok := fields[tt.field]; !ok {
					t.Fatalf("errors lack %q: %s", tt.field, w.Body)
				}
			}
			if tt.detail != "" && p["detail"] != tt.detail {
				t.Fatalf("detail %q, want %q", p["detail"], tt.detail)
			}
		})
	}
}

// TestEncode: one JSON value and a newline, sent with its Content-Length
// (not chunked); a value that cannot be encoded writes nothing and is an
// error; a huge answer's buffer is not kept for reuse.
func TestEncode(t *testing.T) {
	t.Parallel()
	w := httptest.NewRecorder()
	if err := encode(w, http.StatusCreated, map[string]string{"a": "<b>"}); err != nil {
		t.Fatal(err)
	}
	if w.Code != http.StatusCreated || w.Body.String() != "{\"a\":\"\\u003cb\\u003e\"}\n" {
		t.Fatalf("%d %q", w.Code, w.Body)
	}
	if got := w.Header().Get("Content-Length"); got != strconv.Itoa(w.Body.Len()) {
		t.Fatalf("Content-Length %q for a body of %d bytes", got, w.Body.Len())
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q", ct)
	}

	w = httptest.NewRecorder()
	if err := encode(w, http.StatusOK, map[string]any{"f": func() {}}); err == nil {
		t.Fatal("no error for an unencodable value")
	}
	if w.Body.Len() != 0 || w.Header().Get("Content-Length") != "" {
		t.Fatalf("wrote %q %v for a failed encoding", w.Body, w.Header())
	}

	big := &bytes.Buffer{}
	big.Grow(maxPooledBuffer + 1)
	putBuffer(big)
	for range 100 {
		if b := getBuffer(); b == big {
			t.Fatal("a buffer over maxPooledBuffer went back to the pool")
		}
	}
}

// TestEncodeOverHTTP: a list answer larger than net/http's buffer reaches a
// client with a Content-Length, not chunked.
func TestEncodeOverHTTP(t *testing.T) {
	t.Parallel()
	items := make([]string, 2000)
	for i := range items {
		items[i] = "item " + strconv.Itoa(i)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = encode(w, http.StatusOK, items)
	}))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.TransferEncoding) != 0 || resp.ContentLength != int64(len(body)) || len(body) < 20_000 {
		t.Fatalf("transfer encoding %v, Content-Length %d, body %d bytes", resp.TransferEncoding, resp.ContentLength, len(body))
	}
}
