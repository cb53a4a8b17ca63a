package parkd

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/parkhq/park/internal/parkctl"
	"github.com/parkhq/park/internal/pgcluster"
)

// reexecEnv makes the test binary act as parkd (see init), so tests can
// run it as a real process and kill it.
const reexecEnv = "PARKD_TEST_REEXEC"

func init() {
	switch os.Getenv(reexecEnv) {
	case "1":
		os.Exit(Main())
	case "parkctl":
		os.Exit(parkctl.Main())
	}
}

// requireServerBinaries skips without PostgreSQL's server binaries, except
// in CI, where that is a failure.
func requireServerBinaries(t *testing.T) {
	t.Helper()
	if _, err := pgcluster.BinDir(); err != nil {
		if ci, _ := strconv.ParseBool(os.Getenv("CI")); errors.Is(err, pgcluster.ErrNotFound) && !ci {
			t.Skipf("skipping: %v", err)
		}
		t.Fatal(err)
	}
}

// checkout makes a directory the postgres user can reach, as a checkout
// under /tmp or /home would be, removed at cleanup.
func checkout(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("/tmp", "parkd-dev-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// postmasterPID reads the server's pid from its data directory.
func postmasterPID(t *testing.T, clusterDir string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(clusterDir, "data", "postmaster.pid"))
	if err != nil {
		t.Fatal(err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

// gone reports whether pid has exited (a zombie that nobody reaps, as under
// a container's init, counts as exited).
func gone(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return true
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	// pid (comm) state ...; comm may hold spaces and parentheses.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && s[i+2] == 'Z'
}

func waitGone(t *testing.T, pid int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !gone(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("postgres (pid %d) still runs %s later", pid, within)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestDevClusterDir(t *testing.T) {
	t.Parallel()
	reachable := checkout(t)
	dir, reason, err := devClusterDir(reachable)
	if err != nil {
		t.Fatal(err)
	}
	if dir != filepath.Join(reachable, ".park", "pg") || reason != "in the checkout" {
		t.Fatalf("reachable checkout: %s (%s)", dir, reason)
	}

	fallback := regexp.MustCompile(`^/var/tmp/park-dev-[0-9a-f]{12}$`)
	deep := filepath.Join(reachable, strings.Repeat("d", 60), strings.Repeat("e", 60))
	if err := os.MkdirAll(deep, 0o755); err != nil {
		t.Fatal(err)
	}
	dir, reason, err = devClusterDir(deep)
	if err != nil || !fallback.MatchString(dir) || !strings.Contains(reason, "socket path") {
		t.Fatalf("deep checkout: %s (%s) %v", dir, reason, err)
	}
	again, _, _ := devClusterDir(deep + "/.")
	if again != dir {
		t.Fatalf("the fallback is not stable per checkout: %s then %s", dir, again)
	}
	other, _, _ := devClusterDir(deep + "x")
	if other == dir {
		t.Fatal("two checkouts share a fallback directory")
	}

	if os.Geteuid() == 0 {
		private := t.TempDir() // 0700 root: out of postgres's reach
		dir, reason, err = devClusterDir(private)
		if err != nil || !fallback.MatchString(dir) || !strings.Contains(reason, "cannot enter") {
			t.Fatalf("private checkout: %s (%s) %v", dir, reason, err)
		}
	}

	if _, _, err := devClusterDir(filepath.Join(reachable, "missing")); err == nil {
		t.Fatal("missing directory accepted")
	}
}

func TestDev(t *testing.T) {
	t.Parallel()
	requireServerBinaries(t)
	root := checkout(t)
	clusterDir := filepath.Join(root, ".park", "pg")
	e := env{"PARKD_DEV_DIR": root, "PARKD_LISTEN_ADDR": "127.0.0.1:0", "PARKD_BCRYPT_COST": "4"}

	p := start(t, []string{"dev"}, e, 6*time.Minute)
	// Read the lines once the last one is out, not because /readyz answers.
	out := p.stdout.waitFor(t, devLastLine, time.Minute)
	if code, body := get(t, p.base+"/readyz"); code != 200 {
		t.Fatalf("readyz: %d %s", code, body)
	}
	for _, want := range []string{
		"PostgreSQL data in " + clusterDir + " (in the checkout)",
		"applied 00001 00001_tenancy.sql",
		"curl -s " + p.base + "/readyz",
		"psql -h '" + clusterDir + "' -p 5433 -U postgres park",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	firstPassword := checkDemo(t, p.base, out, "created")
	runPrintedLines(t, out)
	// A webhook secret made now is sealed under the dev master key, which
	// must outlive this run.
	webhookToken := devWebhookSecret(t, p.base, firstPassword)
	keysDir := clusterDir + ".keys"
	checkMode(t, keysDir, 0o700)
	checkMode(t, filepath.Join(keysDir, "master-key"), 0o600)
	checkMode(t, filepath.Join(keysDir, "jwt-secret"), 0o600)
	if !strings.Contains(out, `export PARKCTL_MASTER_KEY="$(cat `+filepath.Join(keysDir, "master-key")+`)"`) {
		t.Errorf("no master key line for parkctl:\n%s", out)
	}
	// Served as park_server: the preflight passed without overrides.
	if w := p.log.lines("database login"); len(w) != 0 {
		t.Errorf("login warnings: %v", w)
	}
	pid := postmasterPID(t, clusterDir)
	if err := p.stop(t); err != nil {
		t.Fatalf("stop: %v\n%s", err, p.log)
	}
	if !gone(pid) {
		t.Fatalf("postgres (pid %d) survived parkd dev", pid)
	}
	if !strings.Contains(p.stdout.String(), "PostgreSQL stopped") {
		t.Errorf("no stop message:\n%s", p.stdout.String())
	}

	// A second run reuses the data: bootstrap and migrations are no-ops.
	p = start(t, []string{"dev"}, e, 6*time.Minute)
	out = p.stdout.waitFor(t, devLastLine, time.Minute)
	if code, _ := get(t, p.base+"/readyz"); code != 200 {
		t.Fatal(code)
	}
	if !strings.Contains(out, "no pending migrations") {
		t.Errorf("second run migrated again:\n%s", out)
	}
	// The demo owner gets a new password; the old one no longer works.
	if second := checkDemo(t, p.base, out, "exists"); second == firstPassword {
		t.Error("the demo password did not change")
	}
	if code := loginDemo(t, p.base, firstPassword); code != 401 {
		t.Errorf("old demo password: %d", code)
	}
	// The printed lines work on every start, not only the first.
	runPrintedLines(t, out)
	// The keys were kept: the first run's webhook secret still opens.
	if code, body := devUplink(t, p.base, webhookToken); code != 200 || !strings.Contains(body, `"orphan"`) {
		t.Errorf("the first run's webhook secret on the second run: %d %s", code, body)
	}
	pid = postmasterPID(t, clusterDir)

	// --reset refuses while this run serves, and leaves it serving.
	var resetOut bytes.Buffer
	err := run(context.Background(), []string{"dev", "--reset"}, e.get, nil, &resetOut, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "runs on "+clusterDir) {
		t.Fatalf("dev --reset while dev runs: %v\n%s", err, resetOut.String())
	}
	if code, body := get(t, p.base+"/readyz"); code != 200 || postmasterPID(t, clusterDir) != pid {
		t.Fatalf("after the refused reset: %d %s", code, body)
	}

	if err := p.stop(t); err != nil {
		t.Fatal(err)
	}
	if !gone(pid) {
		t.Fatalf("postgres (pid %d) survived the second run", pid)
	}

	// Stopped, --reset starts from nothing: migrations and the demo tenant
	// are made again, and the old demo password is gone with the data.
	p = start(t, []string{"dev", "--reset"}, e, 6*time.Minute)
	out = p.stdout.waitFor(t, devLastLine, time.Minute)
	for _, want := range []string{"parkd dev: --reset: deleted the cluster in " + clusterDir, "applied 00001 00001_tenancy.sql"} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	checkDemo(t, p.base, out, "created")
	// The keys went with the cluster: new ones were made.
	if code, _ := devUplink(t, p.base, webhookToken); code != 401 {
		t.Errorf("a secret of the reset cluster: %d, want 401", code)
	}
	if err := p.stop(t); err != nil {
		t.Fatal(err)
	}
}

// devWebhookSecret logs in as the demo owner and makes a token-mode
// webhook secret, returning its value.
func devWebhookSecret(t *testing.T, base, password string) string {
	t.Helper()
	resp, err := http.Post(base+"/api/v1/auth/login", "application/json",
		strings.NewReader(`{"email":"owner@demo.example","password":"`+password+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	req, _ := http.NewRequest(http.MethodPost, base+"/api/v1/webhook-secrets", strings.NewReader(`{"mode":"token"}`))
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var sec struct {
		Secret string `json:"secret"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&sec); err != nil || resp.StatusCode != 201 || sec.Secret == "" {
		t.Fatalf("make a webhook secret: %d %v", resp.StatusCode, err)
	}
	return sec.Secret
}

// devUplink sends one generic uplink of an unknown device to the demo
// tenant.
func devUplink(t *testing.T, base, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+"/api/v1/webhooks/uplink/demo",
		strings.NewReader(`{"dev_eui":"dec0de0000000001","f_cnt":1,"id":"`+randomToken(8)+`"}`))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func checkMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != want {
		t.Errorf("%s: mode %o, want %o", path, fi.Mode().Perm(), want)
	}
}

var demoLine = regexp.MustCompile(`demo tenant "demo" (created|exists); its owner owner@demo\.example has the password (\S+)`)

// checkDemo finds the demo login in parkd dev's output, logs in with it as
// the printed curl line does and reads the tenant. It returns the password.
func checkDemo(t *testing.T, base, out, verb string) string {
	t.Helper()
	m := demoLine.FindStringSubmatch(out)
	if m == nil || m[1] != verb {
		t.Fatalf("no demo login (%s) in:\n%s", verb, out)
	}
	for _, want := range []string{"curl -s -X POST " + base + "/api/v1/auth/login", base + "/api/v1/tenants/current"} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q", want)
		}
	}
	if code := loginDemo(t, base, m[2]); code != 200 {
		t.Fatalf("demo login: %d", code)
	}
	return m[2]
}

// runPrintedLines runs the parkctl and demo lines parkd dev printed, as a
// user pasting them into a shell would: parkctl must list the demo tenant,
// and every curl must succeed (200, or 201 for the new site).
func runPrintedLines(t *testing.T, out string) {
	t.Helper()
	requireTools(t, "sh", "curl", "jq")

	ctl := runShell(t, printedBlock(t, out, parkctlHeader))
	if ctl.err != nil || !regexp.MustCompile(`(?m)^demo\s+Demo Parking\s+active\s`).MatchString(ctl.stdout) {
		t.Errorf("the printed parkctl lines: %v\nstdout:\n%s\nstderr:\n%s", ctl.err, ctl.stdout, ctl.stderr)
	}

	demo := runShell(t, printedBlock(t, out, "parkd dev: demo tenant "))
	// The wrapper below prints each status on stderr, one per line.
	if got := strings.Fields(demo.stderr); demo.err != nil || !slices.Equal(got, []string{"200", "200", "201", "200"}) {
		t.Errorf("the printed curl lines answered %v (want 200 200 201 200): %v\nstdout:\n%s\nstderr:\n%s", got, demo.err, demo.stdout, demo.stderr)
	}
}

// printedBlock returns the indented lines that follow the line starting
// with header.
func printedBlock(t *testing.T, out, header string) []string {
	t.Helper()
	var block []string
	in := false
	for _, line := range strings.Split(out, "\n") {
		switch {
		case strings.HasPrefix(line, header):
			in = true
		case in && strings.HasPrefix(line, "  "):
			block = append(block, strings.TrimSpace(line))
		case in:
			return block
		}
	}
	if len(block) == 0 {
		t.Fatalf("no lines after %q in:\n%s", header, out)
	}
	return block
}

type shellResult struct {
	stdout, stderr string
	err            error
}

// runShell runs lines in sh -e. parkctl is this test binary acting as
// parkctl (see init); curl is wrapped to print each answer's status on
// stderr.
func runShell(t *testing.T, lines []string) shellResult {
	t.Helper()
	bin := t.TempDir()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(exe, filepath.Join(bin, "parkctl")); err != nil {
		t.Fatal(err)
	}
	script := "set -e\ncurl() { command curl -w '%{stderr}%{http_code}\\n' \"$@\"; }\n" + strings.Join(lines, "\n") + "\n"
	cmd := exec.Command("sh", "-c", script)
	cmd.Env = append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"),
		reexecEnv+"=parkctl", "XDG_CONFIG_HOME="+t.TempDir(), "NO_COLOR=1", "GORACE=atexit_sleep_ms=0")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	return shellResult{stdout: stdout.String(), stderr: stderr.String(), err: err}
}

// requireTools skips without the programs a printed line needs, except in
// CI, where that is a failure.
func requireTools(t *testing.T, names ...string) {
	t.Helper()
	for _, name := range names {
		if _, err := exec.LookPath(name); err != nil {
			if ci, _ := strconv.ParseBool(os.Getenv("CI")); ci {
				t.Fatalf("%s is needed: %v", name, err)
			}
			t.Skipf("skipping: %s not installed", name)
		}
	}
}

// loginDemo posts the demo owner's credentials the way the printed curl
// line does (no content type) and returns the status.
func loginDemo(t *testing.T, base, password string) int {
	t.Helper()
	body := `{"email":"owner@demo.example","password":"` + password + `"}`
	req, _ := http.NewRequest(http.MethodPost, base+"/api/v1/auth/login", strings.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	json.NewDecoder(resp.Body).Decode(&tok)
	if resp.StatusCode == 200 {
		req, _ := http.NewRequest(http.MethodGet, base+"/api/v1/tenants/current", nil)
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		r2, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(r2.Body)
		r2.Body.Close()
		if r2.StatusCode != 200 || !strings.Contains(string(b), `"slug":"demo"`) {
			t.Errorf("tenants/current with the demo token: %d %s", r2.StatusCode, b)
		}
	}
	return resp.StatusCode
}

// startProcess runs the test binary as parkd dev and waits for it to serve.
func startProcess(t *testing.T, root string) (*exec.Cmd, int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "dev")
	cmd.Env = append(os.Environ(), reexecEnv+"=1", "PARKD_BCRYPT_COST=4", "PARKD_DEV_DIR="+root, "PARKD_LISTEN_ADDR=127.0.0.1:0")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncWriter{}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	serving := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "parkd dev: serving ") {
				close(serving)
			}
		}
	}()
	select {
	case <-serving:
	case <-time.After(6 * time.Minute):
		t.Fatalf("parkd dev did not serve; stderr:\n%s", logs)
	}
	return cmd, postmasterPID(t, filepath.Join(root, ".park", "pg"))
}

func TestDevProcessSignals(t *testing.T) {
	t.Parallel()
	requireServerBinaries(t)

	t.Run("SIGINT", func(t *testing.T) {
		t.Parallel()
		cmd, pid := startProcess(t, checkout(t))
		if err := cmd.Process.Signal(os.Interrupt); err != nil {
			t.Fatal(err)
		}
		if err := waitExit(cmd, time.Minute); err != nil {
			t.Fatalf("parkd dev after SIGINT: %v", err)
		}
		waitGone(t, pid, 0)
	})
	t.Run("SIGTERM", func(t *testing.T) {
		t.Parallel()
		cmd, pid := startProcess(t, checkout(t))
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if err := waitExit(cmd, time.Minute); err != nil {
			t.Fatalf("parkd dev after SIGTERM: %v", err)
		}
		waitGone(t, pid, 0)
	})
	t.Run("SIGKILL", func(t *testing.T) {
		t.Parallel()
		cmd, pid := startProcess(t, checkout(t))
		if err := cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		cmd.Wait()
		// The kernel tells postgres its parent died (SIGQUIT: immediate
		// shutdown).
		waitGone(t, pid, 30*time.Second)
	})
}

func waitExit(cmd *exec.Cmd, within time.Duration) error {
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func TestParkctlCommand(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	bin := filepath.Join(root, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	parkd := filepath.Join(bin, "parkd")
	if got := parkctlCommand(parkd, root); got != "parkctl" {
		t.Errorf("without a parkctl beside parkd: %q", got)
	}
	if err := os.WriteFile(filepath.Join(bin, "parkctl"), []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := parkctlCommand(parkd, root); got != "parkctl" {
		t.Errorf("beside a parkctl that is not executable: %q", got)
	}
	if err := os.Chmod(filepath.Join(bin, "parkctl"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ wd, want string }{
		{root, "./bin/parkctl"}, // make run in the checkout
		{bin, "./parkctl"},
		{filepath.Join(root, "elsewhere"), filepath.Join(bin, "parkctl")},
		{"", filepath.Join(bin, "parkctl")},
	} {
		if got := parkctlCommand(parkd, tt.wd); got != tt.want {
			t.Errorf("from %q: %q, want %q", tt.wd, got, tt.want)
		}
	}
	if got := parkctlCommand("", root); got != "parkctl" {
		t.Errorf("without an executable: %q", got)
	}
	if got := shellQuote("/a b/it's/parkctl"); got != `'/a b/it'\''s/parkctl'` {
		t.Errorf("shellQuote: %s", got)
	}
}

func TestReadableURL(t *testing.T) {
	t.Parallel()
	const escaped = "postgres://park_admin@/park?host=%2Ftmp%2Fa+b%27c%2F.park%2Fpg&port=5433"
	got := readableURL(escaped)
	if got != "postgres://park_admin@/park?host=/tmp/a%20b%27c/.park/pg&port=5433" {
		t.Fatalf("readableURL: %s", got)
	}
	cfg, err := pgx.ParseConfig(got)
	if err != nil || cfg.Host != "/tmp/a b'c/.park/pg" || cfg.Port != 5433 || cfg.User != "park_admin" || cfg.Database != "park" {
		t.Errorf("%s parses as %+v, %v", got, cfg, err)
	}
}

// TestResetRefusesARunningServer checks --reset's guard without PostgreSQL:
// a process whose working directory is the data directory and whose pid
// postmaster.pid names is a running server; a pid that is gone, or that
// another process holds now, is a stale file.
func TestResetRefusesARunningServer(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(checkout(t), ".park", "pg")
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir+".log", []byte("log\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	writePID := func(pid int) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(data, "postmaster.pid"), []byte(fmt.Sprintf("%d\n%s\n", pid, data)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if _, running := runningPostmaster(data); running {
		t.Fatal("running without a postmaster.pid")
	}

	// A live process in the data directory, as a postmaster is.
	server := exec.Command("sleep", "600")
	server.Dir = data
	if err := server.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { server.Process.Kill(); server.Wait() })
	writePID(server.Process.Pid)
	if pid, running := runningPostmaster(data); !running || pid != server.Process.Pid {
		t.Fatalf("the server in %s: pid %d, running %v", data, pid, running)
	}
	if _, err := resetDevCluster(dir); err == nil || !strings.Contains(err.Error(), "stop it") {
		t.Fatalf("reset while a server runs: %v", err)
	}
	if _, err := os.Stat(filepath.Join(data, "postmaster.pid")); err != nil {
		t.Fatalf("the refused reset deleted data: %v", err)
	}

	// The pid now belongs to a process elsewhere (this test).
	writePID(os.Getpid())
	if _, running := runningPostmaster(data); running {
		t.Fatal("a reused pid counts as the server")
	}
	// The server is gone.
	server.Process.Kill()
	server.Wait()
	writePID(server.Process.Pid)
	if _, running := runningPostmaster(data); running {
		t.Fatal("an exited server counts as running")
	}
	existed, err := resetDevCluster(dir)
	if err != nil || !existed {
		t.Fatalf("reset of a stopped cluster: %v, %v", existed, err)
	}
	for _, p := range []string{dir, dir + ".log"} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s survived the reset: %v", p, err)
		}
	}
	if existed, err := resetDevCluster(dir); err != nil || existed {
		t.Fatalf("reset without a cluster: %v, %v", existed, err)
	}
}
