package smoke_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parkhq/park/internal/httpapi"
	"github.com/parkhq/park/internal/parkctl/cmdutil"
	"github.com/parkhq/park/internal/parkctl/iostreams"
	"github.com/parkhq/park/internal/parkctl/output"
	"github.com/parkhq/park/internal/parkctl/smoke"
	"github.com/parkhq/park/internal/pgtest"
	"github.com/parkhq/park/tenancy"
)

// TestMain stops the package's test cluster (started on first use by
// pgtest) after the tests.
func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// allSteps are the steps of a passing run, in order.
var allSteps = []string{
	"register", "login", "tenant-current", "site-create", "space-create",
	"apikey-create", "apikey-read", "apikey-write-refused", "apikey-manage-refused",
	"register-second", "isolation-site-list", "isolation-space-list", "isolation-site-get",
	"isolation-space-get", "isolation-space-delete",
	"apikey-revoke", "space-delete", "site-delete", "logout",
}

// parkd is the real API (auth middleware, stores, database) of a test
// database, as parkd serves it with registration open.
type parkd struct {
	h     http.Handler
	admin *pgxpool.Pool
}

func newParkd(t *testing.T) *parkd {
	t.Helper()
	db := pgtest.NewDB(t)
	store := tenancy.NewStore(db.ServerPool(t, 8))
	hasher, err := tenancy.NewHasher(4, 4)
	if err != nil {
		t.Fatal(err)
	}
	tokens, err := tenancy.NewTokens([]byte("smoke-test-jwt-secret-of-32-bytes-or-more"), nil, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	auth, err := tenancy.NewAuth(store, tenancy.AuthConfig{Hasher: hasher, Tokens: tokens})
	if err != nil {
		t.Fatal(err)
	}
	return &parkd{
		h:     httpapi.NewServer(httpapi.Deps{Tenancy: store, Auth: auth, RegistrationOpen: true}),
		admin: db.AdminPool(t),
	}
}

// serve serves h on a local port until the test ends.
func serve(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// recorder wraps a handler and keeps every credential that passes: the
// passwords of registrations and logins, and the tokens and keys of the
// answers and of Authorization headers. No output may contain one.
type recorder struct {
	h       http.Handler
	mu      sync.Mutex
	secrets []string
}

var secretField = regexp.MustCompile(`"(password|access_token|refresh_token|key)":"([^"]+)"`)

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	cw := httptest.NewRecorder()
	rec.h.ServeHTTP(cw, r)
	rec.mu.Lock()
	for _, b := range [][]byte{body, cw.Body.Bytes()} {
		for _, m := range secretField.FindAllSubmatch(b, -1) {
			rec.secrets = append(rec.secrets, string(m[2]))
		}
	}
	if a := r.Header.Get("Authorization"); a != "" {
		rec.secrets = append(rec.secrets, strings.TrimPrefix(a, "Bearer "))
	}
	rec.mu.Unlock()
	for k, v := range cw.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(cw.Code)
	_, _ = w.Write(cw.Body.Bytes())
}

func (rec *recorder) checkNoSecrets(t *testing.T, outputs ...string) {
	t.Helper()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.secrets) < 3 {
		t.Fatalf("recorded %d secrets; the recorder is not seeing the traffic", len(rec.secrets))
	}
	for _, s := range rec.secrets {
		for _, out := range outputs {
			if strings.Contains(out, s) {
				t.Errorf("output contains the secret %q:\n%s", s, out)
			}
		}
	}
}

// runSmoke runs `smoke` with args and the output format, and returns its
// error and both outputs.
func runSmoke(t *testing.T, format output.Format, args ...string) (err error, stdout, stderr string) {
	t.Helper()
	ios, _, _, _ := iostreams.Test()
	return runSmokeOn(t, ios, format, args...)
}

// runSmokeOn is runSmoke on streams the test set up (a terminal, colour).
func runSmokeOn(t *testing.T, ios *iostreams.IOStreams, format output.Format, args ...string) (err error, stdout, stderr string) {
	t.Helper()
	out, errOut := &bytes.Buffer{}, &bytes.Buffer{}
	ios.Out, ios.ErrOut = out, errOut
	f := &cmdutil.Factory{
		IOStreams: ios,
		Now:       time.Now,
		Config:    func() (*cmdutil.Config, error) { return &cmdutil.Config{Output: format}, nil },
	}
	cmd := smoke.NewCmdSmoke(f, nil)
	cmd.SetArgs(args)
	cmd.SetOut(io.Discard)
	cmd.SetErr(io.Discard)
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	err = cmd.ExecuteContext(t.Context())
	return err, out.String(), errOut.String()
}

func decodeSteps(t *testing.T, stdout string) []smoke.Step {
	t.Helper()
	var steps []smoke.Step
	if err := json.Unmarshal([]byte(stdout), &steps); err != nil {
		t.Fatalf("stdout is not a JSON array of steps: %v\n%s", err, stdout)
	}
	return steps
}

func names(steps []smoke.Step) []string {
	out := make([]string, len(steps))
	for i, s := range steps {
		out[i] = s.Name
	}
	return out
}

// TestSmokeAgainstParkd runs the smoke test against the real API twice: as
// JSON and as a table. Every step passes, the first run's objects are gone
// afterwards (the tenants stay), and no credential reaches the output.
func TestSmokeAgainstParkd(t *testing.T) {
	t.Parallel()
	p := newParkd(t)
	rec := &recorder{h: p.h}
	url := serve(t, rec)

	err, stdout, stderr := runSmoke(t, output.JSON, "--url", url+"/api/v1/")
	if err != nil {
		t.Fatalf("smoke: %v\nstdout:\n%s\nstderr:\n%s", err, stdout, stderr)
	}
	steps := decodeSteps(t, stdout)
	if got := names(steps); !slices.Equal(got, allSteps) {
		t.Fatalf("steps %v\nwant %v", got, allSteps)
	}
	for _, s := range steps {
		if !s.OK || s.Error != "" || s.Status < 200 || s.Status > 404 || s.DurationMS < 0 {
			t.Errorf("step %+v", s)
		}
	}
	if !strings.Contains(stderr, "smoke test passed: 19 steps") {
		t.Errorf("stderr: %s", stderr)
	}
	slugs := regexp.MustCompile(`smoke-[0-9a-f]{10}`).FindAllString(stderr, -1)
	if len(slugs) < 2 {
		t.Fatalf("stderr names no tenants: %s", stderr)
	}

	// Cleanup: no site, no live space, no live key, no live session; the
	// two tenants and their owners stay.
	ctx := t.Context()
	var tenants, sites, spaces, keys, sessions int
	if err := p.admin.QueryRow(ctx, `
		select (select count(*) from tenants where slug = any($1)),
		       (select count(*) from sites),
		       (select count(*) from spaces where deleted_at is null),
		       (select count(*) from api_keys where revoked_at is null),
		       (select count(*) from refresh_tokens where revoked_at is null)`,
		slugs[:2]).Scan(&tenants, &sites, &spaces, &keys, &sessions); err != nil {
		t.Fatal(err)
	}
	if tenants != 2 || sites != 0 || spaces != 0 || keys != 0 || sessions != 0 {
		t.Errorf("after cleanup: %d tenants, %d sites, %d live spaces, %d live keys, %d live sessions; want 2, 0, 0, 0, 0",
			tenants, sites, spaces, keys, sessions)
	}

	err, stdout2, stderr2 := runSmoke(t, output.Table, "--url", url)
	if err != nil {
		t.Fatalf("second smoke: %v\n%s\n%s", err, stdout2, stderr2)
	}
	lines := strings.Split(strings.TrimSuffix(stdout2, "\n"), "\n")
	if len(lines) != len(allSteps) {
		t.Fatalf("table has %d lines, want %d:\n%s", len(lines), len(allSteps), stdout2)
	}
	for i, l := range lines {
		if !regexp.MustCompile(`^ok\t` + allSteps[i] + `\t\d+ms$`).MatchString(l) {
			t.Errorf("line %d: %q, want ok<TAB>%s<TAB>Nms", i+1, l, allSteps[i])
		}
	}
	rec.checkNoSecrets(t, stdout, stderr, stdout2, stderr2)
}

// TestSmokeStoppedServer: nothing listens, so the first step fails and
// nothing is left to clean up.
func TestSmokeStoppedServer(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + l.Addr().String()
	l.Close()

	err, stdout, stderr := runSmoke(t, output.Table, "--url", url, "--timeout", "5s")
	var se *smoke.StepError
	if !errors.As(err, &se) || se.Step != "register" || cmdutil.ExitCode(err) != cmdutil.ExitFailure {
		t.Fatalf("err = %v (exit %d), want step register failed, exit 1", err, cmdutil.ExitCode(err))
	}
	if !strings.Contains(err.Error(), "smoke test failed at step register") {
		t.Errorf("message %q", err)
	}
	if !regexp.MustCompile(`^FAIL\tregister\t\d+ms\tPOST /api/v1/auth/register: .*connect`).MatchString(stdout) || strings.Count(stdout, "\n") != 1 {
		t.Errorf("stdout %q", stdout)
	}
	if strings.Contains(stderr, "left behind") {
		t.Errorf("nothing was registered, yet stderr says: %s", stderr)
	}

	err, stdout, _ = runSmoke(t, output.JSON, "--url", url)
	if cmdutil.ExitCode(err) != 1 {
		t.Fatalf("json: %v", err)
	}
	steps := decodeSteps(t, stdout)
	if len(steps) != 1 || steps[0].Name != "register" || steps[0].OK || steps[0].Status != 0 || steps[0].Error == "" {
		t.Errorf("steps %+v", steps)
	}
}

// TestSmokeLoginFails: a server that registers but answers the login with a
// 500 problem. The error names the step, the status and the title; the
// session from the registration is ended; no credential is printed.
func TestSmokeLoginFails(t *testing.T) {
	t.Parallel()
	const access, refresh = "eyJ.stub-access-token.sig", "prt_stub-refresh-token-value"
	var (
		mu        sync.Mutex
		loggedOut []string
		password  string
	)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/auth/register", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			User   struct{ Password string }
			Tenant struct{ Slug string }
		}
		_ = json.NewDecoder(r.Body).Decode(&req)
		mu.Lock()
		password = req.User.Password
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(map[string]any{
			"tenant": map[string]string{"id": uuid.NewString(), "slug": req.Tenant.Slug},
			"role":   "owner", "access_token": access, "refresh_token": refresh,
		})
	})
	mux.HandleFunc("POST /api/v1/auth/login", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = io.WriteString(w, `{"type":"about:blank","title":"Internal Server Error","status":500,"detail":"the database is on fire"}`)
	})
	mux.HandleFunc("POST /api/v1/auth/logout", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			RefreshToken string `json:"refresh_token"`
		}
		_ = json.NewDecoder(r.Body).Decode(&req)
		mu.Lock()
		loggedOut = append(loggedOut, req.RefreshToken)
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	})
	url := serve(t, mux)

	err, stdout, stderr := runSmoke(t, output.Table, "--url", url)
	if cmdutil.ExitCode(err) != 1 {
		t.Fatalf("exit %d (%v), want 1", cmdutil.ExitCode(err), err)
	}
	for _, want := range []string{"step login", "HTTP 500", "Internal Server Error", "the database is on fire"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	var he *smoke.HTTPError
	if !errors.As(err, &he) || he.Status != 500 || he.Title != "Internal Server Error" {
		t.Errorf("error %#v is not the HTTP error of the login", err)
	}
	want := []string{"ok\tregister", "FAIL\tlogin", "ok\tlogout"}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != len(want) {
		t.Fatalf("stdout:\n%s\nwant the steps %v", stdout, want)
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w+"\t") {
			t.Errorf("line %d %q, want %q…", i+1, lines[i], w)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(loggedOut, []string{refresh}) {
		t.Errorf("logged out %v, want the registration's session", loggedOut)
	}
	if len(password) < 20 {
		t.Fatalf("password %q: too short for a random one", password)
	}
	for _, secret := range []string{password, access, refresh} {
		if strings.Contains(stdout+stderr+err.Error(), secret) {
			t.Errorf("output contains the secret %q", secret)
		}
	}
	if !strings.Contains(stderr, "left behind") {
		t.Errorf("stderr does not say which tenant stays: %s", stderr)
	}
}

// TestSmokeCatchesABrokenServer breaks the real API in front of it, one way
// per case, and checks that the smoke test fails at the step that checks
// it, and still cleans up the rest.
func TestSmokeCatchesABrokenServer(t *testing.T) {
	t.Parallel()
	p := newParkd(t)
	tests := []struct {
		name   string
		broken func(r *http.Request) bool // answer this request 201/200 instead
		step   string
	}{
		{
			name:   "read key writes",
			broken: func(r *http.Request) bool { return r.Method == "POST" && r.URL.Path == "/api/v1/spaces" && isKey(r) },
			step:   "apikey-write-refused",
		},
		{
			name:   "key makes keys",
			broken: func(r *http.Request) bool { return r.Method == "POST" && r.URL.Path == "/api/v1/api-keys" && isKey(r) },
			step:   "apikey-manage-refused",
		},
		{
			name: "foreign site visible",
			broken: func(r *http.Request) bool {
				return r.Method == "GET" && strings.HasPrefix(r.URL.Path, "/api/v1/sites/")
			},
			step: "isolation-site-get",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			url := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tt.broken(r) {
					w.Header().Set("Content-Type", "application/json")
					status := http.StatusOK
					if r.Method == "POST" {
						status = http.StatusCreated
					}
					w.WriteHeader(status)
					_ = json.NewEncoder(w).Encode(map[string]string{"id": uuid.NewString()})
					return
				}
				p.h.ServeHTTP(w, r)
			}))
			err, stdout, stderr := runSmoke(t, output.JSON, "--url", url)
			var se *smoke.StepError
			if !errors.As(err, &se) || se.Step != tt.step || cmdutil.ExitCode(err) != 1 {
				t.Fatalf("err = %v, want step %s failed\nstdout:\n%s\nstderr:\n%s", err, tt.step, stdout, stderr)
			}
			steps := decodeSteps(t, stdout)
			i := slices.IndexFunc(steps, func(s smoke.Step) bool { return s.Name == tt.step })
			if i < 0 || steps[i].OK {
				t.Fatalf("steps %+v", steps)
			}
			for _, s := range steps[:i] {
				if !s.OK {
					t.Errorf("step %s failed before %s: %s", s.Name, tt.step, s.Error)
				}
			}
			// Cleanup ran, and the real objects went: the site is
			// deleted last, which needs the real space gone first.
			done := map[string]bool{}
			for _, s := range steps[i+1:] {
				done[s.Name] = s.OK
			}
			if !done["site-delete"] || !done["logout"] {
				t.Errorf("cleanup after the failure: %+v", steps[i+1:])
			}
		})
	}
}

// TestSmokeOnATerminal: aligned columns on a terminal, FAIL in red only when
// colour is on.
func TestSmokeOnATerminal(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + l.Addr().String()
	l.Close()
	for _, color := range []bool{false, true} {
		ios, _, _, _ := iostreams.Test()
		ios.SetStdoutTTY(true)
		ios.SetColorEnabled(color)
		_, stdout, _ := runSmokeOn(t, ios, output.Table, "--url", url)
		want := `^FAIL  register {14}  +\d+ms  POST /api/v1/auth/register: .*\n$`
		if color {
			want = `^\x1b\[31mFAIL\x1b\[0m  register {14}  +\d+ms  POST /api/v1/auth/register: .*\n$`
		}
		if !regexp.MustCompile(want).MatchString(stdout) {
			t.Errorf("colour %v: stdout %q, want %s", color, stdout, want)
		}
	}
}

func isKey(r *http.Request) bool {
	return strings.HasPrefix(r.Header.Get("Authorization"), "Bearer park_")
}

func TestSmokeFlags(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args    []string
		wantErr string // "" for success
	}{
		{[]string{"--url", "http://127.0.0.1:8000"}, ""},
		{[]string{"--url", "https://park.example/api/v1/", "--timeout", "1m"}, ""},
		{[]string{}, `required flag(s) "url" not set`},
		{[]string{"--url", "ftp://park.example"}, "must be an http:// or https:// URL"},
		{[]string{"--url", "park.example"}, "must be an http:// or https:// URL"},
		{[]string{"--url", "http://"}, "no host"},
		{[]string{"--url", "https://u:pw@park.example"}, "must not carry credentials"},
		{[]string{"--url", "https://park.example?x=1"}, "query"},
		{[]string{"--url", "http://127.0.0.1:8000", "--timeout", "0s"}, "--timeout must be positive"},
		{[]string{"--url", "http://127.0.0.1:8000", "extra"}, "unknown command"},
	}
	for _, tt := range tests {
		ios, _, _, _ := iostreams.Test()
		var got *smoke.Options
		cmd := smoke.NewCmdSmoke(&cmdutil.Factory{IOStreams: ios}, func(o *smoke.Options) error { got = o; return nil })
		cmd.SetArgs(tt.args)
		cmd.SetOut(io.Discard)
		cmd.SetErr(io.Discard)
		err := cmd.ExecuteContext(context.Background())
		switch {
		case tt.wantErr == "" && (err != nil || got == nil):
			t.Errorf("%v: %v", tt.args, err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("%v: error %v, want %q", tt.args, err, tt.wantErr)
		case tt.wantErr != "" && !strings.Contains(tt.wantErr, "required") && !strings.Contains(tt.wantErr, "unknown") &&
			cmdutil.ExitCode(err) != cmdutil.ExitUsage:
			t.Errorf("%v: exit %d, want 2", tt.args, cmdutil.ExitCode(err))
		}
	}
}
