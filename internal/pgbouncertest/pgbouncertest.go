// Package pgbouncertest runs a private PgBouncer in front of a test's
// database, the way production may run Park (transaction pooling, pgx's
// exec mode), so tests can prove that nothing depends on a session: a
// setting that outlives its transaction, a prepared statement, a parameter
// whose type only a described statement would know.
//
// Each Bouncer is its own pgbouncer process in its own directory under /tmp,
// listening on a Unix socket only (no TCP port at all, so it can collide
// with nothing, nor with a distribution's daemon on 6432). It has two
// database entries for the test's database:
//
//   - Single: pool_size = 1. Every client of one user shares one server
//     connection, transaction after transaction. Tenants interleaved through
//     it would see each other's leaked settings.
//   - Wide: pool_size = WidePoolSize. Enough server connections for races to
//     be real races.
//
// pgbouncer is Debian's package: $PARK_PGBOUNCER, else pgbouncer on PATH,
// else /usr/sbin/pgbouncer. When it is missing, New skips the test, or fails
// it when CI=true. pgbouncer refuses to run as root; a root test binary runs
// it as the postgres OS user, like the cluster (pgcluster.ServerCredential),
// as a direct child that the kernel kills if the test binary dies.
//
// Authentication is trust, like the test cluster's socket: the logins it
// knows are the ones pgtest makes (Users). Nothing here is for production.
package pgbouncertest

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parkhq/park/internal/bootstrap"
	"github.com/parkhq/park/internal/pgcluster"
	"github.com/parkhq/park/internal/pgtest"
	"github.com/parkhq/park/internal/tiedproc"
)

// ErrNotFound reports that no pgbouncer binary could be found.
var ErrNotFound = errors.New("pgbouncer not found")

// BinaryEnv names the environment variable that overrides the pgbouncer
// binary.
const BinaryEnv = "PARK_PGBOUNCER"

// debianBinary is where Debian's package installs pgbouncer; /usr/sbin is
// not on an ordinary user's PATH.
const debianBinary = "/usr/sbin/pgbouncer"

// Entry is a database entry of the bouncer: the database name a client
// asks for.
type Entry string

const (
	// Single has pool_size = 1: one server connection per user, shared
	// by every client in turn.
	Single Entry = "single"
	// Wide has pool_size = WidePoolSize.
	Wide Entry = "wide"
)

// WidePoolSize is the number of server connections of the Wide entry, per
// user.
const WidePoolSize = 8

// Users are the logins the bouncer accepts: the superuser and pgtest's
// park_server and park_admin. With auth_type trust, PgBouncer still only
// admits users of its auth_file.
var Users = []string{pgcluster.Superuser, bootstrap.RoleServer, bootstrap.RoleAdmin}

// socketPort names the socket file, .s.PGSQL.16432. No TCP port is bound
// (listen_addr is empty), so any number would do; an unusual one keeps the
// socket's name from suggesting a real server.
const socketPort = 16432

const (
	dirPrefix    = "pgbouncertest-"
	configName   = "pgbouncer.ini"
	authFileName = "users.txt"
	ownerFile    = "owner" // the file pgtest.SweepStale reads
	startTimeout = 30 * time.Second
	stopTimeout  = 10 * time.Second
	maxLogBytes  = 32 << 10
)

// Binary returns the pgbouncer to run: $PARK_PGBOUNCER when set, else
// pgbouncer on PATH, else /usr/sbin/pgbouncer. The error wraps ErrNotFound.
func Binary() (string, error) {
	if p := os.Getenv(BinaryEnv); p != "" {
		if !executable(p) {
			return "", fmt.Errorf("%w: %s=%s is not an executable file", ErrNotFound, BinaryEnv, p)
		}
		return p, nil
	}
	if p, err := exec.LookPath("pgbouncer"); err == nil {
		return p, nil
	}
	if executable(debianBinary) {
		return debianBinary, nil
	}
	return "", fmt.Errorf("%w on PATH nor at %s (install pgbouncer or set %s)", ErrNotFound, debianBinary, BinaryEnv)
}

func executable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

// Bouncer is a running pgbouncer in front of one test database.
type Bouncer struct {
	dir    string
	bin    string
	cred   *syscall.Credential
	target *pgconn.Config

	mu   sync.Mutex    // serializes Stop, Start and Close
	cmd  *exec.Cmd     // nil while stopped
	done chan struct{} // closed when cmd has exited
	log  *tailBuffer

	closeOnce sync.Once
	closeErr  error
}

// New starts a bouncer in front of db and stops it when the test ends
// (before db is dropped: cleanups run last-in, first-out). When the test
// fails, the end of pgbouncer's log is logged.
func New(t testing.TB, db *pgtest.DB) *Bouncer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	b, err := Start(ctx, db)
	if err != nil {
		skipOrFail(t, err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("pgbouncer log (%s):\n%s", b.dir, b.LogTail())
		}
		if err := b.Close(); err != nil {
			t.Error(err)
		}
	})
	return b
}

// Start starts a bouncer for callers without a testing.TB. The caller calls
// Close.
func Start(ctx context.Context, db *pgtest.DB) (*Bouncer, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	cred, err := pgcluster.ServerCredential()
	if err != nil {
		return nil, err
	}
	target, err := pgconn.ParseConfig(db.AdminURL)
	if err != nil {
		return nil, fmt.Errorf("test database URL: %w", err)
	}
	// Bouncers whose test binary died without Close: the kernel killed
	// their pgbouncer with it; their directories remain.
	pgtest.SweepStale(dirPrefix)
	// /tmp rather than t.TempDir() or os.TempDir(): the postgres user must
	// reach the directory, and a socket path is limited to 107 bytes.
	dir, err := os.MkdirTemp("/tmp", dirPrefix)
	if err != nil {
		return nil, fmt.Errorf("pgbouncer directory: %w", err)
	}
	b := &Bouncer{dir: dir, bin: bin, cred: cred, target: target, log: &tailBuffer{max: maxLogBytes}}
	if err := b.start(ctx); err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

// Stop ends pgbouncer with SIGTERM, PgBouncer's immediate shutdown: every
// client and server connection is dropped, as when the process crashes or
// is restarted, and new connections are refused until Start. Stopping a
// stopped bouncer does nothing.
func (b *Bouncer) Stop() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cmd == nil {
		return nil
	}
	err := b.stop()
	b.cmd = nil
	return err
}

// Start starts a stopped bouncer again, with the same configuration on
// the same socket, and returns once both entries answer a query. Starting
// a running bouncer does nothing.
func (b *Bouncer) Start(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cmd != nil {
		return nil
	}
	return b.start(ctx)
}

func (b *Bouncer) start(ctx context.Context) error {
	bin, cred, target := b.bin, b.cred, b.target
	if err := os.WriteFile(filepath.Join(b.dir, ownerFile), []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		return fmt.Errorf("pgbouncer directory: %w", err)
	}
	files := map[string]string{
		configName:   config(b.dir, target),
		authFileName: authFile(Users),
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(b.dir, name), []byte(text), 0o600); err != nil {
			return fmt.Errorf("pgbouncer %s: %w", name, err)
		}
	}
	if cred != nil {
		// pgbouncer, as the postgres user, reads its files and makes its
		// socket here.
		for _, p := range []string{b.dir, filepath.Join(b.dir, configName), filepath.Join(b.dir, authFileName)} {
			if err := os.Chown(p, int(cred.Uid), int(cred.Gid)); err != nil {
				return fmt.Errorf("give %s to the server's user: %w", p, err)
			}
		}
	}
	cmd := exec.Command(bin, filepath.Join(b.dir, configName))
	cmd.Dir = b.dir
	cmd.Env = childEnv()
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	cmd.Stdout, cmd.Stderr = b.log, b.log
	if err := tiedproc.Start(cmd, syscall.SIGKILL); err != nil {
		return fmt.Errorf("start pgbouncer: %w", err)
	}
	b.cmd = cmd
	b.done = make(chan struct{})
	go func() {
		cmd.Wait()
		close(b.done)
	}()
	return b.waitReady(ctx)
}

// config is pgbouncer.ini. listen_addr is empty: no TCP listener, only the
// Unix socket in dir. pool_mode = transaction and no server_reset_query:
// whatever a transaction leaves on its server connection, the next client
// meets, as in production.
func config(dir string, target *pgconn.Config) string {
	server := fmt.Sprintf("host=%s port=%d dbname=%s", target.Host, target.Port, target.Database)
	return fmt.Sprintf(`[databases]
%s = %s pool_size=1
%s = %s pool_size=%d

[pgbouncer]
listen_addr =
listen_port = %d
unix_socket_dir = %s
unix_socket_mode = 0777
pidfile =
logfile =
auth_type = trust
auth_file = %s
admin_users = %s
pool_mode = transaction
default_pool_size = 1
reserve_pool_size = 0
max_client_conn = 1000
server_reset_query =
server_login_retry = 1
log_connections = 0
log_disconnections = 0
`, Single, server, Wide, server, WidePoolSize, socketPort, dir, filepath.Join(dir, authFileName), pgcluster.Superuser)
}

// authFile lists users with empty passwords, which trust never checks.
func authFile(users []string) string {
	var s strings.Builder
	for _, u := range users {
		fmt.Fprintf(&s, "%q %q\n", u, "")
	}
	return s.String()
}

// childEnv is this process's environment without libpq's PG* variables.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PG") {
			env = append(env, kv)
		}
	}
	return env
}

// waitReady runs a query through each entry until both answer, pgbouncer
// exits, or ctx ends. A query rather than a bare connection: pgbouncer
// accepts clients before it has reached the server, and a wrong server
// address would only show on the first query.
func (b *Bouncer) waitReady(ctx context.Context) error {
	for _, e := range []Entry{Single, Wide} {
		cfg, err := pgx.ParseConfig(b.URL(e, pgcluster.Superuser))
		if err != nil {
			return err
		}
		cfg.ConnectTimeout = 5 * time.Second
		delay := 2 * time.Millisecond
		for {
			err := ping(ctx, cfg)
			if err == nil {
				break
			}
			select {
			case <-b.done:
				return fmt.Errorf("pgbouncer exited during start-up (%v); log:\n%s", b.cmd.ProcessState, b.LogTail())
			case <-ctx.Done():
				return fmt.Errorf("pgbouncer not answering through %s: %w (last error: %v); log:\n%s", e, ctx.Err(), err, b.LogTail())
			case <-time.After(delay):
			}
			delay = min(2*delay, 50*time.Millisecond)
		}
	}
	return nil
}

func ping(ctx context.Context, cfg *pgx.ConnConfig) error {
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	var one int
	return conn.QueryRow(ctx, "select 1").Scan(&one)
}

// URL returns a pgx URL of the test database through entry e as user, in
// exec mode (default_query_exec_mode=exec), the mode production must use
// behind PgBouncer in transaction mode: no prepared statement outlives its
// round trip, and parameters carry no described type. It is a pgx URL:
// libpq (psql) refuses the mode parameter.
func (b *Bouncer) URL(e Entry, user string) string {
	u := url.URL{Scheme: "postgres", User: url.User(user), Path: "/" + string(e)}
	u.RawQuery = url.Values{
		"host":                    {b.dir},
		"port":                    {strconv.Itoa(socketPort)},
		"default_query_exec_mode": {"exec"},
	}.Encode()
	return u.String()
}

// ServerPool returns a pool of park_server connections through entry e with
// at most maxConns client connections (0 means pgxpool's default), closed
// when the test ends. Clients beyond the entry's pool size wait in
// PgBouncer for a server connection, as they would in production.
func (b *Bouncer) ServerPool(t testing.TB, e Entry, maxConns int) *pgxpool.Pool {
	t.Helper()
	return Pool(t, b.URL(e, bootstrap.RoleServer), maxConns)
}

// Pool returns a pool on url with at most maxConns connections (0 means
// pgxpool's default), closed when the test ends.
func Pool(t testing.TB, url string, maxConns int) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	if maxConns > 0 {
		cfg.MaxConns = int32(maxConns)
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// Dir returns the bouncer's directory, which holds its socket.
func (b *Bouncer) Dir() string { return b.dir }

// LogTail returns the end of pgbouncer's log.
func (b *Bouncer) LogTail() string { return b.log.String() }

// Close stops pgbouncer (SIGTERM, then SIGKILL) and removes its directory.
// New's cleanup calls it; callers of Start must. It is idempotent.
func (b *Bouncer) Close() error {
	b.closeOnce.Do(func() { b.closeErr = b.close() })
	return b.closeErr
}

func (b *Bouncer) close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	var err error
	if b.cmd != nil {
		err = b.stop()
		b.cmd = nil
	}
	if rerr := os.RemoveAll(b.dir); rerr != nil {
		err = errors.Join(err, rerr)
	}
	return err
}

func (b *Bouncer) stop() error {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		if err := b.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
			return fmt.Errorf("signal pgbouncer: %w", err)
		}
		select {
		case <-b.done:
			return nil
		case <-time.After(stopTimeout):
		}
	}
	return fmt.Errorf("pgbouncer (pid %d) survived SIGKILL", b.cmd.Process.Pid)
}

// skipOrFail skips the test when pgbouncer is missing outside CI, and fails
// it otherwise.
func skipOrFail(t testing.TB, err error) {
	t.Helper()
	if errors.Is(err, ErrNotFound) && !inCI() {
		t.Skipf("skipping: %v (CI=true makes this a failure)", err)
	}
	t.Fatal(err)
}

func inCI() bool {
	ci, _ := strconv.ParseBool(os.Getenv("CI"))
	return ci
}

// tailBuffer keeps the last bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - b.max; over > 0 {
		b.buf = append(b.buf[:0], b.buf[over:]...)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}
