package httpapi

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzDecodeRequests feeds arbitrary bodies to the decoder of every request
// type the API reads. Whatever arrives, decoding must not panic, and a
// refusal must map to a 4xx problem: bad input is the client's, never a 500.
func FuzzDecodeRequests(f *testing.F) {
	for _, seed := range []string{
		`{"user":{"email":"a@b.c","name":"n","password":"password123"},"tenant":{"name":"A","slug":"a"}}`,
		`{"email":"a@b.c","password":"password123","tenant":"acme"}`,
		`{"name":"Main","timezone":"America/Los_Angeles","tenant_id":"00000000-0000-0000-0000-000000000001"}`,
		`{"site_id":"x","code":"A1","sensor_eui":"00-11-22-33-44-55-66-77"}`,
		`{"name":"k","scopes":["spaces:read"],"expires_in":"90d"}`,
		`{"settings":{"occupancy":{"field":"occupied","occupied":[true],"free":[false]}}}`,
		`{"refresh_token":"prt_x"}`,
		`{"sensor_eui":null}`, `[]`, `null`, `"x"`, `{"a":1}{"b":2}`, `{"name":` + strings.Repeat(`[`, 10000),
		"\xff\xfe", `{"name":"\u0000"}`, `{"scopes":[1,2,3]}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		check := func(err error) {
			if err == nil {
				return
			}
			p, _ := problemFor(err)
			if p.Status < 400 || p.Status >= 500 {
				t.Fatalf("body %q: error %v became status %d", body, err, p.Status)
			}
		}
		req := func() (*httptest.ResponseRecorder, *http.Request) {
			return httptest.NewRecorder(), httptest.NewRequest("POST", "/", bytes.NewReader(body))
		}
		w, r := req()
		_, err := decode[registerRequest](w, r)
		check(err)
		w, r = req()
		_, err = decode[loginRequest](w, r)
		check(err)
		w, r = req()
		_, err = decode[refreshRequest](w, r)
		check(err)
		w, r = req()
		_, err = decode[siteCreateRequest](w, r)
		check(err)
		w, r = req()
		_, err = decode[siteUpdateRequest](w, r)
		check(err)
		w, r = req()
		_, err = decode[spaceCreateRequest](w, r)
		check(err)
		w, r = req()
		_, err = decode[spaceUpdateRequest](w, r)
		check(err)
		w, r = req()
		_, err = decode[apiKeyCreateRequest](w, r)
		check(err)
		w, r = req()
		_, err = decode[tenantPatchRequest](w, r)
		check(err)
	})
}

// TestOversizedBody: a body over 1 MiB is 413 on a real route.
func TestOversizedBody(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	big := `{"name":"` + strings.Repeat("x", MaxBodyBytes) + `","timezone":"UTC"}`
	a := e.makeWorld(t, "alpha")
	if w := e.do(t, "POST", "/api/v1/sites", a.token, big); w.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized body: %d %s", w.Code, w.Body)
	}
	if w := e.do(t, "POST", "/api/v1/auth/login", "", big); w.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized login body: %d", w.Code)
	}
}
