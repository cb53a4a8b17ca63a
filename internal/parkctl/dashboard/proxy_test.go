package dashboard

import (
	"context"
	"errors"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
)

// proxy relays connections to the test cluster's Unix socket through a
// socket of its own, so that a test can take the database away (cut:
// every connection dropped, new ones refused) and give it back (restore)
// without touching the cluster the other tests share.
type proxy struct {
	t      testing.TB
	url    string // the target URL with host pointing at the proxy
	target string // the cluster's socket
	socket string // the proxy's socket

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]struct{}
}

// newProxy starts a proxy for the database of rawURL (a pgtest URL with
// host and port parameters).
func newProxy(t testing.TB, rawURL string) *proxy {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	port := q.Get("port")
	if port == "" {
		port = "5432"
	}
	// Under /tmp: a socket path must stay short.
	dir, err := os.MkdirTemp("/tmp", "parkdash-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	p := &proxy{t: t, target: filepath.Join(q.Get("host"), ".s.PGSQL."+port),
		socket: filepath.Join(dir, ".s.PGSQL."+port), conns: map[net.Conn]struct{}{}}
	q.Set("host", dir)
	u.RawQuery = q.Encode()
	p.url = u.String()
	p.restore()
	t.Cleanup(p.cut)
	return p
}

// pool returns a pool through the proxy, closed when the test ends.
func (p *proxy) pool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), p.url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// restore listens again.
func (p *proxy) restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		return
	}
	os.Remove(p.socket)
	ln, err := net.Listen("unix", p.socket)
	if err != nil {
		p.t.Fatal(err)
	}
	p.ln = ln
	go p.accept(ln)
}

// cut closes the listener and every relayed connection.
func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
		delete(p.conns, c)
	}
}

func (p *proxy) accept(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("unix", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		if p.ln != ln { // cut meanwhile
			p.mu.Unlock()
			c.Close()
			up.Close()
			return
		}
		p.conns[c], p.conns[up] = struct{}{}, struct{}{}
		p.mu.Unlock()
		go p.pipe(c, up)
		go p.pipe(up, c)
	}
}

func (p *proxy) pipe(dst, src net.Conn) {
	_, err := io.Copy(dst, src)
	if err != nil && !errors.Is(err, net.ErrClosed) {
		_ = err // a dropped connection: nothing to report
	}
	dst.Close()
	src.Close()
	p.mu.Lock()
	delete(p.conns, dst)
	delete(p.conns, src)
	p.mu.Unlock()
}
