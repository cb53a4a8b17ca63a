package parkd

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/parkhq/park/internal/bootstrap"
	"github.com/parkhq/park/internal/pgtest"
)

func TestMain(m *testing.M) {
	code := pgtest.Main(m)
	stopBenchDB()
	os.Exit(code)
}

// logWatcher collects parkd's JSON log and reports the address of the
// "listening" line.
type logWatcher struct {
	mu        sync.Mutex
	buf       bytes.Buffer
	partial   []byte
	listening chan string
}

func newLogWatcher() *logWatcher { return &logWatcher{listening: make(chan string, 1)} }

func (w *logWatcher) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	w.partial = append(w.partial, p...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			break
		}
		line := w.partial[:i]
		w.partial = w.partial[i+1:]
		var m map[string]any
		if json.Unmarshal(line, &m) == nil && m["msg"] == "listening" {
			select {
			case w.listening <- m["addr"].(string):
			default:
			}
		}
	}
	return len(p), nil
}

func (w *logWatcher) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// lines returns the log lines with msg.
func (w *logWatcher) lines(msg string) []map[string]any {
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(w.String()))
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil && m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// running is a parkd started in process.
type running struct {
	base   string // http://host:port
	cancel context.CancelFunc
	done   chan error
	log    *logWatcher
	stdout *syncWriter
}

type syncWriter struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncWriter) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitFor waits until the output holds want and returns it: a test reads a
// process's lines only once they are there, never on the strength of a
// readiness probe answered in between.
func (s *syncWriter) waitFor(t *testing.T, want string, within time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		out := s.String()
		if strings.Contains(out, want) {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %q within %s in:\n%s", want, within, out)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// start runs parkd with args and e until it listens, and stops it at
// cleanup.
func start(t *testing.T, args []string, e env, timeout time.Duration) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{cancel: cancel, done: make(chan error, 1), log: newLogWatcher(), stdout: &syncWriter{}}
	go func() { r.done <- run(ctx, args, e.get, strings.NewReader(""), r.stdout, r.log) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(time.Minute):
			t.Error("parkd did not stop within a minute of cleanup")
		}
	})
	select {
	case addr := <-r.log.listening:
		r.base = "http://" + addr
	case err := <-r.done:
		r.done <- err // for cleanup
		t.Fatalf("parkd exited before listening: %v\nlog:\n%s", err, r.log)
	case <-time.After(timeout):
		t.Fatalf("parkd not listening after %s; log:\n%s", timeout, r.log)
	}
	return r
}

// stop cancels parkd's context and returns run's result.
func (r *running) stop(t *testing.T) error {
	t.Helper()
	r.cancel()
	select {
	case err := <-r.done:
		r.done <- err // for cleanup
		return err
	case <-time.After(time.Minute):
		t.Fatal("parkd did not stop within a minute")
		return nil
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func serveEnv(dbURL string) env {
	return env{
		"PARKD_DATABASE_URL":     dbURL,
		"PARKD_JWT_SECRET":       testJWT,
		"PARKD_MASTER_KEY":       testMasterKey,
		"PARKD_LISTEN_ADDR":      "127.0.0.1:0",
		"PARKD_BCRYPT_COST":      "4",
		"PARKD_SHUTDOWN_TIMEOUT": "10s",
	}
}

func TestServe(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	p := start(t, []string{"serve"}, serveEnv(db.ServerURL), time.Minute)

	if code, body := get(t, p.base+"/healthz"); code != 200 || strings.TrimSpace(body) != `{"status":"ok"}` {
		t.Fatalf("healthz: %d %s", code, body)
	}
	if code, body := get(t, p.base+"/readyz"); code != 200 {
		t.Fatalf("readyz: %d %s", code, body)
	}
	if code, body := get(t, p.base+"/metrics"); code != 200 || !strings.Contains(body, `park_http_requests_total{method="GET",route="/readyz",status="200"} 1`) ||
		!strings.Contains(body, "go_goroutines") || !strings.Contains(body, `park_password_rehashes_total{result="done"} 0`) {
		t.Fatalf("metrics: %d\n%s", code, body)
	}

	// The database goes away: readiness fails, liveness does not.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := db.Drop(ctx); err != nil {
		t.Fatal(err)
	}
	code, body := get(t, p.base+"/readyz")
	if code != 503 || !strings.Contains(body, `"postgres":"down"`) {
		t.Fatalf("readyz without a database: %d %s", code, body)
	}
	if code, _ := get(t, p.base+"/healthz"); code != 200 {
		t.Fatalf("healthz without a database: %d", code)
	}

	if err := p.stop(t); err != nil {
		t.Fatalf("graceful stop: %v\n%s", err, p.log)
	}
	if len(p.log.lines("stopped")) != 1 {
		t.Fatalf("no stop line:\n%s", p.log)
	}
	// Durations read as durations, in groups too.
	starting, shutting := p.log.lines("starting"), p.log.lines("shutting down")
	if len(starting) != 1 || len(shutting) != 1 {
		t.Fatalf("starting and shutdown lines:\n%s", p.log)
	}
	if cfg, _ := starting[0]["config"].(map[string]any); cfg["dedupe_window"] != "5m0s" || cfg["idempotency_key_ttl"] != "24h0m0s" {
		t.Errorf("durations in the starting line: %v", starting[0])
	}
	if shutting[0]["timeout"] != "10s" {
		t.Errorf("shutdown timeout: %v", shutting[0])
	}
	if _, err := http.Get(p.base + "/healthz"); err == nil {
		t.Fatal("still accepting after shutdown")
	}
	// Nothing secret in the log.
	for _, s := range []string{testJWT, strings.TrimPrefix(testMasterKey, "v2:")} {
		if strings.Contains(p.log.String(), s) {
			t.Fatalf("log contains a secret:\n%s", p.log)
		}
	}
}

// TestServeAnswersOnlyAfterListening pins the order serve keeps: the
// listening callback, where parkd dev prints its lines, runs before any
// request is answered (the connection waits in the listener's queue), so a
// client that got an answer finds every line printed.
func TestServeAnswersOnlyAfterListening(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	cfg, _, err := loadConfig(ModeServe, nil, serveEnv(db.ServerURL).get)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	early := make(chan error, 1)
	addrc := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- serve(ctx, cfg, slog.New(slog.DiscardHandler), func(addr net.Addr) {
			addrc <- addr.String()
			client := &http.Client{Timeout: 300 * time.Millisecond}
			resp, err := client.Get("http://" + addr.String() + "/healthz")
			if err == nil {
				resp.Body.Close()
				early <- fmt.Errorf("/healthz answered %d while the listening callback still ran", resp.StatusCode)
				return
			}
			early <- nil
		})
	}()
	select {
	case err := <-early:
		if err != nil {
			t.Fatal(err)
		}
	case err := <-done:
		t.Fatalf("serve returned before listening: %v", err)
	case <-time.After(time.Minute):
		t.Fatal("serve did not listen within a minute")
	}
	// Once the callback has returned, the queue is served.
	if code, _ := get(t, "http://"+<-addrc+"/healthz"); code != 200 {
		t.Fatalf("healthz after listening: %d", code)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestServeClosesPoolOnShutdown(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	p := start(t, []string{"serve"}, serveEnv(db.ServerURL), time.Minute)
	if code, _ := get(t, p.base+"/readyz"); code != 200 {
		t.Fatal(code)
	}
	sessions := func() int {
		var n int
		err := db.AdminPool(t).QueryRow(context.Background(),
			`select count(*) from pg_stat_activity where datname = $1 and application_name = 'parkd'`, db.Name).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := sessions(); n == 0 {
		t.Fatal("parkd holds no session: the check below proves nothing")
	}
	if err := p.stop(t); err != nil {
		t.Fatal(err)
	}
	// Backends exit asynchronously after the client closes; allow a moment.
	deadline := time.Now().Add(10 * time.Second)
	for sessions() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d parkd sessions left after shutdown", sessions())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestServeDrainsInFlightRequests(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	proxy := newGateProxy(t, db.ServerURL)
	e := serveEnv(proxy.url)
	// The retention run at start would be the first query the closed gate
	// holds, not the probe's; this test is about the probe.
	e["PARKD_MAINTENANCE_INTERVAL"] = "0"
	p := start(t, []string{"serve"}, e, time.Minute)

	// Hold the readiness probe's query in the proxy: the request is in
	// flight until the gate opens.
	proxy.close()
	resc := make(chan int, 1)
	go func() {
		resp, err := http.Get(p.base + "/readyz")
		if err != nil {
			t.Errorf("in-flight request: %v", err)
			resc <- 0
			return
		}
		resp.Body.Close()
		resc <- resp.StatusCode
	}()
	<-proxy.held
	stopped := make(chan error, 1)
	go func() { stopped <- p.stop(t) }()
	// Shutdown has begun once it says so; only then let the query through.
	deadline := time.Now().Add(10 * time.Second)
	for len(p.log.lines("shutting down")) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no shutdown line")
		}
		time.Sleep(5 * time.Millisecond)
	}
	proxy.open()
	if code := <-resc; code != 200 {
		t.Fatalf("in-flight readyz answered %d during shutdown, want 200", code)
	}
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
}

// gateProxy forwards PostgreSQL connections from its own Unix socket to a
// database's; while its gate is closed, client bytes are held back.
type gateProxy struct {
	url  string
	mu   sync.Mutex
	gate chan struct{} // closed = open gate
	held chan struct{} // receives when bytes are held
}

func newGateProxy(t *testing.T, dbURL string) *gateProxy {
	t.Helper()
	cfg, err := pgx.ParseConfig(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	upstream := fmt.Sprintf("%s/.s.PGSQL.%d", cfg.Host, cfg.Port)
	dir, err := os.MkdirTemp("/tmp", "parkd-proxy-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	ln, err := net.Listen("unix", fmt.Sprintf("%s/.s.PGSQL.%d", dir, cfg.Port))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	gp := &gateProxy{gate: make(chan struct{}), held: make(chan struct{}, 1)}
	close(gp.gate)
	u, _ := url.Parse(dbURL)
	q := u.Query()
	q.Set("host", dir)
	u.RawQuery = q.Encode()
	gp.url = u.String()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go gp.forward(c, upstream)
		}
	}()
	return gp
}

func (gp *gateProxy) close() { gp.mu.Lock(); gp.gate = make(chan struct{}); gp.mu.Unlock() }
func (gp *gateProxy) open()  { gp.mu.Lock(); close(gp.gate); gp.mu.Unlock() }

func (gp *gateProxy) forward(client net.Conn, upstream string) {
	defer client.Close()
	server, err := net.Dial("unix", upstream)
	if err != nil {
		return
	}
	defer server.Close()
	go func() { io.Copy(client, server); client.Close() }()
	buf := make([]byte, 32<<10)
	for {
		n, err := client.Read(buf)
		if n > 0 {
			gp.mu.Lock()
			gate := gp.gate
			gp.mu.Unlock()
			select {
			case <-gate:
			default:
				select {
				case gp.held <- struct{}{}:
				default:
				}
				<-gate
			}
			if _, werr := server.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func TestServeRefusesSuperuser(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	e := serveEnv(db.AdminURL)
	var stderr bytes.Buffer
	err := run(context.Background(), []string{"serve"}, e.get, nil, io.Discard, &stderr)
	if err == nil {
		t.Fatal("serve started as a superuser")
	}
	for _, want := range []string{`login role "postgres" is a superuser`, "PARKD_ALLOW_PRIVILEGED_DB_LOGIN=true"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}

	e["PARKD_ALLOW_PRIVILEGED_DB_LOGIN"] = "true"
	p := start(t, []string{"serve"}, e, time.Minute)
	warnings := p.log.lines("database login")
	if len(warnings) != 1 || !strings.Contains(warnings[0]["warning"].(string), "superuser") || warnings[0]["level"] != "WARN" {
		t.Fatalf("warnings: %v\n%s", warnings, p.log)
	}
	if code, _ := get(t, p.base+"/readyz"); code != 200 {
		t.Fatal(code)
	}
}

func TestServeDatabaseDown(t *testing.T) {
	t.Parallel()
	e := serveEnv("postgres:///park?host=/nonexistent-socket-dir&connect_timeout=2")
	err := run(context.Background(), []string{"serve"}, e.get, nil, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "database: connect to database") {
		t.Fatalf("err = %v", err)
	}
}

func TestServeConfigErrorsListed(t *testing.T) {
	t.Parallel()
	err := run(context.Background(), []string{"serve"}, env{"PARKD_BCRYPT_COST": "1"}.get, nil, io.Discard, io.Discard)
	if err == nil {
		t.Fatal("want error")
	}
	for _, want := range []string{"invalid configuration", "PARKD_DATABASE_URL is required", "PARKD_JWT_SECRET is required",
		"PARKD_MASTER_KEY is required", "PARKD_BCRYPT_COST: must be between"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if code := exitCode(err, io.Discard); code != 1 {
		t.Errorf("exit code %d", code)
	}
}

func TestCommandLine(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{args: nil, code: 2, stderr: "Usage:"},
		{args: []string{"nope"}, code: 2, stderr: "Usage:"},
		{args: []string{"help"}, code: 0, stdout: "parkd migrate up"},
		{args: []string{"--help"}, code: 0, stdout: "parkd dev"},
		{args: []string{"serve", "-h"}, code: 0, stderr: "--listen-addr"},
		{args: []string{"serve", "--bogus"}, code: 2, stderr: "flag provided but not defined"},
		{args: []string{"serve", "extra"}, code: 2},
		{args: []string{"migrate"}, code: 2, stderr: "parkd migrate up"},
		{args: []string{"migrate", "down"}, code: 2, stderr: "parkctl migrate"},
		{args: []string{"migrate", "-h"}, code: 0, stderr: "parkd migrate up"},
		{args: []string{"migrate", "up", "-h"}, code: 0, stderr: "--migrate-database-url"},
		{args: []string{"migrate", "up"}, code: 1},
	}
	for _, tt := range tests {
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), tt.args, env{}.get, nil, &stdout, &stderr)
		code := exitCode(err, &stderr)
		if code != tt.code || !strings.Contains(stdout.String(), tt.stdout) || !strings.Contains(stderr.String(), tt.stderr) {
			t.Errorf("parkd %q: exit %d (want %d)\nstdout: %s\nstderr: %s", tt.args, code, tt.code, stdout.String(), stderr.String())
		}
	}
}

func TestMigrateUp(t *testing.T) {
	t.Parallel()
	pgtest.NewDB(t) // the cluster's roles exist
	db := pgtest.NewEmptyDB(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := bootstrap.Run(ctx, db.AdminURL, bootstrap.Options{}); err != nil {
		t.Fatal(err)
	}
	e := env{"PARKD_MIGRATE_DATABASE_URL": db.OpsURL} // park_admin: a park_owner member, as in production
	var stdout bytes.Buffer
	if err := run(ctx, []string{"migrate", "up"}, e.get, nil, &stdout, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout.String(), "applied 00001 00001_tenancy.sql") {
		t.Fatalf("stdout:\n%s", stdout.String())
	}
	stdout.Reset()
	if err := run(ctx, []string{"migrate", "up"}, e.get, nil, &stdout, io.Discard); err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(stdout.String()) != "no pending migrations" {
		t.Fatalf("second run:\n%s", stdout.String())
	}
	// The tables belong to park_owner, not to the login that migrated.
	conn, err := pgx.Connect(ctx, db.AdminURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var owner string
	if err := conn.QueryRow(ctx, `select tableowner from pg_tables where tablename = 'tenants'`).Scan(&owner); err != nil {
		t.Fatal(err)
	}
	if owner != "park_owner" {
		t.Fatalf("tenants owned by %s", owner)
	}
	if err := run(ctx, []string{"migrate", "up"}, env{"PARKD_MIGRATE_DATABASE_URL": db.ServerURL}.get, nil, io.Discard, io.Discard); err == nil {
		t.Fatal("migrate as park_server succeeded")
	} else if !strings.Contains(err.Error(), "park_owner") {
		t.Fatalf("migrate as park_server: %v", err)
	}
}
