package httpapi

import (
	"net/http"
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
