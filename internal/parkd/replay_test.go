package parkd

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parkhq/park/ingest"
	"github.com/parkhq/park/internal/pgtest"
	"github.com/parkhq/park/internal/redistest"
)

// TestServeRedisOutageWebhookReplay: parkd with PARKD_REDIS_URL keeps the
// Standard Webhooks replay window in Redis. When Redis dies, signed
// uplinks are still answered — never a 5xx — and replays of what this
// instance accepted, before and during the outage, are still refused
// (401): the check falls back to the instance's own memory, with one
// warning and park_webhook_replay_fallbacks_total counting. When Redis
// returns, the window is kept there again by itself, with one recovery
// line.
func TestServeRedisOutageWebhookReplay(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	rs := redistest.New(t)
	e := serveEnv(db.ServerURL)
	e["PARKD_REDIS_URL"] = rs.URL()
	e["PARKD_REGISTRATION"] = "open"
	in := startInstances(t, e, "solo")[0]

	var reg struct {
		AccessToken string `json:"access_token"`
		Tenant      struct {
			ID string `json:"id"`
		} `json:"tenant"`
	}
	call(t, "POST", in.base+"/api/v1/auth/register", "",
		`{"user":{"email":"owner@replay-outage.example","name":"O","password":"password123"},"tenant":{"name":"T","slug":"replay-outage"}}`).
		want(t, "register", 201, &reg)
	token := reg.AccessToken
	var site, secret struct {
		ID     string `json:"id"`
		Secret string `json:"secret"`
	}
	call(t, "POST", in.base+"/api/v1/sites", token, `{"name":"Lot","timezone":"UTC"}`).want(t, "site", 201, &site)
	call(t, "POST", in.base+"/api/v1/spaces", token, `{"site_id":"`+site.ID+`","code":"R1","sensor_eui":"b0000000000000bb"}`).
		want(t, "space", 201, nil)
	call(t, "POST", in.base+"/api/v1/webhook-secrets", token, `{"mode":"standard"}`).want(t, "standard secret", 201, &secret)
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret.Secret, "whsec_"))
	if err != nil {
		t.Fatal(err)
	}
	fcnt := 0
	type message struct{ id, body string }
	newMessage := func(id string) message {
		fcnt++
		return message{id, fmt.Sprintf(`{"dev_eui":"b0000000000000bb","f_cnt":%d,"id":%q,"occupied":true}`, fcnt, id)}
	}
	send := func(m message) answer {
		ts := strconv.FormatInt(time.Now().Unix(), 10)
		mac := hmac.New(sha256.New, key)
		mac.Write([]byte(m.id + "." + ts + "." + m.body))
		return call(t, "POST", in.base+"/api/v1/webhooks/uplink/replay-outage", "", m.body,
			"webhook-id", m.id, "webhook-timestamp", ts,
			"webhook-signature", "v1,"+base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	}
	accept := func(what string, m message) {
		t.Helper()
		if x := send(m); x.code != 200 || !strings.Contains(x.body, `"stored"`) {
			t.Fatalf("%s: %d %s, want 200 stored", what, x.code, x.body)
		}
	}
	refuse := func(what string, m message) {
		t.Helper()
		if x := send(m); x.code != 401 {
			t.Errorf("%s: %d %s, want 401", what, x.code, x.body)
		}
	}
	inRedis := func(m message) bool {
		n, err := rs.Client(t).Exists(context.Background(), ingest.ReplayKey(reg.Tenant.ID, m.id)).Result()
		return err == nil && n == 1
	}

	before := newMessage("msg-before")
	accept("first delivery, Redis up", before)
	refuse("its replay, Redis up", before)
	if !inRedis(before) {
		t.Fatal("the accepted id is not in Redis")
	}
	if n := in.metric(t, "park_webhook_replay_fallbacks_total", ""); n != 0 {
		t.Errorf("park_webhook_replay_fallbacks_total = %v with Redis up", n)
	}

	rs.Kill()
	during := newMessage("msg-during")
	accept("first delivery, Redis down", during)
	refuse("its replay, Redis down", during)
	refuse("a replay of the message accepted before the outage, Redis down", before)
	if n := in.metric(t, "park_webhook_replay_fallbacks_total", ""); n < 3 {
		t.Errorf("park_webhook_replay_fallbacks_total = %v after three checks during the outage", n)
	}

	rs.Restart() // empty
	var after message
	if !poll(time.Now().Add(30*time.Second), 50*time.Millisecond, func() bool {
		after = newMessage(fmt.Sprintf("msg-after-%d", fcnt))
		accept("first delivery, Redis back", after)
		return inRedis(after)
	}) {
		t.Fatalf("no accepted id in Redis 30s after it returned\n%s", in.log)
	}
	refuse("its replay, Redis back", after)
	refuse("a replay of the message accepted during the outage, Redis back", during)

	// The process writes its log to a pipe: wait for each line to be read
	// before counting.
	for _, msg := range []string{"redis replay guard unavailable, checking webhook ids per instance", "redis replay guard recovered"} {
		poll(time.Now().Add(10*time.Second), 20*time.Millisecond, func() bool { return len(in.log.lines(msg)) > 0 })
		if n := len(in.log.lines(msg)); n != 1 {
			t.Errorf("%q lines: %d, want 1\n%s", msg, n, in.log)
		}
	}
	if n := in.metric(t, "park_uplinks_total", `result="error"`); n != 0 {
		t.Errorf("%v uplinks answered with a server error", n)
	}
}
