package parkd

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/parkhq/park/ingest"
	"github.com/parkhq/park/internal/pgtest"
	"github.com/parkhq/park/internal/redistest"
	"github.com/parkhq/park/tenancy"
)

// instance is one `parkd serve` process: the test binary re-executed as
// parkd (reexecEnv), so the two instances share nothing but what a real
// deployment shares — the database and Redis — not even a Go heap.
type instance struct {
	name string
	base string // http://host:port
	log  *logWatcher
	cfg  map[string]any // the "starting" line's config
}

// startInstances starts one parkd serve process per name with e, and waits
// until each has logged its listening address. At cleanup each gets
// SIGTERM and must stop cleanly: exit 0 (a data race found by -race in the
// child would exit 66) and a "stopped" line.
func startInstances(t *testing.T, e env, names ...string) []*instance {
	t.Helper()
	out := make([]*instance, len(names))
	for i, name := range names {
		in := &instance{name: name, log: newLogWatcher()}
		cmd := exec.Command(os.Args[0], "serve")
		cmd.Env = append(os.Environ(), reexecEnv+"=1", "GORACE=atexit_sleep_ms=0")
		for k, v := range e {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
		cmd.Stderr = in.log
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		t.Cleanup(func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case err := <-exited:
				if err != nil {
					t.Errorf("parkd %s did not stop cleanly: %v\n%s", name, err, in.log)
				} else if len(in.log.lines("stopped")) != 1 {
					t.Errorf("parkd %s: no stop line\n%s", name, in.log)
				}
			case <-time.After(time.Minute):
				_ = cmd.Process.Kill()
				<-exited
				t.Errorf("parkd %s did not stop within a minute of SIGTERM", name)
			}
		})
		out[i] = in
	}
	for _, in := range out {
		select {
		case addr := <-in.log.listening:
			in.base = "http://" + addr
		case <-time.After(2 * time.Minute):
			t.Fatalf("parkd %s did not listen; log:\n%s", in.name, in.log)
		}
		starting := in.log.lines("starting")
		if len(starting) != 1 {
			t.Fatalf("parkd %s: starting lines %v", in.name, starting)
		}
		in.cfg, _ = starting[0]["config"].(map[string]any)
	}
	return out
}

// configured returns a duration setting from the instance's starting line.
func (in *instance) configured(t *testing.T, key string) time.Duration {
	t.Helper()
	s, _ := in.cfg[key].(string)
	d, err := time.ParseDuration(s)
	if err != nil {
		t.Fatalf("parkd %s: %s is %v in its starting line", in.name, key, in.cfg[key])
	}
	return d
}

// roundRobin is the load balancer of the test: an httputil.ReverseProxy
// that sends each request to the next instance in turn, appends the
// client's address to X-Forwarded-For as a real balancer does, and names
// the instance that answered in X-Upstream.
func roundRobin(t *testing.T, ins []*instance) string {
	t.Helper()
	targets := make([]*url.URL, len(ins))
	names := map[string]string{}
	for i, in := range ins {
		u, err := url.Parse(in.base)
		if err != nil {
			t.Fatal(err)
		}
		targets[i], names[u.Host] = u, in.name
	}
	var next atomic.Uint64
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(targets[(next.Add(1)-1)%uint64(len(targets))])
			// Append to the inbound X-Forwarded-For, as a balancer behind
			// another proxy does (Rewrite starts from an outbound
			// request without it).
			pr.Out.Header["X-Forwarded-For"] = pr.In.Header["X-Forwarded-For"]
			pr.SetXForwarded()
		},
		ModifyResponse: func(resp *http.Response) error {
			resp.Header.Set("X-Upstream", names[resp.Request.URL.Host])
			return nil
		},
	}
	srv := httptest.NewServer(rp)
	t.Cleanup(srv.Close)
	return srv.URL
}

// several is the shared set-up of TestSeveralInstances.
type several struct {
	db    *pgtest.DB
	ins   []*instance // a, b
	proxy string      // the balancer's URL
	store *tenancy.Store
	ops   *tenancy.Ops
	// redis is the instances' Redis, for inspection.
	redis *redis.Client
}

// multiClientIP is the address the test's clients send in X-Forwarded-For,
// as a proxy in front of the balancer would; the balancer appends its peer
// (127.0.0.1, trusted too), so parkd must take this one.
const multiClientIP = "203.0.113.7"

// answer is one HTTP exchange's outcome.
type answer struct {
	code int
	hdr  http.Header
	body string
	at   time.Time // when the answer had arrived
}

var multiClient = &http.Client{Timeout: 30 * time.Second}

// call sends a request; token is the bearer token, hdr more headers.
func call(t *testing.T, method, url, token, body string, hdr ...string) answer {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("X-Forwarded-For", multiClientIP)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := multiClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	return answer{code: resp.StatusCode, hdr: resp.Header, body: string(b), at: time.Now()}
}

// want fails the test unless the answer has status code, and decodes its
// body into v (if not nil).
func (a answer) want(t *testing.T, what string, code int, v any) {
	t.Helper()
	if a.code != code {
		t.Fatalf("%s: %d %s, want %d", what, a.code, a.body, code)
	}
	if v != nil {
		if err := json.Unmarshal([]byte(a.body), v); err != nil {
			t.Fatalf("%s: %v in %s", what, err, a.body)
		}
	}
}

// register makes a tenant with slug and its owner through the balancer
// and returns the owner's access token and the tenant's id.
func (s *several) register(t *testing.T, slug string) (string, uuid.UUID) {
	t.Helper()
	var reg struct {
		AccessToken string         `json:"access_token"`
		Tenant      tenancy.Tenant `json:"tenant"`
	}
	call(t, "POST", s.proxy+"/api/v1/auth/register", "",
		`{"user":{"email":"owner@`+slug+`.example","name":"Owner","password":"password123"},"tenant":{"name":"T","slug":"`+slug+`"}}`).
		want(t, "register "+slug, 201, &reg)
	return reg.AccessToken, reg.Tenant.ID
}

// metric sums the samples of name whose labels contain match (a
// `label="value"` text, or "" for every sample) on the instance's /metrics.
func (in *instance) metric(t *testing.T, name, match string) float64 {
	t.Helper()
	a := call(t, "GET", in.base+"/metrics", "", "")
	if a.code != 200 {
		t.Fatalf("parkd %s /metrics: %d", in.name, a.code)
	}
	var sum float64
	sc := bufio.NewScanner(strings.NewReader(a.body))
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		if !strings.Contains(line, match) {
			continue
		}
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err != nil {
			t.Fatalf("parkd %s: metric line %q: %v", in.name, line, err)
		}
		sum += v
	}
	return sum
}

// poll calls cond every interval until it returns true or the deadline
// passes, and reports whether it did.
func poll(deadline time.Time, interval time.Duration, cond func() bool) bool {
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(interval)
	}
}

// TestSeveralInstances runs two parkd serve processes on one database and
// one Redis behind a round-robin balancer, and checks what makes parkd
// stateless: the per-tenant limit is one limit across instances, a removed
// member is refused by both within the authorization cache TTL, an
// idempotency key used on one replays on the other, a webhook secret
// rotated through one is honoured by the other and the old one refused
// after its grace, a replayed signed webhook is refused by both, and the
// retention maintenance runs once across them. The subtests share the
// instances and run in parallel. docs/scaling.md cites them by name.
func TestSeveralInstances(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	rs := redistest.New(t)
	e := serveEnv(db.ServerURL)
	// Timeouts generous enough for a loaded machine under -race: a Redis
	// call that timed out would fall back to per-instance limits, and the
	// limit checked below would no longer be the shared one.
	e["PARKD_REDIS_URL"] = rs.URL() + "?dial_timeout=2s&read_timeout=2s&write_timeout=2s&pool_timeout=2s"
	e["PARKD_REGISTRATION"] = "open"
	e["PARKD_TRUSTED_PROXIES"] = "127.0.0.1/32"
	e["PARKD_AUTH_CACHE_TTL"] = "2s"
	e["PARKD_MAINTENANCE_INTERVAL"] = "1s"
	s := &several{db: db, redis: rs.Client(t), ins: startInstances(t, e, "a", "b")}
	s.proxy = roundRobin(t, s.ins)
	s.store = tenancy.NewStore(db.ServerPool(t, 4))
	s.ops = tenancy.NewOps(opsPool(t, db))

	t.Run("SharedTenantLimit", func(t *testing.T) { t.Parallel(); s.sharedTenantLimit(t) })
	t.Run("MemberRemoved", func(t *testing.T) { t.Parallel(); s.memberRemoved(t) })
	t.Run("IdempotencyKey", func(t *testing.T) { t.Parallel(); s.idempotencyKey(t) })
	t.Run("WebhookSecretRotation", func(t *testing.T) { t.Parallel(); s.webhookSecretRotation(t) })
	t.Run("StandardWebhookReplay", func(t *testing.T) { t.Parallel(); s.standardWebhookReplay(t) })
	t.Run("MaintenanceOnce", func(t *testing.T) { t.Parallel(); s.maintenanceOnce(t) })
}

// opsPool is a small pool on the park_admin login, parkctl's, closed when
// the test ends.
func opsPool(t *testing.T, db *pgtest.DB) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(db.OpsURL)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 2
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// sharedTenantLimit: a tenant's API limit, set small by an operator, holds
// for the requests of both instances together: over a measured time t the
// requests admitted are at most burst + rate × t (+1 for the boundary),
// where two separate limits would admit about twice that. Both instances
// admit and refuse, and both see the client's address through the
// balancer's X-Forwarded-For.
func (s *several) sharedTenantLimit(t *testing.T) {
	const (
		rate  = 2.0
		burst = 10
		run   = 2 * time.Second
	)
	token, tenant := s.register(t, "multi-limit")
	// Set before the tenant's first API request, so no instance holds
	// its default limits.
	if _, err := s.ops.TenantSetLimits(context.Background(), &tenancy.TenantSetLimitsParams{ID: tenant,
		Limits: map[string]*tenancy.Limit{tenancy.LimitAPI: {Rate: rate, Burst: burst}}, Actor: "operator:test"}); err != nil {
		t.Fatal(err)
	}

	type tally struct{ admitted, refused int }
	var (
		mu     sync.Mutex
		per    = map[string]*tally{"a": {}, "b": {}}
		last   time.Time
		failed []string
		wg     sync.WaitGroup
	)
	var sent atomic.Int64
	begin := time.Now()
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// At least the run time, and enough requests to spend the
			// burst several times over even on a slow machine.
			for time.Since(begin) < run || (sent.Load() < 4*burst && time.Since(begin) < 30*time.Second) {
				sent.Add(1)
				req, _ := http.NewRequest("GET", s.proxy+"/api/v1/sites", nil)
				req.Header.Set("Authorization", "Bearer "+token)
				req.Header.Set("X-Forwarded-For", multiClientIP)
				resp, err := multiClient.Do(req)
				if err != nil {
					mu.Lock()
					failed = append(failed, err.Error())
					mu.Unlock()
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				now := time.Now()
				mu.Lock()
				if now.After(last) {
					last = now
				}
				tl := per[resp.Header.Get("X-Upstream")]
				switch {
				case tl == nil:
					failed = append(failed, "no upstream named: "+resp.Header.Get("X-Upstream"))
				case resp.StatusCode == 200:
					tl.admitted++
				case resp.StatusCode == 429:
					tl.refused++
				default:
					failed = append(failed, resp.Status)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(failed) > 0 {
		t.Fatalf("requests failed: %v", failed[:min(5, len(failed))])
	}
	elapsed := last.Sub(begin).Seconds()
	admitted := per["a"].admitted + per["b"].admitted
	bound := burst + rate*elapsed + 1
	t.Logf("%.2f s: a admitted %d refused %d, b admitted %d refused %d; bound %.1f",
		elapsed, per["a"].admitted, per["a"].refused, per["b"].admitted, per["b"].refused, bound)
	if float64(admitted) > bound {
		t.Errorf("%d requests admitted in %.2f s across both instances, more than burst + rate × t + 1 = %.1f "+
			"(Redis errors: a %v, b %v)", admitted, elapsed, bound,
			s.ins[0].metric(t, "park_ratelimit_backend_errors_total", ""), s.ins[1].metric(t, "park_ratelimit_backend_errors_total", ""))
	}
	if admitted < burst {
		t.Errorf("only %d requests admitted, fewer than the burst %d", admitted, burst)
	}
	for name, tl := range per {
		if tl.admitted == 0 || tl.refused == 0 {
			t.Errorf("instance %s admitted %d and refused %d: the balancer did not spread the requests", name, tl.admitted, tl.refused)
		}
	}
	// Each instance took the client's address from the balancer's
	// X-Forwarded-For (the peer, 127.0.0.1, is a trusted proxy).
	for _, in := range s.ins {
		n := 0
		for _, l := range in.log.lines("request") {
			if l["tenant"] != tenant.String() {
				continue
			}
			n++
			if l["client_ip"] != multiClientIP {
				t.Errorf("parkd %s took the client's address as %v, want %s from X-Forwarded-For: %v", in.name, l["client_ip"], multiClientIP, l)
				break
			}
		}
		if n == 0 {
			t.Errorf("parkd %s logged no request of the tenant", in.name)
		}
	}
}

// memberRemoved: a member removed through the tenancy store (as parkctl
// user remove does) is refused by both instances, each asked directly,
// within the configured authorization cache TTL.
func (s *several) memberRemoved(t *testing.T) {
	ctx := context.Background()
	owner, tenant := s.register(t, "multi-member")
	hasher, err := tenancy.NewHasher(4, 0)
	if err != nil {
		t.Fatal(err)
	}
	u, err := s.ops.UserCreate(ctx, hasher, &tenancy.UserCreateParams{Email: "viewer@multi-member.example", Name: "V",
		Password: "password123", Actor: "operator:test"})
	if err != nil {
		t.Fatal(err)
	}
	call(t, "POST", s.proxy+"/api/v1/users", owner, `{"email":"viewer@multi-member.example","role":"viewer"}`).
		want(t, "add the viewer", 201, nil)
	var sess struct {
		AccessToken string `json:"access_token"`
	}
	call(t, "POST", s.proxy+"/api/v1/auth/login", "", `{"email":"viewer@multi-member.example","password":"password123"}`).
		want(t, "viewer login", 200, &sess)
	// Both instances have read (and cached) the membership.
	for _, in := range s.ins {
		call(t, "GET", in.base+"/api/v1/sites", sess.AccessToken, "").want(t, "viewer on "+in.name, 200, nil)
	}

	removing := time.Now()
	if _, err := s.store.MemberSet(ctx, &tenancy.MemberSetParams{TenantID: tenant, UserID: u.ID, Actor: "operator:test",
		Expect: tenancy.MemberExisting}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for _, in := range s.ins {
		ttl := in.configured(t, "auth_cache_ttl")
		if ttl != 2*time.Second {
			t.Fatalf("parkd %s runs with an authorization cache TTL of %s, not the configured 2s", in.name, ttl)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			// The cache entries were filled before the removal began,
			// so they are gone by removing + TTL; the margin is for a
			// loaded machine.
			deadline := removing.Add(ttl + 5*time.Second)
			var last answer
			if !poll(deadline, 50*time.Millisecond, func() bool {
				last = call(t, "GET", in.base+"/api/v1/sites", sess.AccessToken, "")
				return last.code != 200
			}) {
				t.Errorf("parkd %s still serves the removed member %s after the removal (TTL %s)", in.name, time.Since(removing), ttl)
				return
			}
			if last.code != 401 {
				t.Errorf("parkd %s answers the removed member %d %s, want 401", in.name, last.code, last.body)
			}
			t.Logf("parkd %s refused the removed member %s after the removal", in.name, last.at.Sub(removing).Round(time.Millisecond))
		}()
	}
	wg.Wait()
}

// idempotencyKey: an Idempotency-Key used on one instance replays on the
// other (same status, body and Location, Idempotent-Replayed: true), a
// different request with it is refused there, and two concurrent first
// uses on the two instances make one reservation, one answer.
func (s *several) idempotencyKey(t *testing.T) {
	token, _ := s.register(t, "multi-idem")
	var site, space struct {
		ID string `json:"id"`
	}
	call(t, "POST", s.proxy+"/api/v1/sites", token, `{"name":"Lot","timezone":"UTC"}`).want(t, "site", 201, &site)
	call(t, "POST", s.proxy+"/api/v1/spaces", token, `{"site_id":"`+site.ID+`","code":"A1"}`).want(t, "space", 201, &space)
	start := time.Now().UTC().Truncate(time.Hour).Add(24 * time.Hour)
	body := func(from, to int) string {
		return fmt.Sprintf(`{"space_id":%q,"starts_at":%q,"ends_at":%q}`, space.ID,
			start.Add(time.Duration(from)*time.Hour).Format(time.RFC3339), start.Add(time.Duration(to)*time.Hour).Format(time.RFC3339))
	}
	a, b := s.ins[0], s.ins[1]

	first := call(t, "POST", a.base+"/api/v1/reservations", token, body(0, 1), "Idempotency-Key", "k-multi-1")
	first.want(t, "first use on a", 201, nil)
	if first.hdr.Get("Idempotent-Replayed") != "" {
		t.Errorf("the first answer is marked replayed")
	}
	again := call(t, "POST", b.base+"/api/v1/reservations", token, body(0, 1), "Idempotency-Key", "k-multi-1")
	if again.code != first.code || again.body != first.body || again.hdr.Get("Location") != first.hdr.Get("Location") ||
		again.hdr.Get("Idempotent-Replayed") != "true" {
		t.Errorf("replay on b: %d %q %s Location %q, want a's %d %s Location %q replayed",
			again.code, again.hdr.Get("Idempotent-Replayed"), again.body, again.hdr.Get("Location"),
			first.code, first.body, first.hdr.Get("Location"))
	}
	call(t, "POST", b.base+"/api/v1/reservations", token, body(0, 2), "Idempotency-Key", "k-multi-1").
		want(t, "the key with another request on b", 422, nil)

	// Both instances at once with a new key: one decides, the other
	// waits for it and gives its answer.
	var both [2]answer
	var wg sync.WaitGroup
	for i, in := range s.ins {
		wg.Add(1)
		go func() {
			defer wg.Done()
			both[i] = call(t, "POST", in.base+"/api/v1/reservations", token, body(3, 4), "Idempotency-Key", "k-multi-2")
		}()
	}
	wg.Wait()
	replayed := 0
	for _, x := range both {
		if x.hdr.Get("Idempotent-Replayed") == "true" {
			replayed++
		}
	}
	if both[0].code != 201 || both[0].body != both[1].body || replayed != 1 {
		t.Errorf("concurrent first uses: a %d %s, b %d %s; %d replayed, want the same 201 once replayed",
			both[0].code, both[0].body, both[1].code, both[1].body, replayed)
	}
	var list struct {
		Items []json.RawMessage `json:"items"`
	}
	call(t, "GET", s.proxy+"/api/v1/reservations", token, "").want(t, "list", 200, &list)
	if len(list.Items) != 2 {
		t.Errorf("%d reservations, want 2 (one per key)", len(list.Items))
	}
}

// webhookSecretRotation: a token-mode webhook secret rotated through
// instance a with a short grace is honoured by b at once; the old secret
// keeps working on b until the grace ends and is refused there within the
// grace plus the webhook authentication cache's lifetime.
func (s *several) webhookSecretRotation(t *testing.T) {
	const (
		grace    = 4 * time.Second
		cacheTTL = 5 * time.Second // ingest.DefaultAuthCacheTTL
	)
	token, _ := s.register(t, "multi-hook")
	a, b := s.ins[0], s.ins[1]
	var n atomic.Int64
	uplink := func(in *instance, secret string) answer {
		i := n.Add(1)
		return call(t, "POST", in.base+"/api/v1/webhooks/uplink/multi-hook", secret,
			fmt.Sprintf(`{"dev_eui":"c0ffee%010x","f_cnt":%d,"id":"m%d"}`, i, i, i))
	}
	ok := func(x answer) bool { return x.code == 200 || x.code == 202 }

	var old, fresh struct {
		Secret string `json:"secret"`
	}
	call(t, "POST", a.base+"/api/v1/webhook-secrets", token, `{"mode":"token"}`).want(t, "first secret", 201, &old)
	for _, in := range s.ins {
		if x := uplink(in, old.Secret); !ok(x) {
			t.Fatalf("the first secret on %s: %d %s", in.name, x.code, x.body)
		}
	}

	rotating := time.Now()
	call(t, "POST", a.base+"/api/v1/webhook-secrets", token, fmt.Sprintf(`{"mode":"token","grace":%q}`, grace)).
		want(t, "rotate on a", 201, &fresh)
	if x := uplink(b, fresh.Secret); !ok(x) {
		t.Fatalf("the new secret on b right after the rotation: %d %s", x.code, x.body)
	}
	// The old secret's grace ends no earlier than rotating + grace: an
	// answer that arrived before then must accept it.
	if x := uplink(b, old.Secret); x.at.Before(rotating.Add(grace)) && !ok(x) {
		t.Fatalf("the old secret on b within its grace: %d %s", x.code, x.body)
	}
	var refused answer
	if !poll(rotating.Add(grace+cacheTTL+5*time.Second), 50*time.Millisecond, func() bool {
		refused = uplink(b, old.Secret)
		return !ok(refused)
	}) {
		t.Fatalf("b still accepts the old secret %s after the rotation (grace %s)", time.Since(rotating), grace)
	}
	if refused.code != 401 {
		t.Fatalf("the old secret on b after its grace: %d %s, want 401", refused.code, refused.body)
	}
	if refused.at.Before(rotating.Add(grace)) {
		t.Errorf("b refused the old secret %s after the rotation, before its grace of %s ended", refused.at.Sub(rotating), grace)
	}
	t.Logf("b refused the old secret %s after the rotation (grace %s)", refused.at.Sub(rotating).Round(time.Millisecond), grace)
	// a, which served the rotation, dropped its cached secrets then: it
	// refuses the old one once the grace has ended.
	if x := uplink(a, old.Secret); x.code != 401 {
		t.Errorf("the old secret on a after its grace: %d %s", x.code, x.body)
	}
	for _, in := range s.ins {
		if x := uplink(in, fresh.Secret); !ok(x) {
			t.Errorf("the new secret on %s: %d %s", in.name, x.code, x.body)
		}
	}
}

// standardWebhookReplay: the Standard Webhooks replay window (a
// webhook-id seen in the last 10 minutes) is shared through Redis, so a
// signed request replayed to either instance — the one that took the
// original or the other — is refused (401), and the reading is stored
// once. The replay key is in Redis, under the tenant's hash tag.
func (s *several) standardWebhookReplay(t *testing.T) {
	token, tenant := s.register(t, "multi-replay")
	var site, secret struct {
		ID     string `json:"id"`
		Secret string `json:"secret"`
	}
	call(t, "POST", s.proxy+"/api/v1/sites", token, `{"name":"Lot","timezone":"UTC"}`).want(t, "site", 201, &site)
	call(t, "POST", s.proxy+"/api/v1/spaces", token, `{"site_id":"`+site.ID+`","code":"R1","sensor_eui":"b0000000000000aa"}`).
		want(t, "space", 201, nil)
	call(t, "POST", s.proxy+"/api/v1/webhook-secrets", token, `{"mode":"standard"}`).want(t, "standard secret", 201, &secret)
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret.Secret, "whsec_"))
	if err != nil {
		t.Fatal(err)
	}
	body := `{"dev_eui":"b0000000000000aa","f_cnt":1,"id":"replayed-1","occupied":true}`
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte("msg-replay-1." + ts + "." + body))
	signed := []string{"webhook-id", "msg-replay-1", "webhook-timestamp", ts,
		"webhook-signature", "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))}
	send := func(in *instance) answer {
		return call(t, "POST", in.base+"/api/v1/webhooks/uplink/multi-replay", "", body, signed...)
	}
	a, b := s.ins[0], s.ins[1]
	if x := send(a); x.code != 200 || !strings.Contains(x.body, `"stored"`) {
		t.Fatalf("the signed uplink on a: %d %s", x.code, x.body)
	}
	if x := send(a); x.code != 401 {
		t.Errorf("the replay on a: %d %s, want 401", x.code, x.body)
	}
	if x := send(b); x.code != 401 {
		t.Errorf("the replay on b: %d %s, want 401 (the replay window is shared through Redis)", x.code, x.body)
	}
	if n := b.metric(t, "park_webhook_auth_failures_total", `reason="replay"`); n != 1 {
		t.Errorf("park_webhook_auth_failures_total{reason=\"replay\"} on b = %v, want 1", n)
	}
	if n, err := s.redis.Exists(context.Background(), ingest.ReplayKey(tenant.String(), "msg-replay-1")).Result(); err != nil || n != 1 {
		t.Errorf("the replay key in Redis: %d, %v; want it there", n, err)
	}
	var n int
	if err := s.db.AdminPool(t).QueryRow(context.Background(), `select count(*) from sensor_readings where tenant_id = $1`, tenant).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("%d readings stored, want 1", n)
	}
}

// maintenanceLockKey is the retention maintenance's advisory lock
// (internal/retention's lockKey, "parkmnt"). Should it change, the test
// below fails: the instances prune while the test holds this key.
const maintenanceLockKey int64 = 0x7061726b6d6e74

// maintenanceOnce: both instances run the retention maintenance every
// second, and the work is done once. While the test holds the
// maintenance lock, both instances' runs end busy and nothing is deleted;
// once it lets go, rows past retention seeded for several batches are
// deleted, and the rows counted by both instances together
// (park_pruned_rows_total) are exactly the rows seeded.
func (s *several) maintenanceOnce(t *testing.T) {
	const (
		readings = 2*5000 + 1001 // three batches
		dedupe   = 5000 + 1      // two batches
	)
	ctx := context.Background()
	admin := s.db.AdminPool(t)
	lock, err := admin.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Release()
	if _, err := lock.Exec(ctx, `select pg_advisory_lock($1)`, maintenanceLockKey); err != nil {
		t.Fatal(err)
	}
	locked := true
	defer func() {
		if locked {
			lock.Exec(ctx, `select pg_advisory_unlock($1)`, maintenanceLockKey)
		}
	}()
	busy0 := make([]float64, len(s.ins))
	for i, in := range s.ins {
		busy0[i] = in.metric(t, "park_maintenance_runs_total", `result="busy"`)
	}
	tenant := oldReadings(t, admin, 1, readings)
	if _, err := admin.Exec(ctx, `insert into uplink_dedupe (tenant_id, dev_eui, msg_key, seen_at)
		select $1::uuid, '0011223344556677', 'old:' || g, now() - interval '8 days'
		  from generate_series(1, $2::integer) g`, tenant, dedupe); err != nil {
		t.Fatal(err)
	}
	count := func() (int, int) {
		var r, d int
		if err := admin.QueryRow(ctx, `select (select count(*) from sensor_readings where tenant_id = $1),
			(select count(*) from uplink_dedupe where tenant_id = $1)`, tenant).Scan(&r, &d); err != nil {
			t.Fatal(err)
		}
		return r, d
	}

	// Both instances try while the lock is held: their runs end busy.
	for i, in := range s.ins {
		if !poll(time.Now().Add(20*time.Second), 50*time.Millisecond, func() bool {
			return in.metric(t, "park_maintenance_runs_total", `result="busy"`) > busy0[i]
		}) {
			t.Fatalf("parkd %s ran no busy maintenance while the lock was held: does it take the maintenance lock?", in.name)
		}
	}
	if r, d := count(); r != readings || d != dedupe {
		t.Fatalf("%d readings and %d dedupe rows left while the maintenance lock was held, want all %d and %d", r, d, readings, dedupe)
	}
	if _, err := lock.Exec(ctx, `select pg_advisory_unlock($1)`, maintenanceLockKey); err != nil {
		t.Fatal(err)
	}
	locked = false

	pruned := func() float64 {
		var sum float64
		for _, in := range s.ins {
			sum += in.metric(t, "park_pruned_rows_total", "")
		}
		return sum
	}
	if !poll(time.Now().Add(30*time.Second), 50*time.Millisecond, func() bool {
		r, d := count()
		return r == 0 && d == 0 && pruned() >= readings+dedupe
	}) {
		r, d := count()
		t.Fatalf("%d readings and %d dedupe rows left, %v rows counted as pruned, want none left and %d counted",
			r, d, pruned(), readings+dedupe)
	}
	// One more run on each instance: nothing more is counted.
	runs := make([]float64, len(s.ins))
	for i, in := range s.ins {
		runs[i] = in.metric(t, "park_maintenance_runs_total", "")
	}
	for i, in := range s.ins {
		if !poll(time.Now().Add(20*time.Second), 50*time.Millisecond, func() bool {
			return in.metric(t, "park_maintenance_runs_total", "") > runs[i]
		}) {
			t.Fatalf("parkd %s ran no maintenance after the lock was released", in.name)
		}
	}
	if got := pruned(); got != readings+dedupe {
		t.Errorf("park_pruned_rows_total summed over both instances is %v, want the %d rows seeded", got, readings+dedupe)
	}
	var per []string
	for _, in := range s.ins {
		per = append(per, fmt.Sprintf("%s pruned %v, runs done %v busy %v error %v", in.name,
			in.metric(t, "park_pruned_rows_total", ""), in.metric(t, "park_maintenance_runs_total", `result="done"`),
			in.metric(t, "park_maintenance_runs_total", `result="busy"`), in.metric(t, "park_maintenance_runs_total", `result="error"`)))
		if n := in.metric(t, "park_maintenance_runs_total", `result="error"`); n != 0 {
			t.Errorf("parkd %s: %v failed maintenance runs: %v", in.name, n, in.log.lines("retention"))
		}
	}
	t.Log(strings.Join(per, "; "))
}

// TestAuthCacheTTLConfig: PARKD_AUTH_CACHE_TTL defaults to the longest
// trust the design allows (60 s) and accepts 1s to 60s.
func TestAuthCacheTTLConfig(t *testing.T) {
	t.Parallel()
	cfg, _ := mustLoad(t, ModeServe, nil, validServe())
	if cfg.AuthCacheTTL != time.Minute {
		t.Errorf("default %s, want 60s", cfg.AuthCacheTTL)
	}
	for v, want := range map[string]time.Duration{"1s": time.Second, "2s": 2 * time.Second, "60s": time.Minute, "1m": time.Minute} {
		e := validServe()
		e["PARKD_AUTH_CACHE_TTL"] = v
		if cfg, _ := mustLoad(t, ModeServe, nil, e); cfg.AuthCacheTTL != want {
			t.Errorf("%q: %s, want %s", v, cfg.AuthCacheTTL, want)
		}
	}
	for _, v := range []string{"0", "500ms", "61s", "-1s", "soon"} {
		e := validServe()
		e["PARKD_AUTH_CACHE_TTL"] = v
		if _, _, err := load(t, ModeServe, nil, e); err == nil || !strings.Contains(err.Error(), "PARKD_AUTH_CACHE_TTL") {
			t.Errorf("%q: %v, want an error naming PARKD_AUTH_CACHE_TTL", v, err)
		}
	}
}
