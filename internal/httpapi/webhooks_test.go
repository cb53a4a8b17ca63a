package httpapi

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parkhq/park/ingest"
)

// hook sends one webhook request with headers (name, value pairs).
func (e *e2e) hook(t *testing.T, h http.Handler, path, body string, headers ...string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest("POST", path, strings.NewReader(body))
	r.RemoteAddr = "198.51.100.9:4000"
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Set(headers[i], headers[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// secretOf makes a webhook secret of mode for w through the API.
func (e *e2e) secretOf(t *testing.T, w *world, mode string) string {
	t.Helper()
	return e.json(t, "POST", "/api/v1/webhook-secrets", w.token, `{"mode":"`+mode+`","grace":"0s"}`, 201)["secret"].(string)
}

// standardHeaders signs body as a Standard Webhooks message id sent at at
// with the whsec_ secret.
func standardHeaders(secret, id string, at time.Time, body string) []string {
	key, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	ts := strconv.FormatInt(at.Unix(), 10)
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id + "." + ts + "." + body))
	return []string{"webhook-id", id, "webhook-timestamp", ts, "webhook-signature", "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))}
}

// problemShape is a problem body without its correlation id, for
// comparing refusals.
func problemShape(t *testing.T, w *httptest.ResponseRecorder) string {
	t.Helper()
	var p map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil {
		t.Fatalf("%d %s: %v", w.Code, w.Body, err)
	}
	delete(p, "correlation_id")
	b, _ := json.Marshal(p)
	return strconv.Itoa(w.Code) + " " + string(b)
}

func (e *e2e) readingCount(t *testing.T, tenant string) int {
	t.Helper()
	var n int
	if err := e.admin.QueryRow(context.Background(), `select count(*) from sensor_readings where tenant_id = $1`, tenant).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestWebhookBadInputWritesNothing(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	a := e.makeWorld(t, "alpha")
	before := e.readingCount(t, a.tenant)
	auth := []string{"Authorization", "Bearer " + a.webhookToken}
	for name, c := range map[string]struct {
		path, body string
		want       int
	}{
		"truncated":      {"/api/v1/webhooks/uplink/alpha", `{"dev_eui":"aaaaaaaaaaaaaaaa","f_cnt":`, 400},
		"wrong type":     {"/api/v1/webhooks/uplink/alpha", `{"dev_eui":"aaaaaaaaaaaaaaaa","f_cnt":"one"}`, 400},
		"bad eui":        {"/api/v1/webhooks/uplink/alpha", `{"dev_eui":"zz","f_cnt":1}`, 400},
		"unknown field":  {"/api/v1/webhooks/uplink/alpha", `{"dev_eui":"aaaaaaaaaaaaaaaa","f_cnt":1,"x":1}`, 400},
		"chirpstack":     {"/api/v1/webhooks/chirpstack/alpha?event=up", `{"deviceInfo":{"devEui":"aaaaaaaaaaaaaaaa"}}`, 400},
		"tts":            {"/api/v1/webhooks/tts/alpha", `{"end_device_ids":{"dev_eui":"aaaaaaaaaaaaaaaa"}}`, 400},
		"not json":       {"/api/v1/webhooks/tts/alpha", `<xml/>`, 400},
		"oversized":      {"/api/v1/webhooks/uplink/alpha", `{"dev_eui":"aaaaaaaaaaaaaaaa","f_cnt":1,"payload":"` + strings.Repeat("x", MaxBodyBytes) + `"}`, 413},
		"hostile nested": {"/api/v1/webhooks/uplink/alpha", `{"dev_eui":"aaaaaaaaaaaaaaaa","f_cnt":1,"payload":` + strings.Repeat(`{"a":`, 200) + `1` + strings.Repeat(`}`, 200) + `}`, 400},
	} {
		w := e.hook(t, e.h, c.path, c.body, auth...)
		if w.Code != c.want || w.Header().Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s: %d %s, want %d", name, w.Code, w.Body, c.want)
		}
	}
	if after := e.readingCount(t, a.tenant); after != before {
		t.Fatalf("bad input stored %d readings", after-before)
	}
}

func TestWebhookAuthentication(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	a := e.makeWorld(t, "alpha")
	e.makeWorld(t, "bravo") // a tenant with secrets of its own
	hmacSecret := e.secretOf(t, a, "hmac")
	stdSecret := e.secretOf(t, a, "standard")
	body := `{"dev_eui":"aaaaaaaaaaaaaaaa","f_cnt":9,"id":"auth-1"}`
	path := "/api/v1/webhooks/uplink/alpha"

	mac := hmac.New(sha256.New, []byte(hmacSecret))
	mac.Write([]byte(body))
	hmacSig := "sha256=" + hex.EncodeToString(mac.Sum(nil))
	std := func(id string, at time.Time, b string) []string { return standardHeaders(stdSecret, id, at, b) }

	// The unknown slug's answer is the one every refusal must match.
	unknown := problemShape(t, e.hook(t, e.h, "/api/v1/webhooks/uplink/nobody", body, "Authorization", "Bearer "+a.webhookToken))
	refused := map[string][]string{
		"no credentials":              nil,
		"hmac secret sent as a token": {"Authorization", "Bearer " + hmacSecret},
		"token secret sent as hmac":   {"X-Webhook-Signature", "sha256=" + hex.EncodeToString([]byte(a.webhookToken))[:64]},
		"signature over another body": {"X-Webhook-Signature", "sha256=" + strings.Repeat("0", 64)},
		"standard signature too old":  std("msg-old", e.clock.Now().Add(-6*time.Minute), body),
		"standard for another body":   std("msg-x", e.clock.Now(), `{"dev_eui":"aaaaaaaaaaaaaaaa","f_cnt":10}`),
	}
	for name, h := range refused {
		if got := problemShape(t, e.hook(t, e.h, path, body, h...)); got != unknown {
			t.Errorf("%s: %s, want the unknown slug's %s", name, got, unknown)
		}
	}

	// Each mode with its own secret is accepted; a Standard Webhooks id is
	// accepted once.
	if w := e.hook(t, e.h, path, body, "X-Webhook-Signature", hmacSig); w.Code != 200 {
		t.Fatalf("hmac: %d %s", w.Code, w.Body)
	}
	stdBody := `{"dev_eui":"aaaaaaaaaaaaaaaa","f_cnt":11,"id":"std-1"}`
	if w := e.hook(t, e.h, path, stdBody, std("msg-1", e.clock.Now(), stdBody)...); w.Code != 200 {
		t.Fatalf("standard: %d %s", w.Code, w.Body)
	}
	if got := problemShape(t, e.hook(t, e.h, path, stdBody, std("msg-1", e.clock.Now(), stdBody)...)); got != unknown {
		t.Errorf("replayed webhook-id: %s", got)
	}

	// A tenant with no secret of the mode used: the same 401.
	if got := problemShape(t, e.hook(t, e.h, "/api/v1/webhooks/uplink/bravo", body, "X-Webhook-Signature", hmacSig)); got != unknown {
		t.Errorf("no hmac secret configured: %s", got)
	}

	// A ChirpStack event other than "up" is answered 2xx only once the
	// request is authenticated.
	join := `{"deduplicationId":"j1","deviceInfo":{"devEui":"aaaaaaaaaaaaaaaa"}}`
	if got := problemShape(t, e.hook(t, e.h, "/api/v1/webhooks/chirpstack/alpha?event=join", join)); got != unknown {
		t.Errorf("an ignored event without a secret: %s", got)
	}
	if w := e.hook(t, e.h, "/api/v1/webhooks/chirpstack/alpha?event=join", join, "Authorization", "Bearer "+a.webhookToken); w.Code != 200 ||
		!strings.Contains(w.Body.String(), `"ignored"`) {
		t.Errorf("an ignored event with the secret: %d %s", w.Code, w.Body)
	}

	// Suspended: a valid secret learns it (403); anyone else gets the
	// unknown slug's 401.
	if _, err := e.admin.Exec(context.Background(), `update tenants set status = 'suspended' where slug = 'alpha'`); err != nil {
		t.Fatal(err)
	}
	// The intake trusts what it read for its cache TTL: a suspension
	// made by an operator holds once that has passed.
	e.clock.Advance(ingest.DefaultAuthCacheTTL + time.Millisecond)
	if w := e.hook(t, e.h, path, body, "Authorization", "Bearer "+a.webhookToken); w.Code != 403 ||
		!strings.Contains(w.Body.String(), "tenant-suspended") {
		t.Errorf("suspended with a valid secret: %d %s", w.Code, w.Body)
	}
	if got := problemShape(t, e.hook(t, e.h, path, body, "Authorization", "Bearer whtok_"+strings.Repeat("A", 43))); got != unknown {
		t.Errorf("suspended with a made-up secret: %s", got)
	}
	if got := problemShape(t, e.hook(t, e.h, path, body)); got != unknown {
		t.Errorf("suspended without a secret: %s", got)
	}
}

// TestWebhookLimits: the tenant's webhook limit is charged after
// authentication only, and failed authentications are charged to the
// client's address.
func TestWebhookLimits(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	a := e.makeWorld(t, "alpha")
	api := newLimitedAPI(t, e, nil, nil, nil)
	e.setLimit(t, a.tenant, "webhook", 0.001, 3)
	e.clock.Advance(5*time.Second + time.Millisecond)

	// Strangers spend nothing of the tenant's allowance...
	for i := range 5 {
		if w := e.hook(t, api.h, "/api/v1/webhooks/uplink/alpha", `{"dev_eui":"aaaaaaaaaaaaaaaa","f_cnt":1}`,
			"Authorization", "Bearer whtok_"+strings.Repeat("B", 43)); w.Code != 401 {
			t.Fatalf("stranger %d: %d %s", i, w.Code, w.Body)
		}
	}
	// ...so the tenant still has its burst of 3.
	codes := []int{}
	for i := range 4 {
		w := e.hook(t, api.h, "/api/v1/webhooks/uplink/alpha",
			`{"dev_eui":"aaaaaaaaaaaaaaaa","f_cnt":`+strconv.Itoa(20+i)+`,"id":"lim-`+strconv.Itoa(i)+`"}`,
			"Authorization", "Bearer "+a.webhookToken)
		codes = append(codes, w.Code)
		if w.Code == 429 && !strings.HasPrefix(w.Header().Get("RateLimit"), `"webhook";r=0;`) {
			t.Errorf("429 headers: %q", w.Header().Get("RateLimit"))
		}
	}
	if got := fmtInts(codes); got != "200 200 200 429" {
		t.Fatalf("the tenant's uplinks answered %s, want 200 200 200 429", got)
	}

	// Failed authentications are charged to the address: the login-IP
	// policy's burst (30) of failures, then 429.
	var last int
	for range 40 {
		last = e.hook(t, api.h, "/api/v1/webhooks/uplink/nobody", `{}`, "Authorization", "Bearer whtok_"+strings.Repeat("C", 43)).Code
	}
	if last != 429 {
		t.Fatalf("the 40th failed authentication from one address: %d, want 429", last)
	}

	// The metrics count refusals by reason and uplinks by result.
	r := httptest.NewRequest("GET", "/metrics", nil)
	w := httptest.NewRecorder()
	api.h.ServeHTTP(w, r)
	for _, want := range []string{
		`park_webhook_auth_failures_total{reason="mismatch"} 5`,
		`park_webhook_auth_failures_total{reason="no_secret"}`,
		`park_uplinks_total{result="stored",source="generic"} 3`,
	} {
		if !strings.Contains(w.Body.String(), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func fmtInts(xs []int) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, " ")
}

// TestWebhookSecretRevokedAtOnce: the intake caches a tenant's opened
// secrets; a revocation through this server drops them at once (other
// servers within the cache TTL).
func TestWebhookSecretRevokedAtOnce(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	a := e.makeWorld(t, "alpha") // its uplinks have filled the cache
	body := `{"dev_eui":"aaaaaaaaaaaaaaaa","f_cnt":5,"id":"rv-1"}`
	if w := e.hook(t, e.h, "/api/v1/webhooks/uplink/alpha", body, "Authorization", "Bearer "+a.webhookToken); w.Code != 200 {
		t.Fatalf("before the revocation: %d %s", w.Code, w.Body)
	}
	if w := e.do(t, "DELETE", "/api/v1/webhook-secrets/"+a.secretID, a.token, ""); w.Code != 204 {
		t.Fatalf("revoke: %d %s", w.Code, w.Body)
	}
	// The clock has not moved: only the eviction can refuse it.
	if w := e.hook(t, e.h, "/api/v1/webhooks/uplink/alpha", `{"dev_eui":"aaaaaaaaaaaaaaaa","f_cnt":6,"id":"rv-2"}`,
		"Authorization", "Bearer "+a.webhookToken); w.Code != 401 {
		t.Fatalf("a revoked secret: %d %s", w.Code, w.Body)
	}
}

// TestWebhookSecretRotationGraceAtOnce: the intake caches a tenant's
// opened secrets, the old one without the expiry a rotation gives it; a
// rotation through this server drops them, so the old secret ends here
// when its grace does (other servers within the cache TTL).
func TestWebhookSecretRotationGraceAtOnce(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	a := e.makeWorld(t, "alpha") // its uplinks have filled the cache
	if w := e.hook(t, e.h, "/api/v1/webhooks/uplink/alpha", `{"dev_eui":"aaaaaaaaaaaaaaaa","f_cnt":5,"id":"ro-1"}`,
		"Authorization", "Bearer "+a.webhookToken); w.Code != 200 {
		t.Fatalf("before the rotation: %d %s", w.Code, w.Body)
	}
	fresh := e.json(t, "POST", "/api/v1/webhook-secrets", a.token, `{"mode":"token","grace":"0s"}`, 201)["secret"].(string)
	// The clock has not moved: only the eviction can refuse it.
	if w := e.hook(t, e.h, "/api/v1/webhooks/uplink/alpha", `{"dev_eui":"aaaaaaaaaaaaaaaa","f_cnt":6,"id":"ro-2"}`,
		"Authorization", "Bearer "+a.webhookToken); w.Code != 401 {
		t.Fatalf("the old secret after a rotation without grace: %d %s", w.Code, w.Body)
	}
	if w := e.hook(t, e.h, "/api/v1/webhooks/uplink/alpha", `{"dev_eui":"aaaaaaaaaaaaaaaa","f_cnt":7,"id":"ro-3"}`,
		"Authorization", "Bearer "+fresh); w.Code != 200 {
		t.Fatalf("the new secret: %d %s", w.Code, w.Body)
	}
}

// TestWebhookServerErrorsCounted: an uplink the server failed to store (a
// 5xx; here the writer is shut down) counts as result "error", a malformed
// one as "rejected", and both series exist at 0 before anything happens,
// so an alert's rate() sees the first one.
func TestWebhookServerErrorsCounted(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	a := e.makeWorld(t, "alpha")
	writer, err := ingest.NewWriter(e.deps.IngestStore.StoreBatch, ingest.WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := writer.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	deps := e.deps
	deps.Ingest = ingest.NewIntake(deps.Tenancy.WebhookTenant, deps.IngestStore, writer, ingest.IntakeOptions{Now: e.clock.Now})
	deps.Registry, deps.ServeMetrics = nil, true
	h := NewServer(deps)
	scrape := func() string {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
		return w.Body.String()
	}
	for _, want := range []string{`park_uplinks_total{result="error",source="generic"} 0`, `park_uplinks_total{result="rejected",source="tts"} 0`,
		`park_auth_failures_total{reason="expired"} 0`, `park_webhook_auth_failures_total{reason="replay"} 0`} {
		if !strings.Contains(scrape(), want) {
			t.Errorf("metrics lack %s before any request", want)
		}
	}
	if w := e.hook(t, h, "/api/v1/webhooks/uplink/alpha", `{"dev_eui":"aaaaaaaaaaaaaaaa","f_cnt":1,"id":"x"}`,
		"Authorization", "Bearer "+a.webhookToken); w.Code != 503 {
		t.Fatalf("uplink to a closed writer: %d %s", w.Code, w.Body)
	}
	if w := e.hook(t, h, "/api/v1/webhooks/uplink/alpha", `{"f_cnt":1}`, "Authorization", "Bearer "+a.webhookToken); w.Code != 400 {
		t.Fatalf("malformed uplink: %d %s", w.Code, w.Body)
	}
	for _, want := range []string{`park_uplinks_total{result="error",source="generic"} 1`, `park_uplinks_total{result="rejected",source="generic"} 1`} {
		if !strings.Contains(scrape(), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// TestStandardWebhookRetriedAfterRefusal: a Standard Webhooks sender
// retries a message it was refused with the same webhook-id, and the retry
// is taken when the refusal stored nothing — a suspended tenant
// reactivated, the tenant's limit (429), a server error (503) — while a
// stored message's replay stays refused.
func TestStandardWebhookRetriedAfterRefusal(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	a := e.makeWorld(t, "alpha")
	secret := e.secretOf(t, a, "standard")
	path := "/api/v1/webhooks/uplink/alpha"
	msg := func(n int) (string, []string) {
		body := `{"dev_eui":"aaaaaaaaaaaaaaaa","f_cnt":` + strconv.Itoa(n) + `}`
		return body, standardHeaders(secret, "msg-"+strconv.Itoa(n), e.clock.Now(), body)
	}
	setStatus := func(status string) {
		t.Helper()
		if _, err := e.admin.Exec(context.Background(), `update tenants set status = $1 where slug = 'alpha'`, status); err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(ingest.DefaultAuthCacheTTL + time.Millisecond)
	}

	// Suspended, then reactivated.
	setStatus("suspended")
	body, h := msg(1)
	if w := e.hook(t, e.h, path, body, h...); w.Code != 403 {
		t.Fatalf("suspended: %d %s", w.Code, w.Body)
	}
	setStatus("active")
	if w := e.hook(t, e.h, path, body, h...); w.Code != 200 {
		t.Fatalf("retry after reactivation: %d %s", w.Code, w.Body)
	}
	if w := e.hook(t, e.h, path, body, h...); w.Code != 401 {
		t.Fatalf("replay of the stored message: %d %s", w.Code, w.Body)
	}

	// The tenant's webhook limit.
	api := newLimitedAPI(t, e, nil, nil, nil)
	e.setLimit(t, a.tenant, "webhook", 1, 1)
	e.clock.Advance(5*time.Second + time.Millisecond)
	body2, h2 := msg(2)
	body3, h3 := msg(3)
	if w := e.hook(t, api.h, path, body2, h2...); w.Code != 200 {
		t.Fatalf("within the limit: %d %s", w.Code, w.Body)
	}
	if w := e.hook(t, api.h, path, body3, h3...); w.Code != 429 {
		t.Fatalf("over the limit: %d %s", w.Code, w.Body)
	}
	e.clock.Advance(time.Second)
	if w := e.hook(t, api.h, path, body3, h3...); w.Code != 200 {
		t.Fatalf("retry after the 429: %d %s", w.Code, w.Body)
	}

	// A server error: one instance cannot store (its writer is closed), the
	// retry reaches one that can; both share the replay window.
	guard := ingest.NewMemoryReplayGuard(0, 0)
	server := func(open bool) http.Handler {
		writer, err := ingest.NewWriter(e.deps.IngestStore.StoreBatch, ingest.WriterOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if open {
			t.Cleanup(func() { _ = writer.Close(context.Background()) })
		} else if err := writer.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		deps := e.deps
		deps.Ingest = ingest.NewIntake(deps.Tenancy.WebhookTenant, deps.IngestStore, writer, ingest.IntakeOptions{Now: e.clock.Now, Guard: guard})
		deps.Registry = nil
		return NewServer(deps)
	}
	broken, working := server(false), server(true)
	body4, h4 := msg(4)
	if w := e.hook(t, broken, path, body4, h4...); w.Code != 503 {
		t.Fatalf("to a closed writer: %d %s", w.Code, w.Body)
	}
	if w := e.hook(t, working, path, body4, h4...); w.Code != 200 || !strings.Contains(w.Body.String(), `"stored"`) {
		t.Fatalf("retry after the 503: %d %s", w.Code, w.Body)
	}
	if w := e.hook(t, working, path, body4, h4...); w.Code != 401 {
		t.Fatalf("replay after the stored retry: %d %s", w.Code, w.Body)
	}
	if n := e.readingCount(t, a.tenant); n != 4 {
		t.Errorf("%d readings stored, want 4, each message once", n)
	}
}
