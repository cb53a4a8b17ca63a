package redistest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// CLIEnv names the environment variable that overrides the redis-cli
// binary, which creates clusters.
const CLIEnv = "PARK_REDIS_CLI"

// ClusterSize is the number of masters of a test cluster.
const ClusterSize = 3

// NodeTimeout is the test clusters' cluster-node-timeout: a master that
// answers no ping for this long is marked failed by the others.
const NodeTimeout = 2 * time.Second

const (
	clusterPrefix  = "redistest-cluster-" // under /tmp
	ownerFile      = "owner"              // pid of the test binary, for sweepStale
	clusterTimeout = time.Minute          // start-up: three servers and redis-cli's join wait
	busOffset      = 10000                // a node's cluster bus listens on port + busOffset
	portTries      = 20
	staleAge       = time.Hour
)

// CLI returns the redis-cli to run: $PARK_REDIS_CLI when set, else the
// redis-cli beside $PARK_REDIS_SERVER when that is set and has one, else
// redis-cli on PATH. The error wraps ErrNotFound.
func CLI() (string, error) {
	if p := os.Getenv(CLIEnv); p != "" {
		if !executable(p) {
			return "", fmt.Errorf("%w: %s=%s is not an executable file", ErrNotFound, CLIEnv, p)
		}
		return p, nil
	}
	if srv := os.Getenv(ServerEnv); srv != "" {
		if p := filepath.Join(filepath.Dir(srv), "redis-cli"); executable(p) {
			return p, nil
		}
	}
	p, err := exec.LookPath("redis-cli")
	if err != nil {
		return "", fmt.Errorf("%w: redis-cli not on PATH (install it or set %s)", ErrNotFound, CLIEnv)
	}
	return p, nil
}

func executable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

// ClusterOptions configure a test cluster.
type ClusterOptions struct {
	// RequireFullCoverage starts the nodes with
	// cluster-require-full-coverage yes, Redis's default: then every node
	// refuses every key while any slot has no live master. The default
	// here is no: the slots of the live masters go on serving.
	RequireFullCoverage bool
}

// Cluster is a running Redis Cluster of ClusterSize masters, no replicas,
// on 127.0.0.1: each node a redis-server with cluster-enabled yes, its
// own directory and cluster-config-file, no persistence, and
// cluster-node-timeout NodeTimeout; the slots assigned by redis-cli
// --cluster create. Its ports are free ports below 55536 (a node's bus
// listens on port + 10000), below the kernel's ephemeral range where it
// can, never 6379.
//
// Kill and Restart take one master away and bring it back on the same port
// with the same cluster-config-file: the same node, holding the same
// slots, with no keys and no scripts, as after a crash.
type Cluster struct {
	t     testing.TB // nil for SharedCluster and StartCluster
	dir   string
	nodes []*Server
}

// NewCluster starts a cluster of the test's own, which it may Kill and
// Restart nodes of, and stops it, removing its directories, when the test
// ends. Starting one takes a few seconds (redis-cli waits for the nodes to
// join): tests that only need a cluster share SharedCluster.
func NewCluster(t testing.TB, o ClusterOptions) *Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), clusterTimeout)
	defer cancel()
	c, err := StartCluster(ctx, o)
	if err != nil {
		skipOrFail(t, err)
	}
	c.t = t
	for _, n := range c.nodes {
		n.t = t
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Error(err)
		}
	})
	return c
}

// shared is the test binary's SharedCluster, process-wide on purpose: one
// per binary is the point.
var shared struct {
	mu  sync.Mutex
	c   *Cluster
	err error // a start failure, reported to every later caller
}

// SharedCluster returns the test binary's cluster (default options),
// starting it on first use. Its nodes cannot be killed or restarted: tests
// that do so use NewCluster. Tests sharing it use keys of their own.
// Shutdown, or Main from TestMain, stops it; if the binary dies first its
// servers die with it and the next start sweeps the directory.
func SharedCluster(t testing.TB) *Cluster {
	t.Helper()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.err != nil {
		skipOrFail(t, shared.err)
	}
	if shared.c == nil {
		ctx, cancel := context.WithTimeout(context.Background(), clusterTimeout)
		defer cancel()
		c, err := StartCluster(ctx, ClusterOptions{})
		if err != nil {
			shared.err = err
			skipOrFail(t, err)
		}
		for _, n := range c.nodes {
			n.shared = true
		}
		shared.c = c
	}
	for i, n := range shared.c.nodes {
		if n.PID() == 0 || n.exited() {
			t.Fatalf("redistest: node %d of the shared cluster exited; log:\n%s", i, n.logTail())
		}
	}
	return shared.c
}

// Shutdown stops the shared cluster, if one runs, and removes its
// directories.
func Shutdown() error {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.c == nil {
		return nil
	}
	for _, n := range shared.c.nodes {
		n.shared = false
	}
	err := shared.c.Close()
	shared.c, shared.err = nil, nil
	return err
}

// Main runs the tests, then Shutdown, and returns the exit code:
//
//	func TestMain(m *testing.M) { os.Exit(redistest.Main(m)) }
func Main(m *testing.M) int {
	code := m.Run()
	if err := Shutdown(); err != nil {
		fmt.Fprintln(os.Stderr, "redistest:", err)
	}
	return code
}

// StartCluster starts a cluster for callers without a testing.TB. The
// caller calls Close. Its Kill and Restart panic on error.
func StartCluster(ctx context.Context, o ClusterOptions) (*Cluster, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	cli, err := CLI()
	if err != nil {
		return nil, err
	}
	sweepStale()
	dir, err := os.MkdirTemp("/tmp", clusterPrefix)
	if err != nil {
		return nil, fmt.Errorf("cluster directory: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, ownerFile), []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("cluster directory: %w", err)
	}
	c := &Cluster{dir: dir}
	fail := func(err error) (*Cluster, error) {
		return nil, errors.Join(err, c.Close())
	}
	coverage := "no"
	if o.RequireFullCoverage {
		coverage = "yes"
	}
	for i := range ClusterSize {
		n, err := startNode(ctx, bin, filepath.Join(dir, "n"+strconv.Itoa(i)), coverage)
		if err != nil {
			return fail(err)
		}
		c.nodes = append(c.nodes, n)
	}
	args := []string{"--cluster", "create"}
	args = append(args, c.Addrs()...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	out, err := exec.CommandContext(ctx, cli, args...).CombinedOutput()
	if err != nil {
		return fail(fmt.Errorf("redis-cli --cluster create: %w; output:\n%s", err, out))
	}
	if err := c.WaitHealthy(ctx); err != nil {
		return fail(err)
	}
	return c, nil
}

// startNode starts one cluster node in dir (created), on a free port,
// trying other ports when the one it picked is taken meanwhile.
func startNode(ctx context.Context, bin, dir, coverage string) (*Server, error) {
	if err := os.Mkdir(dir, 0o700); err != nil {
		return nil, fmt.Errorf("node directory: %w", err)
	}
	var lastErr error
	for range portTries {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		s := &Server{bin: bin, dir: dir, network: "tcp", addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), args: []string{
			"--port", strconv.Itoa(port),
			"--bind", "127.0.0.1",
			"--cluster-enabled", "yes",
			"--cluster-config-file", "nodes.conf", // in --dir
			"--cluster-require-full-coverage", coverage,
			"--cluster-node-timeout", strconv.Itoa(int(NodeTimeout / time.Millisecond)),
		}}
		err = s.start(ctx)
		if err == nil {
			return s, nil
		}
		releasePort(port)
		if !errors.Is(err, errAddrInUse) {
			return nil, err
		}
		lastErr = err
		// A node that lost the race for its port may have written its
		// cluster-config-file: the next one must begin afresh.
		os.Remove(filepath.Join(dir, "nodes.conf"))
	}
	return nil, fmt.Errorf("no free port for a cluster node after %d tries: %w", portTries, lastErr)
}

// errAddrInUse reports a server that could not bind its port.
var errAddrInUse = errors.New("address already in use")

// ports holds the ports this binary's nodes use, killed ones included, so
// that no other test of the binary takes a port a node is to restart on.
var ports struct {
	mu    sync.Mutex
	taken map[int]bool
}

// freePort picks a port p, not yet used by this binary, on which both p
// and p + 10000 (the bus) can be bound on 127.0.0.1 right now, and
// reserves it. Both lie below the kernel's ephemeral range when it leaves
// room (so outgoing connections cannot take them), and always below
// 55536. Another process may still bind p before the server does: the
// caller then tries again.
func freePort() (int, error) {
	lo, hi := portRange()
	ports.mu.Lock()
	defer ports.mu.Unlock()
	if ports.taken == nil {
		ports.taken = make(map[int]bool)
	}
	for range 200 {
		p := lo + rand.IntN(hi-lo)
		if ports.taken[p] || p == 6379 || p+busOffset == 6379 {
			continue
		}
		if !canBind(p) || !canBind(p+busOffset) {
			continue
		}
		ports.taken[p] = true
		return p, nil
	}
	return 0, fmt.Errorf("redistest: no free port pair in [%d, %d)", lo, hi)
}

func releasePort(p int) {
	ports.mu.Lock()
	defer ports.mu.Unlock()
	delete(ports.taken, p)
}

// portRange returns [lo, hi) for a node's port.
func portRange() (lo, hi int) {
	lo, hi = 10000, 65536-busOffset
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if eph, err := strconv.Atoi(f[0]); err == nil && eph-busOffset-lo >= 1000 {
				hi = eph - busOffset
			}
		}
	}
	return lo, hi
}

func canBind(port int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// Addrs returns the nodes' host:port addresses, in node order.
func (c *Cluster) Addrs() []string {
	a := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		a[i] = n.Addr()
	}
	return a
}

// URL returns the cluster's URL in the form redis.ParseClusterURL reads:
// redis://127.0.0.1:p0?addr=127.0.0.1:p1&addr=127.0.0.1:p2.
func (c *Cluster) URL() string {
	addrs := c.Addrs()
	var b strings.Builder
	b.WriteString("redis://" + addrs[0])
	for i, a := range addrs[1:] {
		if i == 0 {
			b.WriteString("?")
		} else {
			b.WriteString("&")
		}
		b.WriteString("addr=" + a)
	}
	return b.String()
}

// Node returns node i (0 ≤ i < ClusterSize), for its Addr, PID or Client.
func (c *Cluster) Node(i int) *Server { return c.nodes[i] }

// Client returns a cluster client, closed when the test ends. It dials a
// node once per attempt (go-redis's default of five would make every call
// to a killed node's slots take seconds).
func (c *Cluster) Client(t testing.TB) *redis.ClusterClient {
	t.Helper()
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs(), DialerRetries: 1})
	t.Cleanup(func() { cc.Close() })
	return cc
}

// NodeOf returns the index of the node that holds key's slot, asking a
// live node for the slot and the slot map.
func (c *Cluster) NodeOf(ctx context.Context, key string) (int, error) {
	var lastErr error
	for _, n := range c.nodes {
		if n.PID() == 0 {
			continue
		}
		cl := redis.NewClient(&redis.Options{Addr: n.Addr(), MaxRetries: -1})
		i, err := c.nodeOf(ctx, cl, key)
		cl.Close()
		if err == nil {
			return i, nil
		}
		lastErr = err
	}
	return 0, fmt.Errorf("slot owner of %q: %w", key, lastErr)
}

func (c *Cluster) nodeOf(ctx context.Context, cl *redis.Client, key string) (int, error) {
	slot, err := cl.ClusterKeySlot(ctx, key).Result()
	if err != nil {
		return 0, err
	}
	ranges, err := cl.ClusterSlots(ctx).Result()
	if err != nil {
		return 0, err
	}
	for _, r := range ranges {
		if int64(r.Start) <= slot && slot <= int64(r.End) && len(r.Nodes) > 0 {
			for i, n := range c.nodes {
				if n.Addr() == r.Nodes[0].Addr {
					return i, nil
				}
			}
			return 0, fmt.Errorf("slot %d is held by %s, not a node of this cluster", slot, r.Nodes[0].Addr)
		}
	}
	return 0, fmt.Errorf("slot %d is not assigned", slot)
}

// Kill ends node i with SIGKILL, as a crash would. The others mark it
// failed after NodeTimeout. It fails the test on error.
func (c *Cluster) Kill(i int) { c.nodes[i].Kill() }

// Restart starts node i again (killing it first if it runs) on its port
// with its cluster-config-file, empty, and waits until every node reports
// cluster_state:ok with every slot served. It fails the test on error.
func (c *Cluster) Restart(i int) {
	c.nodes[i].Restart()
	ctx, cancel := context.WithTimeout(context.Background(), clusterTimeout)
	defer cancel()
	c.nodes[i].fail(c.WaitHealthy(ctx))
}

// WaitHealthy polls CLUSTER INFO on every node until each reports
// cluster_state:ok, all 16384 slots ok and every node known.
func (c *Cluster) WaitHealthy(ctx context.Context) error {
	clients := make([]*redis.Client, len(c.nodes))
	for i, n := range c.nodes {
		clients[i] = redis.NewClient(&redis.Options{Addr: n.Addr(), MaxRetries: -1})
		defer clients[i].Close()
	}
	want := map[string]string{
		"cluster_state":          "ok",
		"cluster_slots_assigned": "16384",
		"cluster_slots_ok":       "16384",
		"cluster_known_nodes":    strconv.Itoa(len(c.nodes)),
	}
	var last string
	for {
		healthy := true
		for i, cl := range clients {
			info, err := cl.ClusterInfo(ctx).Result()
			if err != nil {
				healthy, last = false, fmt.Sprintf("node %d: %v", i, err)
				break
			}
			if bad := infoMismatch(info, want); bad != "" {
				healthy, last = false, fmt.Sprintf("node %d: %s", i, bad)
				break
			}
		}
		if healthy {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cluster not healthy: %w (%s)", ctx.Err(), last)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// infoMismatch returns the first field of a CLUSTER INFO reply that
// differs from want, or "".
func infoMismatch(info string, want map[string]string) string {
	got := make(map[string]string)
	sc := bufio.NewScanner(strings.NewReader(info))
	for sc.Scan() {
		if k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), ":"); ok {
			got[k] = v
		}
	}
	for k, v := range want {
		if got[k] != v {
			return fmt.Sprintf("%s:%s, want %s", k, got[k], v)
		}
	}
	return ""
}

// Close stops every node and removes the cluster's directories. It is
// idempotent.
func (c *Cluster) Close() error {
	var err error
	for _, n := range c.nodes {
		err = errors.Join(err, n.Close())
		if p, perr := strconv.Atoi(n.addr[strings.LastIndexByte(n.addr, ':')+1:]); perr == nil {
			releasePort(p)
		}
	}
	if c.dir != "" {
		err = errors.Join(err, os.RemoveAll(c.dir))
		c.dir = ""
	}
	return err
}

// sweepStale removes the cluster directories whose owner file names a
// test process that is gone (or that have no owner file and are older
// than an hour): the leftovers of test binaries that died before their
// cleanup. Their servers died with them (tiedproc). pgtest.SweepStale
// follows the same convention.
func sweepStale() {
	dirs, _ := filepath.Glob(filepath.Join("/tmp", clusterPrefix+"*"))
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

// OnePerNode returns, for each node in order, the first of name(0),
// name(1), … whose key the node holds: key(name) is the key asked about
// (nil: the name itself). Tests use it to put one tenant on each master.
func (c *Cluster) OnePerNode(t testing.TB, name func(i int) string, key func(name string) string) []string {
	t.Helper()
	if key == nil {
		key = func(name string) string { return name }
	}
	out := make([]string, len(c.nodes))
	for i, found := 0, 0; found < len(out); i++ {
		if i > 100_000 {
			t.Fatalf("no key found for every node after %d names", i)
		}
		n := name(i)
		node, err := c.NodeOf(context.Background(), key(n))
		if err != nil {
			t.Fatal(err)
		}
		if out[node] == "" {
			out[node] = n
			found++
		}
	}
	return out
}
