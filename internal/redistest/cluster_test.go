package redistest

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

// TestSharedCluster checks the shared cluster's shape: three masters on
// loopback ports below 55536, each with its own cluster-config-file and
// directory, the settings the brief of the harness names, every slot
// served, and a URL that go-redis reads as a cluster.
func TestSharedCluster(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := SharedCluster(t)
	if again := SharedCluster(t); again != c {
		t.Fatal("SharedCluster started a second cluster")
	}
	opts, err := redis.ParseClusterURL(c.URL())
	if err != nil {
		t.Fatalf("ParseClusterURL(%q): %v", c.URL(), err)
	}
	if !slices.Equal(opts.Addrs, c.Addrs()) {
		t.Errorf("ParseClusterURL(%q).Addrs = %v, want %v", c.URL(), opts.Addrs, c.Addrs())
	}
	dirs := map[string]bool{}
	for i, addr := range c.Addrs() {
		host, portStr, _ := strings.Cut(addr, ":")
		port, _ := strconv.Atoi(portStr)
		if host != "127.0.0.1" || port <= 0 || port+busOffset > 65535 || port == 6379 {
			t.Errorf("node %d on %s: want 127.0.0.1 and a port below 55536, not 6379", i, addr)
		}
		n := c.Node(i).Client(t)
		for param, want := range map[string]string{
			"cluster-enabled": "yes", "cluster-require-full-coverage": "no", "cluster-node-timeout": "2000",
			"cluster-config-file": "nodes.conf", "save": "", "appendonly": "no", "bind": "127.0.0.1",
		} {
			got, err := n.ConfigGet(ctx, param).Result()
			if err != nil || got[param] != want {
				t.Errorf("node %d: CONFIG GET %s = %q (%v), want %q", i, param, got[param], err, want)
			}
		}
		dir, err := n.ConfigGet(ctx, "dir").Result()
		if err != nil || dirs[dir["dir"]] || !strings.HasPrefix(dir["dir"], "/tmp/"+clusterPrefix) {
			t.Errorf("node %d: dir %q (%v), want one of its own under /tmp/%s*", i, dir["dir"], err, clusterPrefix)
		}
		dirs[dir["dir"]] = true
		if _, err := os.Stat(filepath.Join(dir["dir"], "nodes.conf")); err != nil {
			t.Errorf("node %d: %v", i, err)
		}
		info, err := n.ClusterInfo(ctx).Result()
		if err != nil || infoMismatch(info, map[string]string{"cluster_state": "ok", "cluster_slots_ok": "16384", "cluster_size": "3"}) != "" {
			t.Errorf("node %d: CLUSTER INFO = %v\n%s", i, err, info)
		}
	}
	// Three masters, no replicas, each holding slots.
	slots, err := c.Client(t).ClusterSlots(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	holders := map[string]int{}
	for _, r := range slots {
		if len(r.Nodes) != 1 {
			t.Errorf("slots %d-%d on %d nodes, want a master and no replica", r.Start, r.End, len(r.Nodes))
		}
		holders[r.Nodes[0].Addr] += r.End - r.Start + 1
	}
	if len(holders) != ClusterSize {
		t.Errorf("slots held by %v, want %d masters", holders, ClusterSize)
	}

	cc := c.Client(t)
	for i := range 30 {
		key := "shared-" + strconv.Itoa(i)
		if err := cc.Set(ctx, key, i, time.Minute).Err(); err != nil {
			t.Fatalf("SET %s through the cluster client: %v", key, err)
		}
		idx, err := c.NodeOf(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := c.Node(idx).Client(t).Get(ctx, key).Int(); err != nil || got != i {
			t.Errorf("GET %s on node %d, which NodeOf names: %d, %v", key, idx, got, err)
		}
	}
	for i := range ClusterSize {
		if !c.Node(i).shared {
			t.Errorf("node %d of the shared cluster may be killed", i)
		}
	}
	r := &recorder{TB: t}
	s := &Server{t: r, dir: "/nonexistent", shared: true}
	s.Kill()
	s.Restart()
	if !r.failed {
		t.Error("Kill or Restart of a shared node was allowed")
	}
}

// TestClusterKillRestart kills a master of a cluster that does not require
// full coverage: the other masters go on serving their slots, also once
// the cluster has marked the node failed; the killed node's slots fail.
// Restarted, the node is the same (id, port, slots), empty, and the
// cluster is healthy again.
func TestClusterKillRestart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := NewCluster(t, ClusterOptions{})
	keys := keysPerNode(t, c)
	n2 := c.Node(2).Client(t)
	id, err := n2.ClusterMyID(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	cc := c.Client(t)
	for _, k := range keys {
		if err := cc.Set(ctx, k, "v", 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	pid := c.Node(2).PID()
	c.Kill(2)
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("node 2 (pid %d) still exists after Kill: %v", pid, err)
	}
	// Wait for the others to mark it failed: the outage the cluster knows.
	n0 := c.Node(0).Client(t)
	waitUntil(t, 5*NodeTimeout, func() bool {
		nodes, err := n0.ClusterNodes(ctx).Result()
		return err == nil && strings.Contains(nodes, id+" "+c.Node(2).Addr()) && lineOf(nodes, id, "fail")
	})
	for i, k := range keys[:2] {
		if err := cc.Get(ctx, k).Err(); err != nil {
			t.Errorf("key %s on live node %d with node 2 failed: %v", k, i, err)
		}
	}
	if err := cc.Get(ctx, keys[2]).Err(); err == nil {
		t.Errorf("key %s on the killed node answered", keys[2])
	}

	c.Restart(2)
	if got, err := n2.ClusterMyID(ctx).Result(); err != nil || got != id {
		t.Errorf("restarted node id = %q (%v), want %q", got, err, id)
	}
	if i, err := c.NodeOf(ctx, keys[2]); err != nil || i != 2 {
		t.Errorf("after restart, %s on node %d (%v), want 2", keys[2], i, err)
	}
	waitUntil(t, 5*NodeTimeout, func() bool { return cc.Set(ctx, keys[2], "w", 0).Err() == nil })
	if n, err := n2.DBSize(ctx).Result(); err != nil || n != 1 {
		t.Errorf("restarted node holds %d keys (%v), want only the one written since", n, err)
	}
	for i, k := range keys[:2] {
		if err := cc.Get(ctx, k).Err(); err != nil {
			t.Errorf("key %s on node %d after the restart: %v", k, i, err)
		}
	}
}

// TestClusterRequireFullCoverage is why deployments set
// cluster-require-full-coverage no: with yes (Redis's default), once the
// cluster marks one master failed every node refuses every key, the
// slots of the live masters included.
func TestClusterRequireFullCoverage(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := NewCluster(t, ClusterOptions{RequireFullCoverage: true})
	keys := keysPerNode(t, c)
	n0 := c.Node(0).Client(t)
	if err := n0.Set(ctx, keys[0], "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	c.Kill(2)
	var err error
	waitUntil(t, 5*NodeTimeout, func() bool {
		err = n0.Get(ctx, keys[0]).Err()
		return err != nil
	})
	if !strings.HasPrefix(err.Error(), "CLUSTERDOWN") {
		t.Errorf("key on a live master with another lost: %v, want CLUSTERDOWN", err)
	}
	c.Restart(2)
	if err := n0.Get(ctx, keys[0]).Err(); err != nil {
		t.Errorf("after the restart: %v", err)
	}
}

func TestClusterClose(t *testing.T) {
	t.Parallel()
	if _, err := Binary(); err != nil {
		skipOrFail(t, err)
	}
	if _, err := CLI(); err != nil {
		skipOrFail(t, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), clusterTimeout)
	defer cancel()
	c, err := StartCluster(ctx, ClusterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dir := c.dir
	var pids []int
	for i := range ClusterSize {
		pids = append(pids, c.Node(i).PID())
	}
	if b, err := os.ReadFile(filepath.Join(dir, ownerFile)); err != nil || strings.TrimSpace(string(b)) != strconv.Itoa(os.Getpid()) {
		t.Errorf("owner file = %q, %v; want this process's pid", b, err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	for _, pid := range pids {
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("node pid %d still exists after Close: %v", pid, err)
		}
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("directory %s left after Close: %v", dir, err)
	}
}

// TestSweepStale removes the directory of a dead test process and keeps
// those of live ones.
func TestSweepStale(t *testing.T) {
	t.Parallel()
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	mk := func(pid int) string {
		dir, err := os.MkdirTemp("/tmp", clusterPrefix)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		if err := os.WriteFile(filepath.Join(dir, ownerFile), []byte(strconv.Itoa(pid)+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	gone, live := mk(dead.Process.Pid), mk(os.Getpid())
	sweepStale()
	if _, err := os.Stat(gone); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("directory of dead pid %d kept: %v", dead.Process.Pid, err)
	}
	if _, err := os.Stat(live); err != nil {
		t.Errorf("directory of this live process removed: %v", err)
	}
}

func TestFreePort(t *testing.T) {
	t.Parallel()
	lo, hi := portRange()
	if lo < 1024 || hi+busOffset > 65536 || hi-lo < 1000 {
		t.Fatalf("port range [%d, %d)", lo, hi)
	}
	seen := map[int]bool{}
	for range 20 {
		p, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { releasePort(p) })
		if p < lo || p >= hi || p == 6379 || seen[p] {
			t.Errorf("port %d: outside [%d, %d), 6379, or handed out twice", p, lo, hi)
		}
		seen[p] = true
	}
}

func TestCLIEnv(t *testing.T) {
	t.Setenv(CLIEnv, "/nonexistent/redis-cli")
	if _, err := CLI(); !errors.Is(err, ErrNotFound) {
		t.Errorf("CLI with a missing %s = %v, want ErrNotFound", CLIEnv, err)
	}
	t.Setenv(CLIEnv, "/bin/sh")
	if got, err := CLI(); err != nil || got != "/bin/sh" {
		t.Errorf("CLI = %q, %v", got, err)
	}
}

// keysPerNode returns one key held by each node, in node order.
func keysPerNode(t *testing.T, c *Cluster) []string {
	t.Helper()
	return c.OnePerNode(t, func(i int) string { return "k" + strconv.Itoa(i) }, nil)
}

// lineOf reports whether the CLUSTER NODES line of node id has flag among
// its flags.
func lineOf(nodes, id, flag string) bool {
	for _, l := range strings.Split(nodes, "\n") {
		f := strings.Fields(l)
		if len(f) > 2 && f[0] == id {
			return slices.Contains(strings.Split(f[2], ","), flag)
		}
	}
	return false
}

// waitUntil polls cond every 20 ms until it holds or d has passed.
func waitUntil(t *testing.T, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v", d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
