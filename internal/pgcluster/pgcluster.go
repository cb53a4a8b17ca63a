// Package pgcluster starts and stops a private PostgreSQL cluster from the
// machine's server binaries: the test harness (internal/pgtest) and
// `parkd dev` both run on it.
//
// The server is a direct child of this process. When this process is root,
// initdb and postgres run as the "postgres" OS user (they refuse root)
// through SysProcAttr.Credential, never `su -c`, which would start a new
// session that a terminal's Ctrl-C misses. The child stays in this process's
// process group, so Ctrl-C reaches it too, and on Linux the kernel sends it
// SIGQUIT (PostgreSQL's immediate shutdown) if this process dies without
// calling Stop, so a crashed or killed parent leaves no server behind.
//
// A cluster lives in one directory: the data directory in Dir/data and the
// Unix socket in Dir itself. Clients connect over the socket as the
// superuser "postgres" with trust authentication, so a cluster is for tests
// and local development only. The package needs a Unix system; the
// parent-death guarantee and the detection of stale servers need Linux.
package pgcluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/parkhq/park/internal/tiedproc"
)

// Superuser is the cluster's superuser, made by initdb.
const Superuser = "postgres"

// SocketPort is the port number that names the Unix socket file
// (.s.PGSQL.5433) when the cluster does not listen on TCP. It binds nothing,
// so it cannot collide with another server; it only keeps the socket path
// stable across restarts.
const SocketPort = 5433

const (
	startTimeout    = 60 * time.Second // when ctx has no deadline
	fastStopTimeout = 10 * time.Second // SIGINT: roll back, disconnect, checkpoint
	killTimeout     = 5 * time.Second  // after SIGQUIT, and again after SIGKILL
	logDrainTimeout = 2 * time.Second  // for dying children still holding the log pipe
	maxSocketPath   = 107              // sizeof(sun_path) - 1 on Linux
)

// Options configure Start. The zero value is a non-durable cluster in a
// fresh temporary directory, reachable over its Unix socket only.
type Options struct {
	// Dir holds the cluster: the data directory Dir/data and the Unix
	// socket. It is created when missing (missing parents with mode 0755),
	// and made mode 0700 and owned by the server's OS user; an existing
	// directory of another user is taken over only when empty. Every parent
	// must be searchable by that user. A data directory that is already
	// there is reused. Empty means a new directory under os.TempDir(), which
	// Stop removes.
	Dir string
	// Port is the TCP port to listen on. 0 listens on the Unix socket only.
	Port int
	// ListenAddr is listen_addresses when Port is set; default 127.0.0.1.
	ListenAddr string
	// Durable keeps fsync, synchronous_commit and full_page_writes on (and
	// lets initdb sync). Off, an OS crash may lose or corrupt the data,
	// which is right for tests and dev and wrong for benchmarks.
	Durable bool
	// LogWriter receives the server's log output. Nil discards it. It is
	// written from one goroutine at a time, possibly until Stop returns.
	LogWriter io.Writer
	// Settings are passed as `-c key=value` after this package's own, so
	// they override them.
	Settings map[string]string
	// BinDir is the directory holding postgres and initdb; empty means
	// BinDir().
	BinDir string
}

// Cluster is a running PostgreSQL server. Its methods are safe for
// concurrent use.
type Cluster struct {
	dir     string
	dataDir string
	port    int
	tempDir bool

	cmd     *exec.Cmd
	done    chan struct{} // closed when the postmaster has exited
	exitErr error         // the postmaster's exit status; read after done
	logDone chan struct{} // closed when the log pipe reached EOF
	log     *tailBuffer

	stopOnce sync.Once
	stopErr  error
}

// Start initializes the data directory when it has none (initdb
// --locale=C.UTF-8 -E UTF8 --auth=trust -U postgres), starts postgres and
// waits until it accepts connections. ctx bounds the start (60 s when it has
// no deadline), not the server's life: call Stop.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	if opts.Port < 0 || opts.Port > 65535 {
		return nil, fmt.Errorf("port %d out of range", opts.Port)
	}
	for k := range opts.Settings {
		if k == "" || strings.ContainsAny(k, "= \t\n") {
			return nil, fmt.Errorf("invalid setting name %q", k)
		}
	}
	bin := opts.BinDir
	if bin == "" {
		var err error
		if bin, err = BinDir(); err != nil {
			return nil, err
		}
	} else if err := hasServer(bin); err != nil {
		return nil, err
	}
	acct, err := serverAccount()
	if err != nil {
		return nil, err
	}

	c := &Cluster{
		port:    SocketPort,
		done:    make(chan struct{}),
		logDone: make(chan struct{}),
		log:     newTailBuffer(16 << 10),
	}
	if opts.Port != 0 {
		c.port = opts.Port
	}
	dir := opts.Dir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "pgcluster-"); err != nil {
			return nil, fmt.Errorf("create cluster directory: %w", err)
		}
		c.tempDir = true
	}
	if c.dir, err = filepath.Abs(dir); err != nil {
		return nil, fmt.Errorf("cluster directory: %w", err)
	}
	c.dataDir = filepath.Join(c.dir, "data")

	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, startTimeout)
		defer cancel()
	}
	if err := c.start(ctx, bin, acct, opts); err != nil {
		if c.cmd != nil {
			c.Stop()
		} else if c.tempDir {
			os.RemoveAll(c.dir)
		}
		return nil, err
	}
	return c, nil
}

func (c *Cluster) start(ctx context.Context, bin string, acct *account, opts Options) error {
	if sock := c.socketPath(); len(sock) > maxSocketPath {
		return fmt.Errorf("socket path %s is %d bytes, longer than the %d a Unix socket allows: choose a shorter Dir",
			sock, len(sock), maxSocketPath)
	}
	if strings.ContainsAny(c.dir, `,"\`) {
		// unix_socket_directories is a comma-separated list.
		return fmt.Errorf("cluster directory %q must not contain a comma, quote or backslash", c.dir)
	}
	if err := prepareDir(c.dir, acct); err != nil {
		return err
	}
	env := serverEnv(acct)
	if err := c.initdb(ctx, bin, acct, env, opts.Durable); err != nil {
		return err
	}
	if err := c.clearStale(ctx); err != nil {
		return err
	}

	args := []string{"-D", c.dataDir}
	for _, kv := range c.settings(opts) {
		args = append(args, "-c", kv)
	}
	cmd := exec.Command(filepath.Join(bin, "postgres"), args...)
	cmd.Dir = c.dir
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: acct.cred}
	// The log goes through a pipe of our own rather than exec's copying
	// goroutines, so Wait returns when the postmaster exits even while
	// dying children still hold the write end.
	pr, pw, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("log pipe: %w", err)
	}
	cmd.Stdout, cmd.Stderr = pw, pw
	err = tiedproc.Start(cmd, syscall.SIGQUIT)
	pw.Close()
	if err != nil {
		pr.Close()
		return fmt.Errorf("start postgres: %w", err)
	}
	c.cmd = cmd
	go c.copyLog(pr, opts.LogWriter)
	go func() {
		c.exitErr = cmd.Wait()
		close(c.done)
	}()
	return c.waitReady(ctx)
}

// settings are the -c arguments: the package's, then opts.Settings in key
// order (PostgreSQL takes the last of repeated settings).
func (c *Cluster) settings(opts Options) []string {
	listen := ""
	if opts.Port != 0 {
		listen = opts.ListenAddr
		if listen == "" {
			listen = "127.0.0.1"
		}
	}
	s := []string{
		"listen_addresses=" + listen,
		"port=" + strconv.Itoa(c.port),
		"unix_socket_directories=" + c.dir,
		"max_connections=200",
	}
	if !opts.Durable {
		s = append(s, "fsync=off", "synchronous_commit=off", "full_page_writes=off")
	}
	for _, k := range slices.Sorted(maps.Keys(opts.Settings)) {
		s = append(s, k+"="+opts.Settings[k])
	}
	return s
}

// initdb creates the data directory unless it holds a cluster already. It
// runs in a scratch directory renamed into place on success, so an
// interrupted initdb never leaves a half-made cluster to be reused.
func (c *Cluster) initdb(ctx context.Context, bin string, acct *account, env []string, durable bool) error {
	if _, err := os.Stat(filepath.Join(c.dataDir, "PG_VERSION")); err == nil {
		return nil
	}
	scratch := c.dataDir + ".initdb"
	if err := os.RemoveAll(scratch); err != nil {
		return fmt.Errorf("remove leftover %s: %w", scratch, err)
	}
	args := []string{"--locale=C.UTF-8", "--encoding=UTF8", "--auth=trust",
		"--username=" + Superuser, "--pgdata=" + scratch}
	if !durable {
		args = append(args, "--no-sync")
	}
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "initdb"), args...)
	cmd.Dir = c.dir
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: acct.cred}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := tiedproc.Start(cmd, syscall.SIGKILL)
	if err == nil {
		err = cmd.Wait()
	}
	if err != nil {
		os.RemoveAll(scratch)
		return fmt.Errorf("initdb: %w\n%s", err, lastLines(out.String(), 20))
	}
	if err := os.Rename(scratch, c.dataDir); err != nil {
		return fmt.Errorf("move new cluster into place: %w", err)
	}
	return nil
}

// clearStale makes a data directory left by a killed server startable.
// PostgreSQL itself ignores a postmaster.pid whose process is gone, but it
// refuses one whose number a different process has since taken, which is
// common in containers where pids restart low. The files are removed only
// when no process of this data directory is alive.
func (c *Cluster) clearStale(ctx context.Context) error {
	pidFile := filepath.Join(c.dataDir, "postmaster.pid")
	b, err := os.ReadFile(pidFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", pidFile, err)
	}
	pid, err := strconv.Atoi(firstLine(b))
	if err != nil || pid <= 0 {
		return nil // PostgreSQL reports a malformed file better than we can
	}
	procs, ok := clusterProcesses(c.dataDir)
	if !ok {
		return nil
	}
	if slices.Contains(procs, pid) {
		return fmt.Errorf("a server (pid %d) is already running on %s", pid, c.dataDir)
	}
	// Children of a killed postmaster exit once they notice it is gone;
	// until then the old shared memory is still attached and PostgreSQL
	// would refuse to start.
	for len(procs) > 0 {
		select {
		case <-ctx.Done():
			return fmt.Errorf("processes %v of an earlier server still run in %s: %w", procs, c.dataDir, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
		procs, _ = clusterProcesses(c.dataDir)
	}
	if !processAlive(pid) {
		return nil
	}
	lock := c.socketPath() + ".lock"
	if lb, err := os.ReadFile(lock); err == nil && firstLine(lb) == strconv.Itoa(pid) {
		if err := os.Remove(lock); err != nil {
			return fmt.Errorf("remove stale socket lock: %w", err)
		}
		os.Remove(c.socketPath())
	}
	if err := os.Remove(pidFile); err != nil {
		return fmt.Errorf("remove stale postmaster.pid: %w", err)
	}
	return nil
}

// waitReady connects until the server accepts a session, the postmaster
// exits, or ctx ends.
func (c *Cluster) waitReady(ctx context.Context) error {
	cfg, err := pgx.ParseConfig(c.AdminURL("postgres"))
	if err != nil {
		return err
	}
	cfg.ConnectTimeout = 5 * time.Second
	delay := 5 * time.Millisecond
	for {
		conn, err := pgx.ConnectConfig(ctx, cfg)
		if err == nil {
			return conn.Close(ctx)
		}
		select {
		case <-c.done:
			c.drainLog()
			return fmt.Errorf("postgres exited during start-up (%v); server log:\n%s", c.exitErr, c.LogTail())
		case <-ctx.Done():
			return fmt.Errorf("postgres not accepting connections on %s: %w (last error: %v); server log:\n%s",
				c.dir, ctx.Err(), err, c.LogTail())
		case <-time.After(delay):
		}
		delay = min(2*delay, 100*time.Millisecond)
	}
}

func (c *Cluster) copyLog(r *os.File, w io.Writer) {
	defer close(c.logDone)
	defer r.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			c.log.Write(buf[:n])
			if w != nil {
				w.Write(buf[:n]) // a broken log sink must not stall the server
			}
		}
		if err != nil {
			return
		}
	}
}

// drainLog waits briefly for the rest of the log after the postmaster exited.
func (c *Cluster) drainLog() {
	select {
	case <-c.logDone:
	case <-time.After(logDrainTimeout):
	}
}

// AdminURL returns a URL for database db as the superuser, over the socket.
func (c *Cluster) AdminURL(db string) string { return c.URL(db, Superuser) }

// URL returns a URL for database db as user, over the Unix socket (trust
// authentication: no password).
func (c *Cluster) URL(db, user string) string {
	u := url.URL{Scheme: "postgres", User: url.User(user), Path: "/" + db}
	u.RawQuery = url.Values{"host": {c.dir}, "port": {strconv.Itoa(c.port)}}.Encode()
	return u.String()
}

// SocketDir returns the directory of the Unix socket (the cluster directory).
func (c *Cluster) SocketDir() string { return c.dir }

// Port returns the TCP port, or SocketPort, which names the socket file, when
// the cluster listens on the Unix socket only.
func (c *Cluster) Port() int { return c.port }

// DataDir returns the data directory.
func (c *Cluster) DataDir() string { return c.dataDir }

// PID returns the postmaster's process id.
func (c *Cluster) PID() int { return c.cmd.Process.Pid }

// Done returns a channel closed when the postmaster has exited, by Stop or
// otherwise.
func (c *Cluster) Done() <-chan struct{} { return c.done }

// LogTail returns the last lines of the server log.
func (c *Cluster) LogTail() string { return lastLines(c.log.String(), 40) }

// Stop shuts the server down: SIGINT (fast shutdown: roll back and
// disconnect sessions, checkpoint), then SIGQUIT after 10 s (immediate
// shutdown), then SIGKILL. It returns when the postmaster has exited, and
// removes the directory when Start made a temporary one. It is idempotent
// and safe to call concurrently: every call returns the first call's result,
// which reports a server that had died before Stop or had to be forced.
func (c *Cluster) Stop() error {
	c.stopOnce.Do(func() { c.stopErr = c.stop() })
	return c.stopErr
}

func (c *Cluster) stop() error {
	var err error
	select {
	case <-c.done:
		if c.exitErr != nil {
			err = fmt.Errorf("postgres had exited: %w", c.exitErr)
		}
	default:
		err = c.shutdown()
	}
	c.drainLog()
	if c.tempDir {
		if rerr := os.RemoveAll(c.dir); rerr != nil {
			err = errors.Join(err, rerr)
		}
	}
	return err
}

func (c *Cluster) shutdown() error {
	steps := []struct {
		sig     syscall.Signal
		timeout time.Duration
	}{
		{syscall.SIGINT, fastStopTimeout},
		{syscall.SIGQUIT, killTimeout},
		{syscall.SIGKILL, killTimeout},
	}
	for i, s := range steps {
		if err := c.cmd.Process.Signal(s.sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
			return fmt.Errorf("signal postgres: %w", err)
		}
		select {
		case <-c.done:
			if i == 0 {
				if c.exitErr != nil {
					return fmt.Errorf("postgres: %w", c.exitErr)
				}
				return nil
			}
			return fmt.Errorf("postgres ignored SIGINT for %s; stopped it with %s", fastStopTimeout, s.sig)
		case <-time.After(s.timeout):
		}
	}
	return fmt.Errorf("postgres (pid %d) survived SIGKILL", c.cmd.Process.Pid)
}

func (c *Cluster) socketPath() string {
	return filepath.Join(c.dir, ".s.PGSQL."+strconv.Itoa(c.port))
}

// serverEnv is this process's environment without libpq's PG* variables
// (PGPORT would change the server's default port), and with the identity
// variables of the server's user when it differs from ours.
func serverEnv(a *account) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "PG") {
			continue
		}
		if a.cred != nil && (strings.HasPrefix(kv, "HOME=") || strings.HasPrefix(kv, "USER=") || strings.HasPrefix(kv, "LOGNAME=")) {
			continue
		}
		env = append(env, kv)
	}
	if a.cred != nil {
		env = append(env, "HOME="+a.home, "USER="+a.name, "LOGNAME="+a.name)
	}
	return env
}

// processAlive reports whether pid is a process this user may signal.
// PostgreSQL itself disregards a lock file whose process is gone or belongs
// to another user (EPERM), so only these need clearing.
func processAlive(pid int) bool { return syscall.Kill(pid, 0) == nil }

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(string(b), "\n")
	return strings.TrimSpace(s)
}

// lastLines returns at most the last n lines of s.
func lastLines(s string, n int) string {
	s = strings.TrimRight(s, "\n")
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// tailBuffer keeps the last bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func newTailBuffer(max int) *tailBuffer { return &tailBuffer{max: max} }

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
