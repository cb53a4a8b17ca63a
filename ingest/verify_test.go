package ingest

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// refStandardSign signs as the Standard Webhooks reference libraries do:
// strip "whsec_", base64-decode the rest, HMAC-SHA256 over
// "msg_id.timestamp.payload", standard base64, "v1," in front.
func refStandardSign(t testing.TB, secret, msgID string, timestamp int64, payload []byte) string {
	t.Helper()
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		t.Fatal(err)
	}
	return "v1," + stdMAC(key, msgID, strconv.FormatInt(timestamp, 10), payload)
}

func stdMAC(key []byte, id, ts string, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id + "." + ts + "."))
	m.Write(body)
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

func hexMAC(key, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

func stdHeader(id, ts string, sigs ...string) http.Header {
	h := http.Header{}
	if id != "" {
		h.Set("webhook-id", id)
	}
	if ts != "" {
		h.Set("webhook-timestamp", ts)
	}
	for _, s := range sigs {
		h.Add("webhook-signature", s)
	}
	return h
}

func checkReason(t *testing.T, err error, want Reason) {
	t.Helper()
	if want == "" {
		if err != nil {
			t.Fatalf("err = %v, want nil", err)
		}
		return
	}
	if !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("err = %v, want ErrUnauthorized", err)
	}
	if got := ReasonOf(err); got != want {
		t.Fatalf("reason = %q, want %q (err %v)", got, want, err)
	}
}

func mustSecret(t testing.TB, mode Mode) (string, []byte) {
	t.Helper()
	s, err := GenerateSecret(mode)
	if err != nil {
		t.Fatal(err)
	}
	_, key, err := ParseSecret(s)
	if err != nil {
		t.Fatal(err)
	}
	return s, key
}

// TestStandardWebhooksVector checks the published example of the Standard
// Webhooks / Svix libraries and a vector computed the reference way from a
// generated secret.
func TestStandardWebhooksVector(t *testing.T) {
	t.Parallel()
	const (
		secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
		msgID  = "msg_p5jXN8AQM9LWM0D4loKWxJek"
		ts     = 1614265330
		want   = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
	)
	payload := []byte(`{"test": 2432232314}`)
	if got := refStandardSign(t, secret, msgID, ts, payload); got != want {
		t.Fatalf("reference signature = %s, want %s", got, want)
	}
	key, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	now := time.Unix(ts, 0)
	id, err := VerifyStandard([][]byte{key}, stdHeader(msgID, strconv.Itoa(ts), want), payload, now)
	if err != nil || id != msgID {
		t.Fatalf("published vector: id %q, err %v", id, err)
	}

	s, k := mustSecret(t, ModeStandard)
	body := []byte(`{"dev_eui":"0011223344556677","f_cnt":1}`)
	sig := refStandardSign(t, s, "msg_1", now.Unix(), body)
	if _, err := VerifyStandard([][]byte{k}, stdHeader("msg_1", strconv.FormatInt(now.Unix(), 10), sig), body, now); err != nil {
		t.Fatalf("generated secret: %v", err)
	}
}

func TestVerifyStandard(t *testing.T) {
	t.Parallel()
	_, oldKey := mustSecret(t, ModeStandard)
	_, newKey := mustSecret(t, ModeStandard)
	_, otherKey := mustSecret(t, ModeStandard)
	now := time.Unix(1_900_000_000, 600_000_000) // fractions must not shift the edges
	body := []byte(`{"dev_eui":"0011223344556677","f_cnt":7}`)
	const id = "msg_2LfKQ9r8GKYqrTwjUPD8IL"
	tsAt := func(d time.Duration) string { return strconv.FormatInt(now.Add(d).Unix(), 10) }
	ts := tsAt(0)
	sigWith := func(key []byte, ts string) string { return "v1," + stdMAC(key, id, ts, body) }
	good := sigWith(newKey, ts)
	both := [][]byte{oldKey, newKey}

	cases := []struct {
		name    string
		secrets [][]byte
		h       http.Header
		body    []byte
		want    Reason
	}{
		{"good", [][]byte{newKey}, stdHeader(id, ts, good), body, ""},
		{"rotation new", both, stdHeader(id, ts, good), body, ""},
		{"rotation old still valid", both, stdHeader(id, ts, sigWith(oldKey, ts)), body, ""},
		{"old removed", [][]byte{newKey}, stdHeader(id, ts, sigWith(oldKey, ts)), body, ReasonMismatch},
		{"wrong secret", [][]byte{otherKey}, stdHeader(id, ts, good), body, ReasonMismatch},
		{"body changed", both, stdHeader(id, ts, good), append([]byte(" "), body...), ReasonMismatch},
		{"id changed", both, stdHeader(id+"x", ts, good), body, ReasonMismatch},
		{"timestamp changed", both, stdHeader(id, tsAt(time.Second), good), body, ReasonMismatch},
		{"-5m edge", both, stdHeader(id, tsAt(-5*time.Minute), sigWith(newKey, tsAt(-5*time.Minute))), body, ""},
		{"+5m edge", both, stdHeader(id, tsAt(5*time.Minute), sigWith(newKey, tsAt(5*time.Minute))), body, ""},
		{"-5m1s", both, stdHeader(id, tsAt(-5*time.Minute-time.Second), sigWith(newKey, tsAt(-5*time.Minute-time.Second))), body, ReasonExpired},
		{"+5m1s", both, stdHeader(id, tsAt(5*time.Minute+time.Second), sigWith(newKey, tsAt(5*time.Minute+time.Second))), body, ReasonExpired},
		{"expired forgery is a mismatch", both, stdHeader(id, tsAt(-time.Hour), good), body, ReasonMismatch},
		{"several, one valid", both, stdHeader(id, ts, "v1,"+stdMAC(otherKey, id, ts, body)+" "+good+" v1,AAAA"), body, ""},
		{"other versions ignored", both, stdHeader(id, ts, "v1a,"+strings.TrimPrefix(good, "v1,")+" v2,xyz "+good), body, ""},
		{"only other versions", both, stdHeader(id, ts, "v1a,"+strings.TrimPrefix(good, "v1,")), body, ReasonMalformed},
		{"version is case-sensitive", both, stdHeader(id, ts, "V1,"+strings.TrimPrefix(good, "v1,")), body, ReasonMalformed},
		{"signature header repeated", both, stdHeader(id, ts, "v1,"+stdMAC(otherKey, id, ts, body), good), body, ""},
		{"extra spaces", both, stdHeader(id, ts, "  "+good+"   v1,AAAA "), body, ""},
		{"bad base64 only", both, stdHeader(id, ts, "v1,!!!!"), body, ReasonMalformed},
		{"short signature only", both, stdHeader(id, ts, "v1,"+base64.StdEncoding.EncodeToString(make([]byte, 31))), body, ReasonMalformed},
		{"no comma", both, stdHeader(id, ts, "v1"+good[3:]), body, ReasonMalformed},
		{"missing id", both, stdHeader("", ts, good), body, ReasonMissing},
		{"missing timestamp", both, stdHeader(id, "", good), body, ReasonMissing},
		{"missing signature", both, stdHeader(id, ts), body, ReasonMissing},
		{"blank signature", both, stdHeader(id, ts, "  "), body, ReasonMissing},
		{"timestamp not a number", both, stdHeader(id, "soon", good), body, ReasonMalformed},
		{"timestamp negative", both, stdHeader(id, "-"+ts, good), body, ReasonMalformed},
		{"timestamp plus", both, stdHeader(id, "+"+ts, good), body, ReasonMalformed},
		{"timestamp fraction", both, stdHeader(id, ts+".5", good), body, ReasonMalformed},
		{"timestamp millis", both, stdHeader(id, ts+"000", good), body, ReasonMalformed},
		{"id with dot", both, stdHeader("msg.1", ts, good), body, ReasonMalformed},
		{"id with space", both, stdHeader("msg 1", ts, good), body, ReasonMalformed},
		{"id too long", both, stdHeader(strings.Repeat("m", MaxWebhookIDLen+1), ts, good), body, ReasonMalformed},
		{"no secrets", nil, stdHeader(id, ts, good), body, ReasonNoSecret},
		{"only short secrets", [][]byte{{}, []byte("short")}, stdHeader(id, ts, "v1,"+stdMAC(nil, id, ts, body)), body, ReasonNoSecret},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := VerifyStandard(tc.secrets, tc.h, tc.body, now)
			checkReason(t, err, tc.want)
			if tc.want == "" && got != tc.h.Get("webhook-id") {
				t.Fatalf("id = %q", got)
			}
			if tc.want != "" && got != "" {
				t.Fatalf("failure returned id %q", got)
			}
		})
	}

	// Repeated id or timestamp headers are ambiguous.
	h := stdHeader(id, ts, good)
	h.Add("webhook-id", "msg_other")
	_, err := VerifyStandard(both, h, body, now)
	checkReason(t, err, ReasonMalformed)
	h = stdHeader(id, ts, good)
	h.Add("webhook-timestamp", ts)
	_, err = VerifyStandard(both, h, body, now)
	checkReason(t, err, ReasonMalformed)
}

func TestCheckStandardReplay(t *testing.T) {
	t.Parallel()
	_, key := mustSecret(t, ModeStandard)
	secrets := [][]byte{key}
	body := []byte(`{"f_cnt":1}`)
	t0 := time.Unix(1_900_000_000, 0)
	guard := NewMemoryReplayGuard(ReplayWindow, 100)
	ctx := context.Background()
	// The sender re-signs every attempt with a fresh timestamp, same id.
	send := func(tenant, id string, at time.Time, k []byte) error {
		ts := strconv.FormatInt(at.Unix(), 10)
		_, err := CheckStandard(ctx, guard, tenant, secrets, stdHeader(id, ts, "v1,"+stdMAC(k, id, ts, body)), body, at)
		return err
	}
	steps := []struct {
		name   string
		tenant string
		id     string
		at     time.Duration
		key    []byte
		want   Reason
	}{
		{"first delivery", "t1", "msg_a", 0, key, ""},
		{"replay at once", "t1", "msg_a", 0, key, ReasonReplay},
		{"replay after 1m", "t1", "msg_a", time.Minute, key, ReasonReplay},
		{"other tenant, same id", "t2", "msg_a", time.Minute, key, ""},
		{"other id", "t1", "msg_b", time.Minute, key, ""},
		{"forged id is not recorded", "t1", "msg_c", 2 * time.Minute, make([]byte, 32), ReasonMismatch},
		{"so its real delivery passes", "t1", "msg_c", 2 * time.Minute, key, ""},
		{"replay just inside 10m", "t1", "msg_a", ReplayWindow - time.Second, key, ReasonReplay},
		{"accepted at 10m", "t1", "msg_a", ReplayWindow, key, ""},
		{"then refused again", "t1", "msg_a", ReplayWindow + time.Second, key, ReasonReplay},
	}
	for _, s := range steps {
		err := send(s.tenant, s.id, t0.Add(s.at), s.key)
		if s.want == "" && err != nil || s.want != "" && ReasonOf(err) != s.want {
			t.Fatalf("%s: err = %v, want reason %q", s.name, err, s.want)
		}
	}

	// A guard failure is not a 401.
	boom := errors.New("boom")
	ts := strconv.FormatInt(t0.Unix(), 10)
	h := stdHeader("msg_x", ts, "v1,"+stdMAC(key, "msg_x", ts, body))
	_, err := CheckStandard(ctx, failingGuard{boom}, "t1", secrets, h, body, t0)
	if !errors.Is(err, boom) || errors.Is(err, ErrUnauthorized) {
		t.Fatalf("guard failure: %v", err)
	}
	if _, err := CheckStandard(ctx, nil, "t1", secrets, h, body, t0); err == nil || errors.Is(err, ErrUnauthorized) {
		t.Fatalf("nil guard: %v", err)
	}
	// Verification comes first: a bad request never reaches the guard.
	if _, err := CheckStandard(ctx, failingGuard{boom}, "t1", secrets, stdHeader("msg_x", ts, "v1,AAAA"), body, t0); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("bad request with failing guard: %v", err)
	}
}

type failingGuard struct{ err error }

func (g failingGuard) Seen(context.Context, string, string, time.Time) (bool, error) {
	return false, g.err
}

// TestMemoryReplayGuardForget: a forgotten id is new again; the others
// stay; forgetting an unknown id does nothing.
func TestMemoryReplayGuardForget(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	g := NewMemoryReplayGuard(time.Minute, 10)
	t0 := time.Unix(1_900_000_000, 0)
	for _, id := range []string{"a", "b"} {
		if seen, _ := g.Seen(ctx, "t1", id, t0); seen {
			t.Fatalf("first use of %s refused", id)
		}
	}
	g.Forget(ctx, "t1", "a")
	g.Forget(ctx, "t2", "b") // another tenant's: nothing
	g.Forget(ctx, "t1", "zzz")
	if g.Len() != 1 {
		t.Fatalf("%d ids remembered, want 1", g.Len())
	}
	if seen, _ := g.Seen(ctx, "t1", "a", t0.Add(time.Second)); seen {
		t.Error("forgotten id refused")
	}
	if seen, _ := g.Seen(ctx, "t1", "b", t0.Add(time.Second)); !seen {
		t.Error("the id not forgotten was accepted again")
	}
}

func TestMemoryReplayGuard(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t0 := time.Unix(1_900_000_000, 0)
	seen := func(g *MemoryReplayGuard, tenant, id string, at time.Time) bool {
		t.Helper()
		ok, err := g.Seen(ctx, tenant, id, at)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}

	g := NewMemoryReplayGuard(0, 0)
	if g.window != ReplayWindow || g.max <= 0 {
		t.Fatalf("defaults: window %v, max %d", g.window, g.max)
	}
	if seen(g, "t", "a", t0) {
		t.Fatal("new id seen")
	}
	if !seen(g, "t", "a", t0.Add(ReplayWindow-time.Nanosecond)) {
		t.Fatal("id not seen just inside the window")
	}
	// The refused replay did not renew the record.
	if seen(g, "t", "a", t0.Add(ReplayWindow)) {
		t.Fatal("id still seen at the window's end")
	}
	// Tenants do not share ids, and "t\x00a" style keys do not collide.
	if seen(g, "t2", "a", t0) || seen(g, "t", "b", t0) {
		t.Fatal("ids shared across tenants")
	}

	// TTL eviction by the injected clock.
	g = NewMemoryReplayGuard(time.Minute, 10)
	for i := range 5 {
		seen(g, "t", strconv.Itoa(i), t0.Add(time.Duration(i)*time.Second))
	}
	if g.Len() != 5 {
		t.Fatalf("len = %d", g.Len())
	}
	seen(g, "t", "x", t0.Add(time.Minute+2*time.Second)) // evicts 0, 1, 2
	if g.Len() != 3 {
		t.Fatalf("after expiry len = %d, want 3", g.Len())
	}
	seen(g, "t", "y", t0.Add(time.Hour))
	if g.Len() != 1 {
		t.Fatalf("after an hour len = %d, want 1", g.Len())
	}

	// Bounded: the oldest goes first.
	g = NewMemoryReplayGuard(time.Hour, 3)
	for _, id := range []string{"a", "b", "c", "d"} {
		seen(g, "t", id, t0)
	}
	if g.Len() != 3 {
		t.Fatalf("bounded len = %d", g.Len())
	}
	if !seen(g, "t", "d", t0) || !seen(g, "t", "b", t0) {
		t.Fatal("recent ids forgotten")
	}
	if seen(g, "t", "a", t0) {
		t.Fatal("oldest id not evicted")
	}

	// Concurrent deliveries of one id: exactly one is new.
	g = NewMemoryReplayGuard(0, 0)
	var fresh atomic.Int32
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			ok, err := g.Seen(ctx, "t", "same", t0)
			if err != nil {
				t.Error(err)
			}
			if !ok {
				fresh.Add(1)
			}
		})
	}
	wg.Wait()
	if fresh.Load() != 1 {
		t.Fatalf("%d concurrent deliveries accepted, want 1", fresh.Load())
	}
}

func TestVerifyHMAC(t *testing.T) {
	t.Parallel()
	oldSecret, oldKey := mustSecret(t, ModeHMAC)
	_, newKey := mustSecret(t, ModeHMAC)
	_, otherKey := mustSecret(t, ModeHMAC)
	if string(oldKey) != oldSecret {
		t.Fatal("hmac key is not the whole secret string")
	}
	body := []byte(`{"dev_eui":"00-11-22-33-44-55-66-77","f_cnt":3,"occupied":true}`)
	good := hexMAC(newKey, body)
	both := [][]byte{oldKey, newKey}
	sig := func(v ...string) http.Header {
		h := http.Header{}
		for _, s := range v {
			h.Add("X-Webhook-Signature", s)
		}
		return h
	}
	cases := []struct {
		name    string
		secrets [][]byte
		h       http.Header
		body    []byte
		want    Reason
	}{
		{"prefixed", [][]byte{newKey}, sig("sha256=" + good), body, ""},
		{"bare", [][]byte{newKey}, sig(good), body, ""},
		{"uppercase hex", [][]byte{newKey}, sig("sha256=" + strings.ToUpper(good)), body, ""},
		{"uppercase prefix", [][]byte{newKey}, sig("SHA256=" + good), body, ""},
		{"mixed case bare", [][]byte{newKey}, sig(strings.ToUpper(good[:32]) + good[32:]), body, ""},
		{"surrounding spaces", [][]byte{newKey}, sig("  sha256=" + good + " "), body, ""},
		{"lower-case header name", [][]byte{newKey}, http.Header{"X-Webhook-Signature": {good}}, body, ""},
		{"rotation new", both, sig("sha256=" + good), body, ""},
		{"rotation old still valid", both, sig("sha256=" + hexMAC(oldKey, body)), body, ""},
		{"old removed", [][]byte{newKey}, sig(hexMAC(oldKey, body)), body, ReasonMismatch},
		{"wrong secret", [][]byte{otherKey}, sig(good), body, ReasonMismatch},
		{"body changed", both, sig(good), append(body, '\n'), ReasonMismatch},
		{"empty body", both, sig(good), nil, ReasonMismatch},
		{"keyed with decoded bytes is wrong", both, sig(hexMAC(oldKey[len("whmac_"):], body)), body, ReasonMismatch},
		{"missing", both, http.Header{}, body, ReasonMissing},
		{"blank", both, sig(" "), body, ReasonMissing},
		{"prefix only", both, sig("sha256="), body, ReasonMalformed},
		{"sha1 prefix", both, sig("sha1=" + good), body, ReasonMalformed},
		{"not hex", both, sig(strings.Repeat("z", 64)), body, ReasonMalformed},
		{"short", both, sig(good[:62]), body, ReasonMalformed},
		{"long", both, sig(good + "00"), body, ReasonMalformed},
		{"base64", both, sig(base64.StdEncoding.EncodeToString(mustHex(t, good))), body, ReasonMalformed},
		{"repeated header", both, sig(good, good), body, ReasonMalformed},
		{"double prefix", both, sig("sha256=sha256=" + good), body, ReasonMalformed},
		{"no secrets", nil, sig(good), body, ReasonNoSecret},
		{"empty secret fails closed", [][]byte{{}}, sig(hexMAC(nil, body)), body, ReasonNoSecret},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			checkReason(t, VerifyHMAC(tc.secrets, tc.h, tc.body), tc.want)
		})
	}
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestVerifyToken(t *testing.T) {
	t.Parallel()
	oldSecret, oldKey := mustSecret(t, ModeToken)
	newSecret, newKey := mustSecret(t, ModeToken)
	otherSecret, _ := mustSecret(t, ModeToken)
	both := [][]byte{oldKey, newKey}
	hdr := func(kv ...string) http.Header {
		h := http.Header{}
		for i := 0; i < len(kv); i += 2 {
			h.Add(kv[i], kv[i+1])
		}
		return h
	}
	cases := []struct {
		name    string
		secrets [][]byte
		h       http.Header
		want    Reason
	}{
		{"bearer", [][]byte{newKey}, hdr("Authorization", "Bearer "+newSecret), ""},
		{"bearer scheme any case", [][]byte{newKey}, hdr("Authorization", "bearer "+newSecret), ""},
		{"bearer extra spaces", [][]byte{newKey}, hdr("Authorization", "Bearer   "+newSecret+" "), ""},
		{"x-webhook-token", [][]byte{newKey}, hdr("X-Webhook-Token", newSecret), ""},
		{"rotation new", both, hdr("X-Webhook-Token", newSecret), ""},
		{"rotation old still valid", both, hdr("Authorization", "Bearer "+oldSecret), ""},
		{"old removed", [][]byte{newKey}, hdr("Authorization", "Bearer "+oldSecret), ReasonMismatch},
		{"wrong secret", both, hdr("Authorization", "Bearer "+otherSecret), ReasonMismatch},
		{"prefix of secret", both, hdr("Authorization", "Bearer "+newSecret[:20]), ReasonMismatch},
		{"secret plus a byte", both, hdr("X-Webhook-Token", newSecret+"A"), ReasonMismatch},
		{"case changed", both, hdr("X-Webhook-Token", strings.ToUpper(newSecret)), ReasonMismatch},
		{"x-webhook-token wins", both, hdr("X-Webhook-Token", otherSecret, "Authorization", "Bearer "+newSecret), ReasonMismatch},
		{"x-webhook-token with other authorization", both, hdr("X-Webhook-Token", newSecret, "Authorization", "Basic dXNlcjpwYXNz"), ""},
		{"missing", both, http.Header{}, ReasonMissing},
		{"blank token header", both, hdr("X-Webhook-Token", " "), ReasonMissing},
		{"basic auth", both, hdr("Authorization", "Basic "+newSecret), ReasonMalformed},
		{"bearer without token", both, hdr("Authorization", "Bearer"), ReasonMalformed},
		{"bearer blank token", both, hdr("Authorization", "Bearer  "), ReasonMalformed},
		{"raw secret as authorization", both, hdr("Authorization", newSecret), ReasonMalformed},
		{"repeated token header", both, hdr("X-Webhook-Token", newSecret, "X-Webhook-Token", newSecret), ReasonMalformed},
		{"repeated authorization", both, hdr("Authorization", "Bearer "+newSecret, "Authorization", "Bearer "+newSecret), ReasonMalformed},
		{"no secrets", nil, hdr("X-Webhook-Token", newSecret), ReasonNoSecret},
		{"empty secret fails closed", [][]byte{{}}, hdr("Authorization", "Bearer x"), ReasonNoSecret},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			checkReason(t, VerifyToken(tc.secrets, tc.h), tc.want)
		})
	}
}

func TestDetectMode(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		h    http.Header
		want Mode
	}{
		{"standard", stdHeader("msg_1", "1", "v1,x"), ModeStandard},
		{"standard lower-case name", http.Header{"Webhook-Signature": {"v1,x"}}, ModeStandard},
		{"hmac", http.Header{"X-Webhook-Signature": {"sha256=00"}}, ModeHMAC},
		{"token header", http.Header{"X-Webhook-Token": {"anything"}}, ModeToken},
		{"bearer whtok", http.Header{"Authorization": {"Bearer whtok_abc"}}, ModeToken},
		{"bearer lower-case scheme", http.Header{"Authorization": {"bearer whtok_abc"}}, ModeToken},
		{"standard wins over hmac", http.Header{"Webhook-Signature": {"v1,x"}, "X-Webhook-Signature": {"00"}}, ModeStandard},
		{"hmac wins over token", http.Header{"X-Webhook-Signature": {"00"}, "X-Webhook-Token": {"t"}}, ModeHMAC},
		{"bearer other token", http.Header{"Authorization": {"Bearer park_abc_def"}}, ""},
		{"basic", http.Header{"Authorization": {"Basic whtok_abc"}}, ""},
		{"nothing", http.Header{"Content-Type": {"application/json"}}, ""},
		{"webhook-id alone", http.Header{"Webhook-Id": {"msg_1"}}, ""},
	}
	for _, tc := range cases {
		got, ok := DetectMode(tc.h)
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("%s: DetectMode = %q, %v; want %q", tc.name, got, ok, tc.want)
		}
	}
}

func TestVerifyErrorShape(t *testing.T) {
	t.Parallel()
	err := VerifyToken(nil, http.Header{})
	var ve *VerifyError
	if !errors.As(err, &ve) || ve.Reason != ReasonMissing || !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("err = %#v", err)
	}
	if err.Error() != "ingest: unauthorized (missing)" {
		t.Fatalf("message %q", err.Error())
	}
	if ReasonOf(nil) != "" || ReasonOf(errors.New("x")) != "" || ReasonOf(ErrUnauthorized) != "" {
		t.Fatal("ReasonOf of a non-VerifyError")
	}
}

// FuzzVerifyHMAC: no panic, and acceptance only with the hex HMAC of the
// body under a usable key present in the header.
func FuzzVerifyHMAC(f *testing.F) {
	_, key := mustSecret(f, ModeHMAC)
	body := []byte(`{"dev_eui":"0011223344556677","f_cnt":1}`)
	f.Add(key, "sha256="+hexMAC(key, body), body)
	f.Add(key, strings.ToUpper(hexMAC(key, body)), body)
	f.Add([]byte{}, hexMAC(nil, body), body)
	f.Add([]byte("short"), "sha256="+hexMAC([]byte("short"), body), body)
	f.Add(key, "sha256=", []byte{})
	fixed := []byte("whmac_fixed-second-secret-for-the-fuzzer-000000000")
	f.Fuzz(func(t *testing.T, key []byte, sig string, body []byte) {
		h := http.Header{}
		h.Set("X-Webhook-Signature", sig)
		secrets := [][]byte{key, fixed}
		err := VerifyHMAC(secrets, h, body)
		if err != nil {
			if !errors.Is(err, ErrUnauthorized) || ReasonOf(err) == "" {
				t.Fatalf("error %v is not a VerifyError", err)
			}
			return
		}
		lower := strings.ToLower(sig)
		for _, k := range secrets {
			if len(k) >= MinVerifyKeyLen && strings.Contains(lower, hexMAC(k, body)) {
				return
			}
		}
		t.Fatalf("accepted %q without a valid MAC", sig)
	})
}

// FuzzVerifyStandard: no panic, and acceptance only with a v1 entry that is
// the HMAC of id.timestamp.body under a usable key, inside the tolerance.
func FuzzVerifyStandard(f *testing.F) {
	_, key := mustSecret(f, ModeStandard)
	body := []byte(`{"f_cnt":1}`)
	const now = 1_900_000_000
	ts := strconv.Itoa(now)
	f.Add("msg_1", ts, "v1,"+stdMAC(key, "msg_1", ts, body), body, key, int64(now))
	f.Add("msg_1", ts, "v2,x v1,"+stdMAC(key, "msg_1", ts, body)+" v1,AAAA", body, key, int64(now+300))
	f.Add("msg_1", ts, "v1,"+stdMAC(key, "msg_1", ts, body), body, key, int64(now-301))
	f.Add("msg.1", "1", "v1,"+stdMAC(nil, "msg.1", "1", body), body, []byte{}, int64(1))
	f.Add("", "", "", []byte{}, []byte{}, int64(0))
	f.Fuzz(func(t *testing.T, id, ts, sig string, body, key []byte, nowUnix int64) {
		h := http.Header{}
		h.Set("webhook-id", id)
		h.Set("webhook-timestamp", ts)
		h.Set("webhook-signature", sig)
		got, err := VerifyStandard([][]byte{key}, h, body, time.Unix(nowUnix, 0))
		if err != nil {
			if !errors.Is(err, ErrUnauthorized) || ReasonOf(err) == "" || got != "" {
				t.Fatalf("failure %v returned id %q", err, got)
			}
			return
		}
		id, ts = strings.TrimSpace(id), strings.TrimSpace(ts)
		if got != id || id == "" || strings.Contains(id, ".") {
			t.Fatalf("accepted id %q (header %q)", got, id)
		}
		n, perr := strconv.ParseInt(ts, 10, 64)
		if perr != nil || n-nowUnix > 300 || nowUnix-n > 300 {
			t.Fatalf("accepted timestamp %q at %d", ts, nowUnix)
		}
		if len(key) < MinVerifyKeyLen {
			t.Fatalf("accepted with a %d-byte key", len(key))
		}
		want := "v1," + stdMAC(key, id, ts, body)
		for _, e := range strings.Fields(sig) {
			if e == want {
				return
			}
		}
		t.Fatalf("accepted %q without a valid MAC", sig)
	})
}

func (failingGuard) Forget(context.Context, string, string) {}
