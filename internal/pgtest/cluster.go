package pgtest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parkhq/park/internal/pgcluster"
)

// state is the test binary's cluster. It is process-wide on purpose: one
// cluster per test binary is the point.
var state struct {
	mu      sync.Mutex
	dir     string // the parktest- directory: owner, server.log, pg/
	log     *os.File
	cluster *pgcluster.Cluster
	admin   *pgxpool.Pool // superuser sessions on the postgres database
	err     error         // a start failure, reported to every later caller

	templateMu    sync.Mutex
	templateReady bool
	templateErr   error

	cloneMu sync.Mutex
}

// Layout of a test cluster directory, /tmp/parktest-NNN:
//
//	owner       pid of the test binary, for sweepStale
//	server.log  the server's log
//	pg/         the pgcluster directory (data/ and the socket), owned by
//	            the server's user
const (
	ownerFile = "owner"
	logFile   = "server.log"
	pgSubdir  = "pg"
)

// staleAge is how old a cluster directory without an owner file must be
// before sweepStale removes it: a binary may be between creating the
// directory and writing the file.
const staleAge = time.Hour

// Cluster returns the test binary's cluster, starting it on first use. A
// start failure is returned to this and every later call. Tests use NewDB
// instead; Cluster is for tests that need the server itself.
func Cluster(ctx context.Context) (*pgcluster.Cluster, error) {
	state.mu.Lock()
	defer state.mu.Unlock()
	if state.err != nil {
		return nil, state.err
	}
	if state.cluster != nil {
		select {
		case <-state.cluster.Done():
			state.err = fmt.Errorf("the test cluster exited unexpectedly; server log %s:\n%s",
				filepath.Join(state.dir, logFile), state.cluster.LogTail())
			return nil, state.err
		default:
			return state.cluster, nil
		}
	}
	if err := startCluster(ctx); err != nil {
		if ctx.Err() == nil {
			state.err = err
		}
		return nil, err
	}
	return state.cluster, nil
}

// startCluster runs with state.mu held.
func startCluster(ctx context.Context) error {
	bin, err := pgcluster.BinDir()
	if err != nil {
		return err
	}
	sweepStale()
	dir, err := os.MkdirTemp("/tmp", dirPrefix)
	if err != nil {
		return fmt.Errorf("test cluster directory: %w", err)
	}
	// The server's user must pass through to pg/ but has no business
	// listing the rest.
	if err := os.Chmod(dir, 0o711); err != nil {
		os.RemoveAll(dir)
		return fmt.Errorf("test cluster directory: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, ownerFile), []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		os.RemoveAll(dir)
		return fmt.Errorf("test cluster directory: %w", err)
	}
	logf, err := os.Create(filepath.Join(dir, logFile))
	if err != nil {
		os.RemoveAll(dir)
		return fmt.Errorf("test cluster log: %w", err)
	}
	c, err := pgcluster.Start(ctx, pgcluster.Options{
		Dir:       filepath.Join(dir, pgSubdir),
		BinDir:    bin,
		LogWriter: logf,
		Settings: map[string]string{
			// Who and which database, so a failing test's lines can be
			// picked out of the shared log.
			"log_line_prefix": "%m [%p] %q%u@%d ",
			"log_checkpoints": "off",
		},
	})
	if err != nil {
		logf.Close()
		os.RemoveAll(dir)
		return fmt.Errorf("start test cluster: %w", err)
	}
	cfg, err := pgxpool.ParseConfig(c.AdminURL("postgres"))
	if err != nil {
		c.Stop()
		logf.Close()
		os.RemoveAll(dir)
		return err
	}
	cfg.MaxConns = 4
	admin, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		c.Stop()
		logf.Close()
		os.RemoveAll(dir)
		return fmt.Errorf("connect to test cluster: %w", err)
	}
	state.dir, state.log, state.cluster, state.admin = dir, logf, c, admin
	return nil
}

// adminPool returns the superuser pool on the postgres database.
func adminPool(ctx context.Context) (*pgxpool.Pool, error) {
	if _, err := Cluster(ctx); err != nil {
		return nil, err
	}
	state.mu.Lock()
	defer state.mu.Unlock()
	if state.admin == nil {
		return nil, errors.New("the test cluster was shut down")
	}
	return state.admin, nil
}

// Shutdown stops the test cluster and removes its directory. A later
// Cluster or NewDB starts a new one. TestMain calls it after m.Run, directly
// or through Main.
func Shutdown() error {
	state.mu.Lock()
	defer state.mu.Unlock()
	state.templateMu.Lock()
	defer state.templateMu.Unlock()
	var err error
	if state.admin != nil {
		state.admin.Close()
	}
	if state.cluster != nil {
		if serr := state.cluster.Stop(); serr != nil {
			err = fmt.Errorf("stop test cluster: %w", serr)
		}
	}
	if state.log != nil {
		state.log.Close()
	}
	if state.dir != "" {
		if rerr := os.RemoveAll(state.dir); rerr != nil {
			err = errors.Join(err, rerr)
		}
	}
	state.dir, state.log, state.cluster, state.admin, state.err = "", nil, nil, nil, nil
	state.templateReady, state.templateErr = false, nil
	return err
}

// Main runs the tests and then Shutdown, and returns the exit code. When a
// test failed it first prints the end of the server log to stderr:
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
func Main(m *testing.M) int {
	code := m.Run()
	if code != 0 {
		state.mu.Lock()
		if state.cluster != nil {
			fmt.Fprintf(os.Stderr, "pgtest: end of the server log (%s):\n%s\n",
				filepath.Join(state.dir, logFile), state.cluster.LogTail())
		}
		state.mu.Unlock()
	}
	if err := Shutdown(); err != nil {
		fmt.Fprintln(os.Stderr, "pgtest:", err)
	}
	return code
}

// sweepStale removes the directories of test clusters whose binary has
// died without Shutdown (a panic, a timeout, a kill). Their servers died
// with them: see pgcluster.
func sweepStale() { SweepStale(dirPrefix) }

// SweepStale removes the /tmp directories named prefix* whose owner file
// names a test process that is gone (or that have no owner file and are
// older than an hour): the leftovers of test binaries that died before
// their cleanup. Harnesses that start other servers (pgbouncertest) share
// the convention: an "owner" file holding the test process's pid.
func SweepStale(prefix string) {
	dirs, _ := filepath.Glob(filepath.Join("/tmp", prefix+"*"))
	for _, dir := range dirs {
		b, err := os.ReadFile(filepath.Join(dir, ownerFile))
		if err != nil {
			if fi, serr := os.Stat(dir); serr == nil && fi.IsDir() && time.Since(fi.ModTime()) > staleAge {
				os.RemoveAll(dir)
			}
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 0 {
			continue
		}
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			os.RemoveAll(dir)
		}
	}
}

// logOffset returns the current size of the server log.
func logOffset() int64 {
	state.mu.Lock()
	defer state.mu.Unlock()
	if state.log == nil {
		return 0
	}
	fi, err := state.log.Stat()
	if err != nil {
		return 0
	}
	return fi.Size()
}

// maxLogLines bounds what a failing test prints.
const maxLogLines = 60

// serverLog returns the log lines about database db written since offset.
func serverLog(offset int64, db string) string {
	state.mu.Lock()
	path := ""
	if state.dir != "" {
		path = filepath.Join(state.dir, logFile)
	}
	state.mu.Unlock()
	if path == "" {
		return ""
	}
	syncLog(path)
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return ""
	}
	return filterLog(f, db)
}

// syncLog waits until the log file holds everything the server logged so
// far. A backend logs an error before its client sees it, but the log
// reaches the file through a pipe and a goroutine; a mark logged now comes
// out of the pipe after every earlier line.
func syncLog(path string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	admin, err := adminPool(ctx)
	if err != nil {
		return
	}
	mark := "pgtest log mark " + newName()
	if _, err := admin.Exec(ctx, "DO $$ BEGIN RAISE LOG '"+mark+"'; END $$"); err != nil {
		return
	}
	for ctx.Err() == nil {
		if b, err := os.ReadFile(path); err != nil || bytes.Contains(b, []byte(mark)) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// filterLog keeps the lines of database db (log_line_prefix "… user@db ")
// and their continuation lines, the last maxLogLines of them.
func filterLog(r io.Reader, db string) string {
	marker := "@" + db + " "
	var kept []string
	keep := false
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "\t") || strings.HasPrefix(line, " ") {
			// A multi-line statement continues the line before it.
		} else {
			keep = strings.Contains(line, marker)
		}
		if keep {
			kept = append(kept, line)
		}
	}
	if len(kept) > maxLogLines {
		kept = append([]string{fmt.Sprintf("[%d earlier lines omitted]", len(kept)-maxLogLines)}, kept[len(kept)-maxLogLines:]...)
	}
	var b bytes.Buffer
	for _, l := range kept {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	return b.String()
}
