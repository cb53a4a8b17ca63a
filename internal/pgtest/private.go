package pgtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/parkhq/park/internal/pgcluster"
)

// PrivateDBName is the database a Private cluster holds.
const PrivateDBName = "park"

// Private is a PostgreSQL cluster of one test's own, holding one
// bootstrapped and migrated database, for tests that take the server away
// and bring it back: the shared cluster of NewDB serves every test of the
// binary and must never stop. Stop and Start keep the data and the socket
// path, so URLs taken before a Stop work again after Start.
//
// It costs an initdb and a migration (a few seconds), so only fault tests
// use it.
type Private struct {
	// DB is the database PrivateDBName on the private cluster, with the
	// same logins as NewDB's (ServerURL, OpsURL, AdminURL). It goes away
	// with the cluster when the test ends; its Drop refuses.
	DB *DB

	t    testing.TB
	dir  string // the parktest- directory: owner, server.log, pg/
	bin  string
	logf *os.File

	mu sync.Mutex
	c  *pgcluster.Cluster // nil while stopped
}

// NewPrivate starts a private cluster for t, builds its database, and
// removes both when the test ends. It skips the test when the PostgreSQL
// server binaries are missing, unless CI=true, where it fails.
func NewPrivate(t testing.TB) *Private {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	bin, err := pgcluster.BinDir()
	if err != nil {
		skipOrFail(t, err)
	}
	sweepStale()
	dir, err := os.MkdirTemp("/tmp", dirPrefix)
	if err != nil {
		t.Fatal(err)
	}
	p := &Private{t: t, dir: dir, bin: bin}
	t.Cleanup(func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		if t.Failed() && p.logf != nil {
			t.Logf("end of the private cluster's log (%s):\n%s", p.dir, p.logTail())
		}
		if p.c != nil {
			if err := p.c.Stop(); err != nil {
				t.Error(err)
			}
		}
		if p.logf != nil {
			p.logf.Close()
		}
		os.RemoveAll(p.dir)
	})
	// The server's user passes through to pg/ (see startCluster).
	if err := os.Chmod(dir, 0o711); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ownerFile), []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if p.logf, err = os.Create(filepath.Join(dir, logFile)); err != nil {
		t.Fatal(err)
	}
	if err := p.start(ctx); err != nil {
		t.Fatal(err)
	}
	c := p.c
	admin, err := pgx.Connect(ctx, c.AdminURL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{PrivateDBName}.Sanitize()+" TEMPLATE template0")
	admin.Close(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := prepareDatabase(ctx, c.AdminURL(PrivateDBName)); err != nil {
		t.Fatalf("private cluster: %v", err)
	}
	p.DB = newDBOn(c, PrivateDBName)
	p.DB.private = true
	return p
}

func (p *Private) start(ctx context.Context) error {
	c, err := pgcluster.Start(ctx, pgcluster.Options{
		Dir:       filepath.Join(p.dir, pgSubdir),
		BinDir:    p.bin,
		LogWriter: p.logf,
		Settings: map[string]string{
			"log_line_prefix": "%m [%p] %q%u@%d ",
			"log_checkpoints": "off",
		},
	})
	if err != nil {
		return fmt.Errorf("start private cluster: %w", err)
	}
	p.c = c
	return nil
}

// Stop shuts the server down the way an operator's fast shutdown does:
// sessions are ended (their clients read SQLSTATE 57P01) and new
// connections are refused until Start. Stopping a stopped cluster does
// nothing. It fails the test on error.
func (p *Private) Stop() {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.c == nil {
		return
	}
	err := p.c.Stop()
	p.c = nil
	if err != nil {
		p.t.Fatal(err)
	}
}

// Start starts the stopped server again on the same data and socket, and
// returns once it accepts connections. Starting a running cluster does
// nothing. It fails the test on error.
func (p *Private) Start() {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.c != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := p.start(ctx); err != nil {
		p.t.Fatal(err)
	}
}

// logTail returns the end of the server log; p.mu is held.
func (p *Private) logTail() string {
	b, err := os.ReadFile(filepath.Join(p.dir, logFile))
	if err != nil {
		return err.Error()
	}
	return lastLines(string(b), 40)
}

// errPrivateDrop is Drop's answer for a Private's database.
var errPrivateDrop = errors.New("pgtest: a private cluster's database goes away with the cluster; it is not dropped")

// lastLines returns at most the last n lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
