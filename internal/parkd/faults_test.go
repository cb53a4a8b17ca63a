package parkd

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
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
	"github.com/jackc/pgx/v5"

	"github.com/parkhq/park/internal/bootstrap"
	"github.com/parkhq/park/internal/pgbouncertest"
	"github.com/parkhq/park/internal/pgtest"
)

// The fault tests run parkd under load (API reads and webhook uplinks from
// several goroutines) and take its database away. Each waits for the
// conditions it asserts with a deadline, never for a fixed time.

// faultRequestTimeout is PARKD_REQUEST_TIMEOUT in the fault tests: short,
// so a request that would hang shows up quickly as one that did not get its
// 503 in time.
const faultRequestTimeout = "2s"

// faultClientTimeout is how long a load client waits for an answer: far
// more than the server needs to give up (twice the request timeout for an
// uplink), so a client timeout means a hang.
const faultClientTimeout = 20 * time.Second

// outcome is one request of the load.
type outcome struct {
	kind       string // "read" or "uplink"
	id         string // the uplink's message id; the X-Request-Id
	start, end time.Time
	wrote      time.Time // when the whole request was written; zero if never
	code       int
	retryAfter string
	ctype      string
	body       string
	err        error
}

// loadGen sends API reads and webhook uplinks from several goroutines
// until stopped, and records every outcome.
type loadGen struct {
	base, webhookToken, accessToken string
	client                          *http.Client

	mu       sync.Mutex
	outcomes []outcome

	stopc    chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup
	seq      atomic.Int64
	inFlight atomic.Int64 // requests written and not yet answered
}

func startLoad(base, webhookToken, accessToken string, readers, writers, sensors int) *loadGen {
	l := &loadGen{base: base, webhookToken: webhookToken, accessToken: accessToken,
		client: &http.Client{Timeout: faultClientTimeout, Transport: &http.Transport{MaxIdleConnsPerHost: readers + writers}},
		stopc:  make(chan struct{})}
	for c := range writers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for i := 0; l.running(); i++ {
				n := l.seq.Add(1)
				id := fmt.Sprintf("u%d-%d", c, n)
				body := fmt.Sprintf(`{"dev_eui":"%s","f_cnt":%d,"id":"%s","occupied":%v}`, sensorEUI((c*7+i)%sensors), n, id, i%2 == 0)
				req, _ := http.NewRequest("POST", l.base+"/api/v1/webhooks/uplink/hooks", strings.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+l.webhookToken)
				l.do("uplink", id, req)
			}
		}()
	}
	for c := range readers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for l.running() {
				id := fmt.Sprintf("r%d-%d", c, l.seq.Add(1))
				req, _ := http.NewRequest("GET", l.base+"/api/v1/sites", nil)
				req.Header.Set("Authorization", "Bearer "+l.accessToken)
				l.do("read", id, req)
			}
		}()
	}
	return l
}

func (l *loadGen) running() bool {
	select {
	case <-l.stopc:
		return false
	default:
		return true
	}
}

func (l *loadGen) do(kind, id string, req *http.Request) {
	req.Header.Set("X-Request-Id", id)
	o := outcome{kind: kind, id: id, start: time.Now()}
	// Written is set by the transport's goroutine, once, before Do returns.
	var wrote atomic.Int64
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
		WroteRequest: func(info httptrace.WroteRequestInfo) {
			if info.Err == nil && wrote.CompareAndSwap(0, time.Now().UnixNano()) {
				l.inFlight.Add(1)
			}
		},
	}))
	resp, err := l.client.Do(req)
	if err == nil {
		b, rerr := io.ReadAll(resp.Body)
		resp.Body.Close()
		o.code, o.retryAfter, o.ctype, o.body, err = resp.StatusCode, resp.Header.Get("Retry-After"), resp.Header.Get("Content-Type"), string(b), rerr
	}
	o.err, o.end = err, time.Now()
	if w := wrote.Swap(-1); w > 0 {
		o.wrote = time.Unix(0, w)
		l.inFlight.Add(-1)
	}
	l.mu.Lock()
	l.outcomes = append(l.outcomes, o)
	l.mu.Unlock()
	if o.code == http.StatusServiceUnavailable || o.code == http.StatusTooManyRequests {
		// A client honouring Retry-After would wait seconds; the load
		// only yields, so the outage sees many requests.
		time.Sleep(5 * time.Millisecond)
	}
}

func (l *loadGen) stop() {
	l.stopOnce.Do(func() { close(l.stopc) })
	l.wg.Wait()
}

func (l *loadGen) snapshot() []outcome {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]outcome(nil), l.outcomes...)
}

// count returns the outcomes of kind with code that started after since.
func (l *loadGen) count(kind string, code int, since time.Time) int {
	n := 0
	for _, o := range l.snapshot() {
		if o.kind == kind && o.code == code && o.err == nil && !o.start.Before(since) {
			n++
		}
	}
	return n
}

// waitUntil polls cond until it holds or within has passed.
func waitUntil(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", within, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// stored returns the message ids of the uplinks answered 2xx "stored".
func stored(os []outcome) []string {
	var ids []string
	for _, o := range os {
		if o.kind == "uplink" && o.err == nil && o.code == 200 && strings.Contains(o.body, `"stored"`) {
			ids = append(ids, o.id)
		}
	}
	return ids
}

// checkAnswers fails the test for every outcome that is not a success, a
// rate limit, or a 503 problem with Retry-After: a 500, another status, or
// no answer at all (a hang or a dropped connection).
func checkAnswers(t *testing.T, os []outcome) {
	t.Helper()
	bad := 0
	for _, o := range os {
		var why string
		switch {
		case o.err != nil:
			why = "no answer: " + o.err.Error()
		case o.code >= 200 && o.code < 300, o.code == http.StatusTooManyRequests:
		case o.code == http.StatusServiceUnavailable:
			if o.retryAfter == "" || o.ctype != "application/problem+json" {
				why = fmt.Sprintf("503 without Retry-After or problem+json (%q, %q)", o.retryAfter, o.ctype)
			}
		default:
			why = fmt.Sprintf("status %d", o.code)
		}
		if why != "" {
			if bad < 10 {
				t.Errorf("%s %s after %s: %s %s", o.kind, o.id, o.end.Sub(o.start).Round(time.Millisecond), why, strings.TrimSpace(o.body))
			}
			bad++
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d requests answered wrongly", bad, len(os))
	}
}

// checkStored fails the test for every acknowledged uplink that is not in
// sensor_readings. It reads through a connection of its own, made now: the
// test's pools may hold connections the outage broke.
func checkStored(t *testing.T, db *pgtest.DB, tenant uuid.UUID, acked []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, db.AdminURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var missing []string
	if err := conn.QueryRow(ctx,
		`select coalesce(array_agg(k), '{}') from unnest($1::text[]) k
		  where not exists (select 1 from sensor_readings r where r.tenant_id = $2 and r.msg_key = k)`,
		acked, tenant).Scan(&missing); err != nil {
		t.Fatal(err)
	}
	if len(missing) > 0 {
		t.Errorf("%d of %d acknowledged uplinks are not in sensor_readings: %v", len(missing), len(acked), missing[:min(10, len(missing))])
	}
}

// register opens a tenant through the API and returns an access token.
func register(t *testing.T, base, slug string) string {
	t.Helper()
	code, body := rlPost(t, base+"/api/v1/auth/register",
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
	return sess.AccessToken
}

func faultEnv(dbURL string) env {
	e := serveEnv(dbURL)
	e["PARKD_REGISTRATION"] = "open"
	e["PARKD_REQUEST_TIMEOUT"] = faultRequestTimeout
	return e
}

// TestServeDatabaseOutage takes the database away from a parkd under load
// and brings it back, three ways: PostgreSQL stopped and started (parkd
// connected directly), PgBouncer stopped and started (parkd through it),
// and PostgreSQL stopped and started behind PgBouncer. In each, while the
// database is away every request is answered 503 with Retry-After (no 500,
// no hang); afterwards parkd serves again by itself; and every uplink
// answered "stored" at any point is in sensor_readings.
func TestServeDatabaseOutage(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		bouncer  bool
		faultyPG bool // the fault is PostgreSQL's; else PgBouncer's
	}{
		{name: "postgres", faultyPG: true},
		{name: "pgbouncer", bouncer: true},
		{name: "postgres-behind-pgbouncer", bouncer: true, faultyPG: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var (
				db          *pgtest.DB
				down, up    func()
				databaseURL string
			)
			if tc.faultyPG {
				p := pgtest.NewPrivate(t)
				db, down, up = p.DB, p.Stop, p.Start
			} else {
				db = pgtest.NewDB(t)
			}
			databaseURL = db.ServerURL
			if tc.bouncer {
				b := pgbouncertest.New(t, db)
				// No exec mode in the URL: parkd must notice PgBouncer.
				databaseURL = withoutParam(t, b.URL(pgbouncertest.Wide, bootstrap.RoleServer), "default_query_exec_mode")
				if !tc.faultyPG {
					down = func() {
						if err := b.Stop(); err != nil {
							t.Fatal(err)
						}
					}
					up = func() {
						ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
						defer cancel()
						if err := b.Start(ctx); err != nil {
							t.Fatal(err)
						}
					}
				}
			}
			f := newIngestFixture(t, db, 50)
			p := start(t, []string{"serve"}, faultEnv(databaseURL), time.Minute)
			access := register(t, p.base, "reader")
			if tc.bouncer && len(p.log.lines("database reached through a connection pooler; using exec mode (no prepared statements)")) != 1 {
				t.Errorf("parkd did not say it found PgBouncer:\n%s", p.log)
			}

			l := startLoad(p.base, f.token, access, 3, 5, 50)
			defer l.stop()
			begin := time.Now()
			waitUntil(t, time.Minute, "30 uplinks stored and 10 reads answered before the outage", func() bool {
				return l.count("uplink", 200, begin) >= 30 && l.count("read", 200, begin) >= 10
			})

			down()
			stopped := time.Now()
			waitUntil(t, 30*time.Second, "5 reads and 5 uplinks answered 503 during the outage", func() bool {
				return l.count("read", 503, stopped) >= 5 && l.count("uplink", 503, stopped) >= 5
			})
			if code, body := get(t, p.base+"/readyz"); code != 503 || !strings.Contains(body, `"postgres":"down"`) {
				t.Errorf("readyz during the outage: %d %s", code, body)
			}

			up()
			started := time.Now()
			waitUntil(t, 30*time.Second, "parkd serving reads and storing uplinks again after the restart", func() bool {
				return l.count("uplink", 200, started) >= 10 && l.count("read", 200, started) >= 5
			})
			l.stop()

			os := l.snapshot()
			checkAnswers(t, os)
			if t.Failed() {
				for _, line := range p.log.lines("request") {
					if code, _ := line["status"].(float64); code != 200 && code != 503 {
						t.Logf("parkd: %v", line)
					}
				}
			}
			acked := stored(os)
			checkStored(t, db, f.tenant, acked)
			if code, body := get(t, p.base+"/readyz"); code != 200 {
				t.Errorf("readyz after the restart: %d %s", code, body)
			}
			t.Logf("%v, %d uplinks stored; load %v, outage %v, recovery %v",
				histogram(os), len(acked), stopped.Sub(begin).Round(time.Millisecond),
				started.Sub(stopped).Round(time.Millisecond), time.Since(started).Round(time.Millisecond))
		})
	}
}

// histogram counts the outcomes by kind and status ("uplink 503": 12).
func histogram(os []outcome) map[string]int {
	h := map[string]int{}
	for _, o := range os {
		k := fmt.Sprintf("%s %d", o.kind, o.code)
		if o.err != nil {
			k = o.kind + " error"
		}
		h[k]++
	}
	return h
}

func countCode(os []outcome, code int) int {
	n := 0
	for _, o := range os {
		if o.err == nil && o.code == code {
			n++
		}
	}
	return n
}

// withoutParam removes the query parameter key from the URL raw.
func withoutParam(t *testing.T, raw, key string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Del(key)
	u.RawQuery = q.Encode()
	return u.String()
}

// TestServeSIGTERMUnderLoad sends SIGTERM to a parkd process in the middle
// of a load of API reads and uplinks, at a moment when every load client
// has a request in flight (the database traffic is held back until
// shutdown has begun). Every request the server started is answered, and
// with what its log line says; the requests in flight at the signal finish
// with success; every uplink answered "stored" is in the database; parkd
// exits 0.
func TestServeSIGTERMUnderLoad(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	f := newIngestFixture(t, db, 50)
	proxy := newGateProxy(t, db.ServerURL)

	cmd := exec.Command(os.Args[0], "serve")
	cmd.Env = append(os.Environ(), reexecEnv+"=1", "GORACE=atexit_sleep_ms=0")
	e := faultEnv(proxy.url)
	e["PARKD_REQUEST_TIMEOUT"] = "25s" // the held requests must not time out, however loaded the machine
	e["PARKD_SHUTDOWN_TIMEOUT"] = "30s"
	for k, v := range e {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	logs := newLogWatcher()
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	var base string
	select {
	case addr := <-logs.listening:
		base = "http://" + addr
	case err := <-exited:
		t.Fatalf("parkd exited before listening: %v\n%s", err, logs)
	case <-time.After(2 * time.Minute):
		t.Fatalf("parkd did not listen; log:\n%s", logs)
	}
	access := register(t, base, "reader")

	const readers, writers = 3, 5
	l := startLoad(base, f.token, access, readers, writers, 50)
	defer l.stop()
	begin := time.Now()
	waitUntil(t, time.Minute, "30 uplinks stored and 10 reads answered", func() bool {
		return l.count("uplink", 200, begin) >= 30 && l.count("read", 200, begin) >= 10
	})

	// Hold the database traffic: every client's next request stays in
	// flight in the server.
	proxy.close()
	// A round trip the proxy passed before it closed still completes (an
	// ingest batch is one round trip), and its clients send again: wait
	// until every client has a request in flight and none has finished for
	// a while, so each is held.
	waitUntil(t, 30*time.Second, "every load client with a request written and in flight, none finishing", func() bool {
		before := len(l.snapshot())
		if l.inFlight.Load() != readers+writers {
			return false
		}
		time.Sleep(300 * time.Millisecond)
		return l.inFlight.Load() == readers+writers && len(l.snapshot()) == before
	})
	<-proxy.held
	// A request the client has sent may still wait in the kernel for the
	// server to read it, on a connection the server takes for idle and
	// closes at shutdown; once the server has read every byte, all of
	// them are its own requests.
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	port, err := strconv.Atoi(u.Port())
	if err != nil {
		t.Fatal(err)
	}
	var settled time.Time // every request written before it is parkd's
	waitUntil(t, 30*time.Second, "parkd has read every request sent to it", func() bool {
		now := time.Now()
		if unreadBytes(t, port) != 0 {
			return false
		}
		settled = now
		return true
	})
	signalled := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 30*time.Second, "parkd's shutdown line", func() bool {
		return strings.Contains(logs.String(), `"msg":"shutting down"`)
	})
	proxy.open()

	select {
	case err := <-exited:
		exited <- err // for the cleanup
		if err != nil {
			t.Fatalf("parkd exited with %v after SIGTERM; log:\n%s", err, tail(logs.String(), 30))
		}
	case <-time.After(time.Minute):
		t.Fatalf("parkd still runs a minute after SIGTERM; log:\n%s", tail(logs.String(), 30))
	}
	l.stop()
	if !strings.Contains(logs.String(), `"msg":"stopped"`) {
		t.Errorf("no stopped line:\n%s", tail(logs.String(), 30))
	}

	// What the server says it answered, by request id.
	served := map[string]int{}
	for _, line := range logs.lines("request") {
		id, _ := line["request_id"].(string)
		code, _ := line["status"].(float64)
		served[id] = int(code)
	}
	var started []outcome
	inFlight := 0
	for _, o := range l.snapshot() {
		code, ok := served[o.id]
		switch {
		case !ok && o.err != nil:
			if !o.wrote.IsZero() && o.wrote.Before(settled) {
				t.Errorf("%s %s, in flight at SIGTERM, never reached parkd: %v", o.kind, o.id, o.err)
			}
			continue // refused before the server read it: never started
		case !ok:
			t.Errorf("%s %s answered %d but not in parkd's log", o.kind, o.id, o.code)
		case o.err != nil:
			t.Errorf("%s %s was started by parkd (logged %d) but got no answer: %v", o.kind, o.id, code, o.err)
		case o.code != code:
			t.Errorf("%s %s answered %d, logged %d", o.kind, o.id, o.code, code)
		}
		started = append(started, o)
		if !o.wrote.IsZero() && o.wrote.Before(settled) && o.end.After(signalled) {
			inFlight++
			if o.err != nil || (o.code != 200 && o.code != 429) {
				t.Errorf("%s %s in flight at SIGTERM: %d %v %s", o.kind, o.id, o.code, o.err, o.body)
			}
		}
	}
	// Every client had a request in flight; a few may have been answered
	// 429 without the database (and sent another) before the signal.
	if inFlight < (readers+writers)/2 {
		t.Errorf("%d requests in flight at SIGTERM, want most of %d: the test did not test shutdown under load", inFlight, readers+writers)
		// What each client was doing around the signal, to tell why.
		for _, o := range l.snapshot() {
			if o.end.After(settled.Add(-time.Second)) {
				t.Logf("%s %s wrote %v end %v (relative to settled; signal at %v): %d %v %.80s", o.kind, o.id,
					o.wrote.Sub(settled), o.end.Sub(settled), signalled.Sub(settled), o.code, o.err, o.body)
			}
		}
	}
	checkAnswers(t, started)
	acked := stored(started)
	checkStored(t, db, f.tenant, acked)
	t.Logf("%d requests started, %d in flight at SIGTERM, %d uplinks stored", len(started), inFlight, len(acked))
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// TestServeSlowDatabase injects a lock holder on a site row while the pool
// is small: PATCHes of that site wait on the lock and take every pooled
// connection, so reads wait for a connection too. Every request is answered
// 503 with Retry-After within the request timeout (never a hang), the
// database cancels the waiting statements, and once the lock holder ends
// the same requests succeed without a parkd restart.
func TestServeSlowDatabase(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	e := faultEnv(db.ServerURL + "&pool_max_conns=2")
	e["PARKD_REQUEST_TIMEOUT"] = "1s"
	p := start(t, []string{"serve"}, e, time.Minute)
	access := register(t, p.base, "slow")
	client := &http.Client{Timeout: faultClientTimeout}
	call := func(method, path, body string) outcome {
		req, _ := http.NewRequest(method, p.base+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+access)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		o := outcome{kind: method + " " + path, start: time.Now()}
		resp, err := client.Do(req)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			o.code, o.retryAfter, o.ctype, o.body = resp.StatusCode, resp.Header.Get("Retry-After"), resp.Header.Get("Content-Type"), string(b)
		}
		o.err, o.end = err, time.Now()
		return o
	}
	o := call("POST", "/api/v1/sites", `{"name":"Lot","timezone":"UTC"}`)
	var site struct{ ID string }
	if o.code != 201 || json.Unmarshal([]byte(o.body), &site) != nil {
		t.Fatalf("create site: %d %s", o.code, o.body)
	}
	patch := func(name string) outcome {
		return call("PATCH", "/api/v1/sites/"+site.ID, `{"name":"`+name+`"}`)
	}

	ctx := context.Background()
	admin := db.AdminPool(t)
	holder, err := admin.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Rollback(ctx)
	if _, err := holder.Exec(ctx, "select 1 from sites where id = $1 for update", site.ID); err != nil {
		t.Fatal(err)
	}

	var wg sync.WaitGroup
	var mu sync.Mutex
	var outcomes []outcome
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var o outcome
			if i%2 == 0 {
				o = patch(fmt.Sprintf("Lot %d", i))
			} else {
				o = call("GET", "/api/v1/sites", "")
			}
			mu.Lock()
			outcomes = append(outcomes, o)
			mu.Unlock()
		}()
	}
	wg.Wait()
	for _, o := range outcomes {
		took := o.end.Sub(o.start)
		switch {
		case o.err != nil:
			t.Errorf("%s: no answer after %v: %v", o.kind, took, o.err)
		case o.code == 200 && o.kind == "GET /api/v1/sites":
			// A read that found a free connection between the updates.
		case o.code != 503 || o.retryAfter == "" || o.ctype != "application/problem+json":
			t.Errorf("%s behind the lock: %d Retry-After %q %s", o.kind, o.code, o.retryAfter, o.body)
		case took > 8*time.Second:
			t.Errorf("%s took %v with a 1s request timeout", o.kind, took)
		}
	}
	if n := countCode(outcomes, 503); n < 4 {
		t.Errorf("only %d of 8 requests answered 503 behind the lock", n)
	}
	waitUntil(t, 10*time.Second, "no parkd statement left waiting for the lock", func() bool {
		var n int
		if err := admin.QueryRow(ctx, `select count(*) from pg_stat_activity
			where datname = $1 and application_name = 'parkd' and wait_event_type = 'Lock'`, db.Name).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n == 0
	})

	if err := holder.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "the site updated and listed once the lock holder ended", func() bool {
		return patch("Lot after").code == 200 && call("GET", "/api/v1/sites", "").code == 200
	})
}

// unreadBytes sums the bytes the kernel holds, unread, for the IPv4
// sockets of local port port: the rx_queue column of /proc/net/tcp, for
// the server's accepted connections and those still in its backlog.
func unreadBytes(t *testing.T, port int) int {
	t.Helper()
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		t.Skipf("no /proc/net/tcp to tell what a server has read: %v", err)
	}
	total := 0
	for _, line := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		_, localPort, _ := strings.Cut(f[1], ":")
		lp, err := strconv.ParseUint(localPort, 16, 32)
		if err != nil || int(lp) != port || f[3] == "0A" { // 0A: the listening socket
			continue
		}
		_, rx, _ := strings.Cut(f[4], ":")
		n, err := strconv.ParseUint(rx, 16, 32)
		if err != nil {
			t.Fatalf("/proc/net/tcp: %q", line)
		}
		total += int(n)
	}
	return total
}
