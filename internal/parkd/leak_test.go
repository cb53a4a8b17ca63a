package parkd

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parkhq/park/internal/pgtest"
)

// secretSet is every credential a test made or saw: the whole value, and
// the random part of it (a leak of a piece is a leak too).
type secretSet struct {
	whole    map[string]string // name → value
	material map[string]string // name → the random part
}

func newSecretSet() *secretSet {
	return &secretSet{whole: map[string]string{}, material: map[string]string{}}
}

// add registers value under name, with material its random part ("" for
// the whole value).
func (s *secretSet) add(t *testing.T, name, value, material string) {
	t.Helper()
	if len(value) < 16 {
		t.Fatalf("secret %s is %q: too short to be one", name, value)
	}
	s.whole[name] = value
	if material == "" {
		material = value
	}
	s.material[name] = material
}

// findIn reports every secret, or a 16-character piece of one's random
// part, found in text.
func (s *secretSet) findIn(text string) []string {
	var found []string
	for name, v := range s.whole {
		if strings.Contains(text, v) {
			found = append(found, name)
			continue
		}
		m := s.material[name]
		for i := 0; i+16 <= len(m); i++ {
			if strings.Contains(text, m[i:i+16]) {
				found = append(found, name+" (a piece: "+m[i:i+16]+")")
				break
			}
		}
	}
	return found
}

// apiClient talks JSON to a running parkd.
type apiClient struct {
	t    *testing.T
	base string
}

func (c apiClient) call(method, path, cred, body string, headers ...string) (int, map[string]any) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if cred != "" {
		req.Header.Set("Authorization", "Bearer "+cred)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return resp.StatusCode, m
}

// must calls and fails the test unless the answer has status want.
func (c apiClient) must(want int, method, path, cred, body string, headers ...string) map[string]any {
	c.t.Helper()
	code, m := c.call(method, path, cred, body, headers...)
	if code != want {
		c.t.Fatalf("%s %s: %d, want %d: %v", method, path, code, want, m)
	}
	return m
}

func str(t *testing.T, m map[string]any, key string) string {
	t.Helper()
	s, ok := m[key].(string)
	if !ok || s == "" {
		t.Fatalf("no %s in %v", key, m)
	}
	return s
}

func randomText(t *testing.T, prefix string) string {
	t.Helper()
	b := make([]byte, 18)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return prefix + base64.RawURLEncoding.EncodeToString(b)
}

// TestNoSecretInLogsOrAudit runs a realistic session against a real parkd
// logging at debug level — register, log in, refresh (and reuse a refresh
// token), make and use an API key, rotate a webhook secret of every mode
// and send uplinks with each, change the password, log out — registering
// every password, token, key, secret and signature the run makes. None may
// appear, whole or in part, in the log or in any audit event.
func TestNoSecretInLogsOrAudit(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	e := serveEnv(db.ServerURL)
	e["PARKD_REGISTRATION"] = "open"
	e["PARKD_LOG_LEVEL"] = "debug"
	p := start(t, []string{"serve"}, e, time.Minute)
	c := apiClient{t: t, base: p.base}
	s := newSecretSet()
	s.add(t, "JWT secret", testJWT, "")
	s.add(t, "master key", strings.TrimPrefix(testMasterKey, "v2:"), "")

	// Tokens: the signature is the part nobody else can make.
	addToken := func(name, jwt string) {
		t.Helper()
		parts := strings.Split(jwt, ".")
		if len(parts) != 3 {
			t.Fatalf("%s is no JWT: %q", name, jwt)
		}
		s.add(t, name, jwt, parts[2])
	}
	addSession := func(name string, m map[string]any) (access, refresh string) {
		t.Helper()
		access, refresh = str(t, m, "access_token"), str(t, m, "refresh_token")
		addToken(name+" access token", access)
		s.add(t, name+" refresh token", refresh, strings.TrimPrefix(refresh, refresh[:strings.LastIndexByte(refresh, '_')+1]))
		return access, refresh
	}

	const email = "leak@example.com"
	password := randomText(t, "pw-")
	s.add(t, "password", password, "")
	reg := c.must(201, "POST", "/api/v1/auth/register", "",
		`{"user":{"email":"`+email+`","name":"Leak","password":"`+password+`"},"tenant":{"name":"Leak","slug":"leak"}}`)
	access, _ := addSession("register", reg)

	login := c.must(200, "POST", "/api/v1/auth/login", "", `{"email":"`+email+`","password":"`+password+`"}`)
	_, loginRefresh := addSession("login", login)
	refreshed := c.must(200, "POST", "/api/v1/auth/refresh", "", `{"refresh_token":"`+loginRefresh+`"}`)
	addSession("refreshed", refreshed)
	// Reusing the spent refresh token revokes its family: a failure path.
	c.must(401, "POST", "/api/v1/auth/refresh", "", `{"refresh_token":"`+loginRefresh+`"}`)

	// An API key, used in both headers, and a wrong one.
	keyAns := c.must(201, "POST", "/api/v1/api-keys", access, `{"name":"reader","scopes":["sites:read","spaces:read"]}`)
	key := str(t, keyAns, "key")
	s.add(t, "API key", key, key[strings.LastIndexByte(key, '_')+1:])
	c.must(200, "GET", "/api/v1/sites", key, "")
	c.must(200, "GET", "/api/v1/spaces?limit=5", "", "", "X-API-Key", key)
	c.must(401, "GET", "/api/v1/sites", key[:len(key)-2]+"xx", "")
	c.must(403, "POST", "/api/v1/sites", key, `{"name":"Nope","timezone":"UTC"}`)

	// A space with a sensor, for the uplinks.
	site := c.must(201, "POST", "/api/v1/sites", access, `{"name":"Lot","timezone":"UTC"}`)
	const eui = "a0a1a2a3a4a5a6a7"
	c.must(201, "POST", "/api/v1/spaces", access, `{"site_id":"`+str(t, site, "id")+`","code":"A1","sensor_eui":"`+eui+`"}`)

	secrets := map[string]string{}
	for _, mode := range []string{"standard", "hmac", "token"} {
		ans := c.must(201, "POST", "/api/v1/webhook-secrets", access, `{"mode":"`+mode+`","grace":"0s"}`)
		secret := str(t, ans, "secret")
		secrets[mode] = secret
		s.add(t, mode+" webhook secret", secret, secret[strings.IndexByte(secret, '_')+1:])
	}
	uplink := func(n int) string {
		return `{"dev_eui":"` + eui + `","f_cnt":` + strconv.Itoa(n) + `,"id":"leak-` + strconv.Itoa(n) + `","occupied":true}`
	}
	const hook = "/api/v1/webhooks/uplink/leak"
	stored := func(m map[string]any) {
		t.Helper()
		if m["status"] != "stored" {
			t.Fatalf("uplink: %v", m)
		}
	}
	// token mode, in both of its headers
	stored(c.must(200, "POST", hook, secrets["token"], uplink(1)))
	stored(c.must(200, "POST", hook, "", uplink(2), "X-Webhook-Token", secrets["token"]))
	// hmac mode
	body := uplink(3)
	mac := hmac.New(sha256.New, []byte(secrets["hmac"]))
	mac.Write([]byte(body))
	sig := hex.EncodeToString(mac.Sum(nil))
	s.add(t, "hmac signature", sig, "")
	stored(c.must(200, "POST", hook, "", body, "X-Webhook-Signature", "sha256="+sig))
	// standard mode
	body = uplink(4)
	keyBytes, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secrets["standard"], "whsec_"))
	if err != nil {
		t.Fatal(err)
	}
	id, ts := "msg_leak_4", strconv.FormatInt(time.Now().Unix(), 10)
	mac = hmac.New(sha256.New, keyBytes)
	mac.Write([]byte(id + "." + ts + "." + body))
	stdSig := base64.StdEncoding.EncodeToString(mac.Sum(nil))
	s.add(t, "standard signature", stdSig, "")
	stored(c.must(200, "POST", hook, "", body, "webhook-id", id, "webhook-timestamp", ts, "webhook-signature", "v1,"+stdSig))
	// A wrong token: refused, and logged as a failure.
	c.must(401, "POST", hook, secrets["token"][:len(secrets["token"])-2]+"AA", uplink(5))

	// The password changes: new tokens; the old password fails.
	newPassword := randomText(t, "pw2-")
	s.add(t, "new password", newPassword, "")
	changed := c.must(200, "POST", "/api/v1/auth/password", access,
		fmt.Sprintf(`{"current_password":%q,"new_password":%q}`, password, newPassword))
	newAccess, newRefresh := addSession("password change", changed)
	c.must(401, "POST", "/api/v1/auth/login", "", `{"email":"`+email+`","password":"`+password+`"}`)
	again := c.must(200, "POST", "/api/v1/auth/login", "", `{"email":"`+email+`","password":"`+newPassword+`"}`)
	addSession("login after change", again)
	c.must(200, "GET", "/api/v1/tenants/current", newAccess, "")
	c.must(204, "POST", "/api/v1/auth/logout", "", `{"refresh_token":"`+newRefresh+`"}`)
	// A credential in a query string is not read, and not logged either.
	c.must(401, "GET", "/api/v1/sites?access_token="+newAccess, "", "")

	if n := len(p.log.lines("request")); n < 25 {
		t.Fatalf("%d request lines; the run did not happen as planned:\n%s", n, p.log)
	}
	logs := p.log.String() + p.stdout.String()
	for _, f := range s.findIn(logs) {
		t.Errorf("the log holds the %s", f)
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var audit string
	var events int
	if err := db.AdminPool(t).QueryRow(ctx, `select count(*), coalesce(string_agg(concat_ws(' ', actor, action, target, details::text), E'\n'), '')
		from audit_events`).Scan(&events, &audit); err != nil {
		t.Fatal(err)
	}
	if events < 5 {
		t.Fatalf("%d audit events; the run did not happen as planned:\n%s", events, audit)
	}
	for _, f := range s.findIn(audit) {
		t.Errorf("an audit event holds the %s", f)
	}
}
