package parkd

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/parkhq/park/internal/pgtest"
	"github.com/parkhq/park/internal/redistest"
	"github.com/parkhq/park/ratelimit"
)

// TestLimitsWiring pins what serve builds its rate limiting from: the
// fail-closed setting reaches the tenant policies (and only them), a
// tenant's limits are trusted for exactly 5 s, the limit-key digests are
// keyed with the JWT secret every instance shares, and with Redis the
// readiness check degrades rather than fails unless fail-closed.
func TestLimitsWiring(t *testing.T) {
	t.Parallel()
	load := func(ctx context.Context, tenant string) (map[string]ratelimit.Override, error) {
		return map[string]ratelimit.Override{ratelimit.NameAPI: {Rate: 7, Burst: 9}}, nil
	}
	for _, closed := range []bool{false, true} {
		for _, redisURL := range []string{"", "redis://127.0.0.1:1/0", "redis://127.0.0.1:1?addr=127.0.0.1:2&addr=127.0.0.1:3"} {
			cfg, _ := mustLoad(t, ModeServe, nil, validServe())
			cfg.RateLimitFailClosed, cfg.RedisURL = closed, redisURL
			l, err := newLimits(cfg, load, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
			if err != nil {
				t.Fatal(err)
			}
			defer l.close()
			if got := l.policies.TTL(); got != 5*time.Second {
				t.Errorf("tenant limits trusted for %v, want 5s", got)
			}
			base := l.policies.Base()
			want := ratelimit.FailLocal
			if closed {
				want = ratelimit.FailClosed
			}
			for _, p := range []ratelimit.Policy{base.API, base.Webhook, base.Orphan} {
				if p.OnOutage != want {
					t.Errorf("fail closed %v: %s fails %v, want %v", closed, p.Name, p.OnOutage, want)
				}
			}
			for _, p := range []ratelimit.Policy{base.LoginEmailIP, base.LoginEmail, base.LoginIP, base.Refresh} {
				if p.OnOutage != ratelimit.FailLocal {
					t.Errorf("fail closed %v: %s fails %v, want local always", closed, p.Name, p.OnOutage)
				}
			}
			if ps, err := l.policies.Get(context.Background(), "t1"); err != nil || ps.API.Rate != 7 || ps.API.Burst != 9 {
				t.Errorf("tenant override not loaded: %+v, %v", ps.API, err)
			}
			if !bytes.Equal(l.keySecret, cfg.JWTSecret) {
				t.Errorf("limit keys are keyed with %q, want the JWT secret", l.keySecret)
			}
			switch {
			case redisURL == "" && len(l.checks) != 0:
				t.Errorf("no Redis, checks %+v", l.checks)
			case redisURL != "" && (len(l.checks) != 1 || l.checks[0].Name != "redis" || l.checks[0].Degrades == closed):
				t.Errorf("fail closed %v: checks %+v, want redis degrading only when fail-open", closed, l.checks)
			}
		}
	}
}

// TestServeRedisOutage runs parkd serve against a Redis that dies under a
// load of API reads and comes back empty: in the default fail-open mode the
// API goes on under in-process limits and /readyz stays 200 reporting Redis
// degraded; with PARKD_RATELIMIT_FAIL_CLOSED the API is refused (429) and
// /readyz is 503. Either way nothing is a 5xx or a hang, and after the
// restart the limiter returns to Redis by itself (one recovery line).
// go-redis's own lines land in parkd's JSON log as debug records, and the
// outage is one warning. Not parallel in its parts: go-redis's logger is
// the process's.
func TestServeRedisOutage(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	for _, closed := range []bool{false, true} {
		name := "fail-open"
		if closed {
			name = "fail-closed"
		}
		t.Run(name, func(t *testing.T) {
			rs := redistest.New(t)
			e := serveEnv(db.ServerURL)
			e["PARKD_REDIS_URL"] = rs.URL()
			e["PARKD_REGISTRATION"] = "open"
			e["PARKD_LOG_LEVEL"] = "debug"
			if closed {
				e["PARKD_RATELIMIT_FAIL_CLOSED"] = "true"
			}
			p := start(t, []string{"serve"}, e, time.Minute)
			slug := strings.TrimPrefix(name, "fail-")
			code, body := rlPost(t, p.base+"/api/v1/auth/register",
				`{"user":{"email":"owner@`+slug+`.example","name":"O","password":"password123"},"tenant":{"name":"T","slug":"`+slug+`"}}`, "")
			if code != 201 {
				t.Fatalf("register: %d %s", code, body)
			}
			var sess struct {
				AccessToken string `json:"access_token"`
			}
			if err := json.Unmarshal([]byte(body), &sess); err != nil {
				t.Fatal(err)
			}
			if code, body := rlGetAuth(t, p.base+"/api/v1/sites", sess.AccessToken); code != 200 {
				t.Fatalf("sites with Redis up: %d %s", code, body)
			}
			if code, body := get(t, p.base+"/readyz"); code != 200 || !strings.Contains(body, `"redis":"ok"`) {
				t.Fatalf("readyz with Redis up: %d %s", code, body)
			}

			// Readers keep going through the outage and the recovery.
			l := startLoad(p.base, "", sess.AccessToken, 3, 0, 1)
			defer l.stop()
			rs.Kill()
			code, body = rlGetAuth(t, p.base+"/api/v1/sites", sess.AccessToken)
			readyCode, readyBody := get(t, p.base+"/readyz")
			if closed {
				if code != 429 {
					t.Errorf("sites during the outage, fail-closed: %d %s, want 429", code, body)
				}
				if readyCode != 503 || !strings.Contains(readyBody, `"redis":"down"`) {
					t.Errorf("readyz during the outage, fail-closed: %d %s, want 503 with redis down", readyCode, readyBody)
				}
			} else {
				if code != 200 {
					t.Errorf("sites during the outage, fail-open: %d %s, want 200", code, body)
				}
				if readyCode != 200 || !strings.Contains(readyBody, `"redis":"degraded"`) || !strings.Contains(readyBody, `"status":"degraded"`) {
					t.Errorf("readyz during the outage, fail-open: %d %s, want 200 with redis degraded", readyCode, readyBody)
				}
			}
			// More requests, more failed dials; still one warning.
			for range 3 {
				rlGetAuth(t, p.base+"/api/v1/sites", sess.AccessToken)
			}

			// Redis comes back, empty: the limiter returns to it by
			// itself (its limits live in Redis again), readiness is ok.
			rs.Restart()
			restarted := time.Now()
			waitUntil(t, 30*time.Second, "readyz ok and reads answered 200 after Redis restarted", func() bool {
				code, body := get(t, p.base+"/readyz")
				return code == 200 && strings.Contains(body, `"redis":"ok"`) && l.count("read", 200, restarted) >= 5
			})
			waitUntil(t, 10*time.Second, "rate-limit keys in the restarted Redis", func() bool {
				n, err := rs.Client(t).DBSize(context.Background()).Result()
				return err == nil && n > 0
			})
			l.stop()
			answers := l.snapshot()
			checkAnswers(t, answers)
			if n := countCode(answers, 503); n > 0 {
				t.Errorf("%d reads answered 503: a Redis outage is never the database's", n)
			}
			if err := p.stop(t); err != nil {
				t.Fatal(err)
			}
			if n := len(p.log.lines("redis limiter unavailable, falling back")); n != 1 {
				t.Errorf("outage warnings: %d, want 1\n%s", n, p.log)
			}
			if n := len(p.log.lines("redis limiter recovered")); n != 1 {
				t.Errorf("recovery lines: %d, want 1\n%s", n, p.log)
			}
			goRedis := p.log.lines("go-redis")
			if len(goRedis) == 0 {
				t.Errorf("no go-redis record in parkd's log: its lines went elsewhere\n%s", p.log)
			}
			for _, r := range goRedis {
				if r["level"] != "DEBUG" {
					t.Errorf("go-redis record above debug: %v", r)
				}
			}
			for _, line := range strings.Split(strings.TrimSpace(p.log.String()), "\n") {
				if !json.Valid([]byte(line)) {
					t.Errorf("not a JSON log line: %q", line)
				}
			}
		})
	}
}

// TestServeRedisCluster runs parkd serve with PARKD_REDIS_URL in the
// cluster form: it limits through the Redis Cluster (a login's keys land
// on the masters that hold their slots, which a client of one node could
// not reach for two slots in three) and /readyz pings every master. (A
// tenant's API key lives only until its quota is full again, 10 ms per
// request: the login keys live seconds.)
func TestServeRedisCluster(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.NewDB(t)
	c := redistest.NewCluster(t, redistest.ClusterOptions{})
	e := serveEnv(db.ServerURL)
	e["PARKD_REDIS_URL"] = c.URL()
	e["PARKD_REGISTRATION"] = "open"
	p := start(t, []string{"serve"}, e, time.Minute)
	code, body := rlPost(t, p.base+"/api/v1/auth/register",
		`{"user":{"email":"owner@cluster.example","name":"O","password":"password123"},"tenant":{"name":"T","slug":"cluster"}}`, "")
	if code != 201 {
		t.Fatalf("register: %d %s", code, body)
	}
	var sess struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal([]byte(body), &sess); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if code, body := rlGetAuth(t, p.base+"/api/v1/sites", sess.AccessToken); code != 200 {
			t.Fatalf("sites: %d %s", code, body)
		}
	}
	if code, body := get(t, p.base+"/readyz"); code != 200 || !strings.Contains(body, `"redis":"ok"`) {
		t.Errorf("readyz: %d %s", code, body)
	}
	if code, body := rlPost(t, p.base+"/api/v1/auth/login", `{"email":"owner@cluster.example","password":"password123"}`, ""); code != 200 {
		t.Fatalf("login: %d %s", code, body)
	}
	var found []string
	for i := range redistest.ClusterSize {
		keys, err := c.Node(i).Client(t).Keys(ctx, "park:rl:*:login_email_ip").Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			if n, err := c.NodeOf(ctx, k); err != nil || n != i {
				t.Errorf("key %s on node %d, its slot's master is %d (%v)", k, i, n, err)
			}
			found = append(found, k)
		}
	}
	if len(found) != 1 {
		t.Fatalf("login_email_ip keys in the cluster: %q, want the login's one", found)
	}
	if err := p.stop(t); err != nil {
		t.Fatal(err)
	}
	if n := len(p.log.lines("redis limiter unavailable, falling back")); n != 0 {
		t.Errorf("%d outage warnings with the cluster up\n%s", n, p.log)
	}
}

func rlGetAuth(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	return rlDo(t, req)
}

func rlPost(t *testing.T, url, body, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return rlDo(t, req)
}

func rlDo(t *testing.T, req *http.Request) (int, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
